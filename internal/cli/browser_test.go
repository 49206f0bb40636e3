package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stackfleet/stackfleet/internal/cli"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// inCI is read before the tests change the environment: in CI a missing browser fails the
// browser tests instead of skipping them.
var inCI = os.Getenv("CI") != ""

// background runs stackfleet in-process until it exits or ctx ends; its stdout and stderr
// lines arrive on lines, and code gets its exit code.
type background struct {
	lines chan string
	code  chan int
}

func runBackground(ctx context.Context, args ...string) *background {
	b := &background{lines: make(chan string, 10000), code: make(chan int, 1)}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	for _, r := range []io.Reader{outR, errR} {
		go func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				b.lines <- sc.Text()
			}
		}()
	}
	go func() {
		code := cli.Main(ctx, args, strings.NewReader(""), outW, errW)
		outW.Close()
		errW.Close()
		b.code <- code
	}()
	return b
}

// await returns the first line matching re (within a minute), or fails the test with the
// lines seen.
func (b *background) await(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var seen []string
	deadline := time.After(time.Minute)
	for {
		select {
		case l := <-b.lines:
			seen = append(seen, l)
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no line matching %q within a minute; saw:\n%s", re, strings.Join(seen, "\n"))
		}
	}
}

// browse opens a headless Chromium tab whose full-page screenshot is kept, when the test fails,
// in $STACKFLEET_TEST_ARTIFACTS (default: the temporary directory's stackfleet-test-artifacts).
func browse(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := ttyBrowser(t)
	t.Cleanup(func() {
		defer cancel()
		if !t.Failed() {
			return
		}
		dir := os.Getenv("STACKFLEET_TEST_ARTIFACTS")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "stackfleet-test-artifacts")
		}
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil && os.MkdirAll(dir, 0o755) == nil {
			path := filepath.Join(dir, t.Name()+".png")
			if os.WriteFile(path, img, 0o644) == nil {
				t.Logf("screenshot of the page: %s", path)
			}
		}
	})
	return ctx
}

// evaluate runs a JavaScript expression in the page.
func evaluate[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, js, err, body)
	}
}

func screenshotPage(t *testing.T, ctx context.Context, png string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(png, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

const browserTemplate = `Resources:
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue}
Outputs:
  Arn: {Value: !Ref Topic}
`

// TestDashboardBrowser opens the dashboard of a running apply in headless Chromium: cells that
// were pending turn succeeded through server-sent events without a reload, the failed cell
// leads to its failing resource.
func TestDashboardBrowser(t *testing.T) {
	ctx := browse(t)
	sb, cfg := ttySandbox(t, `version: 1
organization: {source: aws}
regions: [us-east-1, eu-west-1]
execution: {role: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"}
stackSets:
  - name: baseline
    template: t.yaml
    targets: {ous: [Workloads-1]}
    rollout: {maxConcurrentCount: 2, failureToleranceCount: 1, regionOrder: [us-east-1, eu-west-1]}
`, map[string]string{"t.yaml": browserTemplate})
	sb.SetResourceDelay(150 * time.Millisecond)
	var failing string
	for _, a := range sb.Org().Accounts {
		if a.ID != sb.Org().ManagementAccount {
			failing = a.ID
			break
		}
	}
	if _, err := sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, LogicalID: "Queue", Account: failing, Region: "eu-west-1", Reason: "injected failure"}); err != nil {
		t.Fatal(err)
	}

	apply := runBackground(context.Background(), "-c", cfg, "apply", "--auto-approve", "--ui", "--poll-interval", "20ms")
	url := apply.await(t, `dashboard: (http://\S+)`)[1]
	apply.await(t, `baseline: operation \S+ running`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url), chromedp.Navigate(strings.Split(url, "?")[0]+"owners/stack-set/baseline")); err != nil {
		t.Fatal(err)
	}
	cells := `document.querySelectorAll('table.matrix[data-owner="stack-set/baseline"] td[data-target]')`
	if n := evaluate[int](t, ctx, cells+`.length`); n != 12 {
		t.Fatalf("the matrix has %d cells, want 12 (6 accounts × 2 regions)", n)
	}
	// eu-west-1 deploys after us-east-1: its cells are pending when the page opens.
	pendingAtLoad := evaluate[[]string](t, ctx, `Array.from(`+cells+`).filter(td => td.classList.contains('pending')).map(td => td.dataset.target)`)
	if len(pendingAtLoad) == 0 {
		t.Fatalf("no pending cell when the page opened during the apply")
	}
	evaluate[bool](t, ctx, `window.__notReloaded = true`)
	waitFor(t, ctx, "every cell finished", `Array.from(`+cells+`).every(td => td.classList.contains('succeeded') || td.classList.contains('failed'))`)
	if !evaluate[bool](t, ctx, `window.__notReloaded === true`) {
		t.Errorf("the page reloaded: the cells should change through the event stream")
	}
	failedCell := failing + "/eu-west-1"
	states := evaluate[map[string]string](t, ctx, `Object.fromEntries(Array.from(`+cells+`).map(td => [td.dataset.target, td.className]))`)
	for target, class := range states {
		want := "cell succeeded"
		if target == failedCell {
			want = "cell failed"
		}
		if class != want {
			t.Errorf("cell %s: class %q, want %q", target, class, want)
		}
	}
	if code := <-apply.code; code != cli.ExitDeployFail && code != cli.ExitOK {
		t.Fatalf("apply exited %d", code)
	}

	// The failed cell's drill-down names the failing resource. The apply's dashboard stopped with
	// it; 'stackfleet ui' serves the same state.
	uiCtx, stopUI := context.WithCancel(context.Background())
	ui := runBackground(uiCtx, "-c", cfg, "ui")
	defer func() { stopUI(); <-ui.code }()
	url = ui.await(t, `dashboard: (http://\S+)`)[1]
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Navigate(strings.Split(url, "?")[0]+"owners/stack-set/baseline")); err != nil {
		t.Fatal(err)
	}
	if *update {
		waitFor(t, ctx, "the event feed", `document.getElementById('live').textContent === 'live'`)
		screenshotPage(t, ctx, filepath.Join("..", "..", "docs", "dashboard-matrix.png"))
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`td[data-target="`+failedCell+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#reason"))); err != nil {
		t.Fatal(err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#reason")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reason, "Queue") || !strings.Contains(reason, "injected failure") {
		t.Errorf("the failed instance's page says %q, want its failing resource Queue and the reason", reason)
	}
}

