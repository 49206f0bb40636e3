package cfn

import (
	"strings"
	"sync"
	"time"
)

// Stack statuses (the subset the engine produces).
const (
	stCreateInProgress         = "CREATE_IN_PROGRESS"
	stCreateComplete           = "CREATE_COMPLETE"
	stCreateFailed             = "CREATE_FAILED"
	stRollbackInProgress       = "ROLLBACK_IN_PROGRESS"
	stRollbackComplete         = "ROLLBACK_COMPLETE"
	stRollbackFailed           = "ROLLBACK_FAILED"
	stDeleteInProgress         = "DELETE_IN_PROGRESS"
	stDeleteComplete           = "DELETE_COMPLETE"
	stDeleteFailed             = "DELETE_FAILED"
	stDeleteSkipped            = "DELETE_SKIPPED"
	stUpdateInProgress         = "UPDATE_IN_PROGRESS"
	stUpdateCleanup            = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
	stUpdateComplete           = "UPDATE_COMPLETE"
	stUpdateFailed             = "UPDATE_FAILED"
	stUpdateRollbackInProgress = "UPDATE_ROLLBACK_IN_PROGRESS"
	stUpdateRollbackCleanup    = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
	stUpdateRollbackComplete   = "UPDATE_ROLLBACK_COMPLETE"
	stUpdateRollbackFailed     = "UPDATE_ROLLBACK_FAILED"
	stReviewInProgress         = "REVIEW_IN_PROGRESS"
	stackResourceType          = "AWS::CloudFormation::Stack"
	reasonUserInitiated        = "User Initiated"
	reasonCreationInitiated    = "Resource creation Initiated"
	reasonReplacementInitiated = "Requested update requires the creation of a new physical resource; hence creating one."
	reasonNoChanges            = "The submitted information didn't contain changes. Submit different information to create a change set."
	reasonNoUpdates            = "No updates are to be performed."
	reasonCancelled            = "Resource update cancelled"
	reasonStackUpdateCancelled = "Stack update cancelled"
)

// region is the state of one account and region. mu guards everything reachable from it,
// including the stacks, their resources, events and change sets.
type region struct {
	mu      sync.Mutex
	account string
	name    string
	live    map[string]*stack // by name, stacks not yet DELETE_COMPLETE
	byID    map[string]*stack // by stack id, including deleted stacks
	all     []*stack          // in creation order, including deleted stacks
	exports map[string]*export
	// changeSets by change set ARN.
	changeSets map[string]*changeSet
	// detections maps drift detection ids to their stack.
	detections map[string]*stack
}

func newRegion(account, name string) *region {
	return &region{
		account: account, name: name,
		live: map[string]*stack{}, byID: map[string]*stack{},
		exports: map[string]*export{}, changeSets: map[string]*changeSet{},
		detections: map[string]*stack{},
	}
}

// export is an output exported under a name unique in the region.
type export struct {
	stackID string
	value   string
	// importers holds the ids of stacks whose deployed template imports the export.
	importers map[string]bool
}

// stack is one stack. All fields are guarded by the region's mu.
type stack struct {
	id, name string
	status   string
	reason   string
	created  time.Time
	updated  time.Time // zero until the first update
	deleted  time.Time // zero until DELETE_COMPLETE

	// cfg is the configuration deployed (or being deployed); nil for a stack that only has a
	// change set (REVIEW_IN_PROGRESS).
	cfg *stackConfig
	// res is the state of the resources by logical id; resOrder their creation order.
	res      map[string]*resource
	resOrder []string
	outputs  []outputValue
	// imports are the export names the deployed template imports.
	imports []string

	events         []event
	termProtection bool
	changeSets     []*changeSet // in creation order

	// busy is set while an operation goroutine owns the stack.
	busy bool
	// cancelRequested is set by CancelUpdateStack; the update checks it between resources.
	cancelRequested bool
	// deleteRequested is set by DeleteStack during a creation or its rollback; the stack is
	// deleted when that operation stops, with deleteToken as its token.
	deleteRequested bool
	deleteToken     string
	// token is the ClientRequestToken of the current (or last) operation; its events carry it,
	// and a retried request with the same token is acknowledged without acting twice.
	token string
	// pendingRollback holds the rollback steps left when an update rollback failed; the stack
	// is then UPDATE_ROLLBACK_FAILED and ContinueUpdateRollback resumes them.
	pendingRollback *updateOp
	// orphans are physical resources of the stack missing from res (see deleteStack).
	orphans []*resource
	// executing is the change set being executed; its ExecutionStatus follows the operation.
	executing *changeSet

	drift driftInfo
}

// stackConfig is everything that an update changes about a stack, kept whole so that a failed
// update restores the previous one.
type stackConfig struct {
	tmpl             *tmpl
	params           []paramValue
	tags             []tag
	capabilities     []string
	roleARN          string
	notificationARNs []string
	disableRollback  bool
	timeoutMinutes   int64
	// revertDrift is set for a change set created with DeploymentMode REVERT_DRIFT: resources
	// whose live properties drifted are updated back to the template even if it is unchanged.
	revertDrift bool
}

