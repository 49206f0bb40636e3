package orgs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/orgs"
)

const sample = `managementAccount: "111111111111"
root: r-abcd
accounts:
  - id: "111111111111"
    name: management
ous:
  - name: Workloads
    id: ou-abcd-11111111
    accounts:
      - id: 022222222222
        name: dev
        tags: {env: dev, tier: 1}
    children:
      - name: Prod
        accounts:
          - {id: "333333333333", name: prod, email: prod@example.com, status: SUSPENDED}
  - name: Sandbox
`

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "org.yaml")
	if err := os.WriteFile(path, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := orgs.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prod, sandbox := findOU(t, got, "Prod"), findOU(t, got, "Sandbox")
	want := &fleet.Inventory{
		ManagementAccount: "111111111111",
		RootID:            "r-abcd",
		OUs: []fleet.OU{
			{ID: "ou-abcd-11111111", Name: "Workloads", ParentID: "r-abcd"},
			{ID: prod, Name: "Prod", ParentID: "ou-abcd-11111111"},
			{ID: sandbox, Name: "Sandbox", ParentID: "r-abcd"},
		},
		Accounts: []fleet.Account{
			// An unquoted id keeps its leading zero: it is not read as an (octal) number.
			{ID: "022222222222", Name: "dev", ParentID: "ou-abcd-11111111", Status: "ACTIVE", Tags: map[string]string{"env": "dev", "tier": "1"}},
			{ID: "111111111111", Name: "management", ParentID: "r-abcd", Status: "ACTIVE"},
			{ID: "333333333333", Name: "prod", Email: "prod@example.com", ParentID: prod, Status: "SUSPENDED"},
		},
	}
	sortInventory(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	for _, id := range []string{prod, sandbox} {
		if !strings.HasPrefix(id, "ou-abcd-") || len(id) != len("ou-abcd-")+12 {
			t.Errorf("derived OU id %q, want ou-abcd- and 12 hex digits", id)
		}
	}
	if prod == sandbox {
		t.Errorf("two OUs derived the same id %q", prod)
	}
	// Derived ids are stable: plans pin the inventory's hash.
	again, err := orgs.ParseFile("org.yaml", []byte(sample))
	if err != nil || !cmp.Equal(got, again) {
		t.Errorf("parsing the same file twice gave different inventories: %v", err)
	}
	sel, err := got.Select(fleet.Selector{OUs: []string{"Workloads"}})
	if err != nil || len(sel) != 2 {
		t.Errorf("Select(Workloads) = %v, %v; want dev and prod", sel, err)
	}
}

func findOU(t *testing.T, inv *fleet.Inventory, name string) string {
	t.Helper()
	for _, ou := range inv.OUs {
		if ou.Name == name {
			return ou.ID
		}
	}
	t.Fatalf("no OU %s in %+v", name, inv.OUs)
	return ""
}

func TestParseFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // file:line:column: message fragments, in order
	}{
		{"missing management", "ous: []\n", []string{"org.yaml: managementAccount is required"}},
		{"unknown field", "managementAccount: \"111111111111\"\naccountz: []\n", []string{`org.yaml:2:1: unknown field "accountz"`}},
		{"bad yaml", "managementAccount: [\n", []string{"org.yaml:1:"}},
		{"bad ids", `managementAccount: "1111"
root: root
accounts:
  - id: "12345678901x"
  - name: no id
ous:
  - name: A
    id: ou-bad
  - name: A/B
`, []string{
			`org.yaml:1:20: account id "1111": it must be 12 digits`,
			`org.yaml:2:7: root id "root"`,
			`org.yaml:4:9: account id "12345678901x": it must be 12 digits`,
			`org.yaml:5:5: an account needs an id`,
			`org.yaml:8:9: OU id "ou-bad"`,
			`org.yaml:9:11: OU name "A/B": it cannot contain /`,
		}},
		{"duplicates", `managementAccount: "111111111111"
accounts: [{id: "111111111111"}]
ous:
  - name: A
    accounts: [{id: "111111111111", status: GONE}]
  - name: A
`, []string{
			`org.yaml:5:21: account 111111111111 appears twice`,
			`org.yaml:5:45: status "GONE"`,
			`org.yaml:6:11: OU name "A" appears twice under the same parent`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := orgs.ParseFile("org.yaml", []byte(tc.src))
			var errs orgs.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("ParseFile = %v, want orgs.Errors", err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tc.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e.Error(), tc.want[i])
				}
			}
		})
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("managementAccount: 1\nous: [{name: x, children: [{name: y}]}]\n"))
	f.Add([]byte("{managementAccount: \"111111111111\", accounts: [{id: 1, tags: {a: [1]}}]}"))
	f.Add([]byte("managementAccount: &a \"111111111111\"\nroot: *a\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		inv, err := orgs.ParseFile("fuzz.yaml", src)
		if err != nil {
			if inv != nil {
				t.Errorf("ParseFile returned an inventory with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, a := range inv.Accounts {
			if len(a.ID) != 12 || seen[a.ID] {
				t.Errorf("accepted account id %q (duplicate: %v)", a.ID, seen[a.ID])
			}
			seen[a.ID] = true
		}
	})
}
