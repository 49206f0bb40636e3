package cfntemplate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

const evalHeader = `Parameters:
  Env: {Type: String, Default: dev}
  Count: {Type: Number, Default: 3}
  Subnets: {Type: CommaDelimitedList, Default: "subnet-1, subnet-2,subnet-3"}
  Index: {Type: String, Default: "1"}
Mappings:
  RegionMap:
    us-east-1: {Ami: ami-east, Size: 2, Zones: [a, b]}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
Resources:
  A: {Type: T}
  Off: {Type: T, Condition: IsProd}
  R:
    Type: T
    Properties:
      P: `

// stubEnv is an Env whose resources answer predictably: Ref X is "phys-X" and X.Attr is
// "X.Attr".
func stubEnv(t *testing.T, tp *cfntemplate.Template, given map[string]string) *cfntemplate.Env {
	t.Helper()
	params, err := tp.ResolveParameters(given, nil, nil, fakeSSM)
	if err != nil {
		t.Fatal(err)
	}
	return &cfntemplate.Env{
		AccountID: "123456789012", Region: "us-east-1", StackName: "demo",
		StackID:          "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/1",
		NotificationARNs: []string{"arn:aws:sns:us-east-1:123456789012:t"},
		Params:           params,
		Ref:              func(id string) (any, error) { return "phys-" + id, nil },
		GetAtt:           func(id, attr string) (any, error) { return id + "." + attr, nil },
		ImportValue: func(name string) (string, error) {
			if name == "shared-vpc" {
				return "vpc-1", nil
			}
			return "", fmt.Errorf("no export %s", name)
		},
	}
}

// evalP parses evalHeader+node and evaluates R's property P.
func evalP(t *testing.T, node string, edit func(*cfntemplate.Env)) (any, error) {
	t.Helper()
	tp := mustParse(t, evalHeader+node+"\n")
	env := stubEnv(t, tp, nil)
	if edit != nil {
		edit(env)
	}
	r, _ := tp.Resource("R")
	return tp.Eval(r.Properties["P"], env)
}

