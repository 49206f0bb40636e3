package fleet

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Pipeline is a pipeline resolved from the configuration.
type Pipeline struct {
	Name   string
	Stacks []PipelineStack
	// Stages in execution order (the configuration's `after` edges, topologically sorted).
	Stages []Stage
	// Supersede: a new release cancels queued (not yet started) releases instead of queueing
	// behind them. Releases never deploy to the same stage at once either way.
	Supersede bool
	// RollbackEarlierWaves also rolls back the stage's earlier waves (newest first) when a wave fails.
	RollbackEarlierWaves bool
}

// PipelineStack is one CloudFormation stack the pipeline deploys to every target of a stage.
type PipelineStack struct {
	Name         string // stack name in each target
	TemplateFile string
	TemplateBody []byte
	Assets       *Assets           // published in every target before it deploys (CDK); nil for none
	Parameters   map[string]string // base parameters; stages override
	Tags         map[string]string
	Capabilities []string
	Outputs      []string // declared output keys (for templated gates)
}

// Stage is one environment: targets cut into waves, validated, behind optional gates.
type Stage struct {
	Name string
	// RolePattern is the role assumed in each target ("arn:aws:iam::{account}:role/X").
	RolePattern string
	// Parameters override the stacks' parameters in this stage, by stack name.
	Parameters map[string]map[string]string
	// Waves are the stage's targets in deployment order; every wave has at least one target.
	Waves [][]Target
	// WaveChecks run after each wave; StageChecks once after the last wave.
	WaveChecks, StageChecks Checks
	// Approval requires 'stackfleet approve' before the stage starts.
	Approval bool
	// Windows restrict when a wave may start; empty means always.
	Windows []Window
	// Soak is how long a release must stay in this stage, healthy, before the next stage may take it.
	Soak time.Duration
	// MaxConcurrent bounds the instances of one wave deployed at once (0: all of the wave).
	MaxConcurrent int
}

// Checks is the validation of a wave or a stage.
type Checks struct {
	// Bake must pass with every alarm healthy.
	Bake time.Duration
	// Alarms are watched during the deploy and the bake.
	Alarms AlarmSpec
	Health []HealthCheck
	Tests  []TestCommand
}

// Empty reports whether there is nothing to check.
func (c Checks) Empty() bool {
	return c.Bake == 0 && c.Alarms.Empty() && len(c.Health) == 0 && len(c.Tests) == 0
}

// AlarmSpec selects CloudWatch alarms in each target account and region. Names, prefixes and ARNs
// are templates over the target ({{.Account}}, {{.Region}}, {{.Outputs.Key}}, {{.Stack}}).
type AlarmSpec struct {
	Names, Prefixes, ARNs []string
	// InsufficientDataFails makes INSUFFICIENT_DATA fail like ALARM (default: ignored).
	InsufficientDataFails bool
	// MissingFails makes an alarm named in Names/ARNs that does not exist fail the check.
	MissingFails bool
	// Limits: how many ALARM readings and how many unreadable polls in a row are tolerated.
	Limits GateLimits
}

// Empty reports whether no alarm is watched.
func (a AlarmSpec) Empty() bool { return len(a.Names)+len(a.Prefixes)+len(a.ARNs) == 0 }

// HealthCheck is an HTTP(S) probe of a target; URL is a template like Alarms'.
type HealthCheck struct {
	URL string
	// Status expected (default 200); Body, if set, is a regular expression the body must match.
	Status int
	Body   string
	// Retries after the first failed attempt, Interval apart; Timeout per attempt.
	Retries  int
	Interval time.Duration
	Timeout  time.Duration
}

// TestCommand runs after a wave, once per target, with STACKFLEET_ACCOUNT, STACKFLEET_REGION,
// STACKFLEET_STACK and STACKFLEET_OUTPUT_<KEY> in its environment; exit code 0 passes.
type TestCommand struct {
	Name    string
	Command string // a template over the target (as health URLs), run with sh -c, in Dir
	Dir     string
	Timeout time.Duration
	// CallerCredentials runs the command with the credentials stackfleet runs with; by default
	// it gets the stage's assumed-role credentials for the target's account.
	CallerCredentials bool `json:",omitempty"`
}

// Window is a recurring period when waves may start: on Days, from Start to End (minutes after
// midnight in Location; End < Start crosses midnight; Start == End never opens). Regions, if
// set, limit it to those regions.
type Window struct {
	Days       []time.Weekday
	Start, End int
	Location   *time.Location
	Regions    []string
}

// ReleaseStatus is the state of a release.
type ReleaseStatus string

