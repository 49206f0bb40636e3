package pipeline_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pipeline"
)

// wvTargets builds targets from "region:acct,acct" items.
func wvTargets(items ...string) []fleet.Target {
	var out []fleet.Target
	for _, it := range items {
		region, accts, _ := strings.Cut(it, ":")
		for a := range strings.SplitSeq(accts, ",") {
			out = append(out, fleet.Target{Account: a, Region: region})
		}
	}
	return out
}

// wvRegion builds n targets of region with accounts 101, 102, ...
func wvRegion(region string, n int) string {
	accts := make([]string, n)
	for i := range n {
		accts[i] = fmt.Sprint(101 + i)
	}
	return region + ":" + strings.Join(accts, ",")
}

// wvShow renders waves as "region:acct,acct" items, one per wave.
func wvShow(waves [][]fleet.Target) []string {
	var out []string
	for _, w := range waves {
		accts := make([]string, len(w))
		for i, t := range w {
			accts[i] = t.Account
			if t.Region != w[0].Region {
				accts[i] += "@" + t.Region // makes a wave spanning regions visible in diffs
			}
		}
		out = append(out, w[0].Region+":"+strings.Join(accts, ","))
	}
	return out
}

// wvSizes renders waves as "region×n" items.
func wvSizes(waves [][]fleet.Target) []string {
	var out []string
	for _, w := range waves {
		out = append(out, fmt.Sprintf("%s×%d", w[0].Region, len(w)))
	}
	return out
}

func TestGenerateWavesMembers(t *testing.T) {
	mixed := wvTargets("us-east-1:300,100,200", "eu-west-1:20,10", "ap-south-1:5")
	tests := []struct {
		name    string
		targets []fleet.Target
		policy  pipeline.WavePolicy
		want    []string
	}{
		{"empty input has no waves", nil, pipeline.WavePolicy{OneBox: true, Factor: 2}, nil},
		{"one wave per region, alphabetical, accounts sorted", mixed, pipeline.WavePolicy{},
			[]string{"ap-south-1:5", "eu-west-1:10,20", "us-east-1:100,200,300"}},
		{"one-box is the lowest account of the first region", mixed, pipeline.WavePolicy{OneBox: true, RegionOrder: []string{"us-east-1"}},
			[]string{"us-east-1:100", "us-east-1:200,300", "ap-south-1:5", "eu-west-1:10,20"}},
		{"first region before region order", mixed, pipeline.WavePolicy{FirstRegion: "eu-west-1", RegionOrder: []string{"us-east-1", "eu-west-1"}},
			[]string{"eu-west-1:10,20", "us-east-1:100,200,300", "ap-south-1:5"}},
		{"first region without targets: the order goes on", mixed, pipeline.WavePolicy{OneBox: true, FirstRegion: "sa-east-1", RegionOrder: []string{"eu-west-1"}},
			[]string{"eu-west-1:10", "eu-west-1:20", "ap-south-1:5", "us-east-1:100,200,300"}},
		{"duplicates are deduplicated", wvTargets("us-east-1:2,1,2,1", "eu-west-1:1", "us-east-1:1"), pipeline.WavePolicy{Size: 5},
			[]string{"eu-west-1:1", "us-east-1:1,2"}},
		{"a single target with one-box and growth is one wave", wvTargets("us-east-1:1"), pipeline.WavePolicy{OneBox: true, Factor: 2, Initial: 3},
			[]string{"us-east-1:1"}},
		{"one-box of a region with one target, growth starts in the next region", wvTargets("eu-west-1:1", "us-east-1:1,2,3,4"), pipeline.WavePolicy{OneBox: true, Factor: 2},
			[]string{"eu-west-1:1", "us-east-1:1", "us-east-1:2,3", "us-east-1:4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pipeline.GenerateWaves(tt.targets, tt.policy)
			if diff := cmp.Diff(tt.want, wvShow(got)); diff != "" {
				t.Errorf("GenerateWaves(%v, %+v) (-want +got):\n%s", tt.targets, tt.policy, diff)
			}
			if len(tt.want) == 0 && got != nil {
				t.Errorf("GenerateWaves = %#v, want nil", got)
			}
		})
	}
}

