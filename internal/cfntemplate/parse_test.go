package cfntemplate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

var ignoreUnexported = cmpopts.IgnoreUnexported(cfntemplate.Template{}, cfntemplate.Parameter{})

func TestParseAppTemplate(t *testing.T) {
	body := readFile(t, "testdata/app.yaml")
	tp, err := cfntemplate.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if string(tp.Body) != string(body) {
		t.Error("Body is not the submitted template")
	}
	if got, want := tp.Description, "Application bucket with a reader role, a bucket policy and a config parameter."; got != want {
		t.Errorf("Description = %q, want %q", got, want)
	}
	if got, want := tp.FormatVersion, "2010-09-09"; got != want {
		t.Errorf("FormatVersion = %q, want %q", got, want)
	}
	wantParams := []cfntemplate.Parameter{
		{Name: "Env", Type: "String", AllowedValues: []string{"dev", "prod"}, Default: "dev", HasDefault: true, Description: "Deployment environment."},
		{Name: "BucketPrefix", Type: "String", AllowedPattern: "[a-z0-9-]+", MinLength: ptr(3), MaxLength: ptr(40),
			Default: "stackfleet-app", HasDefault: true, ConstraintDescription: "lowercase letters, digits and hyphens only"},
		{Name: "RetentionDays", Type: "Number", MinValue: ptr(1.0), MaxValue: ptr(3650.0), Default: "30", HasDefault: true},
		{Name: "AdminRoleArn", Type: "String", NoEcho: true, Default: "", HasDefault: true},
	}
	if diff := cmp.Diff(wantParams, tp.Parameters, ignoreUnexported); diff != "" {
		t.Errorf("Parameters (-want +got):\n%s", diff)
	}
	type res struct{ ID, Type, Condition, Deletion, Replace string }
	var gotRes []res
	for _, r := range tp.Resources {
		gotRes = append(gotRes, res{r.LogicalID, r.Type, r.Condition, r.DeletionPolicy, r.UpdateReplacePolicy})
	}
	wantRes := []res{
		{"AppBucket", "AWS::S3::Bucket", "", "Retain", "Retain"},
		{"ReaderRole", "AWS::IAM::Role", "", "", ""},
		{"AppBucketPolicy", "AWS::S3::BucketPolicy", "", "", ""},
		{"ConfigParameter", "AWS::SSM::Parameter", "", "", ""},
	}
	if diff := cmp.Diff(wantRes, gotRes); diff != "" {
		t.Errorf("Resources (-want +got):\n%s", diff)
	}
	var outKeys []string
	for _, o := range tp.Outputs {
		outKeys = append(outKeys, o.Key)
	}
	if diff := cmp.Diff([]string{"BucketName", "BucketArn", "ReaderRoleArn", "ProdOnly"}, outKeys); diff != "" {
		t.Errorf("output order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"IsProd", "HasAdmin"}, tp.ConditionNames); diff != "" {
		t.Errorf("ConditionNames (-want +got):\n%s", diff)
	}
	wantMappings := map[string]map[string]map[string]any{
		"EnvSettings": {"dev": {"LogLevel": "DEBUG"}, "prod": {"LogLevel": "WARN"}},
	}
	if diff := cmp.Diff(wantMappings, tp.Mappings); diff != "" {
		t.Errorf("Mappings (-want +got):\n%s", diff)
	}
	if got, want := tp.Outputs[0].ExportName, any(map[string]any{"Fn::Sub": "${AWS::StackName}-BucketName"}); !cmp.Equal(got, want) {
		t.Errorf("ExportName = %v, want %v", got, want)
	}
	if got, want := tp.Resources[3].DependsOn, []string{"AppBucketPolicy"}; !cmp.Equal(got, want) {
		t.Errorf("DependsOn = %v, want %v", got, want)
	}
}

// The YAML and JSON renderings of the same template must parse to the same Template.
func TestYAMLAndJSONTemplatesAgree(t *testing.T) {
	y, err := cfntemplate.Parse(readFile(t, "testdata/app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := cfntemplate.Parse(readFile(t, "testdata/app.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, y, ignoreUnexported, cmpopts.IgnoreFields(cfntemplate.Template{}, "Body")); diff != "" {
		t.Errorf("JSON (-) vs YAML (+):\n%s", diff)
	}
	if diff := cmp.Diff(j.Dependencies(), y.Dependencies()); diff != "" {
		t.Errorf("Dependencies JSON (-) vs YAML (+):\n%s", diff)
	}
}

const shortHeader = `Parameters:
  Env: {Type: String, Default: dev}
Mappings:
  M: {k1: {k2: v}}
Conditions:
  C: {"Fn::Equals": [{Ref: Env}, prod]}
Resources:
  B: {Type: "AWS::S3::Bucket"}
  R:
    Type: T
    Properties:
      P: `

func TestYAMLShortFormsMatchLongForms(t *testing.T) {
	tests := []struct {
		name      string
		short     string // YAML short form, appended after "P: "
		long      string // the JSON long form
		condition bool   // the forms are condition expressions, compared in the Conditions section
	}{
		{"Ref", `!Ref Env`, `{"Ref": "Env"}`, false},
		{"Ref pseudo", `!Ref AWS::Region`, `{"Ref": "AWS::Region"}`, false},
		{"Sub string", `!Sub "${Env}-x"`, `{"Fn::Sub": "${Env}-x"}`, false},
		{"Sub list", `!Sub ["${A}-x", {A: !Ref Env}]`, `{"Fn::Sub": ["${A}-x", {"A": {"Ref": "Env"}}]}`, false},
		{"Sub block literal", "!Sub |\n        line ${Env}\n        two", `{"Fn::Sub": "line ${Env}\ntwo\n"}`, false},
		{"GetAtt dotted", `!GetAtt B.Arn`, `{"Fn::GetAtt": ["B", "Arn"]}`, false},
		{"GetAtt dotted nested attribute", `!GetAtt B.Outputs.Name`, `{"Fn::GetAtt": ["B", "Outputs.Name"]}`, false},
		{"GetAtt list", `!GetAtt [B, Arn]`, `{"Fn::GetAtt": ["B", "Arn"]}`, false},
		{"If", `!If [C, a, !Ref AWS::NoValue]`, `{"Fn::If": ["C", "a", {"Ref": "AWS::NoValue"}]}`, false},
		{"Join", `!Join ["-", [a, !Ref Env]]`, `{"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}`, false},
		{"Select GetAZs", `!Select [0, !GetAZs ""]`, `{"Fn::Select": [0, {"Fn::GetAZs": ""}]}`, false},
		{"Split", `!Split [",", "a,b"]`, `{"Fn::Split": [",", "a,b"]}`, false},
		{"FindInMap", `!FindInMap [M, k1, k2]`, `{"Fn::FindInMap": ["M", "k1", "k2"]}`, false},
		{"ImportValue", `!ImportValue exp`, `{"Fn::ImportValue": "exp"}`, false},
		{"ImportValue Sub", `!ImportValue {"Fn::Sub": "${Env}-exp"}`, `{"Fn::ImportValue": {"Fn::Sub": "${Env}-exp"}}`, false},
		{"Base64", `!Base64 hi`, `{"Fn::Base64": "hi"}`, false},
		{"Cidr", `!Cidr [10.0.0.0/16, 2, 8]`, `{"Fn::Cidr": ["10.0.0.0/16", 2, 8]}`, false},
		// goccy/go-yaml splits "AWS::Region" after a tag inside a flow mapping; see
		// fixTaggedFlowScalars.
		{"tag in flow mapping, last entry", `{K: !Ref AWS::Region}`, `{"K": {"Ref": "AWS::Region"}}`, false},
		{"tag in flow mapping, first entry", `{K: !Ref AWS::Region, L: !Sub "x"}`, `{"K": {"Ref": "AWS::Region"}, "L": {"Fn::Sub": "x"}}`, false},
		{"tag in flow mapping in a list", `[{K: !Ref AWS::Partition}, !Ref AWS::URLSuffix]`, `[{"K": {"Ref": "AWS::Partition"}}, {"Ref": "AWS::URLSuffix"}]`, false},
		{"tagged key in flow mapping", `{!!str 1: a, K: !Ref Env}`, `{"1": "a", "K": {"Ref": "Env"}}`, false},
		{"block sequence argument", "!Join\n        - \",\"\n        - - a\n          - b", `{"Fn::Join": [",", ["a", "b"]]}`, false},
		{"Equals", `!Equals [!Ref Env, prod]`, `{"Fn::Equals": [{"Ref": "Env"}, "prod"]}`, true},
		{"And", `!And [!Condition C, !Equals [a, a]]`, `{"Fn::And": [{"Condition": "C"}, {"Fn::Equals": ["a", "a"]}]}`, true},
		{"Or", `!Or [!Condition C, !Equals [a, b]]`, `{"Fn::Or": [{"Condition": "C"}, {"Fn::Equals": ["a", "b"]}]}`, true},
		{"Not", `!Not [!Condition C]`, `{"Fn::Not": [{"Condition": "C"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var yamlBody, jsonBody string
			if tt.condition {
				base := `{"Parameters": {"Env": {"Type": "String", "Default": "dev"}},
					"Conditions": {"C": {"Fn::Equals": ["a", "b"]}, "D": %s},
					"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}`
				yamlBody = "Parameters:\n  Env: {Type: String, Default: dev}\nConditions:\n  C: !Equals [a, b]\n  D: " + tt.short + "\nResources:\n  B: {Type: 'AWS::S3::Bucket'}\n"
				jsonBody = fmt.Sprintf(base, tt.long)
			} else {
				yamlBody = shortHeader + tt.short + "\n"
				jsonBody = `{"Parameters": {"Env": {"Type": "String", "Default": "dev"}},
					"Mappings": {"M": {"k1": {"k2": "v"}}},
					"Conditions": {"C": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
					"Resources": {"B": {"Type": "AWS::S3::Bucket"}, "R": {"Type": "T", "Properties": {"P": ` + tt.long + `}}}}`
			}
			y, j := mustParse(t, yamlBody), mustParse(t, jsonBody)
			if diff := cmp.Diff(j.Conditions, y.Conditions); diff != "" {
				t.Errorf("Conditions JSON (-) vs YAML (+):\n%s", diff)
			}
			if diff := cmp.Diff(j.Resources, y.Resources); diff != "" {
				t.Errorf("Resources JSON (-) vs YAML (+):\n%s", diff)
			}
		})
	}
}

func TestParseScalars(t *testing.T) {
	tp := mustParse(t, `Resources:
  R:
    Type: T
    Properties:
      Int: 42
      Neg: -7
      Float: 2.5
      Bool: true
      Quoted: "42"
      Date: 2012-10-17
      Hex: 0x10
      List: [1, a, false]
`)
	want := map[string]any{
		"Int": int64(42), "Neg": int64(-7), "Float": 2.5, "Bool": true, "Quoted": "42",
		"Date": "2012-10-17", "Hex": int64(16), "List": []any{int64(1), "a", false},
	}
	if diff := cmp.Diff(want, tp.Resources[0].Properties); diff != "" {
		t.Errorf("YAML properties (-want +got):\n%s", diff)
	}
	tj := mustParse(t, `{"Resources": {"R": {"Type": "T", "Properties": {"Int": 42, "Float": 2.5, "Exp": 1e3, "Big": 12345678901234567890, "Bool": false}}}}`)
	wantJSON := map[string]any{"Int": int64(42), "Float": 2.5, "Exp": 1000.0, "Big": 12345678901234567890.0, "Bool": false}
	if diff := cmp.Diff(wantJSON, tj.Resources[0].Properties); diff != "" {
		t.Errorf("JSON properties (-want +got):\n%s", diff)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct{ name, body string }{
		{"AWS-specific parameter types", `Parameters:
  K: {Type: "AWS::EC2::KeyPair::KeyName"}
  S: {Type: "List<AWS::EC2::Subnet::Id>"}
  V: {Type: "AWS::EC2::VPC::Id"}
  N: {Type: "AWS::SSM::Parameter::Name"}
  A: {Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"}
  L: {Type: "AWS::SSM::Parameter::Value<List<String>>"}
  C: {Type: "AWS::SSM::Parameter::Value<CommaDelimitedList>"}
  Ns: {Type: "List<Number>"}
Resources:
  B: {Type: T}
`},
		{"Sub escapes, local variables and pseudo parameters", `Resources:
  B: {Type: T}
  R:
    Type: T
    Properties:
      A: !Sub "${!Literal} ${AWS::Region} ${B} ${B.Arn}"
      Open: !Sub "${never closed"
      L: !Sub ["${Local.Dotted}", {Local.Dotted: x}]
`},
		{"Rules and Metadata sections", `Metadata: {Doc: x}
Rules:
  R1: {Assertions: [{Assert: {"Fn::Equals": [a, a]}}]}
Resources:
  B: {Type: T, Metadata: {Note: !Ref AWS::StackName}}
`},
		{"DependsOn list and Fn::If on a skipped resource", `Conditions:
  Never: !Equals [a, b]
Resources:
  Opt: {Type: T, Condition: Never}
  B:
    Type: T
    DependsOn: [C]
    Properties:
      X: !If [Never, !Ref Opt, !Ref "AWS::NoValue"]
  C: {Type: T}
`},
		{"JSON with leading whitespace and a byte order mark", "\ufeff  \n{\"Resources\": {\"B\": {\"Type\": \"T\"}}}"},
		{"YAML document markers and comments", "---\n# comment\nResources:\n  B: {Type: T}  # trailing\n...\n"},
		{"anchor without alias", "Resources:\n  B: &anchor {Type: T}\n"},
		{"Java-only regex is accepted", "Parameters:\n  P: {Type: String, Default: a, AllowedPattern: '(?!x).*'}\nResources:\n  B: {Type: T}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cfntemplate.Parse([]byte(tt.body)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const res = "Resources:\n  B: {Type: T}\n"
	tests := []struct{ name, body, want string }{
		{"JSON not well-formed", "{\n  \"Resources\": {\n    \"B\": {\"Type\": \"T\",}\n  }\n}",
			"Template format error: JSON not well-formed. (line 3, column 23)"},
		{"JSON truncated", `{"Resources": {`, "Template format error: JSON not well-formed. (line 1, column 16)"},
		{"JSON trailing data", `{"Resources": {"B": {"Type": "T"}}} x`, "Template format error: JSON not well-formed. (line 1, column 37)"},
		{"YAML not well-formed", "Resources:\n  B: [\n", "Template format error: YAML not well-formed. (line 2, column 6)"},
		{"YAML duplicate key", "Resources:\n  B: {Type: T}\n  B: {Type: U}\n", "Template format error: YAML not well-formed. (line 3, column 3)"},
		{"YAML alias", "Resources:\n  A: &a {Type: T}\n  B: *a\n", "Template format error: YAML aliases are not allowed in CloudFormation templates"},
		{"YAML unknown tag", "Resources:\n  B: {Type: !Foo T}\n", "Template format error: YAML not well-formed. (line 2, column 13)"},
		{"YAML two documents", res + "---\nResources: {}\n", "Template format error: YAML not well-formed. (line 4, column 10)"},
		{"YAML tag on empty value", "Resources:\n  B:\n    Type: T\n    Properties:\n      A: !Ref\n      C: x\n",
			"Template format error: YAML not well-formed. (line 6, column 8)"},
		{"scalar body", "hello", "Template format error: unsupported structure."},
		{"list body", "[1, 2]", "Template format error: unsupported structure."},
		{"empty body", "", "Template format error: unsupported structure."},
		{"unknown section", "Foo: 1\nBar: 2\n" + res, "Template format error: Invalid template property or properties [Foo, Bar]"},
		{"transform", "Transform: AWS::Serverless-2016-10-31\n" + res,
			"Template format error: Transforms are not supported by the sandbox; expand the template before deploying it"},
		{"Fn::Transform", "Resources:\n  B: {Type: T, Properties: {A: {'Fn::Transform': {Name: X}}}}\n",
			"Template format error: Transforms are not supported by the sandbox; expand the template before deploying it"},
		{"bad format version", "AWSTemplateFormatVersion: 2011-01-01\n" + res, "Template format error: unsupported value for AWSTemplateFormatVersion."},
		{"no Resources", "Description: x\n", "Template format error: At least one Resources member must be defined."},
		{"empty Resources", "Resources: {}\n", "Template format error: At least one Resources member must be defined."},
		{"resource without Type", "Resources:\n  B: {Properties: {}}\n", "Template format error: Every Resources object must contain a Type member."},
		{"resource malformed", "Resources:\n  B: x\n", "Template format error: [/Resources/B] resource definition is malformed"},
		{"resource name", "Resources:\n  my-bucket: {Type: T}\n", "Template format error: Resource name my-bucket is non alphanumeric."},
		{"resource attribute", "Resources:\n  B: {Type: T, Propertys: {}}\n", "Template format error: Invalid template resource property 'Propertys'"},
		{"null properties", "Resources:\n  B:\n    Type: T\n    Properties:\n",
			"Template format error: [/Resources/B/Properties] 'null' values are not allowed in templates"},
		{"null in list", "Resources:\n  B: {Type: T, Properties: {L: [a, null]}}\n",
			"Template format error: [/Resources/B/Properties/L/1] 'null' values are not allowed in templates"},
		{"deletion policy", "Resources:\n  B: {Type: T, DeletionPolicy: Keep}\n", "Template format error: Unrecognized DeletionPolicy Keep for resource B"},
		{"Ref unknown", "Resources:\n  B: {Type: T, Properties: {A: !Ref Nope, C: !Ref Other}}\n",
			"Template format error: Unresolved resource dependencies [Nope, Other] in the Resources block of the template"},
		{"Ref not a string", "Resources:\n  B: {Type: T, Properties: {A: {Ref: [x]}}}\n", "Template error: All References must be of type string"},
		{"DependsOn unknown", "Resources:\n  B: {Type: T, DependsOn: Nope}\n",
			"Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"},
		{"DependsOn malformed", "Resources:\n  B: {Type: T, DependsOn: {a: b}}\n", "Template format error: DependsOn must be a string or list of strings."},
		{"Sub unknown variable", "Resources:\n  B: {Type: T, Properties: {A: !Sub '${Nope}-x'}}\n",
			"Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"},
		{"Sub unknown attribute resource", "Resources:\n  B: {Type: T, Properties: {A: !Sub '${Nope.Arn}'}}\n",
			"Template error: instance of Fn::GetAtt references undefined resource Nope"},
		{"Sub malformed", "Resources:\n  B: {Type: T, Properties: {A: !Sub [1, 2, 3]}}\n",
			"Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string"},
		{"GetAtt undefined resource", "Resources:\n  B: {Type: T, Properties: {A: !GetAtt Foo.Arn}}\n",
			"Template error: instance of Fn::GetAtt references undefined resource Foo"},
		{"GetAtt of a parameter", "Parameters:\n  P: {Type: String}\nResources:\n  B: {Type: T, Properties: {A: !GetAtt P.Arn}}\n",
			"Template error: instance of Fn::GetAtt references undefined resource P"},
		{"GetAtt malformed", "Resources:\n  B: {Type: T, Properties: {A: !GetAtt NoDot}}\n", "Template error: every Fn::GetAtt object requires two non-empty parameters"},
		{"unknown function", "Resources:\n  B: {Type: T, Properties: {A: {'Fn::Foo': x}}}\n",
			"Template format error: Encountered unsupported function: Fn::Foo Supported functions are: [Fn::Base64, Fn::GetAtt, Fn::GetAZs, Fn::ImportValue, Fn::Join, Fn::Split, Fn::FindInMap, Fn::Select, Ref, Fn::Equals, Fn::If, Fn::Not, Condition, Fn::And, Fn::Or, Fn::Sub, Fn::Cidr]"},
		{"ImportValue of a resource", "Resources:\n  B: {Type: T}\n  C: {Type: T, Properties: {A: !ImportValue {Ref: B}}}\n",
			"Template error: the attribute in Fn::ImportValue must not depend on any resources, imported values, or Fn::GetAZs"},
		{"Output Ref unknown", res + "Outputs:\n  O: {Value: !GetAtt Nope.Arn}\n", "Template error: instance of Fn::GetAtt references undefined resource Nope"},
		{"Output Sub unknown", res + "Outputs:\n  O: {Value: !Sub '${Nope}'}\n",
			"Template format error: Unresolved resource dependencies [Nope] in the Outputs block of the template"},
		{"Output without Value", res + "Outputs:\n  O: {Description: x}\n", "Template format error: Every Outputs member must contain a Value object"},
		{"resource condition undefined", "Resources:\n  B: {Type: T, Condition: Nope}\n", "Template format error: Condition Nope is not defined."},
		{"output condition undefined", res + "Outputs:\n  O: {Value: x, Condition: Nope}\n", "Template format error: Condition Nope is not defined."},
		{"If condition undefined", "Resources:\n  B: {Type: T, Properties: {A: !If [Nope, a, b]}}\n",
			"Template error: unresolved condition dependency Nope in Fn::If"},
		{"If malformed", "Conditions:\n  C: !Equals [a, a]\nResources:\n  B: {Type: T, Properties: {A: !If [C, a]}}\n",
			"Template error: Fn::If requires a list argument with three elements"},
		{"condition references a resource", "Conditions:\n  C: !Equals [!Ref B, x]\n" + res,
			"Template format error: Unresolved dependencies [B]. Cannot reference resources in the Conditions block of the template"},
		{"condition references an unknown condition", "Conditions:\n  C: !Not [!Condition Nope]\n" + res,
			"Template format error: Unresolved condition dependencies [Nope] in the Conditions block of the template"},
		{"condition cycle", "Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\n  Z: !Condition A\n" + res,
			"Template format error: Circular dependency between conditions: [A, B, Z]"},
		{"condition not boolean", "Conditions:\n  C: yes\n" + res,
			"Template format error: Conditions can only be boolean operations on parameters and other conditions"},
		{"resource cycle", "Resources:\n  A: {Type: T, Properties: {X: !Ref B}}\n  B: {Type: T, Properties: {X: !GetAtt A.Arn}}\n",
			"Circular dependency between resources: [A, B]"},
		{"self reference", "Resources:\n  A: {Type: T, Properties: {X: !Sub '${A}'}}\n", "Circular dependency between resources: [A]"},
		{"cycle through If and DependsOn, with a dependent",
			"Conditions:\n  C: !Equals [a, b]\nResources:\n  Z: {Type: T, DependsOn: A}\n  A: {Type: T, Properties: {X: !If [C, !Ref B, x]}}\n  B: {Type: T, DependsOn: A}\n  Free: {Type: T}\n",
			"Circular dependency between resources: [Z, A, B]"},
		{"parameter type", "Parameters:\n  P: {Type: Strin}\n" + res, "Template format error: Unrecognized parameter type: Strin"},
		{"parameter list type", "Parameters:\n  P: {Type: 'List<String>'}\n" + res, "Template format error: Unrecognized parameter type: List<String>"},
		{"parameter without Type", "Parameters:\n  P: {Default: x}\n" + res, "Template format error: Every Parameters object must contain a Type member."},
		{"parameter attribute", "Parameters:\n  P: {Type: String, Defualt: x}\n" + res, "Template format error: Invalid template parameter property 'Defualt'"},
		{"parameter pattern", "Parameters:\n  P: {Type: String, AllowedPattern: '[a-'}\n" + res,
			"Template format error: Parameter 'P' AllowedPattern must be a valid regular expression."},
		{"parameter and resource share a name", "Parameters:\n  B: {Type: String}\n" + res,
			"Template format error: Parameter and resource names must be unique: B"},
		{"mapping malformed", "Mappings:\n  M: {a: b}\n" + res, "Template format error: Every Mappings member a must be a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cfntemplate.Parse([]byte(tt.body))
			if got := errMessage(t, err); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseDeepNestingIsAnError(t *testing.T) {
	for _, body := range []string{
		`{"Resources": {"B": {"Type": "T", "Properties": {"A": ` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}}}}`,
		"Resources:\n  B: {Type: T, Properties: {A: " + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "}}\n",
	} {
		_, err := cfntemplate.Parse([]byte(body))
		if msg := errMessage(t, err); !strings.Contains(msg, "not well-formed") {
			t.Errorf("error = %q, want a not well-formed error", msg)
		}
	}
}

// TestEmptyBlockScalars: block scalars holding only empty lines are valid YAML, kept ("|+")
// as line breaks and clipped or stripped to "".
func TestEmptyBlockScalars(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: |+\n\nOutputs: {}\n", "\n"},
		{"Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: |+\n\n\n    Metadata: {}\n", "\n\n"},
		{"Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: |\n\nOutputs: {}\n", ""},
		{"Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: >-\n", ""},
		{"Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: |+\n        kept\n\n", "kept\n\n"},
	} {
		tp, err := cfntemplate.Parse([]byte(tc.src))
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		got := tp.Resources[0].Properties["Value"]
		if got != tc.want {
			t.Errorf("%q: value %q, want %q", tc.src, got, tc.want)
		}
	}
}
