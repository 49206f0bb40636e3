package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/cdkasm"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/templates"
)

// Resolved is the configuration resolved against an inventory: the desired stack sets, with
// their templates read and checked.
type Resolved struct {
	StackSets []*fleet.StackSet
	Templates map[string]*templates.Info // by stack set name
}

// Resolve reads each stack set's template, resolves OUs and accounts against the inventory, and
// checks every instance's effective parameters against its template — reporting each distinct
// problem once, at the config field that caused it, with how many instances it affects. Nothing
// is deployed by a configuration that does not resolve.
func (f *File) Resolve(inv *fleet.Inventory) (*Resolved, error) {
	out := &Resolved{Templates: map[string]*templates.Info{}}
	var errs Errors
	for i, sc := range f.StackSets {
		s, info, es := f.resolveStackSet(i, sc, inv)
		errs = append(errs, es...)
		if s != nil {
			out.StackSets = append(out.StackSets, s)
			out.Templates[s.Name] = info
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	ordered, errs := f.orderByReferences(out.StackSets)
	if len(errs) > 0 {
		return nil, errs
	}
	out.StackSets = ordered
	return out, nil
}

func (f *File) resolveStackSet(i int, sc StackSet, inv *fleet.Inventory) (*fleet.StackSet, *templates.Info, Errors) {
	var errs Errors
	at := func(field string) string { return fmt.Sprintf("stackSets[%d].%s", i, field) }
	add := func(field, format string, args ...any) { errs = append(errs, f.errorAt(field, format, args...)) }

	s := &fleet.StackSet{
		Name: sc.Name, Description: sc.Description, TemplateFile: sc.Template,
		Tags: sc.Tags, Capabilities: sc.Capabilities, Retain: sc.OnRemoval == "retain", AutoDeploy: sc.AutoDeploy,
		Parameters: map[string]string{},
		Regions:    cmpOr(sc.Targets.Regions, f.Regions),
	}
	for k, v := range sc.Parameters {
		s.Parameters[k], _ = paramString(v) // validated at Parse
	}
	path := sc.Template
	if !filepath.IsAbs(path) {
		path = filepath.Join(f.Dir, path)
	}
	body, assets, err := loadTemplate(path)
	if err != nil {
		add(at("template"), "cannot read the template: %v", unwrapPath(err))
		return nil, nil, errs
	}
	s.TemplateBody, s.Assets = body, assets
	info, err := templates.Parse(body)
	if err != nil {
		add(at("template"), "%s: %v", sc.Template, err)
		return nil, nil, errs
	}
	for _, need := range info.Capabilities {
		if !slices.Contains(sc.Capabilities, need) {
			add(at("capabilities"), "the template creates IAM resources%s: add %s", map[bool]string{true: " with custom names", false: ""}[need == "CAPABILITY_NAMED_IAM"], need)
		}
	}

	t := sc.Targets
	for j, ref := range t.OUs {
		if _, ok := inv.FindOU(ref); !ok {
			add(at(fmt.Sprintf("targets.ous[%d]", j)), "organizational unit %q is not in the organization (use an ou-… id or a name path like Workloads/Prod)", ref)
		}
	}
	for j, id := range t.Accounts {
		if _, ok := inv.Account(id); !ok && accountID.MatchString(id) {
			add(at(fmt.Sprintf("targets.accounts[%d]", j)), "account %s is not in the organization", id)
		}
	}
	s.Selector = fleet.Selector{OUs: t.OUs, Accounts: t.Accounts, AccountTags: t.AccountTags, Filter: fleet.Filter(t.Filter)}
	for j, o := range sc.Overrides {
		m := fleet.Match{Account: o.Match.Account, Region: o.Match.Region, Tags: o.Match.Tags}
		if o.Match.OU != "" {
			id, ok := inv.FindOU(o.Match.OU)
			if !ok {
				add(at(fmt.Sprintf("overrides[%d].match.ou", j)), "organizational unit %q is not in the organization", o.Match.OU)
			}
			m.OU = id
		}
		ov := fleet.Override{Match: m, Parameters: map[string]string{}, Source: f.errorAt(at(fmt.Sprintf("overrides[%d]", j)), "").location()}
		for k, v := range o.Parameters {
			ov.Parameters[k], _ = paramString(v)
		}
		s.Overrides = append(s.Overrides, ov)
	}
	s.Preferences = fleet.Preferences{
		MaxConcurrent:     fleet.Limit{Count: sc.Rollout.MaxConcurrentCount, Percentage: sc.Rollout.MaxConcurrentPercentage},
		FailureTolerance:  fleet.Limit{Count: sc.Rollout.FailureToleranceCount, Percentage: sc.Rollout.FailureTolerancePercentage},
		RegionOrder:       writtenOrder(sc.Rollout.RegionOrder, s.Regions),
		RegionConcurrency: fleet.Sequential,
		Mode:              fleet.Strict,
	}
	if sc.Rollout.RegionConcurrency == "parallel" {
		s.Preferences.RegionConcurrency = fleet.Parallel
	}
	if sc.Rollout.Mode == "soft" {
		s.Preferences.Mode = fleet.Soft
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	if _, _, err := s.Targets(inv); err != nil {
		add(at("targets"), "%v", err)
		return nil, nil, errs
	}
	errs = append(errs, f.checkParameters(i, s, info, inv)...)
	return s, info, errs
}

// NeedsTags reports whether any selector of the configuration uses account tags, i.e. whether
// the inventory must include them (reading tags costs one call per account).
func (f *File) NeedsTags() bool {
	for _, s := range f.StackSets {
		if len(s.Targets.AccountTags) > 0 {
			return true
		}
		for _, o := range s.Overrides {
			if len(o.Match.Tags) > 0 {
				return true
			}
		}
	}
	for _, p := range f.Pipelines {
		for _, st := range p.Stages {
			if len(st.Targets.AccountTags) > 0 {
				return true
			}
			for _, w := range st.Waves.Explicit {
				if len(w.AccountTags) > 0 {
					return true
				}
			}
		}
	}
	return false
}

// checkParameters checks the effective parameters of every instance against the template and
// reports each distinct problem once, at the field whose value caused it.
func (f *File) checkParameters(i int, s *fleet.StackSet, info *templates.Info, inv *fleet.Inventory) Errors {
	type finding struct {
		field, msg string
		count      int
		example    fleet.Target
	}
	var order []string
	found := map[string]*finding{}
	checked := map[string]bool{}
	targets, accts, _ := s.Targets(inv)
	for _, t := range targets {
		values, sources := s.ParametersWithSources(inv, accts[t.Account], t.Region)
		key := fleet.HashParameters(values)
		for _, p := range info.Check(values) {
			if strings.Contains(values[p.Param], "{{") {
				continue // a reference to outputs: its value is known at plan time
			}
			field := fmt.Sprintf("stackSets[%d].parameters", i)
			if src, ok := sources[p.Param]; ok {
				if src >= 0 {
					field = fmt.Sprintf("stackSets[%d].overrides[%d].parameters.%s", i, src, p.Param)
				} else {
					field = fmt.Sprintf("stackSets[%d].parameters.%s", i, p.Param)
				}
			}
			id := field + "\x00" + p.Message
			fd := found[id]
			if fd == nil {
				fd = &finding{field: field, msg: p.Message, example: t}
				found[id] = fd
				order = append(order, id)
			}
			if !checked[key+"\x00"+t.String()] {
				fd.count++
			}
		}
		checked[key+"\x00"+t.String()] = true
	}
	var errs Errors
	for _, id := range order {
		fd := found[id]
		e := f.errorAt(fd.field, "%s (template %s; %d instance%s, e.g. %s)", fd.msg, s.TemplateFile, fd.count, plural(fd.count), fd.example)
		errs = append(errs, e)
	}
	return errs
}

func (e *Error) location() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return e.File
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func cmpOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

func unwrapPath(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "open ") {
		return strings.TrimPrefix(msg[:i], "open ") + ": " + msg[i+2:]
	}
	return msg
}

// writtenOrder is the order regions deploy in: regionOrder first, then the other regions in
// the order the configuration lists them.
func writtenOrder(regionOrder, regions []string) []string {
	out := slices.Clone(regionOrder)
	for _, r := range regions {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// loadTemplate reads a template: a file, or DIR/STACK naming a stack of the CDK cloud assembly
// in DIR (a cdk.out), whose file assets are returned too.
func loadTemplate(path string) ([]byte, *fleet.Assets, error) {
	if cdkasm.IsAssemblyRef(path) {
		st, err := cdkasm.Load(filepath.Dir(path), filepath.Base(path))
		if err != nil {
			return nil, nil, err
		}
		return st.Template, st.Assets, nil
	}
	body, err := readTemplate(path)
	return body, nil, err
}

// readTemplate reads a template file, refusing one larger than CloudFormation accepts at all
// before reading it.
func readTemplate(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > templates.MaxS3Bytes {
		return nil, fmt.Errorf("the template is %d bytes; CloudFormation accepts at most %d", fi.Size(), templates.MaxS3Bytes)
	}
	return os.ReadFile(path)
}
