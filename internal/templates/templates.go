// Package templates reads what stackfleet needs to know of a CloudFormation template before
// deploying it anywhere: its parameters (to check every instance's values once, up front), its
// resources (to describe creates in a plan) and the capabilities it needs.
//
// It is deliberately not a template evaluator: CloudFormation evaluates templates.
package templates

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
)

// Parameter is a declared template parameter.
type Parameter struct {
	Name           string
	Type           string
	Default        *string
	AllowedValues  []string
	AllowedPattern string
	MinLength      *int
	MaxLength      *int
	MinValue       *float64
	MaxValue       *float64
	NoEcho         bool
}

// Resource is a declared resource.
type Resource struct {
	LogicalID string
	Type      string
}

// Info is what a template declares.
type Info struct {
	Description  string
	Parameters   []Parameter
	Resources    []Resource // sorted by logical id
	Capabilities []string   // CAPABILITY_IAM / CAPABILITY_NAMED_IAM the template needs
	Outputs      []string   // declared output keys, sorted
}

// Parse reads a YAML or JSON template. CloudFormation's short-form tags (!Ref, !Sub…) are
// accepted; only the Parameters and Resources sections are interpreted.
func Parse(body []byte) (info *Info, err error) {
	defer func() {
		// goccy/go-yaml panics on some malformed input; that is a template error, not a crash.
		if r := recover(); r != nil {
			info, err = nil, fmt.Errorf("not a valid template: malformed YAML (%v)", r)
		}
	}()
	var raw struct {
		Description string                    `yaml:"Description" json:"Description"`
		Parameters  map[string]map[string]any `yaml:"Parameters" json:"Parameters"`
		Resources   map[string]map[string]any `yaml:"Resources" json:"Resources"`
		Outputs     map[string]any            `yaml:"Outputs" json:"Outputs"`
		Transform   any                       `yaml:"Transform" json:"Transform"`
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "{") {
		err = json.Unmarshal(body, &raw)
	} else {
		err = yaml.Unmarshal(body, &raw)
	}
	if err != nil {
		return nil, fmt.Errorf("not a valid template: %s", firstLine(err.Error()))
	}
	if len(raw.Resources) == 0 {
		return nil, fmt.Errorf("not a valid template: it declares no Resources")
	}
	if err := checkLimits(body, len(raw.Parameters), len(raw.Resources), len(raw.Outputs)); err != nil {
		return nil, err
	}
	// What CloudFormation's ValidateTemplate rejects (references to undeclared parameters,
	// resources or conditions, Fn::Sub variables, dependency cycles, malformed intrinsic
	// functions) is rejected here, once per template, before any instance is planned. A
	// template with a Transform (SAM, macros) is only valid after CloudFormation expands it.
	if raw.Transform == nil {
		if _, err := cfntemplate.Parse(body); err != nil {
			return nil, fmt.Errorf("not a valid template: %s", firstLine(err.Error()))
		}
	}
	info = &Info{Description: raw.Description}
	for name, decl := range raw.Parameters {
		p, err := parameter(name, decl)
		if err != nil {
			return nil, err
		}
		info.Parameters = append(info.Parameters, p)
	}
	slices.SortFunc(info.Parameters, func(a, b Parameter) int { return strings.Compare(a.Name, b.Name) })
	iam, named := false, false
	for id, decl := range raw.Resources {
		typ, _ := decl["Type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("not a valid template: resource %s has no Type", id)
		}
		if raw.Transform == nil {
			if err := checkType(id, typ); err != nil {
				return nil, err
			}
		}
		info.Resources = append(info.Resources, Resource{LogicalID: id, Type: typ})
		if strings.HasPrefix(typ, "AWS::IAM::") {
			iam = true
			props, _ := decl["Properties"].(map[string]any)
			for _, k := range []string{"RoleName", "ManagedPolicyName", "UserName", "GroupName", "InstanceProfileName"} {
				if _, ok := props[k]; ok {
					named = true
				}
			}
		}
	}
	slices.SortFunc(info.Resources, func(a, b Resource) int { return strings.Compare(a.LogicalID, b.LogicalID) })
	for k := range raw.Outputs {
		info.Outputs = append(info.Outputs, k)
	}
	slices.Sort(info.Outputs)
	switch {
	case named:
		info.Capabilities = []string{"CAPABILITY_NAMED_IAM"}
	case iam:
		info.Capabilities = []string{"CAPABILITY_IAM"}
	}
	return info, nil
}

