package cfntemplate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

const paramsTemplate = `Parameters:
  Env: {Type: String, AllowedValues: [dev, prod]}
  Name: {Type: String, Default: app, MinLength: 2, MaxLength: 5, AllowedPattern: "[a-z]+"}
  Count: {Type: Number, Default: 2, MinValue: 1, MaxValue: 10}
  Ports: {Type: "List<Number>", Default: "80, 443"}
  Zones: {Type: CommaDelimitedList, Default: "a, b,c"}
  Secret: {Type: String, NoEcho: true, Default: s3cr3t}
  Ami: {Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", Default: /ami/latest}
  Names: {Type: "AWS::SSM::Parameter::Value<List<String>>", Default: /names}
  Described: {Type: String, Default: ok, AllowedValues: [ok], ConstraintDescription: must be ok}
  Key: {Type: "AWS::EC2::KeyPair::KeyName", Default: ""}
Resources:
  B: {Type: T}
`

func fakeSSM(name string) (string, bool) {
	v, ok := map[string]string{"/ami/latest": "ami-123", "/names": "x, y", "/ami/old": "ami-000",
		"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64": "ami-42"}[name]
	return v, ok
}

func TestResolveParameters(t *testing.T) {
	tp := mustParse(t, paramsTemplate)
	defaults := map[string]cfntemplate.Value{
		"Env":       {Raw: "dev", Value: "dev"},
		"Name":      {Raw: "app", Value: "app"},
		"Count":     {Raw: "2", Value: "2"},
		"Ports":     {Raw: "80, 443", Value: []any{"80", "443"}},
		"Zones":     {Raw: "a, b,c", Value: []any{"a", "b", "c"}},
		"Secret":    {Raw: "s3cr3t", Value: "s3cr3t", NoEcho: true},
		"Ami":       {Raw: "/ami/latest", Resolved: "ami-123", Value: "ami-123"},
		"Names":     {Raw: "/names", Resolved: "x, y", Value: []any{"x", "y"}},
		"Described": {Raw: "ok", Value: "ok"},
		"Key":       {Raw: "", Value: ""},
	}
	with := func(changes map[string]cfntemplate.Value) map[string]cfntemplate.Value {
		out := map[string]cfntemplate.Value{}
		for k, v := range defaults {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name        string
		given       map[string]string
		previous    map[string]string
		usePrevious []string
		want        map[string]cfntemplate.Value
		wantErr     string
	}{
		{name: "defaults", given: map[string]string{"Env": "dev"}, want: defaults},
		{name: "given values", given: map[string]string{"Env": "prod", "Count": "2.5", "Zones": "x", "Ami": "/ami/old", "Key": "mykey"},
			want: with(map[string]cfntemplate.Value{
				"Env": {Raw: "prod", Value: "prod"}, "Count": {Raw: "2.5", Value: "2.5"}, "Zones": {Raw: "x", Value: []any{"x"}},
				"Ami": {Raw: "/ami/old", Resolved: "ami-000", Value: "ami-000"}, "Key": {Raw: "mykey", Value: "mykey"},
			})},
		{name: "previous value", previous: map[string]string{"Env": "prod", "Name": "old"}, usePrevious: []string{"Env"},
			want: with(map[string]cfntemplate.Value{"Env": {Raw: "prod", Value: "prod"}})},
		{name: "missing", wantErr: "Parameters: [Env] must have values"},
		{name: "undeclared", given: map[string]string{"Env": "dev", "Foo": "1", "Bar": "2"}, wantErr: "Parameters: [Bar, Foo] do not exist in the template"},
		{name: "undeclared previous", given: map[string]string{"Env": "dev"}, usePrevious: []string{"Gone"}, wantErr: "Parameters: [Gone] do not exist in the template"},
		{name: "previous and given", given: map[string]string{"Env": "dev"}, previous: map[string]string{"Env": "dev"}, usePrevious: []string{"Env"},
			wantErr: "Invalid input for parameter key Env. Cannot specify usePreviousValue as true and non empty value for a parameter"},
		{name: "previous absent", usePrevious: []string{"Env"},
			wantErr: "Invalid input for parameter key Env. Cannot specify usePreviousValue as true for a parameter key not in the previous template"},
		{name: "allowed values", given: map[string]string{"Env": "test"}, wantErr: "Parameter 'Env' must be one of AllowedValues"},
		{name: "pattern", given: map[string]string{"Env": "dev", "Name": "ab1"}, wantErr: "Parameter 'Name' must match pattern [a-z]+"},
		{name: "pattern matches the whole value", given: map[string]string{"Env": "dev", "Name": "ABcd"}, wantErr: "Parameter 'Name' must match pattern [a-z]+"},
		{name: "min length", given: map[string]string{"Env": "dev", "Name": "a"}, wantErr: "Parameter 'Name' must contain at least 2 characters"},
		{name: "max length", given: map[string]string{"Env": "dev", "Name": "abcdef"}, wantErr: "Parameter 'Name' must contain at most 5 characters"},
		{name: "not a number", given: map[string]string{"Env": "dev", "Count": "x"}, wantErr: "Parameter 'Count' must be a number."},
		{name: "empty number", given: map[string]string{"Env": "dev", "Count": ""}, wantErr: "Parameter 'Count' must be a number."},
		{name: "min value", given: map[string]string{"Env": "dev", "Count": "0"}, wantErr: "Parameter 'Count' must be a number not less than 1"},
		{name: "max value", given: map[string]string{"Env": "dev", "Count": "10.5"}, wantErr: "Parameter 'Count' must be a number not greater than 10"},
		{name: "number list member", given: map[string]string{"Env": "dev", "Ports": "80,http"}, wantErr: "Parameter 'Ports' must be a number."},
		{name: "constraint description", given: map[string]string{"Env": "dev", "Described": "bad"}, wantErr: "Parameter Described failed to satisfy constraint: must be ok"},
		{name: "ssm parameter missing", given: map[string]string{"Env": "dev", "Ami": "/nope", "Names": "/nope2"},
			wantErr: "Unable to fetch parameters [/nope,/nope2] from parameter store for this account."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tp.ResolveParameters(tt.given, tt.previous, tt.usePrevious, fakeSSM)
			if msg := errMessage(t, err); msg != tt.wantErr {
				t.Fatalf("error = %q, want %q", msg, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveParametersWithoutSSM(t *testing.T) {
	tp := mustParse(t, paramsTemplate)
	_, err := tp.ResolveParameters(map[string]string{"Env": "dev"}, nil, nil, nil)
	if got, want := errMessage(t, err), "Unable to fetch parameters [/ami/latest,/names] from parameter store for this account."; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestResolveParametersListConstraintsPerMember(t *testing.T) {
	tp := mustParse(t, `Parameters:
  Zones: {Type: CommaDelimitedList, AllowedValues: [a, b, c]}
  Subnets: {Type: "List<AWS::EC2::Subnet::Id>", AllowedPattern: "subnet-[0-9]+"}
Resources:
  B: {Type: T}
`)
	tests := []struct {
		zones, subnets, wantErr string
	}{
		{"a,c", "subnet-1, subnet-2", ""},
		{"a,d", "subnet-1", "Parameter 'Zones' must be one of AllowedValues"},
		{"a", "subnet-1,sg-2", "Parameter 'Subnets' must match pattern subnet-[0-9]+"},
	}
	for _, tt := range tests {
		got, err := tp.ResolveParameters(map[string]string{"Zones": tt.zones, "Subnets": tt.subnets}, nil, nil, nil)
		if msg := errMessage(t, err); msg != tt.wantErr {
			t.Errorf("%s/%s: error = %q, want %q", tt.zones, tt.subnets, msg, tt.wantErr)
		}
		if err == nil {
			if _, ok := got["Subnets"].Value.([]any); !ok {
				t.Errorf("Subnets value %#v is not a list", got["Subnets"].Value)
			}
		}
	}
}

func TestValueDisplayMasksNoEcho(t *testing.T) {
	tests := []struct {
		v    cfntemplate.Value
		want string
	}{
		{cfntemplate.Value{Raw: "s3cr3t", NoEcho: true}, "****"},
		{cfntemplate.Value{Raw: "plain"}, "plain"},
	}
	for _, tt := range tests {
		if got := tt.v.Display(); got != tt.want {
			t.Errorf("Display(%+v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
