package awsclient

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
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

// A refused connection or an unknown host is not retried: nothing would answer a retry.
func TestUnreachableIsNotRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // now nothing listens there
	_, dialErr := net.Dial("tcp", addr)
	_, dnsErr := net.LookupHost("nonexistent.invalid")
	r := NewRetryer(12)
	for _, err := range []error{dialErr, dnsErr} {
		if err == nil {
			t.Fatal("expected a dial error")
		}
		if !Unreachable(err) || r.IsErrorRetryable(err) {
			t.Errorf("%v: Unreachable %v, retryable %v; want unreachable and not retried", err, Unreachable(err), r.IsErrorRetryable(err))
		}
	}
	if Unreachable(errors.New("ThrottlingException")) {
		t.Error("a throttle is not unreachable")
	}
}

// A connection that times out is not retried by the management account's calls (the first a
// command makes), so a dead endpoint is reported in seconds; target calls retry it.
func TestDialTimeoutFailsFastForTheManagementAccount(t *testing.T) {
	err := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	if !Unreachable(err) {
		t.Error("a dial timeout is not Unreachable")
	}
	if newRetryer(12, true).IsErrorRetryable(err) {
		t.Error("the management account's retryer retries a dial timeout")
	}
	if !newRetryer(12, false).IsErrorRetryable(err) {
		t.Error("a target's retryer does not retry a dial timeout")
	}
}
