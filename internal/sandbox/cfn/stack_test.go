package cfn_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

const appTemplate = `
Description: app stack
Parameters:
  Env:
    Type: String
    Default: dev
  Secret:
    Type: String
    NoEcho: true
    Default: hunter2
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
      Name: !Sub /app/${Env}/queue
      Type: String
      Value: !GetAtt Queue.Arn
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
Outputs:
  BucketName:
    Value: !Ref Bucket
  BucketArn:
    Value: !GetAtt Bucket.Arn
  QueueUrl:
    Value: !Ref Queue
  TopicArn:
    Value: !Ref Topic
  RoleArn:
    Value: !GetAtt Role.Arn
  ParamName:
    Value: !Ref Param
`

func TestCreateStackComplete(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		out := h.must("CreateStack", awsproto.Object{
			"StackName": "app", "TemplateBody": appTemplate, "Capabilities": []any{"CAPABILITY_IAM"},
			"Parameters": params("Env", "prod"),
			"Tags":       []any{awsproto.Object{"Key": "team", "Value": "core"}},
		})
		id := out["StackId"].(string)
		if !regexp.MustCompile(`^arn:aws:cloudformation:us-east-1:111111111111:stack/app/[0-9a-f-]{36}$`).MatchString(id) {
			t.Errorf("StackId = %q", id)
		}
		s := h.wait("app")
		if got := s["StackStatus"]; got != "CREATE_COMPLETE" {
			t.Fatalf("status = %v (%v)", got, s["StackStatusReason"])
		}
		outs := outputs(s)
		bucket := outs["BucketName"]
		patterns := map[string]string{
			"BucketName": `^app-bucket-[a-z0-9]{12}$`,
			"BucketArn":  `^arn:aws:s3:::app-bucket-[a-z0-9]{12}$`,
			"QueueUrl":   `^https://sqs\.us-east-1\.amazonaws\.com/111111111111/app-Queue-[A-Z0-9]{12}$`,
			"TopicArn":   `^arn:aws:sns:us-east-1:111111111111:app-Topic-[A-Z0-9]{12}$`,
			"RoleArn":    `^arn:aws:iam::111111111111:role/app-Role-[A-Z0-9]{12}$`,
			"ParamName":  `^/app/prod/queue$`,
		}
		for k, re := range patterns {
			if !regexp.MustCompile(re).MatchString(outs[k]) {
				t.Errorf("output %s = %q, want match %s", k, outs[k], re)
			}
		}
		if got, want := outs["BucketArn"], "arn:aws:s3:::"+bucket; got != want {
			t.Errorf("BucketArn = %q, want %q", got, want)
		}
		// Effects: the parameter holds the queue ARN, the role exists, the bucket name is claimed.
		p, ok := h.fx.param(acct, region, "/app/prod/queue")
		queueName := outs["QueueUrl"][strings.LastIndexByte(outs["QueueUrl"], '/')+1:]
		if want := "arn:aws:sqs:us-east-1:111111111111:" + queueName; !ok || p.Value != want {
			t.Errorf("SSM parameter = %+v, %v; want value %q", p, ok, want)
		}
		roleName := outs["RoleArn"][strings.LastIndexByte(outs["RoleArn"], '/')+1:]
		if diff := cmp.Diff([]string{acct + "/" + roleName}, h.fx.roleNames()); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{bucket}, h.fx.bucketNames()); diff != "" {
			t.Errorf("claimed names (-want +got):\n%s", diff)
		}
		// Stack fields.
		if got, want := s["Description"], "app stack"; got != want {
			t.Errorf("Description = %v", got)
		}
		wantParams := []any{
			awsproto.Object{"ParameterKey": "Env", "ParameterValue": "prod"},
			awsproto.Object{"ParameterKey": "Secret", "ParameterValue": "****"},
		}
		if diff := cmp.Diff(wantParams, s["Parameters"]); diff != "" {
			t.Errorf("Parameters (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]any{awsproto.Object{"Key": "team", "Value": "core"}}, s["Tags"]); diff != "" {
			t.Errorf("Tags (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]any{"CAPABILITY_IAM"}, s["Capabilities"]); diff != "" {
			t.Errorf("Capabilities (-want +got):\n%s", diff)
		}
		// Events: the stack starts and ends, each resource goes through its three events.
		ev := h.events("app")
		if ev[0] != "app CREATE_IN_PROGRESS User Initiated" || ev[len(ev)-1] != "app CREATE_COMPLETE" {
			t.Errorf("first/last events = %q / %q", ev[0], ev[len(ev)-1])
		}
		if got, want := len(ev), 2+3*5; got != want {
			t.Errorf("%d events, want %d: %q", got, want, ev)
		}
		// Queue is created before Param, which references it.
		iq, ip := indexOf(ev, "Queue CREATE_COMPLETE"), indexOf(ev, "Param CREATE_IN_PROGRESS")
		if iq < 0 || ip < 0 || iq > ip {
			t.Errorf("Queue completes at %d, Param starts at %d: %q", iq, ip, ev)
		}
	})
}

