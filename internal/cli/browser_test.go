package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stackfleet/stackfleet/internal/cli"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// inCI is read before the tests change the environment (ttySandbox clears CI): in CI a missing
// browser fails the browser tests instead of skipping them.
var inCI = os.Getenv("CI") != ""

// browserWait bounds each wait for the dashboard: a few seconds are enough when it works.
const browserWait = 20 * time.Second

// TestDashboardBrowser drives the web dashboard in headless Chromium while stackfleet runs
// in-process against the sandbox. A failing subtest keeps a full-page screenshot of its page in
// $STACKFLEET_TEST_ARTIFACTS (default: the temporary directory's stackfleet-test-artifacts);
// -update writes the README's screenshots to docs/.
func TestDashboardBrowser(t *testing.T) {
	browser, cancel := ttyBrowser(t)
	defer cancel()
	// Chromium starts now: the pages must open while the commands below still run.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	t.Run("matrix", func(t *testing.T) { testDashboardMatrix(t, browser) })
	t.Run("release", func(t *testing.T) { testDashboardRelease(t, browser) })
}

const matrixSelector = `table.matrix[data-owner="stack-set/baseline"] td[data-target]`

// testDashboardMatrix opens a stack set's page during an apply --ui, and on 'stackfleet ui' as
// in another terminal: cells pending or running when the pages open turn succeeded through the
// event stream, with no reload; the one failed cell leads to its failing resource.
func testDashboardMatrix(t *testing.T, browser context.Context) {
	sb, cfg := ttySandbox(t, baselineConfig, map[string]string{"t.yaml": ttyTemplate})
	var accounts []string
	for _, a := range sb.Org().Accounts {
		if a.OUPath == "Workloads-1" || strings.HasPrefix(a.OUPath, "Workloads-1/") {
			accounts = append(accounts, a.ID)
		}
	}
	if len(accounts) < 2 {
		t.Fatalf("the sandbox has %d accounts in Workloads-1, want at least 2", len(accounts))
	}
	failedCell := accounts[0] + "/eu-west-1"
	if _, err := sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, LogicalID: "Queue", Account: accounts[0], Region: "eu-west-1", Reason: "injected failure"}); err != nil {
		t.Fatal(err)
	}
	// eu-west-1 deploys after us-east-1, each instance for at least two resource delays: the
	// pages open while cells are still pending.
	sb.SetResourceDelay(200 * time.Millisecond)

	tab, uiTab := openTab(t, browser), openTab(t, browser)
	defer keepScreenshotOnFailure(t, tab, "apply")
	defer keepScreenshotOnFailure(t, uiTab, "ui")
	ui := startCommand(t, "-c", cfg, "ui", "--listen", "127.0.0.1:0")
	uiPage := dashboardURL(t, ui, "/owners/stack-set/baseline")
	apply := startCommand(t, "-c", cfg, "apply", "--auto-approve", "--ui", "--ui-listen", "127.0.0.1:0", "--poll-interval", "20ms")
	navigate(t, tab, dashboardURL(t, apply, "/owners/stack-set/baseline"))
	watchCells(t, tab, 2*len(accounts))
	navigate(t, uiTab, uiPage)
	watchCells(t, uiTab, 2*len(accounts))
	if changed := checkCells(t, tab, failedCell); changed == 0 {
		t.Errorf("no cell changed from pending or running while the page was open: the apply ended before the browser looked")
	}
	if code := apply.wait(t); code != cli.ExitDeployFail {
		t.Errorf("apply exited %d, want %d (an instance failed):\n%s", code, cli.ExitDeployFail, apply.out)
	}
	// The apply's dashboard ended with it; 'stackfleet ui' followed the same apply and stays.
	checkCells(t, uiTab, failedCell)
	if *update {
		waitJS(t, uiTab, "the live feed", `document.getElementById('live').textContent === 'live'`)
		screenshot(t, uiTab, chromedp.CaptureScreenshot(), filepath.Join("..", "..", "docs", "dashboard-matrix.png"))
	}
	checkFailedInstance(t, uiTab, failedCell)
}

// watchCells waits for the page's matrix to have n cells (a page opened before the operation was
// recorded redraws itself at its first step), then marks the page, to tell a reload, and records
// every state each cell takes in window.__seen.
func watchCells(t *testing.T, tab context.Context, n int) {
	t.Helper()
	waitJS(t, tab, "the matrix of every target", fmt.Sprintf(`document.querySelectorAll('%s').length === %d`, matrixSelector, n))
	evaluate[bool](t, tab, `(() => {
  window.__marker = 1;
  window.__seen = {};
  const state = td => td.className.replace(/^cell /, '');
  document.querySelectorAll('`+matrixSelector+`').forEach(td => { window.__seen[td.dataset.target] = [state(td)]; });
  new MutationObserver(ms => ms.forEach(m => {
    const seen = window.__seen[m.target.dataset.target];
    if (seen && seen[seen.length - 1] !== state(m.target)) seen.push(state(m.target));
  })).observe(document.querySelector('table.matrix'), {subtree: true, attributes: true, attributeFilter: ['class']});
  return true;
})()`)
}

