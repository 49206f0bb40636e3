package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/durable"
	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

// operations runs a stack set's operations: the local executor (apply.Runner) or the Temporal
// workers (durable.Client).
type operations interface {
	Start(ctx context.Context, d apply.Desired, sp fleet.StackSetPlan) (fleet.Operation, error)
	Resume(ctx context.Context, d apply.Desired, opID string) (fleet.Operation, error)
	Abandon(ctx context.Context, stackSet, opID, reason string) error
}

// onTemporal reports whether the configuration runs operations on Temporal.
func (w *workspace) onTemporal() bool { return w.file.Config.Executor == config.ExecutorTemporal }

// openState opens the configuration's state: in PostgreSQL when state.postgresEnv names it,
// else in SQLite in .stackfleet/ next to the configuration.
func (w *workspace) openState(ctx context.Context) (*state.Store, error) {
	f := w.file
	if env := f.Config.State.PostgresEnv; env != "" {
		dsn := os.Getenv(env)
		if dsn == "" {
			return nil, usageErr(fmt.Errorf("%s: state.postgresEnv names $%s, which is not set: export the PostgreSQL connection string of the team's state there", f.Path, env))
		}
		s, err := state.OpenPostgres(ctx, dsn, filepath.Base(f.Path))
		if err != nil {
			return nil, operationalErr(fmt.Errorf("open state ($%s): %w", env, err))
		}
		return s, nil
	}
	s, err := state.OpenFor(ctx, filepath.Join(f.Dir, ".stackfleet"), filepath.Base(f.Path))
	if err != nil {
		return nil, operationalErr(fmt.Errorf("open state: %w", err))
	}
	return s, nil
}

// operations returns what runs the workspace's operations, publishing their events to bus, and
// a function that lets go of it. On Temporal the workers journal and notify the operations'
// events; this process reads them back from the journal for view and --events-file only.
func (w *workspace) operations(g *globals, bus apply.EventSink, view func(fleet.Event)) (operations, func(), error) {
	runner, err := apply.New(journal{Store: w.store}, w.deployer(), bus, nil, g.log)
	if err != nil {
		return nil, nil, err
	}
	if !w.onTemporal() {
		return runner, func() {}, nil
	}
	c, err := w.dialTemporal(g)
	if err != nil {
		return nil, nil, err
	}
	follow := events.New(events.Each(view), eventsFile(g))
	done := func() {
		follow.Close()
		c.Close()
	}
	return &durable.Client{Temporal: c, TaskQueue: w.taskQueue(), Config: w.store.Config(), Journal: w.store, Runner: runner, Events: follow}, done, nil
}

func (w *workspace) taskQueue() string {
	return cmp.Or(w.file.Config.Temporal.TaskQueue, durable.DefaultTaskQueue)
}

// dialTemporal connects to the configured Temporal service.
func (w *workspace) dialTemporal(g *globals) (client.Client, error) {
	t := w.file.Config.Temporal
	opts := client.Options{
		HostPort:  cmp.Or(t.Address, client.DefaultHostPort),
		Namespace: cmp.Or(t.Namespace, client.DefaultNamespace),
		Logger:    tlog.NewStructuredLogger(g.log),
	}
	useTLS := t.TLS || t.CertFile != "" || t.APIKeyEnv != ""
	if useTLS {
		cfg := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
		rel := func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(w.file.Dir, p)
		}
		if t.CAFile != "" {
			pem, err := os.ReadFile(rel(t.CAFile))
			if err != nil {
				return nil, usageErr(fmt.Errorf("temporal.caFile: %w", err))
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, usageErr(fmt.Errorf("temporal.caFile %s: no PEM certificate in it", t.CAFile))
			}
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(rel(t.CertFile), rel(t.KeyFile))
			if err != nil {
				return nil, usageErr(fmt.Errorf("temporal.certFile/keyFile: %w", err))
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts.ConnectionOptions.TLS = cfg
	}
	if env := t.APIKeyEnv; env != "" {
		key := os.Getenv(env)
		if key == "" {
			return nil, usageErr(fmt.Errorf("%s: temporal.apiKeyEnv names $%s, which is not set", w.file.Path, env))
		}
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, operationalErr(fmt.Errorf("connect to Temporal at %s (namespace %s): %w; is the service running? ('temporal server start-dev' runs one locally)",
			opts.HostPort, opts.Namespace, err))
	}
	return c, nil
}

// workerStream is a worker's event stream: the journal (where the commands that started the
// operations read them) and the configured notifications.
func (w *workspace) workerStream(g *globals) *events.Bus {
	return events.New(journalEvents(w.store, g.log), w.notifications(g))
}

func newWorkerCmd(g *globals) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the operations of executor: temporal (a Temporal worker)",
		Long: `worker polls the configuration's Temporal task queue and runs what apply, destroy and cancel
start there: a workflow per stack-set operation, a child workflow per region, an activity per
instance. Run as many as you like, on as many machines: each deploy runs once, and a worker that
dies mid-deploy has its deploys retried by another (under the same client request token, so
CloudFormation recognises them). The workers need what apply needs — this configuration and its
templates, AWS credentials, the state's PostgreSQL ($state.postgresEnv) and the key of sealed
parameters (STACKFLEET_SECRET_KEY) — and stop on Ctrl-C or SIGTERM after their running deploys
are handed back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, false)
			if err != nil {
				return err
			}
			defer w.Close()
			if !w.onTemporal() {
				return usageErr(fmt.Errorf("%s: worker runs the operations of executor: temporal; this configuration runs them in the stackfleet process (executor: local)", w.file.Path))
			}
			c, err := w.dialTemporal(g)
			if err != nil {
				return err
			}
			defer c.Close()
			bus := w.workerStream(g)
			defer bus.Close()
			runner, err := apply.New(journal{Store: w.store}, w.deployer(), bus, nil, g.log)
			if err != nil {
				return err
			}
			q := cmp.Or(queue, w.taskQueue())
			wk := worker.New(c, q, worker.Options{})
			durable.Register(wk, &durable.Activities{Runner: runner, Journal: journal{Store: w.store}, Flush: bus.Flush})
			if err := wk.Start(); err != nil {
				return operationalErr(fmt.Errorf("start worker: %w", err))
			}
			t := w.file.Config.Temporal
			fmt.Fprintf(g.stderr, "worker: polling task queue %s on %s (namespace %s); Ctrl-C stops\n",
				q, cmp.Or(t.Address, client.DefaultHostPort), cmp.Or(t.Namespace, client.DefaultNamespace))
			<-ctx.Done()
			wk.Stop()
			fmt.Fprintln(g.stderr, "worker: stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&queue, "task-queue", "", "task queue to poll (default: temporal.taskQueue, else stackfleet)")
	return cmd
}

// temporalErr maps the Temporal client's errors to exit codes: a busy stack set and a detached
// follower could not finish here (3).
func temporalErr(err error) error {
	if _, ok := errors.AsType[*durable.BusyError](err); ok {
		return &exitError{ExitOperational, err}
	}
	if _, ok := errors.AsType[*durable.DetachedError](err); ok {
		return &exitError{ExitOperational, err}
	}
	return nil
}
