package config

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates/expand"
	"github.com/stackfleet/stackfleet/internal/pipeline"
	"github.com/stackfleet/stackfleet/internal/templates"
)

// Pipeline ships a set of stacks through ordered stages. Its name, its stages' names and its
// stacks' names are unique; a stack name is also unique across pipelines and stack sets, since
// it is the CloudFormation stack name in every target.
type Pipeline struct {
	Name        string           `yaml:"name" desc:"Pipeline name, unique in the file."`
	Concurrency string           `yaml:"concurrency,omitempty" desc:"What a new release does while others wait: queue (default: behind them) or supersede (cancel the queued, not yet started releases). Releases never deploy to the same stage at once either way." enum:"queue,supersede"`
	Rollback    PipelineRollback `yaml:"rollback,omitempty" desc:"What is rolled back when a wave fails (the failing wave always is)."`
	Stacks      []PipelineStack  `yaml:"stacks" desc:"CloudFormation stacks deployed, in this order, to every target of every stage."`
	Stages      []Stage          `yaml:"stages" desc:"Environments a release goes through, e.g. beta, gamma, prod."`
}

// PipelineRollback is the rollback policy of a pipeline.
type PipelineRollback struct {
	EarlierWaves bool `yaml:"earlierWaves,omitempty" desc:"Also roll back the stage's earlier, successful waves (newest first) when a wave fails."`
}

// PipelineStack is one stack of a pipeline.
type PipelineStack struct {
	Name         string            `yaml:"name" desc:"CloudFormation stack name in every target; unique across pipelines and stack sets."`
	Template     string            `yaml:"template" desc:"Template file (YAML or JSON), relative to this config; or DIR/STACK, a stack of the CDK cloud assembly in DIR (cdk.out/MyStack), whose file assets are published to each target's CDK bootstrap bucket before it deploys."`
	Parameters   map[string]any    `yaml:"parameters,omitempty" desc:"Template parameters; stages override them; lists become comma-delimited strings."`
	Capabilities []string          `yaml:"capabilities,omitempty" desc:"CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND." enum:"CAPABILITY_IAM,CAPABILITY_NAMED_IAM,CAPABILITY_AUTO_EXPAND"`
	Tags         map[string]string `yaml:"tags,omitempty" desc:"Stack tags."`
}

// Stage is one environment of a pipeline: targets cut into waves, validated by checks, behind
// optional approval, soak and deployment windows.
type Stage struct {
	Name string `yaml:"name" desc:"Stage name, unique in the pipeline."`
	// After is nil when the key is absent (the stage follows the previous one in the list) and
	// empty for `after: []` (the stage follows none).
	After         *[]string                 `yaml:"after,omitempty" desc:"Stages this one runs after. Default: the previous stage in the list; [] for none."`
	Targets       Targets                   `yaml:"targets" desc:"Accounts and regions of the stage; it must select at least one target."`
	Role          string                    `yaml:"role,omitempty" desc:"Role ARN pattern assumed in each target, with {account}; default: execution.role."`
	Parameters    map[string]map[string]any `yaml:"parameters,omitempty" desc:"Parameter values of this stage, by stack name; they override the stack's parameters."`
	Approval      bool                      `yaml:"approval,omitempty" desc:"Require 'stackfleet approve' before a release enters the stage."`
	Soak          string                    `yaml:"soak,omitempty" desc:"How long a release stays healthy in this stage before the next stage may take it (Go duration: 90s, 10m, 12h)."`
	MaxConcurrent int                       `yaml:"maxConcurrent,omitempty" desc:"Instances of one wave deployed at once (default: the whole wave)." min:"0"`
	Waves         Waves                     `yaml:"waves,omitempty" desc:"How the stage's targets are cut into waves: generate or explicit (default: one wave per region, regions alphabetically)."`
	Windows       []Window                  `yaml:"windows,omitempty" desc:"When waves may start; default: any time."`
	WaveChecks    Checks                    `yaml:"waveChecks,omitempty" desc:"Validation after each wave; a failure rolls the wave back."`
	StageChecks   Checks                    `yaml:"stageChecks,omitempty" desc:"Validation once after the stage's last wave."`
}

// Waves cuts a stage's targets into waves, generated or listed; not both.
type Waves struct {
	Generate *WaveGeneration `yaml:"generate,omitempty" desc:"Generate waves of growing size."`
	Explicit []Targets       `yaml:"explicit,omitempty" desc:"Waves listed in order, each a selector of the stage's targets (regions default to the stage's); each must select at least one target not in an earlier wave, and together they must cover the stage."`
}

