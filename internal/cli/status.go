package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

func newStatusCmd(g *globals) *cobra.Command {
	var only []string
	var noDrift, all, refresh, check bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show stack sets and instances: CURRENT / OUTDATED / INOPERABLE, last operation, drift from the config",
		Long: `status reads the recorded state: per stack set its instances with status (CURRENT,
OUTDATED, INOPERABLE), detailed status and reason, and its last operation. Unless --no-drift, it
also reads the organization and the live stacks (one paged DescribeStacks per account and
region; --refresh=false skips it) and reports what 'plan' would do: drift from the
configuration, and stacks changed or deleted outside stackfleet, with why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.output == "csv" {
				return usageErr(fmt.Errorf("--output csv is only for 'outputs'"))
			}
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, !noDrift, !noDrift)
			if err != nil {
				return err
			}
			defer w.Close()
			if check {
				if err := w.store.Check(ctx); err != nil {
					return operationalErr(err)
				}
				fmt.Fprintf(g.stderr, "state database %s: ok (integrity and references checked)\n", filepath.Join(w.file.Dir, ".stackfleet", "state.db"))
			}
			return w.status(ctx, g, only, !noDrift, all, refresh)
		},
	}
	cmd.Flags().StringSliceVar(&only, "stack-set", nil, "only these stack sets")
	cmd.Flags().BoolVar(&noDrift, "no-drift", false, "do not read the organization to compare with the config")
	cmd.Flags().BoolVar(&all, "all", false, "list CURRENT instances too (default: only the others)")
	addRefreshFlag(cmd, &refresh)
	cmd.Flags().BoolVar(&check, "check", false, "check the whole state database first (SQLite integrity and references; every open runs a quicker check)")
	return cmd
}

// statusDocument is status -o json.
type statusDocument struct {
	StackSets []stackSetStatus `json:"stackSets"`
}

type stackSetStatus struct {
	Name          string           `json:"name"`
	Counts        map[string]int   `json:"counts"`
	LastOperation *fleet.Operation `json:"lastOperation,omitempty"`
	Instances     []fleet.Instance `json:"instances"`
	Drift         map[string]int   `json:"drift,omitempty"` // what plan would do, by action
	// Changes are the instances plan would change, with why.
	Changes []plannedChange `json:"changes,omitempty"`
}

// plannedChange is what plan would do to one instance.
type plannedChange struct {
	Target fleet.Target     `json:"target"`
	Action fleet.ActionKind `json:"action"`
	Reason string           `json:"reason,omitempty"`
}

func (w *workspace) status(ctx context.Context, g *globals, only []string, drift, all, refresh bool) error {
	rec, err := w.recorded(ctx)
	if err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(rec))
	if w.resolved != nil {
		for _, s := range w.resolved.StackSets {
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	} else {
		for _, s := range w.file.StackSets {
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	}
	var p *fleet.Plan
	if drift {
		if p, err = w.plan(ctx, nil, false, planOptions{refresh: refresh}); err != nil {
			return err
		}
	}
	var out []stackSetStatus
	for _, name := range names {
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		st := stackSetStatus{Name: name, Counts: map[string]int{}, Instances: rec[name]}
		for _, in := range rec[name] {
			st.Counts[string(in.Status)]++
		}
		ops, err := w.store.Operations(ctx, name, 1)
		if err != nil {
			return operationalErr(err)
		}
		if len(ops) > 0 {
			st.LastOperation = &ops[0]
			st.LastOperation.Plan.Actions = nil
		}
		if p != nil {
			st.Drift = map[string]int{}
			for _, sp := range p.StackSets {
				if sp.Name == name {
					for _, a := range sp.Actions {
						if a.Kind != fleet.NoChange {
							st.Drift[string(a.Kind)]++
							st.Changes = append(st.Changes, plannedChange{a.Target, a.Kind, a.Reason})
						}
					}
				}
			}
		}
		out = append(out, st)
	}
	return g.show(statusDocument{StackSets: out}, func(o io.Writer) { renderStatus(o, out, all) })
}

// renderStatus prints each stack set's counts, last operation and drift, and the instances that
// are not CURRENT (all of them with all).
func renderStatus(out io.Writer, sets []stackSetStatus, all bool) {
	for i, st := range sets {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "Stack set %s: %d instances (%d CURRENT, %d OUTDATED, %d INOPERABLE)\n", st.Name, len(st.Instances),
			st.Counts[string(fleet.Current)], st.Counts[string(fleet.Outdated)], st.Counts[string(fleet.Inoperable)])
		if op := st.LastOperation; op != nil {
			line := fmt.Sprintf("  last operation %s %s, started %s", op.ID, op.Status, op.StartedAt.Format("2006-01-02 15:04:05Z"))
			if op.Reason != "" {
				line += ": " + op.Reason
			}
			fmt.Fprintln(out, line)
		}
		if st.Drift != nil {
			if len(st.Drift) == 0 {
				fmt.Fprintln(out, "  in sync with the configuration")
			} else {
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(st.Drift)) {
					parts = append(parts, fmt.Sprintf("%d to %s", st.Drift[k], k))
				}
				fmt.Fprintf(out, "  drift from the configuration: %s (run plan for detail)\n", strings.Join(parts, ", "))
			}
		}
		var rows [][]string
		for _, in := range st.Instances {
			if in.Status == fleet.Current && !all {
				continue
			}
			rows = append(rows, []string{in.Target.Account, in.Target.Region, string(in.Status), string(in.Detail), in.Reason})
		}
		if len(rows) > 0 {
			table(out, []string{"  ACCOUNT", "REGION", "STATUS", "DETAIL", "REASON"}, indent(rows))
		}
		rows = nil
		for _, c := range st.Changes {
			rows = append(rows, []string{c.Target.Account, c.Target.Region, string(c.Action), c.Reason})
		}
		if len(rows) > 0 {
			fmt.Fprintln(out, "  plan would:")
			table(out, []string{"  ACCOUNT", "REGION", "ACTION", "REASON"}, indent(rows))
		}
	}
}

func indent(rows [][]string) [][]string {
	for _, r := range rows {
		r[0] = "  " + r[0]
	}
	return rows
}

func newOutputsCmd(g *globals) *cobra.Command {
	var ous, accounts, regions, keys []string
	var export, exportTo string
	cmd := &cobra.Command{
		Use:   "outputs STACK_SET | PIPELINE/STACK",
		Short: "Every instance's outputs by account → region → key (table, JSON or CSV)",
		Long: `outputs prints the recorded outputs of every instance of a stack set, or of one stack of a
release pipeline (PIPELINE/STACK, e.g. web/web-app).

  --output text   a table: ACCOUNT REGION KEY VALUE
  --output json   {"stackSet": NAME, "outputs": {ACCOUNT: {REGION: {KEY: VALUE}}}}
  --output csv    account,region,key,value with a header row

Filters combine (AND); each may be repeated. --ou needs the organization (one read).

--export ssm:/prefix writes them as SSM parameters /prefix/ACCOUNT/REGION/KEY in the management
account and home region (or --export-to ACCOUNT[/REGION]), writing only what changed and deleting
parameters under the prefix whose output is gone; --export FILE.json writes the JSON document.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, len(ous) > 0 || strings.HasPrefix(export, "ssm:"), false)
			if err != nil {
				return err
			}
			defer w.Close()
			owner := fleet.StackSetOwner(args[0])
			if p, stack, ok := strings.Cut(args[0], "/"); ok {
				owner = fleet.PipelineOwner(p, stack)
			}
			insts, err := w.store.Instances(ctx, owner)
			if err != nil {
				return operationalErr(err)
			}
			if len(insts) == 0 {
				return usageErr(fmt.Errorf("%s has no recorded instances (names in the state: see 'stackfleet status')", owner))
			}
			var ouIDs []string
			for _, ref := range ous {
				id, ok := w.inventory.FindOU(ref)
				if !ok {
					return usageErr(fmt.Errorf("--ou %q is not in the organization", ref))
				}
				ouIDs = append(ouIDs, id)
			}
			byAcct := map[string]map[string]map[string]string{}
			var rows [][]string
			for _, in := range insts {
				if !match(accounts, in.Target.Account) || !match(regions, in.Target.Region) {
					continue
				}
				if len(ouIDs) > 0 {
					acct, _ := w.inventory.Account(in.Target.Account)
					anc := w.inventory.Ancestors(acct)
					if !slices.ContainsFunc(ouIDs, func(id string) bool { return slices.Contains(anc, id) }) {
						continue
					}
				}
				for _, k := range slices.Sorted(maps.Keys(in.Outputs)) {
					if !match(keys, k) {
						continue
					}
					if byAcct[in.Target.Account] == nil {
						byAcct[in.Target.Account] = map[string]map[string]string{}
					}
					if byAcct[in.Target.Account][in.Target.Region] == nil {
						byAcct[in.Target.Account][in.Target.Region] = map[string]string{}
					}
					byAcct[in.Target.Account][in.Target.Region][k] = in.Outputs[k]
					rows = append(rows, []string{in.Target.Account, in.Target.Region, k, in.Outputs[k]})
				}
			}
			if export != "" {
				prune := len(ous)+len(accounts)+len(regions)+len(keys) == 0
				res, err := w.exportOutputs(ctx, args[0], export, exportTo, prune, byAcct)
				if err != nil {
					return err
				}
				return g.show(res, func(out io.Writer) {
					fmt.Fprintf(out, "Exported %s to %s: %d written, %d unchanged, %d deleted\n", args[0], export, res.Written, res.Unchanged, res.Deleted)
				})
			}
			switch g.output {
			case "json":
				return g.show(outputsDocument{StackSet: args[0], Outputs: byAcct}, nil)
			case "csv":
				cw := csv.NewWriter(g.stdout)
				_ = cw.Write([]string{"account", "region", "key", "value"})
				_ = cw.WriteAll(rows)
				return cw.Error()
			default:
				table(g.stdout, []string{"ACCOUNT", "REGION", "KEY", "VALUE"}, rows)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ous, "ou", nil, "only accounts under this OU (id or name path)")
	cmd.Flags().StringSliceVar(&accounts, "account", nil, "only this account")
	cmd.Flags().StringSliceVar(&regions, "in-region", nil, "only this region")
	cmd.Flags().StringSliceVar(&keys, "key", nil, "only this output key")
	cmd.Flags().StringVar(&export, "export", "", "write the outputs to ssm:/prefix or to FILE.json instead of printing them")
	cmd.Flags().StringVar(&exportTo, "export-to", "", "ACCOUNT[/REGION] that holds the SSM parameters (default: the management account, home region)")
	return cmd
}

func match(filter []string, v string) bool { return len(filter) == 0 || slices.Contains(filter, v) }
