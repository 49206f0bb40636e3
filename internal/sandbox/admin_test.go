package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// admin calls the admin API and decodes the JSON answer into out (if not nil).
func admin(t *testing.T, e *env, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func TestAdminAPI(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 3, OUs: 1, Seed: 12})

	var org struct {
		sandbox.OrgView
		Endpoint    string
		Credentials sandbox.Credentials
	}
	if st := admin(t, e, "GET", "/_sandbox/org", "", &org); st != 200 {
		t.Fatalf("GET org: %d", st)
	}
	if org.ID != e.sb.Org().ID || len(org.Accounts) != 4 || org.Endpoint != e.url || org.Credentials != e.sb.ManagementCredentials() {
		t.Errorf("org answer %+v", org)
	}
	var creds struct{ Export []string }
	admin(t, e, "GET", "/_sandbox/credentials", "", &creds)
	if len(creds.Export) == 0 || creds.Export[0] != "export AWS_ENDPOINT_URL="+e.url {
		t.Errorf("export lines %q", creds.Export)
	}

	var rule sandbox.Rule
	if st := admin(t, e, "POST", "/_sandbox/rules", `{"kind":"throttle","service":"sts","count":1}`, &rule); st != 201 || rule.ID == "" {
		t.Fatalf("POST rule: %d %+v", st, rule)
	}
	var bad map[string]string
	for _, body := range []string{`{"kind":"throttle","servic":"sts"}`, `{"kind":"nope"}`, `not json`, `{"kind":"delay","delay":"1s"} {}`} {
		if st := admin(t, e, "POST", "/_sandbox/rules", body, &bad); st != 400 || bad["error"] == "" {
			t.Errorf("POST rule %s: %d %v, want 400 with an error", body, st, bad)
		}
	}
	if _, err := sts.NewFromConfig(e.cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	var rules []sandbox.Rule
	admin(t, e, "GET", "/_sandbox/rules", "", &rules)
	if len(rules) != 1 || rules[0].Fired != 1 {
		t.Errorf("rules %+v, want one fired once", rules)
	}
	var counters struct {
		Counters  sandbox.Counts
		Calls     int64
		Throttled int64
	}
	admin(t, e, "GET", "/_sandbox/counters", "", &counters)
	if counters.Calls != 2 || counters.Throttled != 1 || counters.Counters.Calls("sts", "GetCallerIdentity") != 2 {
		t.Errorf("counters %+v", counters)
	}
	if st := admin(t, e, "DELETE", "/_sandbox/counters", "", nil); st != 200 || len(e.sb.Counters()) != 0 {
		t.Errorf("DELETE counters: %d, %v", st, e.sb.Counters())
	}
	if st := admin(t, e, "DELETE", "/_sandbox/rules/"+rules[0].ID, "", nil); st != 200 {
		t.Errorf("DELETE rule: %d", st)
	}
	if st := admin(t, e, "DELETE", "/_sandbox/rules/"+rules[0].ID, "", &bad); st != 404 {
		t.Errorf("DELETE missing rule: %d", st)
	}
	admin(t, e, "POST", "/_sandbox/rules", `{"kind":"delay","delay":"10ms"}`, nil)
	if st := admin(t, e, "DELETE", "/_sandbox/rules", "", nil); st != 200 || len(e.sb.Rules()) != 0 {
		t.Errorf("DELETE rules: %d, %v", st, e.sb.Rules())
	}

	var delay map[string]string
	if st := admin(t, e, "PUT", "/_sandbox/resource-delay", `{"delay":"250ms"}`, &delay); st != 200 || delay["delay"] != "250ms" {
		t.Errorf("PUT resource-delay: %d %v", st, delay)
	}
	admin(t, e, "GET", "/_sandbox/resource-delay", "", &delay)
	if delay["delay"] != "250ms" {
		t.Errorf("GET resource-delay: %v", delay)
	}
	if st := admin(t, e, "PUT", "/_sandbox/resource-delay", `{"delay":"-1s"}`, nil); st != 400 {
		t.Errorf("negative delay: %d", st)
	}
	if st := admin(t, e, "GET", "/_sandbox/nothing", "", &bad); st != 404 {
		t.Errorf("unknown admin path: %d", st)
	}
	if st := admin(t, e, "POST", "/_sandbox/save", "", &bad); st != 409 {
		t.Errorf("save without data dir: %d", st)
	}
	var index struct{ Endpoints []string }
	if st := admin(t, e, "GET", "/_sandbox/", "", &index); st != 200 || len(index.Endpoints) < 10 {
		t.Errorf("index: %d %v", st, index)
	}
}

// TestAdminGuard: the admin API refuses a rebinding Host, cross-origin writes and, with a
// token set, requests without it; AWS calls are not affected.
func TestAdminGuard(t *testing.T) {
	e := start(t, sandbox.Options{Seed: 9, AdminToken: "tok"})
	do := func(method, path, host string, header map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(method, e.url+path, strings.NewReader(`{"delay":"0s"}`))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := map[string]string{"Authorization": "Bearer tok"}
	for _, tc := range []struct {
		name, method, path, host string
		header                   map[string]string
		want                     int
	}{
		{"no token", "GET", "/_sandbox/credentials", "", nil, 401},
		{"token", "GET", "/_sandbox/credentials", "", bearer, 200},
		{"token in the query", "GET", "/_sandbox/credentials?token=tok", "", nil, 200},
		{"rebinding host", "GET", "/_sandbox/credentials", "attacker.example:4566", bearer, 403},
		{"cross-origin write", "PUT", "/_sandbox/resource-delay", "", map[string]string{"Authorization": "Bearer tok", "Origin": "https://attacker.example"}, 403},
		{"same-origin write", "PUT", "/_sandbox/resource-delay", "", bearer, 200},
	} {
		if got := do(tc.method, tc.path, tc.host, tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if _, err := callerIdentity(t, e.cfg); err != nil {
		t.Errorf("AWS calls need no admin token: %v", err)
	}
}
