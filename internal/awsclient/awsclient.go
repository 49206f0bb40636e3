// Package awsclient builds the aws.Config values stackfleet calls AWS with: one for the
// management (or delegated administrator) account, from the standard credential chain, and one
// per target account and region, with the credentials of an execution role assumed in that
// account.
//
// Every config it hands out paces its calls with a token bucket per account, region and service
// (AWS throttles each API per account and region, so that is the unit worth protecting) and
// retries with the SDK's adaptive retryer, shared per account and region, with enough attempts
// and no retry quota, so that throttling slows a deployment down instead of failing it.
package awsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultRoleARNPattern = "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
	DefaultSessionName    = "stackfleet"
	DefaultRatePerSecond  = 8
	DefaultBurst          = 16
	// DefaultManagementRatePerSecond is the ceiling of the management account's calls other
	// than STS (Organizations, above all: reading a thousand accounts takes some sixty calls,
	// which 8 a second would stretch over seven seconds). AWS publishes no Organizations rate;
	// this is a ceiling, and the adaptive retryer slows down on the first throttle.
	DefaultManagementRatePerSecond = 40
	// DefaultSTSRatePerSecond paces the management account's STS calls: one AssumeRole per
	// target account, which a rollout or refresh over many accounts makes in a burst. STS
	// allows 600 requests per second per account; this leaves room for others, and the
	// adaptive retryer backs off if STS throttles anyway.
	DefaultSTSRatePerSecond = 500
	DefaultMaxAttempts      = 12
	// DefaultRegion is used when neither Options.Region nor the environment or profile name one;
	// Organizations and IAM live there.
	DefaultRegion = "us-east-1"
)

// Options configure New. Zero fields take the defaults above.
type Options struct {
	// Region is the home region (management calls, STS); it overrides AWS_REGION and the profile.
	Region string
	// Profile selects a shared-config profile (AWS_PROFILE otherwise).
	Profile string
	// Endpoint overrides AWS_ENDPOINT_URL for every service, e.g. the sandbox's http://127.0.0.1:port.
	Endpoint string
	// RoleARNPattern is the execution role assumed in target accounts; "{account}" is replaced by
	// the account id.
	RoleARNPattern string
	// ExternalID is passed to AssumeRole when set.
	ExternalID string
	// SessionName is the role session name, visible in the target accounts' CloudTrail.
	SessionName string
	// RatePerSecond and Burst size the token bucket shared by all calls to one service in one
	// target account and region: a ceiling — the adaptive retryer's client-side rate, shared by
	// the account and region, drops below it as soon as AWS throttles.
	RatePerSecond float64
	Burst         int
	// ManagementRatePerSecond replaces RatePerSecond for the management account's calls other
	// than STS, with a burst of as many calls.
	ManagementRatePerSecond float64
	// STSRatePerSecond replaces RatePerSecond for STS (role assumptions), with a burst of as
	// many calls.
	STSRatePerSecond float64
	// MaxAttempts is the number of attempts per call, throttled ones included.
	MaxAttempts int
	// Logger receives debug records of role assumptions and SDK retries; nil discards them.
	Logger *slog.Logger
	// HTTPClient replaces the SDK's HTTP client (tests, proxies). The default keeps more
	// idle connections per host than the SDK's. With AWS_CA_BUNDLE set, it must be an
	// *awshttp.BuildableClient, as the SDK adds the bundle to it.
	HTTPClient aws.HTTPClient
}

// Clients hands out aws.Configs for the management account and for targets. It is safe for
// concurrent use; every config it returns shares its rate limiters, retryers and credential
// caches, so pacing and role assumptions are per process, not per caller.
type Clients struct {
	opts Options
	log  *slog.Logger
	// raw is the loaded config without stackfleet's pacing; base adds the management pacing.
	raw, base aws.Config
	sts       *sts.Client

	mu       sync.Mutex
	creds    map[string]*aws.CredentialsCache // by account
	limiters map[lane]*rate.Limiter
	retryers map[lane]aws.Retryer // service ""
}

