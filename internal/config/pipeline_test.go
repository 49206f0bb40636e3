package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

const appTemplate = `Parameters:
  Version:
    Type: String
  Stage:
    Type: String
    AllowedValues: [beta, gamma, prod]
Resources:
  Role:
    Type: AWS::IAM::Role
Outputs:
  Endpoint:
    Value: example.com
`

const dnsTemplate = `Resources:
  Zone:
    Type: AWS::Route53::HostedZone
Outputs:
  ZoneId:
    Value: Z1
`

// pipelineConfig is valid. Its stages are listed out of order: prod runs after gamma, which runs
// after beta.
const pipelineConfig = `version: 1
organization: {source: aws}
regions: [us-east-1, eu-west-1]
execution: {role: "arn:aws:iam::{account}:role/Exec"}
pipelines:
  - name: web
    concurrency: supersede
    rollback: {earlierWaves: true}
    stacks:
      - name: web-app
        template: app.yaml
        parameters: {Version: "1.2.3"}
        capabilities: [CAPABILITY_IAM]
        tags: {app: web}
      - name: web-dns
        template: dns.yaml
    stages:
      - name: beta
        targets: {ous: [Workloads/NonProd], regions: [us-east-1]}
        role: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        parameters: {web-app: {Stage: beta}}
        soak: 10m
        waveChecks: &checks
          bake: 5m
          alarms: {names: ["{{.Stack}}-5xx"], insufficientData: fail}
          health: [{url: "https://{{.Outputs.Endpoint}}/health", body: ok, retries: 3, interval: 5s, timeout: 2s}]
          tests: [{name: smoke, command: ./smoke.sh, dir: tests, timeout: 5m}]
      - name: prod
        after: [gamma]
        targets: {ous: [Workloads/Prod]}
        parameters: {web-app: {Stage: prod}}
        approval: true
        maxConcurrent: 2
        waves:
          generate: {oneBox: true, firstRegion: us-east-1, factor: 2}
        windows:
          - {days: Mon-Fri, hours: "09:00-17:00", zone: Europe/Paris, regions: [eu-west-1]}
        waveChecks: *checks
        stageChecks: {bake: 30m, alarms: {prefixes: ["{{.Outputs.ZoneId}}-"], missing: fail}}
      - name: gamma
        after: [beta]
        targets: {accounts: ["333333333333", "444444444444"]}
        parameters: {web-app: {Stage: gamma}}
        waves:
          explicit:
            - {accounts: ["444444444444"], regions: [eu-west-1]}
            - {accounts: ["333333333333", "444444444444"]}
`

// pipelineInventory has two non-production accounts and four production ones.
func pipelineInventory() *fleet.Inventory {
	inv := &fleet.Inventory{ManagementAccount: "000000000000", RootID: "r-1", OUs: []fleet.OU{
		{ID: "ou-w", Name: "Workloads", ParentID: "r-1"},
		{ID: "ou-np", Name: "NonProd", ParentID: "ou-w"},
		{ID: "ou-p", Name: "Prod", ParentID: "ou-w"},
		{ID: "ou-e", Name: "Empty", ParentID: "ou-w"},
	}}
	inv.Accounts = append(inv.Accounts, fleet.Account{ID: "000000000000", ParentID: "r-1"})
	for _, id := range []string{"111111111111", "222222222222"} {
		inv.Accounts = append(inv.Accounts, fleet.Account{ID: id, ParentID: "ou-np"})
	}
	for _, id := range []string{"666666666666", "555555555555", "444444444444", "333333333333"} {
		inv.Accounts = append(inv.Accounts, fleet.Account{ID: id, ParentID: "ou-p"})
	}
	return inv
}

// writePipeline writes the config and the two templates (app.yaml unless app is "-") to a
// temporary directory and returns the config's path.
func writePipeline(t *testing.T, cfg, app string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"stackfleet.yaml": cfg, "dns.yaml": dnsTemplate}
	if app != "-" {
		files["app.yaml"] = app
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "stackfleet.yaml")
}

