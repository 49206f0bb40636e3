package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

type applyFlags struct {
	only        []string
	autoApprove bool
	refresh     bool
}

func newApplyCmd(g *globals) *cobra.Command {
	var af applyFlags
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
	addRefreshFlag(cmd, &af.refresh)
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

// apply resumes unfinished operations, plans (unless given a plan) and executes.
func (w *workspace) apply(ctx context.Context, g *globals, p *fleet.Plan, af applyFlags, destroy bool) error {
	v := newView(g)
	bus := w.stream(g, v.event)
	defer bus.Close()
	runner, err := apply.New(journal{w.store}, w.deployer(), bus, nil, g.log)
	if err != nil {
		return err
	}
	failed := false
	// Resume first: a plan over a half-applied operation would redo its work.
	for _, s := range w.resolved.StackSets {
		if len(af.only) > 0 && !slices.Contains(af.only, s.Name) {
			continue // another stack set's operation is not this apply's to resume
		}
		unfinished, err := w.store.Unfinished(ctx, s.Name)
		if err != nil {
			return operationalErr(err)
		}
		if unfinished == nil {
			continue
		}
		op, err := runner.Resume(ctx, w.desired(s.Name), unfinished.ID)
		bus.Flush()
		if err != nil {
			return lockOrOperational(err)
		}
		if op.Status == fleet.OpFailed {
			failed = true
		}
		if op.Status == fleet.OpStopped {
			return &exitError{ExitOperational, errors.New("interrupted; run apply again to resume")}
		}
	}
	if p == nil {
		if p, err = w.plan(ctx, af.only, destroy, planOptions{refresh: af.refresh, preview: true}); err != nil {
			return err
		}
	}
	counts := p.Counts()
	writes := counts[fleet.Create] + counts[fleet.Update] + counts[fleet.Delete] + counts[fleet.Unmanage]
	v.plan(p)
	if writes == 0 {
		v.unchanged(p)
		if failed {
			return &exitError{ExitDeployFail, errors.New("a resumed operation failed")}
		}
		return nil
	}
	if !af.autoApprove && isTerminal(g.stdin) && !v.confirm(g.stdin) {
		return usageErr(errors.New("apply cancelled"))
	}
	var ops []fleet.Operation
	for _, sp := range p.StackSets {
		v.start(sp)
		op, err := runner.Start(ctx, w.desired(sp.Name), sp)
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
	if failed {
		return &exitError{ExitDeployFail, errors.New("deployment failed; see the failures above and 'stackfleet status'")}
	}
	if n := failedSteps(ops); n > 0 {
		return &exitError{ExitDeployFail, fmt.Errorf("%d instance(s) failed within the failure tolerance; see 'stackfleet status'", n)}
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
	return apply.Desired{Name: s.Name, TemplateBody: s.TemplateBody, Tags: s.Tags, Capabilities: s.Capabilities}
}

func lockOrOperational(err error) error {
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
