package plan_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/plan"
	"github.com/stackfleet/stackfleet/internal/templates"
)

const body = `Parameters:
  Env: {Type: String}
  Secret: {Type: String, NoEcho: true, Default: x}
Resources:
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue}
`

func setup(t *testing.T) (plan.Input, *fleet.StackSet) {
	t.Helper()
	info, err := templates.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	inv := &fleet.Inventory{ManagementAccount: "000000000000", RootID: "r",
		OUs: []fleet.OU{{ID: "ou-a", Name: "A", ParentID: "r"}},
		Accounts: []fleet.Account{
			{ID: "000000000000", ParentID: "r"},
			{ID: "111111111111", ParentID: "ou-a"},
			{ID: "222222222222", ParentID: "ou-a"},
			{ID: "333333333333", ParentID: "ou-a", Status: "SUSPENDED"},
		}}
	s := &fleet.StackSet{Name: "base", TemplateBody: []byte(body), Parameters: map[string]string{"Env": "dev", "Secret": "s1"},
		Selector: fleet.Selector{OUs: []string{"A"}}, Regions: []string{"us-east-1"}}
	return plan.Input{StackSets: []*fleet.StackSet{s}, Templates: map[string]*templates.Info{"base": info}, Inventory: inv,
		Recorded: map[string][]fleet.Instance{}}, s
}

func current(s *fleet.StackSet, acct string, params map[string]string) fleet.Instance {
	return fleet.Instance{Owner: fleet.StackSetOwner(s.Name), Target: fleet.Target{Account: acct, Region: "us-east-1"}, Status: fleet.Current, Detail: "SUCCEEDED",
		Deployed: fleet.Version{TemplateHash: fleet.Hash(string(s.TemplateBody)), ParamsHash: fleet.HashParameters(params), Parameters: params}}
}

type row struct {
	Account string
	Kind    fleet.ActionKind
	Reason  string
}

func rows(p *fleet.Plan, name string) []row {
	var out []row
	for _, sp := range p.StackSets {
		if sp.Name != name {
			continue
		}
		for _, a := range sp.Actions {
			out = append(out, row{a.Target.Account, a.Kind, a.Reason})
		}
	}
	return out
}

func TestBuild(t *testing.T) {
	in, s := setup(t)
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{"111111111111", fleet.Create, "new target"}, {"222222222222", fleet.Create, "new target"},
		{"333333333333", fleet.NoChange, "account suspended (SKIPPED_SUSPENDED_ACCOUNT)"}}
	if diff := cmp.Diff(want, rows(p, "base")); diff != "" {
		t.Errorf("fresh plan (-want +got):\n%s", diff)
	}
	if got := len(p.StackSets[0].Actions[0].Changes); got != 2 {
		t.Errorf("create lists %d resource adds, want 2", got)
	}

	// Recorded: 111 current with the same version, 222 with other parameters, and a removed target.
	in.Recorded["base"] = []fleet.Instance{
		current(s, "111111111111", s.Parameters),
		current(s, "222222222222", map[string]string{"Env": "prod", "Secret": "s0"}),
		current(s, "444444444444", s.Parameters),
	}
	p, _ = plan.Build(in)
	want = []row{{"111111111111", fleet.NoChange, ""}, {"222222222222", fleet.Update, "parameters changed: Env, Secret"},
		{"333333333333", fleet.NoChange, "account suspended (SKIPPED_SUSPENDED_ACCOUNT)"}, {"444444444444", fleet.Delete, "target removed"}}
	if diff := cmp.Diff(want, rows(p, "base")); diff != "" {
		t.Errorf("plan over recorded state (-want +got):\n%s", diff)
	}
	wantChanges := []fleet.ParamChange{{Name: "Env", Old: "prod", New: "dev"}, {Name: "Secret", Old: "****", New: "****"}}
	if diff := cmp.Diff(wantChanges, p.StackSets[0].Actions[1].ParamChanges); diff != "" {
		t.Errorf("parameter changes, NoEcho masked (-want +got):\n%s", diff)
	}

	s.Retain = true
	s.TemplateBody = []byte(body + "  Other: {Type: AWS::SNS::Topic}\n")
	in.Recorded["base"][0].Status, in.Recorded["base"][0].Detail = fleet.Outdated, "CANCELLED"
	in.Recorded["gone"] = []fleet.Instance{{Owner: fleet.StackSetOwner("gone"), Target: fleet.Target{Account: "111111111111", Region: "eu-west-1"}}}
	p, _ = plan.Build(in)
	want = []row{{"111111111111", fleet.Update, "template changed; instance is OUTDATED (CANCELLED)"},
		{"222222222222", fleet.Update, "template changed; parameters changed: Env, Secret"},
		{"333333333333", fleet.NoChange, "account suspended (SKIPPED_SUSPENDED_ACCOUNT)"},
		{"444444444444", fleet.Unmanage, "target removed; onRemoval: retain keeps the stack"}}
	if diff := cmp.Diff(want, rows(p, "base")); diff != "" {
		t.Errorf("template change, retain (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]row{{"111111111111", fleet.Delete, "stack set removed from the configuration"}}, rows(p, "gone")); diff != "" {
		t.Errorf("removed stack set (-want +got):\n%s", diff)
	}

	in.Destroy, in.Only = true, []string{"base"}
	p, _ = plan.Build(in)
	if got := p.Counts(); got[fleet.Delete] != 3 || len(p.StackSets) != 1 {
		t.Errorf("destroy of base: counts %v over %d stack sets, want 3 deletes in 1", got, len(p.StackSets))
	}
}

