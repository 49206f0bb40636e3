package cfn

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite internal/sandbox/RESOURCES.md")

// TestResourcesDoc keeps the supported-types table of internal/sandbox/RESOURCES.md (between
// its table markers) equal to the providers; -update rewrites it.
func TestResourcesDoc(t *testing.T) {
	intN, u64 := randIntN, randUint64
	randIntN, randUint64 = func(int) int { return 0 }, func() uint64 { return 0 }
	defer func() { randIntN, randUint64 = intN, u64 }()
	const path = "../RESOURCES.md"
	const begin, end = "<!-- types: begin (go test ./internal/sandbox/cfn -run TestResourcesDoc -update) -->\n", "<!-- types: end -->\n"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the table markers", path)
	}
	want := doc[:i+len(begin)] + ResourceTypesDoc() + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date: run go test ./internal/sandbox/cfn -run TestResourcesDoc -update", path)
}
