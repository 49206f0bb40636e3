package cloudwatch_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

func TestPutMetricDataValidation(t *testing.T) {
	tests := []struct {
		name   string
		params awsproto.Object
		want   string
	}{
		{"no namespace", awsproto.Object{"MetricData": []any{datum("m", 1, t0)}},
			"ValidationError: 1 validation error detected: Value null at 'namespace' failed to satisfy constraint: Member must not be null"},
		{"AWS namespace", awsproto.Object{"Namespace": "AWS/EC2", "MetricData": []any{datum("m", 1, t0)}},
			"InvalidParameterValue: The value AWS/EC2 for parameter Namespace is invalid."},
		{"no data", awsproto.Object{"Namespace": "App"},
			"ValidationError: 1 validation error detected: Value null at 'metricData' failed to satisfy constraint: Member must not be null"},
		{"no metric name", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"Value": "1"}}},
			"MissingParameter: The parameter MetricData.member.1.MetricName is required."},
		{"NaN", awsproto.Object{"Namespace": "App", "MetricData": []any{datum("m", 1, t0), awsproto.Object{"MetricName": "m", "Value": "NaN"}}},
			"InvalidParameterValue: The value NaN for parameter MetricData.member.2.Value is invalid."},
		{"CBOR infinity", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"MetricName": "m", "Value": math.Inf(1)}}},
			"InvalidParameterValue: The value +Inf for parameter MetricData.member.1.Value is invalid."},
		{"value and values", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"MetricName": "m", "Value": "1", "Values": []any{"1"}}}},
			"InvalidParameterValue: The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually exclusive and you have specified both."},
		{"counts size", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"MetricName": "m", "Values": []any{"1", "2"}, "Counts": []any{"1"}}}},
			"InvalidParameterValue: The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size."},
		{"incomplete statistic set", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"MetricName": "m",
			"StatisticValues": awsproto.Object{"SampleCount": "1", "Sum": "1", "Minimum": "1"}}}},
			"MissingParameter: The parameter MetricData.member.1.StatisticValues.Maximum is required."},
		{"nothing to store", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"MetricName": "m"}}},
			"InvalidParameterCombination: At least one of the parameters MetricData.member.1.Value, MetricData.member.1.Values or MetricData.member.1.StatisticValues must be specified."},
		{"bad unit", awsproto.Object{"Namespace": "App", "MetricData": []any{datum("m", 1, t0, "Unit", "Parsecs")}},
			"ValidationError: 1 validation error detected: Value 'Parsecs' at 'metricData.member.1.Unit' failed to satisfy constraint: Member must satisfy enum value set: [Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes, Bits, Kilobits, Megabits, Gigabits, Terabits, Percent, Count, Bytes/Second, Kilobytes/Second, Megabytes/Second, Gigabytes/Second, Terabytes/Second, Bits/Second, Kilobits/Second, Megabits/Second, Gigabits/Second, Terabits/Second, Count/Second, None]"},
		{"too old", awsproto.Object{"Namespace": "App", "MetricData": []any{datum("m", 1, t0.Add(-15*24*time.Hour))}},
			"InvalidParameterValue: The parameter MetricData.member.1.Timestamp must specify a time within the past two weeks."},
		{"too far ahead", awsproto.Object{"Namespace": "App", "MetricData": []any{datum("m", 1, t0.Add(3*time.Hour))}},
			"InvalidParameterValue: The parameter MetricData.member.1.Timestamp must specify a time no more than two hours in the future."},
		{"bad timestamp", awsproto.Object{"Namespace": "App", "MetricData": []any{awsproto.Object{"MetricName": "m", "Value": "1", "Timestamp": "yesterday"}}},
			"InvalidParameterValue: Value 'yesterday' for parameter Timestamp is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore()
			_, err := query(s, "PutMetricData", tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if out := must(t)(query(s, "ListMetrics", awsproto.Object{})); len(out["Metrics"].([]any)) != 0 {
				t.Errorf("a rejected PutMetricData stored metrics: %v", out)
			}
		})
	}
}

