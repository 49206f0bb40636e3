package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

func newReconcileCmd(g *globals) *cobra.Command {
	var watch bool
	var interval, readiness time.Duration
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Follow the organization: deploy to accounts that joined the targets, remove stacks of those that left",
		Long: `reconcile reads the organization and, for every stack set with autoDeploy: true, deploys to the
accounts that joined its targets and deletes (or, with onRemoval: retain, unmanages) the stacks of
accounts that left — with the stack set's rollout preferences, region order and tolerance, and
the same plan, ownership and locks as apply. Changes of templates or parameters are apply's.

A new account whose execution role cannot be assumed yet (it is being created, or not bootstrapped)
is WAITING, not failed, until --readiness-timeout has passed since reconcile first saw it;
suspended accounts are skipped. Run it once (from cron or CI), or with --watch every --interval
until interrupted (Ctrl-C stops it after the current round; an interrupted deploy resumes on the
next run). A failed round is retried after a backoff.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r := &reconciler{g: g, readiness: readiness, firstSeen: map[string]time.Time{}}
			backoff := interval
			for round := 1; ; round++ {
				err := r.round(ctx)
				if !watch || ctx.Err() != nil {
					return err
				}
				wait := interval
				if err != nil {
					fmt.Fprintf(g.stderr, "reconcile: round %d failed: %v\n", round, err)
					backoff = min(backoff*2, 8*interval)
					wait = backoff
				} else {
					backoff = interval
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "keep reconciling every --interval until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Minute, "time between rounds with --watch")
	cmd.Flags().DurationVar(&readiness, "readiness-timeout", 30*time.Minute, "how long a new account's execution role may stay unassumable before its deploy is tried (and fails)")
	return cmd
}

// reconciler runs reconcile rounds; firstSeen remembers, across rounds, when an account's
// execution role was first found unassumable.
type reconciler struct {
	g         *globals
	readiness time.Duration
	firstSeen map[string]time.Time
}

// round reads the organization afresh, plans the membership changes of the autoDeploy stack
// sets and applies them.
func (r *reconciler) round(ctx context.Context) error {
	g := r.g
	w, err := openWorkspace(ctx, g, true, true)
	if err != nil {
		return err
	}
	defer w.Close()
	var names []string
	for _, s := range w.resolved.StackSets {
		if s.AutoDeploy {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return usageErr(errors.New("no stack set has autoDeploy: true: reconcile follows only those (set it in " + w.file.Path + ")"))
	}
	p, err := w.plan(ctx, names, false, planOptions{refresh: true})
	if err != nil {
		return err
	}
	creates, removes, waiting := 0, 0, 0
	var waits []reconcileWait
	ready := map[string]error{}
	for i := range p.StackSets {
		sp := &p.StackSets[i]
		for j := range sp.Actions {
			a := &sp.Actions[j]
			switch {
			case a.Kind == fleet.Create && a.Reason == "new target":
				err, seen := ready[a.Target.Account]
				if !seen {
					err = w.assumable(ctx, a.Target)
					ready[a.Target.Account] = err
				}
				if err != nil {
					first, ok := r.firstSeen[a.Target.Account]
					if !ok {
						first = time.Now()
						r.firstSeen[a.Target.Account] = first
					}
					if time.Since(first) < r.readiness {
						a.Kind, a.Reason = fleet.NoChange, fmt.Sprintf("WAITING: the execution role cannot be assumed yet (%s since %s)", shortErr(err), first.Format(time.TimeOnly))
						waits = append(waits, reconcileWait{StackSet: sp.Name, Target: a.Target, Reason: a.Reason})
						waiting++
						continue
					}
				}
				delete(r.firstSeen, a.Target.Account)
				creates++
			case (a.Kind == fleet.Delete || a.Kind == fleet.Unmanage) && strings.HasPrefix(a.Reason, "target removed"):
				removes++
			case a.Kind != fleet.NoChange:
				// Not a membership change: apply's to make.
				a.Kind, a.Reason = fleet.NoChange, "changed ("+a.Reason+"): run apply"
			}
		}
	}
	if g.json() {
		newJSONView(g.stdout).write("reconcile", reconcileRecord{Time: time.Now().UTC(), Deploy: creates, Remove: removes, Waiting: waits})
	} else {
		fmt.Fprintf(g.stdout, "reconcile %s: %d to deploy, %d to remove, %d waiting\n", time.Now().Format(time.TimeOnly), creates, removes, waiting)
		for _, wt := range waits {
			fmt.Fprintf(g.stdout, "  %s %s: %s\n", wt.StackSet, wt.Target, wt.Reason)
		}
	}
	if creates+removes == 0 {
		return nil
	}
	return w.apply(ctx, g, p, applyFlags{autoApprove: true}, false)
}

// reconcileRecord is reconcile's {"type":"reconcile"} record: what one pass found.
type reconcileRecord struct {
	Time    time.Time       `json:"time"`
	Deploy  int             `json:"deploy"`
	Remove  int             `json:"remove"`
	Waiting []reconcileWait `json:"waiting,omitempty"`
}

// reconcileWait is a new account whose execution role cannot be assumed yet.
type reconcileWait struct {
	StackSet string       `json:"stackSet"`
	Target   fleet.Target `json:"target"`
	Reason   string       `json:"reason"`
}

// assumable reports whether the execution role can be assumed in the target's account.
func (w *workspace) assumable(ctx context.Context, t fleet.Target) error {
	cfg, err := w.clients.ForTarget(ctx, t.Account, t.Region)
	if err != nil {
		return err
	}
	_, err = cfg.Credentials.Retrieve(ctx)
	return err
}

// shortErr is the last clause of a wrapped error, for one-line statuses.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}
