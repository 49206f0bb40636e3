package cfntemplate

import (
	"slices"
	"strings"
)

// walker finds what a subtree of the template references and reports references CloudFormation
// rejects. It serves both the static checks of Parse (every Fn::If branch is followed) and
// CheckActive (only the branch each condition selects is followed, and references to resources
// whose Condition is false are unresolved).
type walker struct {
	t     *Template
	block string          // "Resources", "Outputs" or "Conditions": the section being walked
	conds map[string]bool // nil: static walk; otherwise the stack's condition results

	unresolved   []string // unknown (or, with conds, skipped) names, first-seen order
	resRefs      []string // resources referenced
	condRefs     []string // conditions referenced (Fn::If, and Condition in the Conditions block)
	unknownConds []string // Condition functions naming undefined conditions
}

func addOnce(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

// skipped reports whether a resource exists but is not created under w.conds.
func (w *walker) skipped(id string) bool {
	if w.conds == nil {
		return false
	}
	r, _ := w.t.Resource(id)
	return r.Condition != "" && !w.conds[r.Condition]
}

// resource records a reference to a resource by Ref, GetAtt or a Sub variable.
func (w *walker) resource(id string, inImport bool) error {
	if inImport {
		return errorf(msgImpDeps)
	}
	if w.block == "Conditions" || w.skipped(id) {
		w.unresolved = addOnce(w.unresolved, id)
		return nil
	}
	w.resRefs = addOnce(w.resRefs, id)
	return nil
}

func (w *walker) ref(name string, inImport bool) error {
	if pseudoParams[name] {
		return nil
	}
	if _, ok := w.t.paramIndex[name]; ok {
		return nil
	}
	if _, ok := w.t.resIndex[name]; ok {
		return w.resource(name, inImport)
	}
	w.unresolved = addOnce(w.unresolved, name)
	return nil
}

func (w *walker) getAtt(id string, inImport bool) error {
	if _, ok := w.t.resIndex[id]; ok {
		return w.resource(id, inImport)
	}
	if w.block == "Conditions" {
		w.unresolved = addOnce(w.unresolved, id)
		return nil
	}
	return errGetAttUndefined(id)
}

func (w *walker) walk(n any, inImport bool) error {
	switch n := n.(type) {
	case []any:
		for _, e := range n {
			if err := w.walk(e, inImport); err != nil {
				return err
			}
		}
	case map[string]any:
		if len(n) == 1 {
			for k, arg := range n {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") || (k == "Condition" && w.block == "Conditions") {
					return w.function(k, arg, inImport)
				}
			}
		}
		for _, k := range sortedKeys(n) {
			if err := w.walk(n[k], inImport); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) function(fn string, arg any, inImport bool) error {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return errorf(msgRefType)
		}
		return w.ref(name, inImport)
	case "Fn::GetAtt":
		id, attr, ok := getAttArgs(arg)
		if !ok {
			return errorf(msgGetAtt)
		}
		if err := w.getAtt(id, inImport); err != nil {
			return err
		}
		return w.walk(attr, inImport)
	case "Fn::Sub":
		s, vars, ok := subArgs(arg)
		if !ok {
			return errorf(msgSub)
		}
		for _, p := range parseSub(s) {
			if !p.isVar {
				continue
			}
			if _, local := vars[p.text]; local {
				continue
			}
			if id, _, dotted := strings.Cut(p.text, "."); dotted {
				if err := w.getAtt(id, inImport); err != nil {
					return err
				}
			} else if err := w.ref(p.text, inImport); err != nil {
				return err
			}
		}
		return w.walk(anyMap(vars), inImport)
	case "Fn::If":
		l, ok := arg.([]any)
		if !ok || len(l) != 3 {
			return errorf(msgIf)
		}
		name, ok := l[0].(string)
		if !ok {
			return errorf(msgIf)
		}
		if _, defined := w.t.Conditions[name]; !defined {
			return errIfCondition(name)
		}
		w.condRefs = addOnce(w.condRefs, name)
		if w.conds != nil {
			if w.conds[name] {
				return w.walk(l[1], inImport)
			}
			return w.walk(l[2], inImport)
		}
		if err := w.walk(l[1], inImport); err != nil {
			return err
		}
		return w.walk(l[2], inImport)
	case "Condition":
		name, ok := arg.(string)
		if !ok {
			return errNotBoolean()
		}
		if _, defined := w.t.Conditions[name]; !defined {
			w.unknownConds = addOnce(w.unknownConds, name)
			return nil
		}
		w.condRefs = addOnce(w.condRefs, name)
		return nil
	case "Fn::ImportValue", "Fn::GetAZs":
		if inImport {
			return errorf(msgImpDeps)
		}
		return w.walk(arg, fn == "Fn::ImportValue")
	case "Fn::Transform":
		return errTransform()
	}
	if !functions[fn] {
		return errUnsupportedFunction(fn)
	}
	return w.walk(arg, inImport)
}

// getAttArgs accepts [resource, attribute] (attribute possibly an intrinsic) and the dotted
// string form "resource.attribute".
func getAttArgs(arg any) (id string, attr any, ok bool) {
	switch a := arg.(type) {
	case string:
		id, at, ok := strings.Cut(a, ".")
		return id, at, ok && id != "" && at != ""
	case []any:
		if len(a) != 2 {
			return "", nil, false
		}
		id, ok := a[0].(string)
		if !ok || id == "" {
			return "", nil, false
		}
		switch at := a[1].(type) {
		case string:
			return id, at, at != ""
		case map[string]any:
			return id, at, true
		}
	}
	return "", nil, false
}

