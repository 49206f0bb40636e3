package gates_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates"
)

// fakeSleep records the waits asked of it and returns at once (or ctx's error).
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

// server answers the n-th request (from 1) with responses[min(n, len)-1] and counts requests.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

type response struct {
	status int
	body   string
	delay  bool // block until the request is canceled
}

func newServer(t *testing.T, responses ...response) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1))
		if r.URL.Path != "/health" || r.Header.Get("User-Agent") != "stackfleet-health-check" {
			http.Error(w, "unexpected request "+r.URL.Path, http.StatusTeapot)
			return
		}
		resp := responses[min(n, len(responses))-1]
		if resp.delay {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(resp.status)
		fmt.Fprint(w, resp.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestHealth(t *testing.T) {
	ok := response{status: 200, body: `{"status":"ok"}`}
	tests := []struct {
		name      string
		responses []response
		hc        fleet.HealthCheck // URL is set by the test
		wantOK    bool
		// wantReason are substrings of the Reason.
		wantReason []string
		wantHits   int64
		wantWaits  []time.Duration
	}{
		{
			name: "healthy", responses: []response{ok},
			wantOK: true, wantReason: []string{"status 200 OK (attempt 1 of 1)"}, wantHits: 1,
		},
		{
			name: "body matches", responses: []response{ok}, hc: fleet.HealthCheck{Body: `"status":\s*"ok"`},
			wantOK: true, wantHits: 1,
		},
		{
			name: "expected status", responses: []response{{status: 204}}, hc: fleet.HealthCheck{Status: 204},
			wantOK: true, wantReason: []string{"status 204 No Content"}, wantHits: 1,
		},
		{
			name: "status mismatch", responses: []response{{status: 503, body: "down for\nmaintenance"}},
			wantReason: []string{"failed after 1 attempt:", "status 503 Service Unavailable, want 200", `(body "down for maintenance")`}, wantHits: 1,
		},
		{
			name: "body mismatch", responses: []response{{status: 200, body: `{"status":"degraded"}`}}, hc: fleet.HealthCheck{Body: `"ok"`},
			wantReason: []string{`status 200 OK but body does not match "\"ok\""`, `degraded`}, wantHits: 1,
		},
		{
			name:      "flaky then healthy",
			responses: []response{{status: 502}, {status: 500}, ok},
			hc:        fleet.HealthCheck{Retries: 3, Interval: 7 * time.Second},
			wantOK:    true, wantReason: []string{"(attempt 3 of 4)"}, wantHits: 3,
			wantWaits: []time.Duration{7 * time.Second, 7 * time.Second},
		},
		{
			name:       "unhealthy after retries",
			responses:  []response{{status: 500}, {status: 502}, {status: 503}},
			hc:         fleet.HealthCheck{Retries: 2, Interval: time.Minute},
			wantReason: []string{"failed after 3 attempts: status 503 Service Unavailable, want 200"}, wantHits: 3,
			wantWaits: []time.Duration{time.Minute, time.Minute},
		},
		{
			name:       "timeout",
			responses:  []response{{delay: true}, {delay: true}},
			hc:         fleet.HealthCheck{Retries: 1, Timeout: 50 * time.Millisecond},
			wantReason: []string{"failed after 2 attempts: timed out after 50ms"}, wantHits: 2,
			wantWaits: []time.Duration{0},
		},
		{
			name:      "timeout then healthy",
			responses: []response{{delay: true}, ok},
			// Long enough for a loaded machine to answer the second attempt in time.
			hc:     fleet.HealthCheck{Retries: 1, Timeout: 300 * time.Millisecond},
			wantOK: true, wantHits: 2,
			wantWaits: []time.Duration{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.responses...)
			sl := &fakeSleep{}
			h := &gates.Health{Client: srv.Client(), Sleep: sl.sleep}
			hc := tt.hc
			hc.URL = srv.URL + "/health"
			got := h.Check(context.Background(), hc, target)
			if got.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (reason %q)", got.OK, tt.wantOK, got.Reason)
			}
			for _, w := range tt.wantReason {
				if !strings.Contains(got.Reason, w) {
					t.Errorf("reason %q does not contain %q", got.Reason, w)
				}
			}
			if strings.Contains(got.Reason, "\n") {
				t.Errorf("reason %q is not one line", got.Reason)
			}
			if n := srv.hits.Load(); n != tt.wantHits {
				t.Errorf("server got %d requests, want %d", n, tt.wantHits)
			}
			if diff := cmp.Diff(tt.wantWaits, sl.waits); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthTemplatedURL(t *testing.T) {
	var gotHost atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.URL.Path + "?" + r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	tg := target
	tg.Outputs = map[string]string{"Base": srv.URL}
	h := &gates.Health{Client: srv.Client()}
	res := h.Check(context.Background(), fleet.HealthCheck{URL: "{{.Outputs.Base}}/{{.Stack}}?r={{.Region}}"}, tg)
	if !res.OK {
		t.Fatalf("Check: %s", res.Reason)
	}
	if diff := cmp.Diff("/web?r=eu-west-1", gotHost.Load()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestHealthConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		hc   fleet.HealthCheck
		want string
	}{
		{name: "unknown output", hc: fleet.HealthCheck{URL: "https://{{.Outputs.Nope}}/"}, want: `unknown stack output "Nope"`},
		{name: "not a URL", hc: fleet.HealthCheck{URL: "{{.Stack}}"}, want: `"web" is not an http(s) URL`},
		{name: "bad scheme", hc: fleet.HealthCheck{URL: "ftp://x/"}, want: "is not an http(s) URL"},
		{name: "bad pattern", hc: fleet.HealthCheck{URL: "http://127.0.0.1:1/", Body: "("}, want: "body pattern: error parsing regexp"},
		{name: "connection refused", hc: fleet.HealthCheck{URL: "http://user:secret@127.0.0.1:1/"}, want: "GET http://user:xxxxx@127.0.0.1:1/ failed after 1 attempt: dial tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&gates.Health{}).Check(context.Background(), tt.hc, target)
			if got.OK || !strings.Contains(got.Reason, tt.want) {
				t.Errorf("Check = %+v, want a failure containing %q", got, tt.want)
			}
			if strings.Contains(got.Reason, "secret") {
				t.Errorf("reason %q shows the password", got.Reason)
			}
		})
	}
}

func TestHealthCanceledWhileWaiting(t *testing.T) {
	srv := newServer(t, response{status: 500})
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("release aborted")
	h := &gates.Health{Client: srv.Client(), Sleep: func(ctx context.Context, d time.Duration) error {
		cancel(stop)
		return context.Cause(ctx)
	}}
	got := h.Check(ctx, fleet.HealthCheck{URL: srv.URL + "/health", Retries: 5, Interval: time.Hour}, target)
	if got.OK || !strings.Contains(got.Reason, "interrupted: release aborted") {
		t.Errorf("Check = %+v, want interrupted", got)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestHealthDefaultSleepHonoursContext(t *testing.T) {
	srv := newServer(t, response{status: 500})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	got := (&gates.Health{Client: srv.Client()}).Check(ctx, fleet.HealthCheck{URL: srv.URL + "/health", Retries: 1, Interval: time.Hour}, target)
	if got.OK || !strings.Contains(got.Reason, "interrupted") {
		t.Errorf("Check = %+v, want interrupted", got)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Check took %s despite the context deadline", d)
	}
}
