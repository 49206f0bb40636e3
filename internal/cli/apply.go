package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/durable"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
	"github.com/stackfleet/stackfleet/internal/templates"
)

type applyFlags struct {
	only        []string
	autoApprove bool
	refresh     bool
	revertDrift bool
}

func newApplyCmd(g *globals) *cobra.Command {
	var af applyFlags
	var ui bool
	var uf uiFlags
	cmd := &cobra.Command{
		Use:   "apply [PLAN_FILE]",
		Short: "Deploy: resume unfinished operations, plan, then execute the plan",
		Long: `apply first resumes any operation a previous run left unfinished (re-checking in-flight
instances in CloudFormation), then plans and executes the plan stack set by stack set with each
stack set's rollout preferences. Given a PLAN_FILE saved by 'plan --out', it executes exactly that
plan, and refuses if the configuration, templates or organization changed since.

Unchanged instances make no CloudFormation call. Progress is printed per region; --output json
prints one JSON event per line.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, true)
			if err != nil {
				return err
			}
			defer w.Close()
			if ui {
				stop, err := w.startUI(ctx, g, uf)
				if err != nil {
					return err
				}
				defer stop()
			}
			var saved *fleet.Plan
			if len(args) == 1 {
				if saved, err = readPlan(args[0]); err != nil {
					return usageErr(err)
				}
				if err := w.checkPlan(args[0], saved); err != nil {
					return err
				}
			}
			return w.apply(ctx, g, saved, af, false)
		},
	}
	cmd.Flags().StringSliceVar(&af.only, "stack-set", nil, "apply only these stack sets (repeatable)")
	cmd.Flags().BoolVar(&af.autoApprove, "auto-approve", false, "do not ask for confirmation on a terminal")
	cmd.Flags().BoolVar(&ui, "ui", false, "serve the web dashboard while it runs (its URL is printed)")
	uf.register(cmd, "ui-")
	addRefreshFlag(cmd, &af.refresh)
	cmd.Flags().BoolVar(&af.revertDrift, "revert-drift", false, "detect resource drift first and write the templates' properties back over drifted resources (drift-aware change sets)")
	return cmd
}

func newDestroyCmd(g *globals) *cobra.Command {
	var af applyFlags
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete every stack instance of the stack sets (all, or --stack-set)",
		Long: `destroy plans the deletion of every recorded instance of the configured stack sets (or of
those named with --stack-set), prints the plan, and executes it with the rollout preferences.
Instances of stack sets with onRemoval: retain are deleted too: destroy is explicit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, true)
			if err != nil {
				return err
			}
			defer w.Close()
			return w.apply(ctx, g, nil, af, true)
		},
	}
	cmd.Flags().StringSliceVar(&af.only, "stack-set", nil, "destroy only these stack sets (repeatable)")
	cmd.Flags().BoolVar(&af.autoApprove, "auto-approve", false, "do not ask for confirmation on a terminal")
	return cmd
}

