// Package notify sends webhook notifications of the event stream: a failure, a rollback, an
// approval that is needed, a release or operation that finished. Each is one signed POST (an
// HMAC-SHA256 of the timestamp and body), retried on server errors; the payload is stackfleet's
// JSON or a Slack-compatible {"text": …}. Delivery failures are logged, never fatal: a
// notification must not fail a deploy.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Kind is what a notification is about.
type Kind string

// Kinds of notifications.
const (
	Failure           Kind = "failure"           // an instance of a stack-set operation, or a release's wave, failed
	Rollback          Kind = "rollback"          // a rollback finished
	Approval          Kind = "approval"          // a stage waits for an approval
	ReleaseFinished   Kind = "releaseFinished"   // a release ended (succeeded, failed, rejected, rolled back)
	OperationFinished Kind = "operationFinished" // a stack-set operation ended
)

// Kinds lists every kind, for configuration checks.
var Kinds = []Kind{Failure, Rollback, Approval, ReleaseFinished, OperationFinished}

// APIVersion identifies the payload format.
const APIVersion = events.APIVersion

// Classify says which notification an event is, if any. One failure is one notification: in
// a release an instance's failure fails its wave, so the wave is notified, not the instance.
func Classify(ev fleet.Event) (Kind, bool) {
	d := ev.Detail()
	_, release := ev.(fleet.ReleaseEvent)
	switch {
	case d.Kind == fleet.EventStep && !release && d.Status == string(fleet.StepFailed):
		return Failure, true
	case d.Kind == fleet.EventWave && d.Status == "FAILED":
		return Failure, true
	case d.Kind == fleet.EventRollback && d.Status == "ROLLED_BACK":
		return Rollback, true
	case d.Kind == fleet.EventStage && d.Status == "WAITING_APPROVAL":
		return Approval, true
	case d.Kind == fleet.EventRelease && finished(d.Status):
		return ReleaseFinished, true
	case d.Kind == fleet.EventOperation && !release && slices.Contains([]string{"SUCCEEDED", "FAILED", "STOPPED", "CANCELLED"}, d.Status):
		return OperationFinished, true
	}
	return "", false
}

func finished(status string) bool {
	switch fleet.ReleaseStatus(status) {
	case fleet.ReleaseSucceeded, fleet.ReleaseFailed, fleet.ReleaseRejected, fleet.ReleaseRolledBack, fleet.ReleaseSuperseded:
		return true
	}
	return false
}

// Target is one webhook.
type Target struct {
	Name string // for messages: the URL itself may be a secret (Slack's are)
	URL  string
	// Secret signs each request: X-Stackfleet-Signature: sha256=HEX(HMAC(secret, TIMESTAMP "." BODY))
	// with X-Stackfleet-Timestamp: TIMESTAMP (Unix seconds). Empty: unsigned.
	Secret []byte
	Slack  bool
	// Kinds, StackSets and Pipelines filter what is sent; empty means all.
	Kinds     []Kind
	StackSets []string
	Pipelines []string
}

func (t Target) wants(kind Kind, ev fleet.Event) bool {
	if len(t.Kinds) > 0 && !slices.Contains(t.Kinds, kind) {
		return false
	}
	if len(t.StackSets) == 0 && len(t.Pipelines) == 0 {
		return true
	}
	switch e := ev.(type) {
	case fleet.OperationEvent:
		return slices.Contains(t.StackSets, e.StackSet)
	case fleet.ReleaseEvent:
		return slices.Contains(t.Pipelines, e.Pipeline)
	}
	return false
}

// Notifier sends the notifications of events to its targets.
type Notifier struct {
	Targets []Target
	Client  *http.Client // default: one with a 5 s timeout
	Log     *slog.Logger // default: discarded
	Now     func() time.Time
	// Backoff are the waits before the second, third… attempt (default 500 ms, 2 s).
	Backoff []time.Duration
	// Sleep waits (default: a timer); tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Subscriber returns the notifier as an event-bus subscriber.
func (n *Notifier) Subscriber(ctx context.Context) events.Subscriber {
	return func(evs []fleet.Event) {
		for _, ev := range evs {
			kind, ok := Classify(ev)
			if !ok {
				continue
			}
			for _, t := range n.Targets {
				if t.wants(kind, ev) {
					n.send(ctx, t, kind, ev)
				}
			}
		}
	}
}

// Payload is the body sent for ev: stackfleet's JSON ({"apiVersion", "notification", "text",
// "event"}) or, for Slack, {"text"}.
func Payload(kind Kind, ev fleet.Event, slack bool) ([]byte, error) {
	text := Text(kind, ev)
	if slack {
		return json.Marshal(map[string]string{"text": text})
	}
	return json.Marshal(struct {
		APIVersion   string `json:"apiVersion"`
		Notification Kind   `json:"notification"`
		Text         string `json:"text"`
		Event        any    `json:"event"`
	}{APIVersion, kind, text, events.Record(ev)})
}

// Text is a one-line human summary of the notification.
func Text(kind Kind, ev fleet.Event) string {
	d := ev.Detail()
	var who string
	switch e := ev.(type) {
	case fleet.OperationEvent:
		who = "stack set " + e.StackSet + " (operation " + e.Operation + ")"
	case fleet.ReleaseEvent:
		who = "pipeline " + e.Pipeline + " (release " + e.Release + ")"
	}
	where := ""
	if d.Target != nil {
		where = " in " + d.Target.Account + "/" + d.Target.Region
	}
	msg := fmt.Sprintf("stackfleet %s: %s %s%s", kind, who, d.Status, where)
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	return msg
}

// Sign returns the signature header value of body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (n *Notifier) send(ctx context.Context, t Target, kind Kind, ev fleet.Event) {
	body, err := Payload(kind, ev, t.Slack)
	if err != nil {
		n.log().Warn("notification not sent", "target", t.Name, "err", err)
		return
	}
	backoff := n.Backoff
	if backoff == nil {
		backoff = []time.Duration{500 * time.Millisecond, 2 * time.Second}
	}
	var last error
	for attempt := 0; attempt <= len(backoff); attempt++ {
		if attempt > 0 {
			if err := n.sleep(ctx, backoff[attempt-1]); err != nil {
				return
			}
		}
		retry, err := n.post(ctx, t, body)
		if err == nil {
			return
		}
		last = err
		if !retry {
			break
		}
	}
	n.log().Warn("notification not delivered", "target", t.Name, "kind", kind, "err", last)
}

// post makes one attempt; retry says whether another may succeed (a connection error, 429 or 5xx).
func (n *Notifier) post(ctx context.Context, t Target, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("bad URL") // never the URL: it may hold a secret
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stackfleet")
	if len(t.Secret) > 0 {
		ts := strconv.FormatInt(n.now().Unix(), 10)
		req.Header.Set("X-Stackfleet-Timestamp", ts)
		req.Header.Set("X-Stackfleet-Signature", Sign(t.Secret, ts, body))
	}
	resp, err := n.client().Do(req)
	if err != nil {
		// The error text of net/http carries the URL; keep only its kind.
		return true, fmt.Errorf("request failed: %s", redact(err.Error(), t.URL))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("status %d", resp.StatusCode)
	}
	return false, fmt.Errorf("status %d", resp.StatusCode)
}

func redact(msg, url string) string { return strings.ReplaceAll(msg, url, "<webhook URL>") }

func (n *Notifier) client() *http.Client {
	if n.Client != nil {
		return n.Client
	}
	return &http.Client{Timeout: 5 * time.Second}
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) sleep(ctx context.Context, d time.Duration) error {
	if n.Sleep != nil {
		return n.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
