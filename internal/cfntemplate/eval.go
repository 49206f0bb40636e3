package cfntemplate

import (
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Env is what evaluation needs from the stack being deployed. The zero value is usable: empty
// pseudo parameters, no parameters, conditions computed on demand from the template, and no
// resources (Ref and Fn::GetAtt of a resource then fail).
type Env struct {
	AccountID string
	Region    string
	StackName string
	StackID   string
	// Partition and URLSuffix are derived from Region when empty.
	Partition        string
	URLSuffix        string
	NotificationARNs []string
	// Params are the resolved parameters (from ResolveParameters).
	Params map[string]Value
	// Conditions are the condition results (from EvalConditions). Conditions missing from the
	// map are evaluated from the template when needed.
	Conditions map[string]bool
	// Ref and GetAtt return the physical ID and the attributes of a created resource. Errors
	// they return are passed to the caller unchanged.
	Ref    func(logicalID string) (any, error)
	GetAtt func(logicalID, attr string) (any, error)
	// ImportValue returns the value of an export of the account and region; nil means there
	// are no exports.
	ImportValue func(name string) (string, error)
	// GetAZs lists a region's availability zones; nil means region+"a", "b" and "c".
	GetAZs func(region string) []string
}

// OutputValue is an evaluated output, ready for DescribeStacks.
type OutputValue struct {
	Key         string
	Value       string
	Description string
	// ExportName is "" for outputs that are not exported.
	ExportName string
}

// noValue is what Ref AWS::NoValue evaluates to: the enclosing property or list element is
// removed.
type noValue struct{}

type evaluator struct {
	t     *Template
	env   *Env
	block string // section being evaluated, for error wording

	// memo and visiting are shared by copies of an evaluator so that conditions evaluated on
	// demand are computed once and loops between them are caught.
	memo     map[string]bool
	visiting map[string]bool
}

func (t *Template) evaluator(env *Env, block string) *evaluator {
	if env == nil {
		env = &Env{}
	}
	return &evaluator{t: t, env: env, block: block, memo: map[string]bool{}, visiting: map[string]bool{}}
}

// Eval evaluates the intrinsic functions in a template subtree (typically a resource's
// Properties) and returns a fresh tree. Properties and list elements that evaluate to
// AWS::NoValue are removed; if node itself does, Eval returns nil. Errors are
// *ValidationError, or whatever env's callbacks return.
func (t *Template) Eval(node any, env *Env) (any, error) {
	v, err := t.evaluator(env, "Resources").eval(node)
	if _, ok := v.(noValue); ok || err != nil {
		return nil, err
	}
	return v, nil
}

// EvalProperties evaluates a resource's Properties; it returns nil when the resource has none.
func (t *Template) EvalProperties(r *Resource, env *Env) (map[string]any, error) {
	if r.Properties == nil {
		return nil, nil
	}
	v, err := t.Eval(r.Properties, env)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// EvalConditions evaluates every condition of the template. Conditions may use one another
// (the Condition function); a loop between them is an error. env.Conditions is ignored.
func (t *Template) EvalConditions(env *Env) (map[string]bool, error) {
	e := t.evaluator(env, "Conditions")
	if e.env.Conditions != nil {
		clone := *e.env
		clone.Conditions = nil
		e.env = &clone
	}
	out := make(map[string]bool, len(t.ConditionNames))
	for _, name := range t.ConditionNames {
		v, err := e.cond(name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// EvalOutputs evaluates the outputs whose condition holds, in declaration order. List values
// are joined with commas, as DescribeStacks shows them.
func (t *Template) EvalOutputs(env *Env) ([]OutputValue, error) {
	e := t.evaluator(env, "Outputs")
	var out []OutputValue
	for _, o := range t.Outputs {
		if o.Condition != "" {
			ok, err := e.cond(o.Condition)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		v, err := e.eval(o.Value)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(noValue); ok {
			continue
		}
		s, ok := scalarString(v)
		if l, isList := v.([]any); isList {
			s, ok = joinScalars(l)
		}
		if !ok {
			return nil, errorf("Template error: the Value of output %s must resolve to a string or a list of strings", o.Key)
		}
		ov := OutputValue{Key: o.Key, Value: s, Description: o.Description}
		if o.ExportName != nil {
			v, err := e.eval(o.ExportName)
			if err != nil {
				return nil, err
			}
			name, ok := scalarString(v)
			if !ok || name == "" {
				return nil, errorf("Template error: the Export Name of output %s must resolve to a non-empty string", o.Key)
			}
			ov.ExportName = name
		}
		out = append(out, ov)
	}
	return out, nil
}

// cond returns a condition's value, from env when known and otherwise computed from the
// template.
func (e *evaluator) cond(name string) (bool, error) {
	if v, ok := e.env.Conditions[name]; ok {
		return v, nil
	}
	if v, ok := e.memo[name]; ok {
		return v, nil
	}
	expr, ok := e.t.Conditions[name]
	if !ok {
		return false, errorf("Template format error: Unresolved condition dependencies %s in the %s block of the template", list([]string{name}), e.block)
	}
	if e.visiting[name] {
		return false, errorf("Template format error: Circular dependency between conditions: %s", list([]string{name}))
	}
	e.visiting[name] = true
	ce := *e
	ce.block = "Conditions"
	v, err := ce.evalBool(expr)
	delete(e.visiting, name)
	if err != nil {
		return false, err
	}
	e.memo[name] = v
	return v, nil
}

// evalBool evaluates a condition expression: Fn::Equals, Fn::And, Fn::Or, Fn::Not or
// Condition, and in the Rules block also the rule functions (see ruleBool).
func (e *evaluator) evalBool(n any) (bool, error) {
	m, ok := n.(map[string]any)
	if !ok || len(m) != 1 {
		return false, errNotBoolean()
	}
	for fn, arg := range m {
		switch fn {
		case "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn":
			if e.block == "Rules" {
				return e.ruleBool(fn, arg)
			}
		case "Fn::Equals":
			l, ok := arg.([]any)
			if !ok || len(l) != 2 {
				return false, errorf(msgEquals)
			}
			a, err := e.eval(l[0])
			if err != nil {
				return false, err
			}
			b, err := e.eval(l[1])
			if err != nil {
				return false, err
			}
			return equalValues(a, b), nil
		case "Fn::And", "Fn::Or":
			l, ok := arg.([]any)
			if !ok || len(l) < 2 || len(l) > 10 {
				return false, errAndOr(fn)
			}
			// Every operand is evaluated, as CloudFormation validates all of them.
			result := fn == "Fn::And"
			for _, x := range l {
				v, err := e.evalBool(x)
				if err != nil {
					return false, err
				}
				if fn == "Fn::And" {
					result = result && v
				} else {
					result = result || v
				}
			}
			return result, nil
		case "Fn::Not":
			l, ok := arg.([]any)
			if !ok || len(l) != 1 {
				return false, errorf(msgNot)
			}
			v, err := e.evalBool(l[0])
			return !v, err
		case "Condition":
			name, ok := arg.(string)
			if !ok {
				return false, errNotBoolean()
			}
			return e.cond(name)
		}
	}
	return false, errNotBoolean()
}

// equalValues compares the way Fn::Equals does: scalars by their string form, so that the
// number 3 equals the parameter value "3".
func equalValues(a, b any) bool {
	if sa, ok := scalarString(a); ok {
		sb, ok := scalarString(b)
		return ok && sa == sb
	}
	switch a := a.(type) {
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, equalValues)
	case map[string]any:
		b, ok := b.(map[string]any)
		return ok && maps.EqualFunc(a, b, equalValues)
	case noValue:
		_, ok := b.(noValue)
		return ok
	}
	return false
}

func (e *evaluator) eval(n any) (any, error) {
	switch n := n.(type) {
	case map[string]any:
		if len(n) == 1 {
			for k, arg := range n {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return e.function(k, arg)
				}
			}
		}
		out := make(map[string]any, len(n))
		for _, k := range sortedKeys(n) {
			v, err := e.eval(n[k])
			if err != nil {
				return nil, err
			}
			if _, ok := v.(noValue); !ok {
				out[k] = v
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(n))
		for _, x := range n {
			v, err := e.eval(x)
			if err != nil {
				return nil, err
			}
			if _, ok := v.(noValue); !ok {
				out = append(out, v)
			}
		}
		return out, nil
	}
	return n, nil
}

// evalString evaluates n and requires a scalar, rendered as a string.
func (e *evaluator) evalString(n any) (string, bool, error) {
	v, err := e.eval(n)
	if err != nil {
		return "", false, err
	}
	s, ok := scalarString(v)
	return s, ok, nil
}

func (e *evaluator) function(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, errorf(msgRefType)
		}
		return e.ref(name)
	case "Fn::GetAtt":
		return e.getAttFn(arg)
	case "Fn::Sub":
		return e.sub(arg)
	case "Fn::Join":
		return e.join(arg)
	case "Fn::Select":
		return e.selectFn(arg)
	case "Fn::Split":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, errorf(msgSplit)
		}
		delim, ok1, err := e.evalString(l[0])
		if err != nil {
			return nil, err
		}
		src, ok2, err := e.evalString(l[1])
		if err != nil {
			return nil, err
		}
		if !ok1 || !ok2 || delim == "" {
			return nil, errorf(msgSplit)
		}
		var out []any
		for _, s := range strings.Split(src, delim) {
			out = append(out, s)
		}
		return out, nil
	case "Fn::If":
		l, ok := arg.([]any)
		if !ok || len(l) != 3 {
			return nil, errorf(msgIf)
		}
		name, ok := l[0].(string)
		if !ok {
			return nil, errorf(msgIf)
		}
		if _, defined := e.t.Conditions[name]; !defined {
			if _, known := e.env.Conditions[name]; !known {
				return nil, errIfCondition(name)
			}
		}
		c, err := e.cond(name)
		if err != nil {
			return nil, err
		}
		if c {
			return e.eval(l[1])
		}
		return e.eval(l[2])
	case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not":
		return e.evalBool(map[string]any{fn: arg})
	case "Fn::FindInMap":
		return e.findInMap(arg)
	case "Fn::GetAZs":
		region, ok, err := e.evalString(arg)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf(msgGetAZs)
		}
		if region == "" {
			region = e.env.Region
		}
		var azs []string
		if e.env.GetAZs != nil {
			azs = e.env.GetAZs(region)
		} else if region != "" {
			azs = []string{region + "a", region + "b", region + "c"}
		}
		out := make([]any, len(azs))
		for i, az := range azs {
			out[i] = az
		}
		return out, nil
	case "Fn::ImportValue":
		name, ok, err := e.evalString(arg)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf(msgImport)
		}
		if e.env.ImportValue == nil {
			return nil, errorf("No export named %s found.", name)
		}
		return e.env.ImportValue(name)
	case "Fn::Base64":
		s, ok, err := e.evalString(arg)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf(msgBase64)
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::Cidr":
		return e.cidr(arg)
	case "Fn::Transform":
		return nil, errTransform()
	}
	return nil, errUnsupportedFunction(fn)
}

