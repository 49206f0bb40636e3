package cloudwatch_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cloudwatch"
)

const (
	acct   = "111111111111"
	other  = "222222222222"
	region = "us-east-1"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore() (*cloudwatch.Store, *clock) {
	c := &clock{t: t0}
	return cloudwatch.New(c.now), c
}

func do(s *cloudwatch.Store, account, reg string, proto awsproto.Protocol, action string, params awsproto.Object) (awsproto.Object, *awsproto.Error) {
	out, err := s.Handle(context.Background(), account, &awsproto.Request{
		Protocol: proto, Service: "monitoring", Action: action, Region: reg, Params: params,
	})
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			panic(fmt.Sprintf("%s returned a non-API error %T: %v", action, err, err))
		}
		return nil, ae
	}
	return out, nil
}

// query and cbor call Handle as the AWS CLI and the SDK would.
func query(s *cloudwatch.Store, action string, params awsproto.Object) (awsproto.Object, *awsproto.Error) {
	return do(s, acct, region, awsproto.Query, action, params)
}

func cbor(s *cloudwatch.Store, action string, params awsproto.Object) (awsproto.Object, *awsproto.Error) {
	return do(s, acct, region, awsproto.RPCv2CBOR, action, params)
}

func must(t *testing.T) func(awsproto.Object, *awsproto.Error) awsproto.Object {
	t.Helper()
	return func(out awsproto.Object, err *awsproto.Error) awsproto.Object {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return out
	}
}

func errOf(e *awsproto.Error) string {
	if e == nil {
		return "<nil>"
	}
	return e.Code + ": " + e.Message
}

// alarmParams returns query-style PutMetricAlarm parameters, overridden by kv pairs.
func alarmParams(name string, kv ...any) awsproto.Object {
	p := awsproto.Object{
		"AlarmName": name, "Namespace": "App", "MetricName": "Latency", "Statistic": "Average",
		"Period": "60", "EvaluationPeriods": "1", "Threshold": "10", "ComparisonOperator": "GreaterThanThreshold",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(p, kv[i].(string))
			continue
		}
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

// datum returns a query-style MetricData member.
func datum(metric string, value float64, at time.Time, kv ...any) awsproto.Object {
	d := awsproto.Object{"MetricName": metric, "Value": fmt.Sprint(value), "Timestamp": at.Format(time.RFC3339Nano)}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i].(string)] = kv[i+1]
	}
	return d
}

func putData(t *testing.T, s *cloudwatch.Store, data ...any) {
	t.Helper()
	must(t)(query(s, "PutMetricData", awsproto.Object{"Namespace": "App", "MetricData": data}))
}

// describe returns the named alarm's description from DescribeAlarms.
func describe(t *testing.T, s *cloudwatch.Store, name string) awsproto.Object {
	t.Helper()
	out := must(t)(query(s, "DescribeAlarms", awsproto.Object{"AlarmNames": []any{name}, "AlarmTypes": []any{"MetricAlarm", "CompositeAlarm"}}))
	all := append(out["MetricAlarms"].([]any), out["CompositeAlarms"].([]any)...)
	if len(all) != 1 {
		t.Fatalf("DescribeAlarms(%s) returned %d alarms", name, len(all))
	}
	return maps.Clone(all[0].(awsproto.Object))
}

func state(t *testing.T, s *cloudwatch.Store, name string) string {
	t.Helper()
	return describe(t, s, name)["StateValue"].(string)
}
