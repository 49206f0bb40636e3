package iam

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
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

// Roles holds the IAM roles of every account. It is safe for concurrent use.
type Roles struct {
	mu    sync.RWMutex
	roles map[string]map[string]*Role // account → name → role
	// accountExists, if set, says which accounts exist, for the principals of trust policies.
	accountExists func(account string) bool
}

// CheckPrincipals makes Put refuse trust policies naming an account that exists not (as IAM
// does: "Invalid principal in policy"), or a role that does not exist.
func (s *Roles) CheckPrincipals(accountExists func(account string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountExists = accountExists
}

var principalARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):(root|role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64}))$`)

// invalidPrincipal returns the first AWS principal of the policy that does not exist, if any.
func (s *Roles) invalidPrincipal(p *Policy) string {
	if p == nil {
		return ""
	}
	s.mu.RLock()
	exists := s.accountExists
	s.mu.RUnlock()
	if exists == nil {
		return ""
	}
	for _, st := range p.Statement {
		for _, set := range []*principalSet{st.Principal, st.NotPrincipal} {
			if set == nil {
				continue
			}
			for _, v := range set.ByType["AWS"] {
				account, role := v, ""
				if m := principalARN.FindStringSubmatch(v); m != nil {
					account, role = m[1], m[3]
				} else if !accountID.MatchString(v) {
					continue // "*", users, sessions: not checked
				}
				if !exists(account) {
					return v
				}
				if role != "" {
					if _, ok := s.Get(account, role); !ok {
						return v
					}
				}
			}
		}
	}
	return ""
}

var accountID = regexp.MustCompile(`^\d{12}$`)

// NewRoles returns an empty role store.
func NewRoles() *Roles { return &Roles{roles: map[string]map[string]*Role{}} }

// Put creates a role; it fails as IAM does if the name is taken in the account (role names are
// case-insensitive in IAM). A blank roleID is generated.
func (s *Roles) Put(account, name, rolePath, trust, roleID string, now time.Time) (*Role, error) {
	return s.put(account, name, rolePath, trust, roleID, now, true)
}

// PutTrusted is Put without checking that the trust policy's principals exist: for the roles
// the sandbox itself creates (an account's access role, created under the organization's lock).
func (s *Roles) PutTrusted(account, name, rolePath, trust, roleID string, now time.Time) (*Role, error) {
	return s.put(account, name, rolePath, trust, roleID, now, false)
}

func (s *Roles) put(account, name, rolePath, trust, roleID string, now time.Time, check bool) (*Role, error) {
	if name == "" || len(name) > 64 {
		return nil, fmt.Errorf("invalid role name %q: must be 1 to 64 characters", name)
	}
	if rolePath == "" {
		rolePath = "/"
	}
	if !strings.HasPrefix(rolePath, "/") || !strings.HasSuffix(rolePath, "/") {
		return nil, fmt.Errorf("invalid role path %q: must begin and end with /", rolePath)
	}
	policy, err := ParsePolicy(trust)
	if err != nil {
		return nil, fmt.Errorf("invalid trust policy for role %s: %w", name, err)
	}
	if !check {
		policy = nil
	}
	if bad := s.invalidPrincipal(policy); bad != "" {
		return nil, fmt.Errorf("Invalid principal in policy: \"AWS\":\"%s\"", bad) //nolint:staticcheck // IAM's wording
	}
	if roleID == "" {
		roleID = "AROA" + awsproto.RandomString(awsproto.Base32Upper, 17)
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

func (s *Roles) Delete(account, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.roles[account], strings.ToLower(name))
}

// Get returns a copy of the role, or false.
func (s *Roles) Get(account, name string) (Role, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.roles[account][strings.ToLower(name)]
	if !ok {
		return Role{}, false
	}
	return *r, true
}

// List returns the roles of account sorted by name.
func (s *Roles) List(account string) []Role {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Role, 0, len(s.roles[account]))
	for _, r := range s.roles[account] {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Role) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Snapshot returns the roles of every account, sorted by name, as JSON.
func (s *Roles) Snapshot() ([]byte, error) {
	s.mu.RLock()
	accounts := make([]string, 0, len(s.roles))
	for a := range s.roles {
		accounts = append(accounts, a)
	}
	s.mu.RUnlock()
	out := make(map[string][]Role, len(accounts))
	for _, a := range accounts {
		if rs := s.List(a); len(rs) > 0 {
			out[a] = rs
		}
	}
	return json.Marshal(out)
}

// Restore replaces the roles with a snapshot.
func (s *Roles) Restore(data []byte) error {
	var snap map[string][]Role
	if err := json.Unmarshal(data, &snap); err != nil {
		return err
	}
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
	return nil
}

// OrgAccessTrustPolicy is the trust policy AWS Organizations gives the
// OrganizationAccountAccessRole of an account it creates.
func OrgAccessTrustPolicy(mgmt string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		mgmt + `:root"},"Action":"sts:AssumeRole"}]}`
}