func indexOf(l []string, s string) int {
	for i, v := range l {
		if v == s {
			return i
		}
	}
	return -1
}

func TestCreateFailureRollsBack(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		h.fx.Fault = faultOn("Topic", "Injected: throttled")
		s := h.create("app", appTemplate, nil)
		if got := s["StackStatus"]; got != "ROLLBACK_COMPLETE" {
			t.Fatalf("status = %v", got)
		}
		ev := h.events("app")
		for _, want := range []string{
			"Topic CREATE_FAILED Injected: throttled",
			"app ROLLBACK_IN_PROGRESS The following resource(s) failed to create: [Topic]. Rollback requested by user.",
			"Bucket DELETE_COMPLETE",
			"Queue DELETE_COMPLETE",
			"app ROLLBACK_COMPLETE",
		} {
			if indexOf(ev, want) < 0 {
				t.Errorf("no event %q in %q", want, ev)
			}
		}
		if names := h.fx.bucketNames(); len(names) != 0 {
			t.Errorf("bucket names still claimed: %v", names)
		}
		if got := h.resources("app"); len(got) != 0 {
			t.Errorf("resources after rollback: %v", got)
		}
		_, err := h.call("UpdateStack", awsproto.Object{"StackName": "app", "TemplateBody": appTemplate})
		want := "ValidationError: Stack:" + s["StackId"].(string) + " is in ROLLBACK_COMPLETE state and can not be updated."
		if got := apiErr(t, err); got != want {
			t.Errorf("UpdateStack error = %q, want %q", got, want)
		}
		// It can be deleted, which frees the name.
		h.must("DeleteStack", awsproto.Object{"StackName": "app"})
		synctestWait()
		if _, err := h.call("DescribeStacks", awsproto.Object{"StackName": "app"}); apiErr(t, err) != "ValidationError: Stack with id app does not exist" {
			t.Errorf("DescribeStacks after delete: %v", err)
		}
		gone := h.waitByID(s["StackId"].(string))
		if gone["StackStatus"] != "DELETE_COMPLETE" {
			t.Errorf("deleted stack by id: %v", gone["StackStatus"])
		}
	})
}

func (h *harness) waitByID(id string) awsproto.Object { return h.wait(id) }

func TestOnFailureOptions(t *testing.T) {
	tests := []struct {
		name   string
		extra  awsproto.Object
		status string
		bucket bool // bucket still exists
	}{
		{"disable rollback", awsproto.Object{"DisableRollback": "true"}, "CREATE_FAILED", true},
		{"do nothing", awsproto.Object{"OnFailure": "DO_NOTHING"}, "CREATE_FAILED", true},
		{"rollback", awsproto.Object{"OnFailure": "ROLLBACK"}, "ROLLBACK_COMPLETE", false},
		{"delete", awsproto.Object{"OnFailure": "DELETE"}, "DELETE_COMPLETE", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T, h *harness) {
				h.fx.Fault = faultOn("Param", "boom")
				p := awsproto.Object{"StackName": "app", "TemplateBody": appTemplate, "Capabilities": []any{"CAPABILITY_IAM"}}
				for k, v := range tc.extra {
					p[k] = v
				}
				id := h.must("CreateStack", p)["StackId"].(string)
				s := h.wait(id)
				if got := s["StackStatus"]; got != tc.status {
					t.Errorf("status = %v, want %v", got, tc.status)
				}
				if got := len(h.fx.bucketNames()) == 1; got != tc.bucket {
					t.Errorf("bucket exists = %v, want %v", got, tc.bucket)
				}
				if tc.status == "DELETE_COMPLETE" {
					// The name is free again.
					h.fx.Fault = nil
					if s := h.create("app", appTemplate, nil); s["StackStatus"] != "CREATE_COMPLETE" {
						t.Errorf("re-create: %v", s["StackStatus"])
					}
				}
			})
		})
	}
}

