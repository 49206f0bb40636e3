// Package cli is stackfleet's command line: cobra commands that wire configuration, inventory,
// state and AWS adapters together and render engine events as text or JSON.
package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/config"
)

// Exit codes: documented in the README and in `stackfleet --help`.
const (
	ExitOK          = 0 // success (plan: computed; apply: every operation succeeded)
	ExitDeployFail  = 1 // an operation failed (failures exceeded the tolerance)
	ExitUsage       = 2 // bad flags, bad configuration, invalid template/parameters, stale plan
	ExitOperational = 3 // could not run: AWS or state unreachable, lock held, interrupted
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error       { return &exitError{ExitUsage, err} }
func operationalErr(err error) error { return &exitError{ExitOperational, err} }

// globals are the flags every command shares.
type globals struct {
	config   string
	output   string
	endpoint string
	profile  string
	region   string
	verbose  bool
	noTTY    bool

	pollInitial time.Duration
	// eventsFile, when set, gets the event stream appended as JSON lines.
	eventsFile string

	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

func (g *globals) json() bool { return g.output == "json" }

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	code := ExitUsage // cobra's own errors are flag and argument errors
	if errors.As(err, &ee) {
		code = ee.code
	}
	var cerrs config.Errors
	if errors.As(err, &cerrs) {
		fmt.Fprintf(stderr, "error: invalid configuration:\n%v\n", cerrs)
	} else {
		fmt.Fprintf(stderr, "error: %v\n", err)
	}
	if awsclient.Unreachable(err) {
		endpoint := cmp.Or(g.endpoint, os.Getenv("AWS_ENDPOINT_URL"), "the AWS endpoints")
		fmt.Fprintf(stderr, "hint: nothing answers at %s: check --endpoint and AWS_ENDPOINT_URL; for the sandbox, is 'stackfleet sandbox' running?\n", endpoint)
	}
	return code
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "stackfleet",
		Short: "Deploy CloudFormation stacks across the accounts and regions of an AWS Organization",
		Long: `stackfleet deploys CloudFormation stacks across the accounts and regions of an AWS Organization.

Stack sets put one template into every account × region of some OUs with StackSets semantics
(plan, apply, status, outputs, destroy). Release pipelines ship workloads through stages in waves
with bakes, alarms, health checks, tests, approvals, windows and automatic rollback (release,
approve, reject, rollback, pipeline status). Durable state lives in .stackfleet/ next to the
configuration. 'stackfleet sandbox' serves a local multi-account AWS endpoint and 'stackfleet demo'
shows the whole thing with no AWS account.

Exit codes: 0 success; 1 a deployment failed; 2 usage, configuration or template error;
3 could not run (AWS or state unreachable, lock held, interrupted).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch g.output {
			case "text", "json", "csv":
			default:
				return usageErr(fmt.Errorf("--output %q: use text, json or csv (outputs only)", g.output))
			}
			level := slog.LevelWarn
			if g.verbose {
				level = slog.LevelDebug
			}
			g.log = slog.New(slog.NewTextHandler(stderrOf{g}, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.config, "config", "c", envOr("STACKFLEET_CONFIG", "stackfleet.yaml"), "configuration file (env STACKFLEET_CONFIG)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&g.endpoint, "endpoint", "", "AWS endpoint URL for every service, e.g. a sandbox (default: AWS_ENDPOINT_URL)")
	pf.StringVar(&g.profile, "profile", "", "AWS profile (default: AWS_PROFILE / the default chain)")
	pf.StringVar(&g.region, "region", "", "AWS region for Organizations and STS calls (default: AWS_REGION / profile)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log debugging detail to stderr")
	pf.BoolVar(&g.noTTY, "no-tty", false, "print the plain line log instead of the live terminal view (also when stdout is not a terminal, in CI, with TERM=dumb)")
	pf.StringVar(&g.eventsFile, "events-file", "", "append the event stream of apply, destroy, release and rollback to this file as JSON lines (the records of -o json)")
	pf.DurationVar(&g.pollInitial, "poll-interval", 500*time.Millisecond, "first CloudFormation polling interval (later polls are timed from how long earlier instances took)")
	root.AddCommand(newSchemaCmd(g), newVersionCmd(g))
	addFleetCommands(root, g)
	return root
}

// stderrOf writes to the command's stderr of the moment: the live terminal view takes it over
// while it draws, so that warnings scroll above its live area instead of through it.
type stderrOf struct{ g *globals }

func (s stderrOf) Write(p []byte) (int, error) { return s.g.stderr.Write(p) }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Version is set at build time with -ldflags "-X github.com/stackfleet/stackfleet/internal/cli.Version=…".
var Version = "dev"

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(g.stdout, "stackfleet", Version)
			return nil
		},
	}
}

func newSchemaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema [config|output]",
		Short: "Print the JSON Schema of stackfleet.yaml (config, the default) or of the -o json output",
		Long: `schema prints a JSON Schema (draft 2020-12): of stackfleet.yaml (for editors and linters), or
with "output" of every command's -o json (documents and streamed records, apiVersion
stackfleet/v1). Both are also in schema/.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"config", "output"},
		RunE: func(_ *cobra.Command, args []string) error {
			doc := config.Schema()
			if len(args) == 1 {
				switch args[0] {
				case "config":
				case "output":
					doc = OutputSchema()
				default:
					return usageErr(fmt.Errorf("schema %q: use config or output", args[0]))
				}
			}
			_, err := g.stdout.Write(doc)
			return err
		},
	}
}
