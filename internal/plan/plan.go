// Package plan computes what an apply would do: a pure function of the desired stack sets, the
// organization's inventory and the recorded instances. It makes no AWS call; callers enrich
// updates with live change-set detail afterwards.
package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/templates"
)

// Input is everything a plan depends on.
type Input struct {
	StackSets []*fleet.StackSet
	Templates map[string]*templates.Info // by stack set name
	Inventory *fleet.Inventory
	// Recorded holds the recorded instances by stack set, including stack sets no longer in the
	// configuration (their instances are deleted).
	Recorded      map[string][]fleet.Instance
	ConfigHash    string
	InventoryHash string
	Now           time.Time
	// Destroy plans the removal of every recorded instance (stackfleet destroy); Only, if set,
	// limits the plan to these stack sets.
	Destroy bool
	Only    []string
	// Live is what a refresh read of the stacks; nil plans from the record alone.
	Live *Live
	// Seal, if set, seals a NoEcho parameter's value that a reference resolved (values written in
	// the configuration are sealed before planning).
	Seal func(string) (string, error)
}

// Live is the stacks a refresh read in each account-region, by stack name, and the
// account-regions it could not read (keyed by Target with Account and Region).
type Live struct {
	Stacks map[fleet.Target]map[string]fleet.LiveStack
	Errors map[fleet.Target]string
}

// Build computes the plan. It fails only when a stack set's targets cannot be resolved, which
// config.Resolve has already ruled out for configurations that loaded.
func Build(in Input) (*fleet.Plan, error) {
	p := &fleet.Plan{CreatedAt: in.Now.UTC(), ConfigHash: in.ConfigHash, InventoryHash: in.InventoryHash}
	desired := map[string]bool{}
	changing := map[string]map[fleet.Target]bool{} // stack sets planned so far → targets they change
	idx := in.refIndex()
	for _, s := range in.StackSets {
		desired[s.Name] = true
		if !in.selected(s.Name) {
			continue
		}
		sp, err := stackSetPlan(in, s, idx, changing)
		if err != nil {
			return nil, fmt.Errorf("stack set %s: %w", s.Name, err)
		}
		for _, a := range sp.Actions {
			if a.Kind == fleet.Create || a.Kind == fleet.Update {
				if changing[s.Name] == nil {
					changing[s.Name] = map[fleet.Target]bool{}
				}
				changing[s.Name][a.Target] = true
			}
		}
		p.StackSets = append(p.StackSets, sp)
	}
	for _, name := range slices.Sorted(maps.Keys(in.Recorded)) {
		if desired[name] || !in.selected(name) {
			continue
		}
		sp := fleet.StackSetPlan{Name: name}
		for _, inst := range in.Recorded[name] {
			sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Delete, Target: inst.Target, Reason: "stack set removed from the configuration"})
		}
		fleet.SortActions(sp.Actions, nil)
		p.StackSets = append(p.StackSets, sp)
	}
	return p, nil
}

func (in Input) selected(name string) bool {
	return len(in.Only) == 0 || slices.Contains(in.Only, name)
}

func stackSetPlan(in Input, s *fleet.StackSet, idx refIndex, changing map[string]map[fleet.Target]bool) (fleet.StackSetPlan, error) {
	sp := fleet.StackSetPlan{Name: s.Name, TemplateHash: fleet.Hash(string(s.TemplateBody)), Preferences: s.Preferences}
	recorded := map[fleet.Target]fleet.Instance{}
	for _, inst := range in.Recorded[s.Name] {
		recorded[inst.Target] = inst
	}
	info := in.Templates[s.Name]
	if in.Destroy {
		for _, inst := range in.Recorded[s.Name] {
			sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Delete, Target: inst.Target, Reason: "destroy"})
		}
		fleet.SortActions(sp.Actions, s.Preferences.RegionOrder)
		return sp, nil
	}
	targets, accts, err := s.Targets(in.Inventory)
	if err != nil {
		return sp, err
	}
	targeted := map[fleet.Target]bool{}
	for _, t := range targets {
		targeted[t] = true
		acct := accts[t.Account]
		params := s.ParametersFor(in.Inventory, acct, t.Region)
		raw := maps.Clone(params)
		if !acct.Suspended() {
			waits, err := in.resolveRefs(idx, changing, s, t, params)
			if err != nil {
				return sp, err
			}
			if err := in.sealResolved(info, raw, params); err != nil {
				return sp, err
			}
			for _, w := range waits {
				if !slices.Contains(sp.WaitsFor, w) {
					sp.WaitsFor = append(sp.WaitsFor, w)
				}
			}
		}
		a := fleet.Action{Target: t, TemplateHash: sp.TemplateHash, ParamsHash: fleet.HashParameters(params), Parameters: params}
		rec, known := recorded[t]
		switch {
		case acct.Suspended():
			a.Kind, a.Reason = fleet.NoChange, "account suspended (SKIPPED_SUSPENDED_ACCOUNT)"
		case !known:
			a.Kind, a.Reason = fleet.Create, "new target"
			a.Changes = creates(info)
		case rec.Status == fleet.Inoperable:
			a.Kind, a.Reason = fleet.NoChange, "INOPERABLE: a delete failed; excluded until the stack is cleaned up"
		default:
			a.Kind, a.Reason, a.ParamChanges = compare(rec, a, info)
			a.Reason = inputReasons(a.Reason, a.ParamChanges, raw)
			in.Live.refresh(&a, rec, fleet.StackSetOwner(s.Name).StackName(), info)
		}
		sp.Actions = append(sp.Actions, a)
	}
	for _, inst := range in.Recorded[s.Name] {
		if targeted[inst.Target] {
			continue
		}
		if s.Retain {
			sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Unmanage, Target: inst.Target, Reason: "target removed; onRemoval: retain keeps the stack"})
		} else {
			sp.Actions = append(sp.Actions, fleet.Action{Kind: fleet.Delete, Target: inst.Target, Reason: "target removed"})
		}
	}
	fleet.SortActions(sp.Actions, s.Preferences.RegionOrder)
	return sp, nil
}

