package fleet

import "time"

// EventKind says what an event is about.
type EventKind string

// Kinds of events. A stack-set operation publishes operation, region, step and resource
// events; a release publishes release, stage, wave, gate and rollback events, and step and
// resource events for the instances its waves deploy.
const (
	EventOperation EventKind = "operation" // an operation started, resumed or ended
	EventRegion    EventKind = "region"    // a region stopped: the failure tolerance was exceeded
	EventStep      EventKind = "step"      // one instance's deploy changed status
	EventResource  EventKind = "resource"  // a CloudFormation resource event of an instance
	EventRelease   EventKind = "release"   // a release started, waits, or ended
	EventStage     EventKind = "stage"     // a stage started or ended
	EventWave      EventKind = "wave"      // a wave deployed, baked, or failed
	EventGate      EventKind = "gate"      // a gate's measurement or verdict
	EventRollback  EventKind = "rollback"  // a rollback started or ended
	EventJournal   EventKind = "journal"   // the journal could not record something
)

// EventDetail is what happened; every event carries one.
type EventDetail struct {
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	Target *Target   `json:"target,omitempty"`
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	// Resource events carry the CloudFormation resource.
	LogicalID    string `json:"logicalId,omitempty"`
	ResourceType string `json:"resourceType,omitempty"`
}

// An Event is one entry of the event stream: an OperationEvent of a stack-set operation or a
// ReleaseEvent of a release.
type Event interface {
	// Detail returns what happened.
	Detail() EventDetail
	// WithDetail returns a copy of the event that says d happened.
	WithDetail(d EventDetail) Event
}

// OperationEvent is an event of a stack-set operation.
type OperationEvent struct {
	Operation string `json:"operation"`
	StackSet  string `json:"stackSet"`
	EventDetail
}

// ReleaseEvent is an event of a release of a pipeline; Stack is the pipeline stack of its
// step and resource events.
type ReleaseEvent struct {
	Release  string `json:"release"`
	Pipeline string `json:"pipeline"`
	Stack    string `json:"stack,omitempty"`
	EventDetail
}

func (e OperationEvent) Detail() EventDetail { return e.EventDetail }
func (e ReleaseEvent) Detail() EventDetail   { return e.EventDetail }

func (e OperationEvent) WithDetail(d EventDetail) Event { e.EventDetail = d; return e }
func (e ReleaseEvent) WithDetail(d EventDetail) Event   { e.EventDetail = d; return e }
