package cloudwatch_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

func TestMetricEvaluation(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	service := []any{awsproto.Object{"Name": "Service", "Value": "api"}}
	tests := []struct {
		name       string
		alarm      []any // alarmParams overrides
		data       []any // MetricData members
		advance    time.Duration
		want       string
		wantReason string
	}{
		{name: "above threshold", data: []any{datum("Latency", 20, at(0))}, want: "ALARM",
			wantReason: "Threshold Crossed: 1 datapoint [20.0 (01/03/25 11:59:00)] was greater than the threshold (10.0)."},
		{name: "below threshold", data: []any{datum("Latency", 5, at(0))}, want: "OK",
			wantReason: "Threshold Crossed: 1 datapoint [5.0 (01/03/25 11:59:00)] was not greater than the threshold (10.0)."},
		{name: "equal is not greater", data: []any{datum("Latency", 10, at(0))}, want: "OK"},
		{name: "equal is greater or equal", alarm: []any{"ComparisonOperator", "GreaterThanOrEqualToThreshold"},
			data: []any{datum("Latency", 10, at(0))}, want: "ALARM"},
		{name: "less than", alarm: []any{"ComparisonOperator", "LessThanThreshold"}, data: []any{datum("Latency", 5, at(0))}, want: "ALARM",
			wantReason: "Threshold Crossed: 1 datapoint [5.0 (01/03/25 11:59:00)] was less than the threshold (10.0)."},
		{name: "average of the period", data: []any{datum("Latency", 5, at(-10*time.Second)), datum("Latency", 25, at(-20*time.Second))}, want: "ALARM"},
		{name: "minimum of the period", alarm: []any{"Statistic", "Minimum"},
			data: []any{datum("Latency", 5, at(-10*time.Second)), datum("Latency", 25, at(-20*time.Second))}, want: "OK"},
		{name: "sum", alarm: []any{"Statistic", "Sum"}, data: []any{datum("Latency", 6, at(0)), datum("Latency", 6, at(0))}, want: "ALARM"},
		{name: "sample count of values and counts", alarm: []any{"Statistic", "SampleCount"},
			data: []any{awsproto.Object{"MetricName": "Latency", "Values": []any{"1", "2"}, "Counts": []any{"5", "6"}}}, want: "ALARM"},
		{name: "statistic set", data: []any{awsproto.Object{"MetricName": "Latency", "StatisticValues": awsproto.Object{
			"SampleCount": "4", "Sum": "100", "Minimum": "1", "Maximum": "50"}}}, want: "ALARM"},
		{name: "p90", alarm: []any{"Statistic", nil, "ExtendedStatistic", "p90", "Threshold", "8.5"},
			data: []any{awsproto.Object{"MetricName": "Latency", "Values": []any{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}}}, want: "ALARM"},
		{name: "p50", alarm: []any{"Statistic", nil, "ExtendedStatistic", "p50", "Threshold", "8.5"},
			data: []any{awsproto.Object{"MetricName": "Latency", "Values": []any{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}}}, want: "OK"},
		{name: "percentile of statistic sets only is missing", alarm: []any{"Statistic", nil, "ExtendedStatistic", "p50"},
			data: []any{awsproto.Object{"MetricName": "Latency", "StatisticValues": awsproto.Object{
				"SampleCount": "1", "Sum": "50", "Minimum": "50", "Maximum": "50"}}}, want: "INSUFFICIENT_DATA"},
		{name: "no data, missing", want: "INSUFFICIENT_DATA", wantReason: "Unchecked: Initial alarm creation"},
		{name: "no data, breaching", alarm: []any{"TreatMissingData", "breaching"}, want: "ALARM",
			wantReason: "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [Breaching]."},
		{name: "no data, not breaching", alarm: []any{"TreatMissingData", "notBreaching", "EvaluationPeriods", "2"}, want: "OK",
			wantReason: "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [NonBreaching]."},
		{name: "no data, ignore", alarm: []any{"TreatMissingData", "ignore"}, want: "INSUFFICIENT_DATA"},
		{name: "2 of 3 breaching", alarm: []any{"EvaluationPeriods", "3", "DatapointsToAlarm", "2"},
			data: []any{datum("Latency", 25, at(-10*time.Second)), datum("Latency", 5, at(-70*time.Second)), datum("Latency", 25, at(-130*time.Second))},
			want: "ALARM",
			wantReason: "Threshold Crossed: 2 out of the last 3 datapoints [25.0 (01/03/25 11:59:00), 25.0 (01/03/25 11:57:00)] were greater than the threshold (10.0) " +
				"(minimum 2 datapoints for OK -> ALARM transition)."},
		{name: "1 of 3 breaching", alarm: []any{"EvaluationPeriods", "3", "DatapointsToAlarm", "2"},
			data: []any{datum("Latency", 25, at(-10*time.Second)), datum("Latency", 5, at(-70*time.Second)), datum("Latency", 5, at(-130*time.Second))},
			want: "OK",
			wantReason: "Threshold Crossed: 2 out of the last 3 datapoints [5.0 (01/03/25 11:58:00), 5.0 (01/03/25 11:57:00)] were not greater than the threshold (10.0) " +
				"(minimum 2 datapoints for ALARM -> OK transition)."},
		{name: "3 of 3 with a missing period", alarm: []any{"EvaluationPeriods", "3"},
			data: []any{datum("Latency", 25, at(0)), datum("Latency", 25, at(-130*time.Second))}, want: "OK"},
		{name: "3 of 3 with a missing period treated as breaching", alarm: []any{"EvaluationPeriods", "3", "TreatMissingData", "breaching"},
			data: []any{datum("Latency", 25, at(0)), datum("Latency", 25, at(-130*time.Second))}, want: "ALARM"},
		{name: "datapoint outside the window", data: []any{datum("Latency", 20, at(-61*time.Second))}, want: "INSUFFICIENT_DATA"},
		{name: "exactly one period back", data: []any{datum("Latency", 20, at(-60*time.Second))}, want: "INSUFFICIENT_DATA"},
		{name: "dimensions must match exactly", alarm: []any{"Dimensions", service},
			data: []any{datum("Latency", 20, at(0), "Dimensions", []any{awsproto.Object{"Name": "Service", "Value": "api"}, awsproto.Object{"Name": "Host", "Value": "h1"}})},
			want: "INSUFFICIENT_DATA"},
		{name: "matching dimensions", alarm: []any{"Dimensions", service}, data: []any{datum("Latency", 20, at(0), "Dimensions", service)}, want: "ALARM"},
		{name: "other unit ignored", alarm: []any{"Unit", "Seconds"}, data: []any{datum("Latency", 20, at(0), "Unit", "Milliseconds")}, want: "INSUFFICIENT_DATA"},
		{name: "same unit", alarm: []any{"Unit", "Seconds"}, data: []any{datum("Latency", 20, at(0), "Unit", "Seconds")}, want: "ALARM"},
		{name: "future datapoint not yet due", data: []any{datum("Latency", 20, at(30*time.Second))}, want: "INSUFFICIENT_DATA"},
		{name: "future datapoint once due", data: []any{datum("Latency", 20, at(30*time.Second))}, advance: 30 * time.Second, want: "ALARM"},
		{name: "longer period", alarm: []any{"Period", "300"}, data: []any{datum("Latency", 20, at(-299*time.Second))}, want: "ALARM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newStore()
			must(t)(query(s, "PutMetricAlarm", alarmParams("a", tt.alarm...)))
			if len(tt.data) > 0 {
				putData(t, s, tt.data...)
			}
			c.advance(tt.advance)
			d := describe(t, s, "a")
			if d["StateValue"] != tt.want {
				t.Errorf("state = %v (%v), want %s", d["StateValue"], d["StateReason"], tt.want)
			}
			if tt.wantReason != "" {
				if diff := cmp.Diff(tt.wantReason, d["StateReason"]); diff != "" {
					t.Errorf("reason (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// The "exactly one period back" case above puts a datapoint exactly one period back: windows are
// (now-P, now], so it belongs to the previous period. This test pins the other edge.
func TestWindowIncludesNow(t *testing.T) {
	s, _ := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("a", "EvaluationPeriods", "2", "DatapointsToAlarm", "1")))
	putData(t, s, datum("Latency", 20, t0.Add(-60*time.Second)))
	if got := state(t, s, "a"); got != "ALARM" {
		t.Errorf("datapoint at now-P with 2 periods: %s, want ALARM", got)
	}
}

func TestStateTransitionsOverTime(t *testing.T) {
	s, c := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("a")))
	must(t)(query(s, "PutMetricAlarm", alarmParams("ignoring", "TreatMissingData", "ignore")))
	putData(t, s, datum("Latency", 20, t0))
	c.advance(30 * time.Second)
	d := describe(t, s, "a")
	if d["StateValue"] != "ALARM" || d["StateUpdatedTimestamp"] != t0 || d["StateTransitionedTimestamp"] != t0 {
		t.Errorf("after breaching data: %v at %v", d["StateValue"], d["StateUpdatedTimestamp"])
	}
	if d["StateReasonData"] == nil {
		t.Error("no StateReasonData after an evaluation")
	}
	c.advance(31 * time.Second) // the datapoint leaves the 60 s window
	d = describe(t, s, "a")
	if d["StateValue"] != "INSUFFICIENT_DATA" || d["StateUpdatedTimestamp"] != t0.Add(61*time.Second) ||
		d["StateReason"] != "Insufficient Data: 1 datapoint was unknown." {
		t.Errorf("after the data expired: %v %q at %v", d["StateValue"], d["StateReason"], d["StateUpdatedTimestamp"])
	}
	if got := state(t, s, "ignoring"); got != "ALARM" {
		t.Errorf("TreatMissingData ignore after the data expired: %s, want ALARM kept", got)
	}
}

func TestSetAlarmStateHoldsUntilNewData(t *testing.T) {
	s, c := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("a")))

	// Without data, a set state survives evaluations and time.
	if err := s.SetAlarmState(acct, region, "a", "ALARM", "drill"); err != nil {
		t.Fatal(err)
	}
	c.advance(10 * time.Minute)
	if d := describe(t, s, "a"); d["StateValue"] != "ALARM" || d["StateReason"] != "drill" {
		t.Errorf("set state without data: %v %v", d["StateValue"], d["StateReason"])
	}

	// Data that was already there does not undo the set state; new data does.
	putData(t, s, datum("Latency", 20, c.now()))
	if got := state(t, s, "a"); got != "ALARM" {
		t.Fatalf("breaching data: %s", got)
	}
	if err := s.SetAlarmState(acct, region, "a", "OK", "silenced"); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	if got := state(t, s, "a"); got != "OK" {
		t.Errorf("set OK over breaching data: %s, want OK until new data", got)
	}
	putData(t, s, datum("Latency", 30, c.now()))
	if got := state(t, s, "a"); got != "ALARM" {
		t.Errorf("after new breaching data: %s, want ALARM", got)
	}

	// New data on another metric does not release the set state.
	if err := s.SetAlarmState(acct, region, "a", "INSUFFICIENT_DATA", "reset"); err != nil {
		t.Fatal(err)
	}
	putData(t, s, datum("Other", 30, c.now()))
	if got := state(t, s, "a"); got != "INSUFFICIENT_DATA" {
		t.Errorf("after data on another metric: %s, want INSUFFICIENT_DATA", got)
	}
}

func TestRetention(t *testing.T) {
	s, c := newStore()
	putData(t, s, datum("Latency", 1, t0))
	c.advance(23 * time.Hour)
	if out := must(t)(query(s, "ListMetrics", awsproto.Object{})); len(out["Metrics"].([]any)) != 1 {
		t.Fatalf("metric gone before 24 h: %v", out)
	}
	c.advance(2 * time.Hour)
	if out := must(t)(query(s, "ListMetrics", awsproto.Object{})); len(out["Metrics"].([]any)) != 0 {
		t.Errorf("metric kept after 25 h: %v", out)
	}

	// An alarm with a longer window keeps data long enough to evaluate it.
	s, c = newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("daily", "Period", "86400", "EvaluationPeriods", "2", "DatapointsToAlarm", "1")))
	putData(t, s, datum("Latency", 50, t0))
	c.advance(30 * time.Hour)
	if got := state(t, s, "daily"); got != "ALARM" {
		t.Errorf("2-day alarm 30 h after breaching data: %s, want ALARM", got)
	}
}
