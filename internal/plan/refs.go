package plan

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/templates"
)

// Parameter values may reference the outputs of other stack sets' instances, as Go templates
// (the templating of gate URLs) with these functions:
//
//	{{ output "network" "VpcId" }}                     the instance in the same account and region
//	{{ outputIn "logs" "BucketName" "log-archive" "us-east-1" }}  a fixed account (id or name) and region
//	{{ outputs "audit" "RoleArn" }}                    every instance's value, comma-delimited
//	{{ outputsJSON "audit" "RoleArn" }}                {"ACCOUNT": {"REGION": "VALUE"}}
//	{{ outputs "audit" "RoleArn" "region=us-east-1" "ou=Workloads/Prod" "tag:team=payments" }}  filtered
//
// Values come from the recorded outputs: a producer's instances must be deployed (and an output
// changed by the same apply reaches its consumers on the next plan).

// References returns the resolver of references to stack-set outputs for one stack's targets,
// from the recorded instances of the stack sets (by name), indexed once; it seals the resolved
// values of info's NoEcho parameters with seal: what a release does for pipeline stacks.
func References(inv *fleet.Inventory, recorded map[string][]fleet.Instance, info *templates.Info,
	seal func(string) (string, error)) func(t fleet.Target, params map[string]string) (map[string]string, error) {
	in := Input{Inventory: inv, Recorded: recorded, Seal: seal}
	idx := in.refIndex()
	return func(t fleet.Target, params map[string]string) (map[string]string, error) {
		out := maps.Clone(params)
		for _, k := range slices.Sorted(maps.Keys(out)) {
			if !strings.Contains(out[k], "{{") {
				continue
			}
			v, _, err := renderRef(inv, idx, nil, t, out[k])
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", k, err)
			}
			out[k] = v
		}
		if err := in.sealResolved(info, params, out); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// refIndex is the recorded outputs by stack set and target.
type refIndex map[string]map[fleet.Target]map[string]string

func (in Input) refIndex() refIndex {
	idx := refIndex{}
	for name, insts := range in.Recorded {
		m := map[fleet.Target]map[string]string{}
		for _, inst := range insts {
			m[inst.Target] = inst.Outputs
		}
		idx[name] = m
	}
	return idx
}

// resolveRefs renders the templated parameter values of one instance. A value that depends on a
// stack set this plan changes (changing) is rendered from what is recorded now — or a
// placeholder if nothing is — and that stack set is returned among waits: apply plans the
// consumer again after it deploys.
func (in Input) resolveRefs(idx refIndex, changing map[string]map[fleet.Target]bool, s *fleet.StackSet, t fleet.Target, params map[string]string) (waits []string, err error) {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if !strings.Contains(v, "{{") {
			continue
		}
		out, w, err := renderRef(in.Inventory, idx, changing, t, v)
		if err != nil {
			return nil, fmt.Errorf("stack set %s, parameter %s in %s: %w", s.Name, k, t, err)
		}
		params[k] = out
		waits = append(waits, w...)
	}
	return waits, nil
}

func renderRef(inv *fleet.Inventory, idx refIndex, changing map[string]map[fleet.Target]bool, t fleet.Target, text string) (string, []string, error) {
	var waits []string
	wait := func(set string) {
		if !slices.Contains(waits, set) {
			waits = append(waits, set)
		}
	}
	var callErr error // the first error of a function, said plainly rather than as template internals
	fail := func(err error) error {
		if callErr == nil {
			callErr = err
		}
		return err
	}
	get := func(set, key string, at fleet.Target) (string, error) {
		if changing[set][at] {
			wait(set)
			if v, ok := idx[set][at][key]; ok {
				return v, nil
			}
			return "(known after " + set + " deploys)", nil
		}
		insts, ok := idx[set]
		if !ok {
			return "", fail(fmt.Errorf("stack set %s has no recorded instances: apply it first (stackfleet apply --stack-set %s)", set, set))
		}
		outs, ok := insts[at]
		if !ok {
			return "", fail(fmt.Errorf("stack set %s has no instance in %s: it must target that account and region", set, at))
		}
		v, ok := outs[key]
		if !ok {
			return "", fail(fmt.Errorf("the instance of %s in %s has no output %s (outputs: %s)", set, at, key, strings.Join(slices.Sorted(maps.Keys(outs)), ", ")))
		}
		return v, nil
	}
	all := func(set, key string, filters []string) ([]fleet.Target, map[fleet.Target]string, error) {
		keep, err := targetFilter(inv, filters)
		if err != nil {
			return nil, nil, fail(err)
		}
		if len(changing[set]) > 0 {
			wait(set)
		}
		insts, ok := idx[set]
		if !ok && len(changing[set]) > 0 {
			return nil, nil, nil
		}
		if !ok {
			return nil, nil, fail(fmt.Errorf("stack set %s has no recorded instances: apply it first (stackfleet apply --stack-set %s)", set, set))
		}
		vals := map[fleet.Target]string{}
		for at, outs := range insts {
			if v, ok := outs[key]; ok && keep(at) {
				vals[at] = v
			}
		}
		targets := slices.SortedFunc(maps.Keys(vals), func(a, b fleet.Target) int {
			if c := strings.Compare(a.Account, b.Account); c != 0 {
				return c
			}
			return strings.Compare(a.Region, b.Region)
		})
		return targets, vals, nil
	}
	funcs := template.FuncMap{
		"output": func(set, key string) (string, error) { return get(set, key, t) },
		"outputIn": func(set, key, account, region string) (string, error) {
			if a, ok := inv.Account(account); ok {
				account = a.ID
			} else if i := slices.IndexFunc(inv.Accounts, func(a fleet.Account) bool { return a.Name == account }); i >= 0 {
				account = inv.Accounts[i].ID
			}
			return get(set, key, fleet.Target{Account: account, Region: region})
		},
		"outputs": func(set, key string, filters ...string) (string, error) {
			targets, vals, err := all(set, key, filters)
			var list []string
			for _, at := range targets {
				list = append(list, vals[at])
			}
			return strings.Join(list, ","), err
		},
		"outputsJSON": func(set, key string, filters ...string) (string, error) {
			targets, vals, err := all(set, key, filters)
			m := map[string]map[string]string{}
			for _, at := range targets {
				if m[at.Account] == nil {
					m[at.Account] = map[string]string{}
				}
				m[at.Account][at.Region] = vals[at]
			}
			b, _ := json.Marshal(m)
			return string(b), err
		},
	}
	tmpl, err := template.New("parameter").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, nil); err != nil {
		if callErr != nil {
			return "", nil, callErr
		}
		return "", nil, err
	}
	return b.String(), waits, nil
}

