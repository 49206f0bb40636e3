package cfn_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

// baselineTemplate uses the types organization baselines and CDK apps use most.
const baselineTemplate = `Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Subnet:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24}
  Igw:
    Type: AWS::EC2::InternetGateway
  Attach:
    Type: AWS::EC2::VPCGatewayAttachment
    Properties: {VpcId: !Ref Vpc, InternetGatewayId: !Ref Igw}
  Routes:
    Type: AWS::EC2::RouteTable
    Properties: {VpcId: !Ref Vpc}
  Default:
    Type: AWS::EC2::Route
    DependsOn: Attach
    Properties: {RouteTableId: !Ref Routes, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref Igw}
  Assoc:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: {RouteTableId: !Ref Routes, SubnetId: !Ref Subnet}
  Eip:
    Type: AWS::EC2::EIP
    Properties: {Domain: vpc}
  Nat:
    Type: AWS::EC2::NatGateway
    Properties: {SubnetId: !Ref Subnet, AllocationId: !GetAtt Eip.AllocationId}
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: web, VpcId: !Ref Vpc}
  Topic:
    Type: AWS::SNS::Topic
  Sub:
    Type: AWS::SNS::Subscription
    Properties: {Protocol: email, Endpoint: ops@example.com, TopicArn: !Ref Topic}
  TopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref Topic]
      PolicyDocument: {Statement: [{Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sns:Publish, Resource: !Ref Topic}]}
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties: {Name: app/db}
  User:
    Type: AWS::IAM::User
  Group:
    Type: AWS::IAM::Group
  Profile:
    Type: AWS::IAM::InstanceProfile
    Properties: {Roles: [some-role]}
  Rule:
    Type: AWS::Config::ConfigRule
    Properties: {Source: {Owner: AWS, SourceIdentifier: S3_BUCKET_VERSIONING_ENABLED}}
  Analyzer:
    Type: AWS::AccessAnalyzer::Analyzer
    Properties: {Type: ORGANIZATION}
  Events:
    Type: AWS::Events::Rule
    Properties: {ScheduleExpression: rate(1 day)}
  Perm:
    Type: AWS::Lambda::Permission
    Properties: {Action: lambda:InvokeFunction, FunctionName: fn, Principal: events.amazonaws.com}
  Version:
    Type: AWS::Lambda::Version
    Properties: {FunctionName: fn}
  Alias:
    Type: AWS::Lambda::Alias
    Properties: {FunctionName: fn, FunctionVersion: !GetAtt Version.Version, Name: live}
  CDKMetadata:
    Type: AWS::CDK::Metadata
    Properties: {Analytics: v2:deflate64:H4sI}
Outputs:
  Vpc: {Value: !Ref Vpc}
  DefaultSg: {Value: !GetAtt Vpc.DefaultSecurityGroup}
  Subnet: {Value: !Ref Subnet}
  Az: {Value: !GetAtt Subnet.AvailabilityZone}
  Igw: {Value: !Ref Igw}
  Nat: {Value: !Ref Nat}
  Eip: {Value: !GetAtt Eip.AllocationId}
  Sg: {Value: !GetAtt Sg.GroupId}
  Sub: {Value: !Ref Sub}
  Secret: {Value: !Ref Secret}
  User: {Value: !GetAtt User.Arn}
  Profile: {Value: !GetAtt Profile.Arn}
  Rule: {Value: !GetAtt Rule.Arn}
  Analyzer: {Value: !Ref Analyzer}
  Events: {Value: !GetAtt Events.Arn}
  Alias: {Value: !Ref Alias}
`

