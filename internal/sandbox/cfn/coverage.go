package cfn

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
)

// The resource types organization baselines and CDK apps use most, beyond those with effects
// in other sandbox services (providers.go). They have no effect outside CloudFormation: each
// generates the physical id AWS would (vpc-…, sg-…, an ARN), and answers Ref and Fn::GetAtt
// with AWS's shapes.

const lowerHex = hexDigits

// versions numbers Lambda versions and layer versions, increasing across the engine.
var versions atomic.Int64

func randomIndex(n int) int { return randIntN(n) }

// awsID returns a generator of EC2-style ids: prefix-<17 hex>.
func awsID(prefix string) func(*provCtx, map[string]any) string {
	return func(*provCtx, map[string]any) string { return prefix + "-" + randomString(17, lowerHex) }
}

// arnAttr returns an attribute (or Ref) of arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE+id; global
// services (IAM) have no region.
func arnOf(service, resource string, regional bool) func(account, region string, p *physical) string {
	return func(account, region string, p *physical) string {
		if !regional {
			region = ""
		}
		return "arn:aws:" + service + ":" + region + ":" + account + ":" + resource + p.ID
	}
}

func anyOf(f func(account, region string, p *physical) string) func(string, string, *physical) any {
	return func(a, r string, p *physical) any { return f(a, r, p) }
}

// fixed returns an attribute with a constant value.
func fixed(v any) func(string, string, *physical) any {
	return func(string, string, *physical) any { return v }
}

// azOf is the first availability zone of the region, or the AvailabilityZone property.
func azOf(_, region string, p *physical) any {
	if az := propString(p.Props, "AvailabilityZone"); az != "" {
		return az
	}
	return region + "a"
}

type attrs = map[string]func(string, string, *physical) any

