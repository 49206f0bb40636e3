package plan_test

import (
	"testing"

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
