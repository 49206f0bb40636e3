// Package sandbox is a local, multi-account AWS-compatible endpoint: one HTTP server that
// speaks CloudFormation, STS, Organizations, S3, SSM Parameter Store and CloudWatch alarms to
// the real aws-sdk-go-v2 clients, the AWS CLI v2 and the CDK CLI, for an AWS Organization that
// exists only in memory (and optionally on disk).
//
// A Sandbox owns an organization (a management account and member accounts in nested OUs,
// seeded deterministically from Options.Seed or described by a YAML file), the identities that
// act in it and the state of every service:
//
//   - The management account has a long-term access key (ManagementCredentials) for the IAM
//     user sandbox-admin. Every member account has the role OrganizationAccountAccessRole
//     trusting the management account, so, as on AWS, member accounts are reached with
//     sts:AssumeRole. Roles created by stacks (AWS::IAM::Role) are assumable too, subject to
//     their trust policies.
//   - Every request is authenticated by its access key (signatures are not verified), counted,
//     subjected to the fault rules, and routed to the service of its SigV4 signing name in
//     the caller's account.
//   - The admin API under /_sandbox/ (see ADMIN.md and Handler) changes fault rules, alarm
//     states, drift and resource delays at runtime and reads the organization and counters.
//
// Each service is a package of its own (orgs, sts, iam, cfn, s3, ssm, cloudwatch, over the wire
// protocols of awsproto); this package wires them into one table of parts that routing and
// persistence loop over, and keeps the HTTP server, the admin API, fault rules and counters.
// All state hangs off the Sandbox value; several sandboxes run side by side in one process.
package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackfleet/stackfleet/internal/localhttp"
	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
	"github.com/stackfleet/stackfleet/internal/sandbox/cloudwatch"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
	"github.com/stackfleet/stackfleet/internal/sandbox/orgs"
	"github.com/stackfleet/stackfleet/internal/sandbox/s3"
	"github.com/stackfleet/stackfleet/internal/sandbox/ssm"
	"github.com/stackfleet/stackfleet/internal/sandbox/sts"
)

// Credentials are AWS credentials for the sandbox endpoint. SessionToken is empty for the
// management account's long-term key.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string `json:",omitempty"`
	// Account is the account the credentials act in; Region is the default region.
	Account string
	Region  string
}

// The organization as tests and the CLI see it, and the IAM roles of an account.
type (
	OrgView     = orgs.View
	OUView      = orgs.OUView
	AccountView = orgs.AccountView
	Role        = iam.Role
)

// DefaultRegions returns the enabled regions when Options.Regions and the org file name none.
func DefaultRegions() []string { return []string{"us-east-1", "us-west-2", "eu-west-1"} }

// Limits on the generated organization, far above any useful size but low enough that a typo
// does not exhaust memory.
const (
	maxSeedAccounts = 100_000
	maxSeedOUs      = 1_000
)

