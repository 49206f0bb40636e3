package iam

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Policy is the subset of the IAM policy grammar that trust policies use.
type Policy struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid          string
	Effect       string
	Principal    *principalSet
	NotPrincipal *principalSet
	Action       stringList
	NotAction    stringList
	Resource     stringList
	NotResource  stringList
	// Condition maps operator → key → values.
	Condition map[string]map[string]stringList
}

// principalSet is a policy Principal: "*" or a map of Principal type → values.
type principalSet struct {
	Any    bool
	ByType map[string]stringList
}

func (p *principalSet) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "*" {
			return fmt.Errorf("Principal %q: must be \"*\" or an object", s)
		}
		p.Any = true
		return nil
	}
	return json.Unmarshal(b, &p.ByType)
}

// stringList is a policy value that may be a string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		// Condition values may be booleans or numbers.
		var vs []any
		if err2 := json.Unmarshal(b, &vs); err2 != nil {
			var v any
			if err3 := json.Unmarshal(b, &v); err3 != nil {
				return err
			}
			vs = []any{v}
		}
		for _, v := range vs {
			ss = append(ss, fmt.Sprint(v))
		}
	}
	*l = ss
	return nil
}

// ParsePolicy parses a policy document whose Statement may be one object or a list.
func ParsePolicy(doc string) (*Policy, error) {
	var raw struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("malformed policy document: %w", err)
	}
	p := &Policy{Version: raw.Version}
	trimmed := strings.TrimSpace(string(raw.Statement))
	switch {
	case trimmed == "" || trimmed == "null":
		return nil, fmt.Errorf("malformed policy document: missing Statement")
	case strings.HasPrefix(trimmed, "["):
		if err := json.Unmarshal(raw.Statement, &p.Statement); err != nil {
			return nil, fmt.Errorf("malformed policy statement: %w", err)
		}
	default:
		var st policyStatement
		if err := json.Unmarshal(raw.Statement, &st); err != nil {
			return nil, fmt.Errorf("malformed policy statement: %w", err)
		}
		p.Statement = []policyStatement{st}
	}
	for i, st := range p.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("statement %d: Effect must be Allow or Deny, not %q", i, st.Effect)
		}
	}
	return p, nil
}

// RequestContext is what a trust or resource policy is evaluated against.
type RequestContext struct {
	Caller     Principal
	OrgID      string
	Action     string // e.g. "sts:AssumeRole"
	ExternalID string
	// Resource is the ARN acted on, for resource policies (bucket policies); empty for trust
	// policies, whose statements name no Resource.
	Resource string
}

// Decision is the outcome of evaluating one policy.
type Decision int

// Decisions: no statement applies (an implicit deny), an Allow applies, a Deny applies.
const (
	NotApplicable Decision = iota
	Allowed
	Denied
)

// Allows evaluates the policy as IAM does for one request: an explicit Deny wins, otherwise
// any matching Allow admits, otherwise the request is implicitly denied.
func (p *Policy) Allows(rc RequestContext) bool { return p.Evaluate(rc) == Allowed }

// Evaluate returns the policy's decision for one request: Denied if a Deny statement matches,
// else Allowed if an Allow statement does, else NotApplicable.
func (p *Policy) Evaluate(rc RequestContext) Decision {
	d := NotApplicable
	for _, st := range p.Statement {
		if !st.matches(rc) {
			continue
		}
		if st.Effect == "Deny" {
			return Denied
		}
		d = Allowed
	}
	return d
}