func TestGetMetricStatistics(t *testing.T) {
	s, _ := newStore()
	dims := []any{awsproto.Object{"Name": "Service", "Value": "api"}}
	putData(t, s,
		datum("Latency", 1, t0.Add(-5*time.Minute), "Dimensions", dims, "Unit", "Seconds"),
		datum("Latency", 3, t0.Add(-4*time.Minute-30*time.Second), "Dimensions", dims, "Unit", "Seconds"),
		awsproto.Object{"MetricName": "Latency", "Dimensions": dims, "Unit": "Seconds", "Timestamp": t0.Add(-2 * time.Minute).Format(time.RFC3339),
			"StatisticValues": awsproto.Object{"SampleCount": "2", "Sum": "20", "Minimum": "4", "Maximum": "16"}},
		datum("Latency", 100, t0.Add(-2*time.Minute)), // no dimensions: another metric
	)
	tests := []struct {
		name   string
		proto  awsproto.Protocol
		params awsproto.Object
		want   awsproto.Object
	}{
		{"query, two buckets", awsproto.Query, awsproto.Object{
			"Namespace": "App", "MetricName": "Latency", "Dimensions": dims, "Period": "120",
			"StartTime": t0.Add(-6 * time.Minute).Format(time.RFC3339), "EndTime": t0.Format(time.RFC3339),
			"Statistics": []any{"Average", "Sum", "SampleCount", "Minimum", "Maximum"},
		}, awsproto.Object{"Label": "Latency", "Datapoints": []any{
			awsproto.Object{"Timestamp": t0.Add(-6 * time.Minute), "Unit": "Seconds", "Average": 2.0, "Sum": 4.0, "SampleCount": 2.0, "Minimum": 1.0, "Maximum": 3.0},
			awsproto.Object{"Timestamp": t0.Add(-2 * time.Minute), "Unit": "Seconds", "Average": 10.0, "Sum": 20.0, "SampleCount": 2.0, "Minimum": 4.0, "Maximum": 16.0},
		}}},
		{"cbor, percentile", awsproto.RPCv2CBOR, awsproto.Object{
			"Namespace": "App", "MetricName": "Latency", "Dimensions": dims, "Period": int64(600),
			"StartTime": t0.Add(-10 * time.Minute), "EndTime": t0, "ExtendedStatistics": []any{"p50"},
		}, awsproto.Object{"Label": "Latency", "Datapoints": []any{
			awsproto.Object{"Timestamp": t0.Add(-10 * time.Minute), "Unit": "Seconds", "ExtendedStatistics": awsproto.Object{"p50": 1.0}},
		}}},
		{"unit filter", awsproto.Query, awsproto.Object{
			"Namespace": "App", "MetricName": "Latency", "Dimensions": dims, "Period": "600", "Unit": "Bytes",
			"StartTime": t0.Add(-10 * time.Minute).Format(time.RFC3339), "EndTime": t0.Format(time.RFC3339), "Statistics": []any{"Sum"},
		}, awsproto.Object{"Label": "Latency", "Datapoints": []any{}}},
		{"no dimensions is another metric", awsproto.Query, awsproto.Object{
			"Namespace": "App", "MetricName": "Latency", "Period": "600",
			"StartTime": t0.Add(-10 * time.Minute).Format(time.RFC3339), "EndTime": t0.Format(time.RFC3339), "Statistics": []any{"Sum"},
		}, awsproto.Object{"Label": "Latency", "Datapoints": []any{
			awsproto.Object{"Timestamp": t0.Add(-10 * time.Minute), "Unit": "None", "Sum": 100.0},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := must(t)(do(s, acct, region, tt.proto, "GetMetricStatistics", tt.params))
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	base := func(kv ...any) awsproto.Object {
		p := awsproto.Object{"Namespace": "App", "MetricName": "Latency", "Period": "60", "Statistics": []any{"Sum"},
			"StartTime": t0.Add(-time.Hour).Format(time.RFC3339), "EndTime": t0.Format(time.RFC3339)}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
			} else {
				p[kv[i].(string)] = kv[i+1]
			}
		}
		return p
	}
	errs := []struct {
		name   string
		params awsproto.Object
		want   string
	}{
		{"no statistics", base("Statistics", nil), "InvalidParameterCombination: Must specify either Statistics or ExtendedStatistics"},
		{"too many datapoints", base("Period", "1", "StartTime", t0.Add(-time.Hour).Format(time.RFC3339)),
			"InvalidParameterCombination: You have requested up to 3,600 datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."},
		{"huge range", base("Period", "86400", "StartTime", "0001-01-01T00:00:00Z", "EndTime", "9999-01-01T00:00:00Z"),
			"InvalidParameterCombination: You have requested up to 3,651,694 datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."},
		{"reversed times", base("StartTime", t0.Format(time.RFC3339), "EndTime", t0.Add(-time.Hour).Format(time.RFC3339)),
			"InvalidParameterValue: The parameter StartTime must be less than the parameter EndTime."},
		{"no start", base("StartTime", nil),
			"ValidationError: 1 validation error detected: Value null at 'startTime' failed to satisfy constraint: Member must not be null"},
		{"bad statistic", base("Statistics", []any{"Median"}),
			"ValidationError: 1 validation error detected: Value '[Median]' at 'statistics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [Maximum, SampleCount, Sum, Minimum, Average]]"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := query(s, "GetMetricStatistics", tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListMetrics(t *testing.T) {
	s, c := newStore()
	dim := func(kv ...string) []any {
		var out []any
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, awsproto.Object{"Name": kv[i], "Value": kv[i+1]})
		}
		return out
	}
	putData(t, s,
		datum("Latency", 1, t0, "Dimensions", dim("Service", "api")),
		datum("Latency", 1, t0, "Dimensions", dim("Service", "web")),
		datum("Errors", 1, t0, "Dimensions", dim("Service", "api", "Host", "h1")),
		datum("Errors", 1, t0.Add(-4*time.Hour)),
	)
	must(t)(query(s, "PutMetricData", awsproto.Object{"Namespace": "Other", "MetricData": []any{datum("Latency", 1, t0)}}))
	c.advance(time.Minute)
	metric := func(ns, name string, dims []any) awsproto.Object {
		if dims == nil {
			dims = []any{}
		}
		return awsproto.Object{"Namespace": ns, "MetricName": name, "Dimensions": dims}
	}
	tests := []struct {
		name   string
		params awsproto.Object
		want   []any
	}{
		{"namespace", awsproto.Object{"Namespace": "App"}, []any{
			metric("App", "Errors", nil),
			metric("App", "Errors", dim("Host", "h1", "Service", "api")),
			metric("App", "Latency", dim("Service", "api")),
			metric("App", "Latency", dim("Service", "web")),
		}},
		{"name", awsproto.Object{"MetricName": "Latency"}, []any{
			metric("App", "Latency", dim("Service", "api")),
			metric("App", "Latency", dim("Service", "web")),
			metric("Other", "Latency", nil),
		}},
		{"dimension value", awsproto.Object{"Dimensions": dim("Service", "api")}, []any{
			metric("App", "Errors", dim("Host", "h1", "Service", "api")),
			metric("App", "Latency", dim("Service", "api")),
		}},
		{"dimension name only", awsproto.Object{"Dimensions": []any{awsproto.Object{"Name": "Host"}}}, []any{
			metric("App", "Errors", dim("Host", "h1", "Service", "api")),
		}},
		{"recently active", awsproto.Object{"Namespace": "App", "MetricName": "Errors", "RecentlyActive": "PT3H"}, []any{
			metric("App", "Errors", dim("Host", "h1", "Service", "api")),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := must(t)(query(s, "ListMetrics", tt.params))
			if diff := cmp.Diff(awsproto.Object{"Metrics": tt.want}, out); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListMetricsPaging(t *testing.T) {
	s, _ := newStore()
	var data []any
	for i := range 600 {
		data = append(data, datum(fmt.Sprintf("m%03d", i), 1, t0))
	}
	putData(t, s, data...)
	var got []string
	params := awsproto.Object{}
	for pages := 1; ; pages++ {
		out := must(t)(cbor(s, "ListMetrics", params))
		for _, m := range out["Metrics"].([]any) {
			got = append(got, m.(awsproto.Object)["MetricName"].(string))
		}
		tok, ok := out["NextToken"]
		if !ok {
			if pages != 2 {
				t.Errorf("%d pages, want 2", pages)
			}
			break
		}
		params["NextToken"] = tok
	}
	if len(got) != 600 || got[0] != "m000" || got[599] != "m599" {
		t.Errorf("paged %d metrics from %v to %v", len(got), got[0], got[len(got)-1])
	}
}

func TestDescribeAlarmsForMetric(t *testing.T) {
	s, _ := newStore()
	api := []any{awsproto.Object{"Name": "Service", "Value": "api"}}
	must(t)(query(s, "PutMetricAlarm", alarmParams("avg-api", "Dimensions", api)))
	must(t)(query(s, "PutMetricAlarm", alarmParams("max-api", "Dimensions", api, "Statistic", "Maximum")))
	must(t)(query(s, "PutMetricAlarm", alarmParams("avg-all")))
	must(t)(query(s, "PutMetricAlarm", alarmParams("errors", "MetricName", "Errors")))
	names := func(out awsproto.Object) []string {
		var got []string
		for _, a := range out["MetricAlarms"].([]any) {
			got = append(got, a.(awsproto.Object)["AlarmName"].(string))
		}
		return got
	}
	tests := []struct {
		name   string
		params awsproto.Object
		want   []string
	}{
		{"by metric", awsproto.Object{"Namespace": "App", "MetricName": "Latency"}, []string{"avg-all", "avg-api", "max-api"}},
		{"by dimensions", awsproto.Object{"Namespace": "App", "MetricName": "Latency", "Dimensions": api}, []string{"avg-api", "max-api"}},
		{"no dimensions", awsproto.Object{"Namespace": "App", "MetricName": "Latency", "Dimensions": ""}, []string{"avg-all"}},
		{"by statistic", awsproto.Object{"Namespace": "App", "MetricName": "Latency", "Statistic": "Maximum"}, []string{"max-api"}},
		{"by period", awsproto.Object{"Namespace": "App", "MetricName": "Latency", "Period": "300"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(must(t)(query(s, "DescribeAlarmsForMetric", tt.params)))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzPutMetricData(f *testing.F) {
	f.Add("1.5", "2025-03-01T12:00:00Z", "Seconds", "3")
	f.Add("NaN", "1740830400", "", "")
	f.Add("-1e308", "2025-03-01", "Count/Second", "0")
	f.Add("", "not a time", "Bogus", "-1")
	f.Add("1e300", "2025-03-01T12:00:00Z", "", "1e300")
	f.Fuzz(func(t *testing.T, value, ts, unit, count string) {
		s, _ := newStore()
		must(t)(query(s, "PutMetricAlarm", alarmParams("a", "Statistic", nil, "ExtendedStatistic", "p50")))
		d := awsproto.Object{"MetricName": "Latency", "Values": []any{value}, "Timestamp": ts, "Unit": unit}
		if count != "" {
			d["Counts"] = []any{count}
		}
		_, err := query(s, "PutMetricData", awsproto.Object{"Namespace": "App", "MetricData": []any{d}})
		if err != nil && err.Code == "" {
			t.Fatalf("error without a code: %v", err)
		}
		if st := state(t, s, "a"); st != "OK" && st != "ALARM" && st != "INSUFFICIENT_DATA" {
			t.Fatalf("state %q", st)
		}
		must(t)(query(s, "GetMetricStatistics", awsproto.Object{"Namespace": "App", "MetricName": "Latency", "Period": "60",
			"StartTime": t0.Add(-time.Hour).Format(time.RFC3339), "EndTime": t0.Add(time.Hour).Format(time.RFC3339),
			"Statistics": []any{"Average"}}))
		if _, err := s.Snapshot(); err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
	})
}
