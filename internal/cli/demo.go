package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/examples"
	"github.com/stackfleet/stackfleet/internal/sandbox"
	"github.com/stackfleet/stackfleet/internal/state"
)

func newDemoCmd(g *globals) *cobra.Command {
	var (
		dir      string
		accounts int
		delay    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run plan, apply and outputs of the example against a built-in sandbox organization",
		Long: `demo starts the sandbox in this process with a seeded organization (3 OUs, each with Prod and
NonProd children, 3 regions), writes the example configuration and template (examples/) to a
working directory, and runs 'plan', 'apply' and 'outputs' against it, then a second 'apply' that
has nothing to do. No AWS account or network access is needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dir == "" {
				d, err := os.MkdirTemp("", "stackfleet-demo-")
				if err != nil {
					return operationalErr(err)
				}
				dir = d
			}
			if err := writeExamples(dir); err != nil {
				return operationalErr(err)
			}
			sb, err := sandbox.New(sandbox.Options{Accounts: accounts, OUs: 3, Seed: 1,
				Regions: []string{"us-east-1", "eu-west-1", "ap-northeast-1"}, ResourceDelay: delay, Logger: g.log})
			if err != nil {
				return operationalErr(err)
			}
			defer sb.Close()
			url, err := sb.Start("127.0.0.1:0")
			if err != nil {
				return operationalErr(err)
			}
			creds := sb.ManagementCredentials()
			// The demo owns this process: point the standard credential chain at the sandbox.
			for k, v := range map[string]string{
				"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
				"AWS_SESSION_TOKEN": "", "AWS_REGION": creds.Region, "AWS_PROFILE": "",
				"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
			} {
				os.Setenv(k, v)
			}
			org := sb.Org()
			fmt.Fprintf(g.stdout, "Sandbox organization %s on %s: %d accounts in %d OUs, regions %s\n",
				org.ID, url, len(org.Accounts), len(org.OUs), strings.Join(sb.Regions(), ", "))
			fmt.Fprintf(g.stdout, "Working directory: %s\n", dir)

			cfg := filepath.Join(dir, "stackfleet.yaml")
			steps := [][]string{
				{"plan"},
				{"apply", "--auto-approve"},
				{"outputs", "platform-baseline", "--key", "LogBucketName,LogRetentionDays"},
				{"status"},
				{"apply", "--auto-approve"},
			}
			for _, args := range steps {
				fmt.Fprintf(g.stdout, "\n$ stackfleet %s\n", strings.Join(args, " "))
				sb.ResetCounters()
				full := append(args, "--config", cfg, "--endpoint", url)
				if g.output == "json" && args[0] != "outputs" {
					full = append(full, "--output", "json")
				}
				if code := Main(ctx, full, g.stdin, g.stdout, g.stderr); code != ExitOK {
					return &exitError{code, fmt.Errorf("demo step 'stackfleet %s' exited %d", strings.Join(args, " "), code)}
				}
				if args[0] == "apply" {
					c := sb.Counters()
					fmt.Fprintf(g.stdout, "(sandbox saw %d CloudFormation calls, %d of them writes)\n",
						c.Calls("cloudformation", ""), c.Writes("cloudformation"))
				}
			}
			if err := demoPipeline(ctx, g, sb, cfg, url); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "\nDone. Try it yourself: stackfleet sandbox (prints the AWS_* exports), then\n  stackfleet plan --config %s\n", cfg)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "working directory for the example (default: a new temporary directory)")
	cmd.Flags().IntVar(&accounts, "accounts", 24, "member accounts in the sandbox organization")
	cmd.Flags().DurationVar(&delay, "resource-delay", 20*time.Millisecond, "simulated duration of each CloudFormation resource operation")
	return cmd
}

// writeExamples copies the embedded example into dir (existing files are kept: a rerun with the
// same --dir reuses its state and configuration).
func writeExamples(dir string) error {
	return fs.WalkDir(examples.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if _, err := os.Stat(target); err == nil {
			return nil
		}
		b, err := examples.FS.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// demoPipeline releases the example's web pipeline twice: 1.0.0 goes through beta, gamma and
// prod; 1.1.0 trips the error alarm in a prod wave (set through the sandbox's admin API while the
// wave bakes) and is rolled back automatically, its outputs restored.
func demoPipeline(ctx context.Context, g *globals, sb *sandbox.Sandbox, cfg, url string) error {
	run := func(args ...string) int {
		fmt.Fprintf(g.stdout, "\n$ stackfleet %s\n", strings.Join(args, " "))
		return Main(ctx, append(args, "--config", cfg, "--endpoint", url, "--poll", "200ms"), g.stdin, g.stdout, g.stderr)
	}
	show := func(args ...string) int {
		fmt.Fprintf(g.stdout, "\n$ stackfleet %s\n", strings.Join(args, " "))
		return Main(ctx, append(args, "--config", cfg, "--endpoint", url), g.stdin, g.stdout, g.stderr)
	}
	if code := run("release", "web"); code != ExitOK {
		return &exitError{code, fmt.Errorf("demo: the first release of web exited %d", code)}
	}
	if code := show("outputs", "web/web-app", "--key", "Version", "--in-region", "eu-west-1"); code != ExitOK {
		return &exitError{code, fmt.Errorf("demo: outputs exited %d", code)}
	}

	// Version 1.1.0: the prod error alarm goes off while prod's second wave bakes.
	b, err := os.ReadFile(cfg)
	if err != nil {
		return operationalErr(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), `Version: "1.0.0"`, `Version: "1.1.0"`, 1)), 0o644); err != nil {
		return operationalErr(err)
	}
	fmt.Fprintln(g.stdout, "\n# stackfleet.yaml now releases web-app 1.1.0; its error alarm will go off in prod's second wave")
	done := make(chan int, 1)
	go func() { done <- run("release", "web") }()
	tripped := false
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case code := <-done:
			if code != ExitDeployFail || !tripped {
				return &exitError{ExitOperational, fmt.Errorf("demo: the second release exited %d (alarm tripped: %v), want a rollback", code, tripped)}
			}
			fmt.Fprintln(g.stdout, "\n# The failing wave was rolled back: its instances run 1.0.0 again, with 1.0.0's outputs.")
			show("pipeline", "status", "web")
			show("outputs", "web/web-app", "--key", "Version", "--in-region", "us-east-1")
			return nil
		case <-tick.C:
			if !tripped && demoReleaseAt(ctx, cfg, "web", 2, 1, "bake") {
				for _, a := range sb.Org().Accounts {
					for _, r := range sb.Regions() {
						_ = sb.SetAlarmState(a.ID, r, "web-app-errors", "ALARM", "Threshold Crossed: 12 errors in the last minute (demo)")
					}
				}
				tripped = true
			}
		}
	}
}

// demoReleaseAt reports whether the pipeline's unfinished release is at stage/wave/phase.
func demoReleaseAt(ctx context.Context, cfg, name string, stage, wave int, phase string) bool {
	st, err := state.Open(ctx, filepath.Join(filepath.Dir(cfg), ".stackfleet"))
	if err != nil {
		return false
	}
	defer st.Close()
	active, err := st.ActiveReleases(ctx, name)
	if err != nil || len(active) == 0 {
		return false
	}
	p := active[0].Position
	return p.Stage == stage && p.Wave == wave && string(p.Phase) == phase
}
