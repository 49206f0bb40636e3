package cfn

import (
	"maps"
	"slices"
)

// change is one resource change of a plan, as a change set reports it.
type change struct {
	Action      string         `json:"a"`
	Logical     string         `json:"l"`
	Physical    string         `json:"p,omitempty"`
	Type        string         `json:"t"`
	Replacement string         `json:"r,omitempty"`
	Scope       []string       `json:"s,omitempty"`
	Details     []changeDetail `json:"d,omitempty"`
	Policy      string         `json:"pa,omitempty"` // PolicyAction for Remove: Delete or Retain
}

type changeDetail struct {
	Attribute          string `json:"a"` // Properties or Tags
	Name               string `json:"n,omitempty"`
	RequiresRecreation string `json:"r"` // Never, Conditionally, Always
	Evaluation         string `json:"e"` // Static or Dynamic
	ChangeSource       string `json:"c"` // DirectModification or ResourceReference
}

// planResult is what an update would do.
type planResult struct {
	changes []change
	// stackChanged is set when something besides resources changes (outputs, parameters,
	// tags, description), which still makes an update worth running.
	stackChanged bool
}

func (p planResult) any() bool { return len(p.changes) > 0 || p.stackChanged }

// plan computes the changes that deploying cfg to s would make. It fails with the same
// validation errors as starting the operation (unknown exports, unresolvable references).
// r.mu is held.
func (e *Engine) plan(r *region, s *stack, cfg *stackConfig) (planResult, error) {
	env, err := e.newEnv(r, s, cfg)
	if err != nil {
		return planResult{}, err
	}
	env.planning = true
	env.unknown = map[string]bool{}
	env.override = map[string]*physical{}
	var out planResult
	active := map[string]bool{}
	for _, logical := range env.order() {
		active[logical] = true
		decl := cfg.tmpl.resources[logical]
		old := s.res[logical]
		if old == nil || old.phys.ID == "" || old.status == stCreateFailed {
			out.changes = append(out.changes, change{Action: "Add", Logical: logical, Type: decl.Type, Scope: []string{}, Details: []changeDetail{}})
			env.unknown[logical] = true
			if _, err := env.props(logical); isImportError(err) {
				return planResult{}, err
			}
			continue
		}
		props, err := env.props(logical)
		ch := change{Action: "Modify", Logical: logical, Physical: old.phys.ID, Type: decl.Type}
		if err != nil {
			// Only missing exports are known to fail; anything else may depend on values the
			// operation produces, so the resource counts as changed, possibly replaced.
			if isImportError(err) {
				return planResult{}, err
			}
			ch.Replacement = "Conditional"
			ch.Scope = []string{"Properties"}
			ch.Details = []changeDetail{}
			out.changes = append(out.changes, ch)
			env.unknown[logical] = true
			continue
		}
		if old.typ != decl.Type {
			ch.Replacement = "True"
			ch.Scope = []string{"Properties"}
			out.changes = append(out.changes, ch)
			env.unknown[logical] = true
			continue
		}
		pv := providerFor(decl.Type)
		names := changedProps(old.phys.Props, props)
		if cfg.revertDrift {
			// Drifted properties are written back too.
			for _, n := range changedProps(old.phys.Props, old.liveProps()) {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
		if len(names) == 0 {
			continue
		}
		always, conditional := false, false
		scope := map[string]bool{}
		for _, n := range names {
			d := changeDetail{Attribute: "Properties", Name: n, RequiresRecreation: "Never", Evaluation: "Static", ChangeSource: "DirectModification"}
			if n == "Tags" {
				d.Attribute, d.Name = "Tags", ""
			}
			dynamic := containsUnknown(props[n])
			if dynamic {
				d.Evaluation, d.ChangeSource = "Dynamic", "ResourceReference"
			}
			if slices.Contains(pv.replace, n) {
				if dynamic {
					d.RequiresRecreation = "Conditionally"
					conditional = true
				} else {
					d.RequiresRecreation = "Always"
					always = true
				}
			}
			scope[d.Attribute] = true
			ch.Details = append(ch.Details, d)
		}
		ch.Scope = slices.Sorted(maps.Keys(scope))
		switch {
		case always:
			ch.Replacement = "True"
		case conditional:
			ch.Replacement = "Conditional"
		default:
			ch.Replacement = "False"
		}
		if ch.Replacement == "False" {
			env.override[logical] = &physical{ID: old.phys.ID, Aux: old.phys.Aux, Props: props}
		} else {
			env.unknown[logical] = true
		}
		out.changes = append(out.changes, ch)
	}
	for _, logical := range s.resOrder {
		old := s.res[logical]
		if active[logical] || old == nil {
			continue
		}
		policy := "Delete"
		if s.cfg != nil && s.cfg.tmpl != nil {
			if d := s.cfg.tmpl.resources[logical]; d != nil && d.DeletionPolicy == "Retain" {
				policy = "Retain"
			}
		}
		out.changes = append(out.changes, change{Action: "Remove", Logical: logical, Physical: old.phys.ID, Type: old.typ, Scope: []string{}, Details: []changeDetail{}, Policy: policy})
	}
	outs, err := env.outputs()
	if isImportError(err) {
		return planResult{}, err
	}
	out.stackChanged = err != nil || !slices.EqualFunc(outs, s.outputs, func(a, b outputValue) bool { return a == b }) ||
		containsUnknownOutputs(outs) ||
		!slices.Equal(cfg.params, currentParams(s)) ||
		!slices.Equal(cfg.tags, currentTags(s)) ||
		s.cfg == nil || cfg.tmpl.description != s.cfg.tmpl.description
	return out, nil
}

func containsUnknownOutputs(outs []outputValue) bool {
	for _, o := range outs {
		if containsUnknown(o.Value) || containsUnknown(o.ExportName) {
			return true
		}
	}
	return false
}

func currentParams(s *stack) []paramValue {
	if s.cfg == nil {
		return nil
	}
	return s.cfg.params
}

func currentTags(s *stack) []tag {
	if s.cfg == nil {
		return nil
	}
	return s.cfg.tags
}

// changedProps lists the top-level properties that differ between old and new, sorted.
func changedProps(old, new map[string]any) []string {
	var names []string
	for k, v := range new {
		if w, ok := old[k]; !ok || !valuesEqual(normalize(v), normalize(w)) {
			names = append(names, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}
