package cfntemplate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDependenciesAndOrder(t *testing.T) {
	tests := []struct {
		name      string
		resources string
		wantDeps  map[string][]string
		wantOrder []string
	}{
		{"independent resources keep declaration order",
			"  C: {Type: T}\n  A: {Type: T}\n  B: {Type: T}\n",
			map[string][]string{"A": nil, "B": nil, "C": nil},
			[]string{"C", "A", "B"}},
		{"DependsOn",
			"  A: {Type: T, DependsOn: C}\n  B: {Type: T}\n  C: {Type: T}\n",
			map[string][]string{"A": {"C"}, "B": nil, "C": nil},
			[]string{"B", "C", "A"}},
		{"implicit references",
			"  A: {Type: T, Properties: {X: !Ref B, Y: !GetAtt C.Arn, Z: !Sub '${D}/${E.Name}', L: !Sub ['${V}', {V: !Ref F}]}}\n" +
				"  B: {Type: T}\n  C: {Type: T}\n  D: {Type: T}\n  E: {Type: T}\n  F: {Type: T}\n",
			map[string][]string{"A": {"B", "C", "D", "E", "F"}, "B": nil, "C": nil, "D": nil, "E": nil, "F": nil},
			[]string{"B", "C", "D", "E", "F", "A"}},
		{"both Fn::If branches and Metadata",
			"  A: {Type: T, Properties: {X: !If [C, !Ref B, !Ref D]}, Metadata: {M: !Ref E}}\n  B: {Type: T}\n  D: {Type: T}\n  E: {Type: T}\n",
			map[string][]string{"A": {"B", "D", "E"}, "B": nil, "D": nil, "E": nil},
			[]string{"B", "D", "E", "A"}},
		{"parameters, pseudo parameters and Sub locals are not dependencies",
			"  A: {Type: T, Properties: {X: !Ref P, Y: !Ref AWS::Region, Z: !Sub ['${B}', {B: x}]}}\n  B: {Type: T}\n",
			map[string][]string{"A": nil, "B": nil},
			[]string{"A", "B"}},
		{"chain declared backwards",
			"  A: {Type: T, DependsOn: B}\n  B: {Type: T, DependsOn: C}\n  C: {Type: T}\n  D: {Type: T, DependsOn: [A, C]}\n",
			map[string][]string{"A": {"B"}, "B": {"C"}, "C": nil, "D": {"A", "C"}},
			[]string{"C", "B", "A", "D"}},
		{"a ready resource declared early goes first",
			"  X: {Type: T, DependsOn: Z}\n  Y: {Type: T}\n  Z: {Type: T}\n  W: {Type: T, DependsOn: Z}\n",
			map[string][]string{"X": {"Z"}, "Y": nil, "Z": nil, "W": {"Z"}},
			[]string{"Y", "Z", "X", "W"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := mustParse(t, "Parameters:\n  P: {Type: String}\nConditions:\n  C: !Equals [a, b]\nResources:\n"+tt.resources)
			if diff := cmp.Diff(tt.wantDeps, tp.Dependencies()); diff != "" {
				t.Errorf("Dependencies (-want +got):\n%s", diff)
			}
			order, err := tp.CreationOrder()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantOrder, order); diff != "" {
				t.Errorf("CreationOrder (-want +got):\n%s", diff)
			}
			rev, err := tp.DeletionOrder()
			if err != nil {
				t.Fatal(err)
			}
			for i := range order {
				if rev[i] != order[len(order)-1-i] {
					t.Fatalf("DeletionOrder %v is not the reverse of %v", rev, order)
				}
			}
		})
	}
}

func TestDependenciesReturnsACopy(t *testing.T) {
	tp := mustParse(t, "Resources:\n  A: {Type: T, DependsOn: B}\n  B: {Type: T}\n")
	tp.Dependencies()["A"][0] = "Z"
	if got := tp.Dependencies()["A"]; !cmp.Equal(got, []string{"B"}) {
		t.Errorf("Dependencies()[A] = %v after mutating a copy", got)
	}
}

func TestSkipped(t *testing.T) {
	tp := mustParse(t, "Conditions:\n  X: !Equals [a, a]\n  Y: !Equals [a, b]\nResources:\n  A: {Type: T, Condition: Y}\n  B: {Type: T, Condition: X}\n  C: {Type: T}\n  D: {Type: T, Condition: Y}\n")
	conds, err := tp.EvalConditions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"A", "D"}, tp.Skipped(conds)); diff != "" {
		t.Errorf("Skipped (-want +got):\n%s", diff)
	}
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name, resources string
		want            []string
		wantReason      string
	}{
		{"none", "  B: {Type: AWS::S3::Bucket}\n", nil, ""},
		{"unnamed IAM", "  R: {Type: AWS::IAM::Role, Properties: {Path: /}}\n  P: {Type: AWS::IAM::Policy}\n",
			[]string{"CAPABILITY_IAM"}, "The following resource(s) require capabilities: [AWS::IAM::Role, AWS::IAM::Policy]"},
		{"named role", "  R: {Type: AWS::IAM::Role, Properties: {RoleName: x}}\n",
			[]string{"CAPABILITY_NAMED_IAM"}, "The following resource(s) require capabilities: [AWS::IAM::Role]"},
		{"named user among others", "  B: {Type: AWS::S3::Bucket}\n  R: {Type: AWS::IAM::Role}\n  U: {Type: AWS::IAM::User, Properties: {UserName: !Sub '${AWS::StackName}-u'}}\n",
			[]string{"CAPABILITY_NAMED_IAM"}, "The following resource(s) require capabilities: [AWS::IAM::Role, AWS::IAM::User]"},
		{"named managed policy", "  M: {Type: AWS::IAM::ManagedPolicy, Properties: {ManagedPolicyName: m}}\n",
			[]string{"CAPABILITY_NAMED_IAM"}, "The following resource(s) require capabilities: [AWS::IAM::ManagedPolicy]"},
		{"a name property on a non-IAM resource", "  B: {Type: AWS::S3::Bucket, Properties: {RoleName: x}}\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := mustParse(t, "Resources:\n"+tt.resources)
			if diff := cmp.Diff(tt.want, tp.Capabilities()); diff != "" {
				t.Errorf("Capabilities (-want +got):\n%s", diff)
			}
			if got := tp.CapabilitiesReason(); got != tt.wantReason {
				t.Errorf("CapabilitiesReason = %q, want %q", got, tt.wantReason)
			}
		})
	}
}