// WaveGeneration is the policy of generated waves. Factor and Size are exclusive.
type WaveGeneration struct {
	OneBox      bool     `yaml:"oneBox,omitempty" desc:"Start with a wave of a single target (the lowest account id of the first region)."`
	FirstRegion string   `yaml:"firstRegion,omitempty" desc:"Low-traffic region deployed first; a region of the stage (default: the first of regionOrder, else alphabetically first)."`
	RegionOrder []string `yaml:"regionOrder,omitempty" desc:"Regions deployed after firstRegion, in this order; the others follow alphabetically."`
	Factor      float64  `yaml:"factor,omitempty" desc:"Growth of generated waves: each is ceil(previous × factor) targets (at least 1; 1 keeps them equal); exclusive with size. A wave never spans two regions."`
	Size        int      `yaml:"size,omitempty" desc:"Fixed number of targets per wave; exclusive with factor. Without factor or size, each region is one wave." min:"0"`
	Initial     int      `yaml:"initial,omitempty" desc:"Size of the first wave after the one-box wave (default: 1 with factor, size with size); needs factor or size." min:"0"`
}

// Window is a recurring period when waves may start.
type Window struct {
	Days    string   `yaml:"days" desc:"Days of the week, e.g. Mon-Fri or Mon,Wed,Sat-Sun."`
	Hours   string   `yaml:"hours" desc:"Time of day, e.g. 09:00-17:00; an end before the start crosses midnight."`
	Zone    string   `yaml:"zone,omitempty" desc:"IANA time zone of days and hours, e.g. Europe/Paris (default UTC)."`
	Regions []string `yaml:"regions,omitempty" desc:"Regions the window applies to (default: every region of the stage)."`
}

// Checks validates a wave or a stage.
type Checks struct {
	Bake   string        `yaml:"bake,omitempty" desc:"How long to wait, every alarm healthy, before the wave or stage passes (Go duration)."`
	Alarms Alarms        `yaml:"alarms,omitempty" desc:"CloudWatch alarms of each target watched during the deploy and the bake."`
	Health []HealthCheck `yaml:"health,omitempty" desc:"HTTP(S) probes of each target."`
	Tests  []TestCommand `yaml:"tests,omitempty" desc:"Commands run once per target; exit code 0 passes."`
}

// Alarms selects CloudWatch alarms. Names, prefixes and ARNs are Go templates over the target:
// {{.Account}}, {{.Region}}, {{.Stack}} and {{.Outputs.Key}} (a declared output of a stack of the
// pipeline).
type Alarms struct {
	Names            []string `yaml:"names,omitempty" desc:"Alarm names (templates like {{.Stack}}-5xx)."`
	Prefixes         []string `yaml:"prefixes,omitempty" desc:"Alarm name prefixes (templates)."`
	ARNs             []string `yaml:"arns,omitempty" desc:"Alarm ARNs (templates); may name alarms of other accounts or regions."`
	InsufficientData string   `yaml:"insufficientData,omitempty" desc:"What INSUFFICIENT_DATA does: ignore (default) or fail." enum:"ignore,fail"`
	Missing          string   `yaml:"missing,omitempty" desc:"What a named alarm that does not exist does: ignore (default) or fail." enum:"ignore,fail"`
	FailureLimit     int      `yaml:"failureLimit,omitempty" desc:"Polls per target that find an alarm failing tolerated before the wave fails (default 0: the first fails it)." min:"0"`
	// ConsecutiveErrorLimit: 0 means the default.
	ConsecutiveErrorLimit int `yaml:"consecutiveErrorLimit,omitempty" desc:"Polls in a row per target whose alarms cannot be read (API, credentials or network errors) tolerated before the wave fails (default 4)." min:"1"`
}

// HealthCheck is an HTTP(S) probe of each target.
type HealthCheck struct {
	URL      string `yaml:"url" desc:"URL template, e.g. https://{{.Outputs.Endpoint}}/health."`
	Status   int    `yaml:"status,omitempty" desc:"Expected HTTP status (default 200)." min:"100" max:"599"`
	Body     string `yaml:"body,omitempty" desc:"Regular expression the response body must match."`
	Retries  int    `yaml:"retries,omitempty" desc:"Attempts after the first failed one." min:"0"`
	Interval string `yaml:"interval,omitempty" desc:"Time between attempts (Go duration)."`
	Timeout  string `yaml:"timeout,omitempty" desc:"Time allowed per attempt (Go duration)."`
}

// TestCommand is a command run once per target, with STACKFLEET_ACCOUNT, STACKFLEET_REGION,
// STACKFLEET_STACK and STACKFLEET_OUTPUT_<KEY> in its environment.
type TestCommand struct {
	Name    string `yaml:"name" desc:"Name shown in status and events."`
	Command string `yaml:"command" desc:"Shell command (run with sh -c); a template like health URLs ({{.Account}}, {{.Region}}, {{.Outputs.Key}})."`
	Dir     string `yaml:"dir,omitempty" desc:"Working directory, relative to this config (default: its directory)."`
	Timeout string `yaml:"timeout,omitempty" desc:"Time allowed per run (Go duration)."`
	// Credentials: target (default) runs the command with the stage's role assumed in the
	// target's account (AWS_ACCESS_KEY_ID…, AWS_REGION); caller with stackfleet's own.
	Credentials string `yaml:"credentials,omitempty" desc:"target (default): the stage's role in the target's account; caller: the credentials stackfleet runs with."`
}

var capabilityNames = []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}

