package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stackfleet/stackfleet/internal/cli"
)

const outputSchemaPath = "../../schema/output.schema.json"

// TestShippedOutputSchemaIsCurrent keeps schema/output.schema.json equal to what the output
// types generate (-update rewrites it).
func TestShippedOutputSchemaIsCurrent(t *testing.T) {
	want := cli.OutputSchema()
	got, err := os.ReadFile(outputSchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.WriteFile(outputSchemaPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: run go test ./internal/cli -run OutputSchema -update", outputSchemaPath)
}

var outputSchema = sync.OnceValues(func() (*jsonschema.Compiler, error) {
	f, err := os.Open(outputSchemaPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("output.schema.json", doc); err != nil {
		return nil, err
	}
	return c, nil
})

// jsonValid asserts that a file (stdout, stderr) is one JSON document of DEF
// (#/$defs/DEFDocument), or with "stream", one record per line.
func jsonValid(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: json-valid stdout|FILE DEF|stream")
	}
	c, err := outputSchema()
	ts.Check(err)
	def := "#/$defs/" + args[1] + "Document"
	if args[1] == "stream" {
		def = "#/$defs/record"
	}
	sch, err := c.Compile("output.schema.json" + def)
	ts.Check(err)
	text := ts.ReadFile(args[0])
	docs := []string{text}
	if args[1] == "stream" {
		docs = strings.Split(strings.TrimSpace(text), "\n")
	}
	for i, d := range docs {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(d))
		if err != nil {
			ts.Fatalf("%s line %d is not JSON: %v", args[0], i+1, err)
		}
		if err := sch.Validate(v); err != nil {
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, []byte(d), "", "  ")
			ts.Fatalf("%s %d does not match %s: %v\n%s", args[0], i+1, def, err, pretty.String())
		}
	}
}