func newCancelCmd(g *globals) *cobra.Command {
	var only []string
	cmd := &cobra.Command{
		Use:   "cancel",
		Short: "Abandon the interrupted operations of the stack sets (all, or --stack-set)",
		Long: `cancel abandons each stack set's interrupted operation (one a killed or interrupted apply left
unfinished): its instances not yet done become CANCELLED and nothing more of it is deployed. What
it already deployed stays recorded; the next plan shows what is left to do. An operation still
running in a live process is refused; with executor: temporal, an operation running on the workers
is cancelled there (what is deploying is stopped). Without cancel, the next apply resumes an interrupted
operation when its plan is the same, and supersedes it otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, false, false)
			if err != nil {
				return err
			}
			defer w.Close()
			v := newView(g, w.accountNames())
			bus := w.stream(g, v.event)
			defer bus.Close()
			runner, done, err := w.operations(g, bus, v.event)
			if err != nil {
				return err
			}
			defer done()
			names, err := w.stackSetNames(ctx)
			if err != nil {
				return err
			}
			for _, name := range only {
				if !slices.Contains(names, name) {
					return usageErr(fmt.Errorf("--stack-set %s: no such stack set in %s or its state", name, w.file.Path))
				}
			}
			cancelled := 0
			for _, name := range names {
				if len(only) > 0 && !slices.Contains(only, name) {
					continue
				}
				if c, ok := runner.(*durable.Client); ok {
					// An operation running on the workers is stopped there.
					op, running, err := c.Cancel(ctx, name)
					if err != nil {
						return lockOrOperational(err)
					}
					if running {
						fmt.Fprintf(g.stderr, "%s: operation %s %s on the workers\n", name, op.ID, strings.ToLower(string(op.Status)))
						cancelled++
						continue
					}
				}
				u, err := w.store.Unfinished(ctx, name)
				if err != nil {
					return operationalErr(err)
				}
				if u == nil {
					continue
				}
				if err := runner.Abandon(ctx, name, u.ID, "cancelled by "+w.who(ctx, g)); err != nil {
					return lockOrOperational(err)
				}
				cancelled++
			}
			bus.Close()
			if cancelled == 0 && !g.json() {
				fmt.Fprintln(g.stdout, "No interrupted operation to cancel.")
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&only, "stack-set", nil, "cancel only these stack sets' operations (repeatable)")
	return cmd
}

// stackSetNames are the stack sets of the configuration and those it recorded, sorted.
func (w *workspace) stackSetNames(ctx context.Context) ([]string, error) {
	owners, err := w.store.Owners(ctx)
	if err != nil {
		return nil, operationalErr(err)
	}
	var names []string
	for _, s := range w.file.StackSets {
		names = append(names, s.Name)
	}
	for _, r := range owners {
		if r.Owner.IsStackSet() && r.Config == w.store.Config() && !slices.Contains(names, r.Owner.Name) {
			names = append(names, r.Owner.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// checkPlan refuses a saved plan made from other inputs than the current ones.
func (w *workspace) checkPlan(path string, p *fleet.Plan) error {
	var changed []string
	if p.ConfigHash != w.configHash() {
		changed = append(changed, "the configuration or a template")
	}
	if p.InventoryHash != w.inventoryHash() {
		changed = append(changed, "the organization (accounts, OUs or tags)")
	}
	if len(changed) > 0 {
		return usageErr(fmt.Errorf("plan %s (made %s) is stale: %s changed since; run 'stackfleet plan --out %s' again",
			path, p.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), strings.Join(changed, " and "), path))
	}
	return nil
}

// apply plans (unless given a plan), shows what it will do to each stack set's interrupted
// operation, and executes: an interrupted operation whose remaining work is exactly the plan's is
// resumed (its in-flight instances re-checked under its token); one the plan differs from is
// superseded — cancelled, so that nothing it had left of an older version is deployed.
func (w *workspace) apply(ctx context.Context, g *globals, p *fleet.Plan, af applyFlags, destroy bool) error {
	v := newView(g, w.accountNames())
	defer v.close()
	bus := w.stream(g, v.event)
	defer bus.Close()
	runner, done, err := w.operations(g, bus, v.event)
	if err != nil {
		return err
	}
	defer done()
	if p == nil {
		if p, err = w.plan(ctx, af.only, destroy, planOptions{refresh: af.refresh, preview: true}); err != nil {
			return err
		}
	}
	if af.revertDrift && !destroy {
		reports, err := w.detectDrift(ctx, af.only)
		if err != nil {
			return err
		}
		revertDrift(p, reports)
	}
	if err := w.interruptions(ctx, p); err != nil {
		return err
	}
	counts := p.Counts()
	writes := counts[fleet.Create] + counts[fleet.Update] + counts[fleet.Delete] + counts[fleet.Unmanage]
	v.plan(p)
	if writes == 0 {
		// An interrupted operation the plan has nothing left for is done with.
		for _, sp := range p.StackSets {
			if in := sp.Interrupted; in != nil {
				if err := runner.Abandon(ctx, sp.Name, in.Operation, "superseded: "+in.Reason); err != nil {
					return lockOrOperational(err)
				}
			}
		}
		bus.Flush()
		v.unchanged(p)
		return w.keepExports(ctx, g)
	}
	if err := w.checkArtifactBuckets(ctx, p); err != nil {
		return err
	}
	if !af.autoApprove && isTerminal(g.stdin) && !v.confirm(g.stdin) {
		return usageErr(errors.New("apply cancelled"))
	}
	var ops []fleet.Operation
	failed := false
	for _, sp := range p.StackSets {
		if len(sp.WaitsFor) > 0 {
			// Its parameters take outputs of stack sets this apply just deployed: plan it again
			// with what they recorded.
			np, err := w.plan(ctx, []string{sp.Name}, destroy, planOptions{})
			if err != nil {
				return err
			}
			if err := w.interruptions(ctx, np); err != nil {
				return err
			}
			if len(np.StackSets) != 1 || len(np.StackSets[0].WaitsFor) > 0 {
				return &exitError{ExitDeployFail, fmt.Errorf("%s: its inputs from %s are not there yet (did they deploy?); run apply again", sp.Name, strings.Join(sp.WaitsFor, ", "))}
			}
			waited := sp.WaitsFor
			sp = np.StackSets[0]
			c := np.Counts()
			fmt.Fprintf(g.stderr, "%s: planned again with the outputs of %s: %d to create, %d to update\n", sp.Name, strings.Join(waited, ", "), c[fleet.Create], c[fleet.Update])
		}
		v.start(sp)
		var op fleet.Operation
		switch in := sp.Interrupted; {
		case in != nil && in.Resume:
			op, err = runner.Resume(ctx, w.desired(sp.Name), in.Operation)
		case in != nil:
			if err = runner.Abandon(ctx, sp.Name, in.Operation, "superseded: "+in.Reason); err == nil {
				op, err = runner.Start(ctx, w.desired(sp.Name), sp)
			}
		default:
			op, err = runner.Start(ctx, w.desired(sp.Name), sp)
		}
		bus.Flush()
		if err != nil {
			return lockOrOperational(err)
		}
		if op.ID != "" {
			ops = append(ops, op)
		}
		if op.Status == fleet.OpFailed {
			failed = true
		}
		if op.Status == fleet.OpStopped || ctx.Err() != nil {
			return &exitError{ExitOperational, errors.New("interrupted; run apply again to resume")}
		}
	}
	v.summary(ops)
	if !failed {
		if err := w.keepExports(ctx, g); err != nil {
			return err
		}
	}
	if failed {
		return &exitError{ExitDeployFail, errors.New("deployment failed; see the failures above and 'stackfleet status'")}
	}
	if n := failedSteps(ops); n > 0 {
		return &exitError{ExitDeployFail, fmt.Errorf("%d instance(s) failed within the failure tolerance; see 'stackfleet status'", n)}
	}
	return nil
}

// interruptions notes in the plan each stack set's unfinished operation, resumed or superseded.
func (w *workspace) interruptions(ctx context.Context, p *fleet.Plan) error {
	for i := range p.StackSets {
		sp := &p.StackSets[i]
		u, err := w.store.Unfinished(ctx, sp.Name)
		if err != nil {
			return operationalErr(err)
		}
		if u == nil {
			continue
		}
		op, steps, err := w.store.Operation(ctx, u.ID)
		if err != nil {
			return operationalErr(err)
		}
		sp.Interrupted = fleet.Interruption(op, steps, *sp)
	}
	return nil
}

// failedSteps counts the failed instance operations of finished operations (failures within the
// tolerance leave the operation SUCCEEDED, as in StackSets, but the run did not fully succeed).
func failedSteps(ops []fleet.Operation) int {
	n := 0
	for _, op := range ops {
		n += op.FailedSteps
	}
	return n
}

// desired is what the operations of a stack set deploy; a stack set no longer in the
// configuration is only ever deleted, so its name is enough.
func (w *workspace) desired(name string) apply.Desired {
	s := w.stackSet(name)
	if s == nil {
		return apply.Desired{Name: name}
	}
	return apply.Desired{Name: s.Name, TemplateBody: s.TemplateBody, Assets: s.Assets, Tags: w.configTags(s.Tags), Capabilities: s.Capabilities}
}

// configTags are a stack's configured tags and the tag naming the configuration file.
func (w *workspace) configTags(tags map[string]string) map[string]string {
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]string{}
	}
	out[fleet.ConfigTag] = filepath.Base(w.file.Path)
	return out
}

func lockOrOperational(err error) error {
	if terr := temporalErr(err); terr != nil {
		return terr
	}
	var le *state.LockedError
	if errors.As(err, &le) {
		return &exitError{ExitOperational, err}
	}
	return operationalErr(err)
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// checkArtifactBuckets makes sure, before anything deploys, that every region where the plan
// creates or updates instances of a template too large for a request has its artifact bucket.
func (w *workspace) checkArtifactBuckets(ctx context.Context, p *fleet.Plan) error {
	for _, sp := range p.StackSets {
		s := w.desired(sp.Name)
		if len(s.TemplateBody) <= templates.MaxBodyBytes {
			continue
		}
		for _, a := range sp.Actions {
			if a.Kind != fleet.Create && a.Kind != fleet.Update {
				continue
			}
			if err := w.templateStore().CheckBucket(ctx, a.Target.Region, len(s.TemplateBody)); err != nil {
				return &exitError{ExitDeployFail, fmt.Errorf("%s: %w", sp.Name, err)}
			}
		}
	}
	return nil
}
