package gates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates/expand"
)

// Health-check defaults and limits.
const (
	// DefaultHealthTimeout bounds one attempt when HealthCheck.Timeout is zero.
	DefaultHealthTimeout = 10 * time.Second
	// maxHealthBody is how much of a response body is read and matched against Body.
	maxHealthBody = 1 << 20
	// maxSnippet is how much of a mismatching body a Reason quotes.
	maxSnippet = 120
)

// Health probes HTTP(S) endpoints of targets.
type Health struct {
	// Client sends the requests (default http.DefaultClient). Redirects are followed as the
	// client's policy says; the final response is checked.
	Client *http.Client
	// Sleep waits d between attempts, returning early with an error when ctx ends (default: a
	// timer raced against ctx). Tests inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Check probes hc for t: it GETs the expanded URL and expects status hc.Status (default 200)
// and, if hc.Body is set, a body (its first MiB) matching that regular expression. A failed
// attempt is retried hc.Retries times, hc.Interval apart; each attempt is bounded by hc.Timeout
// (default 10 s). A failed Result carries the reason of the last attempt. If ctx ends, the
// Result is not OK and its Reason says the check was interrupted.
func (h *Health) Check(ctx context.Context, hc fleet.HealthCheck, t fleet.GateTarget) Result {
	raw, err := expand.Render(hc.URL, t)
	if err != nil {
		return Result{Reason: fmt.Sprintf("health check in %s/%s: URL: %v", t.Account, t.Region, err)}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{Reason: fmt.Sprintf("health check in %s/%s: %q is not an http(s) URL", t.Account, t.Region, raw)}
	}
	shown := u.Redacted() // templated URLs may carry credentials
	var body *regexp.Regexp
	if hc.Body != "" {
		if body, err = regexp.Compile(hc.Body); err != nil {
			return Result{Reason: fmt.Sprintf("health check %s: body pattern: %v", shown, err)}
		}
	}
	p := probe{
		client: h.Client, url: raw, status: hc.Status, body: body, timeout: hc.Timeout,
	}
	if p.client == nil {
		p.client = http.DefaultClient
	}
	if p.status == 0 {
		p.status = http.StatusOK
	}
	if p.timeout <= 0 {
		p.timeout = DefaultHealthTimeout
	}
	sleep := h.Sleep
	if sleep == nil {
		sleep = sleepContext
	}

	attempts := 1 + max(hc.Retries, 0)
	var reason string
	for i := range attempts {
		if i > 0 {
			if err := sleep(ctx, hc.Interval); err != nil {
				return interrupted(ctx, shown, err)
			}
		}
		ok, why := p.attempt(ctx)
		if ctx.Err() != nil {
			return interrupted(ctx, shown, ctx.Err())
		}
		if ok {
			return Result{OK: true, Reason: fmt.Sprintf("health check GET %s: %s (attempt %d of %d)", shown, why, i+1, attempts)}
		}
		reason = why
	}
	return Result{Reason: fmt.Sprintf("health check GET %s failed after %d attempt%s: %s", shown, attempts, plural(attempts), reason)}
}

func interrupted(ctx context.Context, shown string, err error) Result {
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	}
	return Result{Reason: fmt.Sprintf("health check GET %s: interrupted: %v", shown, err)}
}

// probe is one health check, ready to attempt.
type probe struct {
	client  *http.Client
	url     string
	status  int
	body    *regexp.Regexp
	timeout time.Duration
}

// attempt GETs the URL once; it reports success and a short reason either way.
func (p *probe) attempt(ctx context.Context) (bool, string) {
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, p.url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "stackfleet-health-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return false, p.transportError(actx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return false, "read body: " + p.transportError(actx, err)
	}
	if resp.StatusCode != p.status {
		return false, fmt.Sprintf("status %s, want %d%s", statusText(resp), p.status, quoteBody(data))
	}
	if p.body != nil && !p.body.Match(data) {
		return false, fmt.Sprintf("status %s but body does not match %q%s", statusText(resp), p.body.String(), quoteBody(data))
	}
	return true, "status " + statusText(resp)
}

// transportError describes a failed request without repeating the URL, which the Reason
// already names (redacted).
func (p *probe) transportError(actx context.Context, err error) string {
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return "timed out after " + p.timeout.String()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return oneLine(err.Error())
}

func statusText(resp *http.Response) string {
	if text := http.StatusText(resp.StatusCode); text != "" {
		return strconv.Itoa(resp.StatusCode) + " " + text
	}
	return strconv.Itoa(resp.StatusCode)
}

// quoteBody is a short quote of a response body for a Reason, or "" for an empty body.
func quoteBody(data []byte) string {
	s := oneLine(string(data))
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > maxSnippet {
		s = string(r[:maxSnippet]) + "…"
	}
	return fmt.Sprintf(" (body %q)", s)
}

// sleepContext waits d or until ctx ends, whichever is first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
