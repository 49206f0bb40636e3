package cfn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

// updTemplate is parameterised by Value (an in-place change of Param), QueueName (a
// replacement of Queue) and Extra (a resource added or removed by a condition).
const updTemplate = `
Parameters:
  Value: {Type: String, Default: one}
  QueueName: {Type: String, Default: q-one}
  Extra: {Type: String, Default: "no"}
Conditions:
  WithExtra: !Equals [!Ref Extra, "yes"]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Ref QueueName
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /upd/param
      Type: String
      Value: !Ref Value
  Topic:
    Type: AWS::SNS::Topic
  Gone:
    Type: AWS::SNS::Topic
    Condition: WithExtra
Outputs:
  Value:
    Value: !GetAtt Param.Value
  Queue:
    Value: !GetAtt Queue.QueueName
`

func TestUpdateModifyReplaceAddRemove(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		s := h.create("u", updTemplate, awsproto.Object{"Parameters": params("Extra", "yes")})
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Fatalf("create: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		before := h.resources("u")
		s = h.update("u", updTemplate, awsproto.Object{"Parameters": params("Value", "two", "QueueName", "q-two")})
		if s["StackStatus"] != "UPDATE_COMPLETE" {
			t.Fatalf("update: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		after := h.resources("u")
		want := map[string]string{"Queue": "q-two", "Param": "/upd/param", "Topic": before["Topic"]}
		if diff := cmp.Diff(want, after); diff != "" {
			t.Errorf("resources after update (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"Value": "two", "Queue": "q-two"}, outputs(s)); diff != "" {
			t.Errorf("outputs (-want +got):\n%s", diff)
		}
		if p, _ := h.fx.param(acct, region, "/upd/param"); p.Value != "two" {
			t.Errorf("SSM value = %q", p.Value)
		}
		ev := h.events("u")
		start := indexOf(ev, "u UPDATE_IN_PROGRESS User Initiated")
		got := ev[start:]
		wantEv := []string{
			"u UPDATE_IN_PROGRESS User Initiated",
			"Queue UPDATE_IN_PROGRESS Requested update requires the creation of a new physical resource; hence creating one.",
			"Queue UPDATE_IN_PROGRESS Resource creation Initiated",
			"Queue UPDATE_COMPLETE",
			"Param UPDATE_IN_PROGRESS",
			"Param UPDATE_COMPLETE",
			"u UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
			"Queue DELETE_IN_PROGRESS",
			"Queue DELETE_COMPLETE",
			"Gone DELETE_IN_PROGRESS",
			"Gone DELETE_COMPLETE",
			"u UPDATE_COMPLETE",
		}
		if diff := cmp.Diff(wantEv, got); diff != "" {
			t.Errorf("update events (-want +got):\n%s", diff)
		}
		if _, ok := s["LastUpdatedTime"]; !ok {
			t.Error("no LastUpdatedTime")
		}
	})
}

func TestUpdateFailureRollsBack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		s := h.create("u", updTemplate, awsproto.Object{"Parameters": params("Extra", "yes")})
		before := h.resources("u")
		beforeOut := outputs(s)
		beforeParams := s["Parameters"]
		// Queue is replaced and Param updated before the new resource Late fails.
		body := strings.Replace(updTemplate, "Outputs:", "  Late:\n    Type: AWS::SNS::Topic\n    DependsOn: [Param, Queue]\nOutputs:", 1)
		h.fx.Fault = faultOn("Late", "Injected failure")
		s = h.update("u", body, awsproto.Object{"Parameters": params("Value", "two", "QueueName", "q-two", "Extra", "yes")})
		if s["StackStatus"] != "UPDATE_ROLLBACK_COMPLETE" {
			t.Fatalf("status = %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		if diff := cmp.Diff(before, h.resources("u")); diff != "" {
			t.Errorf("resources after rollback (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(beforeOut, outputs(s)); diff != "" {
			t.Errorf("outputs after rollback (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(beforeParams, s["Parameters"]); diff != "" {
			t.Errorf("parameters after rollback (-want +got):\n%s", diff)
		}
		if p, _ := h.fx.param(acct, region, "/upd/param"); p.Value != "one" {
			t.Errorf("SSM value after rollback = %q, want one", p.Value)
		}
		ev := h.events("u")
		for _, want := range []string{
			"Late CREATE_FAILED Injected failure",
			"u UPDATE_ROLLBACK_IN_PROGRESS The following resource(s) failed to update: [Late]. ",
			"u UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
			"u UPDATE_ROLLBACK_COMPLETE",
		} {
			if indexOf(ev, want) < 0 {
				t.Errorf("no event %q in %q", want, ev)
			}
		}
		// The template is the previous one again.
		got := h.must("GetTemplate", awsproto.Object{"StackName": "u"})["TemplateBody"]
		if got != updTemplate {
			t.Error("GetTemplate does not return the previous template after rollback")
		}
		// The stack can be updated again.
		s = h.update("u", updTemplate, awsproto.Object{"Parameters": params("Value", "three")})
		if s["StackStatus"] != "UPDATE_COMPLETE" {
			t.Errorf("second update: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
	})
}

func TestUpdateRollbackFailureAndContinue(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("u", updTemplate, nil)
		body := strings.Replace(updTemplate, "Outputs:", "  Late:\n    Type: AWS::SNS::Topic\n    DependsOn: Param\nOutputs:", 1)
		// Late fails; Param's forward update succeeds (first ask) but its rollback fails
		// (second ask) and succeeds when continued (third).
		calls := 0
		h.fx.Fault = func(_, _, _, l, _ string) (string, bool) {
			if l == "Param" {
				calls++
				return "rollback refused", calls == 2
			}
			return "nope", l == "Late"
		}
		s := h.update("u", body, awsproto.Object{"Parameters": params("Value", "two")})
		if s["StackStatus"] != "UPDATE_ROLLBACK_FAILED" {
			t.Fatalf("status = %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		_, err := h.call("UpdateStack", awsproto.Object{"StackName": "u", "UsePreviousTemplate": "true"})
		if err == nil || !strings.Contains(err.Error(), "UPDATE_ROLLBACK_FAILED state and can not be updated") {
			t.Errorf("UpdateStack in UPDATE_ROLLBACK_FAILED: %v", err)
		}
		h.must("ContinueUpdateRollback", awsproto.Object{"StackName": "u"})
		if s := h.wait("u"); s["StackStatus"] != "UPDATE_ROLLBACK_COMPLETE" {
			t.Errorf("after continue: %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		if p, _ := h.fx.param(acct, region, "/upd/param"); p.Value != "one" {
			t.Errorf("SSM value = %q, want one", p.Value)
		}
	})
}

func TestNoOpUpdateAndUsePrevious(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("u", updTemplate, awsproto.Object{"Parameters": params("Value", "x")})
		_, err := h.call("UpdateStack", awsproto.Object{
			"StackName": "u", "UsePreviousTemplate": "true",
			"Parameters": []any{awsproto.Object{"ParameterKey": "Value", "UsePreviousValue": "true"}},
		})
		if got := apiErr(t, err); got != "ValidationError: No updates are to be performed." {
			t.Errorf("got %q", got)
		}
		// Omitting a parameter reverts it to its default: a real change.
		s := h.update("u", updTemplate, nil)
		if got := outputs(s)["Value"]; got != "one" {
			t.Errorf("Value = %q, want the default", got)
		}
		// Tags alone are a change.
		s = h.update("u", updTemplate, awsproto.Object{"Tags": []any{awsproto.Object{"Key": "k", "Value": "v"}}})
		if s["StackStatus"] != "UPDATE_COMPLETE" {
			t.Errorf("tag update: %v", s["StackStatus"])
		}
	})
}

func TestCustomNamedReplacementRefused(t *testing.T) {
	const v1 = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: t\n      KeySchema: [{AttributeName: id, KeyType: HASH}]\n"
	v2 := strings.Replace(v1, "id,", "pk,", 1)
	run(t, func(t *testing.T, h *harness) {
		h.create("d", v1, nil)
		s := h.update("d", v2, nil)
		if s["StackStatus"] != "UPDATE_ROLLBACK_COMPLETE" {
			t.Fatalf("status = %v", s["StackStatus"])
		}
		want := "T UPDATE_FAILED CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename t and update the stack again."
		if ev := h.events("d"); indexOf(ev, want) < 0 {
			t.Errorf("no event %q in %q", want, ev)
		}
	})
}

func TestCancelUpdateStack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("u", updTemplate, nil)
		_, err := h.call("CancelUpdateStack", awsproto.Object{"StackName": "u"})
		if got := apiErr(t, err); got != "ValidationError: CancelUpdateStack cannot be called from current stack status" {
			t.Errorf("cancel when idle: %q", got)
		}
		h.must("UpdateStack", awsproto.Object{"StackName": "u", "TemplateBody": updTemplate, "Parameters": params("Value", "two", "QueueName", "q-two")})
		h.must("CancelUpdateStack", awsproto.Object{"StackName": "u"})
		s := h.wait("u")
		if s["StackStatus"] != "UPDATE_ROLLBACK_COMPLETE" {
			t.Fatalf("status = %v", s["StackStatus"])
		}
		if ev := h.events("u"); indexOf(ev, "u UPDATE_ROLLBACK_IN_PROGRESS Stack update cancelled") < 0 {
			t.Errorf("events = %q", ev)
		}
		if p, _ := h.fx.param(acct, region, "/upd/param"); p.Value != "one" {
			t.Errorf("SSM value = %q", p.Value)
		}
	}, func(o *cfn.Options) { o.ResourceDelay = time.Second })
}

