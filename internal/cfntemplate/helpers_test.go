package cfntemplate_test

import (
	"errors"
	"os"
	"testing"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

// errMessage returns the message of a *cfntemplate.ValidationError, failing the test for any
// other kind of error.
func errMessage(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ve *cfntemplate.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *cfntemplate.ValidationError", err, err)
	}
	return ve.Message
}

func mustParse(t *testing.T, body string) *cfntemplate.Template {
	t.Helper()
	tp, err := cfntemplate.Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, body)
	}
	return tp
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }
