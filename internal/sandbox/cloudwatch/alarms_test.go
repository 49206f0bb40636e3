package cloudwatch_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cloudwatch"
)

func TestPutMetricAlarmBothProtocols(t *testing.T) {
	want := awsproto.Object{
		"AlarmName":                          "api-latency",
		"AlarmArn":                           "arn:aws:cloudwatch:us-east-1:111111111111:alarm:api-latency",
		"AlarmDescription":                   "p50 too slow",
		"AlarmConfigurationUpdatedTimestamp": t0,
		"ActionsEnabled":                     true,
		"OKActions":                          []any{},
		"AlarmActions":                       []any{"arn:aws:sns:us-east-1:111111111111:ops"},
		"InsufficientDataActions":            []any{},
		"StateValue":                         "INSUFFICIENT_DATA",
		"StateReason":                        "Unchecked: Initial alarm creation",
		"StateUpdatedTimestamp":              t0,
		"StateTransitionedTimestamp":         t0,
		"MetricName":                         "Latency",
		"Namespace":                          "App",
		"Statistic":                          "Average",
		"Dimensions":                         []any{awsproto.Object{"Name": "Env", "Value": "prod"}, awsproto.Object{"Name": "Service", "Value": "api"}},
		"Period":                             int64(300),
		"EvaluationPeriods":                  int64(3),
		"DatapointsToAlarm":                  int64(2),
		"Threshold":                          2.5,
		"ComparisonOperator":                 "GreaterThanOrEqualToThreshold",
		"TreatMissingData":                   "missing",
		"Unit":                               "Seconds",
	}
	tests := []struct {
		name   string
		proto  awsproto.Protocol
		params awsproto.Object
	}{
		{"query", awsproto.Query, awsproto.Object{
			"AlarmName": "api-latency", "AlarmDescription": "p50 too slow", "Namespace": "App", "MetricName": "Latency",
			"Statistic": "Average", "Period": "300", "EvaluationPeriods": "3", "DatapointsToAlarm": "2", "Threshold": "2.5",
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing", "Unit": "Seconds",
			"Dimensions": []any{
				awsproto.Object{"Name": "Service", "Value": "api"}, awsproto.Object{"Name": "Env", "Value": "prod"},
			},
			"AlarmActions": []any{"arn:aws:sns:us-east-1:111111111111:ops"}, "OKActions": "",
		}},
		{"cbor", awsproto.RPCv2CBOR, awsproto.Object{
			"AlarmName": "api-latency", "AlarmDescription": "p50 too slow", "Namespace": "App", "MetricName": "Latency",
			"Statistic": "Average", "Period": int64(300), "EvaluationPeriods": int64(3), "DatapointsToAlarm": int64(2),
			"Threshold": 2.5, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
			"Unit": "Seconds", "ActionsEnabled": true,
			"Dimensions": []any{
				awsproto.Object{"Name": "Service", "Value": "api"}, awsproto.Object{"Name": "Env", "Value": "prod"},
			},
			"AlarmActions": []any{"arn:aws:sns:us-east-1:111111111111:ops"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore()
			if out := must(t)(do(s, acct, region, tt.proto, "PutMetricAlarm", tt.params)); len(out) != 0 {
				t.Errorf("PutMetricAlarm output = %v, want empty", out)
			}
			out := must(t)(do(s, acct, region, tt.proto, "DescribeAlarms", awsproto.Object{}))
			if diff := cmp.Diff(awsproto.Object{"MetricAlarms": []any{want}, "CompositeAlarms": []any{}}, out); diff != "" {
				t.Errorf("DescribeAlarms (-want +got):\n%s", diff)
			}
			a, ok := s.Alarm(acct, region, "api-latency")
			if !ok || a.ARN != want["AlarmArn"] || a.Dimensions["Env"] != "prod" || !a.ActionsEnabled {
				t.Errorf("Alarm() = %+v, %v", a, ok)
			}
		})
	}
}

func TestPutMetricAlarmValidation(t *testing.T) {
	tests := []struct {
		name   string
		params awsproto.Object
		want   string
	}{
		{"no name", alarmParams("", "AlarmName", nil),
			"ValidationError: 1 validation error detected: Value null at 'alarmName' failed to satisfy constraint: Member must not be null"},
		{"no evaluation periods", alarmParams("a", "EvaluationPeriods", nil),
			"ValidationError: 1 validation error detected: Value null at 'evaluationPeriods' failed to satisfy constraint: Member must not be null"},
		{"zero evaluation periods", alarmParams("a", "EvaluationPeriods", "0"),
			"ValidationError: 1 validation error detected: Value '0' at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"datapoints above periods", alarmParams("a", "DatapointsToAlarm", "2"),
			"ValidationError: DatapointsToAlarm must be less than or equal to EvaluationPeriods"},
		{"no metric name", alarmParams("a", "MetricName", nil), "ValidationError: MetricName must not be null"},
		{"bad operator", alarmParams("a", "ComparisonOperator", "Bigger"),
			"ValidationError: 1 validation error detected: Value 'Bigger' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold, GreaterThanUpperThreshold, GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold]"},
		{"bad statistic", alarmParams("a", "Statistic", "Median"),
			"ValidationError: 1 validation error detected: Value 'Median' at 'statistic' failed to satisfy constraint: Member must satisfy enum value set: [Maximum, SampleCount, Sum, Minimum, Average]"},
		{"bad percentile", alarmParams("a", "Statistic", nil, "ExtendedStatistic", "p101"),
			"InvalidParameterValue: The value p101 for parameter ExtendedStatistic is not supported."},
		{"both statistics", alarmParams("a", "ExtendedStatistic", "p99"),
			"InvalidParameterCombination: Statistic and ExtendedStatistic cannot both be specified."},
		{"period 45", alarmParams("a", "Period", "45"), "ValidationError: The parameter Period must be 10, 20, 30 or a multiple of 60."},
		{"window over a day", alarmParams("a", "Period", "60", "EvaluationPeriods", "1441"),
			"ValidationError: Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)"},
		{"bad treat missing", alarmParams("a", "TreatMissingData", "zero"),
			"ValidationError: Supported values for TreatMissingData are breaching, notBreaching, ignore, and missing."},
		{"bad number", alarmParams("a", "Threshold", "ten"), "InvalidParameterValue: Value 'ten' for parameter Threshold is invalid."},
		{"no threshold", alarmParams("a", "Threshold", nil), "ValidationError: Threshold must not be null"},
		{"bad action", alarmParams("a", "AlarmActions", []any{"sns-topic"}), "ValidationError: Invalid arn syntax: sns-topic"},
		{"metric math", alarmParams("a", "Metrics", []any{awsproto.Object{"Id": "m1"}}),
			"ValidationError: Metric math alarms (Metrics) are not supported by the stackfleet sandbox."},
		{"empty dimension", alarmParams("a", "Dimensions", []any{awsproto.Object{"Name": "X"}}),
			`InvalidParameterValue: The dimension name and value must not be empty (dimension "X"="").`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore()
			_, err := query(s, "PutMetricAlarm", tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if _, ok := s.Alarm(acct, region, fmt.Sprint(tt.params["AlarmName"])); ok {
				t.Error("the rejected alarm was stored")
			}
		})
	}
}

func TestDescribeAlarmsFilters(t *testing.T) {
	s, _ := newStore()
	for _, n := range []string{"web-1", "web-2", "db-1"} {
		must(t)(query(s, "PutMetricAlarm", alarmParams(n, "AlarmActions", []any{"arn:aws:sns:us-east-1:111111111111:" + n[:2]})))
	}
	must(t)(query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "web-any", "AlarmRule": `ALARM("web-1") OR ALARM("web-2")`}))
	if err := s.SetAlarmState(acct, region, "db-1", "ALARM", "testing"); err != nil {
		t.Fatal(err)
	}
	names := func(out awsproto.Object) []string {
		var got []string
		for _, k := range []string{"MetricAlarms", "CompositeAlarms"} {
			for _, a := range out[k].([]any) {
				got = append(got, a.(awsproto.Object)["AlarmName"].(string))
			}
		}
		return got
	}
	tests := []struct {
		name   string
		params awsproto.Object
		want   []string
	}{
		{"default: metric alarms only", awsproto.Object{}, []string{"db-1", "web-1", "web-2"}},
		{"both types", awsproto.Object{"AlarmTypes": []any{"CompositeAlarm", "MetricAlarm"}}, []string{"db-1", "web-1", "web-2", "web-any"}},
		{"composite only", awsproto.Object{"AlarmTypes": []any{"CompositeAlarm"}}, []string{"web-any"}},
		{"names", awsproto.Object{"AlarmNames": []any{"web-2", "nope", "db-1"}}, []string{"db-1", "web-2"}},
		{"prefix", awsproto.Object{"AlarmNamePrefix": "web", "AlarmTypes": []any{"CompositeAlarm", "MetricAlarm"}}, []string{"web-1", "web-2", "web-any"}},
		{"state", awsproto.Object{"StateValue": "ALARM"}, []string{"db-1"}},
		{"action prefix", awsproto.Object{"ActionPrefix": "arn:aws:sns:us-east-1:111111111111:we"}, []string{"web-1", "web-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(must(t)(query(s, "DescribeAlarms", tt.params)))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// Paging across metric and composite alarms, one record per page.
	var got []string
	params := awsproto.Object{"MaxRecords": "1", "AlarmTypes": []any{"MetricAlarm", "CompositeAlarm"}}
	for pages := 0; ; pages++ {
		out := must(t)(query(s, "DescribeAlarms", params))
		got = append(got, names(out)...)
		tok, ok := out["NextToken"]
		if !ok {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		params["NextToken"] = tok
	}
	if diff := cmp.Diff([]string{"db-1", "web-1", "web-2", "web-any"}, got); diff != "" {
		t.Errorf("paged (-want +got):\n%s", diff)
	}

	errs := []struct {
		name   string
		params awsproto.Object
		want   string
	}{
		{"max records", awsproto.Object{"MaxRecords": int64(101)},
			"ValidationError: 1 validation error detected: Value '101' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100"},
		{"bad state", awsproto.Object{"StateValue": "RED"},
			"ValidationError: 1 validation error detected: Value 'RED' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"},
		{"bad token", awsproto.Object{"NextToken": "garbage!"},
			"InvalidNextToken: The service returned an error with Error Code InvalidNextToken."},
		{"names and prefix", awsproto.Object{"AlarmNames": []any{"a"}, "AlarmNamePrefix": "a"},
			"InvalidParameterCombination: AlarmNamePrefix and AlarmNames cannot be specified together."},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := query(s, "DescribeAlarms", tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetAlarmStateAndDelete(t *testing.T) {
	s, c := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("a")))
	must(t)(query(s, "PutMetricAlarm", alarmParams("b")))
	c.advance(time.Minute)
	must(t)(cbor(s, "SetAlarmState", awsproto.Object{"AlarmName": "a", "StateValue": "ALARM", "StateReason": "drill", "StateReasonData": `{"x":1}`}))
	d := describe(t, s, "a")
	got := []any{d["StateValue"], d["StateReason"], d["StateReasonData"], d["StateUpdatedTimestamp"], d["StateTransitionedTimestamp"]}
	if diff := cmp.Diff([]any{"ALARM", "drill", `{"x":1}`, t0.Add(time.Minute), t0.Add(time.Minute)}, got); diff != "" {
		t.Errorf("after SetAlarmState (-want +got):\n%s", diff)
	}

	errs := []struct {
		name   string
		action string
		params awsproto.Object
		want   string
	}{
		{"missing alarm", "SetAlarmState", awsproto.Object{"AlarmName": "zz", "StateValue": "OK", "StateReason": "r"},
			"ResourceNotFound: The alarm zz does not exist."},
		{"bad state", "SetAlarmState", awsproto.Object{"AlarmName": "a", "StateValue": "GREEN", "StateReason": "r"},
			"ValidationError: 1 validation error detected: Value 'GREEN' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"},
		{"no reason", "SetAlarmState", awsproto.Object{"AlarmName": "a", "StateValue": "OK"},
			"ValidationError: 1 validation error detected: Value null at 'stateReason' failed to satisfy constraint: Member must not be null"},
		{"bad reason data", "SetAlarmState", awsproto.Object{"AlarmName": "a", "StateValue": "OK", "StateReason": "r", "StateReasonData": "{"},
			"InvalidFormat: StateReasonData must be valid JSON of at most 4000 characters."},
		{"delete missing", "DeleteAlarms", awsproto.Object{"AlarmNames": []any{"a", "zz"}},
			"ResourceNotFound: The alarm zz does not exist."},
		{"unknown action", "GetDashboard", awsproto.Object{},
			"InvalidAction: Could not find operation GetDashboard for version 2010-08-01"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := query(s, tt.action, tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := s.Alarm(acct, region, "a"); !ok {
		t.Fatal("a failed DeleteAlarms deleted an alarm")
	}
	must(t)(query(s, "DeleteAlarms", awsproto.Object{"AlarmNames": []any{"a", "b"}}))
	if out := must(t)(query(s, "DescribeAlarms", awsproto.Object{})); len(out["MetricAlarms"].([]any)) != 0 {
		t.Errorf("alarms left after DeleteAlarms: %v", out["MetricAlarms"])
	}
	if s.DeleteAlarm(acct, region, "a") {
		t.Error("DeleteAlarm of a deleted alarm reported true")
	}
	var ae *awsproto.Error
	if err := s.SetAlarmState(acct, region, "a", "OK", "r"); !errors.As(err, &ae) || ae.Code != "ResourceNotFound" {
		t.Errorf("Go SetAlarmState on a deleted alarm: %v", err)
	}
}

func TestUpdateKeepsState(t *testing.T) {
	s, c := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("a")))
	if err := s.SetAlarmState(acct, region, "a", "ALARM", "manual"); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	must(t)(query(s, "PutMetricAlarm", alarmParams("a", "Threshold", "20", "ActionsEnabled", "false")))
	d := describe(t, s, "a")
	got := []any{d["StateValue"], d["Threshold"], d["ActionsEnabled"], d["AlarmConfigurationUpdatedTimestamp"], d["StateUpdatedTimestamp"]}
	if diff := cmp.Diff([]any{"ALARM", 20.0, false, t0.Add(time.Minute), t0}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	must(t)(query(s, "EnableAlarmActions", awsproto.Object{"AlarmNames": []any{"a"}}))
	if d := describe(t, s, "a"); d["ActionsEnabled"] != true {
		t.Error("EnableAlarmActions did not enable actions")
	}
}

func TestGoPutAlarm(t *testing.T) {
	s, _ := newStore()
	a := cloudwatch.Alarm{
		Name: "cfn-alarm", Namespace: "AWS/EC2", MetricName: "CPUUtilization", Statistic: "Maximum",
		ComparisonOperator: "GreaterThanThreshold", Threshold: 80, Period: 300, EvaluationPeriods: 2,
		Dimensions: map[string]string{"InstanceId": "i-1"}, ActionsEnabled: true,
		State: "ALARM", ARN: "ignored",
	}
	if err := s.PutAlarm(acct, region, a); err != nil {
		t.Fatal(err)
	}
	a.Dimensions["InstanceId"] = "mutated after the call"
	got, ok := s.Alarm(acct, region, "cfn-alarm")
	if !ok {
		t.Fatal("alarm not stored")
	}
	want := a
	want.Dimensions = map[string]string{"InstanceId": "i-1"}
	want.ARN = "arn:aws:cloudwatch:us-east-1:111111111111:alarm:cfn-alarm"
	want.State, want.StateReason = "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation"
	want.StateUpdated, want.StateTransitioned, want.ConfigurationUpdated = t0, t0, t0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	a.Period = 45
	var ae *awsproto.Error
	if err := s.PutAlarm(acct, region, a); !errors.As(err, &ae) || ae.Code != "ValidationError" {
		t.Errorf("PutAlarm with Period 45: %v, want ValidationError", err)
	}
	if err := s.PutAlarm(acct, region, cloudwatch.Alarm{Name: "c", AlarmRule: `ALARM(missing)`}); !errors.As(err, &ae) ||
		ae.Message != "Could not save the composite alarm as alarms [missing] in the alarm rule do not exist" {
		t.Errorf("composite with a missing child: %v", err)
	}
}

func TestAccountsAndRegionsAreIndependent(t *testing.T) {
	s, _ := newStore()
	for _, sc := range []struct{ account, region string }{{acct, "us-east-1"}, {acct, "eu-west-1"}, {other, "us-east-1"}} {
		must(t)(do(s, sc.account, sc.region, awsproto.Query, "PutMetricAlarm", alarmParams("shared")))
	}
	must(t)(do(s, acct, "us-east-1", awsproto.Query, "PutMetricData", awsproto.Object{"Namespace": "App", "MetricData": []any{datum("Latency", 99, t0)}}))
	for _, sc := range []struct{ account, region, want string }{
		{acct, "us-east-1", "ALARM"}, {acct, "eu-west-1", "INSUFFICIENT_DATA"}, {other, "us-east-1", "INSUFFICIENT_DATA"},
	} {
		a, ok := s.Alarm(sc.account, sc.region, "shared")
		if !ok || a.State != sc.want || a.ARN != "arn:aws:cloudwatch:"+sc.region+":"+sc.account+":alarm:shared" {
			t.Errorf("%s/%s: %v %s %s, want %s", sc.account, sc.region, ok, a.State, a.ARN, sc.want)
		}
	}
	out := must(t)(do(s, other, "us-east-1", awsproto.Query, "ListMetrics", awsproto.Object{}))
	if len(out["Metrics"].([]any)) != 0 {
		t.Errorf("another account sees metrics: %v", out)
	}
	if _, ok := s.Alarm(other, "ap-south-1", "shared"); ok {
		t.Error("alarm found in an unused region")
	}
}

func TestSnapshotRestore(t *testing.T) {
	s, c := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("a", "EvaluationPeriods", "2")))
	must(t)(query(s, "PutMetricAlarm", alarmParams("b", "Dimensions", []any{awsproto.Object{"Name": "D", "Value": "1"}})))
	must(t)(query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "c", "AlarmRule": `ALARM(a) AND NOT ALARM(b)`}))
	putData(t, s, datum("Latency", 50, t0.Add(-time.Minute)), datum("Latency", 1, t0, "Dimensions", []any{awsproto.Object{"Name": "D", "Value": "1"}}))
	if err := s.SetAlarmState(acct, region, "b", "ALARM", "held"); err != nil {
		t.Fatal(err)
	}
	must(t)(do(s, other, "eu-west-1", awsproto.Query, "PutMetricAlarm", alarmParams("x")))
	c.advance(time.Second)

	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := cloudwatch.New(c.now)
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	again, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(data), string(again)); diff != "" {
		t.Errorf("snapshot of the restored store differs (-want +got):\n%s", diff)
	}
	// Both stores behave the same from here: b's manual state holds until new data.
	want := make(map[string]cloudwatch.Alarm)
	for _, name := range []string{"a", "b", "c"} {
		want[name], _ = s.Alarm(acct, region, name)
	}
	if want["b"].State != "ALARM" || want["c"].State != "OK" {
		t.Errorf("before new data: b %s, c %s; want ALARM, OK", want["b"].State, want["c"].State)
	}
	for _, st := range []*cloudwatch.Store{s, r} {
		for _, name := range []string{"a", "b", "c"} {
			got, _ := st.Alarm(acct, region, name)
			if diff := cmp.Diff(want[name], got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
		putData(t, st, datum("Latency", 2, c.now(), "Dimensions", []any{awsproto.Object{"Name": "D", "Value": "1"}}))
		if got := state(t, st, "b"); got != "OK" {
			t.Errorf("b after new data = %s, want OK", got)
		}
	}
	if err := r.Restore([]byte(`{"version":2}`)); err == nil {
		t.Error("Restore accepted an unknown version")
	}
	if err := r.Restore([]byte(`{"version":1,"regions":[{"account":"1","region":"r","alarms":[{"Name":"c","AlarmRule":"ALARM("}]}]}`)); err == nil {
		t.Error("Restore accepted a broken rule")
	}
	if _, ok := r.Alarm(acct, region, "a"); !ok {
		t.Error("a failed Restore changed the store")
	}
}

func TestConcurrentUse(t *testing.T) {
	s, c := newStore()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			account := fmt.Sprintf("%012d", w%2)
			name := fmt.Sprint("alarm-", w%3)
			for i := range 40 {
				if _, err := do(s, account, region, awsproto.Query, "PutMetricAlarm", alarmParams(name)); err != nil {
					t.Error(err)
					return
				}
				if _, err := do(s, account, region, awsproto.Query, "PutMetricData", awsproto.Object{"Namespace": "App",
					"MetricData": []any{datum("Latency", float64(i%20), c.now())}}); err != nil {
					t.Error(err)
					return
				}
				if _, err := do(s, account, region, awsproto.RPCv2CBOR, "DescribeAlarms", awsproto.Object{}); err != nil {
					t.Error(err)
					return
				}
				s.Alarm(account, region, name)
				if i%5 == 0 {
					c.advance(time.Second)
					_ = s.SetAlarmState(account, region, name, "OK", "r")
				}
				if i%13 == 0 {
					if _, err := s.Snapshot(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestCompositeAlarms(t *testing.T) {
	s, c := newStore()
	must(t)(query(s, "PutMetricAlarm", alarmParams("cpu")))
	must(t)(query(s, "PutMetricAlarm", alarmParams("mem", "MetricName", "Memory")))
	must(t)(query(s, "PutCompositeAlarm", awsproto.Object{
		"AlarmName": "both", "AlarmRule": `ALARM("cpu") AND ALARM(arn:aws:cloudwatch:us-east-1:111111111111:alarm:mem)`,
	}))
	must(t)(query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "either", "AlarmRule": `ALARM(cpu) OR (ALARM(mem) AND TRUE)`}))
	must(t)(query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "meta", "AlarmRule": `NOT OK(both)`}))

	states := func() []string {
		return []string{state(t, s, "cpu"), state(t, s, "mem"), state(t, s, "both"), state(t, s, "either"), state(t, s, "meta")}
	}
	if diff := cmp.Diff([]string{"INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "OK", "OK", "OK"}, states()); diff != "" {
		t.Errorf("initial (-want +got):\n%s", diff)
	}
	putData(t, s, datum("Latency", 20, t0))
	if diff := cmp.Diff([]string{"ALARM", "INSUFFICIENT_DATA", "OK", "ALARM", "OK"}, states()); diff != "" {
		t.Errorf("cpu alarming (-want +got):\n%s", diff)
	}
	c.advance(time.Second)
	putData(t, s, datum("Memory", 20, c.now()))
	if diff := cmp.Diff([]string{"ALARM", "ALARM", "ALARM", "ALARM", "ALARM"}, states()); diff != "" {
		t.Errorf("both alarming (-want +got):\n%s", diff)
	}
	d := describe(t, s, "both")
	if d["AlarmRule"] == nil || !strings.Contains(d["StateReason"].(string), "alarm:mem transitioned to ALARM") {
		t.Errorf("composite description %v", d)
	}

	// A composite alarm's set state holds until a child changes state.
	if err := s.SetAlarmState(acct, region, "either", "OK", "silenced"); err != nil {
		t.Fatal(err)
	}
	if got := state(t, s, "either"); got != "OK" {
		t.Errorf("either after SetAlarmState = %s, want OK", got)
	}
	c.advance(2 * time.Minute) // both datapoints leave the window
	if diff := cmp.Diff([]string{"INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "OK", "OK", "OK"}, states()); diff != "" {
		t.Errorf("after the data expired (-want +got):\n%s", diff)
	}

	_, err := query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "bad", "AlarmRule": `ALARM(cpu) AND`})
	if err == nil || err.Code != "ValidationError" || !strings.HasPrefix(err.Message, "Error in alarm rule: ") {
		t.Errorf("broken rule: %v", err)
	}
	_, err = query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "self", "AlarmRule": `ALARM(self)`})
	if err == nil || err.Code != "ValidationError" {
		t.Errorf("self reference: %v", err)
	}
}

func FuzzCompositeRule(f *testing.F) {
	for _, seed := range []string{
		`ALARM(a)`, `ALARM("a") AND NOT OK(b)`, `(ALARM(a) OR INSUFFICIENT_DATA(b)) AND TRUE`, `NOT NOT FALSE`,
		`ALARM(arn:aws:cloudwatch:us-east-1:111111111111:alarm:a)`, `ALARM(`, `((((`, `ALARM("a) OR`, `ANDOR`, "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		s, _ := newStore()
		must(t)(query(s, "PutMetricAlarm", alarmParams("a")))
		must(t)(query(s, "PutMetricAlarm", alarmParams("b")))
		_, err := query(s, "PutCompositeAlarm", awsproto.Object{"AlarmName": "c", "AlarmRule": rule})
		if err != nil {
			if err.Code != "ValidationError" {
				t.Fatalf("rule %q: unexpected error %v", rule, err)
			}
			return
		}
		st := state(t, s, "c")
		if st != "OK" && st != "ALARM" {
			t.Fatalf("rule %q: state %s", rule, st)
		}
	})
}
