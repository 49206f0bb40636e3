package cfntemplate_test

import (
	"testing"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

func BenchmarkParse(b *testing.B) {
	body := readFile(b, "testdata/app.yaml")
	for b.Loop() {
		if _, err := cfntemplate.Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalProperties(b *testing.B) {
	tp, err := cfntemplate.Parse(readFile(b, "testdata/app.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	params, err := tp.ResolveParameters(nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	env := &cfntemplate.Env{
		Region: "us-east-1", Params: params,
		Ref:    func(id string) (any, error) { return "phys-" + id, nil },
		GetAtt: func(id, attr string) (any, error) { return id + "." + attr, nil },
	}
	for b.Loop() {
		for i := range tp.Resources {
			if _, err := tp.EvalProperties(&tp.Resources[i], env); err != nil {
				b.Fatal(err)
			}
		}
	}
}
