// Package localhttp protects HTTP servers meant for the local machine — the sandbox's admin
// API, the dashboard — from other web pages the same browser opens: DNS rebinding (a page of
// evil.example whose name resolves to 127.0.0.1), cross-origin form posts, and, optionally,
// anyone without a token.
package localhttp

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Guard is the protection of one server. The zero value checks Host and Origin only.
type Guard struct {
	// Token, when set, is required: "Authorization: Bearer TOKEN", the X-Stackfleet-Token
	// header, or ?token=TOKEN (for links).
	Token string
	// AllowedHosts are host names accepted beside IP literals, localhost and *.localhost (the
	// names a server reached on purpose through a DNS name needs).
	AllowedHosts []string
}

// Wrap returns h behind the guard.
func (g Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Check(r); err != nil {
			http.Error(w, err.msg, err.status)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Refusal is why a request is refused, with its HTTP status.
type Refusal struct {
	status int
	msg    string
}

func (r *Refusal) Error() string { return r.msg }

// Status is the HTTP status of the refusal.
func (r *Refusal) Status() int { return r.status }

// Check returns why r is refused, or nil.
func (g Guard) Check(r *http.Request) *Refusal {
	if !g.hostAllowed(r.Host) {
		return &Refusal{http.StatusForbidden, fmt.Sprintf("host %q is not allowed: this server answers only for IP addresses and localhost (DNS rebinding protection); name other hosts with --allow-host", r.Host)}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return &Refusal{http.StatusForbidden, "cross-site requests are refused"}
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || o == "null" || !strings.EqualFold(u.Host, r.Host) {
				return &Refusal{http.StatusForbidden, fmt.Sprintf("cross-origin request from %s refused", o)}
			}
		}
	}
	if g.Token != "" && !g.tokenOK(r) {
		return &Refusal{http.StatusUnauthorized, "a token is required: Authorization: Bearer TOKEN (or ?token=TOKEN), as printed at start"}
	}
	return nil
}

func (g Guard) tokenOK(r *http.Request) bool {
	got := r.URL.Query().Get("token")
	if h := r.Header.Get("X-Stackfleet-Token"); h != "" {
		got = h
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = a
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(g.Token)) == 1
}

func (g Guard) hostAllowed(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	switch {
	case h == "":
		return false
	case net.ParseIP(h) != nil, h == "localhost", strings.HasSuffix(h, ".localhost"):
		return true
	}
	return slices.ContainsFunc(g.AllowedHosts, func(a string) bool { return strings.EqualFold(a, h) })
}
