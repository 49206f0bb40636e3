package pipeline

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// WavePolicy generates waves from a stage's targets. The zero value deploys one wave per region,
// regions alphabetically. Validate reports the combinations GenerateWaves does not expect.
type WavePolicy struct {
	// OneBox makes the first wave a single target (the lowest account id) of the first region,
	// before the rest of that region.
	OneBox bool
	// FirstRegion is the low-traffic region deployed first; "" means the first of RegionOrder,
	// else the alphabetically first region.
	FirstRegion string
	// RegionOrder lists the regions deployed after FirstRegion, in order; the regions it does not
	// name follow alphabetically.
	RegionOrder []string
	// Factor grows the waves: next wave = ceil(previous × Factor). 0 means unset; otherwise at
	// least 1. Exclusive with Size.
	Factor float64
	// Size is a fixed wave size; 0 means unset. Exclusive with Factor.
	Size int
	// Initial is the size of the first wave after the one-box; 0 means the default: 1 with
	// Factor, Size with Size. It needs Factor or Size.
	Initial int
}

// Validate reports every problem of the policy at once, or nil: a Factor below 1 (or not a
// finite number), a negative Size or Initial, Factor and Size both set, Initial without Factor or
// Size, an empty or repeated region in RegionOrder.
func (p WavePolicy) Validate() error {
	var errs []error
	switch {
	case math.IsNaN(p.Factor) || math.IsInf(p.Factor, 0):
		errs = append(errs, fmt.Errorf("wave growth factor %v is not a number", p.Factor))
	case p.Factor != 0 && p.Factor < 1:
		errs = append(errs, fmt.Errorf("wave growth factor %g is below 1: waves must not shrink (use 1 for waves of equal size)", p.Factor))
	}
	if p.Size < 0 {
		errs = append(errs, fmt.Errorf("wave size %d is negative", p.Size))
	}
	if p.Factor != 0 && p.Size != 0 {
		errs = append(errs, errors.New("set either a wave growth factor or a fixed wave size, not both"))
	}
	if p.Initial < 0 {
		errs = append(errs, fmt.Errorf("initial wave size %d is negative", p.Initial))
	}
	if p.Initial > 0 && p.Factor == 0 && p.Size == 0 {
		errs = append(errs, fmt.Errorf("initial wave size %d needs a wave growth factor or a fixed wave size (without either, each region is one wave)", p.Initial))
	}
	seen := map[string]bool{}
	for _, r := range p.RegionOrder {
		switch {
		case strings.TrimSpace(r) == "":
			errs = append(errs, errors.New("region order has an empty region name"))
		case seen[r]:
			errs = append(errs, fmt.Errorf("region order lists %s twice", r))
		}
		seen[r] = true
	}
	return errors.Join(errs...)
}

// GenerateWaves cuts targets into waves, in deployment order. The rule:
//
//   - Targets are deduplicated and ordered by region — FirstRegion, then RegionOrder's regions
//     in order, then the other regions alphabetically — then by account id.
//   - A wave never spans two regions, so that a bad release never hurts several regions at once.
//   - With OneBox, the first wave is the first target alone (the lowest account id of the first
//     region that has targets); the rest of that region follows in the next waves.
//   - Nominal wave sizes then run, across regions, as follows. With Factor: s₁ = Initial (default
//     1), sₙ₊₁ = ceil(sₙ × Factor), where a product within 1e-9 of an integer counts as that
//     integer (so 50 × 1.1 is 55, not 56). With Size: s₁ = Initial (default Size), then Size.
//     With neither: unbounded, so each region is one wave (after the one-box).
//   - Each wave takes min(next nominal size, targets left in its region). Every wave but the
//     one-box consumes one nominal size, so growth continues into the next region even when the
//     previous region's last wave came out smaller than its nominal size.
//
// No wave is empty, every distinct target is in exactly one wave, and no targets give no waves
// (nil). GenerateWaves does not validate p: with a policy Validate rejects it still partitions
// the targets, counting any size below 1 as 1 and preferring Factor when both are set.
func GenerateWaves(targets []fleet.Target, p WavePolicy) [][]fleet.Target {
	order := make([]string, 0, len(p.RegionOrder)+1)
	if p.FirstRegion != "" {
		order = append(order, p.FirstRegion)
	}
	for _, r := range p.RegionOrder {
		if !slices.Contains(order, r) {
			order = append(order, r)
		}
	}
	regionCmp := wavesRegionCmp(order)
	sorted := slices.Clone(targets)
	slices.SortFunc(sorted, func(a, b fleet.Target) int {
		if c := regionCmp(a.Region, b.Region); c != 0 {
			return c
		}
		return strings.Compare(a.Account, b.Account)
	})
	sorted = slices.Compact(sorted)
	if len(sorted) == 0 {
		return nil
	}

	sizes := wavesSizer{policy: p, limit: len(sorted)}
	var waves [][]fleet.Target
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].Region == sorted[start].Region {
			end++
		}
		// Full slice expressions keep an append to one wave from overwriting the next.
		if start == 0 && p.OneBox {
			waves = append(waves, sorted[0:1:1])
			start = 1
		}
		for start < end {
			n := min(sizes.next(), end-start)
			waves = append(waves, sorted[start:start+n:start+n])
			start += n
		}
	}
	return waves
}

// wavesRegionCmp orders regions: those in order first, in that order, then the rest
// alphabetically (the rule fleet.SortActions follows).
func wavesRegionCmp(order []string) func(a, b string) int {
	rank := func(r string) int {
		if i := slices.Index(order, r); i >= 0 {
			return i
		}
		return len(order)
	}
	return func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	}
}

// wavesSizer yields the nominal wave sizes of a policy. Sizes are capped at limit (the number of
// targets), which no wave can exceed anyway, so that growth never overflows.
type wavesSizer struct {
	policy WavePolicy
	limit  int
	prev   int // 0 before the first size
}

func (s *wavesSizer) next() int {
	p := s.policy
	var n int
	switch {
	case p.Factor == 0 && p.Size <= 0:
		n = s.limit
	case s.prev == 0 && p.Initial > 0:
		n = p.Initial
	case s.prev == 0 && p.Factor != 0:
		n = 1
	case p.Factor != 0:
		x := float64(s.prev) * p.Factor
		if r := math.Round(x); math.Abs(x-r) <= 1e-9*max(1, math.Abs(x)) {
			x = r
		}
		// NaN and huge products fail this test and fall back to the cap.
		if c := math.Ceil(x); c < float64(s.limit) {
			n = int(c)
		} else {
			n = s.limit
		}
	default:
		n = p.Size
	}
	n = min(max(n, 1), s.limit)
	s.prev = n
	return n
}
