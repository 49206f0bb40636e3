package cfntemplate

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value is a resolved stack parameter.
type Value struct {
	// Raw is the value as supplied, defaulted or carried over from the previous stack: what
	// DescribeStacks reports as ParameterValue (for SSM types, the parameter name).
	Raw string
	// Resolved is the value fetched from Parameter Store for AWS::SSM::Parameter::Value<…>
	// types (DescribeStacks' ResolvedValue), and "" for every other type.
	Resolved string
	// Value is what Ref yields: a string, or a []any of strings for list types.
	Value any
	// NoEcho marks values that DescribeStacks must mask.
	NoEcho bool
}

// Display is the value DescribeStacks shows: "****" for NoEcho parameters.
func (v Value) Display() string {
	if v.NoEcho {
		return "****"
	}
	return v.Raw
}

// ResolveParameters computes the stack's parameter values from the values given in the
// request, the previous stack's raw values (for UsePreviousValue) and the declared defaults,
// then checks every declared constraint and resolves SSM parameter types through ssm, which
// reports whether a Parameter Store parameter exists (ssm may be nil when none do).
//
// Constraints apply to the raw value, as in CloudFormation: for SSM types, to the parameter
// name rather than the fetched value. Errors are *ValidationError.
func (t *Template) ResolveParameters(given, previous map[string]string, usePrevious []string, ssm func(name string) (string, bool)) (map[string]Value, error) {
	var undeclared []string
	for name := range given {
		if _, ok := t.paramIndex[name]; !ok {
			undeclared = append(undeclared, name)
		}
	}
	for _, name := range usePrevious {
		if _, ok := t.paramIndex[name]; !ok && !slices.Contains(undeclared, name) {
			undeclared = append(undeclared, name)
		}
	}
	if len(undeclared) > 0 {
		slices.Sort(undeclared)
		return nil, errorf("Parameters: %s do not exist in the template", list(undeclared))
	}
	for _, name := range usePrevious {
		if _, ok := given[name]; ok {
			return nil, errorf("Invalid input for parameter key %s. Cannot specify usePreviousValue as true and non empty value for a parameter", name)
		}
		if _, ok := previous[name]; !ok {
			return nil, errorf("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", name)
		}
	}

	raw := make(map[string]string, len(t.Parameters))
	var missing []string
	for _, p := range t.Parameters {
		switch v, ok := given[p.Name]; {
		case ok:
			raw[p.Name] = v
		case slices.Contains(usePrevious, p.Name):
			raw[p.Name] = previous[p.Name]
		case p.HasDefault:
			raw[p.Name] = p.Default
		default:
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		return nil, errorf("Parameters: %s must have values", list(missing))
	}

	out := make(map[string]Value, len(t.Parameters))
	var unfetched []string
	for _, p := range t.Parameters {
		v := raw[p.Name]
		if err := p.check(v); err != nil {
			return nil, err
		}
		val := Value{Raw: v, NoEcho: p.NoEcho, Value: v}
		typ := p.Type
		if inner, ok := ssmInner(typ); ok {
			fetched, found := "", false
			if ssm != nil {
				fetched, found = ssm(v)
			}
			if !found {
				unfetched = append(unfetched, v)
				continue
			}
			val.Resolved, val.Value = fetched, fetched
			typ = inner
		}
		if isListType(typ) {
			val.Value = splitList(val.Value.(string))
		}
		out[p.Name] = val
	}
	if len(unfetched) > 0 {
		return nil, errorf("Unable to fetch parameters [%s] from parameter store for this account.", strings.Join(unfetched, ","))
	}
	return out, nil
}

// splitList turns a CommaDelimitedList value into its members; each member is space trimmed.
func splitList(s string) []any {
	parts := strings.Split(s, ",")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = strings.TrimSpace(p)
	}
	return out
}

// check validates a raw value against the parameter's declared constraints. List types are
// checked member by member.
func (p *Parameter) check(v string) error {
	members := []string{v}
	typ := p.Type
	if inner, ok := ssmInner(typ); ok {
		typ = inner
	}
	if isListType(p.Type) && !strings.HasPrefix(p.Type, "AWS::SSM::") {
		members = nil
		for _, m := range splitList(v) {
			members = append(members, m.(string))
		}
	}
	for _, m := range members {
		if err := p.checkOne(m, typ); err != nil {
			return err
		}
	}
	return nil
}

func (p *Parameter) checkOne(v, typ string) error {
	fail := func(format string, args ...any) error {
		if p.ConstraintDescription != "" {
			return errorf("Parameter %s failed to satisfy constraint: %s", p.Name, p.ConstraintDescription)
		}
		return errorf(format, args...)
	}
	if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
		return fail("Parameter '%s' must be one of AllowedValues", p.Name)
	}
	if typ == "Number" || typ == "List<Number>" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fail("Parameter '%s' must be a number.", p.Name)
		}
		if p.MinValue != nil && f < *p.MinValue {
			return fail("Parameter '%s' must be a number not less than %s", p.Name, formatNumber(*p.MinValue))
		}
		if p.MaxValue != nil && f > *p.MaxValue {
			return fail("Parameter '%s' must be a number not greater than %s", p.Name, formatNumber(*p.MaxValue))
		}
		return nil
	}
	n := utf8.RuneCountInString(v)
	if p.MinLength != nil && n < *p.MinLength {
		return fail("Parameter '%s' must contain at least %d characters", p.Name, *p.MinLength)
	}
	if p.MaxLength != nil && n > *p.MaxLength {
		return fail("Parameter '%s' must contain at most %d characters", p.Name, *p.MaxLength)
	}
	if p.pattern != nil && !p.pattern.MatchString(v) {
		return fail("Parameter '%s' must match pattern %s", p.Name, p.AllowedPattern)
	}
	return nil
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