func TestGenerateWavesSizes(t *testing.T) {
	ten := wvRegion("us-east-1", 10)
	tests := []struct {
		name    string
		targets []string
		policy  pipeline.WavePolicy
		want    []string
	}{
		{"factor 2 doubles, capped by what is left in the region", []string{ten}, pipeline.WavePolicy{Factor: 2},
			[]string{"us-east-1×1", "us-east-1×2", "us-east-1×4", "us-east-1×3"}},
		{"one-box then factor 2", []string{ten}, pipeline.WavePolicy{OneBox: true, Factor: 2},
			[]string{"us-east-1×1", "us-east-1×1", "us-east-1×2", "us-east-1×4", "us-east-1×2"}},
		{"growth continues across regions", []string{wvRegion("a", 2), wvRegion("b", 20), wvRegion("c", 40)}, pipeline.WavePolicy{Factor: 2},
			// nominal 1, 2 | 4, 8, 16 | 32, 64
			[]string{"a×1", "a×1", "b×4", "b×8", "b×8", "c×32", "c×8"}},
		{"factor 1.5 from initial 2 rounds up", []string{wvRegion("a", 30)}, pipeline.WavePolicy{Factor: 1.5, Initial: 2},
			// 2, 3, 4.5→5, 7.5→8, 12
			[]string{"a×2", "a×3", "a×5", "a×8", "a×12"}},
		{"factor 1.1: 50 × 1.1 is 55, not 56", []string{wvRegion("a", 200)}, pipeline.WavePolicy{Factor: 1.1, Initial: 50},
			// 50, 55 (55.00000000000001 in floating point), 60.5→61, 67.1→68 (capped to 34 left)
			[]string{"a×50", "a×55", "a×61", "a×34"}},
		{"factor 1 keeps the initial size", []string{wvRegion("a", 7)}, pipeline.WavePolicy{Factor: 1, Initial: 3},
			[]string{"a×3", "a×3", "a×1"}},
		{"fixed size, last wave of each region smaller", []string{wvRegion("a", 5), wvRegion("b", 3)}, pipeline.WavePolicy{Size: 2},
			[]string{"a×2", "a×2", "a×1", "b×2", "b×1"}},
		{"fixed size with initial", []string{wvRegion("a", 8)}, pipeline.WavePolicy{OneBox: true, Size: 3, Initial: 1},
			[]string{"a×1", "a×1", "a×3", "a×3"}},
		{"fewer targets than the wave size", []string{wvRegion("a", 3), wvRegion("b", 1)}, pipeline.WavePolicy{Size: 10},
			[]string{"a×3", "b×1"}},
		{"fewer targets than the initial size", []string{wvRegion("a", 3)}, pipeline.WavePolicy{Factor: 2, Initial: 50},
			[]string{"a×3"}},
		{"one-box then the rest of each region", []string{wvRegion("a", 4), wvRegion("b", 5)}, pipeline.WavePolicy{OneBox: true},
			[]string{"a×1", "a×3", "b×5"}},
		{"huge factor does not overflow", []string{wvRegion("a", 3), wvRegion("b", 3)}, pipeline.WavePolicy{Factor: 1e300},
			[]string{"a×1", "a×2", "b×3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pipeline.GenerateWaves(wvTargets(tt.targets...), tt.policy)
			if diff := cmp.Diff(tt.want, wvSizes(got)); diff != "" {
				t.Errorf("GenerateWaves(%+v) (-want +got):\n%s", tt.policy, diff)
			}
		})
	}
}