func TestResourceValidationFailures(t *testing.T) {
	tests := []struct {
		name, body, reason string
	}{
		{
			"model validation",
			"Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n",
			"P CREATE_FAILED Model validation failed (#: required key [Value] not found)",
		},
		{
			"legacy wording",
			"Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      EvaluationPeriods: 1\n",
			"A CREATE_FAILED Property ComparisonOperator cannot be empty.",
		},
		{
			"bucket name clash",
			"Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: taken-bucket\n",
			"B CREATE_FAILED taken-bucket already exists",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T, h *harness) {
				if err := h.fx.CreateBucket("999999999999", "us-east-1", cfn.Bucket{Name: "taken-bucket"}); err != nil {
					t.Fatal(err)
				}
				s := h.create("s", tc.body, nil)
				if s["StackStatus"] != "ROLLBACK_COMPLETE" {
					t.Errorf("status = %v", s["StackStatus"])
				}
				if ev := h.events("s"); indexOf(ev, tc.reason) < 0 {
					t.Errorf("no event %q in %q", tc.reason, ev)
				}
			})
		})
	}
}

func TestSynchronousErrors(t *testing.T) {
	const good = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n"
	tests := []struct {
		name   string
		action string
		params awsproto.Object
		want   string
	}{
		{"unknown stack", "DescribeStacks", awsproto.Object{"StackName": "nope"}, "ValidationError: Stack with id nope does not exist"},
		{"already exists", "CreateStack", awsproto.Object{"StackName": "existing", "TemplateBody": good}, "AlreadyExistsException: Stack [existing] already exists"},
		{"capabilities", "CreateStack", awsproto.Object{"StackName": "x", "TemplateBody": "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n"}, "InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_IAM]"},
		{"named capabilities", "CreateStack", awsproto.Object{"StackName": "x", "Capabilities": []any{"CAPABILITY_IAM"}, "TemplateBody": "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: r\n      AssumeRolePolicyDocument: {}\n"}, "InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_NAMED_IAM]"},
		{"unknown type", "CreateStack", awsproto.Object{"StackName": "x", "TemplateBody": "Resources:\n  R:\n    Type: AWS::Foo::Bar\n  S:\n    Type: AWS::Baz::Qux\n"}, "ValidationError: Template format error: Unrecognized resource types: [AWS::Foo::Bar, AWS::Baz::Qux]"},
		{"bad attribute", "CreateStack", awsproto.Object{"StackName": "x", "TemplateBody": good + "Outputs:\n  O:\n    Value: !GetAtt T.Nope\n"}, "ValidationError: Template error: resource T does not support attribute type Nope in Fn::GetAtt"},
		{"missing parameter", "CreateStack", awsproto.Object{"StackName": "x", "TemplateBody": "Parameters:\n  P:\n    Type: String\n" + good}, "ValidationError: Parameters: [P] must have values"},
		{"template url not found", "CreateStack", awsproto.Object{"StackName": "x", "TemplateURL": "https://s3.amazonaws.com/b/t.yaml"}, "ValidationError: S3 error: The specified key does not exist."},
		{"template url and body", "CreateStack", awsproto.Object{"StackName": "x", "TemplateURL": "https://s3.amazonaws.com/b/t.yaml", "TemplateBody": good}, "ValidationError: Specify exactly one of TemplateBody or TemplateURL."},
		{"no template", "CreateStack", awsproto.Object{"StackName": "x"}, "ValidationError: Either Template URL or Template Body must be specified."},
		{"bad name", "CreateStack", awsproto.Object{"StackName": "1x", "TemplateBody": good}, "ValidationError: 1 validation error detected: Value '1x' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"},
		{"missing import", "CreateStack", awsproto.Object{"StackName": "x", "TemplateBody": "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !ImportValue nope\n"}, "ValidationError: No export named nope found."},
		{"no updates", "UpdateStack", awsproto.Object{"StackName": "existing", "TemplateBody": good}, "ValidationError: No updates are to be performed."},
		{"update unknown", "UpdateStack", awsproto.Object{"StackName": "nope", "TemplateBody": good}, "ValidationError: Stack with id nope does not exist"},
		{"unknown action", "FrobnicateStack", nil, "InvalidAction: The action FrobnicateStack is not valid for this web service."},
		{"missing change set", "DescribeChangeSet", awsproto.Object{"StackName": "existing", "ChangeSetName": "cs"}, "ChangeSetNotFound: ChangeSet [cs] does not exist"},
		{"missing resource", "DescribeStackResource", awsproto.Object{"StackName": "existing", "LogicalResourceId": "Nope"}, "ValidationError: Resource Nope does not exist for stack existing"},
	}
	run(t, func(t *testing.T, h *harness) {
		h.create("existing", good, nil)
		for _, tc := range tests {
			_, err := h.call(tc.action, tc.params)
			if err == nil {
				t.Errorf("%s: no error", tc.name)
				continue
			}
			if got := apiErr(t, err); got != tc.want {
				t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
			}
		}
		_, err := h.call("DescribeChangeSet", awsproto.Object{"StackName": "existing", "ChangeSetName": "cs"})
		if ae := err.(*awsproto.Error); ae.Status != 404 {
			t.Errorf("ChangeSetNotFound status = %d, want 404", ae.Status)
		}
	})
}

