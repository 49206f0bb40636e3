package cfn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

// FuzzCreateStack feeds arbitrary templates, parameter values and page tokens through the
// engine: it must never panic, every error must be an AWS error, and every stack it accepts
// must settle.
func FuzzCreateStack(f *testing.F) {
	f.Add(appTemplate, "prod", "")
	f.Add(updTemplate, "x", "cDE")
	f.Add(exporter, "", "!!")
	f.Add(importer, "a,b", "cDk5OTk5OTk5OTk5OTk5OTk5OTk5")
	f.Add("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref AWS::StackName\n", "", "")
	f.Add("Resources:\n  A:\n    Type: AWS::KMS::Alias\n    Properties: {AliasName: bad, TargetKeyId: k}\n", "", "")
	f.Add(`{"Resources":{"T":{"Type":"AWS::SNS::Topic","Properties":{"TopicName":{"Fn::Join":["-",[{"Ref":"AWS::Region"},"t"]]}}}}}`, "", "")
	f.Add("Resources: [", "", "")
	f.Fuzz(func(t *testing.T, body, value, token string) {
		e, err := cfn.New(cfn.Options{Effects: newFakeEffects()})
		if err != nil {
			t.Fatal(err)
		}
		call := func(action string, p awsproto.Object) (awsproto.Object, error) {
			out, err := e.Handle(context.Background(), acct, &awsproto.Request{Action: action, Region: region, Params: p})
			var ae *awsproto.Error
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("%s: non-AWS error %T %v", action, err, err)
			}
			return out, err
		}
		call("ValidateTemplate", awsproto.Object{"TemplateBody": body})
		call("GetTemplateSummary", awsproto.Object{"TemplateBody": body})
		_, createErr := call("CreateStack", awsproto.Object{
			"StackName": "f", "TemplateBody": body, "Capabilities": []any{"CAPABILITY_NAMED_IAM"},
			"Parameters": []any{awsproto.Object{"ParameterKey": "Env", "ParameterValue": value}},
		})
		call("CreateChangeSet", awsproto.Object{"StackName": "g", "ChangeSetName": "c", "ChangeSetType": "CREATE", "TemplateBody": body})
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		call("DescribeStackEvents", awsproto.Object{"StackName": "f", "NextToken": token})
		call("ListStacks", awsproto.Object{"NextToken": token})
		if createErr == nil {
			out, err := call("DescribeStacks", awsproto.Object{"StackName": "f"})
			if err != nil {
				t.Fatal(err)
			}
			st := out["Stacks"].([]any)[0].(awsproto.Object)["StackStatus"].(string)
			switch st {
			case "CREATE_COMPLETE", "ROLLBACK_COMPLETE":
			default:
				t.Fatalf("stack settled in %s", st)
			}
		}
	})
}
