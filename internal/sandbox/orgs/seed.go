package orgs

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// Seed is everything a sandbox derives deterministically from its seed: the organization, the
// management account's access key and the member accounts' access roles.
type Seed struct {
	Org         State
	AdminKey    iam.AccessKey
	RoleIDs     map[string]string // account → RoleId of OrganizationAccountAccessRole
	FileRegions []string          // regions named by the org file, if any
}

// Teams and stages used to name and tag generated accounts.
var seedTeams = []string{
	"payments", "search", "identity", "analytics", "platform", "mobile", "billing", "catalog",
	"checkout", "messaging", "media", "risk",
}

func seedRand(seed int64, stream uint64) *mrand.Rand {
	return mrand.New(mrand.NewPCG(uint64(seed), stream))
}

// newSeedBase mints the organization, root and management identity from the seed.
func newSeedBase(r *mrand.Rand, now time.Time) Seed {
	mgmt := "1" + awsproto.SeededString(r, awsproto.Digits, 11)
	ss := Seed{
		Org: State{
			ID:         "o-" + awsproto.SeededString(r, awsproto.LowerAlnum, 10),
			RootID:     "r-" + awsproto.SeededString(r, awsproto.LowerAlnum, 4),
			Management: mgmt,
			Created:    now,
		},
		RoleIDs: map[string]string{},
	}
	userID := "AIDA" + awsproto.SeededString(r, awsproto.Base32Upper, 17)
	ss.AdminKey = iam.AccessKey{
		ID:        "AKIA" + awsproto.SeededString(r, awsproto.Base32Upper, 16),
		Secret:    awsproto.SeededString(r, awsproto.SecretChars, 40),
		Principal: iam.UserPrincipal(mgmt, userID),
	}
	ss.Org.Accounts = []*Account{{
		ID: mgmt, Name: "management", Email: "sandbox-management@example.com", ParentID: ss.Org.RootID,
		JoinedMethod: "CREATED", Joined: now,
	}}
	return ss
}

// Generate builds the seeded organization: ous top-level OUs "Workloads-N", each with
// child OUs "Prod" and "NonProd", and accounts spread round-robin over those leaves (over the
// root when ous is 0), named and tagged by team and stage.
func Generate(accounts, ous int, seed int64, now time.Time) Seed {
	r := seedRand(seed, 0x5eed)
	ss := newSeedBase(r, now)
	st := &ss.Org
	ids := map[string]bool{st.Management: true}
	ouIDs := map[string]bool{}
	newOU := func(name, parent string) *OU {
		for {
			id := "ou-" + strings.TrimPrefix(st.RootID, "r-") + "-" + awsproto.SeededString(r, awsproto.LowerAlnum, 8)
			if !ouIDs[id] {
				ouIDs[id] = true
				u := &OU{ID: id, Name: name, ParentID: parent}
				st.OUs = append(st.OUs, u)
				return u
			}
		}
	}
	type leaf struct {
		ou    *OU
		stage string
	}
	var leaves []leaf
	for i := range ous {
		top := newOU(fmt.Sprintf("Workloads-%d", i+1), st.RootID)
		leaves = append(leaves,
			leaf{newOU("Prod", top.ID), "prod"},
			leaf{newOU("NonProd", top.ID), "nonprod"})
	}
	for i := range accounts {
		parent, stage := st.RootID, []string{"prod", "nonprod"}[i%2]
		if len(leaves) > 0 {
			l := leaves[i%len(leaves)]
			parent, stage = l.ou.ID, l.stage
		}
		team := seedTeams[(i/max(len(leaves), 2))%len(seedTeams)]
		var id string
		for id == "" || ids[id] {
			id = "2" + awsproto.SeededString(r, awsproto.Digits, 11)
		}
		ids[id] = true
		name := fmt.Sprintf("%s-%s-%02d", team, stage, i+1)
		st.Accounts = append(st.Accounts, &Account{
			ID: id, Name: name, Email: "aws+" + name + "@example.com", ParentID: parent,
			Tags: map[string]string{
				"stage": stage, "team": team, "cost-center": "cc-" + awsproto.SeededString(r, awsproto.Digits, 4),
			},
			JoinedMethod: "INVITED", Joined: now,
		})
		ss.RoleIDs[id] = "AROA" + awsproto.SeededString(r, awsproto.Base32Upper, 17)
	}
	return ss
}

