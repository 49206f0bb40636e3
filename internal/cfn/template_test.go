package cfn_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

func TestTemplateDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       map[string]string // "<none>" for a parameter without a default
	}{
		{"yaml", `
Parameters:
  Env: {Type: String, Default: dev}
  Size: {Type: Number, Default: 3}
  Ratio: {Type: Number, Default: 1.5}
  On: {Type: String, Default: true}
  Subnets: {Type: CommaDelimitedList, Default: [a, b]}
  Required: {Type: String}
Resources:
  R: {Type: AWS::SNS::Topic, Properties: {TopicName: !Ref Env}}
`, map[string]string{"Env": "dev", "Size": "3", "Ratio": "1.5", "On": "true", "Subnets": "a,b", "Required": "<none>"}},
		{"json", `{"Parameters": {"P": {"Type": "String", "Default": "x"}, "Q": {"Type": "String"}}, "Resources": {}}`,
			map[string]string{"P": "x", "Q": "<none>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for k, v := range cfn.TemplateDefaults([]byte(tc.body)) {
				got[k] = "<none>"
				if v != nil {
					got[k] = *v
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
		})
	}
	if got := cfn.TemplateDefaults([]byte("Parameters: [\n")); got != nil {
		t.Errorf("defaults of a broken template = %v, want nil", got)
	}
}

func TestTemplateAdds(t *testing.T) {
	got, err := cfn.TemplateAdds([]byte(tmplV2))
	if err != nil {
		t.Fatal(err)
	}
	want := []fleet.ResourceChange{
		{Action: "Add", LogicalID: "Bucket", Type: "AWS::S3::Bucket"},
		{Action: "Add", LogicalID: "Queue", Type: "AWS::SQS::Queue"},
		{Action: "Add", LogicalID: "Topic", Type: "AWS::SNS::Topic"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("adds (-want +got):\n%s", diff)
	}
	if _, err := cfn.TemplateAdds([]byte("Resources: {")); err == nil {
		t.Error("a broken template parsed")
	}
}

func FuzzTemplate(f *testing.F) {
	f.Add([]byte(tmplV1))
	f.Add([]byte(`{"Parameters": {"P": {"Default": ["a", 1, null]}}, "Resources": {"R": {"Type": 5}}}`))
	f.Add([]byte("Parameters: !Ref X\nResources: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cfn.TemplateDefaults(body) // must not panic
		if adds, err := cfn.TemplateAdds(body); err == nil {
			for _, a := range adds {
				if a.Action != "Add" {
					t.Errorf("action %q", a.Action)
				}
			}
		}
	})
}