// Release statuses.
const (
	ReleaseQueued     ReleaseStatus = "QUEUED"
	ReleaseRunning    ReleaseStatus = "RUNNING"
	ReleaseSucceeded  ReleaseStatus = "SUCCEEDED"
	ReleaseFailed     ReleaseStatus = "FAILED"      // a wave failed and was rolled back
	ReleaseSuperseded ReleaseStatus = "SUPERSEDED"  // a newer release replaced it before it started
	ReleaseRejected   ReleaseStatus = "REJECTED"    // an approval was rejected
	ReleaseRolledBack ReleaseStatus = "ROLLED_BACK" // rolled back by hand
)

// Done reports whether the release will not move again.
func (s ReleaseStatus) Done() bool { return s != ReleaseQueued && s != ReleaseRunning }

// Phase is where a running release is within its current stage.
type Phase string

// Phases of a running release; time-based phases store their start so that a restart resumes
// with the remaining time.
const (
	PhaseSoak      Phase = "soak"     // waiting for the previous stage's soak
	PhaseApproval  Phase = "approval" // waiting for 'stackfleet approve'
	PhaseWindow    Phase = "window"   // waiting for a deployment window
	PhaseDeploy    Phase = "deploy"   // deploying a wave
	PhaseVerify    Phase = "verify"   // health checks and tests of a wave or stage
	PhaseBake      Phase = "bake"     // baking a wave or stage, alarms watched
	PhaseRollback  Phase = "rollback" // rolling back after a failure
	PhaseStageDone Phase = "stage-done"
)

// Position is where a release is: stage and wave indexes, the phase and when it began.
// Wave == len(stage.Waves) means the stage-level checks.
type Position struct {
	Stage int       `json:"stage"`
	Wave  int       `json:"wave"`
	Phase Phase     `json:"phase"`
	Since time.Time `json:"since,omitzero"`
}

// Release is one version of a pipeline moving through its stages.
type Release struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	// Version identifies the templates and parameters the release deploys.
	Version   string        `json:"version"`
	Status    ReleaseStatus `json:"status"`
	Position  Position      `json:"position"`
	CreatedAt time.Time     `json:"createdAt"`
	EndedAt   time.Time     `json:"endedAt,omitzero"`
	Reason    string        `json:"reason,omitempty"`
}

// windowJSON is Window's stored form: the zone by name, so a release's content survives restarts.
type windowJSON struct {
	Days       []time.Weekday `json:"days"`
	Start, End int
	Zone       string   `json:"zone"`
	Regions    []string `json:"regions,omitempty"`
}

// MarshalJSON stores the location by its IANA name.
func (w Window) MarshalJSON() ([]byte, error) {
	zone := "UTC"
	if w.Location != nil {
		zone = w.Location.String()
	}
	return json.Marshal(windowJSON{Days: w.Days, Start: w.Start, End: w.End, Zone: zone, Regions: w.Regions})
}

// UnmarshalJSON loads the location by name.
func (w *Window) UnmarshalJSON(b []byte) error {
	var j windowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	loc, err := time.LoadLocation(j.Zone)
	if err != nil {
		return fmt.Errorf("window time zone: %w", err)
	}
	*w = Window{Days: j.Days, Start: j.Start, End: j.End, Location: loc, Regions: j.Regions}
	return nil
}

// VersionOf identifies what a release of spec deploys: every stack's template and parameters
// and every stage's parameter overrides.
func VersionOf(spec Pipeline) string {
	var parts []string
	for _, s := range spec.Stacks {
		parts = append(parts, s.Name, string(s.TemplateBody), HashParameters(s.Parameters))
	}
	for _, st := range spec.Stages {
		for _, name := range slices.Sorted(maps.Keys(st.Parameters)) {
			parts = append(parts, st.Name, name, HashParameters(st.Parameters[name]))
		}
	}
	return Hash(parts...)[:12]
}

// GateTarget is what a release check looks at: one target of a stage, the pipeline's first
// stack name there, and the outputs of every pipeline stack in that target, by output key.
type GateTarget struct {
	Account, Region, Stack string
	Outputs                map[string]string
}

// Approval is a recorded approval or rejection of a stage for a release.
type Approval struct {
	Release  string    `json:"release"`
	Stage    string    `json:"stage"`
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// GateRecord is one gate verdict of a release, kept for 'pipeline status'.
type GateRecord struct {
	Release string    `json:"release"`
	Stage   int       `json:"stage"`
	Wave    int       `json:"wave"`
	Gate    string    `json:"gate"`
	Target  string    `json:"target,omitempty"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Output  string    `json:"output,omitempty"`
	At      time.Time `json:"at"`
}