type paramValue struct {
	Key      string `json:"k"`
	Value    string `json:"v"`
	Resolved string `json:"r,omitempty"` // SSM-resolved value, if the type is an SSM parameter type
	NoEcho   bool   `json:"n,omitempty"`
}

type tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

type outputValue struct {
	Key         string `json:"k"`
	Value       string `json:"v"`
	Description string `json:"d,omitempty"`
	ExportName  string `json:"e,omitempty"`
}

// resource is the state of one logical resource of a stack.
type resource struct {
	logicalID string
	typ       string
	status    string
	reason    string
	updated   time.Time
	// phys is the physical resource; phys.ID is empty until creation started it.
	phys physical
	// actual, when non-nil, holds live property values that differ from phys.Props (set by
	// Engine.Drift); a successful update of the resource clears it.
	actual map[string]any
}

// event is one stack event. Its id is derived from the stack id and its position, which keeps
// ids unique without storing them.
type event struct {
	ts       time.Time
	logical  string
	physical string
	typ      string
	status   string
	reason   string
	token    string
}

// addEvent records an event and, for the stack itself, its status.
func (s *stack) addEvent(ts time.Time, logical, phys, typ, status, reason string) {
	// Event timestamps strictly increase within a stack, as clients that sort by them (the
	// CDK's progress display) expect, even when a fast operation emits several per clock tick;
	// at the millisecond precision of the wire format.
	ts = ts.Truncate(time.Millisecond)
	if n := len(s.events); n > 0 && !ts.After(s.events[n-1].ts) {
		ts = s.events[n-1].ts.Add(time.Millisecond)
	}
	s.events = append(s.events, event{ts: ts, logical: logical, physical: phys, typ: typ, status: status, reason: reason, token: s.token})
}

// setStatus changes the stack status and records the stack event.
func (s *stack) setStatus(ts time.Time, status, reason string) {
	s.status, s.reason = status, reason
	s.addEvent(ts, s.name, s.id, stackResourceType, status, reason)
	if s.executing != nil && !inProgress(status) {
		if status == stCreateComplete || status == stUpdateComplete {
			s.executing.execStatus = exComplete
		} else {
			s.executing.execStatus = exFailed
		}
		s.executing = nil
	}
}

// setResource changes a resource's status and records its event.
func (s *stack) setResource(ts time.Time, r *resource, status, reason string) {
	r.status, r.reason, r.updated = status, reason, ts
	s.addEvent(ts, r.logicalID, r.phys.ID, r.typ, status, reason)
}

// inProgress reports whether status is transitional.
func inProgress(status string) bool { return strings.HasSuffix(status, "_IN_PROGRESS") }

// stackUUID returns the trailing UUID of a stack id.
func stackUUID(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

func (e *Engine) stackARN(r *region, name string) string {
	return "arn:aws:cloudformation:" + r.name + ":" + r.account + ":stack/" + name + "/" + newUUID()
}

// eventID derives a unique, stable UUID-shaped id for the i-th event of stack id.
func eventID(stackID string, i int) string {
	u := stackUUID(stackID)
	var b [16]byte
	// Mix the stack uuid's hex digits into the first 10 bytes and the index into the rest.
	h := uint64(14695981039346656037)
	for j := 0; j < len(u); j++ {
		h ^= uint64(u[j])
		h *= 1099511628211
	}
	for j := range 8 {
		b[j] = byte(h >> (8 * j))
	}
	b[8], b[9] = byte(len(u)), 0x80
	n := uint64(i)
	for j := range 6 {
		b[15-j] = byte(n >> (8 * j))
	}
	b[6] = b[6]&0x0f | 0x40
	return formatUUID(b)
}

// lookup finds a stack by name (live stacks only) or by stack id (deleted stacks included),
// as the CloudFormation API resolves StackName.
func (r *region) lookup(nameOrID string) *stack {
	if strings.HasPrefix(nameOrID, "arn:") {
		return r.byID[nameOrID]
	}
	return r.live[nameOrID]
}

// orderedResources returns the stack's resources in creation order.
func (s *stack) orderedResources() []*resource {
	out := make([]*resource, 0, len(s.res))
	for _, id := range s.resOrder {
		if r := s.res[id]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// addResource inserts a resource state, keeping resOrder.
func (s *stack) addResource(r *resource) {
	if s.res == nil {
		s.res = map[string]*resource{}
	}
	if _, ok := s.res[r.logicalID]; !ok {
		s.resOrder = append(s.resOrder, r.logicalID)
	}
	s.res[r.logicalID] = r
}

// removeResource drops a resource state.
func (s *stack) removeResource(logical string) {
	if _, ok := s.res[logical]; !ok {
		return
	}
	delete(s.res, logical)
	for i, id := range s.resOrder {
		if id == logical {
			s.resOrder = append(s.resOrder[:i:i], s.resOrder[i+1:]...)
			break
		}
	}
}
