package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/notify"
)

// receiver records the notifications it verifies, failing the first `fail` requests with 503.
type receiver struct {
	mu     sync.Mutex
	secret []byte
	fail   int
	kinds  []string
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if got := r.Header.Get("X-Stackfleet-Signature"); got != notify.Sign(rc.secret, r.Header.Get("X-Stackfleet-Timestamp"), body) {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p struct {
		APIVersion   string `json:"apiVersion"`
		Notification string `json:"notification"`
		Event        struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.APIVersion != "stackfleet/v1" || p.Event.Type != "releaseEvent" {
		rc.bad++
	}
	rc.kinds = append(rc.kinds, p.Notification)
}

func rel(kind fleet.EventKind, status string) fleet.Event {
	return fleet.ReleaseEvent{Release: "r1", Pipeline: "web", EventDetail: fleet.EventDetail{Time: time.Unix(1, 0), Kind: kind, Status: status}}
}

// TestFailingRelease: the events of a release whose prod wave fails and is rolled back give
// exactly one failure, one rollback and one release-finished notification, signed, delivered
// despite a server error on the first attempt.
func TestFailingRelease(t *testing.T) {
	rc := &receiver{secret: []byte("k"), fail: 1}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := &notify.Notifier{
		Targets: []notify.Target{{Name: "ops", URL: srv.URL, Secret: []byte("k")}},
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
	tgt := fleet.Target{Account: "111111111111", Region: "us-east-1"}
	step := rel(fleet.EventStep, "FAILED").WithDetail(fleet.EventDetail{Kind: fleet.EventStep, Status: "FAILED", Target: &tgt})
	n.Subscriber(context.Background())([]fleet.Event{
		rel(fleet.EventRelease, "RUNNING"), rel(fleet.EventWave, "DEPLOYING"), step,
		rel(fleet.EventWave, "FAILED"), rel(fleet.EventRollback, "ROLLING_BACK"), rel(fleet.EventRollback, "ROLLED_BACK"),
		rel(fleet.EventGate, "HEALTHY"), rel(fleet.EventRelease, "FAILED"),
	})
	if diff := cmp.Diff([]string{"failure", "rollback", "releaseFinished"}, rc.kinds); diff != "" || rc.bad != 0 {
		t.Errorf("notifications (-want +got):\n%s (bad %d)", diff, rc.bad)
	}
}

func TestFilters(t *testing.T) {
	op := fleet.OperationEvent{Operation: "o", StackSet: "base", EventDetail: fleet.EventDetail{Kind: fleet.EventStep, Status: "FAILED"}}
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]string
		_ = json.NewDecoder(r.Body).Decode(&p)
		got = append(got, p["text"])
	}))
	defer srv.Close()
	n := &notify.Notifier{Targets: []notify.Target{
		{Name: "only-web", URL: srv.URL, Pipelines: []string{"web"}},
		{Name: "base-slack", URL: srv.URL, Slack: true, StackSets: []string{"base"}, Kinds: []notify.Kind{notify.Failure}},
	}}
	n.Subscriber(context.Background())([]fleet.Event{op})
	if diff := cmp.Diff([]string{"stackfleet failure: stack set base (operation o) FAILED"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
