package orgs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// LoadFile reads a static inventory: the organization described in YAML instead of read from
// the Organizations API. Unknown fields are errors. The format:
//
//	managementAccount: "111111111111"   # required
//	root: r-abcd                        # optional root id; default r-root
//	accounts:                           # accounts directly under the root
//	  - id: "111111111111"              # required, 12 digits (quote it: 0123… is octal to YAML)
//	    name: management
//	    email: root@example.com
//	ous:                                # organizational units under the root
//	  - name: Workloads                 # required, unique among siblings, no "/"
//	    id: ou-abcd-11111111            # optional; derived from the root and the OU path if absent
//	    accounts:
//	      - id: "222222222222"
//	        name: dev
//	        status: ACTIVE              # ACTIVE (default), SUSPENDED, PENDING_CLOSURE, CLOSED…
//	        tags: {env: dev, team: a}
//	    children:                       # nested OUs, same shape
//	      - name: Prod
//	        accounts: [{id: "333333333333", name: prod}]
//
// Account ids are unique across the file, as are OU ids. The inventory's OUs and accounts are
// sorted by id, like Read's. Errors are an Errors value locating every problem.
func LoadFile(path string) (*fleet.Inventory, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return ParseFile(path, src)
}

// ParseFile is LoadFile on src already read; path names the file in errors.
func ParseFile(path string, src []byte) (*fleet.Inventory, error) {
	tree, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, Errors{yamlError(path, err)}
	}
	var f fileInventory
	if err := yaml.UnmarshalWithOptions(src, &f, yaml.Strict()); err != nil {
		return nil, Errors{yamlError(path, err)}
	}
	c := &checker{path: path, tree: tree, accounts: map[string]bool{}, ouIDs: map[string]bool{}}
	inv := c.build(&f)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	slices.SortFunc(inv.OUs, func(a, b fleet.OU) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(inv.Accounts, func(a, b fleet.Account) int { return strings.Compare(a.ID, b.ID) })
	return inv, nil
}

