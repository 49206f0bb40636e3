// Package cfntemplate parses, validates and evaluates CloudFormation templates: stackfleet
// validates every template with it before planning, and the sandbox's CloudFormation engine
// deploys with it.
//
// Parse accepts JSON or YAML (including the short-form function tags), checks what
// ValidateTemplate checks and returns an immutable *Template. The engine then resolves the
// stack's parameters (ResolveParameters), evaluates conditions (EvalConditions), checks the
// template against them as CreateStack does (CheckActive), orders resources (CreationOrder,
// Skipped) and evaluates each resource's properties and the outputs (Eval, EvalProperties,
// EvalOutputs) against an Env that supplies pseudo parameters and the physical values of
// resources already created.
//
// Every template or parameter error is a *ValidationError whose Message is worded the way
// CloudFormation words it, so the engine can return it unchanged as an AWS ValidationError.
//
// Values in a template tree are map[string]any, []any, string, int64, float64 and bool; numbers
// keep the type they were written with (int64 for integers).
package cfntemplate

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// Template is a parsed and structurally valid template. It is immutable after Parse, so one
// Template may be shared by concurrent stack operations.
type Template struct {
	// Body is the template exactly as submitted, for GetTemplate.
	Body []byte
	// FormatVersion is AWSTemplateFormatVersion, or "" when absent.
	FormatVersion string
	Description   string
	// Metadata is the top-level Metadata section (raw tree), or nil.
	Metadata any
	// Parameters are in declaration order.
	Parameters []Parameter
	// Mappings is MapName → TopLevelKey → SecondLevelKey → value.
	Mappings map[string]map[string]map[string]any
	// Conditions maps each condition name to its raw expression; ConditionNames keeps
	// declaration order.
	Conditions     map[string]any
	ConditionNames []string
	// Resources and Outputs are in declaration order.
	Resources []Resource
	Outputs   []Output
	// Rules are in declaration order.
	Rules []Rule

	resIndex   map[string]int
	paramIndex map[string]int
	deps       map[string][]string
}

// Parameter is one declared template parameter.
type Parameter struct {
	Name string
	// Type is the declared type, e.g. "String", "List<Number>",
	// "AWS::SSM::Parameter::Value<String>" or "AWS::EC2::KeyPair::KeyName".
	Type string
	// Default is meaningful only when HasDefault is set (an empty default is a valid default).
	Default        string
	HasDefault     bool
	AllowedValues  []string
	AllowedPattern string
	// MinLength, MaxLength, MinValue and MaxValue are nil when not declared.
	MinLength             *int
	MaxLength             *int
	MinValue              *float64
	MaxValue              *float64
	NoEcho                bool
	Description           string
	ConstraintDescription string

	pattern *regexp.Regexp // compiled AllowedPattern, nil when absent or not expressible in RE2
}

// Resource is one entry of the Resources section.
type Resource struct {
	LogicalID string
	Type      string
	// Properties is the raw property tree (intrinsic functions unevaluated), nil when absent.
	Properties map[string]any
	// Metadata is the raw resource Metadata, nil when absent.
	Metadata            any
	DependsOn           []string
	Condition           string
	DeletionPolicy      string
	UpdateReplacePolicy string
}

// Output is one entry of the Outputs section.
type Output struct {
	Key string
	// Value and ExportName are raw trees; ExportName is nil when the output is not exported.
	Value       any
	Description string
	Condition   string
	ExportName  any
}

// pseudoParams are the names Ref accepts besides parameters and resources.
var pseudoParams = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

// functions are the intrinsic function keys the sandbox evaluates. "Condition" is only a
// function inside condition expressions.
var functions = map[string]bool{
	"Ref": true, "Fn::Base64": true, "Fn::Cidr": true, "Fn::And": true, "Fn::Equals": true,
	"Fn::If": true, "Fn::Not": true, "Fn::Or": true, "Fn::FindInMap": true, "Fn::GetAtt": true,
	"Fn::GetAZs": true, "Fn::ImportValue": true, "Fn::Join": true, "Fn::Select": true,
	"Fn::Split": true, "Fn::Sub": true,
}

var sections = []string{
	"AWSTemplateFormatVersion", "Conditions", "Description", "Mappings", "Metadata", "Outputs",
	"Parameters", "Resources", "Rules", "Transform",
}

