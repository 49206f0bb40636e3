package sandbox

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Role is an IAM role of one account. Roles are created by the sandbox
// (OrganizationAccountAccessRole in every member account) and by stacks (AWS::IAM::Role),
// and are what STS AssumeRole assumes.
type Role struct {
	Name string
	// Path is "/" unless the role was created with a path; it always starts and ends with "/".
	Path string
	// ARN is arn:aws:iam::ACCT:role<Path><Name>.
	ARN string
	// RoleID is the unique ID, AROA followed by 17 upper-case base32 characters.
	RoleID      string
	TrustPolicy string
	Created     time.Time
}

// roleStore holds the IAM roles of every account. It is safe for concurrent use.
type roleStore struct {
	mu    sync.RWMutex
	roles map[string]map[string]*Role // account → name → role
}

func newRoleStore() *roleStore { return &roleStore{roles: map[string]map[string]*Role{}} }

// put creates a role; it fails as IAM does if the name is taken in the account (role names are
// case-insensitive in IAM). A blank roleID is generated.
func (s *roleStore) put(account, name, rolePath, trust, roleID string, now time.Time) (*Role, error) {
	if name == "" || len(name) > 64 {
		return nil, fmt.Errorf("invalid role name %q: must be 1 to 64 characters", name)
	}
	if rolePath == "" {
		rolePath = "/"
	}
	if !strings.HasPrefix(rolePath, "/") || !strings.HasSuffix(rolePath, "/") {
		return nil, fmt.Errorf("invalid role path %q: must begin and end with /", rolePath)
	}
	if _, err := parsePolicy(trust); err != nil {
		return nil, fmt.Errorf("invalid trust policy for role %s: %w", name, err)
	}
	if roleID == "" {
		roleID = "AROA" + randomString(base32Upper, 17)
	}
	r := &Role{
		Name: name, Path: rolePath, RoleID: roleID, TrustPolicy: trust, Created: now,
		ARN: "arn:aws:iam::" + account + ":role" + rolePath + name,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byName := s.roles[account]
	if byName == nil {
		byName = map[string]*Role{}
		s.roles[account] = byName
	}
	key := strings.ToLower(name)
	if _, ok := byName[key]; ok {
		return nil, fmt.Errorf("Role with name %s already exists.", name) //nolint:staticcheck // IAM's wording
	}
	byName[key] = r
	return r, nil
}

func (s *roleStore) delete(account, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.roles[account], strings.ToLower(name))
}

// get returns a copy of the role, or false.
func (s *roleStore) get(account, name string) (Role, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.roles[account][strings.ToLower(name)]
	if !ok {
		return Role{}, false
	}
	return *r, true
}

// list returns the roles of account sorted by name.
func (s *roleStore) list(account string) []Role {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Role, 0, len(s.roles[account]))
	for _, r := range s.roles[account] {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Role) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *roleStore) snapshot() map[string][]Role {
	s.mu.RLock()
	accounts := make([]string, 0, len(s.roles))
	for a := range s.roles {
		accounts = append(accounts, a)
	}
	s.mu.RUnlock()
	out := make(map[string][]Role, len(accounts))
	for _, a := range accounts {
		if rs := s.list(a); len(rs) > 0 {
			out[a] = rs
		}
	}
	return out
}

func (s *roleStore) restore(snap map[string][]Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles = make(map[string]map[string]*Role, len(snap))
	for account, rs := range snap {
		m := make(map[string]*Role, len(rs))
		for i := range rs {
			m[strings.ToLower(rs[i].Name)] = &rs[i]
		}
		s.roles[account] = m
	}
}

// orgAccessTrustPolicy is the trust policy AWS Organizations gives the
// OrganizationAccountAccessRole of an account it creates.
func orgAccessTrustPolicy(mgmt string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		mgmt + `:root"},"Action":"sts:AssumeRole"}]}`
}

// policyDoc is the subset of the IAM policy grammar that trust policies use.
type policyDoc struct {
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
	// Condition maps operator → key → values.
	Condition map[string]map[string]stringList
}

// principalSet is a policy Principal: "*" or a map of principal type → values.
type principalSet struct {
	Any    bool
	ByType map[string]stringList
}

func (p *principalSet) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "*" {
			return fmt.Errorf("principal %q: must be \"*\" or an object", s)
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

// parsePolicy parses a policy document whose Statement may be one object or a list.
func parsePolicy(doc string) (*policyDoc, error) {
	var raw struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("malformed policy document: %w", err)
	}
	p := &policyDoc{Version: raw.Version}
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

// requestContext is what a trust policy is evaluated against.
type requestContext struct {
	Caller     principal
	OrgID      string
	Action     string // e.g. "sts:AssumeRole"
	ExternalID string
}

// allows evaluates the policy as IAM does for one request: an explicit Deny wins, otherwise
// any matching Allow admits, otherwise the request is implicitly denied.
func (p *policyDoc) allows(rc requestContext) bool {
	allowed := false
	for _, st := range p.Statement {
		if !st.matches(rc) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st *policyStatement) matches(rc requestContext) bool {
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

// admits reports whether the principal set names the caller: "*", the caller's account (as ID
// or root ARN), the caller's ARN, or, for a role session, the role's ARN.
func (p *principalSet) admits(c principal) bool {
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
func evalCondition(op, key string, want stringList, rc requestContext) bool {
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
func conditionKey(key string, rc requestContext) (string, bool) {
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
