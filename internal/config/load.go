package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Error is one problem in a configuration file, located at File:Line:Column; Field is the path
// of the offending field (e.g. stackSets[0].rollout.maxConcurrentPercentage).
type Error struct {
	File         string
	Line, Column int
	Field        string
	Message      string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", loc, e.Message)
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// File is a loaded, validated configuration and where it came from.
type File struct {
	Config
	// Path is the file as given; Dir is its directory, against which relative paths resolve.
	Path, Dir string
	// Source is the raw content (its hash pins plans to the config they were made from).
	Source []byte
	ast    *ast.File
}

// Load reads and validates a configuration file. Its error is an Errors value listing every
// problem with its position, or a plain error when the file cannot be read.
func Load(path string) (*File, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > MaxConfigBytes {
		return nil, Errors{{File: path, Message: fmt.Sprintf("the configuration is %d bytes; it may be at most %d (4 MiB)", fi.Size(), MaxConfigBytes)}}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src)
}

// ReservedPrefix starts the names of stackfleet's own stack sets (bootstrap's).
const ReservedPrefix = "stackfleet-"

var (
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	roleARNPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
)

// MaxConfigBytes bounds a configuration file: far above any real one, low enough that a wrong
// file does not exhaust memory.
const MaxConfigBytes = 4 << 20

// Parse validates configuration source; path is used in errors and to resolve relative paths.
func Parse(path string, src []byte) (f *File, err error) {
	defer func() {
		// goccy/go-yaml panics on some malformed input; that is a YAML error, not a crash.
		if r := recover(); r != nil {
			f, err = nil, Errors{{File: path, Message: fmt.Sprintf("not valid YAML (%v)", r)}}
		}
	}()
	f = &File{Path: path, Dir: filepath.Dir(path), Source: src}
	tree, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, Errors{yamlError(path, err)}
	}
	if len(tree.Docs) == 0 || tree.Docs[0] == nil || tree.Docs[0].Body == nil {
		return nil, Errors{{File: path, Message: "the configuration is empty: it needs at least 'version: 1' and stackSets or pipelines " +
			"(examples/stackfleet.yaml is a start; 'stackfleet schema' prints every field)"}}
	}
	f.ast = tree
	if err := yaml.UnmarshalWithOptions(src, &f.Config, yaml.Strict()); err != nil {
		return nil, Errors{yamlError(path, err)}
	}
	if errs := f.validate(); len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

func yamlError(path string, err error) *Error {
	e := &Error{File: path, Message: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Message = ye.GetMessage()
		if tok := ye.GetToken(); tok != nil && tok.Position != nil {
			e.Line, e.Column = tok.Position.Line, tok.Position.Column
		}
	}
	if m := typeError.FindStringSubmatch(e.Message); m != nil {
		e.Message = fmt.Sprintf("expected %s, got %s", goTypeName(m[2]), article(m[1]))
	}
	if strings.Contains(e.Message, "unknown field") {
		e.Message += " (see `stackfleet schema` for the fields)"
	}
	return e
}

var typeError = regexp.MustCompile(`^cannot unmarshal (\S+) into Go (?:struct field \S+|value) of type (\S+)`)

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "*"):
		return goTypeName(t[1:])
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "config."):
		return "a mapping"
	}
	return t
}

func article(s string) string {
	switch s {
	case "array", "sequence":
		return "a list"
	case "mapping", "map", "object":
		return "a mapping"
	}
	return "a " + s
}

// errorAt builds an Error positioned at the YAML node of field (a path like
// stackSets[0].rollout.mode), or at its nearest existing parent.
// ErrorAt is an error about a field of the configuration (a YAML path such as
// "stackSets[0].targets.regions"), located at the field's line, or its nearest parent's.
func (f *File) ErrorAt(field, format string, args ...any) *Error {
	return f.errorAt(field, format, args...)
}

func (f *File) errorAt(field, format string, args ...any) *Error {
	e := &Error{File: f.Path, Field: field, Message: fmt.Sprintf(format, args...)}
	for p := field; p != ""; p = parentPath(p) {
		if line, col, ok := f.position(p); ok {
			e.Line, e.Column = line, col
			break
		}
	}
	return e
}

var indexSuffix = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

func splitPath(field string) []string { return strings.Split(field, ".") }