func TestBaselineTypes(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		s := h.create("base", baselineTemplate, nil)
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Fatalf("status %v: %q", s["StackStatus"], h.events("base"))
		}
		want := map[string]string{
			"Vpc":       `^vpc-[0-9a-f]{17}$`,
			"DefaultSg": `^sg-[0-9a-f]{17}$`,
			"Subnet":    `^subnet-[0-9a-f]{17}$`,
			"Az":        `^us-east-1a$`,
			"Igw":       `^igw-[0-9a-f]{17}$`,
			"Nat":       `^nat-[0-9a-f]{17}$`,
			"Eip":       `^eipalloc-[0-9a-f]{17}$`,
			"Sg":        `^sg-[0-9a-f]{17}$`,
			"Sub":       `^arn:aws:sns:us-east-1:111111111111:base-Topic-[A-Z0-9]+:[0-9a-f-]{36}$`,
			"Secret":    `^arn:aws:secretsmanager:us-east-1:111111111111:secret:app/db-[A-Za-z0-9]{6}$`,
			"User":      `^arn:aws:iam::111111111111:user/base-User-[A-Z0-9]+$`,
			"Profile":   `^arn:aws:iam::111111111111:instance-profile/base-Profile-[A-Z0-9]+$`,
			"Rule":      `^arn:aws:config:us-east-1:111111111111:config-rule/config-rule-[a-z0-9]{6}$`,
			"Analyzer":  `^arn:aws:access-analyzer:us-east-1:111111111111:analyzer/base-Analyzer-[A-Z0-9]+$`,
			"Events":    `^arn:aws:events:us-east-1:111111111111:rule/base-Events-[A-Z0-9]+$`,
			"Alias":     `^arn:aws:lambda:us-east-1:111111111111:function:fn:live$`,
		}
		got := outputs(s)
		for k, re := range want {
			if !regexp.MustCompile(re).MatchString(got[k]) {
				t.Errorf("output %s = %q, want %s", k, got[k], re)
			}
		}
		h.must("DeleteStack", awsproto.Object{"StackName": "base"})
		if st := h.wait(s["StackId"].(string)); st["StackStatus"] != "DELETE_COMPLETE" {
			t.Errorf("delete: %v", st["StackStatus"])
		}
	})
}

// TestCustomResources: a custom resource answers with the Data set for it; a missing
// attribute and a failed response fail the way CloudFormation reports them.
func TestCustomResources(t *testing.T) {
	const tmpl = `Resources:
  Lookup:
    Type: Custom::Lookup
    Properties: {ServiceToken: arn:aws:lambda:us-east-1:111111111111:function:lookup}
Outputs:
  Answer: {Value: !GetAtt Lookup.Answer}
  Id: {Value: !Ref Lookup}
`
	run(t, func(t *testing.T, h *harness) {
		h.fx.Custom = func(logical, request string) cfn.CustomResponse {
			return cfn.CustomResponse{PhysicalResourceID: "lookup-1", Data: map[string]any{"Answer": "42"}}
		}
		s := h.create("ok", tmpl, nil)
		if got := outputs(s); got["Answer"] != "42" || got["Id"] != "lookup-1" {
			t.Errorf("outputs %v (status %v)", got, s["StackStatus"])
		}
		h.fx.Custom = func(string, string) cfn.CustomResponse { return cfn.CustomResponse{} }
		s = h.create("nodata", tmpl, nil)
		if s["StackStatus"] != "ROLLBACK_COMPLETE" || !anyContains(h.events("nodata"), "Vendor response doesn't contain Answer attribute") {
			t.Errorf("missing attribute: %v %q", s["StackStatus"], h.events("nodata"))
		}
		h.fx.Custom = func(_, request string) cfn.CustomResponse { return cfn.CustomResponse{Reason: "lookup table empty"} }
		s = h.create("failed", tmpl, nil)
		if indexOf(h.events("failed"), "Lookup CREATE_FAILED Received response status [FAILED] from custom resource. Message returned: lookup table empty") < 0 {
			t.Errorf("failed response: %v %q", s["StackStatus"], h.events("failed"))
		}
	})
}