// Error is one problem in an inventory file at File:Line:Column (0 when unknown).
type Error struct {
	File         string
	Line, Column int
	Message      string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// Errors is every problem found in one inventory file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

type fileInventory struct {
	ManagementAccount accountID     `yaml:"managementAccount"`
	Root              string        `yaml:"root"`
	Accounts          []fileAccount `yaml:"accounts"`
	OUs               []fileOU      `yaml:"ous"`
}

type fileOU struct {
	Name     string        `yaml:"name"`
	ID       string        `yaml:"id"`
	Accounts []fileAccount `yaml:"accounts"`
	Children []fileOU      `yaml:"children"`
}

type fileAccount struct {
	ID     accountID         `yaml:"id"`
	Name   string            `yaml:"name"`
	Email  string            `yaml:"email"`
	Status string            `yaml:"status"`
	Tags   map[string]string `yaml:"tags"`
}

// accountID keeps the digits as written: decoded as a YAML number, 011111111111 would be
// octal and 111111111111 would lose nothing but its leading zeros elsewhere.
type accountID string

func (a *accountID) UnmarshalYAML(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && (b[0] == '"' || b[0] == '\'') {
		if err := yaml.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	*a = accountID(s)
	return nil
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	rootIDPattern    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	ouIDPattern      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	accountStatuses  = []string{"ACTIVE", "SUSPENDED", "PENDING_ACTIVATION", "PENDING_CLOSURE", "CLOSED"}
)

type checker struct {
	path     string
	tree     *ast.File
	errs     Errors
	accounts map[string]bool
	ouIDs    map[string]bool
}

func (c *checker) build(f *fileInventory) *fleet.Inventory {
	inv := &fleet.Inventory{ManagementAccount: string(f.ManagementAccount), RootID: f.Root}
	switch {
	case f.ManagementAccount == "":
		c.errorf("", "managementAccount is required")
	case !accountIDPattern.MatchString(string(f.ManagementAccount)):
		c.errorf("$.managementAccount", "account id %q: it must be 12 digits", f.ManagementAccount)
	}
	if inv.RootID == "" {
		inv.RootID = "r-root"
	} else if !rootIDPattern.MatchString(inv.RootID) {
		c.errorf("$.root", "root id %q: it must look like r-abcd (r- and 4 to 32 lowercase letters or digits)", inv.RootID)
	}
	c.addAccounts(inv, "$", inv.RootID, f.Accounts)
	c.addOUs(inv, "$", inv.RootID, "", f.OUs)
	return inv
}

func (c *checker) addOUs(inv *fleet.Inventory, at, parent, parentPath string, ous []fileOU) {
	field := "children"
	if at == "$" {
		field = "ous"
	}
	names := map[string]bool{}
	for i, ou := range ous {
		here := fmt.Sprintf("%s.%s[%d]", at, field, i)
		switch {
		case ou.Name == "":
			c.errorf(here, "an organizational unit needs a name")
		case strings.Contains(ou.Name, "/"):
			c.errorf(here+".name", "OU name %q: it cannot contain / (paths of OU names use it)", ou.Name)
		case names[ou.Name]:
			c.errorf(here+".name", "OU name %q appears twice under the same parent", ou.Name)
		}
		names[ou.Name] = true
		path := strings.TrimPrefix(parentPath+"/"+ou.Name, "/")
		id := ou.ID
		if id == "" {
			sum := sha256.Sum256([]byte(path))
			id = "ou-" + strings.TrimPrefix(inv.RootID, "r-") + "-" + hex.EncodeToString(sum[:6])
		} else if !ouIDPattern.MatchString(id) {
			c.errorf(here+".id", "OU id %q: it must look like ou-abcd-12345678", id)
		}
		if c.ouIDs[id] && ou.ID != "" { // derived ids repeat only with names, reported above
			c.errorf(here+".id", "OU id %q appears twice", id)
		}
		c.ouIDs[id] = true
		inv.OUs = append(inv.OUs, fleet.OU{ID: id, Name: ou.Name, ParentID: parent})
		c.addAccounts(inv, here, id, ou.Accounts)
		c.addOUs(inv, here, id, path, ou.Children)
	}
}

func (c *checker) addAccounts(inv *fleet.Inventory, at, parent string, accts []fileAccount) {
	for i, a := range accts {
		here := fmt.Sprintf("%s.accounts[%d]", at, i)
		id := string(a.ID)
		switch {
		case id == "":
			c.errorf(here, "an account needs an id")
		case !accountIDPattern.MatchString(id):
			c.errorf(here+".id", "account id %q: it must be 12 digits", id)
		case c.accounts[id]:
			c.errorf(here+".id", "account %s appears twice", id)
		}
		c.accounts[id] = true
		status := a.Status
		if status == "" {
			status = "ACTIVE"
		} else if !slices.Contains(accountStatuses, status) {
			c.errorf(here+".status", "status %q: use one of %s", status, strings.Join(accountStatuses, ", "))
		}
		var tags map[string]string
		if len(a.Tags) > 0 {
			tags = a.Tags
		}
		inv.Accounts = append(inv.Accounts, fleet.Account{
			ID: id, Name: a.Name, Email: a.Email, ParentID: parent, Status: status, Tags: tags,
		})
	}
}

// errorf records a problem at the node of the YAML path at (e.g. "$.ous[0].accounts[1].id"),
// or at no position for "".
func (c *checker) errorf(at, format string, args ...any) {
	e := &Error{File: c.path, Message: fmt.Sprintf(format, args...)}
	if p, err := yaml.PathString(at); at != "" && err == nil {
		if n, err := p.FilterFile(c.tree); err == nil && n != nil {
			if tok := position(n); tok != nil && tok.Position != nil {
				e.Line, e.Column = tok.Position.Line, tok.Position.Column
			}
		}
	}
	c.errs = append(c.errs, e)
}

// position is the token to point at for n: a mapping's first key rather than its colon.
func position(n ast.Node) *token.Token {
	switch m := n.(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 {
			return m.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		return m.Key.GetToken()
	}
	return n.GetToken()
}

func yamlError(path string, err error) *Error {
	e := &Error{File: path, Message: err.Error()}
	if ye, ok := errors.AsType[yaml.Error](err); ok {
		e.Message = ye.GetMessage()
		if tok := ye.GetToken(); tok != nil && tok.Position != nil {
			e.Line, e.Column = tok.Position.Line, tok.Position.Column
		}
	}
	return e
}
