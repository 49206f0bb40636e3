package localhttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stackfleet/stackfleet/internal/localhttp"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		name   string
		guard  localhttp.Guard
		method string
		url    string
		host   string
		header map[string]string
		want   int
	}{
		{"loopback", localhttp.Guard{}, "GET", "/x", "127.0.0.1:4566", nil, 200},
		{"localhost", localhttp.Guard{}, "GET", "/x", "localhost:4566", nil, 200},
		{"ipv6", localhttp.Guard{}, "GET", "/x", "[::1]:4566", nil, 200},
		{"rebinding", localhttp.Guard{}, "GET", "/x", "evil.example:4566", nil, 403},
		{"allowed host", localhttp.Guard{AllowedHosts: []string{"box.internal"}}, "GET", "/x", "box.internal:4566", nil, 200},
		{"cross-origin post", localhttp.Guard{}, "POST", "/x", "127.0.0.1:4566", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same-origin post", localhttp.Guard{}, "POST", "/x", "127.0.0.1:4566", map[string]string{"Origin": "http://127.0.0.1:4566"}, 200},
		{"cross-site fetch", localhttp.Guard{}, "DELETE", "/x", "127.0.0.1:4566", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"tool post", localhttp.Guard{}, "POST", "/x", "127.0.0.1:4566", nil, 200},
		{"token missing", localhttp.Guard{Token: "s3cret"}, "GET", "/x", "127.0.0.1:4566", nil, 401},
		{"token bearer", localhttp.Guard{Token: "s3cret"}, "GET", "/x", "127.0.0.1:4566", map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"token query", localhttp.Guard{Token: "s3cret"}, "GET", "/x?token=s3cret", "127.0.0.1:4566", nil, 200},
		{"token wrong", localhttp.Guard{Token: "s3cret"}, "GET", "/x?token=nope", "127.0.0.1:4566", nil, 401},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		r.Host = tc.host
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		tc.guard.Wrap(ok).ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, w.Code, tc.want, w.Body)
		}
	}
}
