package fleet

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Account is one AWS account of the organization.
type Account struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	Email    string            `json:"email,omitempty"`
	ParentID string            `json:"parent"` // root or OU id
	Status   string            `json:"status,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// Suspended reports whether the account is suspended (StackSets skips such accounts).
func (a Account) Suspended() bool { return a.Status == "SUSPENDED" }

// OU is an organizational unit; ParentID is a root or another OU.
type OU struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ParentID string `json:"parent"`
}

// Inventory is a snapshot of the organization: its root, OUs and accounts.
type Inventory struct {
	// OrganizationID is the organization's id (o-…); empty for a static inventory file.
	OrganizationID    string    `json:"organizationId,omitempty"`
	ManagementAccount string    `json:"managementAccount"`
	RootID            string    `json:"root"`
	OUs               []OU      `json:"ous"`
	Accounts          []Account `json:"accounts"`
}

// FindOU resolves an OU reference: an OU id (ou-…), the root id or "Root", or a path of OU names
// from the root ("Workloads/Prod"). ok is false when nothing matches.
func (inv *Inventory) FindOU(ref string) (id string, ok bool) {
	if ref == inv.RootID || ref == "Root" || ref == "/" {
		return inv.RootID, inv.RootID != ""
	}
	for _, ou := range inv.OUs {
		if ou.ID == ref {
			return ou.ID, true
		}
	}
	parent := inv.RootID
	for name := range strings.SplitSeq(strings.Trim(ref, "/"), "/") {
		found := false
		for _, ou := range inv.OUs {
			if ou.ParentID == parent && ou.Name == name {
				parent, found = ou.ID, true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	return parent, true
}

// OUPath is the path of names from the root to the OU or root with the given id ("" for the root).
func (inv *Inventory) OUPath(id string) string {
	var names []string
	for guard := 0; id != inv.RootID && guard <= len(inv.OUs); guard++ {
		i := slices.IndexFunc(inv.OUs, func(ou OU) bool { return ou.ID == id })
		if i < 0 {
			break
		}
		names = append(names, inv.OUs[i].Name)
		id = inv.OUs[i].ParentID
	}
	slices.Reverse(names)
	return strings.Join(names, "/")
}

// Ancestors lists the OU ids containing the account, nearest first, ending with the root.
func (inv *Inventory) Ancestors(acct Account) []string {
	var out []string
	id := acct.ParentID
	for guard := 0; id != "" && guard <= len(inv.OUs)+1; guard++ {
		out = append(out, id)
		if id == inv.RootID {
			break
		}
		i := slices.IndexFunc(inv.OUs, func(ou OU) bool { return ou.ID == id })
		if i < 0 {
			break
		}
		id = inv.OUs[i].ParentID
	}
	return out
}

// Account returns the account with the given id.
func (inv *Inventory) Account(id string) (Account, bool) {
	i := slices.IndexFunc(inv.Accounts, func(a Account) bool { return a.ID == id })
	if i < 0 {
		return Account{}, false
	}
	return inv.Accounts[i], true
}

// Filter combines the accounts of OUs with listed accounts, as StackSets'
// AccountFilterType does.
type Filter string

// Account filter types.
const (
	FilterNone         Filter = "NONE"         // every account of the OUs
	FilterIntersection Filter = "INTERSECTION" // listed accounts that are inside the OUs
	FilterDifference   Filter = "DIFFERENCE"   // accounts of the OUs minus the listed accounts
	FilterUnion        Filter = "UNION"        // accounts of the OUs plus the listed accounts
)

// Selector chooses accounts. Listed accounts are Accounts plus every account whose tags include
// all of AccountTags; the filter combines them with the accounts of OUs (children included).
// Without OUs, the listed accounts are the selection.
type Selector struct {
	OUs         []string
	Accounts    []string
	AccountTags map[string]string
	Filter      Filter
}

// Select resolves the selector against the inventory: the selected accounts sorted by id.
// The management account is never selected through an OU. An empty OU selects nothing; an unknown
// OU or account is an error naming it.
func (inv *Inventory) Select(s Selector) ([]Account, error) {
	inOUs := map[string]bool{}
	for _, ref := range s.OUs {
		id, ok := inv.FindOU(ref)
		if !ok {
			return nil, fmt.Errorf("organizational unit %q is not in the organization (use an ou-… id or a path of OU names like Workloads/Prod)", ref)
		}
		for _, a := range inv.Accounts {
			if a.ID != inv.ManagementAccount && slices.Contains(inv.Ancestors(a), id) {
				inOUs[a.ID] = true
			}
		}
	}
	listed := map[string]bool{}
	for _, id := range s.Accounts {
		if _, ok := inv.Account(id); !ok {
			return nil, fmt.Errorf("account %q is not in the organization", id)
		}
		listed[id] = true
	}
	if len(s.AccountTags) > 0 {
		for _, a := range inv.Accounts {
			if hasTags(a.Tags, s.AccountTags) {
				listed[a.ID] = true
			}
		}
	}
	var chosen map[string]bool
	switch {
	case len(s.OUs) == 0:
		chosen = listed
	case s.Filter == FilterIntersection:
		chosen = map[string]bool{}
		for id := range listed {
			if inOUs[id] {
				chosen[id] = true
			}
		}
	case s.Filter == FilterDifference:
		chosen = inOUs
		for id := range listed {
			delete(chosen, id)
		}
	case s.Filter == FilterUnion:
		chosen = inOUs
		maps.Copy(chosen, listed)
	case s.Filter == FilterNone || s.Filter == "":
		if len(listed) > 0 {
			return nil, fmt.Errorf("accounts listed with OUs need a filter: INTERSECTION, DIFFERENCE or UNION")
		}
		chosen = inOUs
	default:
		return nil, fmt.Errorf("filter %q: use NONE, INTERSECTION, DIFFERENCE or UNION", s.Filter)
	}
	out := make([]Account, 0, len(chosen))
	for _, a := range inv.Accounts {
		if chosen[a.ID] {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Target is one (account, region): where one stack instance lives.
type Target struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

func (t Target) String() string { return t.Account + "/" + t.Region }
