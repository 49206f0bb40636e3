package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/localhttp"
	"github.com/stackfleet/stackfleet/internal/state"
	"github.com/stackfleet/stackfleet/internal/web"
)

func setup(t *testing.T) (*state.Store, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	st, err := state.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := fleet.StackSetOwner("base")
	for _, in := range []fleet.Instance{
		{Owner: o, Target: fleet.Target{Account: "111111111111", Region: "us-east-1"}, Status: fleet.Current, Detail: fleet.StepSucceeded,
			Outputs: map[string]string{"TopicArn": "arn:aws:sns:us-east-1:111111111111:t"}, UpdatedAt: time.Now()},
		{Owner: o, Target: fleet.Target{Account: "222222222222", Region: "us-east-1"}, Status: fleet.Outdated, Detail: fleet.StepFailed,
			Reason: "stack base: ROLLBACK_COMPLETE: Topic (AWS::SNS::Topic) CREATE_FAILED: injected failure", UpdatedAt: time.Now()},
	} {
		if err := st.PutInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	srv := &web.Server{Store: st, Guard: localhttp.Guard{Token: "tok"}, Poll: 10 * time.Millisecond}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return st, hs
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestPages(t *testing.T) {
	_, hs := setup(t)
	c := hs.Client()
	if code, _ := get(t, c, hs.URL+"/"); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	code, body := get(t, c, hs.URL+"/?token=tok")
	if code != 200 || !strings.Contains(body, `data-target="111111111111/us-east-1"`) || !strings.Contains(body, `class="cell failed"`) ||
		!strings.Contains(body, `class="cell current"`) {
		t.Errorf("index %d:\n%s", code, body)
	}
	code, body = get(t, c, hs.URL+"/instance/222222222222/us-east-1/stack-set/base?token=tok")
	if code != 200 || !strings.Contains(body, "Topic (AWS::SNS::Topic) CREATE_FAILED: injected failure") {
		t.Errorf("instance %d:\n%s", code, body)
	}
	code, body = get(t, c, hs.URL+"/instance/111111111111/us-east-1/stack-set/base?token=tok")
	if code != 200 || !strings.Contains(body, "arn:aws:sns:us-east-1:111111111111:t") {
		t.Errorf("instance outputs %d:\n%s", code, body)
	}
	if code, _ := get(t, c, hs.URL+"/static/app.js?token=tok"); code != 200 {
		t.Errorf("app.js: %d", code)
	}
}

// TestEventStream: events journaled after a page opened arrive over server-sent events, as
// the records of -o json.
func TestEventStream(t *testing.T) {
	st, hs := setup(t)
	req, _ := http.NewRequest("GET", hs.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	tgt := fleet.Target{Account: "111111111111", Region: "eu-west-1"}
	if err := st.AppendEvents(context.Background(), fleet.OperationEvent{Operation: "op1", StackSet: "base",
		EventDetail: fleet.EventDetail{Time: time.Now(), Kind: fleet.EventStep, Target: &tgt, Status: "SUCCEEDED"}}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			if !strings.Contains(line, `"type":"event","apiVersion":"stackfleet/v1","operation":"op1"`) || !strings.Contains(line, `"status":"SUCCEEDED"`) {
				t.Errorf("record %s", line)
			}
			return
		}
	}
	t.Fatal("no event arrived")
}

// A page notes where the event stream ended when it read the state; its feed (?after=) starts
// there, so an event recorded between the page and the feed is not lost.
func TestEventStreamAfterPage(t *testing.T) {
	st, hs := setup(t)
	c := hs.Client()
	code, body := get(t, c, hs.URL+"/?token=tok")
	m := regexp.MustCompile(`data-after="(\d+)"`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("status %d, no data-after in the page:\n%s", code, body)
	}
	tgt := fleet.Target{Account: "111111111111", Region: "eu-west-1"}
	if err := st.AppendEvents(context.Background(), fleet.OperationEvent{Operation: "op-between", StackSet: "base",
		EventDetail: fleet.EventDetail{Time: time.Now(), Kind: fleet.EventStep, Target: &tgt, Status: "SUCCEEDED"}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/events?after="+m[1], nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			if !strings.Contains(line, `"operation":"op-between"`) {
				t.Errorf("first record %s, want the event recorded after the page", line)
			}
			return
		}
	}
	t.Fatal("the event recorded between the page and the feed did not arrive")
}
