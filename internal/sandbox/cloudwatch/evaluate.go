package cloudwatch

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// periodResult is one evaluated period of a metric alarm.
type periodResult struct {
	start   time.Time
	value   float64
	count   float64
	present bool
	breach  bool
}

func compare(op string, v, threshold float64) bool {
	switch op {
	case "GreaterThanOrEqualToThreshold":
		return v >= threshold
	case "GreaterThanThreshold":
		return v > threshold
	case "LessThanThreshold":
		return v < threshold
	case "LessThanOrEqualToThreshold":
		return v <= threshold
	}
	return false
}

func comparisonWords(op string) string {
	switch op {
	case "GreaterThanOrEqualToThreshold":
		return "greater than or equal to"
	case "GreaterThanThreshold":
		return "greater than"
	case "LessThanThreshold":
		return "less than"
	default:
		return "less than or equal to"
	}
}

// evaluate brings every alarm of the region up to date: metric alarms first, then composite
// alarms in dependency order. The caller holds s.mu.
func (s *Store) evaluate(r *region) {
	now := s.clock()
	r.prune(now)
	for _, rec := range r.sortedAlarms() {
		if !rec.composite() {
			s.evaluateMetric(r, rec, now)
		}
	}
	done := make(map[string]bool)
	for _, rec := range r.sortedAlarms() {
		if rec.composite() {
			s.evaluateComposite(r, rec, done, make(map[string]bool))
		}
	}
}

func (s *Store) evaluateMetric(r *region, rec *alarmRec, now time.Time) {
	se := r.series[rec.key]
	period := time.Duration(rec.Period) * time.Second
	stat := cmp.Or(rec.Statistic, rec.ExtendedStatistic)
	results := make([]periodResult, rec.EvaluationPeriods) // [0] is the most recent
	real := 0
	for k := range results {
		end := now.Add(-time.Duration(k) * period)
		res := periodResult{start: end.Add(-period)}
		if se != nil {
			if agg, ok := aggregateOf(se.window(res.start, end, false), rec.Unit); ok {
				if v, ok := agg.stat(stat); ok {
					res.value, res.count, res.present = v, agg.count, true
					res.breach = compare(rec.ComparisonOperator, v, rec.Threshold)
					real++
				}
			}
		}
		results[k] = res
	}
	if rec.Manual {
		if se == nil || se.PutSeq <= rec.ManualSeq || real == 0 {
			return
		}
		rec.Manual = false
	}

	treat := cmp.Or(rec.TreatMissingData, "missing")
	need := int(cmp.Or(rec.DatapointsToAlarm, rec.EvaluationPeriods))
	breaching := 0
	for _, res := range results {
		if (res.present && res.breach) || (!res.present && treat == "breaching") {
			breaching++
		}
	}
	var state string
	switch {
	case breaching >= need:
		state = StateAlarm
	case real == 0 && treat == "missing":
		state = StateInsufficientData
	case real == 0 && treat == "ignore":
		return
	default:
		state = StateOK
	}
	if state == rec.State {
		return
	}
	s.transition(rec, state, metricReason(rec, state, results, real, need), reasonData(rec, stat, now, results))
}

// metricReason words a state change the way CloudWatch does.
func metricReason(rec *alarmRec, state string, results []periodResult, real, need int) string {
	n := len(results)
	if state == StateInsufficientData {
		return fmt.Sprintf("Insufficient Data: %s unknown.", plural(n, "datapoint was", "datapoints were"))
	}
	words := comparisonWords(rec.ComparisonOperator)
	threshold := formatFloat(rec.Threshold)
	if real == 0 {
		as := "NonBreaching"
		if state == StateAlarm {
			as = "Breaching"
		}
		return fmt.Sprintf("Threshold Crossed: no datapoints were received for %s and %s treated as [%s].",
			plural(n, "period", "periods"), plural(n, "missing datapoint was", "missing datapoints were"), as)
	}
	var listed []string
	matching := 0
	for _, res := range results {
		if res.present && res.breach == (state == StateAlarm) {
			matching++
			listed = append(listed, fmt.Sprintf("%s (%s)", formatFloat(res.value), res.start.Format("02/01/06 15:04:05")))
		}
	}
	not := ""
	if state == StateOK {
		not = "not "
	}
	if n == 1 {
		return fmt.Sprintf("Threshold Crossed: 1 datapoint [%s] was %s%s the threshold (%s).", strings.Join(listed, ", "), not, words, threshold)
	}
	transition, minimum := "OK -> ALARM", need
	if state == StateOK {
		transition, minimum = "ALARM -> OK", n-need+1
	}
	return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s %s%s the threshold (%s) (minimum %s for %s transition).",
		matching, n, strings.Join(listed, ", "), wasWere(matching),
		not, words, threshold, plural(minimum, "datapoint", "datapoints"), transition)
}

