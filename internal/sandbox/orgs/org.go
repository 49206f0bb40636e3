package orgs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Organizations constants: the entity types and states the API reports.
const (
	typeRoot    = "ROOT"
	typeOU      = "ORGANIZATIONAL_UNIT"
	typeAccount = "ACCOUNT"

	stateInProgress = "IN_PROGRESS"
	stateSucceeded  = "SUCCEEDED"
	stateFailed     = "FAILED"
)

// State is the persisted model of the organization. Slices keep creation order, which is
// the order the list APIs return.
type State struct {
	ID         string
	RootID     string
	Management string
	RootTags   map[string]string `json:",omitempty"`
	Created    time.Time
	Accounts   []*Account
	OUs        []*OU
	Requests   []*CreateAccountRequest `json:",omitempty"`
}

type Account struct {
	ID           string
	Name         string
	Email        string
	ParentID     string
	Tags         map[string]string `json:",omitempty"`
	JoinedMethod string
	Joined       time.Time
	// Closed is when CloseAccount closed the account: from then on it is SUSPENDED (no role can
	// be assumed in it) until CloseDelay passes and it leaves the organization.
	Closed time.Time `json:",omitzero"`
}

// Suspended reports whether the account was closed.
func (a *Account) Suspended() bool { return !a.Closed.IsZero() }

type OU struct {
	ID       string
	Name     string
	ParentID string
	Tags     map[string]string `json:",omitempty"`
}

// CreateAccountRequest is one CreateAccount call. It completes lazily (see org.settle): the
// account appears once the org is next observed at or after Due, so no goroutine is needed
// and a fake clock drives it deterministically.
type CreateAccountRequest struct {
	ID            string
	AccountName   string
	Email         string
	RoleName      string
	Tags          map[string]string `json:",omitempty"`
	Requested     time.Time
	Due           time.Time
	State         string
	FailureReason string    `json:",omitempty"`
	AccountID     string    `json:",omitempty"`
	Completed     time.Time `json:",omitzero"`
}

// Options configure an Org.
type Options struct {
	// Seed makes the IDs the org mints deterministic.
	Seed int64
	// Now is the clock; account creation completes by it (default time.Now).
	Now func() time.Time
	// CreateDelay is how long CreateAccount stays IN_PROGRESS.
	CreateDelay time.Duration
	// CloseDelay is how long a closed account stays in the organization, SUSPENDED, before it
	// leaves it (AWS: 90 days); 0 keeps it.
	CloseDelay time.Duration
	// OnAccountCreated runs (under the org lock) when CreateAccount completes; it creates the
	// account's access role. It must not call back into the org.
	OnAccountCreated func(account, roleName string)
}

// Org is the organization: accounts, OUs, tags and account-creation requests. It serves the
// Organizations API and is safe for concurrent use.
type Org struct {
	opts     Options
	mu       sync.RWMutex
	st       State
	accounts map[string]*Account
	ous      map[string]*OU
	rng      *mrand.Rand
}

// New returns the organization st, which must be valid (see Generate and ParseFile).
func New(st State, opts Options) *Org {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &Org{opts: opts}
	o.install(st)
	return o
}

// install replaces the state. Callers hold the write lock or own o.
func (o *Org) install(st State) {
	o.st = st
	o.reindex()
	// Reseed from the entity count so that IDs minted after a restore differ from the ones
	// minted before it.
	o.rng = mrand.New(mrand.NewPCG(uint64(o.opts.Seed), uint64(len(st.Accounts)<<20|len(st.OUs)<<8|len(st.Requests))))
}

func (o *Org) reindex() {
	o.accounts = make(map[string]*Account, len(o.st.Accounts))
	for _, a := range o.st.Accounts {
		o.accounts[a.ID] = a
	}
	o.ous = make(map[string]*OU, len(o.st.OUs))
	for _, u := range o.st.OUs {
		o.ous[u.ID] = u
	}
}

func (o *Org) arn() string {
	return "arn:aws:organizations::" + o.st.Management + ":organization/" + o.st.ID
}