// ref evaluates Ref: pseudo parameters, parameters and resources.
func (e *evaluator) ref(name string) (any, error) {
	env := e.env
	switch name {
	case "AWS::NoValue":
		return noValue{}, nil
	case "AWS::AccountId":
		return env.AccountID, nil
	case "AWS::Region":
		return env.Region, nil
	case "AWS::StackName":
		return env.StackName, nil
	case "AWS::StackId":
		return env.StackID, nil
	case "AWS::Partition":
		if env.Partition != "" {
			return env.Partition, nil
		}
		p, _ := partition(env.Region)
		return p, nil
	case "AWS::URLSuffix":
		if env.URLSuffix != "" {
			return env.URLSuffix, nil
		}
		_, s := partition(env.Region)
		return s, nil
	case "AWS::NotificationARNs":
		out := make([]any, len(env.NotificationARNs))
		for i, a := range env.NotificationARNs {
			out[i] = a
		}
		return out, nil
	}
	if _, ok := e.t.paramIndex[name]; ok {
		v, ok := env.Params[name]
		if !ok {
			return nil, errorf("Parameters: %s must have values", list([]string{name}))
		}
		if l, ok := v.Value.([]any); ok {
			return slices.Clone(l), nil
		}
		return v.Value, nil
	}
	if err := e.usable(name); err != nil {
		return nil, err
	}
	if env.Ref == nil {
		return nil, errUnresolved([]string{name}, e.block)
	}
	return env.Ref(name)
}