// validatePipelines checks the pipelines section without reading templates or the inventory;
// ResolvePipelines checks the rest.
func (f *File) validatePipelines() Errors {
	var errs Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, f.errorAt(field, format, args...))
	}
	c := &f.Config

	// Stack names are CloudFormation stack names in shared targets: unique file-wide.
	stackOwner := map[string]string{}
	for i, s := range c.StackSets {
		if _, dup := stackOwner[s.Name]; !dup {
			stackOwner[s.Name] = fmt.Sprintf("stackSets[%d]", i)
		}
	}
	pipelineIdx := map[string]int{}
	for p, pc := range c.Pipelines {
		at := func(field string) string { return fmt.Sprintf("pipelines[%d].%s", p, field) }
		if !namePattern.MatchString(pc.Name) {
			add(at("name"), "%q is not a valid pipeline name (letters, digits and hyphens, starting with a letter, at most 128)", pc.Name)
		} else if j, dup := pipelineIdx[pc.Name]; dup {
			add(at("name"), "%q is also the name of pipelines[%d]", pc.Name, j)
		} else {
			pipelineIdx[pc.Name] = p
		}
		switch pc.Concurrency {
		case "", "queue", "supersede":
		default:
			add(at("concurrency"), "%q: use queue or supersede", pc.Concurrency)
		}

		if len(pc.Stacks) == 0 {
			add(at("stacks"), "missing: at least one stack")
		}
		stacks := map[string]bool{}
		for i, s := range pc.Stacks {
			sat := func(field string) string { return at(fmt.Sprintf("stacks[%d].%s", i, field)) }
			stacks[s.Name] = true
			if !namePattern.MatchString(s.Name) {
				add(sat("name"), "%q is not a valid stack name (letters, digits and hyphens, starting with a letter, at most 128)", s.Name)
			} else if owner, dup := stackOwner[s.Name]; dup {
				add(sat("name"), "%q is also the name of %s (a stack name is the CloudFormation stack in every target)", s.Name, owner)
			} else {
				stackOwner[s.Name] = at(fmt.Sprintf("stacks[%d]", i))
			}
			if s.Template == "" {
				add(sat("template"), "missing: the template file")
			}
			for _, k := range slices.Sorted(maps.Keys(s.Parameters)) {
				if _, err := paramString(s.Parameters[k]); err != nil {
					add(sat("parameters."+k), "%v", err)
				}
			}
			for j, cp := range s.Capabilities {
				if !slices.Contains(capabilityNames, cp) {
					add(sat(fmt.Sprintf("capabilities[%d]", j)), "%q: use CAPABILITY_IAM, CAPABILITY_NAMED_IAM or CAPABILITY_AUTO_EXPAND", cp)
				}
			}
		}

		if len(pc.Stages) == 0 {
			add(at("stages"), "missing: at least one stage")
		}
		stageIdx := map[string]int{}
		for i, st := range pc.Stages {
			if !namePattern.MatchString(st.Name) {
				add(at(fmt.Sprintf("stages[%d].name", i)), "%q is not a valid stage name (letters, digits and hyphens, starting with a letter, at most 128)", st.Name)
			} else if j, dup := stageIdx[st.Name]; dup {
				add(at(fmt.Sprintf("stages[%d].name", i)), "%q is also the name of stages[%d]", st.Name, j)
			} else {
				stageIdx[st.Name] = i
			}
		}
		for i, st := range pc.Stages {
			errs = append(errs, f.validateStage(at(fmt.Sprintf("stages[%d]", i)), st, stacks, stageIdx)...)
		}
		if _, err := stageOrder(pc.Stages); err != nil {
			add(at(fmt.Sprintf("stages[%d].after", err.stage)), "%s", err.msg)
		}
	}
	return dedupe(errs)
}

