package cfn_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

const exporter = `
Parameters:
  Name: {Type: String, Default: shared-topic}
Resources:
  T:
    Type: AWS::SNS::Topic
    Properties: {TopicName: !Ref Name}
Outputs:
  Arn:
    Value: !Ref T
    Export: {Name: !Sub "${AWS::StackName}-arn"}
`

const importer = `
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !ImportValue prod-arn
Outputs:
  Imported:
    Value: !GetAtt P.Value
`

func TestExportsAndImports(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("prod", exporter, nil)
		s := h.create("user", importer, nil)
		if got, want := outputs(s)["Imported"], "arn:aws:sns:us-east-1:111111111111:shared-topic"; got != want {
			t.Errorf("imported = %q, want %q", got, want)
		}
		ex := h.must("ListExports", nil)["Exports"].([]any)
		if len(ex) != 1 || ex[0].(awsproto.Object)["Name"] != "prod-arn" {
			t.Errorf("ListExports = %v", ex)
		}
		if diff := cmp.Diff([]any{"user"}, h.must("ListImports", awsproto.Object{"ExportName": "prod-arn"})["Imports"]); diff != "" {
			t.Errorf("ListImports (-want +got):\n%s", diff)
		}
		// Changing an imported export fails the update.
		s = h.update("prod", exporter, awsproto.Object{"Parameters": params("Name", "other")})
		if ev := h.events("prod"); s["StackStatus"] != "UPDATE_ROLLBACK_COMPLETE" || indexOf(ev, "prod UPDATE_ROLLBACK_IN_PROGRESS Cannot update export prod-arn as it is in use by user") < 0 {
			t.Errorf("update of imported export: %v %q", s["StackStatus"], ev)
		}
		// Deleting the exporter fails while the export is imported.
		h.must("DeleteStack", awsproto.Object{"StackName": "prod"})
		s = h.wait("prod")
		if s["StackStatus"] != "DELETE_FAILED" || s["StackStatusReason"] != "Export prod-arn cannot be deleted as it is in use by user" {
			t.Errorf("delete of exporter: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		// Another stack cannot export the same name.
		body := strings.Replace(exporter, `!Sub "${AWS::StackName}-arn"`, "prod-arn", 1)
		s = h.create("dup", body, awsproto.Object{"Parameters": params("Name", "dup-topic")})
		if ev := h.events("dup"); s["StackStatus"] != "ROLLBACK_COMPLETE" || indexOf(ev, "dup ROLLBACK_IN_PROGRESS Export with name prod-arn is already exported by stack prod. Rollback requested by user.") < 0 {
			t.Errorf("duplicate export: %v %q", s["StackStatus"], ev)
		}
		// Once the importer is gone, the exporter can be deleted.
		h.must("DeleteStack", awsproto.Object{"StackName": "user"})
		h.wait(s["StackId"].(string))
		h.must("DeleteStack", awsproto.Object{"StackName": "prod"})
		if _, err := h.call("DescribeStacks", awsproto.Object{"StackName": "prod"}); err == nil {
			synctestWait()
		}
		synctestWait()
		if _, err := h.call("DescribeStacks", awsproto.Object{"StackName": "prod"}); err == nil {
			t.Error("exporter not deleted")
		}
		if ex := h.must("ListExports", nil)["Exports"].([]any); len(ex) != 0 {
			t.Errorf("exports left: %v", ex)
		}
	})
}