// checkCells waits for every cell of a page that watchCells marked to end, succeeded or (the
// cell failedCell) failed, without a reload; it returns how many cells changed from pending or
// running while it watched.
func checkCells(t *testing.T, tab context.Context, failedCell string) (changed int) {
	t.Helper()
	waitJS(t, tab, "every cell finished", `Array.from(document.querySelectorAll('`+matrixSelector+`')).every(td => /^cell (succeeded|current|failed)$/.test(td.className))`)
	if evaluate[int](t, tab, `window.__marker || 0`) != 1 {
		t.Fatalf("the page reloaded while the apply ran: cells must change through the event stream")
	}
	for target, seen := range evaluate[map[string][]string](t, tab, `window.__seen`) {
		want := "succeeded"
		if target == failedCell {
			want = "failed"
		}
		if got := seen[len(seen)-1]; got != want {
			t.Errorf("cell %s ended %s, want %s (states seen: %v)", target, got, want, seen)
		}
		if len(seen) > 1 && (seen[0] == "pending" || seen[0] == "running") {
			changed++
		}
	}
	t.Logf("%d cells went from pending or running to their end while the page was open", changed)
	return changed
}

// checkFailedInstance follows the link of the failed cell: the instance's page names the failing
// resource and its reason, and lists its failure among the events.
func checkFailedInstance(t *testing.T, tab context.Context, failedCell string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`td[data-target="`+failedCell+`"] a`))); err != nil {
		t.Fatalf("click the failed cell: %v", err)
	}
	waitJS(t, tab, "the failed instance's page", `location.pathname.startsWith('/instance/') && document.getElementById('reason')`)
	if reason := evaluate[string](t, tab, `document.getElementById('reason').textContent`); !strings.Contains(reason, "Queue") || !strings.Contains(reason, "injected failure") {
		t.Errorf("the failed instance's page gives the failure %q, want the failing resource Queue and its reason", reason)
	}
	failedRow := `Array.from(document.querySelectorAll('table.events tr')).some(tr => {
  const td = Array.from(tr.cells, c => c.textContent);
  return td[2] === 'CREATE_FAILED' && td[3] === 'Queue' && td[5].includes('injected failure');
})`
	if !evaluate[bool](t, tab, failedRow) {
		t.Errorf("the failed instance's events lack Queue CREATE_FAILED with its reason:\n%s", pageText(tab))
	}
}

// testDashboardRelease follows a release on its pipeline's page: a bake counts down in the
// page while prod bakes; an alarm goes off and the page shows the wave rolled back.
func testDashboardRelease(t *testing.T, browser context.Context) {
	sb, cfg := ttySandbox(t, `version: 1
organization: {source: aws}
regions: [us-east-1]
execution: {role: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"}
pipelines:
  - name: web
    stacks:
      - name: app
        template: app.yaml
    stages:
      - name: beta
        targets: {ous: [Workloads-1/NonProd]}
      - name: prod
        targets: {ous: [Workloads-1/Prod]}
        waveChecks:
          bake: 5m
          alarms: {names: ["{{.Stack}}-errors"]}
`, map[string]string{"app.yaml": `Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Name: /app/version, Type: String, Value: v1}
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub ${AWS::StackName}-errors
      Namespace: App
      MetricName: Errors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
`})
	tab := openTab(t, browser)
	defer keepScreenshotOnFailure(t, tab, "ui")
	// 'stackfleet ui' serves the page throughout: it reloads itself as waves change, also after the
	// release (whose own --ui dashboard ends with it) has ended.
	ui := startCommand(t, "-c", cfg, "ui", "--listen", "127.0.0.1:0")
	page := dashboardURL(t, ui, "/pipelines/web")
	release := startCommand(t, "-c", cfg, "release", "web", "--poll", "50ms")
	// A page that shows no release yet does not follow one: open it again until it does.
	reloadUntil(t, tab, page, "the release", `document.querySelector('section.release')`)
	waitJS(t, tab, "prod baking", `document.querySelector('.bake[data-left]')`)
	// The page counts down by itself: one page (the page reloads at wave events, a fresh one
	// starts over) shows less time left than when it first looked.
	waitJS(t, tab, "the bake counting down in the page", `(b => {
  if (!b) return false;
  const left = parseInt(b.dataset.left, 10);
  if (window.__firstLeft === undefined) window.__firstLeft = left;
  return left < window.__firstLeft && b.textContent === 'bake ' + left + 's left';
})(document.querySelector('.bake[data-left]'))`)

	set := 0
	for _, a := range sb.Org().Accounts {
		if sb.SetAlarmState(a.ID, "us-east-1", "app-errors", "ALARM", "set by the test") == nil {
			set++
		}
	}
	if set == 0 {
		t.Fatal("no account has the alarm app-errors in us-east-1")
	}
	waitJS(t, tab, "prod's wave rolled back", `document.querySelector('li.wave[data-state="failed, rolled back"]') && document.querySelector('section.release h2 .status').textContent === 'FAILED'`)
	if code := release.wait(t); code != cli.ExitDeployFail {
		t.Errorf("release exited %d, want %d (rolled back):\n%s", code, cli.ExitDeployFail, release.out)
	}
	if why := evaluate[string](t, tab, `document.querySelector('section.release p').textContent`); !strings.Contains(why, "alarm app-errors in ") || !strings.Contains(why, " is ALARM") {
		t.Errorf("the release does not say which alarm failed it: %q", why)
	}
	if *update {
		navigate(t, tab, page)
		waitJS(t, tab, "the live feed", `document.getElementById('live').textContent === 'live'`)
		screenshot(t, tab, chromedp.CaptureScreenshot(), filepath.Join("..", "..", "docs", "dashboard-pipeline.png"))
	}
}

