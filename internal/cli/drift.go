package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/secrets"
)

// driftDocument is drift -o json.
type driftDocument struct {
	StackSets []driftReport `json:"stackSets"`
}

// driftReport is the drift of one stack set's instances.
type driftReport struct {
	StackSet  string                    `json:"stackSet"`
	Counts    map[fleet.DriftStatus]int `json:"counts"`
	Instances []fleet.StackDrift        `json:"instances"`
}

func newDriftCmd(g *globals) *cobra.Command {
	var only []string
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Detect resource drift in every instance: what was changed outside CloudFormation",
		Long: `drift runs CloudFormation's drift detection on the stack of every recorded instance of the
configured stack sets (or of --stack-set), 16 at a time, and reports per stack set and region how
many are IN_SYNC, DRIFTED or UNKNOWN (detection failed), and for each drifted instance the
resources and properties that differ from the template: expected → actual. It changes nothing.

'stackfleet apply --revert-drift' writes the template's properties back over drifted resources
(drift-aware change sets), with the rest of the plan.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, true)
			if err != nil {
				return err
			}
			defer w.Close()
			reports, err := w.detectDrift(ctx, only)
			if err != nil {
				return err
			}
			return g.show(driftDocument{StackSets: reports}, func(out io.Writer) { renderDrift(out, reports) })
		},
	}
	cmd.Flags().StringSliceVar(&only, "stack-set", nil, "detect drift only in these stack sets (repeatable)")
	return cmd
}

// detectDrift runs drift detection on every recorded instance with a stack of the configured
// stack sets (of only, if given).
func (w *workspace) detectDrift(ctx context.Context, only []string) ([]driftReport, error) {
	for _, name := range only {
		if w.stackSet(name) == nil {
			return nil, usageErr(fmt.Errorf("--stack-set %s: no such stack set in %s", name, w.file.Path))
		}
	}
	rec, err := w.recorded(ctx)
	if err != nil {
		return nil, err
	}
	var reports []driftReport
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(16)
	d := w.deployer()
	for _, s := range w.resolved.StackSets {
		if len(only) > 0 && !slices.Contains(only, s.Name) {
			continue
		}
		reports = append(reports, driftReport{StackSet: s.Name, Counts: map[fleet.DriftStatus]int{}})
		r := &reports[len(reports)-1]
		for _, in := range rec[s.Name] {
			if in.StackID == "" {
				continue
			}
			eg.Go(func() error {
				drift, err := d.Drift(ctx, in.Target, in.Owner.StackName())
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					drift = fleet.StackDrift{Status: fleet.DriftUnknown, Reason: err.Error()}
				}
				if err := w.maskSecrets(&drift, in.Deployed.Parameters); err != nil {
					return err
				}
				drift.Target = in.Target
				mu.Lock()
				defer mu.Unlock()
				r.Instances = append(r.Instances, drift)
				r.Counts[drift.Status]++
				return nil
			})
		}
	}
	if err := eg.Wait(); err != nil {
		return nil, operationalErr(err)
	}
	for i := range reports {
		slices.SortFunc(reports[i].Instances, func(a, b fleet.StackDrift) int {
			return cmp.Or(strings.Compare(a.Target.Region, b.Target.Region), strings.Compare(a.Target.Account, b.Target.Account))
		})
	}
	return reports, nil
}

// maskSecrets replaces, in a drift report, every property value that is one of the instance's
// NoEcho parameter values (a resource property set from a secret) by "****". Sealing is
// deterministic, so a value is recognized by sealing it: the secrets are never opened.
func (w *workspace) maskSecrets(d *fleet.StackDrift, params map[string]string) error {
	sealed := map[string]bool{}
	for _, v := range params {
		if strings.HasPrefix(v, secrets.Prefix) {
			sealed[v] = true
		}
	}
	if len(sealed) == 0 {
		return nil
	}
	for i := range d.Resources {
		for j := range d.Resources[i].Differences {
			p := &d.Resources[i].Differences[j]
			for _, v := range []*string{&p.Expected, &p.Actual} {
				s, err := w.keys.sealValue(*v)
				if err != nil {
					return err
				}
				if sealed[s] {
					*v = "****"
				}
			}
		}
	}
	return nil
}

func renderDrift(out io.Writer, reports []driftReport) {
	drifted := 0
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "Stack set %s: %d instances: %d IN_SYNC, %d DRIFTED, %d UNKNOWN\n", r.StackSet, len(r.Instances),
			r.Counts[fleet.InSync], r.Counts[fleet.Drifted], r.Counts[fleet.DriftUnknown])
		for _, in := range r.Instances {
			switch in.Status {
			case fleet.Drifted:
				drifted++
				fmt.Fprintf(out, "  DRIFTED %s\n", in.Target)
				for _, res := range in.Resources {
					fmt.Fprintf(out, "    %s (%s) %s\n", res.LogicalID, res.Type, res.Status)
					for _, p := range res.Differences {
						fmt.Fprintf(out, "      %s: %s → %s\n", p.Path, quoteDrift(p.Expected), quoteDrift(p.Actual))
					}
				}
			case fleet.DriftUnknown:
				fmt.Fprintf(out, "  UNKNOWN %s: %s\n", in.Target, in.Reason)
			}
		}
	}
	if drifted > 0 {
		fmt.Fprintf(out, "\n%d drifted instance(s). Write the templates' properties back with: stackfleet apply --revert-drift\n", drifted)
	}
}

// quoteDrift shows a property value: JSON values as they are, strings quoted.
func quoteDrift(v string) string {
	if v == "" || strings.ContainsAny(v[:1], "{[0123456789-tfn") {
		return v
	}
	return fmt.Sprintf("%q", v)
}

// revertDrift marks the plan's instances whose resources drifted for a drift-aware deploy: an
// unchanged one becomes an update that only writes the templates' properties back.
func revertDrift(p *fleet.Plan, reports []driftReport) {
	drifted := map[string]map[fleet.Target][]string{}
	for _, r := range reports {
		for _, in := range r.Instances {
			if in.Status != fleet.Drifted {
				continue
			}
			if drifted[r.StackSet] == nil {
				drifted[r.StackSet] = map[fleet.Target][]string{}
			}
			for _, res := range in.Resources {
				drifted[r.StackSet][in.Target] = append(drifted[r.StackSet][in.Target], res.LogicalID)
			}
		}
	}
	for i := range p.StackSets {
		sp := &p.StackSets[i]
		for j := range sp.Actions {
			a := &sp.Actions[j]
			res, ok := drifted[sp.Name][a.Target]
			if !ok || (a.Kind != fleet.NoChange && a.Kind != fleet.Update) {
				continue
			}
			why := "revert drift of " + strings.Join(res, ", ")
			if a.Kind == fleet.NoChange {
				a.Kind, a.Reason = fleet.Update, why
			} else {
				a.Reason += "; " + why
			}
			a.RevertDrift = true
		}
	}
}