// usable checks that a resource can be referenced from the current block: it exists, is not
// referenced from Conditions, and is created (its Condition holds).
func (e *evaluator) usable(id string) error {
	r, ok := e.t.Resource(id)
	if !ok {
		if e.block == "Conditions" {
			return errConditionsRefResource([]string{id})
		}
		return errUnresolved([]string{id}, e.block)
	}
	if e.block == "Conditions" {
		return errConditionsRefResource([]string{id})
	}
	if r.Condition != "" {
		on, err := e.cond(r.Condition)
		if err != nil {
			return err
		}
		if !on {
			return errUnresolved([]string{id}, e.block)
		}
	}
	return nil
}

func (e *evaluator) getAttFn(arg any) (any, error) {
	id, attrNode, ok := getAttArgs(arg)
	if !ok {
		return nil, errorf(msgGetAtt)
	}
	attr, ok := attrNode.(string)
	if !ok {
		s, ok, err := e.evalString(attrNode)
		if err != nil {
			return nil, err
		}
		if !ok || s == "" {
			return nil, errorf(msgGetAtt)
		}
		attr = s
	}
	return e.getAtt(id, attr)
}

func (e *evaluator) getAtt(id, attr string) (any, error) {
	if _, ok := e.t.Resource(id); !ok && e.block != "Conditions" {
		return nil, errGetAttUndefined(id)
	}
	if err := e.usable(id); err != nil {
		return nil, err
	}
	if e.env.GetAtt == nil {
		return nil, errorf("Template error: resource %s does not support attribute type %s in Fn::GetAtt", id, attr)
	}
	return e.env.GetAtt(id, attr)
}