func TestEvalIntrinsics(t *testing.T) {
	tests := []struct {
		name string
		node string
		edit func(*cfntemplate.Env)
		want any
	}{
		{"literal", `hello`, nil, "hello"},
		{"number literal", `42`, nil, int64(42)},
		{"Ref string parameter", `!Ref Env`, nil, "dev"},
		{"Ref number parameter", `!Ref Count`, nil, "3"},
		{"Ref list parameter", `!Ref Subnets`, nil, []any{"subnet-1", "subnet-2", "subnet-3"}},
		{"Ref resource", `!Ref A`, nil, "phys-A"},
		{"Ref AccountId", `!Ref AWS::AccountId`, nil, "123456789012"},
		{"Ref Region", `!Ref AWS::Region`, nil, "us-east-1"},
		{"Ref StackName", `!Ref AWS::StackName`, nil, "demo"},
		{"Ref StackId", `!Ref AWS::StackId`, nil, "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/1"},
		{"Ref Partition", `!Ref AWS::Partition`, nil, "aws"},
		{"Ref Partition China", `!Ref AWS::Partition`, func(e *cfntemplate.Env) { e.Region = "cn-north-1" }, "aws-cn"},
		{"Ref URLSuffix China", `!Ref AWS::URLSuffix`, func(e *cfntemplate.Env) { e.Region = "cn-north-1" }, "amazonaws.com.cn"},
		{"Ref Partition explicit", `!Ref AWS::Partition`, func(e *cfntemplate.Env) { e.Partition = "aws-test" }, "aws-test"},
		{"Ref URLSuffix", `!Ref AWS::URLSuffix`, nil, "amazonaws.com"},
		{"Ref NotificationARNs", `!Ref AWS::NotificationARNs`, nil, []any{"arn:aws:sns:us-east-1:123456789012:t"}},
		{"GetAtt", `!GetAtt A.Arn`, nil, "A.Arn"},
		{"GetAtt list", `!GetAtt [A, Arn]`, nil, "A.Arn"},
		{"GetAtt nested attribute", `!GetAtt A.Outputs.Url`, nil, "A.Outputs.Url"},
		{"GetAtt attribute from Ref", `{"Fn::GetAtt": [A, !Ref Env]}`, nil, "A.dev"},
		{"Sub", `!Sub "${Env}-${AWS::Region}-${A}-${A.Arn}-${Count}"`, nil, "dev-us-east-1-phys-A-A.Arn-3"},
		{"Sub escape", `!Sub "${!Env} ${!A.Arn}"`, nil, "${Env} ${A.Arn}"},
		{"Sub unclosed", `!Sub "x ${Env"`, nil, "x ${Env"},
		{"Sub local variables", `!Sub ["${Name}.${Env}.${Num}", {Name: !Join ["-", [a, b]], Num: 7}]`, nil, "a-b.dev.7"},
		{"Sub local variable shadows parameter", `!Sub ["${Env}", {Env: local}]`, nil, "local"},
		{"Sub list form without variables", `!Sub ["plain ${Env}"]`, nil, "plain dev"},
		{"Join", `!Join ["-", [a, !Ref Env, 3, true]]`, nil, "a-dev-3-true"},
		{"Join list parameter", `!Join [",", !Ref Subnets]`, nil, "subnet-1,subnet-2,subnet-3"},
		{"Join empty", `!Join [",", []]`, nil, ""},
		{"Join drops NoValue", `!Join [",", [a, !If [IsProd, b, !Ref AWS::NoValue], c]]`, nil, "a,c"},
		{"Select", `!Select [1, [a, b, c]]`, nil, "b"},
		{"Select string index", `!Select [!Ref Index, !Ref Subnets]`, nil, "subnet-2"},
		{"Select GetAZs", `!Select [2, !GetAZs ""]`, nil, "us-east-1c"},
		{"GetAZs region", `!GetAZs eu-west-1`, nil, []any{"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
		{"GetAZs callback", `!GetAZs {Ref: AWS::Region}`, func(e *cfntemplate.Env) {
			e.GetAZs = func(r string) []string { return []string{r + "-az1"} }
		}, []any{"us-east-1-az1"}},
		{"Split", `!Split [",", "a,b,,c"]`, nil, []any{"a", "b", "", "c"}},
		{"Select of Split of Join", `!Select [1, !Split [",", !Join [",", [x, y]]]]`, nil, "y"},
		{"If false", `!If [IsProd, big, small]`, nil, "small"},
		{"If true", `!If [IsProd, big, small]`, func(e *cfntemplate.Env) { e.Conditions = map[string]bool{"IsProd": true} }, "big"},
		{"If uses computed condition", `!If [IsDev, dev, other]`, nil, "dev"},
		{"If only evaluates the taken branch", `!If [IsProd, !Ref Off, fallback]`, nil, "fallback"},
		{"Equals", `!Equals [!Ref Count, 3]`, nil, true},
		{"And", `!And [!Equals [a, a], !Not [!Equals [a, b]]]`, nil, true},
		{"Or", `!Or [!Equals [a, b], !Equals [c, d]]`, nil, false},
		{"FindInMap", `!FindInMap [RegionMap, !Ref "AWS::Region", Ami]`, nil, "ami-east"},
		{"FindInMap number", `!FindInMap [RegionMap, us-east-1, Size]`, nil, int64(2)},
		{"FindInMap list", `!FindInMap [RegionMap, us-east-1, Zones]`, nil, []any{"a", "b"}},
		{"FindInMap default", `!FindInMap [RegionMap, eu-west-1, Ami, {DefaultValue: ami-default}]`, nil, "ami-default"},
		{"FindInMap default for missing map", `!FindInMap [Nope, a, b, {DefaultValue: !Ref Env}]`, nil, "dev"},
		{"ImportValue", `!ImportValue {"Fn::Sub": "shared-vpc"}`, nil, "vpc-1"},
		{"Base64", `!Base64 "hello world"`, nil, "aGVsbG8gd29ybGQ="},
		{"Base64 of Sub", `!Base64 {"Fn::Sub": "${Env}-x"}`, nil, "ZGV2LXg="},
		{"Cidr IPv4", `!Cidr ["192.168.0.0/24", 6, 5]`, nil, []any{
			"192.168.0.0/27", "192.168.0.32/27", "192.168.0.64/27", "192.168.0.96/27", "192.168.0.128/27", "192.168.0.160/27"}},
		{"Cidr unmasked block and string arguments", `!Cidr ["10.0.7.9/16", "2", "8"]`, nil, []any{"10.0.0.0/24", "10.0.1.0/24"}},
		{"Cidr IPv6", `!Cidr ["2600:1f18:abc:de00::/56", 2, 64]`, nil, []any{"2600:1f18:abc:de00::/64", "2600:1f18:abc:de01::/64"}},
		{"NoValue removes list elements", `[a, !Ref AWS::NoValue, !If [IsProd, x, !Ref AWS::NoValue], b]`, nil, []any{"a", "b"}},
		{"NoValue removes keys", `{Keep: 1, Drop: !Ref AWS::NoValue, Nested: {Gone: !If [IsProd, x, !Ref AWS::NoValue]}}`, nil,
			map[string]any{"Keep": int64(1), "Nested": map[string]any{}}},
		{"NoValue at the top", `!Ref AWS::NoValue`, nil, nil},
		{"Condition is an ordinary key outside conditions", `{Condition: IsProd}`, nil, map[string]any{"Condition": "IsProd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evalP(t, tt.node, tt.edit)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		name string
		node string
		edit func(*cfntemplate.Env)
		want string
	}{
		{"Select out of range", `!Select [3, [a, b]]`, nil, "Template error: Fn::Select cannot select nonexistent value at index 3"},
		{"Select negative", `!Select [-1, [a, b]]`, nil, "Template error: Fn::Select cannot select nonexistent value at index -1"},
		{"Select bad index", `!Select [x, [a, b]]`, nil, "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"},
		{"Select not a list", `!Select [0, abc]`, nil, "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"},
		{"Join not a list", `!Join [",", abc]`, nil,
			"Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."},
		{"Join of maps", `!Join [",", [{a: b}]]`, nil,
			"Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."},
		{"Split malformed", `!Split [","]`, nil,
			"Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split."},
		{"Equals arity", `!Equals [a]`, nil, "Template error: every Fn::Equals object requires a list of 2 string parameters."},
		{"And arity", `!And [!Equals [a, a]]`, nil, "Template error: every Fn::And object requires a list of at least 2 and at most 10 boolean parameters."},
		{"Or arity", `!Or [` + strings.Repeat(`!Equals [a, b], `, 10) + `!Equals [a, b]]`, nil,
			"Template error: every Fn::Or object requires a list of at least 2 and at most 10 boolean parameters."},
		{"Not arity", `!Not [!Equals [a, a], !Equals [a, a]]`, nil, "Template error: every Fn::Not object requires a list with exactly 1 boolean parameter."},
		{"And operand not boolean", `!And [x, !Equals [a, a]]`, nil, "Template format error: Conditions can only be boolean operations on parameters and other conditions"},
		{"FindInMap missing key", `!FindInMap [RegionMap, eu-west-1, Ami]`, nil, "Template error: Unable to get mapping for RegionMap::eu-west-1::Ami"},
		{"FindInMap missing attribute", `!FindInMap [RegionMap, us-east-1, Nope]`, nil, "Template error: Unable to get mapping for RegionMap::us-east-1::Nope"},
		{"FindInMap missing map", `!FindInMap [Nope, a, b]`, nil, "Template error: Mapping named 'Nope' is not present in the 'Mappings' section of template."},
		{"FindInMap arity", `!FindInMap [RegionMap, a]`, nil,
			"Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value"},
		{"ImportValue without exports", `!ImportValue nope`, func(e *cfntemplate.Env) { e.ImportValue = nil }, "No export named nope found."},
		{"Ref skipped resource", `!Ref Off`, nil, "Template format error: Unresolved resource dependencies [Off] in the Resources block of the template"},
		{"GetAtt skipped resource", `!GetAtt Off.Arn`, nil, "Template format error: Unresolved resource dependencies [Off] in the Resources block of the template"},
		{"Sub skipped resource", `!Sub "${Off}"`, nil, "Template format error: Unresolved resource dependencies [Off] in the Resources block of the template"},
		{"Ref without a resource callback", `!Ref A`, func(e *cfntemplate.Env) { e.Ref = nil },
			"Template format error: Unresolved resource dependencies [A] in the Resources block of the template"},
		{"GetAtt without a resource callback", `!GetAtt A.Arn`, func(e *cfntemplate.Env) { e.GetAtt = nil },
			"Template error: resource A does not support attribute type Arn in Fn::GetAtt"},
		{"Ref parameter without values", `!Ref Env`, func(e *cfntemplate.Env) { e.Params = nil }, "Parameters: [Env] must have values"},
		{"Sub list variable", `!Sub "${Subnets}"`, nil, "Template error: variable Subnets in Fn::Sub expression does not resolve to a string"},
		{"Base64 of a list", `!Base64 [a]`, nil, "Template error: every Fn::Base64 object must have a String-typed value."},
		{"GetAZs of a list", `!GetAZs [a]`, nil, "Template error: every Fn::GetAZs object must have a String-typed value."},
		{"Cidr does not fit", `!Cidr ["10.0.0.0/24", 9, 5]`, nil, "Template error: Fn::Cidr cannot fit 9 subnets with 5 bits in 10.0.0.0/24"},
		{"Cidr bad block", `!Cidr ["10.0.0/16", 1, 8]`, nil, "Template error: Fn::Cidr ipBlock 10.0.0/16 is not a valid CIDR block"},
		{"Cidr arity", `!Cidr ["10.0.0.0/16", 1]`, nil,
			"Template error: Fn::Cidr requires a list argument with three elements: an IP block, a count of CIDRs and the number of subnet bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := evalP(t, tt.node, tt.edit)
			if got := errMessage(t, err); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestEvalPassesCallbackErrorsThrough(t *testing.T) {
	sentinel := errors.New("resource not ready")
	for _, node := range []string{`!Ref A`, `!GetAtt A.Arn`, `!Sub "${A.Arn}"`, `!ImportValue x`} {
		_, err := evalP(t, node, func(e *cfntemplate.Env) {
			e.Ref = func(string) (any, error) { return nil, sentinel }
			e.GetAtt = func(string, string) (any, error) { return nil, sentinel }
			e.ImportValue = func(string) (string, error) { return "", sentinel }
		})
		if !errors.Is(err, sentinel) {
			t.Errorf("%s: error = %v, want the callback's error", node, err)
		}
	}
}

func TestEvalDoesNotAliasTemplateOrParameters(t *testing.T) {
	tp := mustParse(t, evalHeader+"[a, b]\n")
	env := stubEnv(t, tp, nil)
	r, _ := tp.Resource("R")
	got, err := tp.Eval(r.Properties["P"], env)
	if err != nil {
		t.Fatal(err)
	}
	got.([]any)[0] = "changed"
	list, err := tp.Eval(map[string]any{"Ref": "Subnets"}, env)
	if err != nil {
		t.Fatal(err)
	}
	list.([]any)[0] = "changed"
	if diff := cmp.Diff([]any{"a", "b"}, r.Properties["P"]); diff != "" {
		t.Errorf("template changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"subnet-1", "subnet-2", "subnet-3"}, env.Params["Subnets"].Value); diff != "" {
		t.Errorf("parameter changed (-want +got):\n%s", diff)
	}
}

func TestEvalConditions(t *testing.T) {
	tp := mustParse(t, `Parameters:
  Env: {Type: String, Default: dev}
  Size: {Type: Number, Default: 1}
Mappings:
  M: {us-east-1: {Big: "yes"}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsBig: !Equals [!Ref Size, 10]
  ProdAndBig: !And [!Condition IsProd, !Condition IsBig]
  ProdOrBig: !Or [!Condition IsProd, !Condition IsBig]
  NotProd: !Not [!Condition IsProd]
  East: !Equals [!FindInMap [M, !Ref "AWS::Region", Big], "yes"]
  Later: !Condition Defined
  Defined: !Equals [!Select [0, !Split [",", "a,b"]], a]
Resources:
  B: {Type: T}
`)
	tests := []struct {
		env, size string
		want      map[string]bool
	}{
		{"dev", "1", map[string]bool{"IsProd": false, "IsBig": false, "ProdAndBig": false, "ProdOrBig": false, "NotProd": true, "East": true, "Later": true, "Defined": true}},
		{"prod", "1", map[string]bool{"IsProd": true, "IsBig": false, "ProdAndBig": false, "ProdOrBig": true, "NotProd": false, "East": true, "Later": true, "Defined": true}},
		{"prod", "10", map[string]bool{"IsProd": true, "IsBig": true, "ProdAndBig": true, "ProdOrBig": true, "NotProd": false, "East": true, "Later": true, "Defined": true}},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.size, func(t *testing.T) {
			env := stubEnv(t, tp, map[string]string{"Env": tt.env, "Size": tt.size})
			env.Conditions = map[string]bool{"IsProd": !tt.want["IsProd"]} // ignored
			got, err := tp.EvalConditions(env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Parse rejects condition loops; evaluation still guards against hand-built templates.
func TestEvalConditionsDetectsLoops(t *testing.T) {
	tp := &cfntemplate.Template{
		ConditionNames: []string{"A", "B"},
		Conditions: map[string]any{
			"A": map[string]any{"Fn::Not": []any{map[string]any{"Condition": "B"}}},
			"B": map[string]any{"Fn::Not": []any{map[string]any{"Condition": "A"}}},
		},
	}
	_, err := tp.EvalConditions(nil)
	if got, want := errMessage(t, err), "Template format error: Circular dependency between conditions: [A]"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func appEnv(t *testing.T, tp *cfntemplate.Template, given map[string]string) *cfntemplate.Env {
	t.Helper()
	env := stubEnv(t, tp, given)
	conds, err := tp.EvalConditions(env)
	if err != nil {
		t.Fatal(err)
	}
	env.Conditions = conds
	if err := tp.CheckActive(conds); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestEvalAppTemplate(t *testing.T) {
	tp, err := cfntemplate.Parse(readFile(t, "testdata/app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		given       map[string]string
		wantBucket  map[string]any
		wantPolicy  any
		wantConfig  string
		wantOutputs []cfntemplate.OutputValue
	}{
		{
			name: "dev",
			wantBucket: map[string]any{
				"BucketName":             "stackfleet-app-dev-123456789012-us-east-1",
				"LifecycleConfiguration": map[string]any{"Rules": []any{map[string]any{"Id": "expire", "Status": "Enabled", "ExpirationInDays": "30"}}},
				"Tags":                   []any{map[string]any{"Key": "env", "Value": "dev"}},
			},
			wantPolicy: "ReaderRole.Arn",
			wantConfig: "bucket=phys-AppBucket;level=DEBUG",
			wantOutputs: []cfntemplate.OutputValue{
				{Key: "BucketName", Value: "phys-AppBucket", Description: "Name of the application bucket", ExportName: "demo-BucketName"},
				{Key: "BucketArn", Value: "AppBucket.Arn", ExportName: "demo:BucketArn"},
				{Key: "ReaderRoleArn", Value: "ReaderRole.Arn"},
			},
		},
		{
			name:  "prod with admin",
			given: map[string]string{"Env": "prod", "AdminRoleArn": "arn:aws:iam::123456789012:role/admin", "RetentionDays": "90"},
			wantBucket: map[string]any{
				"BucketName":              "stackfleet-app-prod-123456789012-us-east-1",
				"VersioningConfiguration": map[string]any{"Status": "Enabled"},
				"LifecycleConfiguration":  map[string]any{"Rules": []any{map[string]any{"Id": "expire", "Status": "Enabled", "ExpirationInDays": "90"}}},
				"Tags":                    []any{map[string]any{"Key": "env", "Value": "prod"}},
			},
			wantPolicy: "arn:aws:iam::123456789012:role/admin",
			wantConfig: "bucket=phys-AppBucket;level=WARN",
			wantOutputs: []cfntemplate.OutputValue{
				{Key: "BucketName", Value: "phys-AppBucket", Description: "Name of the application bucket", ExportName: "demo-BucketName"},
				{Key: "BucketArn", Value: "AppBucket.Arn", ExportName: "demo:BucketArn"},
				{Key: "ReaderRoleArn", Value: "ReaderRole.Arn"},
				{Key: "ProdOnly", Value: "prod is production"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := appEnv(t, tp, tt.given)
			props := map[string]map[string]any{}
			for _, r := range tp.Resources {
				p, err := tp.EvalProperties(&r, env)
				if err != nil {
					t.Fatalf("%s: %v", r.LogicalID, err)
				}
				props[r.LogicalID] = p
			}
			if diff := cmp.Diff(tt.wantBucket, props["AppBucket"]); diff != "" {
				t.Errorf("AppBucket (-want +got):\n%s", diff)
			}
			stmt := props["AppBucketPolicy"]["PolicyDocument"].(map[string]any)["Statement"].([]any)[0].(map[string]any)
			if diff := cmp.Diff(tt.wantPolicy, stmt["Principal"].(map[string]any)["AWS"]); diff != "" {
				t.Errorf("policy principal (-want +got):\n%s", diff)
			}
			if got, want := stmt["Resource"], "arn:aws:s3:::phys-AppBucket/*"; got != want {
				t.Errorf("policy resource = %v, want %v", got, want)
			}
			if got := props["ConfigParameter"]["Value"]; got != tt.wantConfig {
				t.Errorf("config value = %v, want %v", got, tt.wantConfig)
			}
			outs, err := tp.EvalOutputs(env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantOutputs, outs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetworkTemplate(t *testing.T) {
	tp, err := cfntemplate.Parse(readFile(t, "testdata/network.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		count       string
		wantSkipped []string
		wantHost    string
		wantSubnets string
	}{
		{"1", []string{"SubnetB", "SubnetC"}, "phys-SubnetA", "phys-SubnetA"},
		{"2", []string{"SubnetC"}, "phys-SubnetA", "phys-SubnetA,phys-SubnetB"},
		{"3", nil, "phys-SubnetC", "phys-SubnetA,phys-SubnetB,phys-SubnetC"},
	}
	for _, tt := range tests {
		t.Run(tt.count, func(t *testing.T) {
			env := stubEnv(t, tp, map[string]string{"SubnetCount": tt.count})
			env.GetAtt = func(id, attr string) (any, error) { return "10.20.0.0/16", nil }
			conds, err := tp.EvalConditions(env)
			if err != nil {
				t.Fatal(err)
			}
			env.Conditions = conds
			if err := tp.CheckActive(conds); err != nil {
				t.Fatalf("CheckActive: %v", err)
			}
			if diff := cmp.Diff(tt.wantSkipped, tp.Skipped(conds)); diff != "" {
				t.Errorf("Skipped (-want +got):\n%s", diff)
			}
			host, _ := tp.Resource("Host")
			p, err := tp.EvalProperties(host, env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]any{"ImageId": "ami-42", "SubnetId": tt.wantHost}, p); diff != "" {
				t.Errorf("Host (-want +got):\n%s", diff)
			}
			c, _ := tp.Resource("SubnetA")
			p, err = tp.EvalProperties(c, env)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := p["CidrBlock"], "10.20.0.0/24"; got != want {
				t.Errorf("SubnetA CidrBlock = %v, want %v", got, want)
			}
			outs, err := tp.EvalOutputs(env)
			if err != nil {
				t.Fatal(err)
			}
			want := []cfntemplate.OutputValue{
				{Key: "VpcId", Value: "phys-Vpc", ExportName: "demo-VpcId"},
				{Key: "SubnetIds", Value: tt.wantSubnets},
				{Key: "Zones", Value: "us-east-1a,us-east-1b,us-east-1c"},
			}
			if diff := cmp.Diff(want, outs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckActive(t *testing.T) {
	const head = "Conditions:\n  On: !Equals [a, a]\n  Off: !Equals [a, b]\nResources:\n  Opt: {Type: T, Condition: Off}\n"
	tests := []struct{ name, body, want string }{
		{"untaken branch may reference a skipped resource", head + "  B: {Type: T, Properties: {X: !If [Off, !Ref Opt, none]}}\n", ""},
		{"skipped resources may reference each other", head + "  C: {Type: T, Condition: Off, Properties: {X: !Ref Opt}}\n", ""},
		{"taken branch", head + "  B: {Type: T, Properties: {X: !If [On, !GetAtt Opt.Arn, none]}}\n",
			"Template format error: Unresolved resource dependencies [Opt] in the Resources block of the template"},
		{"DependsOn", head + "  B: {Type: T, DependsOn: [Opt]}\n",
			"Template format error: Unresolved resource dependencies [Opt] in the Resources block of the template"},
		{"Sub", head + "  B: {Type: T, Properties: {X: !Sub '${Opt}'}}\n",
			"Template format error: Unresolved resource dependencies [Opt] in the Resources block of the template"},
		{"output", head + "  B: {Type: T}\nOutputs:\n  O: {Value: !Ref Opt}\n",
			"Template format error: Unresolved resource dependencies [Opt] in the Outputs block of the template"},
		{"skipped output", head + "  B: {Type: T}\nOutputs:\n  O: {Value: !Ref Opt, Condition: Off}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := mustParse(t, tt.body)
			conds, err := tp.EvalConditions(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := errMessage(t, tp.CheckActive(conds)); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestEvalOutputsErrors(t *testing.T) {
	tests := []struct{ name, outputs, want string }{
		{"map value", "  O: {Value: {a: b}}\n", "Template error: the Value of output O must resolve to a string or a list of strings"},
		{"empty export name", "  O: {Value: x, Export: {Name: ''}}\n", "Template error: the Export Name of output O must resolve to a non-empty string"},
		{"import missing", "  O: {Value: !ImportValue nope}\n", "No export named nope found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := mustParse(t, "Resources:\n  B: {Type: T}\nOutputs:\n"+tt.outputs)
			_, err := tp.EvalOutputs(&cfntemplate.Env{})
			if got := errMessage(t, err); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