// lane is the unit of AWS throttling: one service in one account and region. The management
// config uses account "".
type lane struct{ account, region, service string }

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// New loads the default configuration (environment, shared config and credentials files, SSO,
// instance roles) with opts applied. It does not call AWS: credentials are resolved on first use.
func New(ctx context.Context, opts Options) (*Clients, error) {
	if opts.RoleARNPattern == "" {
		opts.RoleARNPattern = DefaultRoleARNPattern
	}
	if !strings.Contains(opts.RoleARNPattern, "{account}") {
		return nil, fmt.Errorf("role ARN pattern %q: it must contain {account}", opts.RoleARNPattern)
	}
	if opts.SessionName == "" {
		opts.SessionName = DefaultSessionName
	}
	if opts.RatePerSecond == 0 {
		opts.RatePerSecond = DefaultRatePerSecond
	}
	if opts.RatePerSecond < 0 {
		return nil, fmt.Errorf("rate %v per second: it must be positive", opts.RatePerSecond)
	}
	if opts.Burst == 0 {
		opts.Burst = DefaultBurst
	}
	if opts.Burst < 0 {
		return nil, fmt.Errorf("burst %d: it must be positive", opts.Burst)
	}
	if opts.ManagementRatePerSecond == 0 {
		opts.ManagementRatePerSecond = DefaultManagementRatePerSecond
	}
	if opts.ManagementRatePerSecond < 0 {
		return nil, fmt.Errorf("management rate %v per second: it must be positive", opts.ManagementRatePerSecond)
	}
	if opts.STSRatePerSecond == 0 {
		opts.STSRatePerSecond = DefaultSTSRatePerSecond
	}
	if opts.STSRatePerSecond < 0 {
		return nil, fmt.Errorf("STS rate %v per second: it must be positive", opts.STSRatePerSecond)
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	var httpClient aws.HTTPClient = opts.HTTPClient
	if httpClient == nil {
		// Thousands of instances share a few regional endpoints: keep more idle connections
		// per host than the SDK's 10, or every burst of calls pays new TLS handshakes.
		httpClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 1024
			t.MaxIdleConnsPerHost = 256
		}).WithDialerOptions(func(d *net.Dialer) {
			// An endpoint that does not answer at all is reported within seconds.
			d.Timeout = dialTimeout
		})
	}
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithLogger(slogLogger{log}),
		config.WithClientLogMode(aws.LogRetries),
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Endpoint != "" {
		load = append(load, config.WithBaseEndpoint(opts.Endpoint))
	}
	raw, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	if raw.Region == "" {
		raw.Region = DefaultRegion
	}
	c := &Clients{
		opts:     opts,
		log:      log,
		raw:      raw,
		creds:    map[string]*aws.CredentialsCache{},
		limiters: map[lane]*rate.Limiter{},
		retryers: map[lane]aws.Retryer{},
	}
	c.base = c.paced(raw.Copy(), "", raw.Region)
	c.sts = sts.NewFromConfig(c.base)
	return c, nil
}

// CallerARN returns the ARN of the identity the credentials act as (STS GetCallerIdentity).
func (c *Clients) CallerARN(ctx context.Context) (string, error) {
	out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}

// Base returns the management account's config (Organizations, STS), paced and retried like
// target configs. Each call returns a copy.
func (c *Clients) Base() aws.Config { return c.base.Copy() }

// RoleARN is the execution role assumed in account.
func (c *Clients) RoleARN(account string) string {
	return strings.ReplaceAll(c.opts.RoleARNPattern, "{account}", account)
}

// ForTarget returns a config for calls to account in region with the credentials of the
// execution role assumed in account. The role is assumed once per account however many regions
// and goroutines ask, cached, and refreshed before it expires. ForTarget retrieves the
// credentials before returning, so a role that cannot be assumed fails here with an
// *AssumeRoleError rather than on the first deployment call.
func (c *Clients) ForTarget(ctx context.Context, account, region string) (aws.Config, error) {
	if !accountID.MatchString(account) {
		return aws.Config{}, fmt.Errorf("account %q: an account id is 12 digits", account)
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("account %s: no region", account)
	}
	creds := c.credentials(account)
	if _, err := creds.Retrieve(ctx); err != nil {
		e := &AssumeRoleError{Account: account, RoleARN: c.RoleARN(account), Err: err}
		if api, ok := errors.AsType[smithy.APIError](err); ok {
			e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
		}
		return aws.Config{}, e
	}
	cfg := c.raw.Copy()
	cfg.Region = region
	cfg.Credentials = creds
	return c.paced(cfg, account, region), nil
}

// credentials returns the account's credentials cache, creating it on first use. The cache
// single-flights retrievals, which is what makes concurrent ForTarget calls share one
// AssumeRole.
func (c *Clients) credentials(account string) *aws.CredentialsCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc := c.creds[account]; cc != nil {
		return cc
	}
	roleARN := c.RoleARN(account)
	provider := stscreds.NewAssumeRoleProvider(c.sts, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = c.opts.SessionName
		if c.opts.ExternalID != "" {
			o.ExternalID = aws.String(c.opts.ExternalID)
		}
	})
	logged := aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		creds, err := provider.Retrieve(ctx)
		if err != nil {
			c.log.Debug("assume role failed", "account", account, "role", roleARN, "err", err)
		} else {
			c.log.Debug("assumed role", "account", account, "role", roleARN, "expires", creds.Expires)
		}
		return creds, err
	})
	cc := aws.NewCredentialsCache(logged, func(o *aws.CredentialsCacheOptions) {
		// Refresh well before expiry so a long stack operation never polls with dead keys;
		// the jitter spreads the refreshes of thousands of accounts.
		o.ExpiryWindow = 5 * time.Minute
		o.ExpiryWindowJitterFrac = 0.5
	})
	c.creds[account] = cc
	return cc
}

