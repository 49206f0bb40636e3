package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

var refFuncs = template.FuncMap{
	"output":      func(string, string) string { return "" },
	"outputIn":    func(string, string, string, string) string { return "" },
	"outputs":     func(string, string, ...string) string { return "" },
	"outputsJSON": func(string, string, ...string) string { return "" },
}

// orderByReferences checks the output references of the stack sets' parameters — valid
// templates, naming stack sets that exist, without cycles — and orders the stack sets so that
// producers come before their consumers (otherwise in configuration order).
func (f *File) orderByReferences(sets []*fleet.StackSet) ([]*fleet.StackSet, Errors) {
	var errs Errors
	index := map[string]int{}
	for i, sc := range f.StackSets {
		index[sc.Name] = i
	}
	deps := map[string][]string{}
	field := map[string]string{} // stack set → the field of its first reference, for errors
	check := func(set string, i int, at, v string) {
		if !strings.Contains(v, "{{") {
			return
		}
		if _, err := template.New("parameter").Funcs(refFuncs).Parse(v); err != nil {
			errs = append(errs, f.errorAt(at, "not a valid reference: %v", err))
			return
		}
		for _, ref := range fleet.OutputRefs(v) {
			producer := ref.StackSet
			switch {
			case producer == set:
				errs = append(errs, f.errorAt(at, "stack set %s cannot take its own outputs", set))
			case !slices.ContainsFunc(sets, func(s *fleet.StackSet) bool { return s.Name == producer }):
				errs = append(errs, f.errorAt(at, "references stack set %q, which is not in the configuration", producer))
			case !slices.Contains(deps[set], producer):
				deps[set] = append(deps[set], producer)
				if field[set] == "" {
					field[set] = at
				}
			}
		}
	}
	for _, s := range sets {
		i := index[s.Name]
		for _, k := range slices.Sorted(maps.Keys(f.StackSets[i].Parameters)) {
			v, _ := paramString(f.StackSets[i].Parameters[k])
			check(s.Name, i, fmt.Sprintf("stackSets[%d].parameters.%s", i, k), v)
		}
		for j, o := range f.StackSets[i].Overrides {
			for _, k := range slices.Sorted(maps.Keys(o.Parameters)) {
				v, _ := paramString(o.Parameters[k])
				check(s.Name, i, fmt.Sprintf("stackSets[%d].overrides[%d].parameters.%s", i, j, k), v)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Depth-first topological order; a back edge is a cycle.
	var out []*fleet.StackSet
	state := map[string]int{} // 1 visiting, 2 done
	byName := map[string]*fleet.StackSet{}
	for _, s := range sets {
		byName[s.Name] = s
	}
	var visit func(name string, path []string) bool
	visit = func(name string, path []string) bool {
		switch state[name] {
		case 1:
			cycle := append(path[slices.Index(path, name):], name)
			errs = append(errs, f.errorAt(field[name], "references form a cycle: %s", strings.Join(cycle, " → ")))
			return false
		case 2:
			return true
		}
		state[name] = 1
		for _, d := range deps[name] {
			if !visit(d, append(path, name)) {
				return false
			}
		}
		state[name] = 2
		out = append(out, byName[name])
		return true
	}
	for _, s := range sets {
		if !visit(s.Name, nil) {
			return nil, errs
		}
	}
	return out, nil
}