// command is stackfleet running in-process in the background until it exits or the test ends.
type command struct {
	out  *output
	done chan struct{}
	code int // set before done is closed
}

func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{out: newOutput(), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.code = cli.Main(ctx, args, strings.NewReader(""), c.out, c.out)
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

// wait returns the command's exit code once it exits by itself.
func (c *command) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(browserWait):
		t.Fatalf("stackfleet did not finish within %v; it wrote:\n%s", browserWait, c.out)
		return 0
	}
}

// dashboardURL is the page at path of the dashboard the command serves, with the token of the
// URL it printed.
func dashboardURL(t *testing.T, c *command, path string) string {
	t.Helper()
	u, err := url.Parse(c.out.await(t, `dashboard: (http://\S+)`)[1])
	if err != nil {
		t.Fatal(err)
	}
	u.Path = path
	return u.String()
}

// output is what a command writes to stdout and stderr, safe for concurrent use.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	grew chan struct{} // closed when buf grows
}

func newOutput() *output { return &output{grew: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.grew)
	o.grew = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// await returns the submatches of re's first match in the output, once it is written.
func (o *output) await(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(browserWait)
	for {
		o.mu.Lock()
		m, grew := rx.FindStringSubmatch(o.buf.String()), o.grew
		o.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("stackfleet wrote nothing matching %q within %v:\n%s", re, browserWait, o)
		}
	}
}

// openTab opens a tab of the browser, 1280×800, closed when the test ends.
func openTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

func navigate(t *testing.T, tab context.Context, u string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
}

// evaluate returns the value of a JavaScript expression in the page.
func evaluate[T any](t *testing.T, tab context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v\npage:\n%s", js, err, pageText(tab))
	}
	return v
}

// waitJS waits until the JavaScript expression js is truthy in the page, across the reloads
// the page makes itself.
func waitJS(t *testing.T, tab context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("waiting for %s: not within %v (%s)\npage:\n%s", what, browserWait, js, pageText(tab))
		}
		_, err := chromedp.Run(tab, chromedp.Poll[bool]("!!("+js+")", chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(left)))
		switch {
		case err == nil:
			return
		case errors.Is(err, chromedp.ErrPollingTimeout), tab.Err() != nil:
			t.Fatalf("waiting for %s: %v (%s)\npage:\n%s", what, err, js, pageText(tab))
		}
		// A navigation ended the poll: poll the new page.
	}
}

// reloadUntil opens u again until the JavaScript expression js is truthy there.
func reloadUntil(t *testing.T, tab context.Context, u, what, js string) {
	t.Helper()
	deadline := time.After(browserWait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := chromedp.Do(tab, chromedp.Navigate(u))
		if err == nil {
			var ok bool
			if ok, err = chromedp.Run(tab, chromedp.Evaluate[bool]("!!("+js+")")); ok {
				return
			}
		}
		// Not yet, or the page reloaded itself meanwhile (app.js does at some events): again.
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waiting for %s at %s: not within %v (%s; last error: %v)\npage:\n%s", what, u, browserWait, js, err, pageText(tab))
		}
	}
}

// pageText is the page's text, for failure messages.
func pageText(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
	if err != nil {
		return fmt.Sprintf("(no page text: %v)", err)
	}
	return text
}

func screenshot(t *testing.T, tab context.Context, shot chromedp.Action[[]byte], path string) {
	t.Helper()
	img, err := chromedp.Run(tab, shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// keepScreenshotOnFailure saves, when the test has failed, a full-page screenshot of the tab as
// TEST-NAME.png in $STACKFLEET_TEST_ARTIFACTS, or the temporary directory's
// stackfleet-test-artifacts (kept after the test, unlike t.TempDir). Deferred by the test, it
// runs before the cleanups that stop the commands serving the page.
func keepScreenshotOnFailure(t *testing.T, tab context.Context, name string) {
	if !t.Failed() {
		return
	}
	dir := os.Getenv("STACKFLEET_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "stackfleet-test-artifacts")
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil { // a page that is loading has no size yet: take what the tab shows
		img, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "-")+"-"+name+".png")
	if err == nil {
		err = os.WriteFile(path, img, 0o644)
	}
	if err != nil {
		t.Logf("no screenshot of the page: %v", err)
		return
	}
	t.Logf("screenshot of the page: %s", path)
}
