package templates_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/templates"
)

const tmpl = `AWSTemplateFormatVersion: "2010-09-09"
Description: test
Parameters:
  Env:
    Type: String
    AllowedValues: [dev, prod]
  Name:
    Type: String
    AllowedPattern: "[a-z]+"
    MaxLength: 8
    Default: abc
  Count:
    Type: Number
    MinValue: 1
    MaxValue: 5
    Default: 2
  Secret:
    Type: String
    NoEcho: true
    Default: x
  Subnets:
    Type: CommaDelimitedList
    Default: ""
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub "${AWS::StackName}-role"
  Bucket:
    Type: AWS::S3::Bucket
Outputs:
  RoleArn: {Value: !GetAtt Role.Arn}
  BucketName: {Value: !Ref Bucket}
`

func TestParse(t *testing.T) {
	info, err := templates.Parse([]byte(tmpl))
	if err != nil {
		t.Fatal(err)
	}
	want := []templates.Resource{{LogicalID: "Bucket", Type: "AWS::S3::Bucket"}, {LogicalID: "Role", Type: "AWS::IAM::Role"}}
	if diff := cmp.Diff(want, info.Resources); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"CAPABILITY_NAMED_IAM"}, info.Capabilities); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"BucketName", "RoleArn"}, info.Outputs); diff != "" {
		t.Error(diff)
	}
	if len(info.Parameters) != 5 {
		t.Errorf("got %d parameters, want 5", len(info.Parameters))
	}
}

func TestParseJSONAndErrors(t *testing.T) {
	if _, err := templates.Parse([]byte(`{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`)); err != nil {
		t.Errorf("JSON template: %v", err)
	}
	for _, bad := range []string{"Resources: [", "Parameters: {}", `{"Resources": {"Q": {}}}`} {
		if _, err := templates.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	info, err := templates.Parse([]byte(tmpl))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		values map[string]string
		want   []string
	}{
		{"ok", map[string]string{"Env": "dev"}, nil},
		{"required missing", map[string]string{}, []string{"parameter Env is required (the template gives no Default)"}},
		{"undeclared", map[string]string{"Env": "dev", "Stage": "x"}, []string{"parameter Stage is not declared by the template"}},
		{"not allowed", map[string]string{"Env": "qa"}, []string{`parameter Env: value "qa" is not one of the AllowedValues [dev, prod]`}},
		{"pattern and length", map[string]string{"Env": "dev", "Name": "ABC"}, []string{`parameter Name: value "ABC" does not match AllowedPattern [a-z]+`}},
		{"too long", map[string]string{"Env": "dev", "Name": "abcdefghij"}, []string{`parameter Name: value "abcdefghij" is longer than MaxLength 8`}},
		{"number bounds", map[string]string{"Env": "dev", "Count": "9"}, []string{`parameter Count: value "9" is outside [1, 5]`}},
		{"not a number", map[string]string{"Env": "dev", "Count": "two"}, []string{`parameter Count: value "two" is not a number`}},
		{"NoEcho value not shown", map[string]string{"Env": "dev", "Secret": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range info.Check(tt.values) {
				got = append(got, p.Message)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
	if got := info.Mask(map[string]string{"Secret": "hunter2", "Env": "dev"}); got["Secret"] != "****" || got["Env"] != "dev" {
		t.Errorf("Mask = %v", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(tmpl))
	f.Add([]byte("1000000A: }\nregions: !00 "))
	f.Add([]byte(`{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := templates.Parse(body)
		if err == nil {
			info.Check(map[string]string{"Env": "dev"})
		}
	})
}

// What CloudFormation rejects on validation is rejected when the template is read, once, with
// CloudFormation's wording; a template with a Transform is left to CloudFormation.
func TestParseRejectsInvalidTemplates(t *testing.T) {
	big := "Resources:\n  T: {Type: AWS::SNS::Topic}\nDescription: " + strings.Repeat("x", templates.MaxS3Bytes) + "\n"
	var many strings.Builder
	many.WriteString("Resources:\n")
	for i := range templates.MaxResources + 1 {
		fmt.Fprintf(&many, "  T%d: {Type: AWS::SNS::Topic}\n", i)
	}
	tests := []struct{ name, body, want string }{
		{"cycle", "Resources:\n  A: {Type: AWS::SNS::Topic, DependsOn: B}\n  B: {Type: AWS::SNS::Topic, DependsOn: A}\n", "Circular dependency between resources: [A, B]"},
		{"missing ref", "Resources:\n  A: {Type: AWS::SNS::Topic, Properties: {TopicName: !Ref Missing}}\n", "Unresolved resource dependencies [Missing]"},
		{"bad sub", "Resources:\n  A: {Type: AWS::SNS::Topic, Properties: {TopicName: !Sub '${Nope}-x'}}\n", "Unresolved resource dependencies [Nope]"},
		{"too big", big, "CloudFormation accepts at most 1000000 (through S3; 51200 in a request)"},
		{"too many resources", many.String(), "declares 501 resources; CloudFormation allows at most 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := templates.Parse([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	sam := "Transform: AWS::Serverless-2016-10-31\nResources:\n  F: {Type: AWS::Serverless::Function, Properties: {Handler: a, Runtime: python3.12, CodeUri: s3://b/k}}\n"
	if _, err := templates.Parse([]byte(sam)); err != nil {
		t.Errorf("a SAM template was rejected before its transform: %v", err)
	}
}

func TestParseRejectsUnknownResourceTypes(t *testing.T) {
	for _, tt := range []struct{ typ, want string }{
		{"AWS::Foo::Bar", "resource A has type AWS::Foo::Bar, which is not a CloudFormation resource type"},
		{"AWS::SNS::topic", "did you mean AWS::SNS::Topic?"},
		{"AWS::SNS::Topic", ""},
		{"AWS::CDK::Metadata", ""},
		{"Custom::Anything", ""},
		{"MyOrg::Team::Widget", ""},
		{"MyOrg::Team::Widget::MODULE", ""},
	} {
		_, err := templates.Parse([]byte("Resources:\n  A: {Type: " + tt.typ + "}\n"))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tt.typ, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.typ, err, tt.want)
		}
	}
}