// TestDashboardBrowserRelease opens a release's page: a bake counts down while the wave bakes,
// and after a failed health check the wave shows rolled back.
func TestDashboardBrowserRelease(t *testing.T) {
	ctx := browse(t)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unhealthy", http.StatusServiceUnavailable)
	}))
	defer health.Close()
	_, cfg := ttySandbox(t, fmt.Sprintf(`version: 1
organization: {source: aws}
regions: [us-east-1]
execution: {role: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"}
pipelines:
  - name: web
    stacks:
      - name: app
        template: t.yaml
    stages:
      - name: beta
        targets: {ous: [Workloads-1/NonProd]}
        waveChecks: {bake: 4s}
      - name: prod
        targets: {ous: [Workloads-1/Prod]}
        waveChecks:
          health: [{url: "%s/health", status: 200, retries: 1, interval: 10ms}]
`, health.URL), map[string]string{"t.yaml": browserTemplate})

	rel := runBackground(context.Background(), "-c", cfg, "release", "web", "--ui", "--poll", "50ms")
	url := rel.await(t, `dashboard: (http://\S+)`)[1]
	rel.await(t, `wave +BAKING +beta wave 1/1`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url), chromedp.Navigate(strings.Split(url, "?")[0]+"pipelines/web"),
		chromedp.WaitVisible(chromedp.CSS(".bake[data-left]"))); err != nil {
		t.Fatal(err)
	}
	left := evaluate[string](t, ctx, `document.querySelector('.bake[data-left]').dataset.left`)
	waitFor(t, ctx, "the bake counting down", `(b => b && parseInt(b.dataset.left, 10) < `+left+` && /^bake \d+s left$/.test(b.textContent))(document.querySelector('.bake[data-left]'))`)
	if code := <-rel.code; code != cli.ExitDeployFail {
		t.Fatalf("release exited %d, want %d (rolled back)", code, cli.ExitDeployFail)
	}

	uiCtx, stopUI := context.WithCancel(context.Background())
	ui := runBackground(uiCtx, "-c", cfg, "ui")
	defer func() { stopUI(); <-ui.code }()
	url = ui.await(t, `dashboard: (http://\S+)`)[1]
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Navigate(strings.Split(url, "?")[0]+"pipelines/web")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "a rolled-back wave", `document.querySelector('li.wave[data-state*="rolled back"]') !== null`)
	gates := evaluate[string](t, ctx, `document.querySelector('table.gates') ? document.querySelector('table.gates').textContent : ''`)
	if !strings.Contains(gates, "FAILED") || !strings.Contains(gates, "503") {
		t.Errorf("the gates table does not show the failed health check: %q", gates)
	}
	if *update {
		screenshotPage(t, ctx, filepath.Join("..", "..", "docs", "dashboard-pipeline.png"))
	}
}