// decodeYAML decodes data strictly into v and parses it into an AST for locating semantic
// errors. The YAML library can panic on some malformed inputs; that becomes an error.
func decodeYAML(data []byte, v any) (file *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			file, err = nil, fmt.Errorf("malformed YAML (%v)", r)
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, v, yaml.Strict()); err != nil {
		return nil, errors.New(yaml.FormatError(err, false, true))
	}
	return parser.ParseBytes(data, 0)
}

// lineOf returns the line of the node at a YAML path, 0 if unknown.
func lineOf(file *ast.File, path string) (line int) {
	defer func() {
		if recover() != nil {
			line = 0
		}
	}()
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	node, err := p.FilterFile(file)
	if err != nil || node == nil || node.GetToken() == nil {
		return 0
	}
	return node.GetToken().Position.Line
}

// orgFile is the YAML seed file format; see ADMIN.md.
type orgFile struct {
	OrganizationID string        `yaml:"organizationId"`
	RootID         string        `yaml:"rootId"`
	Management     *fileAccount  `yaml:"management"`
	Regions        []string      `yaml:"regions"`
	Accounts       []fileAccount `yaml:"accounts"`
	OUs            []fileOU      `yaml:"ous"`
}

type fileAccount struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	Email string            `yaml:"email"`
	Tags  map[string]string `yaml:"tags"`
}

type fileOU struct {
	Name     string            `yaml:"name"`
	Tags     map[string]string `yaml:"tags"`
	Accounts []fileAccount     `yaml:"accounts"`
	OUs      []fileOU          `yaml:"ous"`
}

