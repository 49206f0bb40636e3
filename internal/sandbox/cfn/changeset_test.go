package cfn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// changeSummary renders a DescribeChangeSet's Changes as "Action Logical Replacement" lines.
func changeSummary(cs awsproto.Object) []string {
	var out []string
	for _, c := range cs["Changes"].([]any) {
		rc := c.(awsproto.Object)["ResourceChange"].(awsproto.Object)
		line := rc["Action"].(string) + " " + rc["LogicalResourceId"].(string)
		if r, ok := rc["Replacement"].(string); ok {
			line += " " + r
		}
		out = append(out, line)
	}
	return out
}

func (h *harness) describeCS(stack, name string) awsproto.Object {
	h.t.Helper()
	synctestWait()
	return h.must("DescribeChangeSet", awsproto.Object{"StackName": stack, "ChangeSetName": name})
}

func TestChangeSetForNewStack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		out := h.must("CreateChangeSet", awsproto.Object{
			"StackName": "n", "ChangeSetName": "cs1", "ChangeSetType": "CREATE",
			"TemplateBody": updTemplate, "Description": "first",
		})
		csID, stackID := out["Id"].(string), out["StackId"].(string)
		s := h.wait("n")
		if s["StackStatus"] != "REVIEW_IN_PROGRESS" || s["StackId"] != stackID {
			t.Fatalf("stack = %v %v", s["StackStatus"], s["StackId"])
		}
		cs := h.describeCS("n", "cs1")
		if cs["Status"] != "CREATE_COMPLETE" || cs["ExecutionStatus"] != "AVAILABLE" || cs["ChangeSetId"] != csID {
			t.Fatalf("change set = %v %v %v", cs["Status"], cs["ExecutionStatus"], cs["StatusReason"])
		}
		if diff := cmp.Diff([]string{"Add Queue", "Add Param", "Add Topic"}, changeSummary(cs)); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		// The stack has no template until the change set runs; its change set has one.
		if got := h.must("GetTemplate", awsproto.Object{"StackName": "n"}); got["TemplateBody"] != nil {
			t.Errorf("GetTemplate of a REVIEW_IN_PROGRESS stack: %v", got)
		}
		if got := h.must("GetTemplate", awsproto.Object{"StackName": "n", "ChangeSetName": "cs1"}); got["TemplateBody"] != updTemplate {
			t.Errorf("GetTemplate of the change set: %v", got)
		}
		// By ARN without a stack name.
		if got := h.must("DescribeChangeSet", awsproto.Object{"ChangeSetName": csID})["ChangeSetName"]; got != "cs1" {
			t.Errorf("by ARN: %v", got)
		}
		_, err := h.call("CreateChangeSet", awsproto.Object{"StackName": "n", "ChangeSetName": "cs1", "ChangeSetType": "CREATE", "TemplateBody": updTemplate})
		if got := apiErr(t, err); got != "AlreadyExistsException: ChangeSet [cs1] already exists" {
			t.Errorf("name clash: %q", got)
		}
		h.must("ExecuteChangeSet", awsproto.Object{"StackName": "n", "ChangeSetName": "cs1"})
		s = h.wait("n")
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Fatalf("after execute: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		if got := h.describeCS("n", "cs1")["ExecutionStatus"]; got != "EXECUTE_COMPLETE" {
			t.Errorf("ExecutionStatus = %v", got)
		}
		ev := h.events("n")
		if ev[0] != "n REVIEW_IN_PROGRESS User Initiated" || indexOf(ev, "n CREATE_IN_PROGRESS User Initiated") < 0 {
			t.Errorf("events = %q", ev)
		}
	})
}

