package cfntemplate_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"",
		"Resources:\n  B: {Type: T}\n",
		evalHeader + "!Sub ['${A}-${Env}', {A: !Select [0, !GetAZs '']}]\n",
		evalHeader + "!Cidr ['10.0.0.0/16', 256, 8]\n",
		evalHeader + "{X: !If [IsProd, !Ref Off, !Ref AWS::NoValue], Y: !FindInMap [RegionMap, !Ref AWS::Region, Zones]}\n",
		"Conditions:\n  A: !Not [!Condition B]\n  B: !Equals [!Ref AWS::Region, x]\nResources:\n  R: {Type: T, Condition: A, Properties: {K: !Ref AWS::StackName}}\nOutputs:\n  O: {Value: !GetAtt R.Arn, Export: {Name: !Sub '${AWS::StackName}-o'}}\n",
		`{"Resources": {"A": {"Type": "T", "DependsOn": ["B"]}, "B": {"Type": "T", "Properties": {"X": {"Fn::Join": ["", [{"Ref": "A"}]]}}}}}`,
		"Resources:\n  B: {Type: T, Properties: {K: !Ref AWS::Region, L: [!Base64 x]}}\n",
		"Resources:\n  B:\n    Type: T\n    Properties:\n      A: !Ref\n      C: x\n",
		"Resources: &a\n  B: *a\n",
	} {
		f.Add([]byte(s))
	}
}

func isValidationError(err error) bool {
	var ve *cfntemplate.ValidationError
	return errors.As(err, &ve)
}

// FuzzParse checks that Parse never panics, fails only with *ValidationError, and that a parsed
// template is internally consistent.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tp, err := cfntemplate.Parse(body)
		if err != nil {
			if !isValidationError(err) {
				t.Fatalf("Parse error %v (%T) is not a *ValidationError", err, err)
			}
			return
		}
		order, err := tp.CreationOrder()
		if err != nil {
			t.Fatalf("CreationOrder of a parsed template: %v", err)
		}
		if len(order) != len(tp.Resources) {
			t.Fatalf("CreationOrder has %d resources, template has %d", len(order), len(tp.Resources))
		}
		placed := map[string]bool{}
		deps := tp.Dependencies()
		for _, id := range order {
			for _, d := range deps[id] {
				if !placed[d] {
					t.Fatalf("%s is created before its dependency %s", id, d)
				}
			}
			placed[id] = true
		}
		_ = tp.Capabilities()
	})
}

// FuzzEval parses, resolves parameters (supplying a value where there is no default), evaluates
// conditions and every resource's properties and the outputs with stub callbacks: nothing may
// panic and every error must be a *ValidationError, since the stubs never fail.
func FuzzEval(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tp, err := cfntemplate.Parse(body)
		if err != nil {
			return
		}
		given := map[string]string{}
		for _, p := range tp.Parameters {
			if !p.HasDefault {
				given[p.Name] = "1"
				if len(p.AllowedValues) > 0 {
					given[p.Name] = p.AllowedValues[0]
				}
			}
		}
		check := func(what string, err error) bool {
			if err != nil && !isValidationError(err) {
				t.Fatalf("%s: error %v (%T) is not a *ValidationError", what, err, err)
			}
			return err == nil
		}
		params, err := tp.ResolveParameters(given, nil, nil, func(name string) (string, bool) { return "resolved-" + name, true })
		if !check("ResolveParameters", err) {
			return
		}
		env := &cfntemplate.Env{
			AccountID: "123456789012", Region: "us-east-1", StackName: "fuzz", StackID: "id",
			Params: params,
			Ref:    func(id string) (any, error) { return "phys-" + id, nil },
			GetAtt: func(id, attr string) (any, error) { return id + "." + attr, nil },
			ImportValue: func(name string) (string, error) {
				return "imported-" + name, nil
			},
		}
		conds, err := tp.EvalConditions(env)
		if !check("EvalConditions", err) {
			return
		}
		env.Conditions = conds
		check("CheckActive", tp.CheckActive(conds))
		skipped := tp.Skipped(conds)
		for i := range tp.Resources {
			r := &tp.Resources[i]
			if slices.Contains(skipped, r.LogicalID) {
				continue
			}
			_, err := tp.EvalProperties(r, env)
			check("EvalProperties "+r.LogicalID, err)
		}
		_, err = tp.EvalOutputs(env)
		check("EvalOutputs", err)
	})
}
