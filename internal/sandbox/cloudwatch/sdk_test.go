package cloudwatch_test

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cloudwatch"
)

// sdkClient serves s on an httptest server, for account acct, and returns an aws-sdk-go-v2
// client (which speaks RPC v2 CBOR) talking to it.
func sdkClient(t *testing.T, s *cloudwatch.Store) *awscw.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := awsproto.Decode(r)
		var out awsproto.Object
		if err == nil {
			out, err = s.Handle(r.Context(), acct, req)
		}
		awsproto.Encode(w, req, out, err)
	}))
	t.Cleanup(srv.Close)
	return awscw.NewFromConfig(aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

func TestSDKRoundTrip(t *testing.T) {
	s, c := newStore()
	cw := sdkClient(t, s)
	ctx := t.Context()
	dims := []cwtypes.Dimension{{Name: aws.String("Service"), Value: aws.String("api")}}

	for _, name := range []string{"api-latency", "api-latency-p90"} {
		in := &awscw.PutMetricAlarmInput{
			AlarmName: aws.String(name), Namespace: aws.String("App"), MetricName: aws.String("Latency"),
			Dimensions: dims, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(2), DatapointsToAlarm: aws.Int32(1),
			Threshold: aws.Float64(0.5), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
			Unit: cwtypes.StandardUnitSeconds, AlarmActions: []string{"arn:aws:sns:us-east-1:111111111111:ops"},
		}
		if name == "api-latency" {
			in.Statistic = cwtypes.StatisticAverage
		} else {
			in.ExtendedStatistic = aws.String("p90")
		}
		if _, err := cw.PutMetricAlarm(ctx, in); err != nil {
			t.Fatalf("PutMetricAlarm %s: %v", name, err)
		}
	}
	if _, err := cw.PutMetricData(ctx, &awscw.PutMetricDataInput{
		Namespace: aws.String("App"),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("Latency"), Dimensions: dims, Unit: cwtypes.StandardUnitSeconds,
			Timestamp: aws.Time(t0), Values: []float64{0.1, 0.2, 3}, Counts: []float64{5, 4, 1},
		}},
	}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	c.advance(10 * time.Second)

	var alarms []cwtypes.MetricAlarm
	pg := awscw.NewDescribeAlarmsPaginator(cw, &awscw.DescribeAlarmsInput{AlarmNamePrefix: aws.String("api-"), MaxRecords: aws.Int32(1)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeAlarms: %v", err)
		}
		alarms = append(alarms, out.MetricAlarms...)
	}
	type summary struct {
		Name, ARN   string
		State       cwtypes.StateValue
		Updated     time.Time
		Threshold   float64
		Periods     int32
		Dimension   string
		Actions     []string
		ExtendedSet bool
	}
	var got []summary
	for _, a := range alarms {
		got = append(got, summary{
			aws.ToString(a.AlarmName), aws.ToString(a.AlarmArn), a.StateValue, aws.ToTime(a.StateUpdatedTimestamp),
			aws.ToFloat64(a.Threshold), aws.ToInt32(a.EvaluationPeriods), aws.ToString(a.Dimensions[0].Value), a.AlarmActions,
			a.ExtendedStatistic != nil,
		})
	}
	// The average (0.1*5 + 0.2*4 + 3)/10 = 0.43 does not breach 0.5; the 90th percentile (0.2) neither.
	want := []summary{
		{"api-latency", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:api-latency", cwtypes.StateValueOk, t0, 0.5, 2, "api", []string{"arn:aws:sns:us-east-1:111111111111:ops"}, false},
		{"api-latency-p90", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:api-latency-p90", cwtypes.StateValueOk, t0, 0.5, 2, "api", []string{"arn:aws:sns:us-east-1:111111111111:ops"}, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeAlarms (-want +got):\n%s", diff)
	}

	stats, err := cw.GetMetricStatistics(ctx, &awscw.GetMetricStatisticsInput{
		Namespace: aws.String("App"), MetricName: aws.String("Latency"), Dimensions: dims,
		StartTime: aws.Time(t0.Add(-time.Minute)), EndTime: aws.Time(t0.Add(time.Minute)), Period: aws.Int32(120),
		Statistics: []cwtypes.Statistic{cwtypes.StatisticMaximum, cwtypes.StatisticSampleCount},
	})
	if err != nil {
		t.Fatalf("GetMetricStatistics: %v", err)
	}
	if len(stats.Datapoints) != 1 || aws.ToFloat64(stats.Datapoints[0].Maximum) != 3 ||
		aws.ToFloat64(stats.Datapoints[0].SampleCount) != 10 || stats.Datapoints[0].Unit != cwtypes.StandardUnitSeconds {
		t.Errorf("GetMetricStatistics = %+v", stats.Datapoints)
	}

	if _, err := cw.SetAlarmState(ctx, &awscw.SetAlarmStateInput{
		AlarmName: aws.String("api-latency"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("drill"),
	}); err != nil {
		t.Fatalf("SetAlarmState: %v", err)
	}
	byState, err := cw.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{StateValue: cwtypes.StateValueAlarm})
	if err != nil || len(byState.MetricAlarms) != 1 || aws.ToString(byState.MetricAlarms[0].StateReason) != "drill" {
		t.Errorf("DescribeAlarms(ALARM) = %v, %v", byState, err)
	}

	// Errors arrive typed, with the query error code.
	_, err = cw.SetAlarmState(ctx, &awscw.SetAlarmStateInput{
		AlarmName: aws.String("nope"), StateValue: cwtypes.StateValueOk, StateReason: aws.String("r"),
	})
	var notFound *cwtypes.ResourceNotFound
	if !errors.As(err, &notFound) {
		t.Errorf("SetAlarmState(nope): %v, want ResourceNotFound", err)
	}
	_, err = cw.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("AWS/EC2"),
		MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("m"), Value: aws.Float64(1)}}})
	var invalid *cwtypes.InvalidParameterValueException
	var api smithy.APIError
	if !errors.As(err, &invalid) || !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("PutMetricData(AWS/EC2): %v, want InvalidParameterValue", err)
	}

	if _, err := cw.DeleteAlarms(ctx, &awscw.DeleteAlarmsInput{AlarmNames: []string{"api-latency", "api-latency-p90"}}); err != nil {
		t.Fatalf("DeleteAlarms: %v", err)
	}
	metrics, err := cw.ListMetrics(ctx, &awscw.ListMetricsInput{Namespace: aws.String("App")})
	if err != nil || len(metrics.Metrics) != 1 || aws.ToString(metrics.Metrics[0].MetricName) != "Latency" {
		t.Errorf("ListMetrics = %v, %v", metrics, err)
	}
}