// ParseFile builds the organization a YAML seed file describes. IDs the file leaves out
// are minted from the seed. Errors name the file line.
func ParseFile(name string, data []byte, seed int64, now time.Time) (Seed, error) {
	var f orgFile
	file, err := decodeYAML(data, &f)
	if err != nil {
		return Seed{}, fmt.Errorf("org file %s: %s", name, err)
	}
	// fail reports a semantic error at the node the path names.
	fail := func(path, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if line := lineOf(file, path); line > 0 {
			return fmt.Errorf("org file %s: line %d: %s", name, line, msg)
		}
		return fmt.Errorf("org file %s: %s: %s", name, path, msg)
	}

	r := seedRand(seed, 0xf11e)
	ss := newSeedBase(r, now)
	st := &ss.Org
	if f.OrganizationID != "" {
		if !orgIDRe.MatchString(f.OrganizationID) {
			return Seed{}, fail("$.organizationId", "invalid organization id %q (want o- and 10 to 32 lower-case letters or awsproto.Digits)", f.OrganizationID)
		}
		st.ID = f.OrganizationID
	}
	if f.RootID != "" {
		if !rootIDRe.MatchString(f.RootID) {
			return Seed{}, fail("$.rootId", "invalid root id %q (want r- and 4 to 32 lower-case letters or awsproto.Digits)", f.RootID)
		}
		st.RootID = f.RootID
		st.Accounts[0].ParentID = f.RootID
	}
	for i, reg := range f.Regions {
		if !awsproto.ValidRegion(reg) {
			return Seed{}, fail(fmt.Sprintf("$.regions[%d]", i), "invalid region %q", reg)
		}
		if slices.Contains(f.Regions[:i], reg) {
			return Seed{}, fail(fmt.Sprintf("$.regions[%d]", i), "region %s listed twice", reg)
		}
	}
	ss.FileRegions = f.Regions

	byID := map[string]string{}    // account id → path
	byEmail := map[string]string{} // lower-case email → path
	byName := map[string]string{}
	if m := f.Management; m != nil {
		a := st.Accounts[0]
		if m.ID != "" {
			if !awsproto.ValidAccountID(m.ID) {
				return Seed{}, fail("$.management.id", "invalid account id %q (want 12 awsproto.Digits)", m.ID)
			}
			a.ID, st.Management = m.ID, m.ID
			ss.AdminKey.Principal = iam.UserPrincipal(m.ID, ss.AdminKey.Principal.UserID)
		}
		if m.Name != "" {
			a.Name = m.Name
		}
		if m.Email != "" {
			if !emailRe.MatchString(m.Email) {
				return Seed{}, fail("$.management.email", "invalid email %q", m.Email)
			}
			a.Email = m.Email
		}
		a.Tags = m.Tags
	}
	mg := st.Accounts[0]
	byID[mg.ID], byEmail[strings.ToLower(mg.Email)], byName[mg.Name] = "$.management", "$.management", "$.management"

	// Accounts without an explicit id are minted after all explicit ids are known, so a
	// minted id never collides with one declared later in the file.
	var pending []*Account
	addAccount := func(path, parent string, fa fileAccount) error {
		if fa.Name == "" {
			return fail(path, "account has no name")
		}
		if len(fa.Name) > 50 {
			return fail(path+".name", "account name %q is longer than 50 characters", fa.Name)
		}
		if prev, dup := byName[fa.Name]; dup {
			return fail(path+".name", "duplicate account name %q (also at %s)", fa.Name, prev)
		}
		email := fa.Email
		if email == "" {
			email = "aws+" + strings.ToLower(strings.ReplaceAll(fa.Name, " ", "-")) + "@example.com"
		}
		if !emailRe.MatchString(email) {
			return fail(path+".email", "invalid email %q", email)
		}
		if prev, dup := byEmail[strings.ToLower(email)]; dup {
			return fail(path, "duplicate account email %q (also at %s)", email, prev)
		}
		if fa.ID != "" {
			if !awsproto.ValidAccountID(fa.ID) {
				return fail(path+".id", "invalid account id %q (want 12 awsproto.Digits, quoted)", fa.ID)
			}
			if prev, dup := byID[fa.ID]; dup {
				return fail(path+".id", "duplicate account id %s (also at %s)", fa.ID, prev)
			}
			byID[fa.ID] = path
		}
		for k := range fa.Tags {
			if k == "" || strings.HasPrefix(strings.ToLower(k), "aws:") {
				return fail(path+".tags", "invalid tag key %q", k)
			}
		}
		byName[fa.Name], byEmail[strings.ToLower(email)] = path, path
		a := &Account{
			ID: fa.ID, Name: fa.Name, Email: email, ParentID: parent, Tags: fa.Tags,
			JoinedMethod: "INVITED", Joined: now,
		}
		st.Accounts = append(st.Accounts, a)
		if a.ID == "" {
			pending = append(pending, a)
		}
		return nil
	}
	ouIDs := map[string]bool{}
	var addOUs func(path, parent string, ous []fileOU) error
	addOUs = func(path, parent string, ous []fileOU) error {
		names := map[string]bool{}
		for i, fo := range ous {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case fo.Name == "":
				return fail(p, "organizational unit has no name")
			case strings.Contains(fo.Name, "/"):
				return fail(p+".name", "organizational unit name %q contains /", fo.Name)
			case names[fo.Name]:
				return fail(p+".name", "duplicate organizational unit %q under the same parent", fo.Name)
			}
			names[fo.Name] = true
			id := ""
			for id == "" || ouIDs[id] {
				id = "ou-" + strings.TrimPrefix(st.RootID, "r-") + "-" + awsproto.SeededString(r, awsproto.LowerAlnum, 8)
			}
			ouIDs[id] = true
			st.OUs = append(st.OUs, &OU{ID: id, Name: fo.Name, ParentID: parent, Tags: fo.Tags})
			for j, fa := range fo.Accounts {
				if err := addAccount(fmt.Sprintf("%s.accounts[%d]", p, j), id, fa); err != nil {
					return err
				}
			}
			if err := addOUs(p+".ous", id, fo.OUs); err != nil {
				return err
			}
		}
		return nil
	}
	for i, fa := range f.Accounts {
		if err := addAccount(fmt.Sprintf("$.accounts[%d]", i), st.RootID, fa); err != nil {
			return Seed{}, err
		}
	}
	if err := addOUs("$.ous", st.RootID, f.OUs); err != nil {
		return Seed{}, err
	}
	for _, a := range pending {
		for a.ID == "" || byID[a.ID] != "" {
			a.ID = "2" + awsproto.SeededString(r, awsproto.Digits, 11)
		}
		byID[a.ID] = "generated"
	}
	for _, a := range st.Accounts[1:] {
		ss.RoleIDs[a.ID] = "AROA" + awsproto.SeededString(r, awsproto.Base32Upper, 17)
	}
	if err := st.Validate(); err != nil {
		return Seed{}, fmt.Errorf("org file %s: %w", name, err)
	}
	return ss, nil
}
