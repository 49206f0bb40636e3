package cfn

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// physical is one simulated physical resource: what CloudFormation's resource provider would
// know about it. Aux carries a provider-specific generated value (an IAM role id, a stream
// label) that is part of the resource's attributes but not derivable from ID and Props.
type physical struct {
	ID    string         `json:"id"`
	Aux   string         `json:"aux,omitempty"`
	Props map[string]any `json:"props,omitempty"`
}

// provCtx is where a provider operation happens.
type provCtx struct {
	fx                      Effects
	account, region         string
	stackName, stackID      string
	logicalID, resourceType string
}

// provider simulates one resource type. All functions are optional: a provider without create
// only generates a physical id; ref defaults to the physical id.
type provider struct {
	// required properties; a missing one fails the resource before any effect happens.
	required []string
	// modelValidation selects the wording of a missing-property failure: registry-based types
	// report "Model validation failed (#: required key [X] not found)", older ones
	// "Property X cannot be empty.".
	modelValidation bool
	// replace lists the top-level properties whose change requires a new physical resource.
	replace []string
	// nameProp is the property that sets a custom physical name; a replacement of a resource
	// whose custom name did not change is refused, as AWS does.
	nameProp string
	// Generated names: "<stack>-<logical>-<random randLen>" at most maxName long.
	maxName, randLen int
	lower            bool
	// genID, when set, replaces the name-based physical id (KMS key ids, policy ids…).
	genID func(c *provCtx, props map[string]any) string
	// fixID, when set, derives the physical id from the properties (bucket policy → bucket).
	fixID func(props map[string]any) string
	// ref returns the value of Ref; nil means the physical id.
	ref   func(account, region string, p *physical) string
	attrs map[string]func(account, region string, p *physical) any
	// anyAttr, when set, serves every attribute name (custom resources).
	anyAttr func(name string) func(account, region string, p *physical) any
	// validate checks property values beyond presence; its error fails the resource.
	validate func(props map[string]any) error
	create   func(c *provCtx, p *physical) error
	update   func(c *provCtx, old, p *physical) error
	delete   func(c *provCtx, p *physical) error
}

// missingProperty returns the failure reason for an absent required property, or "".
func (pv *provider) missingProperty(props map[string]any) string {
	for _, k := range pv.required {
		v, ok := props[k]
		if s, isStr := v.(string); ok && v != nil && (!isStr || s != "") {
			continue
		}
		if pv.modelValidation {
			return fmt.Sprintf("Model validation failed (#: required key [%s] not found)", k)
		}
		return fmt.Sprintf("Property %s cannot be empty.", k)
	}
	return ""
}

// newID returns the physical id for a new resource with props.
func (pv *provider) newID(c *provCtx, props map[string]any) string {
	if pv.fixID != nil {
		return pv.fixID(props)
	}
	if pv.nameProp != "" {
		if n := propString(props, pv.nameProp); n != "" {
			return n
		}
	}
	if pv.genID != nil {
		return pv.genID(c, props)
	}
	maxName, randLen := pv.maxName, pv.randLen
	if maxName == 0 {
		maxName = 255
	}
	if randLen == 0 {
		randLen = 12
	}
	return physicalName(c.stackName, c.logicalID, maxName, randLen, pv.lower)
}

// refValue returns what Ref yields for p.
func (pv *provider) refValue(account, region string, p *physical) string {
	if pv.ref != nil {
		return pv.ref(account, region, p)
	}
	return p.ID
}

// needsReplacement reports whether changing old to new props requires a new physical resource.
func (pv *provider) needsReplacement(old, new map[string]any) bool {
	for _, k := range pv.replace {
		if !valuesEqual(old[k], new[k]) {
			return true
		}
	}
	return false
}

func arnPrefix(service, region, account string) string {
	return "arn:aws:" + service + ":" + region + ":" + account + ":"
}

func constAttr(f func(account, region, id string) string) func(string, string, *physical) any {
	return func(account, region string, p *physical) any { return f(account, region, p.ID) }
}

