package config_test

import (
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/config"
)

const refConfig = `version: 1
organization: {source: aws}
regions: [us-east-1]
execution: {role: "arn:aws:iam::{account}:role/X"}
stackSets:
  - name: app
    template: t.yaml
    parameters: {Env: '{{ output "network" "VpcId" }}'}
    targets: {ous: [Workloads]}
  - name: network
    template: t.yaml
    parameters: {Env: dev}
    targets: {ous: [Workloads]}
`

func TestReferencesOrderAndErrors(t *testing.T) {
	f, err := config.Load(writeConfig(t, refConfig, baseTemplate))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Resolve(inventory(2))
	if err != nil {
		t.Fatal(err)
	}
	if r.StackSets[0].Name != "network" || r.StackSets[1].Name != "app" {
		t.Errorf("order %s, %s: want the producer first", r.StackSets[0].Name, r.StackSets[1].Name)
	}
	for _, tt := range []struct{ edit, want string }{
		{strings.Replace(refConfig, "{Env: dev}", `{Env: '{{ output "app" "X" }}'}`, 1), "stackfleet.yaml:8:18: stackSets[0].parameters.Env: references form a cycle: app → network → app"},
		{strings.Replace(refConfig, `"network" "VpcId"`, `"nope" "VpcId"`, 1), `stackfleet.yaml:8:18: stackSets[0].parameters.Env: references stack set "nope", which is not in the configuration`},
		{strings.Replace(refConfig, `{{ output "network" "VpcId" }}`, `{{ output "network" }`, 1), "stackSets[0].parameters.Env: not a valid reference"},
	} {
		f, err := config.Load(writeConfig(t, tt.edit, baseTemplate))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Resolve(inventory(2)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Resolve: %v, want %q", err, tt.want)
		}
	}
}