func (f *File) validateStage(at string, st Stage, stacks map[string]bool, stageIdx map[string]int) Errors {
	var errs Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, f.errorAt(field, format, args...))
	}
	if st.After != nil {
		for j, name := range *st.After {
			switch _, ok := stageIdx[name]; {
			case name == st.Name:
				add(fmt.Sprintf("%s.after[%d]", at, j), "a stage cannot run after itself")
			case !ok:
				add(fmt.Sprintf("%s.after[%d]", at, j), "%q is not a stage of this pipeline", name)
			}
		}
	}
	errs = append(errs, f.validateTargets(at+".targets", st.Targets, len(f.Regions) > 0)...)
	regions := cmpOr(st.Targets.Regions, f.Regions)
	if st.Role != "" && !strings.Contains(st.Role, "{account}") {
		add(at+".role", "%q must contain {account}, replaced by each target account id", st.Role)
	}
	for _, stack := range slices.Sorted(maps.Keys(st.Parameters)) {
		if !stacks[stack] {
			add(at+".parameters."+stack, "%q is not a stack of this pipeline (parameters are given by stack name)", stack)
			continue
		}
		params := st.Parameters[stack]
		for _, k := range slices.Sorted(maps.Keys(params)) {
			if _, err := paramString(params[k]); err != nil {
				add(at+".parameters."+stack+"."+k, "%v", err)
			}
		}
	}
	if _, msg := duration(st.Soak); msg != "" {
		add(at+".soak", "%s", msg)
	}
	if st.MaxConcurrent < 0 {
		add(at+".maxConcurrent", "must be at least 0 (got %d)", st.MaxConcurrent)
	}
	errs = append(errs, f.validateWaves(at+".waves", st.Name, st.Waves, regions)...)
	var windows []fleet.Window
	for j, w := range st.Windows {
		wat := fmt.Sprintf("%s.windows[%d]", at, j)
		bad := false
		for k, r := range w.Regions {
			// Without regions the stage's targets are reported already.
			if len(regions) > 0 && !slices.Contains(regions, r) {
				add(fmt.Sprintf("%s.regions[%d]", wat, k), "%q is not a region of stage %s (%s)", r, st.Name, strings.Join(regions, ", "))
				bad = true
			}
		}
		if bad {
			continue
		}
		win, err := pipeline.ParseWindow(w.Days, w.Hours, w.Zone, w.Regions)
		if err != nil {
			add(wat, "%v", err)
			continue
		}
		windows = append(windows, win)
	}
	if len(windows) == len(st.Windows) && len(windows) > 0 {
		if msg := pipeline.Impossible(windows, regions); msg != "" {
			add(at+".windows", "%s", msg)
		}
	}
	errs = append(errs, f.validateChecks(at+".waveChecks", st.WaveChecks)...)
	errs = append(errs, f.validateChecks(at+".stageChecks", st.StageChecks)...)
	return errs
}

func (f *File) validateWaves(at, stage string, w Waves, regions []string) Errors {
	var errs Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, f.errorAt(field, format, args...))
	}
	if w.Generate != nil && len(w.Explicit) > 0 {
		add(at+".explicit", "set generate or explicit, not both")
	}
	if g := w.Generate; g != nil {
		gat := at + ".generate"
		own := len(errs)
		if g.Factor != 0 && g.Size != 0 {
			add(gat+".size", "set factor or size, not both")
		}
		if g.FirstRegion != "" && len(regions) > 0 && !slices.Contains(regions, g.FirstRegion) {
			add(gat+".firstRegion", "%q is not a region of stage %s (%s)", g.FirstRegion, stage, strings.Join(regions, ", "))
		}
		for i, r := range g.RegionOrder {
			if len(regions) > 0 && !slices.Contains(regions, r) {
				add(fmt.Sprintf("%s.regionOrder[%d]", gat, i), "%q is not a region of stage %s (%s)", r, stage, strings.Join(regions, ", "))
			}
		}
		if len(errs) == own {
			// The policy's own rules (factor at least 1, sizes not negative…) live with the generator.
			if err := wavePolicy(g).Validate(); err != nil {
				add(gat, "%v", err)
			}
		}
	}
	for i, t := range w.Explicit {
		errs = append(errs, f.validateTargets(fmt.Sprintf("%s.explicit[%d]", at, i), t, true)...)
	}
	return errs
}

func wavePolicy(g *WaveGeneration) pipeline.WavePolicy {
	return pipeline.WavePolicy{OneBox: g.OneBox, FirstRegion: g.FirstRegion, RegionOrder: g.RegionOrder,
		Factor: g.Factor, Size: g.Size, Initial: g.Initial}
}

func (f *File) validateChecks(at string, c Checks) Errors {
	var errs Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, f.errorAt(field, format, args...))
	}
	if _, msg := duration(c.Bake); msg != "" {
		add(at+".bake", "%s", msg)
	}
	if c.Alarms.FailureLimit < 0 {
		add(at+".alarms.failureLimit", "must be at least 0 (got %d)", c.Alarms.FailureLimit)
	}
	if c.Alarms.ConsecutiveErrorLimit < 0 {
		add(at+".alarms.consecutiveErrorLimit", "must be at least 1 (got %d)", c.Alarms.ConsecutiveErrorLimit)
	}
	for _, k := range []struct{ name, v string }{{"insufficientData", c.Alarms.InsufficientData}, {"missing", c.Alarms.Missing}} {
		if k.v != "" && k.v != "ignore" && k.v != "fail" {
			add(at+".alarms."+k.name, "%q: use ignore or fail", k.v)
		}
	}
	for i, h := range c.Health {
		hat := fmt.Sprintf("%s.health[%d]", at, i)
		if h.URL == "" {
			add(hat+".url", "missing: the URL to probe")
		}
		if h.Status != 0 && (h.Status < 100 || h.Status > 599) {
			add(hat+".status", "must be an HTTP status between 100 and 599 (got %d)", h.Status)
		}
		if h.Body != "" {
			if _, err := regexp.Compile(h.Body); err != nil {
				add(hat+".body", "not a valid regular expression: %v", err)
			}
		}
		if h.Retries < 0 {
			add(hat+".retries", "must be at least 0 (got %d)", h.Retries)
		}
		if _, msg := duration(h.Interval); msg != "" {
			add(hat+".interval", "%s", msg)
		}
		if _, msg := duration(h.Timeout); msg != "" {
			add(hat+".timeout", "%s", msg)
		}
	}
	names := map[string]int{}
	for i, t := range c.Tests {
		tat := fmt.Sprintf("%s.tests[%d]", at, i)
		if t.Name == "" {
			add(tat+".name", "missing: a name for status and events")
		} else if j, dup := names[t.Name]; dup {
			add(tat+".name", "%q is also the name of tests[%d]", t.Name, j)
		} else {
			names[t.Name] = i
		}
		if strings.TrimSpace(t.Command) == "" {
			add(tat+".command", "missing: the command to run")
		}
		if t.Credentials != "" && t.Credentials != "target" && t.Credentials != "caller" {
			add(tat+".credentials", "%q: use target or caller", t.Credentials)
		}
		if _, msg := duration(t.Timeout); msg != "" {
			add(tat+".timeout", "%s", msg)
		}
	}
	return errs
}

