package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// StackSet is the desired state of one stack set, resolved from the configuration.
type StackSet struct {
	Name         string
	Description  string
	TemplateFile string // as written in the config, for messages
	TemplateBody []byte
	// Assets are published in every target before its stack deploys (a CDK stack's); nil for
	// a plain template.
	Assets       *Assets
	Parameters   map[string]string
	Tags         map[string]string
	Capabilities []string
	Selector     Selector
	Regions      []string
	Overrides    []Override
	Preferences  Preferences
	// Retain keeps the stack of a removed target (unmanaged) instead of deleting it.
	Retain bool
	// AutoDeploy lets reconcile follow the organization: deploy to accounts that join the
	// targets, remove (per Retain) the stacks of accounts that leave.
	AutoDeploy bool
}

// Override sets parameters for the targets its Match selects. Source locates it in the config
// (file:line) for messages.
type Override struct {
	Match      Match
	Parameters map[string]string
	Source     string
}

// Match selects targets of an override; every non-empty criterion must hold. OU is an OU id
// resolved from the config (accounts anywhere below it match).
type Match struct {
	OU      string
	Account string
	Region  string
	Tags    map[string]string
}

// specificity orders matches: account > OU (deeper wins) > tags > region; criteria add up.
// ouDepth is the distance from the account to the matched OU (0 = its parent).
func (m Match) specificity(ouDepth int) int {
	s := 0
	if m.Account != "" {
		s += 1 << 20
	}
	if m.OU != "" {
		s += 1<<12 - ouDepth // nearer OUs are more specific
	}
	if len(m.Tags) > 0 {
		s += 1<<8 + len(m.Tags)
	}
	if m.Region != "" {
		s++
	}
	return s
}

// matches reports whether m selects acct in region, and how specific the match is.
func (m Match) matches(inv *Inventory, acct Account, region string) (bool, int) {
	if m.Account != "" && m.Account != acct.ID {
		return false, 0
	}
	if m.Region != "" && m.Region != region {
		return false, 0
	}
	if !hasTags(acct.Tags, m.Tags) {
		return false, 0
	}
	depth := 0
	if m.OU != "" {
		depth = slices.Index(inv.Ancestors(acct), m.OU)
		if depth < 0 {
			return false, 0
		}
	}
	return true, m.specificity(depth)
}

// ParametersFor is the effective parameters of the instance in (acct, region): the stack set's
// parameters overlaid by every matching override, least specific first, so for each parameter
// the most specific override wins (equal specificity: the later override in the config wins).
func (s *StackSet) ParametersFor(inv *Inventory, acct Account, region string) map[string]string {
	out, _ := s.ParametersWithSources(inv, acct, region)
	return out
}

// ParametersWithSources is ParametersFor, also saying where each value came from: the index of
// the override that set it, or -1 for the stack set's own parameters.
func (s *StackSet) ParametersWithSources(inv *Inventory, acct Account, region string) (map[string]string, map[string]int) {
	out := maps.Clone(s.Parameters)
	if out == nil {
		out = map[string]string{}
	}
	src := make(map[string]int, len(out))
	for k := range out {
		src[k] = -1
	}
	type hit struct{ spec, order int }
	var hits []hit
	for i, o := range s.Overrides {
		if ok, spec := o.Match.matches(inv, acct, region); ok {
			hits = append(hits, hit{spec, i})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return a.spec - b.spec })
	for _, h := range hits {
		for k, v := range s.Overrides[h.order].Parameters {
			out[k], src[k] = v, h.order
		}
	}
	return out, src
}

// Targets is every (account, region) of the stack set, in region order then account id, with
// the accounts by id.
func (s *StackSet) Targets(inv *Inventory) ([]Target, map[string]Account, error) {
	accts, err := inv.Select(s.Selector)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]Account, len(accts))
	targets := make([]Target, 0, len(accts)*len(s.Regions))
	for _, r := range s.Regions {
		for _, a := range accts {
			byID[a.ID] = a
			targets = append(targets, Target{Account: a.ID, Region: r})
		}
	}
	return targets, byID, nil
}

