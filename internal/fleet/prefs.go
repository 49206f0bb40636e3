package fleet

import "fmt"

// RegionConcurrency says whether the regions of an operation deploy one after another or at once.
type RegionConcurrency string

// Region concurrency types, as StackSets names them.
const (
	Sequential RegionConcurrency = "SEQUENTIAL"
	Parallel   RegionConcurrency = "PARALLEL"
)

// ConcurrencyMode says how failures shrink concurrency within a region.
type ConcurrencyMode string

// Concurrency modes, as StackSets names them.
const (
	// Strict starts at min(max concurrency, tolerance+1) and shrinks as failures occur, so no more
	// than tolerance+1 accounts of a region ever fail.
	Strict ConcurrencyMode = "STRICT_FAILURE_TOLERANCE"
	// Soft keeps max concurrency whatever the failures; tolerance still stops the region.
	Soft ConcurrencyMode = "SOFT_FAILURE_TOLERANCE"
)

// Limit is a count or a percentage of the accounts in a region; at most one is set.
type Limit struct {
	Count      *int `json:"count,omitempty"`
	Percentage *int `json:"percentage,omitempty"`
}

// Preferences are the operation preferences of a stack set, with StackSets semantics.
// The zero value is StackSets' default: concurrency 1, tolerance 0, sequential regions, strict.
type Preferences struct {
	MaxConcurrent     Limit             `json:"maxConcurrent,omitzero"`
	FailureTolerance  Limit             `json:"failureTolerance,omitzero"`
	RegionOrder       []string          `json:"regionOrder,omitempty"`
	RegionConcurrency RegionConcurrency `json:"regionConcurrency,omitempty"`
	Mode              ConcurrencyMode   `json:"mode,omitempty"`
}

// Validate reports the first preference StackSets would reject.
func (p Preferences) Validate() error {
	for _, l := range []struct {
		name string
		lim  Limit
	}{{"max concurrency", p.MaxConcurrent}, {"failure tolerance", p.FailureTolerance}} {
		switch {
		case l.lim.Count != nil && l.lim.Percentage != nil:
			return fmt.Errorf("%s: set a count or a percentage, not both", l.name)
		case l.lim.Count != nil && *l.lim.Count < 0:
			return fmt.Errorf("%s: count %d is negative", l.name, *l.lim.Count)
		case l.lim.Percentage != nil && (*l.lim.Percentage < 0 || *l.lim.Percentage > 100):
			return fmt.Errorf("%s: percentage %d is outside 0..100", l.name, *l.lim.Percentage)
		}
	}
	if p.MaxConcurrent.Count != nil && *p.MaxConcurrent.Count == 0 {
		return fmt.Errorf("max concurrency: count must be at least 1")
	}
	switch p.RegionConcurrency {
	case "", Sequential, Parallel:
	default:
		return fmt.Errorf("region concurrency %q: use %s or %s", p.RegionConcurrency, Sequential, Parallel)
	}
	switch p.Mode {
	case "", Strict, Soft:
	default:
		return fmt.Errorf("concurrency mode %q: use %s or %s", p.Mode, Strict, Soft)
	}
	return nil
}

// MaxConcurrency is how many accounts of a region with n accounts may deploy at once: a count as
// given (default 1), or a percentage of n rounded down but never below 1.
func (p Preferences) MaxConcurrency(n int) int {
	switch {
	case p.MaxConcurrent.Count != nil:
		return max(*p.MaxConcurrent.Count, 1)
	case p.MaxConcurrent.Percentage != nil:
		return max(n**p.MaxConcurrent.Percentage/100, 1)
	default:
		return 1
	}
}

// Tolerance is how many accounts of a region with n accounts may fail before the region stops:
// a count as given (default 0), or a percentage of n rounded down with no minimum.
func (p Preferences) Tolerance(n int) int {
	switch {
	case p.FailureTolerance.Count != nil:
		return *p.FailureTolerance.Count
	case p.FailureTolerance.Percentage != nil:
		return n * *p.FailureTolerance.Percentage / 100
	default:
		return 0
	}
}

// Concurrency is how many more accounts may be running in a region with n accounts, given how
// many are running and how many have failed. In strict mode running+failed never exceeds
// tolerance+1; in soft mode only max concurrency bounds it.
func (p Preferences) Concurrency(n, running, failed int) int {
	limit := p.MaxConcurrency(n)
	if p.Mode != Soft {
		limit = min(limit, p.Tolerance(n)+1-failed)
	}
	return max(limit-running, 0)
}

// Exceeded reports whether failed accounts in a region with n accounts stop that region.
func (p Preferences) Exceeded(n, failed int) bool { return failed > p.Tolerance(n) }