var resourceAttrs = map[string]bool{
	"Type": true, "Properties": true, "DependsOn": true, "Condition": true, "DeletionPolicy": true,
	"UpdateReplacePolicy": true, "Metadata": true, "CreationPolicy": true, "UpdatePolicy": true,
	"Version": true, "Description": true,
}

var paramAttrs = map[string]bool{
	"Type": true, "Default": true, "AllowedValues": true, "AllowedPattern": true, "MinLength": true,
	"MaxLength": true, "MinValue": true, "MaxValue": true, "NoEcho": true, "Description": true,
	"ConstraintDescription": true,
}

// Parse decodes and validates a template body the way CloudFormation's ValidateTemplate does.
// All errors are *ValidationError.
func Parse(body []byte) (*Template, error) {
	raw, err := decode(body)
	if err != nil {
		return nil, err
	}
	root, ok := raw.(*omap)
	if !ok {
		return nil, errorf("Template format error: unsupported structure.")
	}
	if err := checkNulls(root, ""); err != nil {
		return nil, err
	}
	var unknown []string
	for _, k := range root.keys {
		if !slices.Contains(sections, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, errorf("Template format error: Invalid template property or properties %s", list(unknown))
	}
	if _, ok := root.vals["Transform"]; ok {
		return nil, errTransform()
	}

	t := &Template{Body: slices.Clone(body), resIndex: map[string]int{}, paramIndex: map[string]int{}}
	if v, ok := root.vals["AWSTemplateFormatVersion"]; ok {
		s, _ := v.(string)
		if s != "2010-09-09" {
			return nil, errorf("Template format error: unsupported value for AWSTemplateFormatVersion.")
		}
		t.FormatVersion = s
	}
	if v, ok := root.vals["Description"]; ok {
		s, ok := scalarString(v)
		if !ok {
			return nil, errorf("Template format error: Every Description member must be a string.")
		}
		t.Description = s
	}
	if v, ok := root.vals["Metadata"]; ok {
		t.Metadata = plain(v)
	}
	steps := []func(*omap) error{t.parseParameters, t.parseMappings, t.parseConditions, t.parseResources, t.parseOutputs, t.parseRules}
	for _, step := range steps {
		if err := step(root); err != nil {
			return nil, err
		}
	}
	if err := t.checkLimits(); err != nil {
		return nil, err
	}
	for _, r := range t.Resources {
		if _, ok := t.paramIndex[r.LogicalID]; ok {
			return nil, errorf("Template format error: Parameter and resource names must be unique: %s", r.LogicalID)
		}
	}
	if err := t.validateReferences(); err != nil {
		return nil, err
	}
	if _, err := t.CreationOrder(); err != nil {
		return nil, err
	}
	return t, nil
}

// checkNulls rejects YAML/JSON nulls anywhere in the template, as CloudFormation does, naming
// the first offending path.
func checkNulls(v any, path string) error {
	switch v := v.(type) {
	case nil:
		if path == "" {
			path = "/"
		}
		return errorf("Template format error: [%s] 'null' values are not allowed in templates", path)
	case *omap:
		for _, k := range v.keys {
			if err := checkNulls(v.vals[k], path+"/"+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := checkNulls(e, path+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func alphanumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// section returns a top-level section as an ordered map; absent sections are empty.
func section(root *omap, name string) (*omap, error) {
	v, ok := root.vals[name]
	if !ok {
		return newOmap(), nil
	}
	m, ok := v.(*omap)
	if !ok {
		return nil, errorf("Template format error: %s must be a map", name)
	}
	return m, nil
}

func (t *Template) parseParameters(root *omap) error {
	params, err := section(root, "Parameters")
	if err != nil {
		return err
	}
	for _, name := range params.keys {
		if !alphanumeric(name) {
			return errorf("Template format error: Parameter name %s is non alphanumeric.", name)
		}
		def, ok := params.vals[name].(*omap)
		if !ok {
			return errorf("Template format error: Every Parameters member must be an object.")
		}
		for _, k := range def.keys {
			if !paramAttrs[k] {
				return errorf("Template format error: Invalid template parameter property '%s'", k)
			}
		}
		p := Parameter{Name: name}
		typ, ok := def.vals["Type"].(string)
		if !ok {
			return errorf("Template format error: Every Parameters object must contain a Type member.")
		}
		if !validParamType(typ) {
			return errorf("Template format error: Unrecognized parameter type: %s", typ)
		}
		p.Type = typ
		if v, ok := def.vals["Default"]; ok {
			s, ok := scalarString(v)
			if !ok {
				if l, isList := v.([]any); isList && isListType(typ) {
					s, ok = joinScalars(l)
				}
			}
			if !ok {
				return errorf("Template format error: Every Default member must be a string.")
			}
			p.Default, p.HasDefault = s, true
		}
		if v, ok := def.vals["AllowedValues"]; ok {
			l, ok := v.([]any)
			if !ok {
				return errorf("Template format error: Every AllowedValues member must be a list.")
			}
			for _, e := range l {
				s, ok := scalarString(e)
				if !ok {
					return errorf("Template format error: Every AllowedValues value must be a string.")
				}
				p.AllowedValues = append(p.AllowedValues, s)
			}
		}
		for _, f := range []struct {
			attr string
			dst  *string
		}{{"AllowedPattern", &p.AllowedPattern}, {"Description", &p.Description}, {"ConstraintDescription", &p.ConstraintDescription}} {
			attr, dst := f.attr, f.dst
			if v, ok := def.vals[attr]; ok {
				s, ok := scalarString(v)
				if !ok {
					return errorf("Template format error: Every %s member must be a string.", attr)
				}
				*dst = s
			}
		}
		if p.AllowedPattern != "" {
			re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
			if err != nil && !javaOnlySyntax(err) {
				return errorf("Template format error: Parameter '%s' AllowedPattern must be a valid regular expression.", name)
			}
			p.pattern = re
		}
		for _, f := range []struct {
			attr string
			dst  **int
		}{{"MinLength", &p.MinLength}, {"MaxLength", &p.MaxLength}} {
			attr, dst := f.attr, f.dst
			if v, ok := def.vals[attr]; ok {
				f, ok := numeric(v)
				if !ok || f != float64(int(f)) {
					return errorf("Template format error: Parameter '%s' %s must be an integer.", name, attr)
				}
				n := int(f)
				*dst = &n
			}
		}
		for _, f := range []struct {
			attr string
			dst  **float64
		}{{"MinValue", &p.MinValue}, {"MaxValue", &p.MaxValue}} {
			attr, dst := f.attr, f.dst
			if v, ok := def.vals[attr]; ok {
				f, ok := numeric(v)
				if !ok {
					return errorf("Template format error: Parameter '%s' %s must be a number.", name, attr)
				}
				*dst = &f
			}
		}
		if v, ok := def.vals["NoEcho"]; ok {
			s, _ := scalarString(v)
			p.NoEcho = strings.EqualFold(s, "true")
		}
		t.paramIndex[name] = len(t.Parameters)
		t.Parameters = append(t.Parameters, p)
	}
	return nil
}

// javaOnlySyntax reports whether a pattern failed to compile only because it uses Java regex
// features RE2 lacks (lookaround, backreferences, possessive quantifiers). Such patterns are
// valid in CloudFormation, so they are accepted and not enforced rather than rejected.
func javaOnlySyntax(err error) bool {
	se, ok := err.(*syntax.Error)
	if !ok {
		return false
	}
	switch se.Code {
	case syntax.ErrInvalidPerlOp, syntax.ErrInvalidEscape, syntax.ErrInvalidRepeatOp:
		return true
	}
	return false
}

// numeric accepts a number or a numeric string, as CloudFormation does for constraint bounds.
func numeric(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	return 0, false
}

func joinScalars(l []any) (string, bool) {
	parts := make([]string, len(l))
	for i, e := range l {
		s, ok := scalarString(e)
		if !ok {
			return "", false
		}
		parts[i] = s
	}
	return strings.Join(parts, ","), true
}

// awsSpecificTypes are the AWS-specific parameter types; the sandbox treats them as String
// (and List<…> of them as CommaDelimitedList) without checking the named resources exist.
var awsSpecificTypes = map[string]bool{
	"AWS::EC2::AvailabilityZone::Name": true, "AWS::EC2::Image::Id": true, "AWS::EC2::Instance::Id": true,
	"AWS::EC2::KeyPair::KeyName": true, "AWS::EC2::SecurityGroup::GroupName": true,
	"AWS::EC2::SecurityGroup::Id": true, "AWS::EC2::Subnet::Id": true, "AWS::EC2::Volume::Id": true,
	"AWS::EC2::VPC::Id": true, "AWS::Route53::HostedZone::Id": true,
}

func validParamType(typ string) bool {
	switch typ {
	case "String", "Number", "List<Number>", "CommaDelimitedList", "AWS::SSM::Parameter::Name":
		return true
	}
	if inner, ok := ssmInner(typ); ok {
		switch inner {
		case "String", "List<String>", "CommaDelimitedList":
			return true
		}
		if l, ok := listInner(inner); ok {
			return awsSpecificTypes[l]
		}
		return awsSpecificTypes[inner]
	}
	if l, ok := listInner(typ); ok {
		return awsSpecificTypes[l]
	}
	return awsSpecificTypes[typ]
}

// ssmInner returns T of AWS::SSM::Parameter::Value<T>.
func ssmInner(typ string) (string, bool) {
	s, ok := strings.CutPrefix(typ, "AWS::SSM::Parameter::Value<")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(s, ">")
}

func listInner(typ string) (string, bool) {
	s, ok := strings.CutPrefix(typ, "List<")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(s, ">")
}

// isListType reports whether Ref to a parameter of this type yields a list.
func isListType(typ string) bool {
	if inner, ok := ssmInner(typ); ok {
		typ = inner
	}
	_, isList := listInner(typ)
	return isList || typ == "CommaDelimitedList"
}

func (t *Template) parseMappings(root *omap) error {
	maps, err := section(root, "Mappings")
	if err != nil {
		return err
	}
	t.Mappings = map[string]map[string]map[string]any{}
	for _, name := range maps.keys {
		top, ok := maps.vals[name].(*omap)
		if !ok {
			return errorf("Template format error: Every Mappings member %s must be a map", name)
		}
		m := map[string]map[string]any{}
		for _, k := range top.keys {
			second, ok := top.vals[k].(*omap)
			if !ok {
				return errorf("Template format error: Every Mappings member %s must be a map", k)
			}
			attrs := map[string]any{}
			for _, a := range second.keys {
				v := second.vals[a]
				if _, isMap := v.(*omap); isMap {
					return errorf("Template format error: Every Mappings attribute must be a String or a List.")
				}
				attrs[a] = plain(v)
			}
			m[k] = attrs
		}
		t.Mappings[name] = m
	}
	return nil
}

// conditionFunctions may head a condition expression.
var conditionFunctions = map[string]bool{"Fn::And": true, "Fn::Equals": true, "Fn::Not": true, "Fn::Or": true, "Condition": true}

func (t *Template) parseConditions(root *omap) error {
	conds, err := section(root, "Conditions")
	if err != nil {
		return err
	}
	t.Conditions = map[string]any{}
	for _, name := range conds.keys {
		expr := plain(conds.vals[name])
		m, ok := expr.(map[string]any)
		if !ok || len(m) != 1 || !conditionFunctions[sortedKeys(m)[0]] {
			return errNotBoolean()
		}
		t.Conditions[name] = expr
		t.ConditionNames = append(t.ConditionNames, name)
	}
	return nil
}

func (t *Template) parseResources(root *omap) error {
	v, ok := root.vals["Resources"]
	res, isMap := v.(*omap)
	if !ok || !isMap || len(res.keys) == 0 {
		return errorf("Template format error: At least one Resources member must be defined.")
	}
	for _, id := range res.keys {
		if !alphanumeric(id) {
			return errorf("Template format error: Resource name %s is non alphanumeric.", id)
		}
		def, ok := res.vals[id].(*omap)
		if !ok {
			return errorf("Template format error: [/Resources/%s] resource definition is malformed", id)
		}
		typ, ok := def.vals["Type"].(string)
		if !ok || typ == "" {
			return errorf("Template format error: Every Resources object must contain a Type member.")
		}
		for _, k := range def.keys {
			if !resourceAttrs[k] {
				return errorf("Template format error: Invalid template resource property '%s'", k)
			}
		}
		r := Resource{LogicalID: id, Type: typ}
		if p, ok := def.vals["Properties"]; ok {
			pm, ok := plain(p).(map[string]any)
			if !ok {
				return errorf("Template format error: [/Resources/%s/Properties] Properties must be an object", id)
			}
			r.Properties = pm
		}
		if m, ok := def.vals["Metadata"]; ok {
			r.Metadata = plain(m)
		}
		if d, ok := def.vals["DependsOn"]; ok {
			switch d := d.(type) {
			case string:
				r.DependsOn = []string{d}
			case []any:
				for _, e := range d {
					s, ok := e.(string)
					if !ok {
						return errorf("Template format error: DependsOn must be a string or list of strings.")
					}
					r.DependsOn = append(r.DependsOn, s)
				}
			default:
				return errorf("Template format error: DependsOn must be a string or list of strings.")
			}
		}
		if c, ok := def.vals["Condition"]; ok {
			s, ok := c.(string)
			if !ok {
				return errorf("Template format error: Every Condition member must be a string.")
			}
			if _, defined := t.Conditions[s]; !defined {
				return errorf("Template format error: Condition %s is not defined.", s)
			}
			r.Condition = s
		}
		for _, f := range []struct {
			attr    string
			allowed []string
			dst     *string
		}{
			{"DeletionPolicy", []string{"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}, &r.DeletionPolicy},
			{"UpdateReplacePolicy", []string{"Delete", "Retain", "Snapshot"}, &r.UpdateReplacePolicy},
		} {
			v, ok := def.vals[f.attr]
			if !ok {
				continue
			}
			s, _ := v.(string)
			if !slices.Contains(f.allowed, s) {
				return errorf("Template format error: Unrecognized %s %s for resource %s", f.attr, fmt.Sprint(plain(v)), id)
			}
			*f.dst = s
		}
		t.resIndex[id] = len(t.Resources)
		t.Resources = append(t.Resources, r)
	}
	return nil
}

func (t *Template) parseOutputs(root *omap) error {
	outs, err := section(root, "Outputs")
	if err != nil {
		return err
	}
	for _, key := range outs.keys {
		if !alphanumeric(key) {
			return errorf("Template format error: Output %s is malformed. The Output name must be alphanumeric.", key)
		}
		def, ok := outs.vals[key].(*omap)
		if !ok {
			return errorf("Template format error: Every Outputs member must contain a Value object")
		}
		for _, k := range def.keys {
			switch k {
			case "Value", "Description", "Condition", "Export":
			default:
				return errorf("Template format error: Invalid outputs property : [%s]", k)
			}
		}
		v, ok := def.vals["Value"]
		if !ok {
			return errorf("Template format error: Every Outputs member must contain a Value object")
		}
		o := Output{Key: key, Value: plain(v)}
		if d, ok := def.vals["Description"]; ok {
			s, ok := scalarString(d)
			if !ok {
				return errorf("Template format error: Every Description member must be a string.")
			}
			o.Description = s
		}
		if c, ok := def.vals["Condition"]; ok {
			s, ok := c.(string)
			if !ok {
				return errorf("Template format error: Every Condition member must be a string.")
			}
			if _, defined := t.Conditions[s]; !defined {
				return errorf("Template format error: Condition %s is not defined.", s)
			}
			o.Condition = s
		}
		if e, ok := def.vals["Export"]; ok {
			em, ok := e.(*omap)
			if !ok {
				return errorf("Template format error: Output %s is malformed. Export must contain a Name.", key)
			}
			name, ok := em.vals["Name"]
			if !ok {
				return errorf("Template format error: Output %s is malformed. Export must contain a Name.", key)
			}
			o.ExportName = plain(name)
		}
		t.Outputs = append(t.Outputs, o)
	}
	return nil
}

// Resource returns the resource with the given logical ID. The Resource belongs to the
// Template and must not be modified.
func (t *Template) Resource(logicalID string) (*Resource, bool) {
	i, ok := t.resIndex[logicalID]
	if !ok {
		return nil, false
	}
	return &t.Resources[i], true
}

// Parameter returns the declared parameter with the given name. The Parameter belongs to the
// Template and must not be modified.
func (t *Template) Parameter(name string) (*Parameter, bool) {
	i, ok := t.paramIndex[name]
	if !ok {
		return nil, false
	}
	return &t.Parameters[i], true
}

// CloudFormation's quotas on one template.
const (
	MaxResources  = 500
	MaxParameters = 200
	MaxOutputs    = 200
	MaxMappings   = 200
)

func (t *Template) checkLimits() error {
	for _, q := range []struct {
		what     string
		n, limit int
	}{
		{"resources", len(t.Resources), MaxResources},
		{"parameters", len(t.Parameters), MaxParameters},
		{"outputs", len(t.Outputs), MaxOutputs},
		{"mappings", len(t.Mappings), MaxMappings},
	} {
		if q.n > q.limit {
			return errorf("Template format error: Number of %s, %d, is greater than maximum allowed, %d", q.what, q.n, q.limit)
		}
	}
	return nil
}