func tg(account, region string) fleet.Target { return fleet.Target{Account: account, Region: region} }

func TestResolvePipelines(t *testing.T) {
	path := writePipeline(t, pipelineConfig, appTemplate)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.ResolvePipelines(pipelineInventory())
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	checks := fleet.Checks{
		Bake:   5 * time.Minute,
		Alarms: fleet.AlarmSpec{Names: []string{"{{.Stack}}-5xx"}, InsufficientDataFails: true},
		Health: []fleet.HealthCheck{{URL: "https://{{.Outputs.Endpoint}}/health", Status: 200, Body: "ok", Retries: 3, Interval: 5 * time.Second, Timeout: 2 * time.Second}},
		Tests:  []fleet.TestCommand{{Name: "smoke", Command: "./smoke.sh", Dir: filepath.Join(filepath.Dir(path), "tests"), Timeout: 5 * time.Minute}},
	}
	want := []fleet.Pipeline{{
		Name: "web", Supersede: true, RollbackEarlierWaves: true,
		Stacks: []fleet.PipelineStack{
			{Name: "web-app", TemplateFile: "app.yaml", TemplateBody: []byte(appTemplate), Parameters: map[string]string{"Version": "1.2.3"},
				Tags: map[string]string{"app": "web"}, Capabilities: []string{"CAPABILITY_IAM"}, Outputs: []string{"Endpoint"}},
			{Name: "web-dns", TemplateFile: "dns.yaml", TemplateBody: []byte(dnsTemplate), Parameters: map[string]string{}, Outputs: []string{"ZoneId"}},
		},
		Stages: []fleet.Stage{
			{
				Name: "beta", RolePattern: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
				Parameters: map[string]map[string]string{"web-app": {"Stage": "beta"}},
				Waves:      [][]fleet.Target{{tg("111111111111", "us-east-1"), tg("222222222222", "us-east-1")}},
				WaveChecks: checks, Soak: 10 * time.Minute,
			},
			{
				Name: "gamma", RolePattern: "arn:aws:iam::{account}:role/Exec",
				Parameters: map[string]map[string]string{"web-app": {"Stage": "gamma"}},
				Waves: [][]fleet.Target{
					{tg("444444444444", "eu-west-1")},
					{tg("333333333333", "us-east-1"), tg("444444444444", "us-east-1"), tg("333333333333", "eu-west-1")},
				},
			},
			{
				Name: "prod", RolePattern: "arn:aws:iam::{account}:role/Exec",
				Parameters: map[string]map[string]string{"web-app": {"Stage": "prod"}},
				// One box, then waves of 1, 2 and 4 targets, never across regions.
				Waves: [][]fleet.Target{
					{tg("333333333333", "us-east-1")},
					{tg("444444444444", "us-east-1")},
					{tg("555555555555", "us-east-1"), tg("666666666666", "us-east-1")},
					{tg("333333333333", "eu-west-1"), tg("444444444444", "eu-west-1"), tg("555555555555", "eu-west-1"), tg("666666666666", "eu-west-1")},
				},
				WaveChecks: checks,
				StageChecks: fleet.Checks{Bake: 30 * time.Minute,
					Alarms: fleet.AlarmSpec{Prefixes: []string{"{{.Outputs.ZoneId}}-"}, MissingFails: true}},
				Approval: true, MaxConcurrent: 2,
				Windows: []fleet.Window{{
					Days:  []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
					Start: 9 * 60, End: 17 * 60, Location: paris, Regions: []string{"eu-west-1"},
				}},
			},
		},
	}}
	sameZone := cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })
	if diff := cmp.Diff(want, got, sameZone); diff != "" {
		t.Errorf("ResolvePipelines() mismatch (-want +got):\n%s", diff)
	}
}