func TestInProgressStackRefusesOperations(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		id := h.must("CreateStack", awsproto.Object{"StackName": "slow", "TemplateBody": appTemplate, "Capabilities": []any{"CAPABILITY_IAM"}})["StackId"].(string)
		_, err := h.call("UpdateStack", awsproto.Object{"StackName": "slow", "UsePreviousTemplate": "true"})
		want := "ValidationError: Stack:" + id + " is in CREATE_IN_PROGRESS state and can not be updated."
		if got := apiErr(t, err); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if s := h.wait("slow"); s["StackStatus"] != "CREATE_COMPLETE" {
			t.Errorf("status = %v", s["StackStatus"])
		}
	}, func(o *cfn.Options) { o.ResourceDelay = 5e9 })
}

func TestNoEchoAndSSMParameterTypes(t *testing.T) {
	const body = `
Parameters:
  Password:
    Type: String
    NoEcho: true
  Ami:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /base/ami
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub "${Password}-${Ami}"
Outputs:
  Value:
    Value: !GetAtt P.Value
`
	run(t, func(t *testing.T, h *harness) {
		if err := h.fx.PutParameter(acct, region, cfn.Parameter{Name: "/base/ami", Type: "String", Value: "ami-123"}, false); err != nil {
			t.Fatal(err)
		}
		s := h.create("s", body, awsproto.Object{"Parameters": params("Password", "pw")})
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Fatalf("status = %v (%v)", s["StackStatus"], s["StackStatusReason"])
		}
		want := []any{
			awsproto.Object{"ParameterKey": "Password", "ParameterValue": "****"},
			awsproto.Object{"ParameterKey": "Ami", "ParameterValue": "/base/ami", "ResolvedValue": "ami-123"},
		}
		if diff := cmp.Diff(want, s["Parameters"]); diff != "" {
			t.Errorf("Parameters (-want +got):\n%s", diff)
		}
		if got := outputs(s)["Value"]; got != "pw-ami-123" {
			t.Errorf("output = %q", got)
		}
	})
}

func TestDeleteRetainAndTerminationProtection(t *testing.T) {
	const body = `
Resources:
  Kept:
    Type: AWS::SSM::Parameter
    DeletionPolicy: Retain
    Properties: {Name: kept, Type: String, Value: v}
  Gone:
    Type: AWS::SSM::Parameter
    Properties: {Name: gone, Type: String, Value: v}
`
	run(t, func(t *testing.T, h *harness) {
		h.create("s", body, awsproto.Object{"EnableTerminationProtection": "true"})
		_, err := h.call("DeleteStack", awsproto.Object{"StackName": "s"})
		if got, want := apiErr(t, err), "ValidationError: Stack [s] cannot be deleted while TerminationProtection is enabled"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		h.must("UpdateTerminationProtection", awsproto.Object{"StackName": "s", "EnableTerminationProtection": "false"})
		stackID := h.must("DescribeStacks", awsproto.Object{"StackName": "s"})["Stacks"].([]any)[0].(awsproto.Object)["StackId"].(string)
		h.must("DeleteStack", awsproto.Object{"StackName": "s"})
		if s := h.wait(stackID); s["StackStatus"] != "DELETE_COMPLETE" {
			t.Fatalf("status = %v", s["StackStatus"])
		}
		ev := h.events(stackID)
		for _, want := range []string{"Kept DELETE_SKIPPED", "Gone DELETE_COMPLETE"} {
			if indexOf(ev, want) < 0 {
				t.Errorf("no event %q in %q", want, ev)
			}
		}
		if _, ok := h.fx.param(acct, region, "kept"); !ok {
			t.Error("retained parameter was deleted")
		}
		if _, ok := h.fx.param(acct, region, "gone"); ok {
			t.Error("parameter not deleted")
		}
	})
}

