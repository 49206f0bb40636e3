package fleet_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

func TestParametersForMostSpecificWins(t *testing.T) {
	inv := testInventory()
	s := &fleet.StackSet{
		Parameters: map[string]string{"Env": "default", "Size": "s", "Team": "none"},
		Overrides: []fleet.Override{
			{Match: fleet.Match{Account: "222222222222"}, Parameters: map[string]string{"Env": "account"}},
			{Match: fleet.Match{Region: "eu-west-1"}, Parameters: map[string]string{"Env": "region", "Size": "m"}},
			{Match: fleet.Match{OU: "ou-work"}, Parameters: map[string]string{"Env": "ou-work"}},
			{Match: fleet.Match{OU: "ou-prod"}, Parameters: map[string]string{"Env": "ou-prod"}},
			{Match: fleet.Match{Tags: map[string]string{"team": "pay"}}, Parameters: map[string]string{"Team": "pay", "Env": "tag"}},
			{Match: fleet.Match{Account: "222222222222", Region: "eu-west-1"}, Parameters: map[string]string{"Size": "xl"}},
		},
	}
	tests := []struct {
		account, region string
		want            map[string]string
	}{
		{"333333333333", "us-east-1", map[string]string{"Env": "default", "Size": "s", "Team": "none"}},
		{"333333333333", "eu-west-1", map[string]string{"Env": "region", "Size": "m", "Team": "none"}},
		{"111111111111", "eu-west-1", map[string]string{"Env": "ou-work", "Size": "m", "Team": "none"}},
		// The nearer OU beats its parent; an account match beats both; account+region beats account.
		{"444444444444", "us-east-1", map[string]string{"Env": "ou-prod", "Size": "s", "Team": "pay"}},
		{"222222222222", "us-east-1", map[string]string{"Env": "account", "Size": "s", "Team": "none"}},
		{"222222222222", "eu-west-1", map[string]string{"Env": "account", "Size": "xl", "Team": "none"}},
	}
	for _, tt := range tests {
		acct, _ := inv.Account(tt.account)
		got := s.ParametersFor(inv, acct, tt.region)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParametersFor(%s, %s) (-want +got):\n%s", tt.account, tt.region, diff)
		}
	}
	if len(s.Parameters) != 3 || s.Parameters["Env"] != "default" {
		t.Errorf("ParametersFor modified the stack set's parameters: %v", s.Parameters)
	}
}

func TestHashParametersIgnoresOrder(t *testing.T) {
	a := fleet.HashParameters(map[string]string{"A": "1", "B": "2"})
	b := fleet.HashParameters(map[string]string{"B": "2", "A": "1"})
	c := fleet.HashParameters(map[string]string{"A": "12", "B": ""})
	if a != b || a == c {
		t.Errorf("hashes %s %s %s: want equal for equal maps, different otherwise", a, b, c)
	}
}

func TestOrderRegions(t *testing.T) {
	got := fleet.OrderRegions([]string{"us-west-2", "eu-west-1", "us-east-1", "ap-south-1"}, []string{"us-east-1", "nowhere-1", "eu-west-1"})
	if diff := cmp.Diff([]string{"us-east-1", "eu-west-1", "ap-south-1", "us-west-2"}, got); diff != "" {
		t.Error(diff)
	}
}

func TestInterruption(t *testing.T) {
	tg := func(a string) fleet.Target { return fleet.Target{Account: a, Region: "r"} }
	act := func(a string, kind fleet.ActionKind, params string) fleet.Action {
		return fleet.Action{Target: tg(a), Kind: kind, TemplateHash: "t", ParamsHash: params}
	}
	op := fleet.Operation{ID: "op", Plan: fleet.StackSetPlan{Actions: []fleet.Action{act("1", fleet.Create, "p"), act("2", fleet.Create, "p"), act("3", fleet.Update, "p")}}}
	steps := []fleet.StepRecord{{Target: tg("1"), Status: fleet.StepSucceeded}, {Target: tg("2"), Status: fleet.StepRunning}, {Target: tg("3"), Status: fleet.StepPending}}
	plan := func(actions ...fleet.Action) fleet.StackSetPlan { return fleet.StackSetPlan{Actions: actions} }
	tests := []struct {
		name   string
		sp     fleet.StackSetPlan
		resume bool
		reason string
	}{
		{"same work left", plan(act("1", fleet.NoChange, "p"), act("2", fleet.Create, "p"), act("3", fleet.Update, "p")), true, ""},
		{"parameters changed", plan(act("1", fleet.NoChange, "p"), act("2", fleet.Create, "q"), act("3", fleet.Update, "q")), false, "the configuration, templates or organization changed since it started (2/r)"},
		{"a finished instance changes again", plan(act("1", fleet.Update, "q"), act("2", fleet.Create, "p"), act("3", fleet.Update, "p")), false, "the configuration, templates or organization changed since it started (1/r)"},
		{"a new target", plan(act("2", fleet.Create, "p"), act("3", fleet.Update, "p"), act("4", fleet.Create, "p")), false, "the new plan changes instances it had not left to do (4/r)"},
		{"less to do", plan(act("2", fleet.Create, "p")), false, "the new plan no longer changes some of the instances it had left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fleet.Interruption(op, steps, tt.sp)
			if got.Operation != "op" || got.Left != 2 || got.Resume != tt.resume || got.Reason != tt.reason {
				t.Errorf("fleet.Interruption = %+v, want resume %v, reason %q, 2 left", *got, tt.resume, tt.reason)
			}
		})
	}
}