func TestParsePipelineErrors(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"unknown field", "        soak: 10m\n", "        soak: 10m\n        bakeTime: 1h\n",
			[]string{`stackfleet.yaml:23:9: unknown field "bakeTime"`}},
		{"duplicate pipeline", "", "  - name: web\n    stacks: [{name: other, template: o.yaml}]\n    stages: [{name: s, targets: {ous: [Workloads]}}]\n",
			[]string{`stackfleet.yaml:48:5: pipelines[1].name: "web" is also the name of pipelines[0]`}},
		{"duplicate stage", "      - name: gamma\n", "      - name: beta\n",
			[]string{`stackfleet.yaml:29:17: pipelines[0].stages[1].after[0]: "gamma" is not a stage of this pipeline`,
				`stackfleet.yaml:40:9: pipelines[0].stages[2].name: "beta" is also the name of stages[0]`,
				`stackfleet.yaml:41:17: pipelines[0].stages[2].after[0]: a stage cannot run after itself`}},
		{"duplicate stack", "      - name: web-dns\n", "      - name: web-app\n",
			[]string{`stackfleet.yaml:15:9: pipelines[0].stacks[1].name: "web-app" is also the name of pipelines[0].stacks[0]`}},
		{"stack named like a stack set", "pipelines:\n", "stackSets:\n  - {name: web-dns, template: x.yaml, targets: {ous: [Workloads]}}\npipelines:\n",
			[]string{`stackfleet.yaml:17:9: pipelines[0].stacks[1].name: "web-dns" is also the name of stackSets[0] (a stack name is the CloudFormation stack in every target)`}},
		{"unknown stack in stage parameters", "{web-app: {Stage: gamma}}", "{web-app: {Stage: gamma}, web-db: {Size: 1}}",
			[]string{`stackfleet.yaml:43:47: pipelines[0].stages[2].parameters.web-db: "web-db" is not a stack of this pipeline (parameters are given by stack name)`}},
		{"unknown stage in after", "after: [gamma]", "after: [gama]",
			[]string{`stackfleet.yaml:29:17: pipelines[0].stages[1].after[0]: "gama" is not a stage of this pipeline`}},
		{"stage after itself", "after: [beta]", "after: [gamma]",
			[]string{`stackfleet.yaml:41:17: pipelines[0].stages[2].after[0]: a stage cannot run after itself`}},
		{"cycle", "after: [beta]", "after: [prod]",
			[]string{`stackfleet.yaml:29:9: pipelines[0].stages[1].after: the stages form a cycle: prod runs after gamma, gamma runs after prod`}},
		{"cycle through a default edge", "        targets: {ous: [Workloads/NonProd]", "        after: [prod]\n        targets: {ous: [Workloads/NonProd]",
			[]string{`stackfleet.yaml:19:9: pipelines[0].stages[0].after: the stages form a cycle: beta runs after prod, prod runs after gamma, gamma runs after beta`}},
		{"factor and size", "factor: 2}", "factor: 2, size: 5}",
			[]string{`stackfleet.yaml:35:71: pipelines[0].stages[1].waves.generate.size: set factor or size, not both`}},
		{"shrinking factor", "factor: 2}", "factor: 0.5}",
			[]string{`stackfleet.yaml:35:11: pipelines[0].stages[1].waves.generate: wave growth factor 0.5 is below 1`}},
		{"first region outside the stage", "firstRegion: us-east-1", "firstRegion: ap-south-1",
			[]string{`stackfleet.yaml:35:36: pipelines[0].stages[1].waves.generate.firstRegion: "ap-south-1" is not a region of stage prod (us-east-1, eu-west-1)`}},
		{"generate and explicit", "factor: 2}\n", "factor: 2}\n          explicit: [{ous: [Workloads]}]\n",
			[]string{`stackfleet.yaml:36:11: pipelines[0].stages[1].waves.explicit: set generate or explicit, not both`}},
		{"explicit wave without selector", `- {accounts: ["444444444444"], regions: [eu-west-1]}`, `- {regions: [eu-west-1]}`,
			[]string{`stackfleet.yaml:46:15: pipelines[0].stages[2].waves.explicit[0]: needs ous, accounts or accountTags`}},
		{"stage without targets", `targets: {accounts: ["333333333333", "444444444444"]}`, `targets: {regions: [us-east-1]}`,
			[]string{`stackfleet.yaml:42:9: pipelines[0].stages[2].targets: needs ous, accounts or accountTags`}},
		{"bad soak", "soak: 10m", "soak: 10 minutes",
			[]string{`stackfleet.yaml:22:9: pipelines[0].stages[0].soak: "10 minutes" is not a duration like 90s, 5m or 12h`}},
		{"negative bake", "bake: 30m", "bake: -30m",
			[]string{`stackfleet.yaml:39:23: pipelines[0].stages[1].stageChecks.bake: "-30m" must not be negative`}},
		{"bad health interval", "interval: 5s", "interval: 5",
			[]string{`stackfleet.yaml:26:88: pipelines[0].stages[0].waveChecks.health[0].interval: "5" is not a duration like 90s, 5m or 12h`}},
		{"window without days", "days: Mon-Fri", `days: ""`,
			[]string{`stackfleet.yaml:37:13: pipelines[0].stages[1].windows[0]: window days are missing`}},
		{"empty window", `hours: "09:00-17:00"`, `hours: "09:00-09:00"`,
			[]string{`stackfleet.yaml:37:13: pipelines[0].stages[1].windows[0]: window hours "09:00-09:00": the start and the end are the same`}},
		{"bad zone", "zone: Europe/Paris", "zone: Europe/Pariss",
			[]string{`stackfleet.yaml:37:13: pipelines[0].stages[1].windows[0]: window zone "Europe/Pariss" is not a known IANA time zone name`}},
		{"window region outside the stage", "zone: Europe/Paris, regions: [eu-west-1]", "zone: Europe/Paris, regions: [eu-west-3]",
			[]string{`stackfleet.yaml:37:81: pipelines[0].stages[1].windows[0].regions[0]: "eu-west-3" is not a region of stage prod (us-east-1, eu-west-1)`}},
		{"wrong type", "approval: true", "approval: yes please",
			[]string{`stackfleet.yaml:32:19: expected true or false, got a string`}},
		{"stage role without placeholder", `"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"`, `"arn:aws:iam::111111111111:role/X"`,
			[]string{`stackfleet.yaml:20:9: pipelines[0].stages[0].role: "arn:aws:iam::111111111111:role/X" must contain {account}`}},
		{"bad alarm policy", "insufficientData: fail", "insufficientData: alarm",
			[]string{`stackfleet.yaml:25:47: pipelines[0].stages[0].waveChecks.alarms.insufficientData: "alarm": use ignore or fail`}},
		{"negative alarm limits", "insufficientData: fail", "insufficientData: fail, failureLimit: -1, consecutiveErrorLimit: -2",
			[]string{`stackfleet.yaml:25:71: pipelines[0].stages[0].waveChecks.alarms.failureLimit: must be at least 0 (got -1)`,
				`stackfleet.yaml:25:89: pipelines[0].stages[0].waveChecks.alarms.consecutiveErrorLimit: must be at least 1 (got -2)`}},
		{"bad health status and body", "body: ok,", `body: "(", status: 99,`,
			[]string{`stackfleet.yaml:26:66: pipelines[0].stages[0].waveChecks.health[0].body: not a valid regular expression`,
				`stackfleet.yaml:26:77: pipelines[0].stages[0].waveChecks.health[0].status: must be an HTTP status between 100 and 599 (got 99)`}},
		{"test without command", "command: ./smoke.sh, ", "",
			[]string{`stackfleet.yaml:27:19: pipelines[0].stages[0].waveChecks.tests[0].command: missing: the command to run`}},
		{"bad concurrency", "concurrency: supersede", "concurrency: cancel",
			[]string{`stackfleet.yaml:7:5: pipelines[0].concurrency: "cancel": use queue or supersede`}},
		{"bad parameter value", `{Version: "1.2.3"}`, `{Version: {major: 1}}`,
			[]string{`stackfleet.yaml:12:22: pipelines[0].stacks[0].parameters.Version: must be a string, number, boolean or list of them`}},
		{"bad stage parameter value", "{web-app: {Stage: gamma}}", "{web-app: {Stage: [a, 'b,c']}}",
			[]string{`stackfleet.yaml:43:32: pipelines[0].stages[2].parameters.web-app.Stage: list items must be scalars without commas`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := pipelineConfig + tt.new
			if tt.old != "" {
				if !strings.Contains(pipelineConfig, tt.old) {
					t.Fatalf("the config has no %q", tt.old)
				}
				src = strings.Replace(pipelineConfig, tt.old, tt.new, 1)
			}
			_, err := config.Parse("stackfleet.yaml", []byte(src))
			if err == nil {
				t.Fatal("Parse() succeeded, want errors")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			checkErrors(t, err, tt.want)
		})
	}
}