// Hash is a short, stable content hash of strings, used for template and parameter hashes.
func Hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// HashParameters hashes a parameter map independently of its order.
func HashParameters(params map[string]string) string {
	keys := slices.Sorted(maps.Keys(params))
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k, params[k])
	}
	return Hash(parts...)
}

// InstanceStatus is the status of a stack instance relative to its stack set, as StackSets names it.
type InstanceStatus string

// Instance statuses.
const (
	Current    InstanceStatus = "CURRENT"    // matches the stack set
	Outdated   InstanceStatus = "OUTDATED"   // its stack failed, or an operation did not reach it
	Inoperable InstanceStatus = "INOPERABLE" // a delete failed; excluded until cleaned up
)

// Version is a deployable version of an instance: a template and the effective parameters.
type Version struct {
	TemplateHash string            `json:"templateHash"`
	ParamsHash   string            `json:"paramsHash"`
	Parameters   map[string]string `json:"parameters,omitempty"`
}

// Instance is the recorded state of one stack instance.
type Instance struct {
	Owner   Owner          `json:"owner"`
	Target  Target         `json:"target"`
	StackID string         `json:"stackId,omitempty"`
	Status  InstanceStatus `json:"status"`
	// Detail is the last detailed status of its last operation.
	Detail        StepStatus        `json:"detail"`
	Reason        string            `json:"reason,omitempty"`
	Deployed      Version           `json:"deployed"`           // what the stack runs now
	LastGood      *Version          `json:"lastGood,omitempty"` // last version that reached a complete status
	Outputs       map[string]string `json:"outputs,omitempty"`
	LastOperation string            `json:"lastOperation,omitempty"`
	UpdatedAt     time.Time         `json:"updatedAt"`
	// StackChanged is when the stack last changed as CloudFormation reported it after the last
	// deploy (LastUpdatedTime, else CreationTime); a later change was made outside stackfleet.
	StackChanged time.Time `json:"stackChanged,omitzero"`
}

// LiveStack is a stack as CloudFormation reports it now, read by a refresh.
type LiveStack struct {
	StackID string `json:"stackId"`
	Status  string `json:"status"`
	// Changed is the stack's LastUpdatedTime, or its CreationTime if it was never updated.
	Changed    time.Time         `json:"changed"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// ActionKind is what a plan does to one instance.
type ActionKind string

// Plan actions.
const (
	Create   ActionKind = "create"
	Update   ActionKind = "update"
	Delete   ActionKind = "delete"
	Unmanage ActionKind = "retain" // the target left: forget the instance, keep its stack
	NoChange ActionKind = "no-change"
)

// Writes reports whether the action makes CloudFormation writes.
func (k ActionKind) Writes() bool { return k == Create || k == Update || k == Delete }

// ResourceChange is one resource a change set would touch.
type ResourceChange struct {
	Action      string `json:"action"` // Add, Modify, Remove
	LogicalID   string `json:"logicalId"`
	Type        string `json:"type"`
	Replacement string `json:"replacement,omitempty"` // True, False, Conditional
}

// ParamChange is one parameter whose value differs; NoEcho values are masked.
type ParamChange struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Action is the plan for one instance. Parameters holds the effective values to deploy
// (unmasked: the plan file is as sensitive as the config).
type Action struct {
	Kind         ActionKind        `json:"action"`
	Target       Target            `json:"target"`
	TemplateHash string            `json:"templateHash,omitempty"`
	ParamsHash   string            `json:"paramsHash,omitempty"`
	Parameters   map[string]string `json:"parameters,omitempty"`
	Changes      []ResourceChange  `json:"changes,omitempty"`
	ParamChanges []ParamChange     `json:"parameterChanges,omitempty"`
	// Reason says why: "new target", "template changed", "stack deleted outside stackfleet"…
	Reason string `json:"reason,omitempty"`
	// RevertDrift updates with a drift-aware change set: resources changed outside
	// CloudFormation get the template's properties back.
	RevertDrift bool `json:"revertDrift,omitempty"`
}

// DriftStatus is a stack's resource drift as CloudFormation's drift detection reports it.
type DriftStatus string

// Drift statuses: UNKNOWN when detection could not run or failed.
const (
	InSync       DriftStatus = "IN_SYNC"
	Drifted      DriftStatus = "DRIFTED"
	DriftUnknown DriftStatus = "UNKNOWN"
)

// StackDrift is the result of drift detection on one instance's stack.
type StackDrift struct {
	Target    Target          `json:"target"`
	Status    DriftStatus     `json:"status"`
	Reason    string          `json:"reason,omitempty"` // why UNKNOWN
	Resources []ResourceDrift `json:"resources,omitempty"`
}

// ResourceDrift is a resource that differs from its template: MODIFIED or DELETED.
type ResourceDrift struct {
	LogicalID   string          `json:"logicalId"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Differences []PropertyDrift `json:"differences,omitempty"`
}

