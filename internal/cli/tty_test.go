package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/creack/pty"
	"github.com/hinshun/vt10x"

	"github.com/stackfleet/stackfleet/internal/cli"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// ttyRun is one command run on a pseudo-terminal: everything it wrote, the screen a terminal
// emulator shows at the end, and the HTML of the first screen that snap accepted (or "").
type ttyRun struct {
	code   int
	raw    []byte
	screen vt10x.Terminal
	snap   string
}

const ttyCols, ttyRows = 110, 60

// runOnTTY runs stackfleet with stdout and stderr on a pseudo-terminal of ttyCols × ttyRows
// and feeds what it writes to a VT100 emulator.
func runOnTTY(t *testing.T, args ...string) ttyRun {
	t.Helper()
	return runOnTTYSnap(t, nil, args...)
}

// runOnTTYSnap is runOnTTY that also keeps, as HTML, the first screen whose text snap accepts.
func runOnTTYSnap(t *testing.T, snap func(screen string) bool, args ...string) ttyRun {
	t.Helper()
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: ttyRows, Cols: ttyCols}); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	term := vt10x.New(vt10x.WithSize(ttyCols, ttyRows))
	read := make(chan struct{})
	var html string
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for { // until the terminal side is closed (EIO)
			n, err := ptm.Read(buf)
			raw.Write(buf[:n])
			_, _ = term.Write(buf[:n])
			if snap != nil && html == "" && snap(term.String()) {
				html = screenHTML(term)
			}
			if err != nil {
				return
			}
		}
	}()
	code := cli.Main(context.Background(), args, strings.NewReader(""), tty, tty)
	_ = tty.Close()
	<-read
	_ = ptm.Close()
	return ttyRun{code: code, raw: raw.Bytes(), screen: term, snap: html}
}