func TestDeleteFaultThenRetain(t *testing.T) {
	const body = "Resources:\n  A:\n    Type: AWS::SNS::Topic\n  B:\n    Type: AWS::SNS::Topic\n"
	run(t, func(t *testing.T, h *harness) {
		h.create("s", body, nil)
		h.fx.Fault = faultOn("B", "cannot delete")
		h.must("DeleteStack", awsproto.Object{"StackName": "s"})
		s := h.wait("s")
		if s["StackStatus"] != "DELETE_FAILED" || s["StackStatusReason"] != "The following resource(s) failed to delete: [B]. " {
			t.Fatalf("status = %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		h.must("DeleteStack", awsproto.Object{"StackName": "s", "RetainResources": []any{"B"}})
		if s := h.wait(s["StackId"].(string)); s["StackStatus"] != "DELETE_COMPLETE" {
			t.Errorf("status = %v", s["StackStatus"])
		}
	})
}

func TestAccountsAndRegionsAreIndependent(t *testing.T) {
	const body = "Resources:\n  T:\n    Type: AWS::SNS::Topic\nOutputs:\n  Arn:\n    Value: !Ref T\n    Export:\n      Name: topic\n"
	run(t, func(t *testing.T, h *harness) {
		places := [][2]string{{acct, "us-east-1"}, {acct, "eu-west-1"}, {acct2, "us-east-1"}}
		for _, p := range places {
			if _, err := h.callIn(p[0], p[1], "CreateStack", awsproto.Object{"StackName": "same", "TemplateBody": body}); err != nil {
				t.Fatalf("%v: %v", p, err)
			}
		}
		for _, p := range places {
			s := h.waitIn(p[0], p[1], "same")
			if s["StackStatus"] != "CREATE_COMPLETE" {
				t.Errorf("%v: %v %v", p, s["StackStatus"], s["StackStatusReason"])
			}
			want := "arn:aws:sns:" + p[1] + ":" + p[0] + ":same-T-"
			if got := outputs(s)["Arn"]; !strings.HasPrefix(got, want) {
				t.Errorf("%v: Arn = %q, want prefix %q", p, got, want)
			}
		}
		if _, err := h.callIn(acct2, "eu-west-1", "DescribeStacks", awsproto.Object{"StackName": "same"}); err == nil {
			t.Error("stack visible in a region where it was not created")
		}
	})
}

func TestDeleteDuringCreate(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		id := h.must("CreateStack", awsproto.Object{"StackName": "app", "TemplateBody": appTemplate, "Capabilities": []any{"CAPABILITY_IAM"}})["StackId"].(string)
		synctestWait()
		h.must("DeleteStack", awsproto.Object{"StackName": "app"})
		s := h.wait(id)
		if s["StackStatus"] != "DELETE_COMPLETE" {
			t.Fatalf("status = %v %v", s["StackStatus"], s["StackStatusReason"])
		}
		ev := h.events(id)
		if indexOf(ev, "app DELETE_IN_PROGRESS User Initiated") < 0 || indexOf(ev, "app CREATE_COMPLETE") >= 0 {
			t.Errorf("events = %q", ev)
		}
		if got := h.fx.roleNames(); len(got) != 0 {
			t.Errorf("roles left: %v", got)
		}
		if got := h.fx.bucketNames(); len(got) != 0 {
			t.Errorf("buckets left: %v", got)
		}
	}, func(o *cfn.Options) { o.ResourceDelay = time.Second })
}