func (e *evaluator) sub(arg any) (any, error) {
	tmpl, vars, ok := subArgs(arg)
	if !ok {
		return nil, errorf(msgSub)
	}
	local := make(map[string]any, len(vars))
	for k, v := range vars {
		ev, err := e.eval(v)
		if err != nil {
			return nil, err
		}
		local[k] = ev
	}
	var b strings.Builder
	for _, p := range parseSub(tmpl) {
		if !p.isVar {
			b.WriteString(p.text)
			continue
		}
		var v any
		var err error
		if lv, ok := local[p.text]; ok {
			v = lv
		} else if id, attr, dotted := strings.Cut(p.text, "."); dotted {
			v, err = e.getAtt(id, attr)
		} else {
			v, err = e.ref(p.text)
		}
		if err != nil {
			return nil, err
		}
		s, ok := scalarString(v)
		if !ok {
			return nil, errorf("Template error: variable %s in Fn::Sub expression does not resolve to a string", p.text)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (e *evaluator) join(arg any) (any, error) {
	l, ok := arg.([]any)
	if !ok || len(l) != 2 {
		return nil, errorf(msgJoin)
	}
	delim, ok, err := e.evalString(l[0])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(msgJoin)
	}
	v, err := e.eval(l[1])
	if err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		return nil, errorf(msgJoin)
	}
	parts := make([]string, len(items))
	for i, x := range items {
		s, ok := scalarString(x)
		if !ok {
			return nil, errorf(msgJoin)
		}
		parts[i] = s
	}
	return strings.Join(parts, delim), nil
}

func (e *evaluator) selectFn(arg any) (any, error) {
	l, ok := arg.([]any)
	if !ok || len(l) != 2 {
		return nil, errorf(msgSelect)
	}
	iv, err := e.eval(l[0])
	if err != nil {
		return nil, err
	}
	idx, ok := index(iv)
	if !ok {
		return nil, errorf(msgSelect)
	}
	v, err := e.eval(l[1])
	if err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		return nil, errorf(msgSelect)
	}
	if idx < 0 || idx >= int64(len(items)) {
		return nil, errorf("Template error: Fn::Select cannot select nonexistent value at index %d", idx)
	}
	return items[idx], nil
}

// index reads an Fn::Select index: an integer, or a string holding one (parameters are strings).
func index(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (e *evaluator) findInMap(arg any) (any, error) {
	l, ok := arg.([]any)
	if !ok || len(l) < 3 || len(l) > 4 {
		return nil, errorf(msgFind)
	}
	var keys [3]string
	for i := range 3 {
		s, ok, err := e.evalString(l[i])
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf(msgFind)
		}
		keys[i] = s
	}
	// The optional fourth argument {DefaultValue: v} (AWS::LanguageExtensions) answers for a
	// missing map, key or attribute.
	var def any
	hasDef := false
	if len(l) == 4 {
		m, ok := l[3].(map[string]any)
		if !ok || len(m) != 1 {
			return nil, errorf(msgFind)
		}
		if def, hasDef = m["DefaultValue"]; !hasDef {
			return nil, errorf(msgFind)
		}
	}
	top, ok := e.t.Mappings[keys[0]]
	if !ok && !hasDef {
		return nil, errorf("Template error: Mapping named '%s' is not present in the 'Mappings' section of template.", keys[0])
	}
	v, ok := top[keys[1]][keys[2]]
	if !ok {
		if !hasDef {
			return nil, errorf("Template error: Unable to get mapping for %s::%s::%s", keys[0], keys[1], keys[2])
		}
		return e.eval(def)
	}
	return e.eval(v)
}

// partition derives AWS::Partition and AWS::URLSuffix from a region name.
func partition(region string) (string, string) {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn", "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov", "amazonaws.com"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b", "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso", "c2s.ic.gov"
	}
	return "aws", "amazonaws.com"
}