// TestTemplateChecks: what CloudFormation refuses, before or while it deploys.
func TestTemplateChecks(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		var many strings.Builder
		many.WriteString("Resources:\n")
		for i := range 501 {
			fmt.Fprintf(&many, "  T%d:\n    Type: AWS::SNS::Topic\n", i)
		}
		rules := `Parameters:
  Env: {Type: String}
Rules:
  KnownEnv:
    Assertions:
      - Assert: !Contains [[dev, prod], !Ref Env]
        AssertDescription: Env must be dev or prod
Resources:
  T: {Type: AWS::SNS::Topic}
`
		for _, tc := range []struct {
			name   string
			params awsproto.Object
			want   string
		}{
			{"too many resources", awsproto.Object{"TemplateBody": many.String()}, "ValidationError: Template format error: Number of resources, 501, is greater than maximum allowed, 500"},
			{"not simulated", awsproto.Object{"TemplateBody": "Resources:\n  J: {Type: AWS::Glue::Job}\n"}, "the sandbox does not simulate the resource types [AWS::Glue::Job]"},
			{"misspelled", awsproto.Object{"TemplateBody": "Resources:\n  J: {Type: AWS::SNS::Topik}\n"}, "ValidationError: Template format error: Unrecognized resource types: [AWS::SNS::Topik]"},
			{"rule", awsproto.Object{"TemplateBody": rules, "Parameters": []any{awsproto.Object{"ParameterKey": "Env", "ParameterValue": "test"}}}, "ValidationError: Env must be dev or prod"},
		} {
			p := awsproto.Object{"StackName": "x"}
			for k, v := range tc.params {
				p[k] = v
			}
			_, err := h.call("CreateStack", p)
			if got := apiErr(t, err); !strings.Contains(got, tc.want) {
				t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
			}
		}
		s := h.create("ruled", rules, awsproto.Object{"Parameters": []any{awsproto.Object{"ParameterKey": "Env", "ParameterValue": "prod"}}})
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Errorf("rule holding: %v", s["StackStatus"])
		}

		for _, tc := range []struct{ name, body, event string }{
			{"deprecated runtime", "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties: {Runtime: nodejs12.x, Handler: i.h, Role: r, Code: {ZipFile: x}}\n",
				"The runtime parameter of nodejs12.x is no longer supported"},
			{"missing code", "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties: {Runtime: nodejs22.x, Handler: i.h, Role: r, Code: {S3Bucket: b, S3Key: k.zip}}\n",
				"S3 Error Code: NoSuchKey"},
			{"bucket ACL", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {AccessControl: PublicRead}\n",
				"Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"},
			{"missing parameter", "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties: {Type: String, Value: '{{resolve:ssm:/nope}}'}\n",
				"Unable to fetch parameters [/nope] from parameter store for this account."},
		} {
			name := strings.ReplaceAll(tc.name, " ", "-")
			s := h.create(name, tc.body, nil)
			if s["StackStatus"] != "ROLLBACK_COMPLETE" || !anyContains(h.events(name), tc.event) {
				t.Errorf("%s: %v %q", tc.name, s["StackStatus"], h.events(name))
			}
		}
	})
}

// TestDynamicReferences resolves {{resolve:ssm:…}} and {{resolve:ssm-secure:…}} from SSM
// when the resource is created.
func TestDynamicReferences(t *testing.T) {
	run(t, func(t *testing.T, h *harness) {
		for name, value := range map[string]string{"/cfg/domain": "example.com", "/cfg/token": "s3cr3t"} {
			if err := h.fx.PutParameter(acct, region, cfn.Parameter{Name: name, Type: "String", Value: value}, false); err != nil {
				t.Fatal(err)
			}
		}
		s := h.create("dyn", `Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: 'https://{{resolve:ssm:/cfg/domain}}/?t={{resolve:ssm-secure:/cfg/token:1}}'
Outputs:
  V: {Value: !GetAtt P.Value}
`, nil)
		if got := outputs(s)["V"]; got != "https://example.com/?t=s3cr3t" {
			t.Errorf("value %q (status %v)", got, s["StackStatus"])
		}
	})
}

func anyContains(events []string, part string) bool {
	for _, e := range events {
		if strings.Contains(e, part) {
			return true
		}
	}
	return false
}