// duration parses an optional Go duration; msg explains why s is not one.
func duration(s string) (d time.Duration, msg string) {
	if s == "" {
		return 0, ""
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("%q is not a duration like 90s, 5m or 12h", s)
	case d < 0:
		return 0, fmt.Sprintf("%q must not be negative", s)
	}
	return d, ""
}

// orderError is a problem with the stages' after edges, reported at stage's after key.
type orderError struct {
	stage int
	msg   string
}

// stageOrder sorts the stages topologically along their after edges, keeping list order among
// stages that are ready together. Unknown names are ignored here (validateStage reports them).
func stageOrder(stages []Stage) ([]int, *orderError) {
	idx := map[string]int{}
	for i, s := range stages {
		if _, dup := idx[s.Name]; !dup {
			idx[s.Name] = i
		}
	}
	deps := make([][]int, len(stages))
	for i, s := range stages {
		switch {
		case s.After != nil:
			for _, name := range *s.After {
				// A stage after itself is reported by validateStage, not as a cycle.
				if j, ok := idx[name]; ok && j != i && !slices.Contains(deps[i], j) {
					deps[i] = append(deps[i], j)
				}
			}
		case i > 0:
			deps[i] = []int{i - 1}
		}
	}
	done := make([]bool, len(stages))
	order := make([]int, 0, len(stages))
	for len(order) < len(stages) {
		next := -1
		for i := range stages {
			if !done[i] && !slices.ContainsFunc(deps[i], func(j int) bool { return !done[j] }) {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, cycleError(stages, deps, done)
		}
		done[next] = true
		order = append(order, next)
	}
	return order, nil
}

// cycleError finds a cycle among the stages not done (each of which waits on another not done)
// and names it, located at the first stage of the cycle with an explicit after key: default
// edges point backwards in the list, so they alone cannot make a cycle.
func cycleError(stages []Stage, deps [][]int, done []bool) *orderError {
	start := slices.Index(done, false)
	pos := map[int]int{}
	var path []int
	for i := start; ; {
		if p, seen := pos[i]; seen {
			path = path[p:]
			break
		}
		pos[i] = len(path)
		path = append(path, i)
		for _, j := range deps[i] {
			if !done[j] {
				i = j
				break
			}
		}
	}
	// Rotate so that the report starts at the first stage of the cycle in the list.
	first := slices.Index(path, slices.Min(path))
	path = append(path[first:], path[:first]...)
	at := path[0]
	for _, i := range path {
		if stages[i].After != nil {
			at = i
			break
		}
	}
	parts := make([]string, len(path))
	for k, i := range path {
		parts[k] = fmt.Sprintf("%s runs after %s", stages[i].Name, stages[path[(k+1)%len(path)]].Name)
	}
	return &orderError{stage: at, msg: "the stages form a cycle: " + strings.Join(parts, ", ")}
}

// ResolvePipelines reads the pipelines' templates, selects each stage's targets in the inventory,
// cuts them into waves and orders the stages. Its error is an Errors value with every problem at
// the config field that caused it; nothing runs for a configuration that does not resolve.
func (f *File) ResolvePipelines(inv *fleet.Inventory) ([]fleet.Pipeline, error) {
	var (
		specs []fleet.Pipeline
		errs  Errors
	)
	for p, pc := range f.Pipelines {
		spec, es := f.resolvePipeline(p, pc, inv)
		errs = append(errs, es...)
		if len(es) == 0 {
			specs = append(specs, spec)
		}
	}
	if errs = dedupe(errs); len(errs) > 0 {
		return nil, errs
	}
	return specs, nil
}

func (f *File) resolvePipeline(p int, pc Pipeline, inv *fleet.Inventory) (fleet.Pipeline, Errors) {
	var errs Errors
	at := func(field string) string { return fmt.Sprintf("pipelines[%d].%s", p, field) }
	add := func(field, format string, args ...any) {
		errs = append(errs, f.errorAt(field, format, args...))
	}
	spec := fleet.Pipeline{Name: pc.Name, Supersede: pc.Concurrency == "supersede", RollbackEarlierWaves: pc.Rollback.EarlierWaves}

	infos := map[string]*templates.Info{}
	var outputs []string
	for i, sc := range pc.Stacks {
		sat := at(fmt.Sprintf("stacks[%d]", i))
		st := fleet.PipelineStack{Name: sc.Name, TemplateFile: sc.Template, Parameters: params(sc.Parameters),
			Tags: sc.Tags, Capabilities: sc.Capabilities}
		path := sc.Template
		if !filepath.IsAbs(path) {
			path = filepath.Join(f.Dir, path)
		}
		body, assets, err := loadTemplate(path)
		if err != nil {
			add(sat+".template", "cannot read the template: %v", unwrapPath(err))
			continue
		}
		st.Assets = assets
		info, err := templates.Parse(body)
		if err != nil {
			add(sat+".template", "%s: %v", sc.Template, err)
			continue
		}
		for _, need := range info.Capabilities {
			if !slices.Contains(sc.Capabilities, need) {
				add(sat+".capabilities", "the template creates IAM resources%s: add %s", map[bool]string{true: " with custom names", false: ""}[need == "CAPABILITY_NAMED_IAM"], need)
			}
		}
		st.TemplateBody, st.Outputs = body, info.Outputs
		infos[sc.Name] = info
		outputs = append(outputs, info.Outputs...)
		spec.Stacks = append(spec.Stacks, st)
	}
	slices.Sort(outputs)
	outputs = slices.Compact(outputs)
	// Templated gates are checked against the outputs only when every template could be read:
	// otherwise an output of an unreadable template would be reported as unknown.
	checkGates := len(infos) == len(pc.Stacks)

	errs = append(errs, f.checkStageParameters(p, pc, infos)...)

	stages := make([]fleet.Stage, len(pc.Stages))
	for i, sc := range pc.Stages {
		st, es := f.resolveStage(at(fmt.Sprintf("stages[%d]", i)), sc, outputs, checkGates, inv)
		errs = append(errs, es...)
		stages[i] = st
	}
	order, oerr := stageOrder(pc.Stages)
	if oerr != nil {
		add(at(fmt.Sprintf("stages[%d].after", oerr.stage)), "%s", oerr.msg) // unreachable after Parse
	}
	for _, i := range order {
		spec.Stages = append(spec.Stages, stages[i])
	}
	return spec, errs
}

func (f *File) resolveStage(at string, sc Stage, outputs []string, checkGates bool, inv *fleet.Inventory) (fleet.Stage, Errors) {
	var errs Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, f.errorAt(field, format, args...))
	}
	st := fleet.Stage{
		Name: sc.Name, RolePattern: cmp.Or(sc.Role, f.Execution.Role), Approval: sc.Approval,
		MaxConcurrent: sc.MaxConcurrent, Parameters: map[string]map[string]string{},
	}
	st.Soak, _ = duration(sc.Soak) // validated at Parse

	for stack, sp := range sc.Parameters {
		st.Parameters[stack] = params(sp)
	}

	regions := cmpOr(sc.Targets.Regions, f.Regions)
	targets, ok := f.selectTargets(at+".targets", sc.Targets, regions, nil, inv, &errs)
	if ok && len(targets) == 0 {
		add(at+".targets", "selects no targets")
	}
	if ok && len(targets) > 0 {
		st.Waves = f.waves(at+".waves", sc.Waves, targets, regions, inv, &errs)
	}

	for _, w := range sc.Windows {
		win, err := pipeline.ParseWindow(w.Days, w.Hours, w.Zone, w.Regions)
		if err == nil { // validated at Parse
			st.Windows = append(st.Windows, win)
		}
	}
	st.WaveChecks = f.checks(at+".waveChecks", sc.WaveChecks, outputs, checkGates, &errs)
	st.StageChecks = f.checks(at+".stageChecks", sc.StageChecks, outputs, checkGates, &errs)
	return st, errs
}