func (o *Org) accountARN(id string) string {
	return "arn:aws:organizations::" + o.st.Management + ":account/" + o.st.ID + "/" + id
}

func (o *Org) ouARN(id string) string {
	return "arn:aws:organizations::" + o.st.Management + ":ou/" + o.st.ID + "/" + id
}

func (o *Org) rootARN() string {
	return "arn:aws:organizations::" + o.st.Management + ":root/" + o.st.ID + "/" + o.st.RootID
}

// isParent reports whether id names the root or an OU.
func (o *Org) isParent(id string) bool {
	_, ok := o.ous[id]
	return ok || id == o.st.RootID
}

// idPath returns the Organizations entity path of a parent: o-…/r-…/ou-…/…/ (AWS's Path
// field).
func (o *Org) idPath(parentID string) string {
	var chain []string
	for id := parentID; id != "" && id != o.st.RootID; {
		u, ok := o.ous[id]
		if !ok {
			break
		}
		chain = append(chain, id)
		id = u.ParentID
	}
	slices.Reverse(chain)
	var b strings.Builder
	b.WriteString(o.st.ID + "/" + o.st.RootID + "/")
	for _, id := range chain {
		b.WriteString(id + "/")
	}
	return b.String()
}

// namePath returns the path of OU names from the root to parentID ("" for the root), e.g.
// "Workloads-1/Prod".
func (o *Org) namePath(parentID string) string {
	var names []string
	for id := parentID; id != "" && id != o.st.RootID; {
		u, ok := o.ous[id]
		if !ok {
			break
		}
		names = append(names, u.Name)
		id = u.ParentID
	}
	slices.Reverse(names)
	return strings.Join(names, "/")
}

// newAccountID returns a fresh 12-digit account ID.
func (o *Org) newAccountID() string {
	for {
		id := awsproto.SeededString(o.rng, awsproto.Digits, 12)
		if _, taken := o.accounts[id]; !taken && id[0] != '0' {
			return id
		}
	}
}

// newOUID returns a fresh OU ID under the organization's root: ou-<root suffix>-<8 chars>.
func (o *Org) newOUID() string {
	for {
		id := "ou-" + strings.TrimPrefix(o.st.RootID, "r-") + "-" + awsproto.SeededString(o.rng, awsproto.LowerAlnum, 8)
		if _, taken := o.ous[id]; !taken {
			return id
		}
	}
}

// settle completes the CreateAccount requests that are due. Callers hold the write lock.
func (o *Org) settle(now time.Time) {
	if o.opts.CloseDelay > 0 {
		o.st.Accounts = slices.DeleteFunc(o.st.Accounts, func(a *Account) bool {
			if a.Suspended() && !now.Before(a.Closed.Add(o.opts.CloseDelay)) {
				delete(o.accounts, a.ID)
				return true
			}
			return false
		})
	}
	for _, r := range o.st.Requests {
		if r.State != stateInProgress || now.Before(r.Due) {
			continue
		}
		r.Completed = now
		if slices.ContainsFunc(o.st.Accounts, func(a *Account) bool { return strings.EqualFold(a.Email, r.Email) }) {
			r.State, r.FailureReason = stateFailed, "EMAIL_ALREADY_EXISTS"
			continue
		}
		a := &Account{
			ID: o.newAccountID(), Name: r.AccountName, Email: r.Email, ParentID: o.st.RootID,
			Tags: r.Tags, JoinedMethod: "CREATED", Joined: now,
		}
		o.st.Accounts = append(o.st.Accounts, a)
		o.accounts[a.ID] = a
		r.State, r.AccountID = stateSucceeded, a.ID
		if o.opts.OnAccountCreated != nil {
			o.opts.OnAccountCreated(a.ID, r.RoleName)
		}
	}
}

