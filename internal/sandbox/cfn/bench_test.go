package cfn_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

// benchTemplate has five resources, two with side effects.
const benchTemplate = `
Parameters:
  Env: {Type: String}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Queue:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /bench/${Env}
      Type: String
      Value: !GetAtt Queue.Arn
  Logs:
    Type: AWS::Logs::LogGroup
Outputs:
  Queue:
    Value: !Ref Queue
  Bucket:
    Value: !GetAtt Bucket.Arn
`

// createMany creates n stacks from benchTemplate with up to 64 requests in flight, then waits
// for all of them to complete (Close waits for operations).
func createMany(tb testing.TB, e *cfn.Engine, n int) {
	var next atomic.Int64
	done := make(chan struct{})
	for range 64 {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := "s" + strconv.Itoa(i)
				_, err := e.Handle(context.Background(), acct, &awsproto.Request{Action: "CreateStack", Region: region, Params: awsproto.Object{
					"StackName": name, "TemplateBody": benchTemplate,
					"Parameters": []any{awsproto.Object{"ParameterKey": "Env", "ParameterValue": name}},
				}})
				if err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	for range 64 {
		<-done
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkCreateStack measures CreateStack through CREATE_COMPLETE of a five-resource stack,
// driving Handle directly. ns/op is the synchronous CreateStack call (the operations run
// concurrently in the engine's goroutines, as under a server's load); stacks/s also counts
// waiting for every stack to reach CREATE_COMPLETE.
func BenchmarkCreateStack(b *testing.B) {
	e, err := cfn.New(cfn.Options{Effects: newFakeEffects()})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		name := "s" + strconv.Itoa(n)
		n++
		_, err := e.Handle(context.Background(), acct, &awsproto.Request{Action: "CreateStack", Region: region, Params: awsproto.Object{
			"StackName": name, "TemplateBody": benchTemplate,
			"Parameters": []any{awsproto.Object{"ParameterKey": "Env", "ParameterValue": name}},
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "stacks/s")
	out, err := e.Handle(context.Background(), acct, &awsproto.Request{Action: "DescribeStacks", Region: region, Params: awsproto.Object{"StackName": "s0"}})
	if err != nil {
		b.Fatal(err)
	}
	if st := out["Stacks"].([]any)[0].(awsproto.Object)["StackStatus"]; st != "CREATE_COMPLETE" {
		b.Fatalf("status %v", st)
	}
}
