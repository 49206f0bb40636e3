package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/plan"
)

type planFlags struct {
	out           string
	only          []string
	showUnchanged bool
	refresh       bool
	noPreview     bool
	noRefresh     bool // deprecated: --refresh=false --no-preview
}

// planOptions say what a plan reads besides the record: the live stacks (refresh) and change
// sets for updates (preview).
type planOptions struct {
	refresh, preview bool
}

// addRefreshFlag adds --refresh to a command that plans.
func addRefreshFlag(cmd *cobra.Command, refresh *bool) {
	cmd.Flags().BoolVar(refresh, "refresh", true, "read every targeted stack from CloudFormation first (one paged DescribeStacks per account and region), so that stacks changed or deleted outside stackfleet are planned back")
}

func addFleetCommands(root *cobra.Command, g *globals) {
	root.AddCommand(newPlanCmd(g), newApplyCmd(g), newStatusCmd(g), newOutputsCmd(g), newDestroyCmd(g), newCancelCmd(g), newWorkerCmd(g), newDriftCmd(g), newBootstrapCmd(g), newReconcileCmd(g),
		newSandboxCmd(g), newDemoCmd(g), newUICmd(g))
	addPipelineCommands(root, g)
}

func newPlanCmd(g *globals) *cobra.Command {
	var pf planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would do to every stack instance",
		Long: `plan resolves each stack set's targets from the organization, compares them with the
recorded state and, for instances that changed, with live CloudFormation (a change set that is
created, read and deleted), and prints per instance: create, update (resources added, modified,
replaced, removed; parameter changes with NoEcho values masked), delete, or no change — grouped
by region with totals. --out saves the plan for 'stackfleet apply plan.json'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, true)
			if err != nil {
				return err
			}
			defer w.Close()
			opts := planOptions{refresh: pf.refresh && !pf.noRefresh, preview: !pf.noPreview && !pf.noRefresh}
			p, err := w.plan(ctx, pf.only, false, opts)
			if err != nil {
				return err
			}
			if err := w.interruptions(ctx, p); err != nil {
				return err
			}
			if pf.out != "" {
				if err := writePlan(pf.out, p); err != nil {
					return operationalErr(err)
				}
			}
			return g.show(p, func(out io.Writer) {
				var st planStyle
				if g.live() {
					st = newTTYStyles(g.stdout).plan(w.accountNames())
				}
				renderPlan(out, p, pf.showUnchanged, st)
				if pf.out != "" {
					fmt.Fprintf(out, "\nSaved the plan to %s. Apply exactly this plan with:\n  stackfleet apply %s\n", pf.out, pf.out)
				}
			})
		},
	}
	cmd.Flags().StringVar(&pf.out, "out", "", "save the plan to this file")
	cmd.Flags().StringSliceVar(&pf.only, "stack-set", nil, "plan only these stack sets (repeatable)")
	cmd.Flags().BoolVar(&pf.showUnchanged, "show-unchanged", false, "list unchanged instances too")
	addRefreshFlag(cmd, &pf.refresh)
	cmd.Flags().BoolVar(&pf.noPreview, "no-preview", false, "do not preview updates with change sets (faster; no resource detail)")
	cmd.Flags().BoolVar(&pf.noRefresh, "no-refresh", false, "")
	_ = cmd.Flags().MarkDeprecated("no-refresh", "use --refresh=false --no-preview")
	return cmd
}

// plan computes the plan from the workspace: from the record, refreshed with the live stacks
// and its updates previewed with change sets as opts say.
func (w *workspace) plan(ctx context.Context, only []string, destroy bool, opts planOptions) (*fleet.Plan, error) {
	for _, name := range only {
		if w.stackSet(name) == nil {
			return nil, usageErr(fmt.Errorf("--stack-set %s: no such stack set in %s", name, w.file.Path))
		}
	}
	rec, err := w.recorded(ctx)
	if err != nil {
		return nil, err
	}
	var live *plan.Live
	if opts.refresh && !destroy {
		if live, err = w.live(ctx, rec, only); err != nil {
			return nil, err
		}
	}
	p, err := plan.Build(plan.Input{
		StackSets: w.resolved.StackSets, Templates: w.resolved.Templates, Inventory: w.inventory, Recorded: rec,
		ConfigHash: w.configHash(), InventoryHash: w.inventoryHash(), Now: time.Now(), Destroy: destroy, Only: only,
		Live: live, Seal: w.keys.sealValue,
	})
	if err != nil {
		return nil, usageErr(err)
	}
	if opts.preview {
		if err := w.preview(ctx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// live reads the stacks of every account and region a configured stack set (of only, if given)
// targets or has recorded instances in: one paged DescribeStacks each, 32 at a time. An
// account-region that cannot be read is reported in the plan, not a failure of it — except a
// region that is not enabled in a target account, or is no AWS region at all: that is a
// configuration error, found before anything deploys.
func (w *workspace) live(ctx context.Context, rec map[string][]fleet.Instance, only []string) (*plan.Live, error) {
	where := map[fleet.Target]bool{}
	targeted := map[fleet.Target][]string{} // account-region → stack sets targeting it
	for _, s := range w.resolved.StackSets {
		if len(only) > 0 && !slices.Contains(only, s.Name) {
			continue
		}
		for _, in := range rec[s.Name] {
			where[fleet.Target{Account: in.Target.Account, Region: in.Target.Region}] = true
		}
		targets, accts, err := s.Targets(w.inventory)
		if err != nil {
			return nil, usageErr(err)
		}
		for _, t := range targets {
			if !accts[t.Account].Suspended() {
				where[t] = true
				targeted[t] = append(targeted[t], s.Name)
			}
		}
	}
	live := &plan.Live{Stacks: map[fleet.Target]map[string]fleet.LiveStack{}, Errors: map[fleet.Target]string{}}
	unavailable := map[fleet.Target]bool{}
	readable := map[string]bool{} // accounts read in some region
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(32)
	d := w.deployer()
	for t := range where {
		eg.Go(func() error {
			stacks, err := d.Live(ctx, t)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				live.Stacks[t] = stacks
				readable[t.Account] = true
			case regionUnavailable(err):
				unavailable[t] = true
				live.Errors[t] = err.Error()
			default:
				live.Errors[t] = err.Error()
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, operationalErr(err)
	}
	if errs := w.unavailableRegions(unavailable, readable, targeted); len(errs) > 0 {
		return nil, usageErr(errs)
	}
	return live, nil
}

// regionUnavailable reports whether a read failed because the region cannot be used: AWS
// answers calls to a region not enabled for the account as if the credentials were unknown,
// and the endpoint of a region that does not exist has no address.
func regionUnavailable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidClientTokenId" || ae.ErrorCode() == "UnrecognizedClientException") {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

// unavailableRegions turns the account-regions that could not be used — in accounts that could
// be read elsewhere, so the credentials are good — into configuration errors at each stack
// set's regions.
func (w *workspace) unavailableRegions(unavailable map[fleet.Target]bool, readable map[string]bool, targeted map[fleet.Target][]string) config.Errors {
	bySet := map[string]map[string][]string{} // stack set → region → accounts
	for t := range unavailable {
		if !readable[t.Account] {
			continue
		}
		for _, name := range targeted[t] {
			if bySet[name] == nil {
				bySet[name] = map[string][]string{}
			}
			bySet[name][t.Region] = append(bySet[name][t.Region], t.Account)
		}
	}
	var errs config.Errors
	for i, sc := range w.file.StackSets {
		field := "regions"
		if len(sc.Targets.Regions) > 0 {
			field = fmt.Sprintf("stackSets[%d].targets.regions", i)
		}
		for _, region := range slices.Sorted(maps.Keys(bySet[sc.Name])) {
			accts := bySet[sc.Name][region]
			slices.Sort(accts)
			errs = append(errs, w.file.ErrorAt(field, "stack set %s: region %s is not enabled in %d target account(s) (e.g. %s), or is not an AWS region: enable it in those accounts, or remove it",
				sc.Name, region, len(accts), accts[0]))
		}
	}
	return errs
}

// preview fills the resource changes of updates from live change sets. A preview that fails
// (e.g. the role cannot be assumed) is shown as the action's reason, not a plan failure: apply
// would report the same instance as failed.
func (w *workspace) preview(ctx context.Context, p *fleet.Plan) error {
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(32)
	for si := range p.StackSets {
		sp := &p.StackSets[si]
		s := w.stackSet(sp.Name)
		if s == nil {
			continue
		}
		for ai := range sp.Actions {
			a := &sp.Actions[ai]
			if a.Kind != fleet.Update {
				continue
			}
			eg.Go(func() error {
				changes, err := w.deployer().Preview(ctx, a.Target, s, a.Parameters)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					a.Reason += "; preview failed: " + err.Error()
					return nil
				}
				a.Changes = changes
				if len(changes) == 0 && len(a.ParamChanges) == 0 && !strings.Contains(a.Reason, "template changed") {
					a.Reason += "; CloudFormation reports no resource changes"
				}
				return nil
			})
		}
	}
	if err := eg.Wait(); err != nil {
		return operationalErr(err)
	}
	return nil
}

func writePlan(path string, p *fleet.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return os.Rename(tmp, path)
}

func readPlan(path string) (*fleet.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p fleet.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s is not a stackfleet plan: %w", path, err)
	}
	if p.ConfigHash == "" {
		return nil, fmt.Errorf("%s is not a stackfleet plan (no configHash)", path)
	}
	return &p, nil
}

var actionSymbol = map[fleet.ActionKind]string{
	fleet.Create: "+", fleet.Update: "~", fleet.Delete: "-", fleet.Unmanage: "!", fleet.NoChange: "=",
}

// planStyle is how a terminal shows a plan: lines coloured by action (+ green, ~ yellow,
// - red) and account names beside ids. The zero style is the plain text.
type planStyle struct {
	paint func(k fleet.ActionKind, s string) string
	names map[string]string
}

func (st planStyle) color(k fleet.ActionKind, s string) string {
	if st.paint == nil {
		return s
	}
	return st.paint(k, s)
}

// accountLines lists accounts six ids to a line, or three with their names.
func (st planStyle) accountLines(accounts []string) []string {
	per := 6
	if st.names != nil {
		per = 3
	}
	var lines []string
	for i := 0; i < len(accounts); i += per {
		group := slices.Clone(accounts[i:min(i+per, len(accounts))])
		for j, a := range group {
			if n := st.names[a]; n != "" {
				group[j] = fmt.Sprintf("%s (%s)", a, n)
			}
		}
		lines = append(lines, strings.Join(group, " "))
	}
	return lines
}

// changeKinds colours a resource change like the action it stands for.
var changeKinds = map[string]fleet.ActionKind{"Add": fleet.Create, "Modify": fleet.Update, "Remove": fleet.Delete}

// renderPlan prints the plan by stack set and region. Within a region, instances with the same
// action, reason and changes are one group listing their accounts, so a plan over a thousand
// accounts stays readable; unchanged instances are counted unless showUnchanged.
func renderPlan(out io.Writer, p *fleet.Plan, showUnchanged bool, st planStyle) {
	for _, sp := range p.StackSets {
		fmt.Fprintf(out, "Stack set %s", sp.Name)
		if sp.TemplateHash != "" {
			fmt.Fprintf(out, " (template %s)", sp.TemplateHash[:8])
		}
		fmt.Fprintln(out)
		if in := sp.Interrupted; in != nil && in.Resume {
			fmt.Fprintf(out, "  resumes interrupted operation %s: %d instances left\n", in.Operation, in.Left)
		} else if in != nil {
			fmt.Fprintf(out, "  supersedes interrupted operation %s (%d instances left, none of them will be deployed by it): %s\n", in.Operation, in.Left, in.Reason)
		}
		for _, a := range sp.Actions {
			if a.Kind == fleet.Create && len(a.Changes) > 0 {
				parts := make([]string, len(a.Changes))
				for i, c := range a.Changes {
					parts[i] = fmt.Sprintf("%s (%s)", c.LogicalID, c.Type)
				}
				fmt.Fprintf(out, "  each create adds %s\n", strings.Join(parts, ", "))
				break
			}
		}
		type group struct {
			key      string
			action   fleet.Action
			accounts []string
		}
		var region string
		var groups []*group
		flush := func() {
			for _, g := range groups {
				a := g.action
				if a.Kind == fleet.NoChange && a.Reason == "" && !showUnchanged {
					fmt.Fprintln(out, st.color(fleet.NoChange, fmt.Sprintf("    = %d unchanged", len(g.accounts))))
					continue
				}
				line := fmt.Sprintf("    %s %-9s %d: ", actionSymbol[a.Kind], a.Kind, len(g.accounts))
				if a.Reason != "" {
					line += a.Reason
				}
				fmt.Fprintln(out, st.color(a.Kind, strings.TrimRight(line, ": ")))
				for _, l := range st.accountLines(g.accounts) {
					fmt.Fprintf(out, "        %s\n", l)
				}
				for _, c := range a.ParamChanges {
					fmt.Fprintf(out, "        parameter %s: %q → %q\n", c.Name, c.Old, c.New)
				}
				if a.Kind == fleet.Create {
					continue
				}
				for _, c := range a.Changes {
					line := fmt.Sprintf("        %s %s (%s)", c.Action, c.LogicalID, c.Type)
					if c.Replacement == "True" || c.Replacement == "Conditional" {
						line += " replacement: " + c.Replacement
					}
					if k, ok := changeKinds[string(c.Action)]; ok {
						line = st.color(k, line)
					}
					fmt.Fprintln(out, line)
				}
			}
			groups = nil
		}
		for _, a := range sp.Actions {
			if a.Target.Region != region {
				flush()
				region = a.Target.Region
				fmt.Fprintf(out, "  %s\n", region)
			}
			key := fmt.Sprint(a.Kind, a.Reason, a.ParamChanges, a.Changes)
			if showUnchanged && a.Kind == fleet.NoChange {
				key += a.Target.Account
			}
			var g *group
			for _, x := range groups {
				if x.key == key {
					g = x
				}
			}
			if g == nil {
				g = &group{key: key, action: a}
				groups = append(groups, g)
			}
			g.accounts = append(g.accounts, a.Target.Account)
		}
		flush()
	}
	c := p.Counts()
	fmt.Fprintf(out, "\nPlan: %d to create, %d to update, %d to delete, %d to retain (unmanage), %d unchanged.\n",
		c[fleet.Create], c[fleet.Update], c[fleet.Delete], c[fleet.Unmanage], c[fleet.NoChange])
}
