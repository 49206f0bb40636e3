package awsproto_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

func TestDecodeQuery(t *testing.T) {
	type O = awsproto.Object
	tests := []struct {
		name  string
		query string
		want  awsproto.Object
	}{
		{"empty", "", O{}},
		{"scalars", "StackName=web&TemplateURL=https%3A%2F%2Fx%2Fy%3Fa%3Db", O{"StackName": "web", "TemplateURL": "https://x/y?a=b"}},
		{"empty value stays empty string", "Capabilities=&Name=", O{"Capabilities": "", "Name": ""}},
		{"string list", "Capabilities.member.1=CAPABILITY_IAM&Capabilities.member.2=CAPABILITY_AUTO_EXPAND",
			O{"Capabilities": []any{"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}}},
		{"list ordered by index not by text", "L.member.10=ten&L.member.2=two&L.member.1=one",
			O{"L": []any{"one", "two", "ten"}}},
		{"index gaps closed", "L.member.3=c&L.member.7=d&L.member.1=a", O{"L": []any{"a", "c", "d"}}},
		{"structure list", "Parameters.member.1.ParameterKey=K&Parameters.member.1.ParameterValue=V&Parameters.member.2.ParameterKey=K2&Parameters.member.2.UsePreviousValue=true",
			O{"Parameters": []any{O{"ParameterKey": "K", "ParameterValue": "V"}, O{"ParameterKey": "K2", "UsePreviousValue": "true"}}}},
		{"nested structure", "LoggingConfig.LogGroupName=g&LoggingConfig.LogRoleArn=r",
			O{"LoggingConfig": O{"LogGroupName": "g", "LogRoleArn": "r"}}},
		{"map", "Attributes.entry.1.key=a&Attributes.entry.1.value=1&Attributes.entry.2.key=b&Attributes.entry.2.value=",
			O{"Attributes": O{"a": "1", "b": ""}}},
		{"map entry without value", "Attributes.entry.1.key=a", O{"Attributes": O{"a": ""}}},
		{"map later index wins on duplicate key", "M.entry.2.key=k&M.entry.2.value=second&M.entry.1.key=k&M.entry.1.value=first",
			O{"M": O{"k": "second"}}},
		{"list in list", "A.member.1.member.1=x&A.member.1.member.2=y&A.member.2.member.1=z",
			O{"A": []any{[]any{"x", "y"}, []any{"z"}}}},
		{"list of structures with lists", "MetricData.member.1.MetricName=m&MetricData.member.1.Dimensions.member.1.Name=Stack&MetricData.member.1.Dimensions.member.1.Value=web&MetricData.member.1.Values.member.1=1.5",
			O{"MetricData": []any{O{"MetricName": "m", "Dimensions": []any{O{"Name": "Stack", "Value": "web"}}, "Values": []any{"1.5"}}}}},
		{"map of lists", "M.entry.1.key=k&M.entry.1.value.member.1=a&M.entry.1.value.member.2=b",
			O{"M": O{"k": []any{"a", "b"}}}},
		{"list of maps", "L.member.1.entry.1.key=k&L.member.1.entry.1.value=v", O{"L": []any{O{"k": "v"}}}},
		{"empty marker beside members", "Tags=&Tags.member.1.Key=a", O{"Tags": []any{O{"Key": "a"}}}},
		{"repeated name keeps first", "A=1&A=2", O{"A": "1"}},
		{"unicode and plus", "N=caf%C3%A9+au+lait", O{"N": "café au lait"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("bad test query: %v", err)
			}
			got, err := awsproto.DecodeQuery(vals)
			if err != nil {
				t.Fatalf("DecodeQuery(%q): %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeQuery(%q) (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func TestDecodeQueryErrors(t *testing.T) {
	tests := []struct{ name, query string }{
		{"zero index", "L.member.0=a"},
		{"negative index", "L.member.-1=a"},
		{"signed index", "L.member.%2B1=a"},
		{"leading zero index", "L.member.01=a"},
		{"word index", "L.member.one=a"},
		{"huge index", "L.member.99999999999999999999999=a"},
		{"member without index", "L.member=a"},
		{"entry without index", "M.entry=a"},
		{"empty segment", "A..B=x"},
		{"trailing dot", "A.=x"},
		{"leading dot", ".A=x"},
		{"value and members", "L=x&L.member.1=a"},
		{"members mixed with fields", "L.member.1=a&L.Other=b"},
		{"entries mixed with fields", "M.entry.1.key=a&M.Other=b"},
		{"map entry without key", "M.entry.1.value=v"},
		{"map key with children", "M.entry.1.key.x=v"},
		{"map entry with unknown field", "M.entry.1.key=k&M.entry.1.other=v"},
		{"too deep", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("bad test query: %v", err)
			}
			got, err := awsproto.DecodeQuery(vals)
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				t.Fatalf("DecodeQuery(%q) = %v, %v; want an *awsproto.Error", tt.query, got, err)
			}
			if ae.Code != "InvalidQueryParameter" || ae.Status != 400 || !ae.Sender {
				t.Errorf("error = %+v, want a 400 Sender InvalidQueryParameter", ae)
			}
		})
	}
}
