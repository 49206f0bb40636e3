package cloudwatch

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// dim is one metric dimension.
type dim struct{ Name, Value string }

// series is one metric (namespace, name and exact dimension set) and its datapoints.
type series struct {
	Namespace, MetricName string
	Dims                  []dim   // sorted by name
	Points                []point // sorted by time
	// PutSeq is the store sequence number of the last PutMetricData that wrote here.
	PutSeq uint64
}

// point is one stored datapoint: a single value repeated Count times (Raw, usable for
// percentiles) or a statistic set.
type point struct {
	T                    time.Time
	Sum, Min, Max, Count float64
	Raw                  bool   `json:",omitempty"`
	Unit                 string `json:",omitempty"`
}

func sortedDims(m map[string]string) []dim {
	out := make([]dim, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, dim{k, m[k]})
	}
	return out
}

// seriesKey identifies a metric; dimensions are part of its identity and their order is not.
func seriesKey(namespace, name string, dims map[string]string) string {
	var b strings.Builder
	b.WriteString(namespace)
	b.WriteByte(0)
	b.WriteString(name)
	for _, d := range sortedDims(dims) {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte(1)
		b.WriteString(d.Value)
	}
	return b.String()
}

func (se *series) dimMap() map[string]string {
	m := make(map[string]string, len(se.Dims))
	for _, d := range se.Dims {
		m[d.Name] = d.Value
	}
	return m
}

// add inserts p in time order and enforces the size cap.
func (se *series) add(p point) {
	i, _ := slices.BinarySearchFunc(se.Points, p.T, func(q point, t time.Time) int {
		if q.T.After(t) {
			return 1
		}
		return -1 // insert after equal timestamps, keeping arrival order
	})
	se.Points = slices.Insert(se.Points, i, p)
	if over := len(se.Points) - maxPointsPerSeries; over > 0 {
		se.Points = slices.Delete(se.Points, 0, over)
	}
}

// prune drops datapoints older than cutoff.
func (se *series) prune(cutoff time.Time) {
	i, _ := slices.BinarySearchFunc(se.Points, cutoff, func(q point, t time.Time) int { return q.T.Compare(t) })
	if i > 0 {
		se.Points = slices.Delete(se.Points, 0, i)
	}
}

// window returns the datapoints in (from, to] or, when closedStart, [from, to).
func (se *series) window(from, to time.Time, closedStart bool) []point {
	if closedStart {
		lo, _ := slices.BinarySearchFunc(se.Points, from, func(q point, t time.Time) int { return q.T.Compare(t) })
		hi, _ := slices.BinarySearchFunc(se.Points, to, func(q point, t time.Time) int { return q.T.Compare(t) })
		return se.Points[lo:hi]
	}
	lo, _ := slices.BinarySearchFunc(se.Points, from, func(q point, t time.Time) int {
		if q.T.After(t) {
			return 1
		}
		return -1
	})
	hi, _ := slices.BinarySearchFunc(se.Points, to, func(q point, t time.Time) int {
		if q.T.After(t) {
			return 1
		}
		return -1
	})
	return se.Points[lo:hi]
}

// aggregate is the statistics of a set of datapoints.
type aggregate struct {
	sum, min, max, count float64
	raw                  []point // raw datapoints, for percentiles
	unit                 string
}

func aggregateOf(points []point, unit string) (aggregate, bool) {
	a := aggregate{min: math.Inf(1), max: math.Inf(-1)}
	for _, p := range points {
		if unit != "" && p.Unit != unit {
			continue
		}
		a.sum += p.Sum
		a.min = min(a.min, p.Min)
		a.max = max(a.max, p.Max)
		a.count += p.Count
		a.unit = cmp.Or(a.unit, p.Unit)
		if p.Raw {
			a.raw = append(a.raw, p)
		}
	}
	return a, a.count > 0
}

// stat returns a statistic (or a pNN percentile) of the aggregate. Percentiles are computed by
// nearest rank over raw values only; statistic sets carry no distribution.
func (a aggregate) stat(name string) (float64, bool) {
	switch name {
	case "SampleCount":
		return a.count, true
	case "Sum":
		return a.sum, true
	case "Average":
		return a.sum / a.count, true
	case "Minimum":
		return a.min, true
	case "Maximum":
		return a.max, true
	}
	pct, ok := percentileValue(name)
	if !ok || len(a.raw) == 0 {
		return 0, false
	}
	raw := slices.Clone(a.raw)
	slices.SortFunc(raw, func(x, y point) int { return cmp.Compare(x.Min, y.Min) })
	var total float64
	for _, p := range raw {
		total += p.Count
	}
	rank := math.Max(1, math.Ceil(pct/100*total))
	var seen float64
	for _, p := range raw {
		seen += p.Count
		if seen >= rank {
			return p.Min, true
		}
	}
	return raw[len(raw)-1].Min, true
}

// retention is how far back the region keeps datapoints: the longest alarm window, at least
// minRetention.
func (r *region) retention() time.Duration {
	d := minRetention
	for _, a := range r.alarms {
		if !a.composite() {
			d = max(d, time.Duration(a.Period)*time.Duration(a.EvaluationPeriods)*time.Second)
		}
	}
	return d
}

// prune drops expired datapoints and metrics left without any.
func (r *region) prune(now time.Time) {
	cutoff := now.Add(-r.retention())
	for k, se := range r.series {
		se.prune(cutoff)
		if len(se.Points) == 0 {
			delete(r.series, k)
		}
	}
}
