package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

func TestOrgFile(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{OrgFile: "testdata/org.yaml", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	v := sb.Org()
	if v.ID != "o-testorg001" || v.RootID != "r-t3st" || v.ManagementAccount != "100000000001" {
		t.Errorf("ids: org %s root %s management %s", v.ID, v.RootID, v.ManagementAccount)
	}
	if diff := cmp.Diff([]string{"eu-west-1", "eu-central-1"}, v.Regions); diff != "" {
		t.Errorf("regions (-want +got):\n%s", diff)
	}
	type acct struct{ Name, Path, Email, Team string }
	var got []acct
	for _, a := range v.Accounts {
		got = append(got, acct{a.Name, a.OUPath, a.Email, a.Tags["team"]})
	}
	want := []acct{
		{"management", "", "root@example.com", ""},
		{"shared-services", "", "aws+shared-services@example.com", "platform"},
		{"payments-prod", "Workloads/Prod", "payments-prod@example.com", "payments"},
		{"payments-dev", "Workloads/NonProd", "aws+payments-dev@example.com", "payments"},
		{"audit", "Security", "aws+audit@example.com", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	if a, _ := v.Account("audit"); a.ID != "100000000003" {
		t.Errorf("audit id = %s", a.ID)
	}
	if c := sb.ManagementCredentials(); c.Account != "100000000001" || c.Region != "eu-west-1" {
		t.Errorf("management credentials %+v", c)
	}
	// Options.Regions overrides the file's.
	sb2, err := sandbox.New(sandbox.Options{OrgFile: "testdata/org.yaml", Regions: []string{"ap-south-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb2.Close()
	if got := sb2.Regions(); len(got) != 1 || got[0] != "ap-south-1" {
		t.Errorf("regions with override: %v", got)
	}
}

func TestOrgFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"syntax", "ous:\n  - name: [unclosed\n", []string{"org file"}},
		{"unknown field", "accounts:\n  - name: a\n    colour: red\n", []string{"colour", "3"}},
		{"bad account id", "accounts:\n  - name: a\n  - name: b\n    id: \"12\"\n", []string{"line 4", "invalid account id"}},
		{"duplicate name", "accounts:\n  - name: a\nous:\n  - name: X\n    accounts:\n      - name: a\n", []string{"line 6", "duplicate account name"}},
		{"duplicate OU", "ous:\n  - name: X\n  - name: X\n", []string{"line 3", "duplicate organizational unit"}},
		{"bad email", "accounts:\n  - name: a\n    email: nope\n", []string{"line 3", "invalid email"}},
		{"bad region", "regions: [us-east-1, mars-1]\n", []string{"line 1", "mars-1"}},
		{"no name", "ous:\n  - name: X\n    accounts:\n      - email: a@example.com\n", []string{"line 4", "no name"}},
		{"bad org id", "organizationId: org-1\n", []string{"line 1", "organization id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "org.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			sb, err := sandbox.New(sandbox.Options{OrgFile: path})
			if err == nil {
				sb.Close()
				t.Fatal("New succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := sandbox.New(sandbox.Options{OrgFile: "testdata/missing.yaml"}); err == nil {
		t.Error("missing org file: no error")
	}
}
