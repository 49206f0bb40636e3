package fleet_test

import (
	"testing"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

func ptr(n int) *int { return &n }

func TestMaxConcurrencyAndTolerance(t *testing.T) {
	tests := []struct {
		name                string
		prefs               fleet.Preferences
		accounts            int
		wantConc, wantToler int
	}{
		{"defaults", fleet.Preferences{}, 10, 1, 0},
		{"docs example: 50% of 10", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(50)}}, 10, 5, 0},
		{"25% of 10 rounds down to 2", fleet.Preferences{
			MaxConcurrent: fleet.Limit{Percentage: ptr(25)}, FailureTolerance: fleet.Limit{Percentage: ptr(25)}}, 10, 2, 2},
		{"concurrency percentage never below 1", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(5)}}, 10, 1, 0},
		{"tolerance percentage has no minimum", fleet.Preferences{FailureTolerance: fleet.Limit{Percentage: ptr(5)}}, 10, 1, 0},
		{"0% concurrency is still 1", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(0)}}, 10, 1, 0},
		{"100%", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(100)}, FailureTolerance: fleet.Limit{Percentage: ptr(100)}}, 7, 7, 7},
		{"counts as given", fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(20)}, FailureTolerance: fleet.Limit{Count: ptr(3)}}, 10, 20, 3},
		{"percentage of an empty region", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(50)}, FailureTolerance: fleet.Limit{Percentage: ptr(50)}}, 0, 1, 0},
		{"33% of 1000", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(33)}, FailureTolerance: fleet.Limit{Percentage: ptr(1)}}, 1000, 330, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.prefs.MaxConcurrency(tt.accounts); got != tt.wantConc {
				t.Errorf("MaxConcurrency(%d) = %d, want %d", tt.accounts, got, tt.wantConc)
			}
			if got := tt.prefs.Tolerance(tt.accounts); got != tt.wantToler {
				t.Errorf("Tolerance(%d) = %d, want %d", tt.accounts, got, tt.wantToler)
			}
		})
	}
}

func TestConcurrencyStrictShrinksSoftDoesNot(t *testing.T) {
	strict := fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(10)}, FailureTolerance: fleet.Limit{Count: ptr(2)}}
	soft := strict
	soft.Mode = fleet.Soft
	tests := []struct {
		name                    string
		prefs                   fleet.Preferences
		running, failed, wantOK int
	}{
		{"strict starts at tolerance+1", strict, 0, 0, 3},
		{"strict after one failure", strict, 0, 1, 2},
		{"strict after two failures", strict, 0, 2, 1},
		{"strict full while running", strict, 2, 1, 0},
		{"strict with tolerance above max", fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(2)}, FailureTolerance: fleet.Limit{Count: ptr(5)}}, 0, 0, 2},
		{"soft keeps max", soft, 0, 2, 10},
		{"soft with running", soft, 4, 2, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.prefs.Concurrency(100, tt.running, tt.failed); got != tt.wantOK {
				t.Errorf("Concurrency(100, %d, %d) = %d, want %d", tt.running, tt.failed, got, tt.wantOK)
			}
		})
	}
}

func TestExceeded(t *testing.T) {
	p := fleet.Preferences{FailureTolerance: fleet.Limit{Percentage: ptr(10)}}
	if p.Exceeded(20, 2) {
		t.Error("2 failures of 20 at 10% should be tolerated")
	}
	if !p.Exceeded(20, 3) {
		t.Error("3 failures of 20 at 10% should stop the region")
	}
	if !(fleet.Preferences{}).Exceeded(5, 1) {
		t.Error("default tolerance 0: one failure stops the region")
	}
}

func TestPreferencesValidate(t *testing.T) {
	tests := []struct {
		name  string
		prefs fleet.Preferences
		want  string
	}{
		{"ok", fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(50)}}, ""},
		{"both", fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(1), Percentage: ptr(50)}}, "max concurrency: set a count or a percentage, not both"},
		{"over 100", fleet.Preferences{FailureTolerance: fleet.Limit{Percentage: ptr(101)}}, "failure tolerance: percentage 101 is outside 0..100"},
		{"zero count", fleet.Preferences{MaxConcurrent: fleet.Limit{Count: ptr(0)}}, "max concurrency: count must be at least 1"},
		{"bad mode", fleet.Preferences{Mode: "LOOSE"}, `concurrency mode "LOOSE": use STRICT_FAILURE_TOLERANCE or SOFT_FAILURE_TOLERANCE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.prefs.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}