// compare decides between update and no change for a recorded instance.
func compare(rec fleet.Instance, a fleet.Action, info *templates.Info) (fleet.ActionKind, string, []fleet.ParamChange) {
	var reasons []string
	if rec.Deployed.TemplateHash != a.TemplateHash {
		reasons = append(reasons, "template changed")
	}
	var changes []fleet.ParamChange
	if rec.Deployed.ParamsHash != a.ParamsHash {
		changes = paramChanges(rec.Deployed.Parameters, a.Parameters, info)
		names := make([]string, len(changes))
		for i, c := range changes {
			names[i] = c.Name
		}
		switch {
		case len(names) > 0:
			reasons = append(reasons, "parameters changed: "+strings.Join(names, ", "))
		case rec.Deployed.ParamsHash != "":
			// Values recorded redacted (secrets) hide which one changed; the hash does not.
			reasons = append(reasons, "parameters changed")
		}
		// No parameters were ever deployed (a failed first create): its status says why.
	}
	if rec.Status != fleet.Current {
		reasons = append(reasons, fmt.Sprintf("instance is %s (%s)", rec.Status, rec.Detail))
	}
	if len(reasons) == 0 {
		return fleet.NoChange, "", nil
	}
	return fleet.Update, strings.Join(reasons, "; "), changes
}

func paramChanges(old, new map[string]string, info *templates.Info) []fleet.ParamChange {
	var out []fleet.ParamChange
	keys := slices.Sorted(maps.Keys(old))
	for k := range maps.Keys(new) {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, n := old[k], new[k]
		if o == n {
			continue
		}
		if info != nil {
			if p, ok := info.Parameter(k); ok && p.NoEcho {
				o, n = "****", "****"
			}
		}
		out = append(out, fleet.ParamChange{Name: k, Old: o, New: n})
	}
	return out
}

func creates(info *templates.Info) []fleet.ResourceChange {
	if info == nil {
		return nil
	}
	out := make([]fleet.ResourceChange, len(info.Resources))
	for i, r := range info.Resources {
		out[i] = fleet.ResourceChange{Action: "Add", LogicalID: r.LogicalID, Type: r.Type}
	}
	return out
}

// refresh revises the action for a recorded instance with what CloudFormation reports now: a
// stack deleted outside stackfleet is created again; one replaced, updated, busy or failed
// outside stackfleet, or whose parameters differ from the record, is updated back to the
// configuration. A nil Live changes nothing.
func (l *Live) refresh(a *fleet.Action, rec fleet.Instance, stackName string, info *templates.Info) {
	if l == nil {
		return
	}
	if why, ok := l.Errors[rec.Target]; ok {
		note := "live state not read: " + why
		if a.Reason == "" {
			a.Reason = note
		} else {
			a.Reason += "; " + note
		}
		return
	}
	live, exists := l.Stacks[rec.Target][stackName]
	if !exists {
		if rec.StackID != "" {
			a.Kind, a.Reason, a.ParamChanges, a.Changes = fleet.Create, "stack deleted outside stackfleet", nil, creates(info)
		}
		return
	}
	var drift []string
	switch {
	case rec.StackID != "" && live.StackID != rec.StackID:
		drift = append(drift, "stack replaced outside stackfleet")
	case strings.HasSuffix(live.Status, "_IN_PROGRESS") || strings.HasSuffix(live.Status, "_FAILED") || live.Status == "ROLLBACK_COMPLETE":
		drift = append(drift, "stack is "+live.Status)
	case rec.Status == fleet.Current && !rec.StackChanged.IsZero() && !live.Changed.Equal(rec.StackChanged):
		drift = append(drift, "stack updated outside stackfleet at "+live.Changed.UTC().Format(time.RFC3339))
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Deployed.Parameters)) {
		got, ok := live.Parameters[k]
		if ok && got != "****" && got != rec.Deployed.Parameters[k] {
			drift = append(drift, "parameter "+k+" changed outside stackfleet")
		}
	}
	if len(drift) == 0 {
		return
	}
	if a.Kind == fleet.NoChange {
		a.Kind, a.Reason = fleet.Update, strings.Join(drift, "; ")
		return
	}
	a.Reason += "; " + strings.Join(drift, "; ")
}
