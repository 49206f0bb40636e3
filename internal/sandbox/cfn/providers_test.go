package cfn_test

import (
	"regexp"
	"strings"
	"testing"
)

const allTypes = `
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument: {Statement: []}
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: v}
  Queue:
    Type: AWS::SQS::Queue
  Fifo:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Topic:
    Type: AWS::SNS::Topic
  Role:
    Type: AWS::IAM::Role
    Properties:
      Path: /svc/
      AssumeRolePolicyDocument: {Statement: []}
  InlinePolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: p
      PolicyDocument: {Statement: []}
      Roles: [!Ref Role]
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: {Statement: []}
  Key:
    Type: AWS::KMS::Key
  Alias:
    Type: AWS::KMS::Alias
    Properties: {AliasName: alias/app, TargetKeyId: !Ref Key}
  Repo:
    Type: AWS::ECR::Repository
  Logs:
    Type: AWS::Logs::LogGroup
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      ComparisonOperator: GreaterThanThreshold
      EvaluationPeriods: 1
      MetricName: Errors
      Namespace: AWS/Lambda
      Statistic: Sum
      Period: 60
      Threshold: 1
      Dimensions: [{Name: FunctionName, Value: !Ref Fn}]
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Role: !GetAtt Role.Arn
      Runtime: python3.12
      Handler: index.handler
      Code: {ZipFile: "def handler(e, c): pass"}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Handle:
    Type: AWS::CloudFormation::WaitConditionHandle
  Wait:
    Type: AWS::CloudFormation::WaitCondition
    Properties: {Handle: !Ref Handle, Timeout: "60"}
Outputs:
  BucketRef: {Value: !Ref Bucket}
  BucketArn: {Value: !GetAtt Bucket.Arn}
  BucketDomain: {Value: !GetAtt Bucket.DomainName}
  BucketRegional: {Value: !GetAtt Bucket.RegionalDomainName}
  BucketWebsite: {Value: !GetAtt Bucket.WebsiteURL}
  PolicyRef: {Value: !Ref Policy}
  ParamRef: {Value: !Ref Param}
  ParamType: {Value: !GetAtt Param.Type}
  ParamValue: {Value: !GetAtt Param.Value}
  QueueRef: {Value: !Ref Queue}
  QueueArn: {Value: !GetAtt Queue.Arn}
  QueueName: {Value: !GetAtt Queue.QueueName}
  QueueUrl: {Value: !GetAtt Queue.QueueUrl}
  FifoName: {Value: !GetAtt Fifo.QueueName}
  TopicRef: {Value: !Ref Topic}
  TopicName: {Value: !GetAtt Topic.TopicName}
  RoleRef: {Value: !Ref Role}
  RoleArn: {Value: !GetAtt Role.Arn}
  RoleId: {Value: !GetAtt Role.RoleId}
  ManagedRef: {Value: !Ref Managed}
  KeyRef: {Value: !Ref Key}
  KeyArn: {Value: !GetAtt Key.Arn}
  AliasRef: {Value: !Ref Alias}
  RepoRef: {Value: !Ref Repo}
  RepoArn: {Value: !GetAtt Repo.Arn}
  RepoUri: {Value: !GetAtt Repo.RepositoryUri}
  LogsRef: {Value: !Ref Logs}
  LogsArn: {Value: !GetAtt Logs.Arn}
  AlarmRef: {Value: !Ref Alarm}
  AlarmArn: {Value: !GetAtt Alarm.Arn}
  FnRef: {Value: !Ref Fn}
  FnArn: {Value: !GetAtt Fn.Arn}
  TableRef: {Value: !Ref Table}
  TableArn: {Value: !GetAtt Table.Arn}
  TableStream: {Value: !GetAtt Table.StreamArn}
  HandleRef: {Value: !Ref Handle}
  WaitData: {Value: !GetAtt Wait.Data}
`