// TestRefresh plans recorded, current instances against what CloudFormation reports: each way a
// stack can differ from the record outside stackfleet turns into a create or update, with why.
func TestRefresh(t *testing.T) {
	in, s := setup(t)
	changed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(acct, stackID string) fleet.Instance {
		r := current(s, acct, s.Parameters)
		r.StackID, r.StackChanged = stackID, changed
		return r
	}
	in.Inventory.Accounts = append(in.Inventory.Accounts[:4], fleet.Account{ID: "444444444444", ParentID: "ou-a"},
		fleet.Account{ID: "555555555555", ParentID: "ou-a"}, fleet.Account{ID: "666666666666", ParentID: "ou-a"},
		fleet.Account{ID: "777777777777", ParentID: "ou-a"})
	in.Recorded["base"] = []fleet.Instance{
		rec("111111111111", "id-1"), rec("222222222222", "id-2"), rec("444444444444", "id-4"),
		rec("555555555555", "id-5"), rec("666666666666", "id-6"), rec("777777777777", "id-7"),
	}
	at := func(acct string) fleet.Target { return fleet.Target{Account: acct, Region: "us-east-1"} }
	live := func(id, status string, when time.Time, params map[string]string) map[string]fleet.LiveStack {
		return map[string]fleet.LiveStack{"base": {StackID: id, Status: status, Changed: when, Parameters: params}}
	}
	in.Live = &plan.Live{
		Stacks: map[fleet.Target]map[string]fleet.LiveStack{
			at("111111111111"): live("id-1", "CREATE_COMPLETE", changed, map[string]string{"Env": "dev", "Secret": "****"}),
			at("222222222222"): {}, // deleted
			at("444444444444"): live("id-4b", "CREATE_COMPLETE", changed.Add(time.Hour), nil),
			at("555555555555"): live("id-5", "UPDATE_COMPLETE", changed.Add(time.Minute), nil),
			at("666666666666"): live("id-6", "UPDATE_COMPLETE", changed, map[string]string{"Env": "prod"}),
		},
		Errors: map[fleet.Target]string{at("777777777777"): "AccessDenied"},
	}
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{"111111111111", fleet.NoChange, ""},
		{"222222222222", fleet.Create, "stack deleted outside stackfleet"},
		{"333333333333", fleet.NoChange, "account suspended (SKIPPED_SUSPENDED_ACCOUNT)"},
		{"444444444444", fleet.Update, "stack replaced outside stackfleet"},
		{"555555555555", fleet.Update, "stack updated outside stackfleet at 2026-01-02T03:05:05Z"},
		{"666666666666", fleet.Update, "parameter Env changed outside stackfleet"},
		{"777777777777", fleet.NoChange, "live state not read: AccessDenied"},
	}
	if diff := cmp.Diff(want, rows(p, "base")); diff != "" {
		t.Errorf("refreshed plan (-want +got):\n%s", diff)
	}
	if got := len(p.StackSets[0].Actions[1].Changes); got != 2 {
		t.Errorf("re-create lists %d resource adds, want 2", got)
	}
}