func propAttr(key string) func(string, string, *physical) any {
	return func(_, _ string, p *physical) any { return propString(p.Props, key) }
}

func idAttr(_, _ string, p *physical) any { return p.ID }

func auxAttr(_, _ string, p *physical) any { return p.Aux }

// providers is the registry of simulated resource types. It is read-only after init.
var providers = map[string]*provider{
	"AWS::S3::Bucket": {
		replace:  []string{"BucketName", "ObjectLockEnabled"},
		nameProp: "BucketName", maxName: 63, lower: true,
		attrs: map[string]func(string, string, *physical) any{
			"Arn":        constAttr(func(_, _, id string) string { return "arn:aws:s3:::" + id }),
			"DomainName": constAttr(func(_, _, id string) string { return id + ".s3.amazonaws.com" }),
			"DualStackDomainName": constAttr(func(_, r, id string) string {
				return id + ".s3.dualstack." + r + ".amazonaws.com"
			}),
			"RegionalDomainName": constAttr(func(_, r, id string) string {
				return id + ".s3." + r + ".amazonaws.com"
			}),
			"WebsiteURL": constAttr(func(_, r, id string) string {
				return "http://" + id + ".s3-website-" + r + ".amazonaws.com"
			}),
		},
		validate: func(props map[string]any) error {
			n := propString(props, "BucketName")
			if n != "" && !validBucketName(n) {
				return fmt.Errorf("Bucket name should not contain uppercase characters")
			}
			if acl := propString(props, "AccessControl"); acl != "" && acl != "Private" && acl != "BucketOwnerFullControl" && objectOwnership(props) == "BucketOwnerEnforced" {
				return fmt.Errorf("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting (Service: S3, Status Code: 400, Request ID: %s)", randomString(16, upperAlnum))
			}
			return nil
		},
		create: func(c *provCtx, p *physical) error {
			return c.fx.CreateBucket(c.account, c.region, bucketConfig(p))
		},
		update: func(c *provCtx, _, p *physical) error {
			return c.fx.UpdateBucket(c.account, bucketConfig(p))
		},
		delete: func(c *provCtx, p *physical) error {
			return c.fx.DeleteBucket(c.account, p.ID)
		},
	},
	"AWS::S3::BucketPolicy": {
		required: []string{"Bucket", "PolicyDocument"},
		replace:  []string{"Bucket"},
		fixID:    func(props map[string]any) string { return propString(props, "Bucket") },
		attrs:    map[string]func(string, string, *physical) any{},
		create: func(c *provCtx, p *physical) error {
			return c.fx.PutBucketPolicy(c.account, p.ID, propJSON(p.Props, "PolicyDocument"))
		},
		update: func(c *provCtx, _, p *physical) error {
			return c.fx.PutBucketPolicy(c.account, p.ID, propJSON(p.Props, "PolicyDocument"))
		},
		delete: func(c *provCtx, p *physical) error {
			_ = c.fx.PutBucketPolicy(c.account, p.ID, "") // the bucket may be gone already
			return nil
		},
	},
	"AWS::SSM::Parameter": {
		required: []string{"Type", "Value"}, modelValidation: true,
		replace:  []string{"Name"},
		nameProp: "Name",
		genID: func(c *provCtx, _ map[string]any) string {
			return physicalName("CFN", c.logicalID, 2048, 12, false)
		},
		attrs: map[string]func(string, string, *physical) any{
			"Type":  propAttr("Type"),
			"Value": propAttr("Value"),
		},
		create: func(c *provCtx, p *physical) error {
			if err := c.fx.PutParameter(c.account, c.region, ssmParameter(p), false); err != nil {
				return fmt.Errorf("%s already exists", p.ID)
			}
			return nil
		},
		update: func(c *provCtx, _, p *physical) error {
			return c.fx.PutParameter(c.account, c.region, ssmParameter(p), true)
		},
		delete: func(c *provCtx, p *physical) error {
			c.fx.DeleteParameter(c.account, c.region, p.ID)
			return nil
		},
	},
	"AWS::SQS::Queue": {
		replace:  []string{"QueueName", "FifoQueue"},
		nameProp: "QueueName", maxName: 80,
		genID: func(c *provCtx, props map[string]any) string {
			if propBool(props, "FifoQueue") {
				return physicalName(c.stackName, c.logicalID, 75, 12, false) + ".fifo"
			}
			return physicalName(c.stackName, c.logicalID, 80, 12, false)
		},
		ref: func(account, region string, p *physical) string { return queueURL(account, region, p.ID) },
		attrs: map[string]func(string, string, *physical) any{
			"Arn":       constAttr(func(a, r, id string) string { return arnPrefix("sqs", r, a) + id }),
			"QueueName": idAttr,
			"QueueUrl":  constAttr(queueURL),
		},
	},
	"AWS::SNS::Topic": {
		replace:  []string{"TopicName", "FifoTopic"},
		nameProp: "TopicName", maxName: 256,
		ref: func(account, region string, p *physical) string { return arnPrefix("sns", region, account) + p.ID },
		attrs: map[string]func(string, string, *physical) any{
			"TopicArn":  constAttr(func(a, r, id string) string { return arnPrefix("sns", r, a) + id }),
			"TopicName": idAttr,
		},
	},
	"AWS::IAM::Role": {
		required: []string{"AssumeRolePolicyDocument"}, modelValidation: true,
		replace:  []string{"RoleName", "Path"},
		nameProp: "RoleName", maxName: 64,
		attrs: map[string]func(string, string, *physical) any{
			"Arn": func(a, _ string, p *physical) any {
				return "arn:aws:iam::" + a + ":role" + iamPath(p.Props) + p.ID
			},
			"RoleId": auxAttr,
		},
		create: func(c *provCtx, p *physical) error {
			_, id, err := c.fx.PutRole(c.account, p.ID, iamPath(p.Props), propJSON(p.Props, "AssumeRolePolicyDocument"))
			switch {
			case err != nil && strings.Contains(err.Error(), "already exists"):
				return fmt.Errorf("%s already exists", p.ID)
			case err != nil:
				return err // an invalid trust policy, worded as IAM words it
			}
			p.Aux = id
			return nil
		},
		update: func(c *provCtx, old, p *physical) error {
			if propJSON(old.Props, "AssumeRolePolicyDocument") == propJSON(p.Props, "AssumeRolePolicyDocument") {
				p.Aux = old.Aux
				return nil
			}
			// The IAM store has no update; recreating keeps the role assumable with the new
			// trust policy under the same name.
			c.fx.DeleteRole(c.account, p.ID)
			_, id, err := c.fx.PutRole(c.account, p.ID, iamPath(p.Props), propJSON(p.Props, "AssumeRolePolicyDocument"))
			if err != nil {
				return fmt.Errorf("update role %s: %w", p.ID, err)
			}
			p.Aux = id
			return nil
		},
		delete: func(c *provCtx, p *physical) error {
			c.fx.DeleteRole(c.account, p.ID)
			return nil
		},
	},
	"AWS::IAM::Policy": {
		required: []string{"PolicyName", "PolicyDocument"},
		genID: func(c *provCtx, _ map[string]any) string {
			return physicalName(c.stackName, c.logicalID, 12+13, 12, false)
		},
		attrs: map[string]func(string, string, *physical) any{"Id": idAttr},
	},
	"AWS::IAM::ManagedPolicy": {
		required: []string{"PolicyDocument"}, modelValidation: true,
		replace: []string{"ManagedPolicyName", "Path", "Description"},
		genID: func(c *provCtx, props map[string]any) string {
			name := propString(props, "ManagedPolicyName")
			if name == "" {
				name = physicalName(c.stackName, c.logicalID, 128, 12, false)
			}
			return "arn:aws:iam::" + c.account + ":policy" + iamPath(props) + name
		},
		attrs: map[string]func(string, string, *physical) any{
			"PolicyArn": idAttr,
			"PolicyId":  auxAttr,
		},
		create: func(_ *provCtx, p *physical) error {
			p.Aux = "ANPA" + randomString(17, upperAlnum)
			return nil
		},
		update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
	},
	"AWS::KMS::Key": {
		genID: func(*provCtx, map[string]any) string { return newUUID() },
		attrs: map[string]func(string, string, *physical) any{
			"Arn":   constAttr(func(a, r, id string) string { return arnPrefix("kms", r, a) + "key/" + id }),
			"KeyId": idAttr,
		},
	},
	"AWS::KMS::Alias": {
		required: []string{"AliasName", "TargetKeyId"}, modelValidation: true,
		replace:  []string{"AliasName"},
		nameProp: "AliasName",
		attrs:    map[string]func(string, string, *physical) any{},
		validate: func(props map[string]any) error {
			if n := propString(props, "AliasName"); n != "" && !strings.HasPrefix(n, "alias/") {
				return fmt.Errorf("Model validation failed (#/AliasName: string [%s] does not match pattern ^(alias/)[a-zA-Z0-9:/_-]+$)", n)
			}
			return nil
		},
	},
	"AWS::ECR::Repository": {
		replace:  []string{"RepositoryName"},
		nameProp: "RepositoryName", maxName: 256, lower: true,
		attrs: map[string]func(string, string, *physical) any{
			"Arn": constAttr(func(a, r, id string) string { return arnPrefix("ecr", r, a) + "repository/" + id }),
			"RepositoryUri": constAttr(func(a, r, id string) string {
				return a + ".dkr.ecr." + r + ".amazonaws.com/" + id
			}),
		},
	},
	"AWS::Logs::LogGroup": {
		replace:  []string{"LogGroupName"},
		nameProp: "LogGroupName", maxName: 512,
		attrs: map[string]func(string, string, *physical) any{
			"Arn": constAttr(func(a, r, id string) string { return arnPrefix("logs", r, a) + "log-group:" + id + ":*" }),
		},
	},
	"AWS::CloudWatch::Alarm": {
		required: []string{"ComparisonOperator", "EvaluationPeriods"},
		replace:  []string{"AlarmName"},
		nameProp: "AlarmName",
		attrs: map[string]func(string, string, *physical) any{
			"Arn": constAttr(func(a, r, id string) string { return arnPrefix("cloudwatch", r, a) + "alarm:" + id }),
		},
		create: func(c *provCtx, p *physical) error {
			return c.fx.PutAlarm(c.account, c.region, cloudWatchAlarm(p))
		},
		update: func(c *provCtx, _, p *physical) error {
			return c.fx.PutAlarm(c.account, c.region, cloudWatchAlarm(p))
		},
		delete: func(c *provCtx, p *physical) error {
			c.fx.DeleteAlarm(c.account, c.region, p.ID)
			return nil
		},
	},
	"AWS::Lambda::Function": {
		required: []string{"Code", "Role"},
		replace:  []string{"FunctionName"},
		nameProp: "FunctionName", maxName: 64,
		attrs: map[string]func(string, string, *physical) any{
			"Arn":                                  constAttr(func(a, r, id string) string { return arnPrefix("lambda", r, a) + "function:" + id }),
			"SnapStartResponse.ApplyOn":            fixed("None"),
			"SnapStartResponse.OptimizationStatus": fixed("Off"),
		},
		validate: func(props map[string]any) error {
			if rt := propString(props, "Runtime"); blockedRuntimes[rt] {
				return fmt.Errorf("Resource handler returned message: \"The runtime parameter of %s is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions. (Service: Lambda, Status Code: 400, Request ID: %s)\" (RequestToken: %s, HandlerErrorCode: InvalidRequest)", rt, newUUID(), newUUID())
			}
			return nil
		},
		create: func(c *provCtx, p *physical) error { return checkLambdaCode(c, p) },
		update: func(c *provCtx, _, p *physical) error { return checkLambdaCode(c, p) },
	},
	"AWS::DynamoDB::Table": {
		required: []string{"KeySchema"}, modelValidation: true,
		replace:  []string{"TableName", "KeySchema", "LocalSecondaryIndexes"},
		nameProp: "TableName",
		attrs: map[string]func(string, string, *physical) any{
			"Arn": constAttr(func(a, r, id string) string { return arnPrefix("dynamodb", r, a) + "table/" + id }),
			"StreamArn": func(a, r string, p *physical) any {
				return arnPrefix("dynamodb", r, a) + "table/" + p.ID + "/stream/" + p.Aux
			},
		},
		create: func(_ *provCtx, p *physical) error {
			p.Aux = "2024-01-01T00:00:00.000"
			return nil
		},
		update: func(_ *provCtx, old, p *physical) error { p.Aux = old.Aux; return nil },
	},
	"AWS::CloudFormation::WaitConditionHandle": {
		genID: func(c *provCtx, _ map[string]any) string {
			return "https://cloudformation-waitcondition-" + c.region + ".s3.amazonaws.com/" +
				strings.ReplaceAll(strings.ReplaceAll(c.stackID, ":", "%3A"), "/", "%2F") + "/" + c.logicalID
		},
		attrs: map[string]func(string, string, *physical) any{},
	},
	"AWS::CloudFormation::WaitCondition": {
		// The sandbox has no signal endpoint: a wait condition is satisfied as soon as it is
		// created, with no data.
		genID: func(c *provCtx, _ map[string]any) string {
			return c.stackID + "/" + newUUID() + "/" + c.logicalID
		},
		attrs: map[string]func(string, string, *physical) any{
			"Data": func(string, string, *physical) any { return "{}" },
		},
	},
}