// subArgs accepts "template" and ["template"] and ["template", {vars}].
func subArgs(arg any) (string, map[string]any, bool) {
	switch a := arg.(type) {
	case string:
		return a, nil, true
	case []any:
		if len(a) < 1 || len(a) > 2 {
			return "", nil, false
		}
		s, ok := a[0].(string)
		if !ok {
			return "", nil, false
		}
		if len(a) == 1 {
			return s, nil, true
		}
		vars, ok := a[1].(map[string]any)
		return s, vars, ok
	}
	return "", nil, false
}

// anyMap keeps a nil map from becoming a typed nil inside an interface walk.
func anyMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// subPart is a literal run or a ${variable} of an Fn::Sub template.
type subPart struct {
	text  string
	isVar bool
}

// parseSub splits an Fn::Sub template. "${!Name}" is the literal "${Name}", and a "${" with no
// closing brace is literal text.
func parseSub(s string) []subPart {
	var parts []subPart
	var lit strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		name := s[i+2 : i+j]
		if after, ok := strings.CutPrefix(name, "!"); ok {
			lit.WriteString("${" + after + "}")
		} else {
			if lit.Len() > 0 {
				parts = append(parts, subPart{text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, subPart{text: name, isVar: true})
		}
		s = s[i+j+1:]
	}
	if lit.Len() > 0 {
		parts = append(parts, subPart{text: lit.String()})
	}
	return parts
}

// validateReferences performs the static reference checks of Parse and records resource
// dependencies.
func (t *Template) validateReferences() error {
	// Conditions may reference parameters, pseudo parameters and other conditions only.
	var resRefs, unknown []string
	condDeps := map[string][]string{}
	for _, name := range t.ConditionNames {
		w := &walker{t: t, block: "Conditions"}
		if err := w.walk(t.Conditions[name], false); err != nil {
			return err
		}
		for _, u := range w.unresolved {
			resRefs = addOnce(resRefs, u)
		}
		for _, u := range w.unknownConds {
			unknown = addOnce(unknown, u)
		}
		condDeps[name] = w.condRefs
	}
	if len(resRefs) > 0 {
		return errConditionsRefResource(resRefs)
	}
	if len(unknown) > 0 {
		return errorf("Template format error: Unresolved condition dependencies %s in the Conditions block of the template", list(unknown))
	}
	if cycle := findCycle(t.ConditionNames, condDeps); len(cycle) > 0 {
		return errorf("Template format error: Circular dependency between conditions: %s", list(cycle))
	}

	t.deps = map[string][]string{}
	var unresolved []string
	for _, r := range t.Resources {
		w := &walker{t: t, block: "Resources"}
		if err := w.resourceRefs(r); err != nil {
			return err
		}
		for _, u := range w.unresolved {
			unresolved = addOnce(unresolved, u)
		}
		slices.SortFunc(w.resRefs, func(a, b string) int { return t.resIndex[a] - t.resIndex[b] })
		t.deps[r.LogicalID] = w.resRefs
	}
	if len(unresolved) > 0 {
		return errUnresolved(unresolved, "Resources")
	}
	return t.outputRefs(nil)
}

// resourceRefs walks one resource: DependsOn, Properties and Metadata.
func (w *walker) resourceRefs(r Resource) error {
	for _, d := range r.DependsOn {
		if _, ok := w.t.resIndex[d]; !ok || w.skipped(d) {
			w.unresolved = addOnce(w.unresolved, d)
			continue
		}
		w.resRefs = addOnce(w.resRefs, d)
	}
	if err := w.walk(anyMap(r.Properties), false); err != nil {
		return err
	}
	return w.walk(r.Metadata, false)
}

// outputRefs checks the Outputs section; with conds, outputs whose condition is false are
// ignored and references to skipped resources are unresolved.
func (t *Template) outputRefs(conds map[string]bool) error {
	var unresolved []string
	for _, o := range t.Outputs {
		if conds != nil && o.Condition != "" && !conds[o.Condition] {
			continue
		}
		w := &walker{t: t, block: "Outputs", conds: conds}
		if err := w.walk(o.Value, false); err != nil {
			return err
		}
		if err := w.walk(o.ExportName, false); err != nil {
			return err
		}
		for _, u := range w.unresolved {
			unresolved = addOnce(unresolved, u)
		}
	}
	if len(unresolved) > 0 {
		return errUnresolved(unresolved, "Outputs")
	}
	return nil
}

// CheckActive checks the template against a stack's condition results (from EvalConditions) the
// way CreateStack and UpdateStack do: a created resource or output may not reference, through
// Ref, Fn::GetAtt, Fn::Sub or DependsOn, a resource whose Condition is false, except inside the
// Fn::If branch that is not taken.
func (t *Template) CheckActive(conds map[string]bool) error {
	if conds == nil {
		conds = map[string]bool{}
	}
	var unresolved []string
	for _, r := range t.Resources {
		if r.Condition != "" && !conds[r.Condition] {
			continue
		}
		w := &walker{t: t, block: "Resources", conds: conds}
		if err := w.resourceRefs(r); err != nil {
			return err
		}
		for _, u := range w.unresolved {
			unresolved = addOnce(unresolved, u)
		}
	}
	if len(unresolved) > 0 {
		return errUnresolved(unresolved, "Resources")
	}
	return t.outputRefs(conds)
}

// findCycle returns the nodes that can never be ordered because they are on, or depend on, a
// cycle, in declaration order; nil when the graph is acyclic.
func findCycle(order []string, deps map[string][]string) []string {
	_, stuck := topoSort(order, deps)
	return stuck
}