// selectTargets resolves a selector to targets in region order then account id, keeping only
// those in within when it is not nil. ok is false when the selector names something the
// inventory lacks (reported in errs).
func (f *File) selectTargets(at string, t Targets, regions []string, within map[fleet.Target]bool, inv *fleet.Inventory, errs *Errors) (targets []fleet.Target, ok bool) {
	n := len(*errs)
	for j, ref := range t.OUs {
		if _, found := inv.FindOU(ref); !found {
			*errs = append(*errs, f.errorAt(fmt.Sprintf("%s.ous[%d]", at, j), "organizational unit %q is not in the organization (use an ou-… id or a name path like Workloads/Prod)", ref))
		}
	}
	for j, id := range t.Accounts {
		if _, found := inv.Account(id); !found {
			*errs = append(*errs, f.errorAt(fmt.Sprintf("%s.accounts[%d]", at, j), "account %s is not in the organization", id))
		}
	}
	if len(*errs) > n {
		return nil, false
	}
	accts, err := inv.Select(fleet.Selector{OUs: t.OUs, Accounts: t.Accounts, AccountTags: t.AccountTags, Filter: fleet.Filter(t.Filter)})
	if err != nil {
		*errs = append(*errs, f.errorAt(at, "%v", err))
		return nil, false
	}
	for _, r := range regions {
		for _, a := range accts {
			if t := (fleet.Target{Account: a.ID, Region: r}); within == nil || within[t] {
				targets = append(targets, t)
			}
		}
	}
	return targets, true
}