func TestDeleteChangeSetLeavesReviewStack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.must("CreateChangeSet", awsproto.Object{"StackName": "n", "ChangeSetName": "cs", "ChangeSetType": "CREATE", "TemplateBody": updTemplate})
		h.describeCS("n", "cs")
		h.must("DeleteChangeSet", awsproto.Object{"StackName": "n", "ChangeSetName": "cs"})
		if s := h.wait("n"); s["StackStatus"] != "REVIEW_IN_PROGRESS" {
			t.Errorf("stack = %v", s["StackStatus"])
		}
		if got := h.must("ListChangeSets", awsproto.Object{"StackName": "n"})["Summaries"].([]any); len(got) != 0 {
			t.Errorf("change sets left: %v", got)
		}
		// A REVIEW_IN_PROGRESS stack takes a new CREATE change set, not UpdateStack.
		h.must("CreateChangeSet", awsproto.Object{"StackName": "n", "ChangeSetName": "cs2", "ChangeSetType": "CREATE", "TemplateBody": updTemplate})
		if cs := h.describeCS("n", "cs2"); cs["Status"] != "CREATE_COMPLETE" {
			t.Errorf("second change set: %v", cs["Status"])
		}
		// Deleting the stack removes it at once.
		h.must("DeleteStack", awsproto.Object{"StackName": "n"})
		if _, err := h.call("DescribeStacks", awsproto.Object{"StackName": "n"}); err == nil {
			t.Error("stack still exists")
		}
	})
}

func TestChangeSetForExistingStack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("u", updTemplate, awsproto.Object{"Parameters": params("Extra", "yes")})
		before := h.resources("u")
		// No changes → FAILED with the reason the AWS CLI recognises.
		h.must("CreateChangeSet", awsproto.Object{"StackName": "u", "ChangeSetName": "same", "UsePreviousTemplate": "true",
			"Parameters": []any{
				awsproto.Object{"ParameterKey": "Extra", "UsePreviousValue": "true"},
			}})
		cs := h.describeCS("u", "same")
		want := "The submitted information didn't contain changes. Submit different information to create a change set."
		if cs["Status"] != "FAILED" || cs["StatusReason"] != want || cs["ExecutionStatus"] != "UNAVAILABLE" {
			t.Errorf("no-change change set = %v %v %v", cs["Status"], cs["ExecutionStatus"], cs["StatusReason"])
		}
		// Changes: Queue replaced (name), Param modified, Gone removed.
		h.must("CreateChangeSet", awsproto.Object{"StackName": "u", "ChangeSetName": "real", "TemplateBody": updTemplate,
			"Parameters": params("Value", "two", "QueueName", "q-two")})
		h.must("CreateChangeSet", awsproto.Object{"StackName": "u", "ChangeSetName": "other", "TemplateBody": updTemplate,
			"Parameters": params("Value", "three")})
		cs = h.describeCS("u", "real")
		if diff := cmp.Diff([]string{"Modify Queue True", "Modify Param False", "Remove Gone"}, changeSummary(cs)); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		queue := cs["Changes"].([]any)[0].(awsproto.Object)["ResourceChange"].(awsproto.Object)
		wantQueue := awsproto.Object{
			"Action": "Modify", "LogicalResourceId": "Queue", "PhysicalResourceId": before["Queue"],
			"ResourceType": "AWS::SQS::Queue", "Replacement": "True", "Scope": []any{"Properties"},
			"Details": []any{awsproto.Object{
				"Target":     awsproto.Object{"Attribute": "Properties", "Name": "QueueName", "RequiresRecreation": "Always"},
				"Evaluation": "Static", "ChangeSource": "DirectModification",
			}},
		}
		if diff := cmp.Diff(wantQueue, queue); diff != "" {
			t.Errorf("Queue change (-want +got):\n%s", diff)
		}
		h.must("ExecuteChangeSet", awsproto.Object{"StackName": "u", "ChangeSetName": "real"})
		s := h.wait("u")
		if s["StackStatus"] != "UPDATE_COMPLETE" {
			t.Fatalf("after execute: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		if got := outputs(s)["Queue"]; got != "q-two" {
			t.Errorf("Queue output = %q", got)
		}
		statuses := map[string]string{}
		for _, sum := range h.must("ListChangeSets", awsproto.Object{"StackName": "u"})["Summaries"].([]any) {
			o := sum.(awsproto.Object)
			statuses[o["ChangeSetName"].(string)] = o["Status"].(string) + "/" + o["ExecutionStatus"].(string)
		}
		wantStatuses := map[string]string{"same": "FAILED/UNAVAILABLE", "real": "CREATE_COMPLETE/EXECUTE_COMPLETE", "other": "CREATE_COMPLETE/OBSOLETE"}
		if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
			t.Errorf("change set statuses (-want +got):\n%s", diff)
		}
		_, err := h.call("ExecuteChangeSet", awsproto.Object{"StackName": "u", "ChangeSetName": "other"})
		if err == nil {
			t.Error("executing an OBSOLETE change set succeeded")
		}
	})
}