// pendingDue reports whether some CreateAccount request is due at now, so that readers can
// skip taking the write lock in the common case.
func (o *Org) pendingDue(now time.Time) bool {
	for _, a := range o.st.Accounts {
		if o.opts.CloseDelay > 0 && a.Suspended() && !now.Before(a.Closed.Add(o.opts.CloseDelay)) {
			return true
		}
	}
	for _, r := range o.st.Requests {
		if r.State == stateInProgress && !now.Before(r.Due) {
			return true
		}
	}
	return false
}

// read runs f under the read lock after settling due requests.
func (o *Org) read(now time.Time, f func()) {
	o.mu.RLock()
	due := o.pendingDue(now)
	o.mu.RUnlock()
	if due {
		o.mu.Lock()
		o.settle(now)
		o.mu.Unlock()
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	f()
}

// write runs f under the write lock after settling due requests.
func (o *Org) write(now time.Time, f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.settle(now)
	f()
}

// HasAccount reports whether id is an active account of the organization (not a closed one).
func (o *Org) HasAccount(id string) bool {
	var ok bool
	o.read(o.opts.Now(), func() {
		a, found := o.accounts[id]
		ok = found && !a.Suspended()
	})
	return ok
}

// ID returns the organization ID.
func (o *Org) ID() string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.st.ID
}

// Management returns the management account's ID.
func (o *Org) Management() string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.st.Management
}

// Snapshot returns the state as JSON.
func (o *Org) Snapshot() ([]byte, error) { return json.Marshal(o.state()) }

