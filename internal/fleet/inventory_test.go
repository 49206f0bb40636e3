package fleet_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

func testInventory() *fleet.Inventory {
	return &fleet.Inventory{
		ManagementAccount: "000000000000",
		RootID:            "r-root",
		OUs: []fleet.OU{
			{ID: "ou-work", Name: "Workloads", ParentID: "r-root"},
			{ID: "ou-prod", Name: "Prod", ParentID: "ou-work"},
			{ID: "ou-sbx", Name: "Sandbox", ParentID: "r-root"},
			{ID: "ou-empty", Name: "Empty", ParentID: "r-root"},
		},
		Accounts: []fleet.Account{
			{ID: "000000000000", ParentID: "r-root"},
			{ID: "111111111111", ParentID: "ou-work"},
			{ID: "222222222222", ParentID: "ou-prod", Tags: map[string]string{"stage": "prod"}},
			{ID: "333333333333", ParentID: "ou-sbx"},
			{ID: "444444444444", ParentID: "ou-prod", Tags: map[string]string{"stage": "prod", "team": "pay"}},
		},
	}
}

func ids(accts []fleet.Account) []string {
	out := []string{}
	for _, a := range accts {
		out = append(out, a.ID)
	}
	return out
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		sel     fleet.Selector
		want    []string
		wantErr string
	}{
		{"OU includes children", fleet.Selector{OUs: []string{"ou-work"}}, []string{"111111111111", "222222222222", "444444444444"}, ""},
		{"OU by path", fleet.Selector{OUs: []string{"Workloads/Prod"}}, []string{"222222222222", "444444444444"}, ""},
		{"root never yields the management account", fleet.Selector{OUs: []string{"Root"}}, []string{"111111111111", "222222222222", "333333333333", "444444444444"}, ""},
		{"empty OU yields nothing", fleet.Selector{OUs: []string{"Empty"}}, []string{}, ""},
		{"intersection", fleet.Selector{OUs: []string{"Workloads"}, Accounts: []string{"222222222222", "333333333333"}, Filter: fleet.FilterIntersection}, []string{"222222222222"}, ""},
		{"difference", fleet.Selector{OUs: []string{"Workloads"}, Accounts: []string{"222222222222"}, Filter: fleet.FilterDifference}, []string{"111111111111", "444444444444"}, ""},
		{"union", fleet.Selector{OUs: []string{"Sandbox"}, Accounts: []string{"111111111111"}, Filter: fleet.FilterUnion}, []string{"111111111111", "333333333333"}, ""},
		{"tags with difference", fleet.Selector{OUs: []string{"Workloads"}, AccountTags: map[string]string{"team": "pay"}, Filter: fleet.FilterDifference}, []string{"111111111111", "222222222222"}, ""},
		{"tags alone", fleet.Selector{AccountTags: map[string]string{"stage": "prod"}}, []string{"222222222222", "444444444444"}, ""},
		{"management account listed explicitly", fleet.Selector{Accounts: []string{"000000000000"}}, []string{"000000000000"}, ""},
		{"unknown OU", fleet.Selector{OUs: []string{"Nope"}}, nil, `organizational unit "Nope" is not in the organization (use an ou-… id or a path of OU names like Workloads/Prod)`},
		{"unknown account", fleet.Selector{Accounts: []string{"999999999999"}}, nil, `account "999999999999" is not in the organization`},
		{"accounts with OUs need a filter", fleet.Selector{OUs: []string{"Sandbox"}, Accounts: []string{"111111111111"}}, nil, "accounts listed with OUs need a filter: INTERSECTION, DIFFERENCE or UNION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testInventory().Select(tt.sel)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Select() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("Select() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOUPathAndAncestors(t *testing.T) {
	inv := testInventory()
	if got := inv.OUPath("ou-prod"); got != "Workloads/Prod" {
		t.Errorf("OUPath = %q", got)
	}
	a, _ := inv.Account("222222222222")
	if diff := cmp.Diff([]string{"ou-prod", "ou-work", "r-root"}, inv.Ancestors(a)); diff != "" {
		t.Error(diff)
	}
}
