package cfn

import (
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// maxTemplateBody is CloudFormation's limit on TemplateBody.
const maxTemplateBody = 51200

// tmpl is a parsed template with what the engine derives from it once. It is immutable and
// shared by every stack deployed from the same body.
type tmpl struct {
	src           *cfntemplate.Template
	body          string
	description   string
	params        []cfntemplate.Parameter
	resources     map[string]*cfntemplate.Resource
	order         []string // creation order, conditions aside
	capabilities  []string
	capReason     string
	resourceTypes []string
	metadataJSON  string
	// hasImports is set when the template uses Fn::ImportValue, whose exports must exist
	// before an operation starts.
	hasImports bool
}

// metadata returns a resource's Metadata as JSON, or "".
func (t *tmpl) metadata(logical string) string {
	r := t.resources[logical]
	if r == nil || r.Metadata == nil {
		return ""
	}
	return jsonText(r.Metadata)
}

// identifierSummaries is GetTemplateSummary's ResourceIdentifierSummaries: the types whose
// instances have a name-like primary identifier the template can set.
func (t *tmpl) identifierSummaries() []any {
	var out []any
	byType := map[string][]any{}
	var types []string
	for _, r := range t.src.Resources {
		pv := providerFor(r.Type)
		if pv == nil || pv.nameProp == "" {
			continue
		}
		if _, ok := byType[r.Type]; !ok {
			types = append(types, r.Type)
		}
		byType[r.Type] = append(byType[r.Type], r.LogicalID)
	}
	for _, typ := range types {
		out = append(out, awsproto.Object{
			"ResourceType":        typ,
			"LogicalResourceIds":  byType[typ],
			"ResourceIdentifiers": []any{providerFor(typ).nameProp},
		})
	}
	return nonNil(out)
}

// templateCache memoizes parsing by body: fleets deploy one template to many stacks. Bodies
// are hashed outside the lock; entries are keyed by hash and compared by body.
type templateCache struct {
	seed maphash.Seed
	mu   sync.Mutex
	m    map[uint64][]cachedTemplate
	n    int
}

type cachedTemplate struct {
	body string
	t    *tmpl
	err  error
}

// maxCachedTemplates bounds the cache; stacks keep their own reference, so eviction only costs
// a re-parse.
const maxCachedTemplates = 1024

func (c *templateCache) init() {
	c.seed = maphash.MakeSeed()
	c.m = map[uint64][]cachedTemplate{}
}

func (c *templateCache) get(h uint64, body string) (cachedTemplate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ent := range c.m[h] {
		if ent.body == body {
			return ent, true
		}
	}
	return cachedTemplate{}, false
}

func (c *templateCache) put(h uint64, ent cachedTemplate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= maxCachedTemplates {
		for k, l := range c.m {
			c.n -= len(l)
			delete(c.m, k)
			break
		}
	}
	for _, old := range c.m[h] {
		if old.body == ent.body {
			return
		}
	}
	c.m[h] = append(c.m[h], ent)
	c.n++
}

// parseTemplate parses and validates body, with CloudFormation's ValidationError messages.
func (e *Engine) parseTemplate(body string) (*tmpl, error) {
	if body == "" {
		return nil, validationError("1 validation error detected: Value '' at 'templateBody' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	c := &e.templates
	h := maphash.String(c.seed, body)
	if ent, ok := c.get(h, body); ok {
		return ent.t, ent.err
	}
	t, err := buildTemplate(body)
	c.put(h, cachedTemplate{body: body, t: t, err: err})
	return t, err
}

// templateError converts a template package error into the API error.
func templateError(err error) error {
	var ve *cfntemplate.ValidationError
	if errors.As(err, &ve) {
		return validationError("%s", ve.Message)
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	return validationError("%s", err.Error())
}

func buildTemplate(body string) (*tmpl, error) {
	src, err := cfntemplate.Parse([]byte(body))
	if err != nil {
		return nil, templateError(err)
	}
	var unknown []string
	t := &tmpl{src: src, body: body, description: src.Description, params: src.Parameters, resources: map[string]*cfntemplate.Resource{}}
	for i := range src.Resources {
		r := &src.Resources[i]
		t.resources[r.LogicalID] = r
		if providerFor(r.Type) == nil && !slices.Contains(unknown, r.Type) {
			unknown = append(unknown, r.Type)
		}
		if !slices.Contains(t.resourceTypes, r.Type) {
			t.resourceTypes = append(t.resourceTypes, r.Type)
		}
	}
	if err := unsupportedTypes(unknown); err != nil {
		return nil, err
	}
	t.hasImports = strings.Contains(body, "ImportValue")
	if err := t.checkAttributes(); err != nil {
		return nil, err
	}
	if t.order, err = src.CreationOrder(); err != nil {
		return nil, templateError(err)
	}
	t.capabilities = src.Capabilities()
	t.capReason = src.CapabilitiesReason()
	if src.Metadata != nil {
		t.metadataJSON = jsonText(src.Metadata)
	}
	return t, nil
}

var subAttrRE = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}`)

// checkAttributes rejects Fn::GetAtt (and Fn::Sub ${R.Attr}) of attributes a resource type does
// not have, as CloudFormation does when it validates the template.
func (t *tmpl) checkAttributes() error {
	check := func(id, attr string) error {
		r := t.resources[id]
		if r == nil {
			return nil // the template package reports undefined resources
		}
		if pv := providerFor(r.Type); pv != nil && pv.attr(attr) == nil {
			return validationError("Template error: resource %s does not support attribute type %s in Fn::GetAtt", id, attr)
		}
		return nil
	}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			if arg, ok := x["Fn::GetAtt"]; ok && len(x) == 1 {
				switch a := arg.(type) {
				case string:
					if id, attr, ok := strings.Cut(a, "."); ok {
						if err := check(id, attr); err != nil {
							return err
						}
					}
				case []any:
					if len(a) == 2 {
						id, ok1 := a[0].(string)
						attr, ok2 := a[1].(string)
						if ok1 && ok2 {
							if err := check(id, attr); err != nil {
								return err
							}
						}
					}
				}
			}
			if arg, ok := x["Fn::Sub"]; ok && len(x) == 1 {
				s, _ := arg.(string)
				if l, ok := arg.([]any); ok && len(l) > 0 {
					s, _ = l[0].(string)
				}
				for _, m := range subAttrRE.FindAllStringSubmatchIndex(s, -1) {
					if m[0] > 0 && s[m[0]+1] == '!' {
						continue
					}
					if err := check(s[m[2]:m[3]], s[m[4]:m[5]]); err != nil {
						return err
					}
				}
			}
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, r := range t.src.Resources {
		if err := walk(r.Properties); err != nil {
			return err
		}
	}
	for _, o := range t.src.Outputs {
		if err := walk(o.Value); err != nil {
			return err
		}
	}
	return nil
}

// resolveParams computes a configuration's parameters: inputs over previous values (for
// UsePreviousValue) over defaults, checked against the template's constraints, with SSM
// parameter types resolved through Effects.
func (e *Engine) resolveParams(r *region, t *tmpl, inputs []paramInput, prev []paramValue, isUpdate bool) ([]paramValue, error) {
	given := map[string]string{}
	var usePrev []string
	for _, in := range inputs {
		if in.Key == "" {
			return nil, validationError("1 validation error detected: Value null at 'parameters.member.parameterKey' failed to satisfy constraint: Member must not be null")
		}
		if in.UsePrevious {
			if !isUpdate {
				return nil, validationError("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", in.Key)
			}
			usePrev = append(usePrev, in.Key)
			continue
		}
		given[in.Key] = in.Value
	}
	previous := map[string]string{}
	for _, p := range prev {
		previous[p.Key] = p.Value
	}
	vals, err := t.src.ResolveParameters(given, previous, usePrev, func(name string) (string, bool) {
		return e.fx.GetParameter(r.account, r.name, name)
	})
	if err != nil {
		return nil, templateError(err)
	}
	out := make([]paramValue, 0, len(t.params))
	for _, d := range t.params {
		v := vals[d.Name]
		out = append(out, paramValue{Key: d.Name, Value: v.Raw, Resolved: v.Resolved, NoEcho: v.NoEcho})
	}
	return out, nil
}

// paramEnv rebuilds the template package's parameter values from a configuration.
func paramEnv(t *tmpl, ps []paramValue) map[string]cfntemplate.Value {
	out := make(map[string]cfntemplate.Value, len(ps))
	for i, p := range ps {
		typ := ""
		if i < len(t.params) && t.params[i].Name == p.Key {
			typ = t.params[i].Type
		} else if d, ok := t.src.Parameter(p.Key); ok {
			typ = d.Type
		}
		raw := p.Value
		if p.Resolved != "" || strings.HasPrefix(typ, "AWS::SSM::Parameter::Value<") {
			raw = p.Resolved
			typ = strings.TrimSuffix(strings.TrimPrefix(typ, "AWS::SSM::Parameter::Value<"), ">")
		}
		var v any = raw
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			parts := strings.Split(raw, ",")
			l := make([]any, len(parts))
			for j, s := range parts {
				l[j] = strings.TrimSpace(s)
			}
			v = l
		}
		out[p.Key] = cfntemplate.Value{Raw: p.Value, Resolved: p.Resolved, Value: v, NoEcho: p.NoEcho}
	}
	return out
}

// importError is an Fn::ImportValue of a missing export; it is reported synchronously.
type importError struct{ name string }

func (e *importError) Error() string { return fmt.Sprintf("No export named %s found.", e.name) }

// evalEnv evaluates one configuration of a stack. Its methods are called with r.mu held.
type evalEnv struct {
	fx      Effects
	t       *tmpl
	r       *region
	s       *stack
	account string
	region  string
	env     cfntemplate.Env
	conds   map[string]bool
	imports []string

	// Planning: resources whose values are unknown until the operation runs, and the
	// provisional state of resources that will be updated in place.
	planning bool
	unknown  map[string]bool
	override map[string]*physical
}

func unknownMarker(what string) string { return "{{unknown " + what + "}}" }

// newEnv prepares evaluation of cfg for s: parameters, conditions and the references of
// conditional resources. r.mu is held.
func (e *Engine) newEnv(r *region, s *stack, cfg *stackConfig) (*evalEnv, error) {
	ev := &evalEnv{t: cfg.tmpl, r: r, s: s, account: r.account, region: r.name, fx: e.fx}
	ev.env = cfntemplate.Env{
		AccountID: r.account, Region: r.name, StackName: s.name, StackID: s.id,
		NotificationARNs: cfg.notificationARNs,
		Params:           paramEnv(cfg.tmpl, cfg.params),
		Ref:              ev.ref,
		GetAtt:           ev.getAtt,
		ImportValue:      ev.importValue,
	}
	conds, err := cfg.tmpl.src.EvalConditions(&ev.env)
	if err != nil {
		return nil, templateError(err)
	}
	ev.conds = conds
	ev.env.Conditions = conds
	if err := cfg.tmpl.src.CheckActive(conds); err != nil {
		return nil, templateError(err)
	}
	return ev, nil
}

// order returns the resources to create, in creation order.
func (ev *evalEnv) order() []string {
	out := make([]string, 0, len(ev.t.order))
	for _, id := range ev.t.order {
		if c := ev.t.resources[id].Condition; c != "" && !ev.conds[c] {
			continue
		}
		out = append(out, id)
	}
	return out
}

// lookup returns the physical resource behind a logical id for Ref/GetAtt, or a marker when it
// is unknown while planning.
func (ev *evalEnv) lookup(logical string) (*physical, string, error) {
	if ev.planning {
		if ev.unknown[logical] {
			return nil, unknownMarker(logical), nil
		}
		if p := ev.override[logical]; p != nil {
			return p, "", nil
		}
	}
	res := ev.s.res[logical]
	if res == nil || res.phys.ID == "" {
		if ev.planning {
			return nil, unknownMarker(logical), nil
		}
		return nil, "", fmt.Errorf("Template error: resource %s is not available", logical)
	}
	return &res.phys, "", nil
}

func (ev *evalEnv) ref(logical string) (any, error) {
	p, marker, err := ev.lookup(logical)
	if err != nil || marker != "" {
		return marker, err
	}
	return providerFor(ev.t.resources[logical].Type).refValue(ev.account, ev.region, p), nil
}

func (ev *evalEnv) getAtt(logical, attr string) (any, error) {
	decl := ev.t.resources[logical]
	f := providerFor(decl.Type).attr(attr)
	if f == nil {
		return nil, validationError("Template error: resource %s does not support attribute type %s in Fn::GetAtt", logical, attr)
	}
	p, marker, err := ev.lookup(logical)
	if err != nil || marker != "" {
		return marker, err
	}
	v := f(ev.account, ev.region, p)
	if e, ok := v.(attrError); ok {
		return nil, e
	}
	return v, nil
}

func (ev *evalEnv) importValue(name string) (string, error) {
	ex := ev.r.exports[name]
	if ex == nil {
		return "", &importError{name}
	}
	if !slices.Contains(ev.imports, name) {
		ev.imports = append(ev.imports, name)
	}
	return ex.value, nil
}

// props evaluates a resource's properties.
func (ev *evalEnv) props(logical string) (map[string]any, error) {
	m, err := ev.t.src.EvalProperties(ev.t.resources[logical], &ev.env)
	if err != nil {
		return nil, evalError(err)
	}
	if m == nil {
		m = map[string]any{}
	}
	if !ev.planning {
		// As on AWS, a change set shows dynamic references as written; they are resolved when
		// the resource is created or updated.
		v, err := resolveDynamic(m, func(name string) (string, bool) { return ev.fx.GetParameter(ev.account, ev.region, name) })
		if err != nil {
			return nil, err
		}
		m = v.(map[string]any)
	}
	return m, nil
}

// dynamicRef matches the dynamic references the sandbox resolves: {{resolve:ssm:NAME}},
// {{resolve:ssm:NAME:VERSION}} and the same with ssm-secure.
var dynamicRef = regexp.MustCompile(`\{\{resolve:(ssm|ssm-secure):([a-zA-Z0-9_.\-/]+)(?::(\d+))?\}\}`)

// resolveDynamic replaces the SSM dynamic references in the string values of v with the
// parameters' values (the latest version; a version suffix is accepted).
func resolveDynamic(v any, get func(name string) (string, bool)) (any, error) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "{{resolve:") {
			return x, nil
		}
		var missing []string
		out := dynamicRef.ReplaceAllStringFunc(x, func(ref string) string {
			name := dynamicRef.FindStringSubmatch(ref)[2]
			val, ok := get(name)
			if !ok {
				missing = append(missing, name)
			}
			return val
		})
		if len(missing) > 0 {
			return nil, validationError("Unable to fetch parameters [%s] from parameter store for this account.", strings.Join(missing, ","))
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := resolveDynamic(e, get)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolveDynamic(e, get)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// outputs evaluates the outputs.
func (ev *evalEnv) outputs() ([]outputValue, error) {
	outs, err := ev.t.src.EvalOutputs(&ev.env)
	if err != nil {
		return nil, evalError(err)
	}
	out := make([]outputValue, len(outs))
	for i, o := range outs {
		out[i] = outputValue{Key: o.Key, Value: o.Value, Description: o.Description, ExportName: o.ExportName}
	}
	return out, nil
}

func evalError(err error) error {
	var ie *importError
	if errors.As(err, &ie) {
		return validationError("%s", ie.Error())
	}
	return templateError(err)
}

// isImportError reports whether err is a missing export, which planning reports at once.
func isImportError(err error) bool {
	var ae *awsproto.Error
	return errors.As(err, &ae) && strings.HasPrefix(ae.Message, "No export named ")
}

// unsupportedTypes is the error for resource types the sandbox has no provider for: the real
// CloudFormation types it does not simulate are named as such (see RESOURCES.md), apart from
// the types CloudFormation itself does not know, which it reports as AWS does.
func unsupportedTypes(types []string) error {
	var real, unknown []string
	for _, typ := range types {
		if canonical, ok := cfntemplate.KnownType(typ); ok && canonical == typ {
			real = append(real, typ)
		} else {
			unknown = append(unknown, typ)
		}
	}
	switch {
	case len(unknown) > 0:
		return validationError("Template format error: Unrecognized resource types: [%s]", strings.Join(unknown, ", "))
	case len(real) > 0:
		return validationError("Template format error: the sandbox does not simulate the resource types [%s] (they are CloudFormation types, but the sandbox has no provider for them; internal/sandbox/RESOURCES.md lists those it has)", strings.Join(real, ", "))
	}
	return nil
}