// checkErrors compares err's lines, one per problem, with the wanted prefixes.
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d:\n%s\nwant it to start with:\n%s", i, lines[i], w)
		}
	}
}

func TestResolvePipelineErrors(t *testing.T) {
	tests := []struct {
		name, old, new, app string
		want                []string
	}{
		{"stage selects no targets", "ous: [Workloads/NonProd]", "ous: [Workloads/Empty]", appTemplate,
			[]string{`stackfleet.yaml:19:9: pipelines[0].stages[0].targets: selects no targets`}},
		{"unknown OU", "ous: [Workloads/Prod]", "ous: [Workloads/Prd]", appTemplate,
			[]string{`stackfleet.yaml:30:25: pipelines[0].stages[1].targets.ous[0]: organizational unit "Workloads/Prd" is not in the organization`}},
		{"unknown account", `targets: {accounts: ["333333333333", "444444444444"]}`, `targets: {accounts: ["333333333333", "999999999999"]}`, appTemplate,
			[]string{`stackfleet.yaml:42:46: pipelines[0].stages[2].targets.accounts[1]: account 999999999999 is not in the organization`}},
		{"explicit wave selects no targets", `- {accounts: ["444444444444"], regions: [eu-west-1]}`, `- {accounts: ["111111111111"]}`, appTemplate,
			[]string{`stackfleet.yaml:46:15: pipelines[0].stages[2].waves.explicit[0]: selects no targets of the stage that an earlier wave does not already deploy`}},
		{"explicit waves leave targets out", `- {accounts: ["333333333333", "444444444444"]}`, `- {accounts: ["333333333333"]}`, appTemplate,
			[]string{`stackfleet.yaml:45:11: pipelines[0].stages[2].waves.explicit: 1 target of the stage is in no wave, e.g. 444444444444/us-east-1: add a wave for it`}},
		{"unknown output in an alarm", "{{.Outputs.ZoneId}}", "{{.Outputs.Zone}}", appTemplate,
			[]string{`stackfleet.yaml:39:54: pipelines[0].stages[1].stageChecks.alarms.prefixes[0]: template "{{.Outputs.Zone}}-": unknown stack output "Zone" (declared outputs: Endpoint, ZoneId)`}},
		// prod's waveChecks are an alias of beta's: the problem is reported once, in the anchor.
		{"unknown output in a health URL", "{{.Outputs.Endpoint}}", "{{.Outputs.Url}}", appTemplate,
			[]string{`stackfleet.yaml:26:21: pipelines[0].stages[0].waveChecks.health[0].url: template "https://{{.Outputs.Url}}/health": unknown stack output "Url" (declared outputs: Endpoint, ZoneId)`}},
		{"template syntax", "{{.Stack}}-5xx", "{{.Stack-5xx", appTemplate,
			[]string{`stackfleet.yaml:25:28: pipelines[0].stages[0].waveChecks.alarms.names[0]: template "{{.Stack-5xx"`}},
		{"stage parameter not allowed", "{web-app: {Stage: gamma}}", "{web-app: {Stage: qa}}", appTemplate,
			[]string{`stackfleet.yaml:43:32: pipelines[0].stages[2].parameters.web-app.Stage: parameter Stage: value "qa" is not one of the AllowedValues [beta, gamma, prod] (template app.yaml; stage gamma)`}},
		{"required parameter missing", `parameters: {Version: "1.2.3"}`, `parameters: {}`, appTemplate,
			[]string{`stackfleet.yaml:12:9: pipelines[0].stacks[0].parameters: parameter Version is required (the template gives no Default) (template app.yaml; stages beta, prod, gamma)`}},
		{"undeclared stack parameter", `parameters: {Version: "1.2.3"}`, `parameters: {Version: "1.2.3", Size: 2}`, appTemplate,
			[]string{`stackfleet.yaml:12:40: pipelines[0].stacks[0].parameters.Size: parameter Size is not declared by the template (template app.yaml; stages beta, prod, gamma)`}},
		{"missing capability", "        capabilities: [CAPABILITY_IAM]\n", "", appTemplate,
			[]string{`stackfleet.yaml:10:9: pipelines[0].stacks[0].capabilities: the template creates IAM resources: add CAPABILITY_IAM`}},
		// Without the app template, its outputs are unknown: the gates are not checked.
		{"unreadable template", "{{.Outputs.ZoneId}}", "{{.Outputs.Zone}}", "-",
			[]string{`stackfleet.yaml:11:9: pipelines[0].stacks[0].template: cannot read the template: `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(pipelineConfig, tt.old) {
				t.Fatalf("the config has no %q", tt.old)
			}
			path := writePipeline(t, strings.Replace(pipelineConfig, tt.old, tt.new, 1), tt.app)
			f, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			f.Path = "stackfleet.yaml" // stable error prefixes
			specs, err := f.ResolvePipelines(pipelineInventory())
			if err == nil {
				t.Fatalf("ResolvePipelines() = %d specs, want errors", len(specs))
			}
			checkErrors(t, err, tt.want)
		})
	}
}