func TestClientRequestTokens(t *testing.T) {
	const body = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n"
	run(t, func(t *testing.T, h *harness) {
		create := awsproto.Object{"StackName": "tok", "TemplateBody": body, "ClientRequestToken": "create-1"}
		id := h.must("CreateStack", create)["StackId"]
		// A retry of the same request is acknowledged; another token is a clash.
		if got := h.must("CreateStack", create)["StackId"]; got != id {
			t.Errorf("retried CreateStack returned %v, want %v", got, id)
		}
		_, err := h.call("CreateStack", awsproto.Object{"StackName": "tok", "TemplateBody": body, "ClientRequestToken": "other"})
		if got := apiErr(t, err); got != "AlreadyExistsException: Stack [tok] already exists" {
			t.Errorf("other token: %q", got)
		}
		h.wait("tok")
		upd := awsproto.Object{"StackName": "tok", "TemplateBody": body + "    Properties: {DisplayName: x}\n", "ClientRequestToken": "update-1"}
		h.must("UpdateStack", upd)
		h.must("UpdateStack", upd) // retry while in progress: no error
		h.wait("tok")
		tokens := map[string]string{}
		for _, e := range h.must("DescribeStackEvents", awsproto.Object{"StackName": "tok"})["StackEvents"].([]any) {
			o := e.(awsproto.Object)
			tok, _ := o["ClientRequestToken"].(string)
			tokens[o["LogicalResourceId"].(string)+" "+o["ResourceStatus"].(string)] = tok
		}
		want := map[string]string{
			"tok CREATE_IN_PROGRESS": "create-1", "T CREATE_IN_PROGRESS": "create-1", "T CREATE_COMPLETE": "create-1",
			"tok CREATE_COMPLETE": "create-1", "tok UPDATE_IN_PROGRESS": "update-1", "T UPDATE_IN_PROGRESS": "update-1",
			"T UPDATE_COMPLETE": "update-1", "tok UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "update-1", "tok UPDATE_COMPLETE": "update-1",
		}
		if diff := cmp.Diff(want, tokens); diff != "" {
			t.Errorf("event tokens (-want +got):\n%s", diff)
		}
	})
}

// TestTemplateURL reads templates from S3 through Effects.ReadObject, up to 1 MB, with
// CloudFormation's errors.
func TestTemplateURL(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		const url = "https://bucket.s3.us-east-1.amazonaws.com/t.yaml"
		big := "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Metadata:\n      Pad: '" + strings.Repeat("x", 200_000) + "'\n"
		h.fx.objects[url] = []byte(big)
		h.fx.objects["https://bucket.s3.amazonaws.com/huge.yaml"] = []byte(big + "#" + strings.Repeat("y", 1_000_000))
		s := h.create("u", "", awsproto.Object{"TemplateURL": url})
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Fatalf("stack from TemplateURL: %v", s["StackStatus"])
		}
		if got, _ := h.must("GetTemplate", awsproto.Object{"StackName": "u"})["TemplateBody"].(string); got != big {
			t.Errorf("GetTemplate returned %d bytes, want the %d of the object", len(got), len(big))
		}
		if _, err := h.call("ValidateTemplate", awsproto.Object{"TemplateURL": url}); err != nil {
			t.Errorf("ValidateTemplate by URL: %v", err)
		}
		if _, err := h.call("GetTemplateSummary", awsproto.Object{"TemplateURL": url}); err != nil {
			t.Errorf("GetTemplateSummary by URL: %v", err)
		}
		// The same body is too large to pass inline.
		_, err := h.call("ValidateTemplate", awsproto.Object{"TemplateBody": big})
		if got := apiErr(t, err); !strings.Contains(got, "Member must have length less than or equal to 51200") {
			t.Errorf("inline 200 KB template: %q", got)
		}
		for _, tc := range []struct{ url, want string }{
			{"https://bucket.s3.amazonaws.com/huge.yaml", "ValidationError: Template may not exceed 1000000 bytes in size."},
			{"s3://bucket/t.yaml", "ValidationError: TemplateURL must be a supported URL."},
			{"https://bucket.s3.amazonaws.com/missing.yaml", "ValidationError: S3 error: The specified key does not exist."},
		} {
			_, err := h.call("CreateChangeSet", awsproto.Object{"StackName": "v", "ChangeSetName": "c", "ChangeSetType": "CREATE", "TemplateURL": tc.url})
			if got := apiErr(t, err); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.url, got, tc.want)
			}
		}
	})
}