func TestDeleteAfterFailedRollbackRemovesEverything(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.create("u", updTemplate, nil)
		body := strings.Replace(updTemplate, "Outputs:", "  Late:\n    Type: AWS::SSM::Parameter\n    DependsOn: [Param, Queue]\n    Properties: {Name: /late, Type: String, Value: v}\nOutputs:", 1)
		// Late fails; rolling Param back fails, leaving Queue's replacement not rolled back.
		calls := 0
		h.fx.Fault = func(_, _, _, l, _ string) (string, bool) {
			if l == "Param" {
				calls++
				return "rollback refused", calls == 2
			}
			return "nope", l == "Late"
		}
		s := h.update("u", body, awsproto.Object{"Parameters": params("Value", "two", "QueueName", "q-two")})
		if s["StackStatus"] != "UPDATE_ROLLBACK_FAILED" {
			t.Fatalf("status = %v", s["StackStatus"])
		}
		h.fx.Fault = nil
		h.must("DeleteStack", awsproto.Object{"StackName": "u"})
		if s := h.wait(s["StackId"].(string)); s["StackStatus"] != "DELETE_COMPLETE" {
			t.Fatalf("status = %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		n := 0
		for _, ev := range h.events(s["StackId"].(string)) {
			if ev == "Queue DELETE_COMPLETE" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d Queue deletions, want the new and the old queue", n)
		}
		if _, ok := h.fx.param(acct, region, "/upd/param"); ok {
			t.Error("parameter left behind")
		}
	})
}