// Parameters can take the outputs of other stack sets' instances: the same account and region,
// a fixed one, or every instance's as a list or a JSON map.
func TestReferences(t *testing.T) {
	in, s := setup(t)
	net := func(acct, vpc string) fleet.Instance {
		return fleet.Instance{Owner: fleet.StackSetOwner("network"), Target: fleet.Target{Account: acct, Region: "us-east-1"},
			Status: fleet.Current, Outputs: map[string]string{"VpcId": vpc}}
	}
	in.Recorded["network"] = []fleet.Instance{net("111111111111", "vpc-1"), net("222222222222", "vpc-2")}
	s.Parameters = map[string]string{
		"Env":    `{{ output "network" "VpcId" }}`,
		"Secret": `{{ outputs "network" "VpcId" }}|{{ outputsJSON "network" "VpcId" }}|{{ outputIn "network" "VpcId" "222222222222" "us-east-1" }}`,
	}
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, a := range p.StackSets[0].Actions {
		got[a.Target.Account] = a.Parameters
	}
	if got["111111111111"]["Env"] != "vpc-1" || got["222222222222"]["Env"] != "vpc-2" {
		t.Errorf("same-target references: %v", got)
	}
	if want := `vpc-1,vpc-2|{"111111111111":{"us-east-1":"vpc-1"},"222222222222":{"us-east-1":"vpc-2"}}|vpc-2`; got["111111111111"]["Secret"] != want {
		t.Errorf("aggregates: %q, want %q", got["111111111111"]["Secret"], want)
	}

	// A NoEcho parameter's resolved value is sealed.
	in.Seal = func(v string) (string, error) { return "sealed(" + v + ")", nil }
	s.Parameters = map[string]string{"Env": "dev", "Secret": `{{ output "network" "VpcId" }}`}
	if p, err := plan.Build(in); err != nil || p.StackSets[0].Actions[0].Parameters["Secret"] != "sealed(vpc-1)" {
		t.Errorf("NoEcho reference: %v, %v", p.StackSets[0].Actions[0].Parameters, err)
	}
	in.Seal = nil

	// Aggregates can be filtered by region, account, OU and account tag.
	in.Inventory.Accounts[2].Tags = map[string]string{"team": "b"}
	s.Parameters = map[string]string{"Env": `{{ outputs "network" "VpcId" "tag:team=b" "ou=A" "region=us-east-1" }}`, "Secret": `{{ outputs "network" "VpcId" "account=111111111111" }}`}
	p, err = plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if a := p.StackSets[0].Actions[0]; a.Parameters["Env"] != "vpc-2" || a.Parameters["Secret"] != "vpc-1" {
		t.Errorf("filtered aggregates: %v", a.Parameters)
	}
	s.Parameters = map[string]string{"Env": `{{ outputs "network" "VpcId" "colour=red" }}`}
	if _, err := plan.Build(in); err == nil || !strings.Contains(err.Error(), `filter "colour=red": want region=R, account=A, ou=PATH or tag:KEY=VALUE`) {
		t.Errorf("unknown filter: %v", err)
	}

	// An output the producer does not have, or a producer with no instance there, is a plan error
	// naming the instance.
	s.Parameters = map[string]string{"Env": `{{ output "network" "SubnetId" }}`}
	if _, err := plan.Build(in); err == nil || !strings.Contains(err.Error(), "stack set base, parameter Env in 111111111111/us-east-1: the instance of network in 111111111111/us-east-1 has no output SubnetId (outputs: VpcId)") {
		t.Errorf("missing output: %v", err)
	}
	in.Recorded["network"] = in.Recorded["network"][:1]
	s.Parameters = map[string]string{"Env": `{{ output "network" "VpcId" }}`}
	if _, err := plan.Build(in); err == nil || !strings.Contains(err.Error(), "stack set network has no instance in 222222222222/us-east-1") {
		t.Errorf("missing producer instance: %v", err)
	}
}

// A release resolves a pipeline stack's references the same way, and seals a NoEcho one.
func TestReferencesForPipelines(t *testing.T) {
	in, _ := setup(t)
	in.Recorded["network"] = []fleet.Instance{{Owner: fleet.StackSetOwner("network"), Target: fleet.Target{Account: "111111111111", Region: "us-east-1"},
		Outputs: map[string]string{"VpcId": "vpc-1"}}}
	info, err := templates.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	seal := func(v string) (string, error) { return "sealed(" + v + ")", nil }
	resolve := plan.References(in.Inventory, in.Recorded, info, seal)
	got, err := resolve(fleet.Target{Account: "111111111111", Region: "us-east-1"},
		map[string]string{"Env": `{{ output "network" "VpcId" }}`, "Secret": `{{ output "network" "VpcId" }}`})
	if err != nil || got["Env"] != "vpc-1" || got["Secret"] != "sealed(vpc-1)" {
		t.Errorf("resolve = %v, %v; want Env vpc-1 and Secret sealed", got, err)
	}
}