func TestDrift(t *testing.T) {
	const body = "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties: {Name: p, Type: String, Value: v1, Description: d}\n  T:\n    Type: AWS::SNS::Topic\n"
	run(t, func(t *testing.T, h *harness) {
		h.create("d", body, nil)
		if err := h.e.Drift(acct, region, "d", "P", map[string]any{"Value": "changed"}); err != nil {
			t.Fatal(err)
		}
		if err := h.e.Drift(acct, region, "d", "Nope", map[string]any{"Value": "x"}); err == nil {
			t.Error("Drift of an unknown resource succeeded")
		}
		id := h.must("DetectStackDrift", awsproto.Object{"StackName": "d"})["StackDriftDetectionId"].(string)
		st := h.must("DescribeStackDriftDetectionStatus", awsproto.Object{"StackDriftDetectionId": id})
		if st["DetectionStatus"] != "DETECTION_COMPLETE" || st["StackDriftStatus"] != "DRIFTED" || st["DriftedStackResourceCount"] != int64(1) {
			t.Errorf("detection status = %v", st)
		}
		drifts := h.must("DescribeStackResourceDrifts", awsproto.Object{"StackName": "d", "StackResourceDriftStatusFilters": []any{"MODIFIED"}})["StackResourceDrifts"].([]any)
		if len(drifts) != 1 {
			t.Fatalf("drifts = %v", drifts)
		}
		d := drifts[0].(awsproto.Object)
		wantDiff := []any{awsproto.Object{"PropertyPath": "/Value", "ExpectedValue": "v1", "ActualValue": "changed", "DifferenceType": "NOT_EQUAL"}}
		if d["LogicalResourceId"] != "P" || d["StackResourceDriftStatus"] != "MODIFIED" || !cmp.Equal(wantDiff, d["PropertyDifferences"]) {
			t.Errorf("drift = %v", d)
		}
		s := h.wait("d")
		if got := s["DriftInformation"].(awsproto.Object)["StackDriftStatus"]; got != "DRIFTED" {
			t.Errorf("stack drift = %v", got)
		}
		// An update that leaves Value alone keeps the drift; one that rewrites it removes it.
		h.update("d", strings.Replace(body, "Description: d", "Description: e", 1), nil)
		h.must("DetectStackDrift", awsproto.Object{"StackName": "d"})
		if got := h.wait("d")["DriftInformation"].(awsproto.Object)["StackDriftStatus"]; got != "DRIFTED" {
			t.Errorf("after unrelated update: %v", got)
		}
		h.update("d", strings.Replace(body, "v1", "v2", 1), nil)
		h.must("DetectStackDrift", awsproto.Object{"StackName": "d"})
		if got := h.wait("d")["DriftInformation"].(awsproto.Object)["StackDriftStatus"]; got != "IN_SYNC" {
			t.Errorf("after rewriting update: %v", got)
		}
	})
}

func TestPaging(t *testing.T) {
	const body = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n"
	run(t, func(t *testing.T, h *harness) {
		const n = 230
		for i := range n {
			h.must("CreateStack", awsproto.Object{"StackName": fmt.Sprintf("s%03d", i), "TemplateBody": body})
		}
		synctestWait()
		h.must("DeleteStack", awsproto.Object{"StackName": "s000"})
		synctestWait()
		collect := func(action, key string, p awsproto.Object) ([]string, int) {
			var names []string
			pages := 0
			for {
				out := h.must(action, p)
				pages++
				for _, s := range out[key].([]any) {
					names = append(names, s.(awsproto.Object)["StackName"].(string))
				}
				tok, ok := out["NextToken"].(string)
				if !ok {
					return names, pages
				}
				p = awsproto.Object{"NextToken": tok, "StackStatusFilter": p["StackStatusFilter"]}
			}
		}
		all, pages := collect("ListStacks", "StackSummaries", awsproto.Object{})
		if len(all) != n || pages != 3 || all[0] != "s229" || all[n-1] != "s000" {
			t.Errorf("ListStacks: %d stacks in %d pages, first %s last %s", len(all), pages, all[0], all[len(all)-1])
		}
		deleted, _ := collect("ListStacks", "StackSummaries", awsproto.Object{"StackStatusFilter": []any{"DELETE_COMPLETE"}})
		if diff := cmp.Diff([]string{"s000"}, deleted); diff != "" {
			t.Errorf("deleted stacks (-want +got):\n%s", diff)
		}
		live, _ := collect("DescribeStacks", "Stacks", awsproto.Object{})
		if len(live) != n-1 {
			t.Errorf("DescribeStacks: %d stacks", len(live))
		}
		// Events page newest first and stay consistent.
		for range 60 {
			h.must("UpdateTerminationProtection", awsproto.Object{"StackName": "s001", "EnableTerminationProtection": "true"})
		}
		ev := h.events("s001")
		if len(ev) != 5 {
			t.Errorf("events: %q", ev)
		}
	})
}