// waves cuts the stage's targets into waves: generated (by default one per region) or listed.
func (f *File) waves(at string, w Waves, targets []fleet.Target, regions []string, inv *fleet.Inventory, errs *Errors) [][]fleet.Target {
	switch {
	case w.Generate != nil:
		return pipeline.GenerateWaves(targets, wavePolicy(w.Generate))
	case len(w.Explicit) == 0:
		return pipeline.GenerateWaves(targets, pipeline.WavePolicy{})
	}
	remaining := map[fleet.Target]bool{}
	for _, t := range targets {
		remaining[t] = true
	}
	var out [][]fleet.Target
	for i, sel := range w.Explicit {
		wat := fmt.Sprintf("%s.explicit[%d]", at, i)
		wave, ok := f.selectTargets(wat, sel, cmpOr(sel.Regions, regions), remaining, inv, errs)
		if !ok {
			continue
		}
		if len(wave) == 0 {
			*errs = append(*errs, f.errorAt(wat, "selects no targets of the stage that an earlier wave does not already deploy"))
			continue
		}
		for _, t := range wave {
			delete(remaining, t)
		}
		out = append(out, wave)
	}
	if len(remaining) > 0 && len(out) == len(w.Explicit) {
		var left []fleet.Target
		for _, t := range targets {
			if remaining[t] {
				left = append(left, t)
			}
		}
		*errs = append(*errs, f.errorAt(at+".explicit", "%d target%s of the stage %s in no wave, e.g. %s: add a wave for %s",
			len(left), plural(len(left)), map[bool]string{true: "is", false: "are"}[len(left) == 1], left[0], map[bool]string{true: "it", false: "them"}[len(left) == 1]))
	}
	return out
}

// checks converts validated checks, checking their templates against the pipeline's outputs.
func (f *File) checks(at string, c Checks, outputs []string, checkGates bool, errs *Errors) fleet.Checks {
	out := fleet.Checks{
		Alarms: fleet.AlarmSpec{Names: c.Alarms.Names, Prefixes: c.Alarms.Prefixes, ARNs: c.Alarms.ARNs,
			InsufficientDataFails: c.Alarms.InsufficientData == "fail", MissingFails: c.Alarms.Missing == "fail",
			Limits: fleet.GateLimits{FailureLimit: c.Alarms.FailureLimit, ConsecutiveErrorLimit: c.Alarms.ConsecutiveErrorLimit}},
	}
	out.Bake, _ = duration(c.Bake)
	check := func(field, tmpl string) {
		if !checkGates {
			return
		}
		if err := expand.Check(tmpl, outputs); err != nil {
			*errs = append(*errs, f.errorAt(field, "%v", err))
		}
	}
	for _, k := range []struct {
		name string
		list []string
	}{{"names", c.Alarms.Names}, {"prefixes", c.Alarms.Prefixes}, {"arns", c.Alarms.ARNs}} {
		for i, tmpl := range k.list {
			check(fmt.Sprintf("%s.alarms.%s[%d]", at, k.name, i), tmpl)
		}
	}
	for i, h := range c.Health {
		check(fmt.Sprintf("%s.health[%d].url", at, i), h.URL)
		hc := fleet.HealthCheck{URL: h.URL, Status: cmp.Or(h.Status, 200), Body: h.Body, Retries: h.Retries}
		hc.Interval, _ = duration(h.Interval)
		hc.Timeout, _ = duration(h.Timeout)
		out.Health = append(out.Health, hc)
	}
	for i, t := range c.Tests {
		check(fmt.Sprintf("%s.tests[%d].command", at, i), t.Command)
		tc := fleet.TestCommand{Name: t.Name, Command: t.Command, Dir: t.Dir, CallerCredentials: t.Credentials == "caller"}
		if !filepath.IsAbs(tc.Dir) {
			tc.Dir = filepath.Join(f.Dir, tc.Dir)
		}
		tc.Timeout, _ = duration(t.Timeout)
		out.Tests = append(out.Tests, tc)
	}
	return out
}

// params converts validated parameter values to the strings CloudFormation receives.
func params(in map[string]any) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k], _ = paramString(v) // validated at Parse
	}
	return out
}

