package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

const baseTemplate = `Parameters:
  Env:
    Type: String
    AllowedValues: [dev, prod]
  Owner:
    Type: String
    Default: platform
Resources:
  Topic:
    Type: AWS::SNS::Topic
`

func inventory(n int) *fleet.Inventory {
	inv := &fleet.Inventory{ManagementAccount: "000000000000", RootID: "r-1",
		OUs: []fleet.OU{{ID: "ou-1", Name: "Workloads", ParentID: "r-1"}, {ID: "ou-2", Name: "Prod", ParentID: "ou-1"}}}
	inv.Accounts = append(inv.Accounts, fleet.Account{ID: "000000000000", ParentID: "r-1"})
	for i := range n {
		inv.Accounts = append(inv.Accounts, fleet.Account{ID: strings.Repeat(string(rune('1'+i%9)), 11) + string(rune('0'+i/9)), ParentID: "ou-2"})
	}
	return inv
}

func writeConfig(t *testing.T, cfg, tmpl string) string {
	t.Helper()
	dir := t.TempDir()
	if tmpl != "" {
		if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(tmpl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "stackfleet.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const resolveConfig = `version: 1
organization: {source: aws}
regions: [us-east-1, eu-west-1]
execution: {role: "arn:aws:iam::{account}:role/X"}
stackSets:
  - name: base
    template: t.yaml
    parameters:
      Env: dev
    targets:
      ous: [Workloads]
    overrides:
      - match: {region: eu-west-1}
        parameters: {Env: prod}
`

func TestResolve(t *testing.T) {
	f, err := config.Load(writeConfig(t, resolveConfig, baseTemplate))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Resolve(inventory(3))
	if err != nil {
		t.Fatal(err)
	}
	s := r.StackSets[0]
	// Without regionOrder, regions deploy in the order written, not alphabetically.
	if got := fleet.OrderRegions([]string{"eu-west-1", "us-east-1"}, s.Preferences.RegionOrder); !slices.Equal(got, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("region order %v, want the order written [us-east-1 eu-west-1]", got)
	}
	targets, accts, err := s.Targets(inventory(3))
	if err != nil || len(targets) != 6 {
		t.Fatalf("Targets() = %d targets, %v; want 6", len(targets), err)
	}
	got := s.ParametersFor(inventory(3), accts[targets[5].Account], "eu-west-1")
	if diff := cmp.Diff(map[string]string{"Env": "prod"}, got); diff != "" {
		t.Error(diff)
	}
}

func TestResolveErrorsOnceWithPosition(t *testing.T) {
	tests := []struct {
		name, cfg, tmpl string
		want            []string
	}{
		{"required parameter missing", strings.Replace(resolveConfig, "      Env: dev\n", "      Owner: me\n", 1), baseTemplate,
			[]string{"stackfleet.yaml:8:5: stackSets[0].parameters: parameter Env is required (the template gives no Default) (template t.yaml; 3 instances, e.g. 111111111110/us-east-1)"}},
		{"undeclared parameter in an override", strings.Replace(resolveConfig, "{Env: prod}", "{Env: prod, Stage: x}", 1), baseTemplate,
			[]string{"stackfleet.yaml:14:33: stackSets[0].overrides[0].parameters.Stage: parameter Stage is not declared by the template (template t.yaml; 3 instances, e.g. 111111111110/eu-west-1)"}},
		{"value outside AllowedValues", strings.Replace(resolveConfig, "{Env: prod}", "{Env: qa}", 1), baseTemplate,
			[]string{`stackfleet.yaml:14:22: stackSets[0].overrides[0].parameters.Env: parameter Env: value "qa" is not one of the AllowedValues [dev, prod] (template t.yaml; 3 instances, e.g. 111111111110/eu-west-1)`}},
		{"unknown OU", strings.Replace(resolveConfig, "ous: [Workloads]", "ous: [Workloads, Nowhere]", 1), baseTemplate,
			[]string{`stackfleet.yaml:11:24: stackSets[0].targets.ous[1]: organizational unit "Nowhere" is not in the organization`}},
		{"unknown account", strings.Replace(resolveConfig, "ous: [Workloads]", `accounts: ["999999999999"]`, 1), baseTemplate,
			[]string{`stackSets[0].targets.accounts[0]: account 999999999999 is not in the organization`}},
		{"unreadable template", resolveConfig, "",
			[]string{"stackfleet.yaml:7:5: stackSets[0].template: cannot read the template: "}},
		{"missing capability", resolveConfig, baseTemplate + "  Role:\n    Type: AWS::IAM::Role\n",
			[]string{"stackSets[0].capabilities: the template creates IAM resources: add CAPABILITY_IAM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Load(writeConfig(t, tt.cfg, tt.tmpl))
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Resolve(inventory(3))
			if err == nil {
				t.Fatal("Resolve() succeeded, want errors")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("error %d:\n%s\nwant it to contain:\n%s", i, lines[i], w)
				}
			}
		})
	}
}