// Public reports whether the policy grants access to everyone, as S3's public access block
// judges it: an Allow to Principal "*" not narrowed by a condition on a fixed value of the
// caller's account, organization or source.
func (p *Policy) Public() bool {
	narrowing := []string{"aws:principalorgid", "aws:principalaccount", "aws:principalarn", "aws:sourcearn",
		"aws:sourceaccount", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceip", "aws:principalorgpaths", "aws:userid"}
	for _, st := range p.Statement {
		if st.Effect != "Allow" || st.Principal == nil || !st.Principal.everyone() {
			continue
		}
		narrowed := false
		for _, conds := range st.Condition {
			for key := range conds {
				if slices.Contains(narrowing, strings.ToLower(key)) {
					narrowed = true
				}
			}
		}
		if !narrowed {
			return true
		}
	}
	return false
}

// Resources returns every resource the policy's statements name (Resource and NotResource).
func (p *Policy) Resources() []string {
	var out []string
	for _, st := range p.Statement {
		out = append(out, st.Resource...)
		out = append(out, st.NotResource...)
	}
	return out
}

// EveryStatementHasResource reports whether every statement names a Resource or NotResource,
// as resource policies must.
func (p *Policy) EveryStatementHasResource() bool {
	for _, st := range p.Statement {
		if st.Resource == nil && st.NotResource == nil {
			return false
		}
	}
	return true
}

// everyone reports whether the principal set is "*" or {"AWS": "*"}.
func (p *principalSet) everyone() bool {
	return p.Any || slices.Contains(p.ByType["AWS"], "*")
}

func (st *policyStatement) matches(rc RequestContext) bool {
	switch {
	case st.Action != nil:
		if !slices.ContainsFunc(st.Action, func(a string) bool { return globMatch(a, rc.Action) }) {
			return false
		}
	case st.NotAction != nil:
		if slices.ContainsFunc(st.NotAction, func(a string) bool { return globMatch(a, rc.Action) }) {
			return false
		}
	default:
		return false
	}
	if rc.Resource != "" {
		switch {
		case st.Resource != nil:
			if !slices.ContainsFunc(st.Resource, func(r string) bool { return globMatchCase(r, rc.Resource) }) {
				return false
			}
		case st.NotResource != nil:
			if slices.ContainsFunc(st.NotResource, func(r string) bool { return globMatchCase(r, rc.Resource) }) {
				return false
			}
		default:
			return false
		}
	}
	switch {
	case st.Principal != nil:
		if !st.Principal.admits(rc.Caller) {
			return false
		}
	case st.NotPrincipal != nil:
		if st.NotPrincipal.admits(rc.Caller) {
			return false
		}
	default:
		return false
	}
	for op, conds := range st.Condition {
		for key, want := range conds {
			if !evalCondition(op, key, want, rc) {
				return false
			}
		}
	}
	return true
}

// admits reports whether the Principal set names the caller: "*", the caller's account (as ID
// or root ARN), the caller's ARN, or, for a role session, the role's ARN.
func (p *principalSet) admits(c Principal) bool {
	if p.Any {
		return true
	}
	for typ, vals := range p.ByType {
		if typ != "AWS" {
			continue // Service and Federated principals never match an IAM caller.
		}
		for _, v := range vals {
			switch v {
			case "*", c.Account, "arn:aws:iam::" + c.Account + ":root", c.ARN:
				return true
			}
			if c.RoleARN != "" && v == c.RoleARN {
				return true
			}
		}
	}
	return false
}

// evalCondition evaluates one condition operator for one key. Unknown operators never match,
// so an Allow with a condition the sandbox cannot evaluate does not grant access.
func evalCondition(op, key string, want stringList, rc RequestContext) bool {
	if op == "Null" {
		// "true": the key must be absent from the request; "false": it must be present.
		_, present := conditionKey(key, rc)
		return slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, "true") != present })
	}
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	got, present := conditionKey(key, rc)
	negated := strings.Contains(op, "Not")
	if !present {
		return ifExists || negated
	}
	var match func(pattern, value string) bool
	switch op {
	case "StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals":
		match = func(p, v string) bool { return p == v }
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringLike", "StringNotLike", "ArnLike", "ArnNotLike":
		match = globMatchCase
	case "Bool":
		match = strings.EqualFold
	default:
		return false
	}
	hit := slices.ContainsFunc(want, func(w string) bool { return match(w, got) })
	return hit != negated
}

// conditionKey returns the value of a global condition key for rc.
func conditionKey(key string, rc RequestContext) (string, bool) {
	switch strings.ToLower(key) {
	case "aws:principalorgid":
		return rc.OrgID, rc.OrgID != ""
	case "aws:principalaccount":
		return rc.Caller.Account, true
	case "aws:principalarn":
		if rc.Caller.RoleARN != "" {
			return rc.Caller.RoleARN, true
		}
		return rc.Caller.ARN, true
	case "aws:principaltype":
		if rc.Caller.RoleARN != "" {
			return "AssumedRole", true
		}
		return "User", true
	case "sts:externalid":
		return rc.ExternalID, rc.ExternalID != ""
	case "aws:multifactorauthpresent":
		return "false", true
	case "aws:securetransport":
		// The sandbox's plain-HTTP endpoint stands for AWS's TLS endpoint.
		return "true", true
	}
	return "", false
}

// globMatch matches IAM action patterns, case-insensitively, with * and ? wildcards.
func globMatch(pattern, value string) bool {
	return globMatchCase(strings.ToLower(pattern), strings.ToLower(value))
}

// globMatchCase matches * and ? wildcards case-sensitively; unlike path.Match, * crosses "/"
// (IAM wildcards do).
func globMatchCase(pattern, value string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == value
	}
	// Replace / so that path.Match's * spans it; neither side may contain the stand-in.
	const sep = "\x00"
	if strings.Contains(pattern, sep) || strings.Contains(value, sep) || strings.ContainsAny(pattern, "[\\") {
		return false
	}
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", sep), strings.ReplaceAll(value, "/", sep))
	return err == nil && ok
}
