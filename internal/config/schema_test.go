package config_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stackfleet/stackfleet/internal/config"
)

var update = flag.Bool("update", false, "rewrite the shipped schema")

// TestShippedSchemaIsCurrent keeps schema/stackfleet.schema.json equal to what the types generate.
func TestShippedSchemaIsCurrent(t *testing.T) {
	const path = "../../schema/stackfleet.schema.json"
	got := config.Schema()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./internal/config -run Schema -update", path)
	}
	var s map[string]any
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatal(err)
	}
	props := s["properties"].(map[string]any)
	sets := props["stackSets"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)
	rollout := sets["rollout"].(map[string]any)["properties"].(map[string]any)
	if rollout["maxConcurrentPercentage"].(map[string]any)["maximum"] != float64(100) {
		t.Error("maxConcurrentPercentage should have maximum 100")
	}
}