func TestPipelineStageOrderDefaultsToTheList(t *testing.T) {
	cfg := strings.Replace(strings.Replace(pipelineConfig, "        after: [gamma]\n", "", 1), "        after: [beta]\n", "", 1)
	f, err := config.Load(writePipeline(t, cfg, appTemplate))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := f.ResolvePipelines(pipelineInventory())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs[0].Stages {
		got = append(got, s.Name)
	}
	if diff := cmp.Diff([]string{"beta", "prod", "gamma"}, got); diff != "" {
		t.Errorf("stage order (-want +got):\n%s", diff)
	}
}

func TestPipelineStageWithoutPredecessor(t *testing.T) {
	// after: [] makes gamma a root: it is ready with beta and comes after it in the list.
	cfg := strings.Replace(pipelineConfig, "after: [beta]", "after: []", 1)
	f, err := config.Load(writePipeline(t, cfg, appTemplate))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := f.ResolvePipelines(pipelineInventory())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs[0].Stages {
		got = append(got, s.Name)
	}
	if diff := cmp.Diff([]string{"beta", "gamma", "prod"}, got); diff != "" {
		t.Errorf("stage order (-want +got):\n%s", diff)
	}
}

func FuzzParsePipelines(f *testing.F) {
	f.Add([]byte(pipelineConfig))
	f.Add([]byte(strings.Replace(pipelineConfig, "after: [beta]", "after: [prod]", 1)))
	f.Add([]byte("version: 1\npipelines:\n  - stages: [{after: [x]}, {name: x, after: []}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := config.Parse("f.yaml", src)
		if err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			return
		}
		if file == nil {
			t.Fatal("nil file without error")
		}
		// A valid file resolves or reports Errors; it never panics.
		if _, err := file.ResolvePipelines(pipelineInventory()); err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
		}
	})
}