// blockedRuntimes are the Lambda runtimes AWS no longer lets functions be created or updated
// with (its runtime deprecation table, as of late 2026).
var blockedRuntimes = map[string]bool{
	"nodejs": true, "nodejs4.3": true, "nodejs4.3-edge": true, "nodejs6.10": true, "nodejs8.10": true,
	"nodejs10.x": true, "nodejs12.x": true, "nodejs14.x": true, "nodejs16.x": true,
	"python2.7": true, "python3.6": true, "python3.7": true, "python3.8": true,
	"dotnetcore1.0": true, "dotnetcore2.0": true, "dotnetcore2.1": true, "dotnetcore3.1": true, "dotnet5.0": true, "dotnet6": true,
	"ruby2.5": true, "ruby2.7": true, "go1.x": true, "java8": true, "provided": true,
}

// checkLambdaCode fails a function whose code is an S3 object the function's account cannot
// read, as Lambda does when it fetches the code.
func checkLambdaCode(c *provCtx, p *physical) error {
	code, _ := p.Props["Code"].(map[string]any)
	bucket, key := propString(code, "S3Bucket"), propString(code, "S3Key")
	if bucket == "" || key == "" {
		return nil
	}
	escaped := strings.Split(key, "/")
	for i, seg := range escaped {
		escaped[i] = url.PathEscape(seg)
	}
	_, err := c.fx.ReadObject(c.account, "https://"+bucket+".s3.amazonaws.com/"+strings.Join(escaped, "/"))
	switch {
	case errors.Is(err, ErrObjectNotFound):
		return fmt.Errorf("Resource handler returned message: \"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist. (Service: Lambda, Status Code: 400, Request ID: %s)\" (HandlerErrorCode: InvalidRequest)", newUUID())
	case err != nil:
		return fmt.Errorf("Resource handler returned message: \"Your access has been denied by S3, please make sure your request credentials have permission to GetObject for %s/%s. S3 Error Code: AccessDenied. S3 Error Message: Access Denied (Service: Lambda, Status Code: 403, Request ID: %s)\" (HandlerErrorCode: AccessDenied)", bucket, key, newUUID())
	}
	return nil
}