// checkType refuses an AWS resource type CloudFormation does not have. Custom resources,
// modules and the types of other publishers (private or third-party registry types) are
// accepted: only their owner knows them.
func checkType(id, typ string) error {
	switch {
	case strings.HasPrefix(typ, "Custom::"), strings.HasSuffix(typ, "::MODULE"):
		return nil
	case !strings.HasPrefix(typ, "AWS::") && !strings.HasPrefix(typ, "Alexa::") && !strings.HasPrefix(typ, "AMZN::"):
		return nil
	}
	known, ok := cfntemplate.KnownType(typ)
	switch {
	case ok && known == typ:
		return nil
	case ok:
		return fmt.Errorf("not a valid template: resource %s has type %s: did you mean %s? (types are case-sensitive)", id, typ, known)
	}
	return fmt.Errorf("not a valid template: resource %s has type %s, which is not a CloudFormation resource type (check the spelling; the list is CloudFormation's resource specification)", id, typ)
}

// CloudFormation's template limits.
const (
	MaxBodyBytes  = 51_200    // a TemplateBody in the request (larger ones go through S3)
	MaxS3Bytes    = 1_000_000 // a template given by URL
	MaxResources  = cfntemplate.MaxResources
	MaxParameters = cfntemplate.MaxParameters
	MaxOutputs    = cfntemplate.MaxOutputs
)