// ansiColors are the 16 terminal colours of the screenshots (a dark theme).
var ansiColors = [16]string{"#1e1e1e", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#abb2bf",
	"#5c6370", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#ffffff"}

// screenHTML renders the emulator's screen, colours included, as an HTML page (for the README's
// screenshot of the terminal view), leaving out the empty rows at the bottom.
func screenHTML(term vt10x.Terminal) string {
	term.Lock()
	defer term.Unlock()
	cols, rows := term.Size()
	last := 0
	for y := range rows {
		for x := range cols {
			if c := term.Cell(x, y).Char; c != ' ' && c != 0 {
				last = y
			}
		}
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><meta charset="utf-8"><style>body{margin:0;background:#1e1e1e}` +
		`pre{margin:0;padding:16px 20px;font:14px/1.35 "DejaVu Sans Mono",monospace;color:#d4d4d4;display:inline-block}</style><pre id="screen">`)
	for y := 0; y <= last; y++ {
		line := ""
		for x := range cols {
			g := term.Cell(x, y)
			ch := g.Char
			if ch == 0 {
				ch = ' '
			}
			style := ""
			if g.FG.ANSI() {
				style = "color:" + ansiColors[g.FG]
			}
			if g.Mode&4 != 0 { // bold
				style += ";font-weight:bold"
			}
			text := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(string(ch))
			if style != "" {
				text = `<span style="` + style + `">` + text + `</span>`
			}
			line += text
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	b.WriteString("</pre>")
	return b.String()
}

// text is the screen's text, trailing blanks and empty rows dropped.
func (r ttyRun) text() string {
	var lines []string
	for _, l := range strings.Split(r.screen.String(), "\n") {
		lines = append(lines, strings.TrimRight(l, " \x00"))
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}

// ttyVolatile is what changes run to run on the screen: durations, times, operation and
// release ids, version hashes.
var ttyVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{8}T\d{6}Z-[0-9a-f]{8}`), "OPERATION"},
	{regexp.MustCompile(`rel-\d{8}T\d{6}-[0-9a-f]{6}`), "RELEASE"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`), "HH:MM:SS"},
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b`), "TIME"},
	{regexp.MustCompile(`(elapsed|in|ETA) \d+(\.\d+)?(ms|s|m\d+s|h\d+m|µs)\b`), "$1 DURATION"},
	{regexp.MustCompile(`version [0-9a-f]{12}`), "version VERSION"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "HOST"},
}

func normalizeTTY(s string) string {
	for _, v := range ttyVolatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// ttySandbox starts a sandbox organization (12 accounts, 2 regions) for the CLI through the
// AWS environment variables, and writes config to a new directory; it returns the config path.
func ttySandbox(t *testing.T, config string, files map[string]string) (*sandbox.Sandbox, string) {
	t.Helper()
	sb := startSandbox(t, sandbox.Options{Accounts: 12, OUs: 2, Seed: 7, Regions: []string{"us-east-1", "eu-west-1"}})
	// A terminal with colours, outside CI.
	for k, v := range map[string]string{"CI": "", "TERM": "xterm-256color", "NO_COLOR": "", "COLORTERM": ""} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	files["stackfleet.yaml"] = config
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sb, filepath.Join(dir, "stackfleet.yaml")
}

// baselineConfig deploys t.yaml to the 6 accounts of Workloads-1 in two regions, two at a time.
const baselineConfig = `version: 1
organization: {source: aws}
regions: [us-east-1, eu-west-1]
execution: {role: "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"}
stackSets:
  - name: baseline
    template: t.yaml
    targets: {ous: [Workloads-1]}
    rollout: {maxConcurrentCount: 2, failureToleranceCount: 1, regionOrder: [us-east-1, eu-west-1]}
`

const ttyTemplate = `Resources:
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue}
Outputs:
  Arn: {Value: !Ref Topic}
`

// TestTTYApply runs apply on a pseudo-terminal: the live view redraws in place (the cursor
// moves up over the last frame), in colour, and leaves its last frame — the region bars with
// exact counts, one failure — above the summary; the plan is coloured with account names.
// NO_COLOR takes the colours away; --no-tty prints the plain log.
func TestTTYApply(t *testing.T) {
	sb, cfg := ttySandbox(t, baselineConfig, map[string]string{"t.yaml": ttyTemplate})
	var member string
	for _, a := range sb.Org().Accounts {
		if a.ID != sb.Org().ManagementAccount {
			member = a.ID
			break
		}
	}
	if _, err := sb.AddRule(sandbox.Rule{Kind: sandbox.RuleResourceFailure, LogicalID: "Queue", Account: member, Region: "eu-west-1", Reason: "injected failure"}); err != nil {
		t.Fatal(err)
	}

	sb.SetResourceDelay(100 * time.Millisecond) // frames in flight for the README's screenshot
	midRun := func(screen string) bool {
		return strings.Contains(screen, "in flight") && strings.Contains(screen, "1 failed") && strings.Contains(screen, "ETA")
	}
	r := runOnTTYSnap(t, midRun, "-c", cfg, "apply", "--auto-approve", "--poll-interval", "20ms")
	if *update && r.snap != "" {
		screenshotHTML(t, r.snap, filepath.Join("..", "..", "docs", "terminal-apply.png"))
	}
	if r.code != cli.ExitOK && r.code != cli.ExitDeployFail {
		t.Fatalf("apply exited %d:\n%s", r.code, r.raw)
	}
	if !bytes.Contains(r.raw, []byte("\x1b[")) || !regexp.MustCompile(`\x1b\[\d*A`).Match(r.raw) {
		t.Errorf("the live view did not redraw in place (no cursor-up sequence):\n%q", r.raw)
	}
	if !regexp.MustCompile(`\x1b\[(\d+;)*3[1-3](;\d+)*m`).Match(r.raw) {
		t.Errorf("no colour on a terminal without NO_COLOR")
	}
	cli.CheckGolden(t, "apply.golden", normalizeTTY(r.text()))

	// An unchanged plan, coloured plan and no live area; NO_COLOR: no colour codes at all.
	t.Setenv("NO_COLOR", "1")
	r = runOnTTY(t, "-c", cfg, "plan")
	if regexp.MustCompile(`\x1b\[(\d+;)*3\dm`).Match(r.raw) {
		t.Errorf("colour codes despite NO_COLOR:\n%q", r.raw)
	}
	cli.CheckGolden(t, "plan-no-color.golden", normalizeTTY(r.text()))

	// --no-tty: the plain log, as when stdout is not a terminal.
	r = runOnTTY(t, "-c", cfg, "--no-tty", "apply", "--auto-approve", "--poll-interval", "20ms")
	if bytes.Contains(r.raw, []byte("\x1b[")) {
		t.Errorf("--no-tty wrote escape sequences:\n%q", r.raw)
	}
	if !bytes.Contains(r.raw, []byte(" pending ")) {
		t.Errorf("--no-tty did not print the plain progress lines:\n%s", r.raw)
	}
}

// TestTTYRelease runs a release whose health check fails on a pseudo-terminal: the last frame
// shows the stages, the failed gate's verdict and the rolled-back wave.
func TestTTYRelease(t *testing.T) {
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
        waveChecks: {bake: 1s}
      - name: prod
        targets: {ous: [Workloads-1/Prod]}
        waveChecks:
          health: [{url: "%s/health", status: 200, retries: 1, interval: 10ms}]
`, health.URL), map[string]string{"t.yaml": ttyTemplate})
	r := runOnTTY(t, "-c", cfg, "release", "web", "--poll", "50ms")
	if r.code != cli.ExitDeployFail {
		t.Fatalf("release exited %d, want %d:\n%s", r.code, cli.ExitDeployFail, r.raw)
	}
	screen := normalizeTTY(r.text())
	for _, want := range []string{"wave     FAILED           stage prod wave 1/1: health check", "rollback ROLLED_BACK      prod wave 1/1"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the log above the live area lacks %q:\n%s", want, screen)
		}
	}
	// The last frame: the log above it has the instances in the order they finished.
	i := strings.LastIndex(screen, "release RELEASE of web")
	j := strings.LastIndex(screen, "error: ")
	if i < 0 || j < i {
		t.Fatalf("no last frame on the screen:\n%s", screen)
	}
	cli.CheckGolden(t, "release.golden", screen[i:j])
}

// screenshotHTML saves a PNG of the page's #screen element, rendered by headless Chromium.
func screenshotHTML(t *testing.T, html, png string) {
	t.Helper()
	ctx, cancel := ttyBrowser(t)
	defer cancel()
	page := filepath.Join(t.TempDir(), "screen.html")
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 900), chromedp.Navigate("file://"+page)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	img, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#screen")))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(png, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ttyBrowser starts headless Chromium (Debian's chromium, which the README's test command
// installs); without one the test skips, or fails in CI.
func ttyBrowser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if inCI {
			t.Fatal("chromium is not installed (scripts/test.sh installs it)")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	return ctx, func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
}