func queueURL(account, region, name string) string {
	return "https://sqs." + region + ".amazonaws.com/" + account + "/" + name
}

func iamPath(props map[string]any) string {
	if p := propString(props, "Path"); p != "" {
		return p
	}
	return "/"
}

func validBucketName(n string) bool {
	if len(n) < 3 || len(n) > 63 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// objectOwnership returns the bucket's ObjectOwnership (BucketOwnerEnforced unless its
// OwnershipControls say otherwise, as for every new bucket since April 2023).
func objectOwnership(props map[string]any) string {
	oc, _ := props["OwnershipControls"].(map[string]any)
	rules, _ := oc["Rules"].([]any)
	for _, r := range rules {
		if m, ok := r.(map[string]any); ok && propString(m, "ObjectOwnership") != "" {
			return propString(m, "ObjectOwnership")
		}
	}
	return "BucketOwnerEnforced"
}

// bucketConfig reads the S3 configuration of an AWS::S3::Bucket.
func bucketConfig(p *physical) Bucket {
	b := Bucket{Name: p.ID, Tags: map[string]string{}}
	if enc, ok := p.Props["BucketEncryption"].(map[string]any); ok {
		rules, _ := enc["ServerSideEncryptionConfiguration"].([]any)
		if len(rules) > 0 {
			r, _ := rules[0].(map[string]any)
			def, _ := r["ServerSideEncryptionByDefault"].(map[string]any)
			b.SSEAlgorithm, b.KMSKeyID = propString(def, "SSEAlgorithm"), propString(def, "KMSMasterKeyID")
		}
	}
	if v, ok := p.Props["VersioningConfiguration"].(map[string]any); ok {
		b.Versioning = propString(v, "Status")
	}
	if pab, ok := p.Props["PublicAccessBlockConfiguration"].(map[string]any); ok {
		b.PublicAccessBlock = &PublicAccessBlock{
			BlockPublicAcls: propBool(pab, "BlockPublicAcls"), IgnorePublicAcls: propBool(pab, "IgnorePublicAcls"),
			BlockPublicPolicy: propBool(pab, "BlockPublicPolicy"), RestrictPublicBuckets: propBool(pab, "RestrictPublicBuckets"),
		}
	}
	tags, _ := p.Props["Tags"].([]any)
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok {
			b.Tags[propString(m, "Key")] = propString(m, "Value")
		}
	}
	return b
}