// Restore replaces the state with a snapshot, which it validates.
func (o *Org) Restore(data []byte) error {
	var st State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return err
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("invalid organization: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.install(st)
	return nil
}

// state returns a deep copy of the state.
func (o *Org) state() State {
	var st State
	o.read(o.opts.Now(), func() {
		st = o.st
		st.RootTags = maps.Clone(o.st.RootTags)
		st.Accounts = make([]*Account, len(o.st.Accounts))
		for i, a := range o.st.Accounts {
			c := *a
			c.Tags = maps.Clone(a.Tags)
			st.Accounts[i] = &c
		}
		st.OUs = make([]*OU, len(o.st.OUs))
		for i, u := range o.st.OUs {
			c := *u
			c.Tags = maps.Clone(u.Tags)
			st.OUs[i] = &c
		}
		st.Requests = make([]*CreateAccountRequest, len(o.st.Requests))
		for i, r := range o.st.Requests {
			c := *r
			c.Tags = maps.Clone(r.Tags)
			st.Requests[i] = &c
		}
	})
	return st
}

// Validate checks the invariants of a loaded or seeded state.
func (st *State) Validate() error {
	if !orgIDRe.MatchString(st.ID) {
		return fmt.Errorf("organization id %q: want o- and 10 lower-case letters or awsproto.Digits", st.ID)
	}
	if !rootIDRe.MatchString(st.RootID) {
		return fmt.Errorf("root id %q: want r- and 4 lower-case letters or awsproto.Digits", st.RootID)
	}
	parents := map[string]bool{st.RootID: true}
	for _, u := range st.OUs {
		if !ouIDRe.MatchString(u.ID) || parents[u.ID] {
			return fmt.Errorf("organizational unit id %q: invalid or duplicate", u.ID)
		}
		if !parents[u.ParentID] {
			return fmt.Errorf("organizational unit %s: parent %q is not defined before it", u.ID, u.ParentID)
		}
		parents[u.ID] = true
	}
	seen := map[string]bool{}
	mgmt := false
	for _, a := range st.Accounts {
		if !awsproto.ValidAccountID(a.ID) || seen[a.ID] {
			return fmt.Errorf("account id %q: invalid or duplicate", a.ID)
		}
		seen[a.ID] = true
		if !parents[a.ParentID] {
			return fmt.Errorf("account %s: unknown parent %q", a.ID, a.ParentID)
		}
		mgmt = mgmt || a.ID == st.Management
	}
	if !mgmt {
		return fmt.Errorf("management account %q is not an account of the organization", st.Management)
	}
	return nil
}

// View is a read-only copy of the organization for tests and the CLI.
type View struct {
	ID                string
	ARN               string
	RootID            string
	ManagementAccount string
	// Regions are the enabled regions, in the order configured; the first is the default.
	Regions  []string
	OUs      []OUView
	Accounts []AccountView
}

// OUView is one organizational unit. Path is the slash-separated list of OU names from the
// root, e.g. "Workloads-1/Prod".
type OUView struct {
	ID       string
	Name     string
	Path     string
	ParentID string
	Tags     map[string]string
}

// AccountView is one account. OUPath is the Path of its parent OU, "" for the root.
type AccountView struct {
	ID         string
	Name       string
	Email      string
	OUID       string
	OUPath     string
	Tags       map[string]string
	Management bool
}

// Members returns the accounts other than the management account.
func (v View) Members() []AccountView {
	return slices.DeleteFunc(slices.Clone(v.Accounts), func(a AccountView) bool { return a.Management })
}

// Account returns the account with the given ID or name.
func (v View) Account(idOrName string) (AccountView, bool) {
	i := slices.IndexFunc(v.Accounts, func(a AccountView) bool { return a.ID == idOrName || a.Name == idOrName })
	if i < 0 {
		return AccountView{}, false
	}
	return v.Accounts[i], true
}

// View returns a copy of the organization; regions are the enabled regions it reports.
func (o *Org) View(regions []string) View {
	var v View
	o.read(o.opts.Now(), func() {
		v = View{
			ID: o.st.ID, ARN: o.arn(), RootID: o.st.RootID, ManagementAccount: o.st.Management,
			Regions: slices.Clone(regions),
		}
		for _, u := range o.st.OUs {
			v.OUs = append(v.OUs, OUView{
				ID: u.ID, Name: u.Name, Path: o.namePath(u.ID), ParentID: u.ParentID, Tags: maps.Clone(u.Tags),
			})
		}
		for _, a := range o.st.Accounts {
			v.Accounts = append(v.Accounts, AccountView{
				ID: a.ID, Name: a.Name, Email: a.Email, OUID: a.ParentID, OUPath: o.namePath(a.ParentID),
				Tags: maps.Clone(a.Tags), Management: a.ID == o.st.Management,
			})
		}
	})
	return v
}

// orgErr builds an Organizations error (HTTP 400, Sender).
func orgErr(code, msg string) *awsproto.Error { return awsproto.Errorf(400, code, "%s", msg) }

func errAccountNotFound() *awsproto.Error {
	return orgErr("AccountNotFoundException", "You specified an account that doesn't exist.")
}

func errParentNotFound() *awsproto.Error {
	return orgErr("ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
}

func errOUNotFound() *awsproto.Error {
	return orgErr("OrganizationalUnitNotFoundException",
		"We can't find an organizational unit (OU) with the OrganizationalUnitId that you specified.")
}

func errTargetNotFound() *awsproto.Error {
	return orgErr("TargetNotFoundException",
		"We can't find a root, OU, account, or policy with the TargetId that you specified.")
}

func errChildNotFound() *awsproto.Error {
	return orgErr("ChildNotFoundException",
		"We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
}

// tagsOf returns the tag map of a taggable resource (root, OU or account), creating it on
// demand when create is set. Callers hold the lock matching create.
func (o *Org) tagsOf(id string, create bool) (map[string]string, *awsproto.Error) {
	var tags *map[string]string
	switch {
	case id == o.st.RootID:
		tags = &o.st.RootTags
	case o.ous[id] != nil:
		tags = &o.ous[id].Tags
	case o.accounts[id] != nil:
		tags = &o.accounts[id].Tags
	default:
		if !awsproto.ValidAccountID(id) && !ouIDRe.MatchString(id) && !rootIDRe.MatchString(id) &&
			!strings.HasPrefix(id, "p-") {
			return nil, orgErr("InvalidInputException", "You provided a value that does not match the required pattern.")
		}
		return nil, errTargetNotFound()
	}
	if *tags == nil && create {
		*tags = map[string]string{}
	}
	return *tags, nil
}