func TestEventPaging(t *testing.T) {
	var body strings.Builder
	body.WriteString("Resources:\n")
	for i := range 40 {
		fmt.Fprintf(&body, "  T%d:\n    Type: AWS::SNS::Topic\n", i)
	}
	run(t, func(t *testing.T, h *harness) {
		h.create("big", body.String(), nil)
		first := h.must("DescribeStackEvents", awsproto.Object{"StackName": "big"})
		if got := len(first["StackEvents"].([]any)); got != 100 {
			t.Errorf("first page has %d events", got)
		}
		ev := h.events("big")
		if len(ev) != 2+3*40 || ev[0] != "big CREATE_IN_PROGRESS User Initiated" || ev[len(ev)-1] != "big CREATE_COMPLETE" {
			t.Errorf("%d events, first %q last %q", len(ev), ev[0], ev[len(ev)-1])
		}
		ids := map[string]bool{}
		p := awsproto.Object{"StackName": "big"}
		for {
			out := h.must("DescribeStackEvents", p)
			for _, e := range out["StackEvents"].([]any) {
				id := e.(awsproto.Object)["EventId"].(string)
				if ids[id] {
					t.Fatalf("duplicate EventId %s", id)
				}
				ids[id] = true
			}
			tok, ok := out["NextToken"].(string)
			if !ok {
				break
			}
			p["NextToken"] = tok
		}
		res := h.must("ListStackResources", awsproto.Object{"StackName": "big"})
		if got := len(res["StackResourceSummaries"].([]any)); got != 40 {
			t.Errorf("ListStackResources: %d", got)
		}
	})
}

func TestSnapshotRestore(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("prod", exporter, nil)
		h.create("user", importer, nil)
		h.create("gone", exporter, awsproto.Object{"Parameters": params("Name", "gone")})
		h.must("DeleteStack", awsproto.Object{"StackName": "gone"})
		synctestWait()
		h.must("CreateChangeSet", awsproto.Object{"StackName": "prod", "ChangeSetName": "cs", "TemplateBody": exporter, "Parameters": params("Name", "x")})
		synctestWait()
		if err := h.e.Drift(acct, region, "user", "P", map[string]any{"Value": "x"}); err != nil {
			t.Fatal(err)
		}
		h.must("DetectStackDrift", awsproto.Object{"StackName": "user"})
		data, err := h.e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := cfn.New(cfn.Options{Effects: h.fx})
		if err != nil {
			t.Fatal(err)
		}
		defer e2.Close()
		if err := e2.Restore(data); err != nil {
			t.Fatal(err)
		}
		h2 := &harness{t: t, e: e2, fx: h.fx}
		for _, q := range []struct {
			action string
			p      awsproto.Object
		}{
			{"ListStacks", nil},
			{"DescribeStacks", nil},
			{"DescribeStackEvents", awsproto.Object{"StackName": "prod"}},
			{"DescribeStackResources", awsproto.Object{"StackName": "user"}},
			{"DescribeChangeSet", awsproto.Object{"StackName": "prod", "ChangeSetName": "cs"}},
			{"ListExports", nil},
			{"DescribeStackResourceDrifts", awsproto.Object{"StackName": "user"}},
			{"GetTemplate", awsproto.Object{"StackName": "user"}},
		} {
			want := h.must(q.action, q.p)
			got := h2.must(q.action, q.p)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s after restore (-want +got):\n%s", q.action, diff)
			}
		}
		// The restored engine operates on the restored state.
		s := h2.update("prod", exporter, awsproto.Object{"Parameters": params("Name", "y")})
		if s["StackStatus"] != "UPDATE_ROLLBACK_COMPLETE" {
			t.Errorf("update of imported export after restore: %v", s["StackStatus"])
		}
		if err := e2.Restore([]byte("{")); err == nil {
			t.Error("Restore accepted garbage")
		}
	})
}