// paced returns cfg with the pacing of account and region: one retryer for the pair (its
// adaptive client-side rate follows the throttles of the whole account and region) and one
// rate limiter per service, chosen per call.
func (c *Clients) paced(cfg aws.Config, account, region string) aws.Config {
	r := c.retryer(lane{account, region, ""})
	cfg.Retryer = func() aws.Retryer { return r }
	m := limitMiddleware{c: c, account: account, region: region}
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), func(s *middleware.Stack) error {
		// After the retry middleware and before signing: every attempt, retries included,
		// waits for a token, and a long wait never spoils a signature.
		if err := s.Finalize.Insert(m, "Retry", middleware.After); err != nil {
			return s.Finalize.Add(m, middleware.Before)
		}
		return nil
	})
	return cfg
}

func (c *Clients) retryer(l lane) aws.Retryer {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.retryers[l]
	if r == nil {
		// The management account's calls come first (the organization, role assumptions): if
		// the endpoint does not even accept a connection there, say so now rather than after
		// a dozen attempts. Calls in target accounts ride out a slow connection.
		r = newRetryer(c.opts.MaxAttempts, l.account == "")
		c.retryers[l] = r
	}
	return r
}

func (c *Clients) limiter(l lane) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	lim := c.limiters[l]
	if lim == nil {
		perSecond, burst := c.opts.RatePerSecond, c.opts.Burst
		switch {
		case l.service == "STS":
			perSecond = c.opts.STSRatePerSecond
			burst = max(burst, int(perSecond))
		case l.account == "":
			perSecond = c.opts.ManagementRatePerSecond
			burst = max(burst, int(perSecond))
		}
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		c.limiters[l] = lim
	}
	return lim
}

// NewRetryer returns the SDK's adaptive retryer with maxAttempts attempts, the default
// exponential backoff (1 s base for throttles, capped at 20 s) and no retry quota: the quota
// exists to fail fast during outages, but here it would turn sustained throttling into
// failures.
//
// An endpoint that refuses connections, or a host name that does not resolve, is not retried:
// it will not answer a retry either, and failing at once lets the user hear what to check.
func NewRetryer(maxAttempts int) aws.Retryer { return newRetryer(maxAttempts, false) }

// newRetryer is NewRetryer; with dialTimeouts, a connection that times out is not retried
// either.
func newRetryer(maxAttempts int, dialTimeouts bool) aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.RateLimiter = ratelimit.None
			so.Retryables = append([]retry.IsErrorRetryable{unreachableRetryable{dialTimeouts}}, so.Retryables...)
		})
	})
}

// dialTimeout bounds establishing a connection.
const dialTimeout = 5 * time.Second

type unreachableRetryable struct{ dialTimeouts bool }

func (u unreachableRetryable) IsErrorRetryable(err error) aws.Ternary {
	if refusedOrUnknown(err) || u.dialTimeouts && dialTimedOut(err) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// Unreachable reports whether err says nothing answers at the endpoint: the connection was
// refused or timed out, or its host name does not resolve.
func Unreachable(err error) bool { return refusedOrUnknown(err) || dialTimedOut(err) }

func refusedOrUnknown(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func dialTimedOut(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && op.Timeout()
}

// limitMiddleware makes each attempt of a call wait for a token of its lane.
type limitMiddleware struct {
	c               *Clients
	account, region string
}

func (limitMiddleware) ID() string { return "stackfleet.RateLimit" }

func (m limitMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	lim := m.c.limiter(lane{m.account, m.region, awsmiddleware.GetServiceID(ctx)})
	if err := lim.Wait(ctx); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("rate limit: %w", err)
	}
	return next.HandleFinalize(ctx, in)
}

// AssumeRoleError is a failure to assume the execution role in a target account. Code and
// Message are STS's error (e.g. AccessDenied and its explanation) when STS answered.
type AssumeRoleError struct {
	Account, RoleARN string
	Code, Message    string
	Err              error
}

func (e *AssumeRoleError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("account %s: assume role %s: %s: %s", e.Account, e.RoleARN, e.Code, e.Message)
	}
	return fmt.Sprintf("account %s: assume role %s: %v", e.Account, e.RoleARN, e.Err)
}

// Unwrap returns the underlying SDK error.
func (e *AssumeRoleError) Unwrap() error { return e.Err }

// slogLogger adapts slog to the SDK's logger. Every SDK record is debug-level, its warnings too
// ("Response has no supported checksum…"): they are not the user's to act on, and show with
// --verbose only; errors reach the user through the calls that fail.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(cls logging.Classification, format string, v ...any) {
	s.l.Log(context.Background(), slog.LevelDebug, fmt.Sprintf(format, v...), "source", "aws-sdk", "class", string(cls))
}
