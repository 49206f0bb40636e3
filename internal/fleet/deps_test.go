package fleet_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are imports the domain package must never pull in, directly or not: adapters
// depend on the domain, never the reverse.
var forbidden = []string{
	"github.com/aws/",
	"database/sql",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/spf13/cobra",
	"go.temporal.io/",
	"net/http",
}

func TestDomainImportsNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/stackfleet/stackfleet/internal/fleet").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("package fleet depends on %s; the domain must not import adapters (AWS SDK, SQL, CLI, Temporal, HTTP)", dep)
			}
		}
	}
}