func TestConcurrentStacks(t *testing.T) {
	fx := newFakeEffects()
	e, err := cfn.New(cfn.Options{Effects: fx})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, fx: fx}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				name := fmt.Sprintf("w%d-s%d", w, i)
				if _, err := h.call("CreateStack", awsproto.Object{"StackName": name, "TemplateBody": appTemplate, "Capabilities": []any{"CAPABILITY_IAM"}, "Parameters": params("Env", name)}); err != nil {
					t.Error(err)
					return
				}
				h.call("DescribeStacks", nil)
				h.call("DescribeStackEvents", awsproto.Object{"StackName": name})
				if i%5 == 0 {
					h.call("DeleteStack", awsproto.Object{"StackName": name})
				}
			}
		})
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	p := awsproto.Object{}
	for {
		out := h.must("ListStacks", p)
		for _, s := range out["StackSummaries"].([]any) {
			counts[s.(awsproto.Object)["StackStatus"].(string)]++
		}
		tok, ok := out["NextToken"].(string)
		if !ok {
			break
		}
		p = awsproto.Object{"NextToken": tok}
	}
	// Deletes issued while a create was in progress are refused; every stack settles.
	if counts["CREATE_COMPLETE"]+counts["DELETE_COMPLETE"] != 200 {
		t.Errorf("statuses after Close: %v", counts)
	}
	if _, err := h.call("CreateStack", awsproto.Object{"StackName": "late", "TemplateBody": appTemplate, "Capabilities": []any{"CAPABILITY_IAM"}}); err == nil {
		t.Error("CreateStack after Close succeeded")
	}
}

func TestValidateAndSummarize(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		v := h.must("ValidateTemplate", awsproto.Object{"TemplateBody": appTemplate})
		want := awsproto.Object{
			"Description": "app stack",
			"Parameters": []any{
				awsproto.Object{"ParameterKey": "Env", "DefaultValue": "dev", "NoEcho": false},
				awsproto.Object{"ParameterKey": "Secret", "DefaultValue": "hunter2", "NoEcho": true},
			},
			"Capabilities":       []any{"CAPABILITY_IAM"},
			"CapabilitiesReason": "The following resource(s) require capabilities: [AWS::IAM::Role]",
			"DeclaredTransforms": []any{},
		}
		if diff := cmp.Diff(want, v); diff != "" {
			t.Errorf("ValidateTemplate (-want +got):\n%s", diff)
		}
		h.create("app", appTemplate, nil)
		sum := h.must("GetTemplateSummary", awsproto.Object{"StackName": "app"})
		wantTypes := []any{"AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::SSM::Parameter", "AWS::IAM::Role"}
		if diff := cmp.Diff(wantTypes, sum["ResourceTypes"]); diff != "" {
			t.Errorf("ResourceTypes (-want +got):\n%s", diff)
		}
		p0 := sum["Parameters"].([]any)[0].(awsproto.Object)
		if p0["ParameterType"] != "String" || p0["ParameterKey"] != "Env" {
			t.Errorf("summary parameter = %v", p0)
		}
		if got := h.must("GetTemplate", awsproto.Object{"StackName": "app"})["TemplateBody"]; got != appTemplate {
			t.Errorf("GetTemplate body differs")
		}
		_, err := h.call("ValidateTemplate", awsproto.Object{"TemplateBody": "Resources: {}"})
		if got := apiErr(t, err); got != "ValidationError: Template format error: At least one Resources member must be defined." {
			t.Errorf("empty resources: %q", got)
		}
	})
}

