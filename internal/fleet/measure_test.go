package fleet_test

import (
	"testing"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

func TestAssess(t *testing.T) {
	ok := fleet.Measurement{Phase: fleet.Successful}
	bad := fleet.Measurement{Phase: fleet.Failed, Message: "alarm x is ALARM"}
	er := fleet.Measurement{Phase: fleet.Error, Message: "Throttling: rate exceeded"}
	inc := fleet.Measurement{Phase: fleet.Inconclusive}
	for _, tc := range []struct {
		name   string
		ms     []fleet.Measurement
		limits fleet.GateLimits
		want   fleet.Verdict
	}{
		{"none", nil, fleet.GateLimits{}, fleet.Verdict{Phase: fleet.Successful}},
		{"all ok", []fleet.Measurement{ok, ok}, fleet.GateLimits{}, fleet.Verdict{Phase: fleet.Successful}},
		{"first failure fails", []fleet.Measurement{ok, bad}, fleet.GateLimits{}, fleet.Verdict{Phase: fleet.Failed, Reason: "alarm x is ALARM"}},
		{"failure within limit", []fleet.Measurement{bad, ok}, fleet.GateLimits{FailureLimit: 1}, fleet.Verdict{Phase: fleet.Successful}},
		{"failures past limit", []fleet.Measurement{bad, ok, bad}, fleet.GateLimits{FailureLimit: 1}, fleet.Verdict{Phase: fleet.Failed, Reason: "alarm x is ALARM"}},
		{"errors within default limit", []fleet.Measurement{er, er, er, er}, fleet.GateLimits{}, fleet.Verdict{Phase: fleet.Successful}},
		{"errors past default limit", []fleet.Measurement{er, er, er, er, er}, fleet.GateLimits{},
			fleet.Verdict{Phase: fleet.Error, Reason: "could not be read 5 times in a row: Throttling: rate exceeded"}},
		{"a success resets errors", []fleet.Measurement{er, er, er, er, ok, er, er, er, er}, fleet.GateLimits{}, fleet.Verdict{Phase: fleet.Successful}},
		{"inconclusive resets errors", []fleet.Measurement{er, er, inc, er, er}, fleet.GateLimits{ConsecutiveErrorLimit: 2}, fleet.Verdict{Phase: fleet.Successful}},
		{"configured error limit", []fleet.Measurement{er, er}, fleet.GateLimits{ConsecutiveErrorLimit: 1},
			fleet.Verdict{Phase: fleet.Error, Reason: "could not be read 2 times in a row: Throttling: rate exceeded"}},
		{"errors never fail as failures", []fleet.Measurement{er, er, er}, fleet.GateLimits{FailureLimit: 0}, fleet.Verdict{Phase: fleet.Successful}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fleet.Assess(tc.ms, tc.limits); got != tc.want {
				t.Errorf("Assess = %+v, want %+v", got, tc.want)
			}
		})
	}
}