// Options configure a Sandbox. The zero value is a usable sandbox with an organization of only
// the management account in DefaultRegions().
type Options struct {
	// Accounts is the number of generated member accounts, spread over OUs top-level OUs
	// ("Workloads-N", each with child OUs "Prod" and "NonProd"). Ignored when OrgFile is set
	// or state is loaded from DataDir.
	Accounts, OUs int
	// Regions are the enabled regions; regional services refuse others. The first is the
	// default region of ManagementCredentials. Default: the regions of the loaded state or of
	// the org file, else DefaultRegions().
	Regions []string
	// Seed makes the organization, the management access key and fault probabilities
	// deterministic.
	Seed int64
	// OrgFile is an optional YAML file describing the organization (see ADMIN.md).
	OrgFile string
	// DataDir, if set, is where the state is persisted: loaded by New, written after changes
	// (debounced) and on Close.
	DataDir string
	// ResourceDelay is the simulated duration of each CloudFormation resource operation.
	ResourceDelay time.Duration
	// CreateAccountDelay is how long Organizations CreateAccount stays IN_PROGRESS; the
	// account appears on the first call after it (so 0 still shows IN_PROGRESS once).
	CreateAccountDelay time.Duration
	// AccessRole is the role every seeded member account has, trusting the management account:
	// OrganizationAccountAccessRole (default; AWS Organizations), or AWSControlTowerExecution
	// to look like a Control Tower landing zone.
	AccessRole string
	// CloseAccountDelay is how long a closed account stays SUSPENDED in the organization
	// before it leaves it (AWS: 90 days); 0 keeps it.
	CloseAccountDelay time.Duration
	// AdminToken, when set, is required by the admin API ("Authorization: Bearer TOKEN" or
	// ?token=TOKEN). Without it the admin API still answers only for IP-literal and localhost
	// Host headers and refuses cross-origin writes (see localhttp.Guard).
	AdminToken string
	// AllowedHosts are further Host names the admin API answers for.
	AllowedHosts []string
	// SaveDelay is the debounce of persistence after changes (default 500ms).
	SaveDelay time.Duration
	// Logger receives operational logs (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Sandbox is one sandbox endpoint. Its methods are safe for concurrent use.
type Sandbox struct {
	now     func() time.Time
	log     *slog.Logger
	seed    int64
	regions []string

	keys     *iam.Keys
	adminKey iam.AccessKey
	roles    *iam.Roles
	org      *orgs.Org
	faults   *faults
	custom   customResponses
	guard    localhttp.Guard
	counters *counters

	cfn *cfn.Engine
	ssm *ssm.Store
	cw  *cloudwatch.Store
	s3  *s3.Store
	// parts are the services and stores, for routing and persistence to loop over.
	parts []part

	// resourceDelay is the last resource delay set, for the admin API to report.
	resourceDelay atomic.Int64
	handler       http.Handler
	saver         *saver // nil without DataDir

	mu     sync.Mutex
	srv    *http.Server
	url    string
	closed bool
	quit   chan struct{} // closed when Close starts; ends fault delays
	done   chan struct{} // closed when Close has finished
	err    error         // the result of Close
}

// New creates a sandbox: it loads the state from DataDir if there is one, else builds the
// organization from OrgFile or the seed. It does not listen; use Start or Handler.
func New(opts Options) (*Sandbox, error) {
	if opts.Accounts < 0 || opts.Accounts > maxSeedAccounts {
		return nil, fmt.Errorf("sandbox: accounts %d out of range 0..%d", opts.Accounts, maxSeedAccounts)
	}
	if opts.OUs < 0 || opts.OUs > maxSeedOUs {
		return nil, fmt.Errorf("sandbox: OUs %d out of range 0..%d", opts.OUs, maxSeedOUs)
	}
	if err := checkRegions(opts.Regions); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if opts.AccessRole != "" && (len(opts.AccessRole) > 64 || strings.ContainsAny(opts.AccessRole, "/: ")) {
		return nil, fmt.Errorf("sandbox: access role %q is not a role name", opts.AccessRole)
	}
	s := &Sandbox{
		now: opts.Now, log: opts.Logger, seed: opts.Seed,
		roles: iam.NewRoles(), counters: newCounters(),
		guard: localhttp.Guard{Token: opts.AdminToken, AllowedHosts: opts.AllowedHosts},
		quit:  make(chan struct{}), done: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.keys = iam.NewKeys(s.now)
	now := s.now()

	var loaded *persistedState
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: data dir: %w", err)
		}
		var err error
		if loaded, err = loadState(statePath(opts.DataDir)); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}

	var ss orgs.Seed
	switch {
	case loaded != nil:
		s.seed = loaded.Seed
		s.regions = loaded.Regions
		if opts.OrgFile != "" || opts.Accounts > 0 || opts.OUs > 0 {
			s.log.Info("sandbox: state loaded from the data dir; org options ignored", "dir", opts.DataDir)
		}
	case opts.OrgFile != "":
		data, err := os.ReadFile(opts.OrgFile)
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		if ss, err = orgs.ParseFile(opts.OrgFile, data, opts.Seed, now); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		s.regions = ss.FileRegions
	default:
		ss = orgs.Generate(opts.Accounts, opts.OUs, opts.Seed, now)
	}
	s.faults = newFaults(s.seed)
	if len(opts.Regions) > 0 {
		s.regions = slices.Clone(opts.Regions)
	}
	if len(s.regions) == 0 {
		s.regions = DefaultRegions()
	}

	s.ssm = ssm.New(s.now)
	s.cw = cloudwatch.New(s.now)
	engine, err := cfn.New(cfn.Options{Effects: effects{s}, ResourceDelay: opts.ResourceDelay, Now: s.now, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.cfn = engine
	s.resourceDelay.Store(int64(opts.ResourceDelay))
	s.org = orgs.New(ss.Org, orgs.Options{
		Seed: s.seed, Now: s.now, CreateDelay: max(opts.CreateAccountDelay, 0), CloseDelay: max(opts.CloseAccountDelay, 0),
		OnAccountCreated: func(account, role string) {
			s.addAccessRole(account, role, "", s.now())
			s.changed()
		},
	})
	s.s3 = s3.New(s.now, func(account string) string {
		if s.org.HasAccount(account) {
			return s.org.ID()
		}
		return ""
	})
	// As IAM does, a trust policy may name only accounts and roles that exist.
	s.roles.CheckPrincipals(s.org.HasAccount)
	s.parts = []part{
		{name: "organizations", key: "Org", api: s.org, state: s.org},
		{name: "sts", api: &sts.Service{Keys: s.keys, Roles: s.roles, Org: s.org, Now: s.now}},
		{key: "Keys", state: s.keys},
		{key: "Roles", state: s.roles},
		{key: "S3", state: s.s3},
		{key: "Names", state: legacyNames{s}}, // after S3: it adds to the restored buckets
		{name: "cloudformation", regional: true, key: "CFN", api: inAccount{s.cfn}, state: s.cfn},
		{name: "ssm", regional: true, key: "SSM", api: inAccount{s.ssm}, state: s.ssm},
		{name: "monitoring", regional: true, key: "CloudWatch", api: inAccount{s.cw}, state: s.cw},
	}

	if loaded != nil {
		if err := s.restore(loaded); err != nil {
			_ = engine.Close()
			return nil, fmt.Errorf("sandbox: state file %s: %w", statePath(opts.DataDir), err)
		}
	} else {
		s.adminKey = ss.AdminKey
		s.keys.Add(&s.adminKey)
		for _, a := range ss.Org.Accounts {
			if a.ID != ss.Org.Management {
				s.addAccessRole(a.ID, cmp.Or(opts.AccessRole, iam.OrgAccessRole), ss.RoleIDs[a.ID], now)
			}
		}
	}

	s.handler = s.newHandler()
	if opts.DataDir != "" {
		s.saver = newSaver(s, statePath(opts.DataDir), opts.SaveDelay)
		if loaded == nil {
			// Persist the new organization at once, so a crash before the first change
			// still restarts with the same org.
			if err := s.saver.save(); err != nil {
				_ = engine.Close()
				return nil, fmt.Errorf("sandbox: %w", err)
			}
		}
		go s.saver.run()
	}
	return s, nil
}

// addAccessRole creates the role AWS Organizations creates in a member account, trusting the
// management account. It runs under the org lock (see org.onAccountCreated), so it must not
// call the org.
func (s *Sandbox) addAccessRole(account, name, roleID string, now time.Time) {
	if _, err := s.roles.PutTrusted(account, name, "/", iam.OrgAccessTrustPolicy(s.adminKey.Principal.Account), roleID, now); err != nil {
		s.log.Warn("sandbox: creating access role", "account", account, "role", name, "err", err)
	}
}

func checkRegions(regions []string) error {
	seen := map[string]bool{}
	for _, r := range regions {
		if !awsproto.ValidRegion(r) {
			return fmt.Errorf("invalid region %q", r)
		}
		if seen[r] {
			return fmt.Errorf("region %s listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

// Handler returns the HTTP handler serving the AWS APIs and the admin API (under /_sandbox/).
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Start listens on addr (e.g. "127.0.0.1:0") and serves Handler in the background. It returns
// the endpoint URL. A sandbox is started at most once.
func (s *Sandbox) Start(addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return "", errors.New("sandbox: closed")
	case s.srv != nil:
		return "", errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: listen: %w", err)
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.url = endpointURL(ln.Addr())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox: serve", "err", err)
		}
	}()
	s.log.Info("sandbox: listening", "url", s.url)
	return s.url, nil
}

// endpointURL returns the URL clients use for a listener address; an unspecified host
// (0.0.0.0, ::) is reached through the loopback address.
func endpointURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// URL returns the endpoint URL after Start, "" before.
func (s *Sandbox) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the server gracefully (waiting up to 10s for in-flight requests), finishes
// in-flight stack operations, stops background work and, with a DataDir, writes the state.
// It is idempotent; later calls return the first call's result.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return s.err
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	close(s.quit)

	var errs []error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: shutdown: %w", err))
			_ = srv.Close()
		}
		cancel()
	}
	if err := s.cfn.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: cloudformation: %w", err))
	}
	if s.saver != nil {
		if err := s.saver.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	s.err = errors.Join(errs...)
	close(s.done)
	return s.err
}

// ManagementCredentials returns the management account's long-term credentials, with the
// default region.
func (s *Sandbox) ManagementCredentials() Credentials {
	return Credentials{
		AccessKeyID: s.adminKey.ID, SecretAccessKey: s.adminKey.Secret,
		Account: s.adminKey.Principal.Account, Region: s.regions[0],
	}
}

// Regions returns the enabled regions; the first is the default.
func (s *Sandbox) Regions() []string { return slices.Clone(s.regions) }

// Org returns a copy of the organization.
func (s *Sandbox) Org() OrgView { return s.org.View(s.regions) }

// Roles returns the IAM roles of account, sorted by name.
func (s *Sandbox) Roles(account string) []Role { return s.roles.List(account) }

// ExportLines returns shell lines that point the AWS CLI and SDKs at the sandbox with the
// management credentials. Before Start the endpoint is http://127.0.0.1:4566 as a
// placeholder.
func (s *Sandbox) ExportLines() []string {
	url := s.URL()
	if url == "" {
		url = "http://127.0.0.1:4566"
	}
	c := s.ManagementCredentials()
	return []string{
		"export AWS_ENDPOINT_URL=" + shellQuote(url),
		"export AWS_ACCESS_KEY_ID=" + shellQuote(c.AccessKeyID),
		"export AWS_SECRET_ACCESS_KEY=" + shellQuote(c.SecretAccessKey),
		"export AWS_REGION=" + shellQuote(c.Region),
		"export AWS_DEFAULT_REGION=" + shellQuote(c.Region),
	}
}

// shellQuote quotes s for a POSIX shell unless it consists of safe characters only.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+@,%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Counters returns a snapshot of the call counters.
func (s *Sandbox) Counters() Counts { return s.counters.snapshot() }

// ResetCounters zeroes the call counters.
func (s *Sandbox) ResetCounters() { s.counters.reset() }

// AddRule installs a fault rule and returns it with its ID.
func (s *Sandbox) AddRule(r Rule) (Rule, error) { return s.faults.add(r) }

// Rules returns the fault rules, in evaluation order, with their firing counts.
func (s *Sandbox) Rules() []Rule { return s.faults.list() }

// RemoveRule deletes a fault rule; it reports whether the rule existed.
func (s *Sandbox) RemoveRule(id string) bool { return s.faults.remove(id) }

// ClearRules deletes every fault rule.
func (s *Sandbox) ClearRules() { s.faults.clear() }

// SetResourceDelay changes the simulated duration of CloudFormation resource operations.
func (s *Sandbox) SetResourceDelay(d time.Duration) {
	d = max(d, 0)
	s.resourceDelay.Store(int64(d))
	s.cfn.SetResourceDelay(d)
}

// SetAlarmState sets the state (OK, ALARM, INSUFFICIENT_DATA) of a CloudWatch alarm.
func (s *Sandbox) SetAlarmState(account, region, alarm, state, reason string) error {
	if err := s.cw.SetAlarmState(account, region, alarm, state, reason); err != nil {
		return err
	}
	s.changed()
	return nil
}

// Drift changes the actual properties of a stack resource, as an out-of-band change would,
// so that drift detection reports it.
func (s *Sandbox) Drift(account, region, stack, logicalID string, actual map[string]any) error {
	if err := s.cfn.Drift(account, region, stack, logicalID, actual); err != nil {
		return err
	}
	s.changed()
	return nil
}

// Save writes the state to DataDir now; it is a no-op without a DataDir.
func (s *Sandbox) Save() error {
	if s.saver == nil {
		return nil
	}
	return s.saver.save()
}

// changed schedules a (debounced) save after a change.
func (s *Sandbox) changed() {
	if s.saver != nil {
		s.saver.kick()
	}
}

// Objects returns the keys of the objects in an S3 bucket, sorted; ok is false if there is no
// such bucket.
func (s *Sandbox) Objects(bucket string) (keys []string, ok bool) { return s.s3.Keys(bucket) }
