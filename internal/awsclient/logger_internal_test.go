package awsclient

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

// SDK warnings are debug records: without --verbose (level warn) they are not printed.
func TestSDKWarningsAreDebug(t *testing.T) {
	var out bytes.Buffer
	quiet := slogLogger{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	quiet.Logf(logging.Warn, "Response has no supported checksum. Not validating response payload.")
	if out.Len() != 0 {
		t.Errorf("an SDK warning was printed without --verbose: %s", out.String())
	}
	verbose := slogLogger{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	verbose.Logf(logging.Warn, "Response has no supported checksum.")
	if !strings.Contains(out.String(), "no supported checksum") || !strings.Contains(out.String(), "class=WARN") {
		t.Errorf("with --verbose the SDK warning reads %q", out.String())
	}
}