// reasonData is the StateReasonData JSON of an evaluation.
func reasonData(rec *alarmRec, stat string, now time.Time, results []periodResult) string {
	type evaluated struct {
		Timestamp   string   `json:"timestamp"`
		SampleCount float64  `json:"sampleCount,omitempty"`
		Value       *float64 `json:"value,omitempty"`
	}
	data := struct {
		Version             string      `json:"version"`
		QueryDate           string      `json:"queryDate"`
		StartDate           string      `json:"startDate"`
		Statistic           string      `json:"statistic,omitempty"`
		ExtendedStatistic   string      `json:"extendedStatistic,omitempty"`
		Period              int32       `json:"period"`
		RecentDatapoints    []float64   `json:"recentDatapoints"`
		Threshold           float64     `json:"threshold"`
		EvaluatedDatapoints []evaluated `json:"evaluatedDatapoints"`
	}{
		Version:          stateReasonDataVers,
		QueryDate:        now.Format("2006-01-02T15:04:05.000-0700"),
		StartDate:        results[len(results)-1].start.Format("2006-01-02T15:04:05.000-0700"),
		Period:           rec.Period,
		RecentDatapoints: []float64{},
		Threshold:        rec.Threshold,
	}
	if rec.ExtendedStatistic != "" {
		data.ExtendedStatistic = stat
	} else {
		data.Statistic = stat
	}
	for i := len(results) - 1; i >= 0; i-- {
		if res := results[i]; res.present {
			data.RecentDatapoints = append(data.RecentDatapoints, res.value)
		}
	}
	for _, res := range results {
		e := evaluated{Timestamp: res.start.Format("2006-01-02T15:04:05.000-0700")}
		if res.present {
			e.SampleCount, e.Value = res.count, &res.value
		}
		data.EvaluatedDatapoints = append(data.EvaluatedDatapoints, e)
	}
	b, _ := json.Marshal(data) // plain structs of strings and finite numbers always marshal
	return string(b)
}

// evaluateComposite evaluates rec after the alarms its rule references. path guards against
// rule cycles, which AWS allows: a cycle member is read at its current state.
func (s *Store) evaluateComposite(r *region, rec *alarmRec, done, path map[string]bool) {
	if done[rec.Name] || path[rec.Name] {
		return
	}
	path[rec.Name] = true
	var latest *alarmRec
	for _, name := range rec.rule.refs() {
		child := r.alarms[name]
		if child == nil {
			continue
		}
		if child.composite() {
			s.evaluateComposite(r, child, done, path)
		}
		if latest == nil || child.ChangedSeq > latest.ChangedSeq {
			latest = child
		}
	}
	delete(path, rec.Name)
	done[rec.Name] = true

	if rec.Manual {
		if latest == nil || latest.ChangedSeq <= rec.ManualSeq {
			return
		}
		rec.Manual = false
	}
	state := StateOK
	if rec.rule.eval(func(name string) string {
		if a := r.alarms[name]; a != nil {
			return a.State
		}
		return ""
	}) {
		state = StateAlarm
	}
	if state == rec.State {
		return
	}
	reason := "The alarm rule evaluated to FALSE."
	if state == StateAlarm {
		reason = "The alarm rule evaluated to TRUE."
	}
	if latest != nil {
		reason = fmt.Sprintf("%s transitioned to %s at %s", latest.ARN, latest.State,
			latest.StateTransitioned.Format("Monday 02 January, 2006 15:04:05 MST"))
	}
	s.transition(rec, state, reason, "")
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}