func ssmParameter(p *physical) Parameter {
	return Parameter{
		Name:           p.ID,
		Type:           propString(p.Props, "Type"),
		Value:          propString(p.Props, "Value"),
		Description:    propString(p.Props, "Description"),
		DataType:       propString(p.Props, "DataType"),
		AllowedPattern: propString(p.Props, "AllowedPattern"),
		Tier:           propString(p.Props, "Tier"),
	}
}

func cloudWatchAlarm(p *physical) Alarm {
	a := Alarm{
		Name:                    p.ID,
		Description:             propString(p.Props, "AlarmDescription"),
		Namespace:               propString(p.Props, "Namespace"),
		MetricName:              propString(p.Props, "MetricName"),
		Statistic:               propString(p.Props, "Statistic"),
		ComparisonOperator:      propString(p.Props, "ComparisonOperator"),
		TreatMissingData:        propString(p.Props, "TreatMissingData"),
		Period:                  propInt32(p.Props, "Period"),
		EvaluationPeriods:       propInt32(p.Props, "EvaluationPeriods"),
		DatapointsToAlarm:       propInt32(p.Props, "DatapointsToAlarm"),
		ActionsEnabled:          true,
		AlarmActions:            propStrings(p.Props, "AlarmActions"),
		OKActions:               propStrings(p.Props, "OKActions"),
		InsufficientDataActions: propStrings(p.Props, "InsufficientDataActions"),
	}
	a.Threshold, _ = propFloat(p.Props, "Threshold")
	if _, ok := p.Props["ActionsEnabled"]; ok {
		a.ActionsEnabled = propBool(p.Props, "ActionsEnabled")
	}
	if dims, ok := p.Props["Dimensions"].([]any); ok {
		a.Dimensions = make(map[string]string, len(dims))
		for _, d := range dims {
			if m, ok := d.(map[string]any); ok {
				a.Dimensions[propString(m, "Name")] = propString(m, "Value")
			}
		}
	}
	return a
}