func TestChangeSetUpdateOfMissingStack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		_, err := h.call("CreateChangeSet", awsproto.Object{"StackName": "nope", "ChangeSetName": "cs", "TemplateBody": updTemplate})
		if got := apiErr(t, err); got != "ValidationError: Stack [nope] does not exist" {
			t.Errorf("got %q", got)
		}
	})
}

func TestChangeSetDynamicReferences(t *testing.T) {
	const body = `
Parameters:
  QueueName: {Type: String, Default: q1}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Ref QueueName}
  ByValue:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: !Ref Queue}
  ByName:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: v, Name: !Sub "/q/${Queue.QueueName}"}
  Untouched:
    Type: AWS::SNS::Topic
    Metadata: {Owner: team}
`
	run(t, func(t *testing.T, h *harness) {
		h.create("dyn", body, nil)
		h.must("CreateChangeSet", awsproto.Object{"StackName": "dyn", "ChangeSetName": "cs", "TemplateBody": body, "Parameters": params("QueueName", "q2")})
		cs := h.describeCS("dyn", "cs")
		if diff := cmp.Diff([]string{"Modify Queue True", "Modify ByValue False", "Modify ByName Conditional"}, changeSummary(cs)); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		byValue := cs["Changes"].([]any)[1].(awsproto.Object)["ResourceChange"].(awsproto.Object)["Details"].([]any)[0].(awsproto.Object)
		if byValue["Evaluation"] != "Dynamic" || byValue["ChangeSource"] != "ResourceReference" {
			t.Errorf("ByValue detail = %v", byValue)
		}
		h.must("ExecuteChangeSet", awsproto.Object{"StackName": "dyn", "ChangeSetName": "cs"})
		if s := h.wait("dyn"); s["StackStatus"] != "UPDATE_COMPLETE" {
			t.Fatalf("status = %v", s["StackStatus"])
		}
		if p, ok := h.fx.param(acct, region, "/q/q2"); !ok || p.Value != "v" {
			t.Errorf("replaced parameter = %+v %v", p, ok)
		}
		if _, ok := h.fx.param(acct, region, "/q/q1"); ok {
			t.Error("old parameter not deleted in cleanup")
		}
		detail := h.must("DescribeStackResource", awsproto.Object{"StackName": "dyn", "LogicalResourceId": "Untouched"})["StackResourceDetail"].(awsproto.Object)
		if detail["Metadata"] != `{"Owner":"team"}` || detail["ResourceStatus"] != "CREATE_COMPLETE" {
			t.Errorf("resource detail = %v", detail)
		}
	})
}

func TestChangesArePaged(t *testing.T) {
	var body strings.Builder
	body.WriteString("Resources:\n")
	for i := range 130 {
		fmt.Fprintf(&body, "  T%d:\n    Type: AWS::SNS::Topic\n", i)
	}
	run(t, func(t *testing.T, h *harness) {
		id := h.must("CreateChangeSet", awsproto.Object{"StackName": "big", "ChangeSetName": "cs", "ChangeSetType": "CREATE", "TemplateBody": body.String()})["Id"].(string)
		synctestWait()
		n, pages := 0, 0
		p := awsproto.Object{"ChangeSetName": id}
		for {
			out := h.must("DescribeChangeSet", p)
			pages++
			n += len(out["Changes"].([]any))
			tok, ok := out["NextToken"].(string)
			if !ok {
				break
			}
			p = awsproto.Object{"ChangeSetName": id, "NextToken": tok}
		}
		if n != 130 || pages != 2 {
			t.Errorf("%d changes in %d pages", n, pages)
		}
	})
}