// PropertyDrift is one property of a drifted resource.
type PropertyDrift struct {
	Path     string `json:"path"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Type     string `json:"type"` // ADD, REMOVE, NOT_EQUAL
}

// StackSetPlan is the plan of one stack set.
type StackSetPlan struct {
	Name         string      `json:"name"`
	TemplateHash string      `json:"templateHash"`
	Preferences  Preferences `json:"preferences"`
	Actions      []Action    `json:"actions"`
	// Interrupted is the stack set's unfinished operation, which applying the plan resumes or
	// supersedes.
	Interrupted *Interrupted `json:"interrupted,omitempty"`
	// WaitsFor are the stack sets earlier in the plan whose outputs this one's parameters take and
	// which the plan changes: apply plans this stack set again once they are deployed.
	WaitsFor []string `json:"waitsFor,omitempty"`
}

// Interrupted is an unfinished operation met by a new plan. When the plan's changes are exactly
// what the operation had left to do, apply resumes it (in-flight instances are re-checked under
// its token); otherwise the plan supersedes it: it is CANCELLED and nothing of it is deployed.
type Interrupted struct {
	Operation string `json:"operation"`
	Left      int    `json:"left"` // steps not final
	Resume    bool   `json:"resume"`
	Reason    string `json:"reason,omitempty"` // why it is superseded
}

// Interruption compares an unfinished operation (op with its steps) with the plan sp for the
// same stack set.
func Interruption(op Operation, steps []StepRecord, sp StackSetPlan) *Interrupted {
	left := map[Target]bool{}
	for _, st := range steps {
		if !st.Status.Done() {
			left[st.Target] = true
		}
	}
	in := &Interrupted{Operation: op.ID, Left: len(left)}
	planned := map[Target]Action{}
	for _, a := range op.Plan.Actions {
		planned[a.Target] = a
	}
	writes, extra := 0, ""
	for _, a := range sp.Actions {
		if a.Kind == NoChange {
			continue
		}
		writes++
		if was, ok := planned[a.Target]; ok && (was.Kind != a.Kind || was.TemplateHash != a.TemplateHash || was.ParamsHash != a.ParamsHash) {
			in.Reason = "the configuration, templates or organization changed since it started (" + a.Target.String() + ")"
			return in
		}
		if !left[a.Target] && extra == "" {
			extra = "the new plan changes instances it had not left to do (" + a.Target.String() + ")"
		}
	}
	switch {
	case extra != "":
		in.Reason = extra
		return in
	case writes != len(left):
		in.Reason = "the new plan no longer changes some of the instances it had left"
		return in
	}
	in.Resume = true
	return in
}

// Plan is what apply will do, and the inputs it was computed from: apply refuses a plan whose
// config, templates or inventory hashes differ from the current ones.
type Plan struct {
	CreatedAt     time.Time      `json:"createdAt"`
	ConfigHash    string         `json:"configHash"`
	InventoryHash string         `json:"inventoryHash"`
	StackSets     []StackSetPlan `json:"stackSets"`
}

// Counts tallies the actions of a plan by kind.
func (p *Plan) Counts() map[ActionKind]int {
	out := map[ActionKind]int{}
	for _, s := range p.StackSets {
		for _, a := range s.Actions {
			out[a.Kind]++
		}
	}
	return out
}

// SortActions orders actions the way plans show them and operations run them: regions in
// regionOrder first, then the rest alphabetically; accounts by id within a region.
func SortActions(actions []Action, regionOrder []string) {
	rank := regionRank(regionOrder)
	slices.SortFunc(actions, func(a, b Action) int {
		if c := rank(a.Target.Region, b.Target.Region); c != 0 {
			return c
		}
		return strings.Compare(a.Target.Account, b.Target.Account)
	})
}

// OrderRegions sorts regions: those named in order first, in that order, then the rest
// alphabetically.
func OrderRegions(regions, order []string) []string {
	out := slices.Clone(regions)
	slices.SortFunc(out, regionRank(order))
	return out
}

func regionRank(order []string) func(a, b string) int {
	rank := func(r string) int {
		if i := slices.Index(order, r); i >= 0 {
			return i
		}
		return len(order)
	}
	return func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	}
}

// OperationStatus is the status of one operation on a stack set, as StackSets names it.
type OperationStatus string

// Operation statuses.
const (
	OpRunning   OperationStatus = "RUNNING"
	OpSucceeded OperationStatus = "SUCCEEDED"
	OpFailed    OperationStatus = "FAILED"
	OpStopped   OperationStatus = "STOPPED"   // interrupted; apply resumes it, or supersedes it
	OpCancelled OperationStatus = "CANCELLED" // abandoned: by 'stackfleet cancel', or superseded by a new plan
)

// Done reports whether the operation is finished (it will not be resumed).
func (s OperationStatus) Done() bool { return s == OpSucceeded || s == OpFailed || s == OpCancelled }

// Operation is one execution of a stack set's plan. Steps are the plan's actions with their
// detailed status; a resumed operation runs the steps that are not final.
type Operation struct {
	ID        string          `json:"id"`
	StackSet  string          `json:"stackSet"`
	Status    OperationStatus `json:"status"`
	Plan      StackSetPlan    `json:"plan"`
	StartedAt time.Time       `json:"startedAt"`
	EndedAt   time.Time       `json:"endedAt,omitzero"`
	Reason    string          `json:"reason,omitempty"`
	// FailedSteps counts the instances that failed in this run (within the tolerance when the
	// operation SUCCEEDED); reported by the runner, not journaled.
	FailedSteps int `json:"failedSteps,omitempty"`
}

// StepStatus is the detailed status of one instance operation, as StackSets names it.
type StepStatus string

// Step statuses. RolledBack is an instance's detail only: a release returned it to its last
// known good version.
const (
	StepPending    StepStatus = "PENDING"
	StepRunning    StepStatus = "RUNNING"
	StepSucceeded  StepStatus = "SUCCEEDED"
	StepFailed     StepStatus = "FAILED"
	StepCancelled  StepStatus = "CANCELLED"
	StepRolledBack StepStatus = "ROLLED_BACK"
)

// Done reports whether the status is final.
func (s StepStatus) Done() bool {
	return s == StepSucceeded || s == StepFailed || s == StepCancelled || s == StepRolledBack
}

// StepRecord is the journaled status of one action of an operation.
type StepRecord struct {
	Target    Target     `json:"target"`
	Status    StepStatus `json:"status"`
	Reason    string     `json:"reason,omitempty"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// OutputRef is a reference in a parameter value to an output of a stack set's instances (see
// package plan for the template functions that make one).
type OutputRef struct {
	StackSet, Key string
}

var outputRefCall = regexp.MustCompile(`\b(?:output|outputIn|outputs|outputsJSON)\s+"([^"]+)"\s+"([^"]+)"`)

// OutputRefs returns the output references in a parameter value, in order of appearance.
func OutputRefs(value string) []OutputRef {
	var out []OutputRef
	for _, m := range outputRefCall.FindAllStringSubmatch(value, -1) {
		out = append(out, OutputRef{StackSet: m[1], Key: m[2]})
	}
	return out
}