// TestGenerateWavesInvariants checks, on random fleets and policies (valid or not), that the waves
// partition the distinct targets in order, each wave non-empty and inside one region.
func TestGenerateWavesInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "ap-south-1", "sa-east-1"}
	for i := range 500 {
		var targets []fleet.Target
		for range rng.IntN(40) {
			targets = append(targets, fleet.Target{Account: fmt.Sprint(rng.IntN(15)), Region: regions[rng.IntN(len(regions))]})
		}
		p := pipeline.WavePolicy{
			OneBox:      rng.IntN(2) == 0,
			FirstRegion: regions[rng.IntN(len(regions))],
			RegionOrder: []string{regions[rng.IntN(len(regions))], regions[rng.IntN(len(regions))]},
			Initial:     rng.IntN(5) - 1,
		}
		switch rng.IntN(4) {
		case 0:
			p.Factor = 0.5 + rng.Float64()*3
		case 1:
			p.Size = rng.IntN(6) - 1
		case 2:
			p.Factor, p.Size = 2, 3
		}
		waves := pipeline.GenerateWaves(targets, p)
		if p.OneBox && len(waves) > 0 && len(waves[0]) != 1 {
			t.Fatalf("case %d %+v: one-box wave has %d targets", i, p, len(waves[0]))
		}

		var flat []fleet.Target
		for wi, w := range waves {
			if len(w) == 0 {
				t.Fatalf("case %d %+v: wave %d is empty", i, p, wi)
			}
			for _, tg := range w {
				if tg.Region != w[0].Region {
					t.Fatalf("case %d %+v: wave %d spans %s and %s", i, p, wi, w[0].Region, tg.Region)
				}
			}
			flat = append(flat, w...)
		}
		want := slices.Clone(targets)
		slices.SortFunc(want, func(a, b fleet.Target) int { return strings.Compare(a.String(), b.String()) })
		want = slices.Compact(want)
		got := slices.Clone(flat)
		slices.SortFunc(got, func(a, b fleet.Target) int { return strings.Compare(a.String(), b.String()) })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("case %d %+v: waves are not a partition of the targets (-want +got):\n%s", i, p, diff)
		}
		// Regions appear as contiguous runs: a region once left is never revisited.
		var seen []string
		for _, tg := range flat {
			if len(seen) == 0 || seen[len(seen)-1] != tg.Region {
				if slices.Contains(seen, tg.Region) {
					t.Fatalf("case %d %+v: region %s comes back after %v", i, p, tg.Region, seen)
				}
				seen = append(seen, tg.Region)
			}
		}
		if len(seen) > 0 && slices.ContainsFunc(targets, func(tg fleet.Target) bool { return tg.Region == p.FirstRegion }) && seen[0] != p.FirstRegion {
			t.Fatalf("case %d %+v: first region is %s", i, p, seen[0])
		}
	}
}

func TestWavePolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy pipeline.WavePolicy
		want   []string // substrings of the error; none means valid
	}{
		{"zero value", pipeline.WavePolicy{}, nil},
		{"factor", pipeline.WavePolicy{OneBox: true, Factor: 2, Initial: 2, RegionOrder: []string{"us-east-1", "eu-west-1"}}, nil},
		{"factor 1", pipeline.WavePolicy{Factor: 1}, nil},
		{"size", pipeline.WavePolicy{Size: 3, Initial: 1}, nil},
		{"first region also in the order", pipeline.WavePolicy{FirstRegion: "eu-west-1", RegionOrder: []string{"us-east-1", "eu-west-1"}}, nil},
		{"factor below 1", pipeline.WavePolicy{Factor: 0.5}, []string{"factor 0.5 is below 1"}},
		{"negative factor", pipeline.WavePolicy{Factor: -2}, []string{"factor -2 is below 1"}},
		{"factor not a number", pipeline.WavePolicy{Factor: math.NaN()}, []string{"not a number"}},
		{"negative size", pipeline.WavePolicy{Size: -1}, []string{"wave size -1 is negative"}},
		{"both", pipeline.WavePolicy{Factor: 2, Size: 3}, []string{"not both"}},
		{"negative initial", pipeline.WavePolicy{Factor: 2, Initial: -1}, []string{"initial wave size -1 is negative"}},
		{"initial alone", pipeline.WavePolicy{Initial: 2}, []string{"initial wave size 2 needs"}},
		{"region order", pipeline.WavePolicy{RegionOrder: []string{"us-east-1", "", "us-east-1"}}, []string{"empty region name", "lists us-east-1 twice"}},
		{"every problem at once", pipeline.WavePolicy{Factor: 0.5, Size: -1}, []string{"below 1", "negative", "not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func BenchmarkGenerateWaves(b *testing.B) {
	var targets []fleet.Target
	for r := range 20 {
		for a := range 500 {
			targets = append(targets, fleet.Target{Account: fmt.Sprintf("%012d", a*7919%1000), Region: fmt.Sprintf("region-%02d", r)})
		}
	}
	p := pipeline.WavePolicy{OneBox: true, Factor: 2, RegionOrder: []string{"region-07", "region-03"}}
	for b.Loop() {
		pipeline.GenerateWaves(targets, p)
	}
}
