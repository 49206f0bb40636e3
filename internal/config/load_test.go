package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/config"
)

const valid = `version: 1
organization:
  source: aws
regions: [us-east-1, eu-west-1]
execution:
  role: arn:aws:iam::{account}:role/StackFleetExecution
stackSets:
  - name: baseline
    template: templates/baseline.yaml
    parameters:
      Env: prod
      Ports: [80, 443]
    capabilities: [CAPABILITY_NAMED_IAM]
    targets:
      ous: [Workloads]
      accounts: ["123456789012"]
      filter: DIFFERENCE
    overrides:
      - match: {region: eu-west-1}
        parameters: {Env: prod-eu}
    rollout:
      maxConcurrentPercentage: 25
      failureToleranceCount: 1
      mode: soft
`

func TestParseValid(t *testing.T) {
	f, err := config.Parse("stackfleet.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	s := f.StackSets[0]
	if s.Name != "baseline" || *s.Rollout.MaxConcurrentPercentage != 25 || s.Targets.Filter != "DIFFERENCE" {
		t.Errorf("decoded %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, edit, want string
	}{
		{"invalid YAML", "stackSets:\n  - name: [unclosed\n", "stackfleet.yaml:"},
		{"empty", "", "stackfleet.yaml: the configuration is empty"},
		{"only comments", "# nothing yet\n\n", "stackfleet.yaml: the configuration is empty"},
		{"unknown field", strings.Replace(valid, "    template:", "    tempalte: x\n    template:", 1), `stackfleet.yaml:9:5: unknown field "tempalte"`},
		{"both count and percentage", strings.Replace(valid, "      failureToleranceCount: 1", "      failureToleranceCount: 1\n      maxConcurrentCount: 3", 1),
			"stackfleet.yaml:22:7: stackSets[0].rollout.maxConcurrentPercentage: set maxConcurrentCount or maxConcurrentPercentage, not both"},
		{"percentage over 100", strings.Replace(valid, "maxConcurrentPercentage: 25", "maxConcurrentPercentage: 150", 1),
			"stackfleet.yaml:22:7: stackSets[0].rollout.maxConcurrentPercentage: must be between 0 and 100 (got 150)"},
		{"bad filter", strings.Replace(valid, "filter: DIFFERENCE", "filter: MINUS", 1),
			`stackfleet.yaml:17:7: stackSets[0].targets.filter: "MINUS": use NONE, INTERSECTION, DIFFERENCE or UNION`},
		{"bad account id", strings.Replace(valid, `"123456789012"`, `"12345"`, 1),
			`stackfleet.yaml:16:18: stackSets[0].targets.accounts[0]: "12345" is not a 12-digit account id`},
		{"role without placeholder", strings.Replace(valid, "{account}", "111111111111", 1),
			`stackfleet.yaml:6:3: execution.role: "arn:aws:iam::111111111111:role/StackFleetExecution" must contain {account}`},
		{"wrong type", strings.Replace(valid, "failureToleranceCount: 1", "failureToleranceCount: one", 1), "stackfleet.yaml:23:30: expected a number, got a string"},
		{"empty override match", strings.Replace(valid, "{region: eu-west-1}", "{}", 1),
			"stackSets[0].overrides[0].match: needs at least one of ou, account, region, tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("stackfleet.yaml", []byte(tt.edit))
			if err == nil {
				t.Fatal("Parse() succeeded, want an error")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("1000000A: }\nregions: !00 "))
	f.Add([]byte("stackSets:\n  - name: [unclosed\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := config.Parse("f.yaml", src)
		if err == nil && file == nil {
			t.Fatal("nil file without error")
		}
		if err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
		}
	})
}

func TestParameterCharactersAndSize(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{`"a\u0000b"`, "the value holds the control character U+0000 at byte 1"},
		{`"bell\u0007"`, "the value holds the control character U+0007 at byte 4"},
	} {
		src := strings.Replace(valid, "Env: prod\n", "Env: "+tt.value+"\n", 1)
		_, err := config.Parse("stackfleet.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "stackfleet.yaml:11:7: stackSets[0].parameters.Env") {
			t.Errorf("parameter %s: %v, want %q at stackfleet.yaml:11:7", tt.value, err, tt.want)
		}
	}
	if _, err := config.Parse("stackfleet.yaml", []byte(strings.Replace(valid, "Env: prod\n", "Env: \"tab\\tand\\nnewline\"\n", 1))); err != nil {
		t.Errorf("tabs and newlines are legal in values: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, config.MaxConfigBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(big); err == nil || !strings.Contains(err.Error(), "may be at most 4194304 (4 MiB)") {
		t.Errorf("Load of a 4 MiB+1 config: %v", err)
	}
}
