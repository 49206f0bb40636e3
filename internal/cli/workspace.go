package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/orgs"
	"github.com/stackfleet/stackfleet/internal/state"
)

// workspace is everything a fleet command works with, loaded in the order that lets bad input
// fail before anything touches AWS: configuration, then inventory, then resolution.
type workspace struct {
	file      *config.File
	clients   *awsclient.Clients
	inventory *fleet.Inventory
	resolved  *config.Resolved
	store     *state.Store
	// timing is shared by every deploy of this process: instances of a stack set take about as
	// long as each other, so polls are timed from what earlier instances took.
	timing      *cfn.Timing
	pollInitial time.Duration
	// keys seals NoEcho parameter values and opens them for deploys.
	keys *keyring
	// templates is the store of large templates, made on first use.
	templates *templateStore
	assets    *assetPublisher
	// bootstrapping: the workspace plans stackfleet's own stack sets (bootstrap's), deployed
	// through the access role, instead of the configuration's.
	bootstrapping bool
}

func (w *workspace) Close() error {
	if w.store != nil {
		return w.store.Close()
	}
	return nil
}

// openWorkspace loads the configuration; with needAWS it also builds clients and reads the
// inventory, and with resolve it resolves the stack sets (templates, parameters).
func openWorkspace(ctx context.Context, g *globals, needAWS, resolve bool) (*workspace, error) {
	f, err := config.Load(g.config)
	if err != nil {
		var cerrs config.Errors
		if errors.As(err, &cerrs) {
			return nil, usageErr(cerrs)
		}
		return nil, usageErr(fmt.Errorf("%w (use --config or STACKFLEET_CONFIG to point at stackfleet.yaml)", err))
	}
	w := &workspace{file: f, timing: cfn.NewTiming(), pollInitial: g.pollInitial, keys: newKeyring(f.Dir)}
	if needAWS {
		if err := w.loadInventory(ctx, g); err != nil {
			return nil, err
		}
		if resolve {
			r, err := f.Resolve(w.inventory)
			if err != nil {
				return nil, usageErr(err)
			}
			w.resolved = r
			if err := w.sealStackSets(); err != nil {
				return nil, operationalErr(err)
			}
		}
	}
	// State is opened last: a configuration that does not load or resolve leaves it untouched.
	store, err := w.openState(ctx)
	if err != nil {
		return nil, err
	}
	w.store = store
	return w, nil
}

func (w *workspace) loadInventory(ctx context.Context, g *globals) error {
	f := w.file
	clients, err := awsclient.New(ctx, awsclient.Options{
		Region: g.region, Profile: g.profile, Endpoint: g.endpoint,
		RoleARNPattern: f.Execution.Role, ExternalID: f.Execution.ExternalID, SessionName: f.Execution.SessionName,
		Logger: g.log,
	})
	if err != nil {
		return operationalErr(fmt.Errorf("AWS configuration: %w", err))
	}
	w.clients = clients
	switch f.Organization.Source {
	case "file":
		path := f.Organization.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(f.Dir, path)
		}
		inv, err := orgs.LoadFile(path)
		if err != nil {
			return usageErr(fmt.Errorf("inventory: %w", err))
		}
		w.inventory = inv
	default:
		inv, err := orgs.Read(ctx, clients.Base(), orgs.ReadOptions{Tags: f.NeedsTags()})
		if err != nil {
			if strings.Contains(err.Error(), "get credentials") {
				err = fmt.Errorf("%w\nhint: no AWS credentials were found; set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or try the local sandbox: 'stackfleet sandbox' prints what to export", err)
			}
			return operationalErr(fmt.Errorf("read the organization: %w", err))
		}
		w.inventory = inv
	}
	return nil
}

// configHash pins a plan to the configuration and every template it uses.
func (w *workspace) configHash() string {
	parts := []string{string(w.file.Source)}
	if w.resolved != nil {
		for _, s := range w.resolved.StackSets {
			parts = append(parts, s.Name, string(s.TemplateBody))
		}
	}
	return fleet.Hash(parts...)
}

// accountNames are the organization's account names by id, or nil before the inventory is read.
func (w *workspace) accountNames() map[string]string {
	if w.inventory == nil {
		return nil
	}
	names := make(map[string]string, len(w.inventory.Accounts))
	for _, a := range w.inventory.Accounts {
		if a.Name != "" {
			names[a.ID] = a.Name
		}
	}
	return names
}

// inventoryHash pins a plan to the organization it was computed against.
func (w *workspace) inventoryHash() string {
	inv := *w.inventory
	inv.OUs = slices.Clone(inv.OUs)
	inv.Accounts = slices.Clone(inv.Accounts)
	slices.SortFunc(inv.OUs, func(a, b fleet.OU) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(inv.Accounts, func(a, b fleet.Account) int { return strings.Compare(a.ID, b.ID) })
	b, _ := json.Marshal(inv)
	return fleet.Hash(string(b))
}

// recorded reads the instances of the stack sets this configuration recorded, by stack set
// name; pipeline stacks and other configurations' stack sets are not among them. A stack set
// this configuration declares that another configuration in the same directory recorded is a
// usage error naming that configuration: neither may touch the other's stacks.
func (w *workspace) recorded(ctx context.Context) (map[string][]fleet.Instance, error) {
	owners, err := w.store.Owners(ctx)
	if err != nil {
		return nil, operationalErr(fmt.Errorf("read state: %w", err))
	}
	out := map[string][]fleet.Instance{}
	for _, r := range owners {
		if !r.Owner.IsStackSet() {
			continue
		}
		if strings.HasPrefix(r.Owner.Name, config.ReservedPrefix) != w.bootstrapping {
			continue // bootstrap's stack sets are bootstrap's alone
		}
		if r.Config != w.store.Config() {
			if slices.ContainsFunc(w.file.StackSets, func(s config.StackSet) bool { return s.Name == r.Owner.Name }) {
				return nil, usageErr(fmt.Errorf("stack set %s is managed by %s, another configuration in %s: rename it in %s, or manage it from one configuration only",
					r.Owner.Name, r.Config, w.file.Dir, w.file.Path))
			}
			continue
		}
		insts, err := w.store.Instances(ctx, r.Owner)
		if err != nil {
			return nil, operationalErr(fmt.Errorf("read state: %w", err))
		}
		if len(insts) > 0 {
			out[r.Owner.Name] = insts
		}
	}
	return out, nil
}

// stackSet returns the resolved stack set with the given name.
func (w *workspace) stackSet(name string) *fleet.StackSet {
	for _, s := range w.resolved.StackSets {
		if s.Name == name {
			return s
		}
	}
	return nil
}