func TestTimesComeFromTheClock(t *testing.T) {
	var mu sync.Mutex
	now := fixedTime
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	run(t, func(t *testing.T, h *harness) {
		s := h.create("c", "Resources:\n  T:\n    Type: AWS::SNS::Topic\n", nil)
		if got := s["CreationTime"]; got != fixedTime {
			t.Errorf("CreationTime = %v", got)
		}
		if _, ok := s["LastUpdatedTime"]; ok {
			t.Error("LastUpdatedTime set before any update")
		}
		mu.Lock()
		now = fixedTime.Add(time.Hour)
		mu.Unlock()
		s = h.update("c", "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties: {DisplayName: x}\n", nil)
		if got := s["LastUpdatedTime"]; got != fixedTime.Add(time.Hour) {
			t.Errorf("LastUpdatedTime = %v", got)
		}
		ev := h.must("DescribeStackEvents", awsproto.Object{"StackName": "c"})["StackEvents"].([]any)
		// The clock stood still during the update: its events are a millisecond apart, so
		// that timestamps strictly increase (newest first here).
		if got := ev[0].(awsproto.Object)["Timestamp"].(time.Time); got.Before(fixedTime.Add(time.Hour)) || got.After(fixedTime.Add(time.Hour+time.Second)) {
			t.Errorf("newest event at %v", got)
		}
		for i := 1; i < len(ev); i++ {
			if a, b := ev[i-1].(awsproto.Object)["Timestamp"].(time.Time), ev[i].(awsproto.Object)["Timestamp"].(time.Time); !a.After(b) {
				t.Errorf("event %d at %v is not after event %d at %v", i-1, a, i, b)
			}
		}
		if got := ev[len(ev)-1].(awsproto.Object)["Timestamp"]; got != fixedTime {
			t.Errorf("oldest event at %v", got)
		}
	}, func(o *cfn.Options) { o.Now = clock })
}

func TestResourceDelay(t *testing.T) {
	const body = "Resources:\n  A:\n    Type: AWS::SNS::Topic\n  B:\n    Type: AWS::SNS::Topic\n"
	run(t, func(t *testing.T, h *harness) {
		start := time.Now()
		h.create("fast", body, nil)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("creation without delay took %v of fake time", d)
		}
		h.e.SetResourceDelay(10 * time.Second)
		start = time.Now()
		h.create("slow", body, nil)
		if d := time.Since(start); d < 20*time.Second || d > 25*time.Second {
			t.Errorf("two resources at 10s took %v", d)
		}
		// Close cuts simulated delays short.
		h.must("DeleteStack", awsproto.Object{"StackName": "slow"})
		start = time.Now()
		if err := h.e.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Close waited %v", d)
		}
	})
}

// TestEventTimesIncrease: with a clock that moves less than a millisecond per event, the
// events of a stack still have strictly increasing timestamps at the wire's millisecond
// precision, as clients that sort by them need.
func TestEventTimesIncrease(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(10 * time.Microsecond)
		return now
	}
	run(t, func(t *testing.T, h *harness) {
		h.create("fast", "Resources:\n  A: {Type: AWS::SNS::Topic}\n  B: {Type: AWS::SQS::Queue}\n", nil)
		ev := h.must("DescribeStackEvents", awsproto.Object{"StackName": "fast"})["StackEvents"].([]any)
		for i := 1; i < len(ev); i++ {
			a := ev[i-1].(awsproto.Object)["Timestamp"].(time.Time).Truncate(time.Millisecond)
			b := ev[i].(awsproto.Object)["Timestamp"].(time.Time).Truncate(time.Millisecond)
			if !a.After(b) {
				t.Errorf("event %d at %v is not after event %d at %v", i-1, a, i, b)
			}
		}
	}, func(o *cfn.Options) { o.Now = clock })
}