func init() {
	iamARN := func(kind string) func(account, region string, p *physical) string {
		return func(account, _ string, p *physical) string {
			return "arn:aws:iam::" + account + ":" + kind + iamPath(p.Props) + p.ID
		}
	}
	more := map[string]*provider{
		"AWS::CDK::Metadata": {
			genID: func(*provCtx, map[string]any) string { return newUUID() },
			attrs: attrs{},
		},
		"AWS::SNS::Subscription": {
			required: []string{"Protocol", "TopicArn"}, replace: []string{"Protocol", "TopicArn", "Endpoint"},
			genID: func(_ *provCtx, props map[string]any) string { return propString(props, "TopicArn") + ":" + newUUID() },
			attrs: attrs{"Arn": idAttr},
		},
		"AWS::SNS::TopicPolicy": {
			required: []string{"PolicyDocument", "Topics"},
			genID: func(c *provCtx, _ map[string]any) string {
				return physicalName(c.stackName, c.logicalID, 255, 12, false)
			},
			attrs: attrs{"Id": idAttr},
		},
		"AWS::SQS::QueuePolicy": {
			required: []string{"PolicyDocument", "Queues"},
			genID: func(c *provCtx, _ map[string]any) string {
				return physicalName(c.stackName, c.logicalID, 255, 12, false)
			},
			attrs: attrs{"Id": idAttr},
		},
		"AWS::Lambda::Permission": {
			required: []string{"Action", "FunctionName", "Principal"}, modelValidation: true,
			replace: []string{"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "PrincipalOrgID", "FunctionUrlAuthType"},
			genID: func(c *provCtx, props map[string]any) string {
				return physicalName(c.stackName, c.logicalID, 100, 12, false)
			},
			attrs: attrs{"Id": idAttr},
		},
		"AWS::Lambda::Version": {
			required: []string{"FunctionName"}, modelValidation: true, replace: []string{"FunctionName", "CodeSha256", "Description", "ProvisionedConcurrencyConfig", "RuntimePolicy"},
			genID: func(c *provCtx, props map[string]any) string {
				return functionARN(c.account, c.region, propString(props, "FunctionName")) + ":" + fmt.Sprint(versions.Add(1))
			},
			attrs: attrs{
				"Version":     func(_, _ string, p *physical) any { return p.ID[strings.LastIndexByte(p.ID, ':')+1:] },
				"FunctionArn": func(_, _ string, p *physical) any { return p.ID[:strings.LastIndexByte(p.ID, ':')] },
			},
		},
		"AWS::Lambda::Alias": {
			required: []string{"FunctionName", "FunctionVersion", "Name"}, modelValidation: true, replace: []string{"FunctionName", "Name"},
			genID: func(c *provCtx, props map[string]any) string {
				return functionARN(c.account, c.region, propString(props, "FunctionName")) + ":" + propString(props, "Name")
			},
			attrs: attrs{"AliasArn": idAttr},
		},
		"AWS::Lambda::EventSourceMapping": {
			required: []string{"FunctionName"}, modelValidation: true, replace: []string{"EventSourceArn", "StartingPosition"},
			genID: func(*provCtx, map[string]any) string { return newUUID() },
			attrs: attrs{"Id": idAttr, "EventSourceMappingArn": func(a, r string, p *physical) any {
				return arnPrefix("lambda", r, a) + "event-source-mapping:" + p.ID
			}},
		},
		"AWS::Lambda::LayerVersion": {
			required: []string{"Content"}, modelValidation: true, replace: []string{"Content", "LayerName", "CompatibleRuntimes", "Description", "LicenseInfo"},
			genID: func(c *provCtx, props map[string]any) string {
				name := propString(props, "LayerName")
				if name == "" {
					name = c.logicalID
				}
				return arnPrefix("lambda", c.region, c.account) + "layer:" + name + ":" + fmt.Sprint(versions.Add(1))
			},
			attrs: attrs{"LayerVersionArn": idAttr},
		},
		"AWS::Lambda::Url": {
			required: []string{"AuthType", "TargetFunctionArn"}, modelValidation: true, replace: []string{"TargetFunctionArn", "Qualifier"},
			genID: func(*provCtx, map[string]any) string { return randomString(32, lowerAlnum) },
			attrs: attrs{
				"FunctionUrl": func(_, r string, p *physical) any { return "https://" + p.ID + ".lambda-url." + r + ".on.aws/" },
				"FunctionArn": propAttr("TargetFunctionArn"),
			},
		},
		"AWS::SecretsManager::Secret": {
			replace: []string{"Name"},
			genID: func(c *provCtx, props map[string]any) string {
				name := propString(props, "Name")
				if name == "" {
					name = physicalName(c.logicalID, "", 512, 12, false)
				}
				return arnPrefix("secretsmanager", c.region, c.account) + "secret:" + name + "-" + randomString(6, upperAlnum+"abcdefghijklmnopqrstuvwxyz")
			},
			attrs: attrs{"Id": idAttr},
		},
		"AWS::SecretsManager::SecretTargetAttachment": {
			required: []string{"SecretId", "TargetId", "TargetType"}, modelValidation: true,
			fixID: func(props map[string]any) string { return propString(props, "SecretId") },
			attrs: attrs{"Id": idAttr},
		},
		"AWS::SecretsManager::RotationSchedule": {
			required: []string{"SecretId"}, modelValidation: true,
			fixID: func(props map[string]any) string { return propString(props, "SecretId") },
			attrs: attrs{"Id": idAttr},
		},
		"AWS::SecretsManager::ResourcePolicy": {
			required: []string{"SecretId", "ResourcePolicy"}, modelValidation: true,
			fixID: func(props map[string]any) string { return propString(props, "SecretId") },
			attrs: attrs{"Id": idAttr},
		},
		"AWS::IAM::User": {
			replace: []string{"UserName", "Path"}, nameProp: "UserName", maxName: 64,
			attrs: attrs{"Arn": anyOf(iamARN("user"))},
		},
		"AWS::IAM::Group": {
			replace: []string{"GroupName", "Path"}, nameProp: "GroupName", maxName: 128,
			attrs: attrs{"Arn": anyOf(iamARN("group"))},
		},
		"AWS::IAM::InstanceProfile": {
			required: []string{"Roles"}, modelValidation: true, replace: []string{"InstanceProfileName", "Path"},
			nameProp: "InstanceProfileName", maxName: 128,
			attrs: attrs{"Arn": anyOf(iamARN("instance-profile"))},
		},
		"AWS::IAM::UserToGroupAddition": {
			required: []string{"GroupName", "Users"},
			genID: func(c *provCtx, _ map[string]any) string {
				return physicalName(c.stackName, c.logicalID, 255, 12, false)
			},
			attrs: attrs{},
		},
		"AWS::IAM::AccessKey": {
			required: []string{"UserName"}, replace: []string{"UserName", "Serial"},
			genID: func(*provCtx, map[string]any) string { return "AKIA" + randomString(16, upperAlnum) },
			attrs: attrs{"SecretAccessKey": func(_, _ string, p *physical) any { return p.Aux }},
			create: func(_ *provCtx, p *physical) error {
				p.Aux = randomString(40, upperAlnum+"abcdefghijklmnopqrstuvwxyz/+")
				return nil
			},
			update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
		},
		"AWS::IAM::ServiceLinkedRole": {
			required: []string{"AWSServiceName"}, replace: []string{"AWSServiceName", "CustomSuffix"},
			genID: func(_ *provCtx, props map[string]any) string {
				svc, _, _ := strings.Cut(propString(props, "AWSServiceName"), ".")
				return "AWSServiceRoleFor" + strings.ToUpper(svc[:min(1, len(svc))]) + svc[min(1, len(svc)):]
			},
			attrs: attrs{"RoleName": idAttr},
		},
		"AWS::IAM::OIDCProvider": {
			required: []string{"Url"}, modelValidation: true, replace: []string{"Url"},
			genID: func(c *provCtx, props map[string]any) string {
				return "arn:aws:iam::" + c.account + ":oidc-provider/" + strings.TrimPrefix(propString(props, "Url"), "https://")
			},
			attrs: attrs{"Arn": idAttr},
		},
		"AWS::IAM::RolePolicy": {
			required: []string{"PolicyName", "RoleName"}, modelValidation: true, replace: []string{"PolicyName", "RoleName"},
			genID: func(_ *provCtx, props map[string]any) string {
				return propString(props, "PolicyName") + "|" + propString(props, "RoleName")
			},
			attrs: attrs{},
		},
		"AWS::EC2::VPC": {
			replace: []string{"CidrBlock", "InstanceTenancy", "Ipv4IpamPoolId"},
			genID:   awsID("vpc"),
			attrs: attrs{
				"VpcId":                 idAttr,
				"CidrBlock":             propAttr("CidrBlock"),
				"CidrBlockAssociations": func(string, string, *physical) any { return []any{"vpc-cidr-assoc-" + randomString(17, lowerHex)} },
				"DefaultNetworkAcl":     func(_, _ string, p *physical) any { return "acl-" + p.Aux },
				"DefaultSecurityGroup":  func(_, _ string, p *physical) any { return "sg-" + p.Aux },
				"Ipv6CidrBlocks":        fixed([]any{}),
			},
			create: func(_ *provCtx, p *physical) error { p.Aux = randomString(17, lowerHex); return nil },
			update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
		},
		"AWS::EC2::Subnet": {
			required: []string{"VpcId"}, modelValidation: true,
			replace: []string{"VpcId", "CidrBlock", "AvailabilityZone", "AvailabilityZoneId", "Ipv6CidrBlock"},
			genID:   awsID("subnet"),
			attrs: attrs{
				"SubnetId": idAttr, "VpcId": propAttr("VpcId"), "CidrBlock": propAttr("CidrBlock"),
				"AvailabilityZone": azOf, "AvailabilityZoneId": func(_, r string, _ *physical) any { return regionCode(r) + "-az1" },
				"NetworkAclAssociationId": func(string, string, *physical) any { return "aclassoc-" + randomString(17, lowerHex) },
				"Ipv6CidrBlocks":          fixed([]any{}), "OutpostArn": fixed(""),
			},
		},
		"AWS::EC2::RouteTable": {
			required: []string{"VpcId"}, modelValidation: true, replace: []string{"VpcId"},
			genID: awsID("rtb"), attrs: attrs{"RouteTableId": idAttr},
		},
		"AWS::EC2::Route": {
			required: []string{"RouteTableId"}, modelValidation: true,
			replace: []string{"RouteTableId", "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"},
			genID: func(_ *provCtx, props map[string]any) string {
				return propString(props, "RouteTableId") + "|" + propString(props, "DestinationCidrBlock") + propString(props, "DestinationIpv6CidrBlock")
			},
			attrs: attrs{"CidrBlock": propAttr("DestinationCidrBlock")},
		},
		"AWS::EC2::SubnetRouteTableAssociation": {
			required: []string{"RouteTableId", "SubnetId"}, modelValidation: true, replace: []string{"SubnetId"},
			genID: awsID("rtbassoc"), attrs: attrs{"Id": idAttr},
		},
		"AWS::EC2::InternetGateway": {
			genID: awsID("igw"), attrs: attrs{"InternetGatewayId": idAttr},
		},
		"AWS::EC2::VPCGatewayAttachment": {
			required: []string{"VpcId"}, modelValidation: true, replace: []string{"VpcId"},
			genID: func(_ *provCtx, props map[string]any) string {
				return "IGW|" + propString(props, "VpcId")
			},
			attrs: attrs{"AttachmentType": fixed("igw"), "VpcId": propAttr("VpcId")},
		},
		"AWS::EC2::NatGateway": {
			required: []string{"SubnetId"}, modelValidation: true, replace: []string{"SubnetId", "AllocationId", "ConnectivityType", "PrivateIpAddress"},
			genID: awsID("nat"),
			attrs: attrs{"NatGatewayId": idAttr},
		},
		"AWS::EC2::EIP": {
			replace: []string{"Domain", "PublicIpv4Pool"},
			genID: func(*provCtx, map[string]any) string {
				return fmt.Sprintf("3.%d.%d.%d", 1+randomIndex(250), 1+randomIndex(250), 1+randomIndex(250))
			},
			attrs: attrs{
				"PublicIp":     idAttr,
				"AllocationId": func(_, _ string, p *physical) any { return "eipalloc-" + p.Aux },
			},
			create: func(_ *provCtx, p *physical) error { p.Aux = randomString(17, lowerHex); return nil },
			update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
		},
		"AWS::EC2::SecurityGroup": {
			required: []string{"GroupDescription"}, modelValidation: true, replace: []string{"GroupDescription", "GroupName", "VpcId"},
			genID: awsID("sg"),
			attrs: attrs{"GroupId": idAttr, "VpcId": propAttr("VpcId")},
		},
		"AWS::EC2::SecurityGroupIngress": {
			required: []string{"IpProtocol"}, modelValidation: true,
			replace: []string{"GroupId", "GroupName", "IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6", "SourceSecurityGroupId", "SourcePrefixListId"},
			genID:   awsID("sgr"), attrs: attrs{"Id": idAttr},
		},
		"AWS::EC2::SecurityGroupEgress": {
			required: []string{"GroupId", "IpProtocol"}, modelValidation: true,
			replace: []string{"GroupId", "IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6", "DestinationSecurityGroupId", "DestinationPrefixListId"},
			genID:   awsID("sgr"), attrs: attrs{"Id": idAttr},
		},
		"AWS::EC2::VPCEndpoint": {
			required: []string{"ServiceName", "VpcId"}, modelValidation: true, replace: []string{"ServiceName", "VpcId", "VpcEndpointType"},
			genID: awsID("vpce"),
			attrs: attrs{
				"Id": idAttr, "CreationTimestamp": fixed("2026-01-01T00:00:00Z"),
				"DnsEntries": func(_, r string, p *physical) any {
					return []any{"Z7HUB22UULQXV:" + p.ID + "." + propString(p.Props, "ServiceName") + ".vpce.amazonaws.com"}
				},
				"NetworkInterfaceIds": fixed([]any{}),
			},
		},
		"AWS::EC2::FlowLog": {
			required: []string{"ResourceId", "ResourceType"}, modelValidation: true,
			replace: []string{"ResourceId", "ResourceType", "TrafficType", "LogDestination", "LogDestinationType", "LogGroupName", "DeliverLogsPermissionArn", "LogFormat", "MaxAggregationInterval"},
			genID:   awsID("fl"), attrs: attrs{"Id": idAttr},
		},
		"AWS::EC2::NetworkAcl": {
			required: []string{"VpcId"}, modelValidation: true, replace: []string{"VpcId"},
			genID: awsID("acl"), attrs: attrs{"Id": idAttr},
		},
		"AWS::EC2::NetworkAclEntry": {
			required: []string{"NetworkAclId", "Protocol", "RuleAction", "RuleNumber"}, modelValidation: true,
			replace: []string{"NetworkAclId", "RuleNumber", "Egress"},
			genID: func(_ *provCtx, props map[string]any) string {
				return propString(props, "NetworkAclId") + "|" + propString(props, "RuleNumber")
			},
			attrs: attrs{"Id": idAttr},
		},
		"AWS::EC2::LaunchTemplate": {
			required: []string{"LaunchTemplateData"}, modelValidation: true, replace: []string{"LaunchTemplateName"},
			genID: awsID("lt"),
			attrs: attrs{"LaunchTemplateId": idAttr, "LatestVersionNumber": fixed("1"), "DefaultVersionNumber": fixed("1")},
		},
		"AWS::Config::ConfigRule": {
			required: []string{"Source"}, modelValidation: true, replace: []string{"ConfigRuleName"},
			nameProp: "ConfigRuleName", maxName: 128,
			attrs: attrs{
				"Arn": func(a, r string, p *physical) any {
					return arnPrefix("config", r, a) + "config-rule/config-rule-" + strings.ToLower(p.Aux)
				},
				"ConfigRuleId":    func(_, _ string, p *physical) any { return "config-rule-" + strings.ToLower(p.Aux) },
				"Compliance.Type": fixed("COMPLIANT"),
			},
			create: func(_ *provCtx, p *physical) error { p.Aux = randomString(6, lowerAlnum); return nil },
			update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
		},
		"AWS::Config::ConfigurationRecorder": {
			required: []string{"RoleARN"}, modelValidation: true, replace: []string{"Name"}, nameProp: "Name",
			genID: func(*provCtx, map[string]any) string { return "default" },
			attrs: attrs{},
		},
		"AWS::Config::DeliveryChannel": {
			required: []string{"S3BucketName"}, modelValidation: true, replace: []string{"Name"}, nameProp: "Name",
			genID: func(*provCtx, map[string]any) string { return "default" },
			attrs: attrs{},
		},
		"AWS::Config::ConformancePack": {
			required: []string{"ConformancePackName"}, replace: []string{"ConformancePackName"}, nameProp: "ConformancePackName",
			attrs: attrs{},
		},
		"AWS::AccessAnalyzer::Analyzer": {
			required: []string{"Type"}, modelValidation: true, replace: []string{"AnalyzerName", "Type"},
			genID: func(c *provCtx, props map[string]any) string {
				name := propString(props, "AnalyzerName")
				if name == "" {
					name = physicalName(c.stackName, c.logicalID, 255, 12, false)
				}
				return arnPrefix("access-analyzer", c.region, c.account) + "analyzer/" + name
			},
			attrs: attrs{"Arn": idAttr},
		},
		"AWS::Events::Rule": {
			replace: []string{"Name", "EventBusName"}, nameProp: "Name", maxName: 64,
			attrs: attrs{"Arn": anyOf(arnOf("events", "rule/", true))},
		},
		"AWS::Events::EventBus": {
			required: []string{"Name"}, modelValidation: true, replace: []string{"Name"}, nameProp: "Name",
			attrs: attrs{"Arn": anyOf(arnOf("events", "event-bus/", true)), "Name": idAttr, "Policy": fixed("")},
		},
		"AWS::Events::EventBusPolicy": {
			required: []string{"StatementId"}, modelValidation: true, replace: []string{"StatementId", "EventBusName"},
			genID: func(c *provCtx, props map[string]any) string { return propString(props, "StatementId") },
			attrs: attrs{},
		},
		"AWS::Logs::SubscriptionFilter": {
			required: []string{"DestinationArn", "FilterPattern", "LogGroupName"}, modelValidation: true,
			replace: []string{"LogGroupName", "FilterName"}, nameProp: "FilterName",
			attrs: attrs{},
		},
		"AWS::Logs::MetricFilter": {
			required: []string{"FilterPattern", "LogGroupName", "MetricTransformations"}, modelValidation: true,
			replace: []string{"LogGroupName", "FilterName"}, nameProp: "FilterName",
			attrs: attrs{},
		},
		"AWS::Logs::ResourcePolicy": {
			required: []string{"PolicyDocument", "PolicyName"}, modelValidation: true, replace: []string{"PolicyName"}, nameProp: "PolicyName",
			attrs: attrs{},
		},
		"AWS::Logs::LogStream": {
			required: []string{"LogGroupName"}, modelValidation: true, replace: []string{"LogGroupName", "LogStreamName"}, nameProp: "LogStreamName",
			attrs: attrs{},
		},
		"AWS::CloudTrail::Trail": {
			required: []string{"IsLogging", "S3BucketName"}, modelValidation: true, replace: []string{"TrailName"},
			nameProp: "TrailName", maxName: 128,
			attrs: attrs{
				"Arn":         anyOf(arnOf("cloudtrail", "trail/", true)),
				"SnsTopicArn": func(a, r string, p *physical) any { return topicARN(a, r, propString(p.Props, "SnsTopicName")) },
			},
		},
		"AWS::GuardDuty::Detector": {
			required: []string{"Enable"}, modelValidation: true,
			genID: func(*provCtx, map[string]any) string { return randomString(32, lowerHex) },
			attrs: attrs{"Id": idAttr},
		},
		"AWS::SecurityHub::Hub": {
			genID: func(c *provCtx, _ map[string]any) string {
				return arnPrefix("securityhub", c.region, c.account) + "hub/default"
			},
			attrs: attrs{"ARN": idAttr, "SubscribedAt": fixed("2026-01-01T00:00:00.000Z")},
		},
		"AWS::StepFunctions::StateMachine": {
			required: []string{"RoleArn"}, modelValidation: true, replace: []string{"StateMachineName", "StateMachineType"},
			genID: func(c *provCtx, props map[string]any) string {
				name := propString(props, "StateMachineName")
				if name == "" {
					name = physicalName(c.logicalID, "", 80, 12, false)
				}
				return arnPrefix("states", c.region, c.account) + "stateMachine:" + name
			},
			attrs: attrs{
				"Arn":  idAttr,
				"Name": func(_, _ string, p *physical) any { return p.ID[strings.LastIndexByte(p.ID, ':')+1:] },
			},
		},
		"AWS::ApiGateway::RestApi": {
			genID: func(*provCtx, map[string]any) string { return randomString(10, lowerAlnum) },
			attrs: attrs{
				"RestApiId":      idAttr,
				"RootResourceId": func(_, _ string, p *physical) any { return p.Aux },
			},
			create: func(_ *provCtx, p *physical) error { p.Aux = randomString(10, lowerAlnum); return nil },
			update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
		},
		"AWS::ApiGateway::Resource": {
			required: []string{"ParentId", "PathPart", "RestApiId"}, modelValidation: true, replace: []string{"ParentId", "PathPart", "RestApiId"},
			genID: func(*provCtx, map[string]any) string { return randomString(6, lowerAlnum) },
			attrs: attrs{"ResourceId": idAttr},
		},
		"AWS::ApiGateway::Method": {
			required: []string{"HttpMethod", "ResourceId", "RestApiId"}, modelValidation: true, replace: []string{"HttpMethod", "ResourceId", "RestApiId"},
			genID: func(c *provCtx, _ map[string]any) string {
				return physicalName(c.stackName, c.logicalID, 255, 12, false)
			},
			attrs: attrs{},
		},
		"AWS::ApiGateway::Deployment": {
			required: []string{"RestApiId"}, modelValidation: true, replace: []string{"RestApiId", "DeploymentCanarySettings"},
			genID: func(*provCtx, map[string]any) string { return randomString(6, lowerAlnum) },
			attrs: attrs{"DeploymentId": idAttr},
		},
		"AWS::ApiGateway::Stage": {
			required: []string{"RestApiId"}, modelValidation: true, replace: []string{"RestApiId", "StageName"}, nameProp: "StageName",
			attrs: attrs{},
		},
		"AWS::ApiGateway::Account": {
			genID: func(*provCtx, map[string]any) string { return randomString(16, upperAlnum) },
			attrs: attrs{"Id": idAttr},
		},
		"AWS::CloudWatch::Dashboard": {
			required: []string{"DashboardBody"}, replace: []string{"DashboardName"}, nameProp: "DashboardName",
			attrs: attrs{},
		},
		"AWS::CloudWatch::CompositeAlarm": {
			required: []string{"AlarmRule"}, modelValidation: true, replace: []string{"AlarmName"}, nameProp: "AlarmName",
			attrs: attrs{"Arn": anyOf(arnOf("cloudwatch", "alarm:", true))},
		},
		"AWS::Budgets::Budget": {
			required: []string{"Budget"}, modelValidation: true,
			genID: func(c *provCtx, props map[string]any) string {
				if b, ok := props["Budget"].(map[string]any); ok && propString(b, "BudgetName") != "" {
					return propString(b, "BudgetName")
				}
				return physicalName(c.stackName, c.logicalID, 100, 12, false)
			},
			attrs: attrs{},
		},
		"AWS::SSM::Document": {
			required: []string{"Content"}, modelValidation: true, replace: []string{"Name", "DocumentType"}, nameProp: "Name",
			attrs: attrs{},
		},
		"AWS::ECS::Cluster": {
			replace: []string{"ClusterName"}, nameProp: "ClusterName", maxName: 255,
			attrs: attrs{"Arn": anyOf(arnOf("ecs", "cluster/", true))},
		},
		"AWS::Route53::HostedZone": {
			required: []string{"Name"}, replace: []string{"Name", "VPCs"},
			genID: func(*provCtx, map[string]any) string { return "Z" + randomString(20, upperAlnum) },
			attrs: attrs{
				"Id":          idAttr,
				"NameServers": fixed([]any{"ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk", "ns-3.awsdns-03.com", "ns-4.awsdns-04.net"}),
			},
		},
		"AWS::Route53::RecordSet": {
			required: []string{"Name", "Type"}, replace: []string{"Name", "Type", "HostedZoneId", "HostedZoneName", "SetIdentifier"},
			genID: func(_ *provCtx, props map[string]any) string { return propString(props, "Name") },
			attrs: attrs{},
		},
		"AWS::CertificateManager::Certificate": {
			required: []string{"DomainName"}, replace: []string{"DomainName", "SubjectAlternativeNames", "ValidationMethod", "DomainValidationOptions"},
			genID: func(c *provCtx, _ map[string]any) string {
				return arnPrefix("acm", c.region, c.account) + "certificate/" + newUUID()
			},
			attrs: attrs{"Id": idAttr},
		},
		"AWS::Kinesis::Stream": {
			replace: []string{"Name"}, nameProp: "Name", maxName: 128,
			attrs: attrs{"Arn": anyOf(arnOf("kinesis", "stream/", true))},
		},
	}
	for typ, pv := range more {
		if providers[typ] != nil {
			panic("cfn: provider declared twice: " + typ)
		}
		providers[typ] = pv
	}
}

// customProvider simulates AWS::CloudFormation::CustomResource and Custom::* resources. No
// function runs: the resource succeeds with the Data (and physical id, or a failure) given
// for it through Effects.CustomResource, else with no data. Data members are its attributes.
var customProvider = &provider{
	required: []string{"ServiceToken"},
	replace:  []string{"ServiceToken"},
	attrs:    attrs{},
	anyAttr: func(name string) func(string, string, *physical) any {
		return func(_, _ string, p *physical) any {
			var data map[string]any
			_ = json.Unmarshal([]byte(p.Aux), &data)
			if v, ok := data[name]; ok {
				return v
			}
			return attrError(fmt.Sprintf("CustomResource attribute error: Vendor response doesn't contain %s attribute in object %s", name, p.ID))
		}
	},
	genID: func(c *provCtx, _ map[string]any) string {
		return physicalName(c.stackName, c.logicalID, 255, 12, false)
	},
	create: func(c *provCtx, p *physical) error {
		return c.custom(p, "Create")
	},
	update: func(c *provCtx, old, p *physical) error {
		p.ID = old.ID
		return c.custom(p, "Update")
	},
	delete: func(c *provCtx, p *physical) error {
		return c.custom(p, "Delete")
	},
}

// attrError is an attribute that cannot be resolved; getAtt fails with it.
type attrError string

func (e attrError) Error() string { return string(e) }

// CustomResponse is what a simulated custom resource answers (see Effects.CustomResource).
type CustomResponse struct {
	// PhysicalResourceID replaces the generated physical id when set.
	PhysicalResourceID string
	// Data are the resource's attributes (Fn::GetAtt).
	Data map[string]any
	// Reason, when set, fails the request with it.
	Reason string
}

func (c *provCtx) custom(p *physical, request string) error {
	resp := c.fx.CustomResource(c.account, c.region, c.stackName, c.logicalID, c.resourceType, propString(p.Props, "ServiceToken"), request)
	if resp.Reason != "" {
		return fmt.Errorf("Received response status [FAILED] from custom resource. Message returned: %s", resp.Reason)
	}
	if request == "Delete" {
		return nil
	}
	if resp.PhysicalResourceID != "" && request == "Create" {
		p.ID = resp.PhysicalResourceID
	}
	data, _ := json.Marshal(resp.Data)
	p.Aux = string(data)
	return nil
}

// providerFor returns the provider simulating resource type typ, nil for none.
func providerFor(typ string) *provider {
	if pv := providers[typ]; pv != nil {
		return pv
	}
	if typ == "AWS::CloudFormation::CustomResource" || strings.HasPrefix(typ, "Custom::") {
		return customProvider
	}
	return nil
}

// attr returns the function computing attribute name, nil if the type has none of that name.
func (pv *provider) attr(name string) func(string, string, *physical) any {
	if pv.anyAttr != nil {
		return pv.anyAttr(name)
	}
	return pv.attrs[name]
}

// ResourceTypesDoc renders the table of simulated resource types in Markdown: each type, an
// example of what Ref returns (for a resource Res of a stack "stack" in account 111111111111,
// us-east-1; random characters shown as the first of their alphabet: A, a, 0), and its Fn::GetAtt attributes.
func ResourceTypesDoc() string {
	var b strings.Builder
	b.WriteString("| type | Ref (example) | Fn::GetAtt |\n|---|---|---|\n")
	types := slices.Sorted(maps.Keys(providers))
	types = append(types, "Custom::* (and AWS::CloudFormation::CustomResource)")
	for _, typ := range types {
		pv := providerFor(typ)
		if pv == nil {
			pv = customProvider
		}
		c := &provCtx{account: "111111111111", region: "us-east-1", stackName: "stack", stackID: "arn:aws:cloudformation:us-east-1:111111111111:stack/stack/00000000-0000-4000-8000-000000000000", logicalID: "Res", resourceType: typ}
		p := &physical{ID: pv.newID(c, map[string]any{}), Props: map[string]any{}}
		attrs := slices.Sorted(maps.Keys(pv.attrs))
		at := strings.Join(attrs, ", ")
		if pv.anyAttr != nil {
			at = "every key of the response Data"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", typ, pv.refValue(c.account, c.region, p), at)
	}
	return b.String()
}

func functionARN(account, region, name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	return arnPrefix("lambda", region, account) + "function:" + name
}

func topicARN(account, region, name string) string {
	if name == "" || strings.HasPrefix(name, "arn:") {
		return name
	}
	return arnPrefix("sns", region, account) + name
}

// regionCode abbreviates a region for availability zone ids: us-east-1 → use1.
func regionCode(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	return parts[0] + parts[1][:1] + parts[2]
}