// checkStageParameters checks every stage's effective parameters (the stack's, overridden by the
// stage's) against each template, reporting each distinct problem once at the field whose value
// caused it, with the stages it affects.
func (f *File) checkStageParameters(p int, pc Pipeline, infos map[string]*templates.Info) Errors {
	type finding struct {
		field, msg, template string
		stages               []string
	}
	var order []*finding
	found := map[string]*finding{}
	for i, sc := range pc.Stacks {
		info := infos[sc.Name]
		if info == nil {
			continue
		}
		for j, stage := range pc.Stages {
			values := params(sc.Parameters)
			maps.Copy(values, params(stage.Parameters[sc.Name]))
			for _, pr := range info.Check(values) {
				if strings.Contains(values[pr.Param], "{{") {
					continue // a reference to stack-set outputs, resolved per target at release time
				}
				var field string
				if _, ok := stage.Parameters[sc.Name][pr.Param]; ok {
					field = fmt.Sprintf("pipelines[%d].stages[%d].parameters.%s.%s", p, j, sc.Name, pr.Param)
				} else if _, ok := sc.Parameters[pr.Param]; ok {
					field = fmt.Sprintf("pipelines[%d].stacks[%d].parameters.%s", p, i, pr.Param)
				} else {
					field = fmt.Sprintf("pipelines[%d].stacks[%d].parameters", p, i)
				}
				id := field + "\x00" + pr.Message
				fd := found[id]
				if fd == nil {
					fd = &finding{field: field, msg: pr.Message, template: sc.Template}
					found[id] = fd
					order = append(order, fd)
				}
				fd.stages = append(fd.stages, stage.Name)
			}
		}
	}
	var errs Errors
	for _, fd := range order {
		errs = append(errs, f.errorAt(fd.field, "%s (template %s; stage%s %s)", fd.msg, fd.template, plural(len(fd.stages)), strings.Join(fd.stages, ", ")))
	}
	return errs
}

// position finds the YAML key of field (a path like stackSets[0].targets.ous[1]) and returns
// where it is: the key for mapping members, the item for sequence members. It follows anchors,
// aliases and tags on the way, so a field reached through an alias (one set of checks shared by
// several stages) is located in the anchored node, where the user fixes it.
func (f *File) position(field string) (line, col int, ok bool) {
	if f.ast == nil || len(f.ast.Docs) == 0 {
		return 0, 0, false
	}
	anchors := map[string][]*ast.AnchorNode{}
	for _, n := range ast.FilterFile(ast.AnchorType, f.ast) {
		if a, isAnchor := n.(*ast.AnchorNode); isAnchor && a.Name != nil && a.Name.GetToken() != nil {
			name := a.Name.GetToken().Value
			anchors[name] = append(anchors[name], a)
		}
	}
	deref := func(node ast.Node) ast.Node {
		for range 100 { // aliases cannot loop in valid YAML; the bound guards malformed trees
			switch n := node.(type) {
			case *ast.AnchorNode:
				node = n.Value
			case *ast.TagNode:
				node = n.Value
			case *ast.AliasNode:
				if n.Value == nil || n.Value.GetToken() == nil {
					return nil
				}
				// An alias refers to the latest definition of its anchor before it.
				var target ast.Node
				for _, a := range anchors[n.Value.GetToken().Value] {
					if before(a.GetToken(), n.GetToken()) {
						target = a.Value
					}
				}
				node = target
			default:
				return node
			}
		}
		return nil
	}
	node := deref(f.ast.Docs[0].Body)
	var at *token.Token
	for _, seg := range splitPath(field) {
		name, idx := seg, []int(nil)
		for m := indexSuffix.FindStringSubmatch(name); m != nil; m = indexSuffix.FindStringSubmatch(name) {
			n, _ := strconv.Atoi(m[2])
			idx = append([]int{n}, idx...)
			name = m[1]
		}
		var values []*ast.MappingValueNode
		switch n := node.(type) {
		case *ast.MappingNode:
			values = n.Values
		case *ast.MappingValueNode:
			values = []*ast.MappingValueNode{n}
		default:
			return 0, 0, false
		}
		found := false
		for _, mv := range values {
			if mv.Key != nil && mv.Key.GetToken() != nil && mv.Key.GetToken().Value == name {
				node, at, found = deref(mv.Value), mv.Key.GetToken(), true
				break
			}
		}
		if !found {
			return 0, 0, false
		}
		for _, i := range idx {
			seq, isSeq := node.(*ast.SequenceNode)
			if !isSeq || i >= len(seq.Values) {
				return 0, 0, false
			}
			node, at = deref(seq.Values[i]), itemToken(seq.Values[i])
		}
	}
	if at == nil || at.Position == nil {
		return 0, 0, false
	}
	return at.Position.Line, at.Position.Column, true
}

// itemToken is where a sequence item starts: a block mapping's own token is its first ':'.
func itemToken(n ast.Node) *token.Token {
	switch m := n.(type) {
	case *ast.MappingNode:
		if !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0].Key != nil {
			return m.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		if m.Key != nil {
			return m.Key.GetToken()
		}
	}
	return n.GetToken()
}

func before(a, b *token.Token) bool {
	if a == nil || b == nil || a.Position == nil || b.Position == nil {
		return false
	}
	return a.Position.Offset < b.Position.Offset
}

// dedupe drops errors equal in position and message to an earlier one: a problem in an anchored
// node is reported once, not once per alias.
func dedupe(errs Errors) Errors {
	type key struct {
		line, col int
		msg       string
	}
	seen := map[key]bool{}
	return slices.DeleteFunc(errs, func(e *Error) bool {
		k := key{e.Line, e.Column, e.Message}
		if e.Line == 0 || !seen[k] {
			seen[k] = true
			return false
		}
		return true
	})
}