// inputReasons says which producer output changed for parameters that reference one: "input
// network.VpcId changed" rather than "parameters changed: Vpc".
func inputReasons(reason string, changes []fleet.ParamChange, raw map[string]string) string {
	var inputs, others []string
	for _, c := range changes {
		refs := fleet.OutputRefs(raw[c.Name])
		if refs == nil {
			others = append(others, c.Name)
		}
		for _, r := range refs {
			if in := r.StackSet + "." + r.Key; !slices.Contains(inputs, in) {
				inputs = append(inputs, in)
			}
		}
	}
	i := strings.Index(reason, "parameters changed: ")
	if len(inputs) == 0 || i < 0 {
		return reason
	}
	segment := reason[i:]
	if j := strings.Index(segment, "; "); j >= 0 {
		segment = segment[:j]
	}
	var parts []string
	if len(others) > 0 {
		parts = append(parts, "parameters changed: "+strings.Join(others, ", "))
	}
	parts = append(parts, "input "+strings.Join(inputs, ", ")+" changed")
	return strings.Replace(reason, segment, strings.Join(parts, "; "), 1)
}

// targetFilter is the filter of aggregate references: every "region=R", "account=A", "ou=PATH"
// (the account is in the OU or below it) and "tag:KEY=VALUE" (the account has the tag) must hold.
func targetFilter(inv *fleet.Inventory, filters []string) (func(fleet.Target) bool, error) {
	var tests []func(fleet.Target) bool
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("filter %q: want region=R, account=A, ou=PATH or tag:KEY=VALUE", f)
		case k == "region":
			tests = append(tests, func(t fleet.Target) bool { return t.Region == v })
		case k == "account":
			tests = append(tests, func(t fleet.Target) bool { return t.Account == v })
		case k == "ou":
			id, found := inv.FindOU(v)
			if !found {
				return nil, fmt.Errorf("filter %q: no such organizational unit", f)
			}
			tests = append(tests, func(t fleet.Target) bool {
				a, ok := inv.Account(t.Account)
				return ok && slices.Contains(inv.Ancestors(a), id)
			})
		case strings.HasPrefix(k, "tag:"):
			tag := strings.TrimPrefix(k, "tag:")
			tests = append(tests, func(t fleet.Target) bool {
				a, ok := inv.Account(t.Account)
				return ok && a.Tags[tag] == v
			})
		default:
			return nil, fmt.Errorf("filter %q: want region=R, account=A, ou=PATH or tag:KEY=VALUE", f)
		}
	}
	return func(t fleet.Target) bool {
		for _, test := range tests {
			if !test(t) {
				return false
			}
		}
		return true
	}, nil
}

// sealResolved seals the values of NoEcho parameters that came from references.
func (in Input) sealResolved(info *templates.Info, raw, params map[string]string) error {
	if in.Seal == nil || info == nil {
		return nil
	}
	for k, v := range params {
		if !strings.Contains(raw[k], "{{") {
			continue
		}
		if p, ok := info.Parameter(k); ok && p.NoEcho {
			sealed, err := in.Seal(v)
			if err != nil {
				return err
			}
			params[k] = sealed
		}
	}
	return nil
}