func checkLimits(body []byte, params, resources, outputs int) error {
	switch {
	case len(body) > MaxS3Bytes:
		return fmt.Errorf("the template is %d bytes; CloudFormation accepts at most %d (through S3; %d in a request)", len(body), MaxS3Bytes, MaxBodyBytes)
	case resources > MaxResources:
		return fmt.Errorf("the template declares %d resources; CloudFormation allows at most %d (split it into nested stacks or several stack sets)", resources, MaxResources)
	case params > MaxParameters:
		return fmt.Errorf("the template declares %d parameters; CloudFormation allows at most %d", params, MaxParameters)
	case outputs > MaxOutputs:
		return fmt.Errorf("the template declares %d outputs; CloudFormation allows at most %d", outputs, MaxOutputs)
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func parameter(name string, decl map[string]any) (Parameter, error) {
	p := Parameter{Name: name}
	p.Type, _ = decl["Type"].(string)
	if p.Type == "" {
		return p, fmt.Errorf("not a valid template: parameter %s has no Type", name)
	}
	if d, ok := decl["Default"]; ok {
		s := scalar(d)
		p.Default = &s
	}
	if vs, ok := decl["AllowedValues"].([]any); ok {
		for _, v := range vs {
			p.AllowedValues = append(p.AllowedValues, scalar(v))
		}
	}
	p.AllowedPattern, _ = decl["AllowedPattern"].(string)
	p.NoEcho = scalar(decl["NoEcho"]) == "true"
	var err error
	if p.MinLength, err = intField(decl, "MinLength"); err != nil {
		return p, fmt.Errorf("parameter %s: %w", name, err)
	}
	if p.MaxLength, err = intField(decl, "MaxLength"); err != nil {
		return p, fmt.Errorf("parameter %s: %w", name, err)
	}
	if p.MinValue, err = floatField(decl, "MinValue"); err != nil {
		return p, fmt.Errorf("parameter %s: %w", name, err)
	}
	if p.MaxValue, err = floatField(decl, "MaxValue"); err != nil {
		return p, fmt.Errorf("parameter %s: %w", name, err)
	}
	return p, nil
}

func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = scalar(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

func intField(decl map[string]any, key string) (*int, error) {
	v, ok := decl[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(scalar(v))
	if err != nil {
		return nil, fmt.Errorf("%s %q is not an integer", key, scalar(v))
	}
	return &n, nil
}

func floatField(decl map[string]any, key string) (*float64, error) {
	v, ok := decl[key]
	if !ok {
		return nil, nil
	}
	f, err := strconv.ParseFloat(scalar(v), 64)
	if err != nil || math.IsNaN(f) {
		return nil, fmt.Errorf("%s %q is not a number", key, scalar(v))
	}
	return &f, nil
}

// Parameter returns the declared parameter with the given name.
func (info *Info) Parameter(name string) (Parameter, bool) {
	i := slices.IndexFunc(info.Parameters, func(p Parameter) bool { return p.Name == name })
	if i < 0 {
		return Parameter{}, false
	}
	return info.Parameters[i], true
}

// Problem is one way a set of parameter values does not fit the template. Param names the
// parameter; Undeclared is set when the value was given but the template does not declare it.
type Problem struct {
	Param      string
	Undeclared bool
	Message    string
}

// Check reports every way values do not fit the declared parameters, as CloudFormation would
// reject them: a required parameter missing, an undeclared one given, a value outside
// AllowedValues, not matching AllowedPattern, outside length or value bounds, not a number.
func (info *Info) Check(values map[string]string) []Problem {
	var out []Problem
	for _, name := range sortedKeys(values) {
		if _, ok := info.Parameter(name); !ok {
			out = append(out, Problem{Param: name, Undeclared: true,
				Message: fmt.Sprintf("parameter %s is not declared by the template", name)})
		}
	}
	for _, p := range info.Parameters {
		v, given := values[p.Name]
		if !given {
			if p.Default == nil {
				out = append(out, Problem{Param: p.Name, Message: fmt.Sprintf("parameter %s is required (the template gives no Default)", p.Name)})
			}
			continue
		}
		if msg := p.check(v); msg != "" {
			out = append(out, Problem{Param: p.Name, Message: fmt.Sprintf("parameter %s: %s", p.Name, msg)})
		}
	}
	return out
}

func (p Parameter) check(v string) string {
	shown := strconv.Quote(v)
	if p.NoEcho {
		shown = "(NoEcho value)"
	}
	items := []string{v}
	if p.Type == "CommaDelimitedList" || strings.HasPrefix(p.Type, "List<") {
		items = strings.Split(v, ",")
	}
	if strings.HasPrefix(p.Type, "AWS::SSM::Parameter::Value<") {
		return "" // the value is an SSM parameter name, resolved by CloudFormation
	}
	for _, item := range items {
		item = strings.TrimSpace(item)
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, item) {
			return fmt.Sprintf("value %s is not one of the AllowedValues [%s]", shown, strings.Join(p.AllowedValues, ", "))
		}
		if p.Type == "Number" || p.Type == "List<Number>" {
			f, err := strconv.ParseFloat(item, 64)
			if err != nil {
				return fmt.Sprintf("value %s is not a number", shown)
			}
			if p.MinValue != nil && f < *p.MinValue || p.MaxValue != nil && f > *p.MaxValue {
				return fmt.Sprintf("value %s is outside [%s, %s]", shown, bound(p.MinValue), bound(p.MaxValue))
			}
		}
	}
	if p.AllowedPattern != "" {
		re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
		if err == nil && !re.MatchString(v) {
			return fmt.Sprintf("value %s does not match AllowedPattern %s", shown, p.AllowedPattern)
		}
	}
	if p.MinLength != nil && len(v) < *p.MinLength {
		return fmt.Sprintf("value %s is shorter than MinLength %d", shown, *p.MinLength)
	}
	if p.MaxLength != nil && len(v) > *p.MaxLength {
		return fmt.Sprintf("value %s is longer than MaxLength %d", shown, *p.MaxLength)
	}
	return ""
}

func bound(f *float64) string {
	if f == nil {
		return "…"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Mask returns values with NoEcho parameters replaced by "****", for display.
func (info *Info) Mask(values map[string]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		if p, ok := info.Parameter(k); ok && p.NoEcho {
			v = "****"
		}
		out[k] = v
	}
	return out
}
