package cfntemplate

import (
	"slices"
)

// Rule is one member of the Rules section: when Condition (nil: always) holds for the
// parameter values, every assertion must hold, or the stack operation is refused.
type Rule struct {
	Name       string
	Condition  any
	Assertions []Assertion
}

// Assertion is one Assert of a rule, with its AssertDescription.
type Assertion struct {
	Assert      any
	Description string
}

func (t *Template) parseRules(root *omap) error {
	rules, err := section(root, "Rules")
	if err != nil {
		return err
	}
	for _, name := range rules.keys {
		def, ok := rules.vals[name].(*omap)
		if !ok {
			return errorf("Template format error: Every Rules member %s must be a map", name)
		}
		r := Rule{Name: name}
		for _, k := range def.keys {
			switch k {
			case "RuleCondition":
				r.Condition = plain(def.vals[k])
			case "Assertions":
				list, ok := def.vals[k].([]any)
				if !ok {
					return errorf("Template format error: Rule %s: Assertions must be a list", name)
				}
				for _, a := range list {
					am, ok := a.(*omap)
					if !ok || am.vals["Assert"] == nil {
						return errorf("Template format error: Rule %s: every assertion needs an Assert", name)
					}
					desc, _ := scalarString(am.vals["AssertDescription"])
					r.Assertions = append(r.Assertions, Assertion{Assert: plain(am.vals["Assert"]), Description: desc})
				}
			default:
				return errorf("Template format error: Rule %s has an invalid property %s (RuleCondition and Assertions are allowed)", name, k)
			}
		}
		if len(r.Assertions) == 0 {
			return errorf("Template format error: Rule %s must have Assertions", name)
		}
		t.Rules = append(t.Rules, r)
	}
	return nil
}

// CheckRules evaluates the Rules section against the parameter values of env, as
// CloudFormation does before it creates or updates anything: the first failing assertion of a
// rule whose condition holds is returned as a *ValidationError carrying its description.
func (t *Template) CheckRules(env *Env) error {
	e := t.evaluator(env, "Rules")
	for _, r := range t.Rules {
		if r.Condition != nil {
			ok, err := e.evalBool(r.Condition)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		for _, a := range r.Assertions {
			ok, err := e.evalBool(a.Assert)
			if err != nil {
				return err
			}
			if !ok {
				if a.Description != "" {
					return errorf("%s", a.Description)
				}
				return errorf("Template error: an assertion of rule %s failed", r.Name)
			}
		}
	}
	return nil
}

// ruleBool evaluates a rule-specific function (Fn::Contains, Fn::EachMemberEquals,
// Fn::EachMemberIn) for evalBool, which offers them in the Rules block only.
func (e *evaluator) ruleBool(fn string, arg any) (bool, error) {
	l, ok := arg.([]any)
	if !ok || len(l) != 2 {
		return false, errorf("Template error: every %s object requires a list of 2 parameters.", fn)
	}
	a, err := e.eval(l[0])
	if err != nil {
		return false, err
	}
	b, err := e.eval(l[1])
	if err != nil {
		return false, err
	}
	list, _ := a.([]any)
	switch fn {
	case "Fn::Contains":
		return slices.ContainsFunc(list, func(x any) bool { return equalValues(x, b) }), nil
	case "Fn::EachMemberEquals":
		return !slices.ContainsFunc(list, func(x any) bool { return !equalValues(x, b) }), nil
	}
	in, _ := b.([]any)
	return !slices.ContainsFunc(list, func(x any) bool {
		return !slices.ContainsFunc(in, func(y any) bool { return equalValues(x, y) })
	}), nil
}