func TestProviderValues(t *testing.T) {
	const (
		a = `111111111111`
		r = `us-east-1`
		u = `[A-Z0-9]{12}`
	)
	want := map[string]string{
		"BucketRef":      `^all-bucket-[a-z0-9]{12}$`,
		"BucketArn":      `^arn:aws:s3:::all-bucket-[a-z0-9]{12}$`,
		"BucketDomain":   `^all-bucket-[a-z0-9]{12}\.s3\.amazonaws\.com$`,
		"BucketRegional": `^all-bucket-[a-z0-9]{12}\.s3\.us-east-1\.amazonaws\.com$`,
		"BucketWebsite":  `^http://all-bucket-[a-z0-9]{12}\.s3-website-us-east-1\.amazonaws\.com$`,
		"PolicyRef":      `^all-bucket-[a-z0-9]{12}$`,
		"ParamRef":       `^CFN-Param-` + u + `$`,
		"ParamType":      `^String$`,
		"ParamValue":     `^v$`,
		"QueueRef":       `^https://sqs\.us-east-1\.amazonaws\.com/` + a + `/all-Queue-` + u + `$`,
		"QueueArn":       `^arn:aws:sqs:` + r + `:` + a + `:all-Queue-` + u + `$`,
		"QueueName":      `^all-Queue-` + u + `$`,
		"QueueUrl":       `^https://sqs\.us-east-1\.amazonaws\.com/` + a + `/all-Queue-` + u + `$`,
		"FifoName":       `^all-Fifo-` + u + `\.fifo$`,
		"TopicRef":       `^arn:aws:sns:` + r + `:` + a + `:all-Topic-` + u + `$`,
		"TopicName":      `^all-Topic-` + u + `$`,
		"RoleRef":        `^all-Role-` + u + `$`,
		"RoleArn":        `^arn:aws:iam::` + a + `:role/svc/all-Role-` + u + `$`,
		"RoleId":         `^AROA`,
		"ManagedRef":     `^arn:aws:iam::` + a + `:policy/all-Managed-` + u + `$`,
		"KeyRef":         `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`,
		"KeyArn":         `^arn:aws:kms:` + r + `:` + a + `:key/[0-9a-f-]{36}$`,
		"AliasRef":       `^alias/app$`,
		"RepoRef":        `^all-repo-[a-z0-9]{12}$`,
		"RepoArn":        `^arn:aws:ecr:` + r + `:` + a + `:repository/all-repo-[a-z0-9]{12}$`,
		"RepoUri":        `^` + a + `\.dkr\.ecr\.us-east-1\.amazonaws\.com/all-repo-[a-z0-9]{12}$`,
		"LogsRef":        `^all-Logs-` + u + `$`,
		"LogsArn":        `^arn:aws:logs:` + r + `:` + a + `:log-group:all-Logs-` + u + `:\*$`,
		"AlarmRef":       `^all-Alarm-` + u + `$`,
		"AlarmArn":       `^arn:aws:cloudwatch:` + r + `:` + a + `:alarm:all-Alarm-` + u + `$`,
		"FnRef":          `^all-Fn-` + u + `$`,
		"FnArn":          `^arn:aws:lambda:` + r + `:` + a + `:function:all-Fn-` + u + `$`,
		"TableRef":       `^all-Table-` + u + `$`,
		"TableArn":       `^arn:aws:dynamodb:` + r + `:` + a + `:table/all-Table-` + u + `$`,
		"TableStream":    `^arn:aws:dynamodb:` + r + `:` + a + `:table/all-Table-` + u + `/stream/`,
		"HandleRef":      `^https://cloudformation-waitcondition-us-east-1\.s3\.amazonaws\.com/`,
		"WaitData":       `^\{\}$`,
	}
	run(t, func(t *testing.T, h *harness) {
		s := h.create("all", allTypes, nil)
		if s["StackStatus"] != "CREATE_COMPLETE" {
			t.Fatalf("status = %v %v %q", s["StackStatus"], s["StackStatusReason"], h.events("all"))
		}
		got := outputs(s)
		for k, re := range want {
			if !regexp.MustCompile(re).MatchString(got[k]) {
				t.Errorf("%s = %q, want match %s", k, got[k], re)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d outputs, want %d", len(got), len(want))
		}
		// The alarm reached CloudWatch with its dimensions resolved.
		h.fx.mu.Lock()
		alarm, ok := h.fx.alarms[acct+"/"+region+"/"+got["AlarmRef"]]
		h.fx.mu.Unlock()
		if !ok || alarm.Dimensions["FunctionName"] != got["FnRef"] || alarm.Threshold != 1 || alarm.Period != 60 || !alarm.ActionsEnabled {
			t.Errorf("alarm = %+v, %v", alarm, ok)
		}
		// Generated names respect length limits.
		long := strings.Repeat("a", 120)
		s = h.create(long, "Resources:\n  ARoleWithAVeryLongLogicalIdentifierIndeed:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n  B:\n    Type: AWS::S3::Bucket\n", nil)
		res := h.resources(long)
		if n := len(res["ARoleWithAVeryLongLogicalIdentifierIndeed"]); n > 64 || n < 40 {
			t.Errorf("role name %q has %d characters", res["ARoleWithAVeryLongLogicalIdentifierIndeed"], n)
		}
		if n := len(res["B"]); n > 63 {
			t.Errorf("bucket name %q has %d characters", res["B"], n)
		}
	})
}