func parentPath(field string) string {
	if i := strings.LastIndexAny(field, ".["); i > 0 {
		return field[:i]
	}
	return ""
}

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`)
	accountID     = regexp.MustCompile(`^\d{12}$`)
)

func isLocalHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasSuffix(h, ".localhost")
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (f *File) validate() Errors {
	var errs Errors
	add := func(field, format string, args ...any) { errs = append(errs, f.errorAt(field, format, args...)) }
	c := &f.Config

	if c.Version != 1 {
		add("version", "must be 1 (got %d)", c.Version)
	}
	switch c.Organization.Source {
	case "aws":
		if c.Organization.File != "" {
			add("organization.file", "only used with source: file")
		}
	case "file":
		if c.Organization.File == "" {
			add("organization.file", "source file needs a file: the static inventory")
		}
	case "":
		add("organization.source", "missing: aws or file")
	default:
		add("organization.source", "%q: use aws or file", c.Organization.Source)
	}
	for i, r := range c.Regions {
		if !regionPattern.MatchString(r) {
			add(fmt.Sprintf("regions[%d]", i), "%q is not a region name like us-east-1", r)
		}
	}
	for i, e := range c.Exports {
		at := fmt.Sprintf("exports[%d]", i)
		if !slices.ContainsFunc(c.StackSets, func(s StackSet) bool { return s.Name == e.StackSet }) {
			add(at+".stackSet", "%q is not a stack set of this configuration", e.StackSet)
		}
		if !strings.HasPrefix(e.To, "ssm:/") && !strings.HasSuffix(e.To, ".json") {
			add(at+".to", "%q: use ssm:/prefix or a FILE.json", e.To)
		}
		if e.Account != "" && !accountID.MatchString(e.Account) {
			add(at+".account", "%q is not a 12-digit account id", e.Account)
		}
		if e.Region != "" && !regionPattern.MatchString(e.Region) {
			add(at+".region", "%q is not a region name like us-east-1", e.Region)
		}
	}
	kinds := []string{"failure", "rollback", "approval", "releaseFinished", "operationFinished"}
	seenNames := map[string]bool{}
	for i, n := range c.Notifications {
		at := fmt.Sprintf("notifications[%d]", i)
		switch {
		case n.Name == "":
			add(at+".name", "missing: a name for messages")
		case seenNames[n.Name]:
			add(at+".name", "%q is used by another notification", n.Name)
		}
		seenNames[n.Name] = true
		switch {
		case (n.URL == "") == (n.URLEnv == ""):
			add(at+".url", "give url or urlEnv (one of them)")
		case n.URL != "":
			if u, err := url.Parse(n.URL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLocalHost(u.Hostname()))) {
				add(at+".url", "not an https URL (http is allowed only for localhost)")
			}
		}
		if n.Format != "" && n.Format != "json" && n.Format != "slack" {
			add(at+".format", "%q: use json or slack", n.Format)
		}
		for j, k := range n.Events {
			if !slices.Contains(kinds, k) {
				add(fmt.Sprintf("%s.events[%d]", at, j), "%q: use %s", k, strings.Join(kinds, ", "))
			}
		}
		for j, name := range n.StackSets {
			if !slices.ContainsFunc(c.StackSets, func(s StackSet) bool { return s.Name == name }) {
				add(fmt.Sprintf("%s.stackSets[%d]", at, j), "%q is not a stack set of this configuration", name)
			}
		}
		for j, name := range n.Pipelines {
			if !slices.ContainsFunc(c.Pipelines, func(p Pipeline) bool { return p.Name == name }) {
				add(fmt.Sprintf("%s.pipelines[%d]", at, j), "%q is not a pipeline of this configuration", name)
			}
		}
	}
	if p := c.Artifacts.Bucket; p != "" {
		name := strings.NewReplacer("{region}", "us-east-1", "{account}", "123456789012").Replace(p)
		switch {
		case !strings.Contains(p, "{region}"):
			add("artifacts.bucket", "%q must contain {region}: CloudFormation reads a TemplateURL only from a bucket in the stack's region", p)
		case !bucketName.MatchString(name) || strings.Contains(name, ".."):
			add("artifacts.bucket", "%q does not make an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)", p)
		}
	}
	errs = append(errs, f.validateExecutor()...)
	b := c.Bootstrap
	if b.AccessRole != "" && !roleNamePattern.MatchString(b.AccessRole) {
		add("bootstrap.accessRole", "%q is not a role name like OrganizationAccountAccessRole", b.AccessRole)
	}
	if p := b.TrustedPrincipal; p != "" && !accountID.MatchString(p) && !roleARNPattern.MatchString(p) {
		add("bootstrap.trustedPrincipal", "%q: use an account id or a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", p)
	}
	for i, arn := range b.ManagedPolicies {
		if !strings.HasPrefix(arn, "arn:aws") || !strings.Contains(arn, ":policy/") {
			add(fmt.Sprintf("bootstrap.managedPolicies[%d]", i), "%q is not a managed policy ARN", arn)
		}
	}
	if b.Targets != nil {
		errs = append(errs, f.validateTargets("bootstrap.targets", *b.Targets, len(c.Regions) > 0)...)
	}
	for i, s := range c.StackSets {
		if strings.HasPrefix(s.Name, ReservedPrefix) {
			add(fmt.Sprintf("stackSets[%d].name", i), "%q: names starting with %s are stackfleet's own (bootstrap)", s.Name, ReservedPrefix)
		}
	}
	switch {
	case c.Execution.Role == "":
		add("execution.role", "missing: a role ARN pattern like arn:aws:iam::{account}:role/StackFleetExecution")
	case !strings.Contains(c.Execution.Role, "{account}"):
		add("execution.role", "%q must contain {account}, replaced by each target account id", c.Execution.Role)
	}
	seen := map[string]int{}
	for i, s := range c.StackSets {
		at := func(field string) string { return fmt.Sprintf("stackSets[%d].%s", i, field) }
		if !namePattern.MatchString(s.Name) {
			add(at("name"), "%q is not a valid stack name (letters, digits and hyphens, starting with a letter, at most 128)", s.Name)
		} else if j, dup := seen[s.Name]; dup {
			add(at("name"), "%q is also the name of stackSets[%d]", s.Name, j)
		}
		seen[s.Name] = i
		if s.Template == "" {
			add(at("template"), "missing: the template file")
		}
		for k, v := range s.Parameters {
			if _, err := paramString(v); err != nil {
				add(at("parameters."+k), "%v", err)
			}
		}
		for j, cap := range s.Capabilities {
			if !slices.Contains([]string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}, cap) {
				add(at(fmt.Sprintf("capabilities[%d]", j)), "%q: use CAPABILITY_IAM, CAPABILITY_NAMED_IAM or CAPABILITY_AUTO_EXPAND", cap)
			}
		}
		errs = append(errs, f.validateTargets(at("targets"), s.Targets, len(c.Regions) > 0)...)
		for j, o := range s.Overrides {
			oat := at(fmt.Sprintf("overrides[%d]", j))
			m := o.Match
			if m.OU == "" && m.Account == "" && m.Region == "" && len(m.Tags) == 0 {
				add(oat+".match", "needs at least one of ou, account, region, tags")
			}
			if m.Account != "" && !accountID.MatchString(m.Account) {
				add(oat+".match.account", "%q is not a 12-digit account id", m.Account)
			}
			if m.Region != "" && !regionPattern.MatchString(m.Region) {
				add(oat+".match.region", "%q is not a region name like us-east-1", m.Region)
			}
			if len(o.Parameters) == 0 {
				add(oat+".parameters", "missing: the parameter values this override sets")
			}
			for k, v := range o.Parameters {
				if _, err := paramString(v); err != nil {
					add(oat+".parameters."+k, "%v", err)
				}
			}
		}
		errs = append(errs, f.validateRollout(at("rollout"), s.Rollout)...)
		switch s.OnRemoval {
		case "", "delete", "retain":
		default:
			add(at("onRemoval"), "%q: use delete or retain", s.OnRemoval)
		}
	}
	errs = append(errs, f.validatePipelines()...)
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return errs
}

func (f *File) validateTargets(at string, t Targets, haveDefaultRegions bool) Errors {
	var errs Errors
	add := func(field, format string, args ...any) { errs = append(errs, f.errorAt(field, format, args...)) }
	if len(t.OUs) == 0 && len(t.Accounts) == 0 && len(t.AccountTags) == 0 {
		add(at, "needs ous, accounts or accountTags")
	}
	for i, a := range t.Accounts {
		if !accountID.MatchString(a) {
			add(fmt.Sprintf("%s.accounts[%d]", at, i), "%q is not a 12-digit account id", a)
		}
	}
	switch t.Filter {
	case "", "NONE", "INTERSECTION", "DIFFERENCE", "UNION":
	default:
		add(at+".filter", "%q: use NONE, INTERSECTION, DIFFERENCE or UNION", t.Filter)
	}
	for i, r := range t.Regions {
		if !regionPattern.MatchString(r) {
			add(fmt.Sprintf("%s.regions[%d]", at, i), "%q is not a region name like us-east-1", r)
		}
	}
	if len(t.Regions) == 0 && !haveDefaultRegions {
		add(at+".regions", "missing: give regions here or at the top level")
	}
	return errs
}

func (f *File) validateRollout(at string, r Rollout) Errors {
	var errs Errors
	add := func(field, format string, args ...any) { errs = append(errs, f.errorAt(field, format, args...)) }
	pair := func(name string, count, pct *int, minCount int) {
		if count != nil && pct != nil {
			add(at+"."+name+"Percentage", "set %sCount or %sPercentage, not both", name, name)
		}
		if count != nil && *count < minCount {
			add(at+"."+name+"Count", "must be at least %d (got %d)", minCount, *count)
		}
		if pct != nil && (*pct < 0 || *pct > 100) {
			add(at+"."+name+"Percentage", "must be between 0 and 100 (got %d)", *pct)
		}
	}
	pair("maxConcurrent", r.MaxConcurrentCount, r.MaxConcurrentPercentage, 1)
	pair("failureTolerance", r.FailureToleranceCount, r.FailureTolerancePercentage, 0)
	switch r.RegionConcurrency {
	case "", "sequential", "parallel":
	default:
		add(at+".regionConcurrency", "%q: use sequential or parallel", r.RegionConcurrency)
	}
	switch r.Mode {
	case "", "strict", "soft":
	default:
		add(at+".mode", "%q: use strict or soft", r.Mode)
	}
	for i, reg := range r.RegionOrder {
		if !regionPattern.MatchString(reg) {
			add(fmt.Sprintf("%s.regionOrder[%d]", at, i), "%q is not a region name like us-east-1", reg)
		}
	}
	return errs
}

// paramString converts a YAML parameter value to the string CloudFormation receives: scalars as
// written, lists of scalars joined with commas (CommaDelimitedList and List<…> parameters).
// badParamRune reports characters a parameter value cannot carry: NUL and other control
// characters but tab, newline and carriage return, and bytes that are not UTF-8.
func badParamRune(r rune) bool {
	return r == utf8.RuneError || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f
}

func paramString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		if i := strings.IndexFunc(v, badParamRune); i >= 0 {
			r, _ := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError {
				return "", fmt.Errorf("the value is not valid UTF-8 (at byte %d)", i)
			}
			return "", fmt.Errorf("the value holds the control character %U at byte %d; CloudFormation parameters cannot carry it", r, i)
		}
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int, int64, uint64, float64:
		return fmt.Sprint(v), nil
	case nil:
		return "", nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := paramString(e)
			if err != nil || strings.Contains(s, ",") {
				return "", fmt.Errorf("list items must be scalars without commas")
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	default:
		return "", fmt.Errorf("must be a string, number, boolean or list of them, not a %T", v)
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateExecutor checks executor, temporal and state.
func (f *File) validateExecutor() Errors {
	var errs Errors
	add := func(field, format string, args ...any) { errs = append(errs, f.errorAt(field, format, args...)) }
	c := &f.Config
	switch c.Executor {
	case "", ExecutorLocal:
		if c.Temporal != (Temporal{}) {
			add("temporal", "only used with executor: temporal")
		}
	case ExecutorTemporal:
		if c.State.PostgresEnv == "" {
			add("state.postgresEnv", "missing: executor temporal keeps the state in PostgreSQL, shared by the workers; name the environment variable holding its connection string")
		}
	default:
		add("executor", "%q: use local or temporal", c.Executor)
	}
	t := c.Temporal
	if t.Address != "" {
		if _, _, err := net.SplitHostPort(t.Address); err != nil {
			add("temporal.address", "%q is not host:port", t.Address)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("temporal.certFile", "certFile and keyFile go together")
	}
	for _, e := range []struct{ field, name string }{{"temporal.apiKeyEnv", t.APIKeyEnv}, {"state.postgresEnv", c.State.PostgresEnv}} {
		if e.name != "" && !envName.MatchString(e.name) {
			add(e.field, "%q is not an environment variable name", e.name)
		}
	}
	return errs
}