// queryCall posts an awsQuery form as the AWS CLI does and returns the XML response.
func queryCall(t *testing.T, s *cloudwatch.Store, form url.Values) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20250301/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=abc")
	req, err := awsproto.Decode(r)
	var out awsproto.Object
	if err == nil {
		out, err = s.Handle(r.Context(), acct, req)
	}
	w := httptest.NewRecorder()
	awsproto.Encode(w, req, out, err)
	return w.Code, w.Body.String()
}

func TestQueryWireRoundTrip(t *testing.T) {
	s, _ := newStore()
	form := func(kv ...string) url.Values {
		v := url.Values{"Version": {"2010-08-01"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	steps := []url.Values{
		form("Action", "PutMetricAlarm", "AlarmName", "q", "Namespace", "App", "MetricName", "Lat", "Statistic", "Sum",
			"Period", "60", "EvaluationPeriods", "1", "Threshold", "10", "ComparisonOperator", "GreaterThanThreshold",
			"Dimensions.member.1.Name", "S", "Dimensions.member.1.Value", "api", "OKActions.member.1", "arn:aws:sns:us-east-1:111111111111:ok"),
		form("Action", "PutMetricData", "Namespace", "App",
			"MetricData.member.1.MetricName", "Lat", "MetricData.member.1.Dimensions.member.1.Name", "S",
			"MetricData.member.1.Dimensions.member.1.Value", "api", "MetricData.member.1.Values.member.1", "4",
			"MetricData.member.1.Values.member.2", "1", "MetricData.member.1.Counts.member.1", "2", "MetricData.member.1.Counts.member.2", "3",
			"MetricData.member.2.MetricName", "Lat", "MetricData.member.2.Dimensions.member.1.Name", "S",
			"MetricData.member.2.Dimensions.member.1.Value", "api", "MetricData.member.2.StatisticValues.SampleCount", "1",
			"MetricData.member.2.StatisticValues.Sum", "0.5", "MetricData.member.2.StatisticValues.Minimum", "0.5",
			"MetricData.member.2.StatisticValues.Maximum", "0.5", "MetricData.member.2.Timestamp", t0.Format(time.RFC3339)),
	}
	for _, f := range steps {
		if code, body := queryCall(t, s, f); code != http.StatusOK {
			t.Fatalf("%s: %d %s", f.Get("Action"), code, body)
		}
	}
	code, body := queryCall(t, s, form("Action", "DescribeAlarms", "AlarmNames.member.1", "q"))
	if code != http.StatusOK {
		t.Fatalf("DescribeAlarms: %d %s", code, body)
	}
	var resp struct {
		Alarms []struct {
			Name      string   `xml:"AlarmName"`
			State     string   `xml:"StateValue"`
			OKActions []string `xml:"OKActions>member"`
			DimName   string   `xml:"Dimensions>member>Name"`
			Threshold float64  `xml:"Threshold"`
		} `xml:"DescribeAlarmsResult>MetricAlarms>member"`
	}
	if err := xml.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("DescribeAlarms XML: %v\n%s", err, body)
	}
	// Sum of the period: 4*2 + 1*3 + 0.5 = 11.5 > 10.
	want := []any{"q", "ALARM", []string{"arn:aws:sns:us-east-1:111111111111:ok"}, "S", 10.0}
	if len(resp.Alarms) != 1 {
		t.Fatalf("DescribeAlarms returned %d alarms:\n%s", len(resp.Alarms), body)
	}
	a := resp.Alarms[0]
	if diff := cmp.Diff(want, []any{a.Name, a.State, a.OKActions, a.DimName, a.Threshold}); diff != "" {
		t.Errorf("DescribeAlarms (-want +got):\n%s", diff)
	}

	code, body = queryCall(t, s, form("Action", "SetAlarmState", "AlarmName", "none", "StateValue", "OK", "StateReason", "r"))
	if code != http.StatusBadRequest || !strings.Contains(body, "<Code>ResourceNotFound</Code>") {
		t.Errorf("SetAlarmState(none): %d %s", code, body)
	}
}
