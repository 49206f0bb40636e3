package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// RuleKind is the kind of a fault rule.
type RuleKind string

// Rule kinds. Request rules (throttle, server-error, delay) apply to API calls as they arrive;
// resource-failure rules apply to CloudFormation resource operations.
const (
	// RuleResourceFailure fails matching resource operations (create, update or delete) of
	// stacks with Reason, so the stack rolls back.
	RuleResourceFailure RuleKind = "resource-failure"
	// RuleThrottle answers matching calls beyond RatePerSecond (per account and region, with
	// Burst) with the protocol's throttling error.
	RuleThrottle RuleKind = "throttle"
	// RuleServerError answers matching calls with a 5xx error.
	RuleServerError RuleKind = "server-error"
	// RuleDelay holds matching calls for Delay before serving them.
	RuleDelay RuleKind = "delay"
)

// maxRuleDelay bounds delay rules so that a typo cannot hang clients for hours.
const maxRuleDelay = 5 * time.Minute

// Rule is a fault-injection rule. Empty match fields match anything. Rules are evaluated in
// the order they were added; the first matching rule of a kind that fires wins.
type Rule struct {
	// ID is assigned by AddRule ("rule-1", "rule-2", …).
	ID   string   `json:"id,omitempty"`
	Kind RuleKind `json:"kind"`

	// Request rules match on the signing name of the service ("cloudformation", "sts",
	// "organizations", "ssm", "monitoring") and the operation name; all rules match on the
	// caller's account and the request region.
	Service string `json:"service,omitempty"`
	Action  string `json:"action,omitempty"`
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`

	// Resource-failure rules match on the stack, the resource type (AWS::SSM::Parameter) and
	// the logical ID; ResourceType or LogicalID is required.
	StackName    string `json:"stackName,omitempty"`
	ResourceType string `json:"resourceType,omitempty"`
	LogicalID    string `json:"logicalId,omitempty"`
	// Reason is the status reason of the failed resource (resource-failure) or the error
	// message (server-error).
	Reason string `json:"reason,omitempty"`

	// Probability that a matching event fires the rule, drawn from the sandbox's seeded RNG;
	// 0 means 1 (always). A throttle rule throttles a call over its rate with this probability.
	Probability float64 `json:"probability,omitempty"`
	// Count is how many times the rule fires before it is spent; 0 means unlimited.
	Count int64 `json:"count,omitempty"`

	// RatePerSecond and Burst configure throttle rules: a token bucket per account and region;
	// RatePerSecond 0 throttles every matching call. Burst defaults to max(1, RatePerSecond).
	RatePerSecond float64 `json:"ratePerSecond,omitempty"`
	Burst         int     `json:"burst,omitempty"`

	// Status (default 500) and Code (default InternalFailure for 500, ServiceUnavailable for
	// 503, InternalError otherwise) configure server-error rules.
	Status int    `json:"status,omitempty"`
	Code   string `json:"code,omitempty"`

	// Delay is how long delay rules hold a call (at most 5 minutes). In JSON it is a Go
	// duration string such as "1.5s".
	Delay time.Duration `json:"-"`

	// Fired counts how often the rule fired (output only).
	Fired int64 `json:"fired"`
}

type ruleJSON Rule

// MarshalJSON encodes Delay as a duration string.
func (r Rule) MarshalJSON() ([]byte, error) {
	type out struct {
		ruleJSON
		Delay string `json:"delay,omitempty"`
	}
	o := out{ruleJSON: ruleJSON(r)}
	if r.Delay != 0 {
		o.Delay = r.Delay.String()
	}
	return json.Marshal(o)
}

// UnmarshalJSON decodes Delay from a duration string (or a number of milliseconds) and
// rejects unknown fields, so that a misspelt match field does not widen a rule.
func (r *Rule) UnmarshalJSON(b []byte) error {
	type in struct {
		ruleJSON
		Delay json.RawMessage `json:"delay,omitempty"`
	}
	var v in
	if err := strictJSON(b, &v); err != nil {
		return err
	}
	*r = Rule(v.ruleJSON)
	if len(v.Delay) > 0 {
		d, err := parseDuration(v.Delay)
		if err != nil {
			return fmt.Errorf("delay: %w", err)
		}
		r.Delay = d
	}
	return nil
}

// parseDuration reads a JSON duration: a Go duration string or a number of milliseconds.
func parseDuration(raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return time.ParseDuration(s)
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return 0, fmt.Errorf("want a duration string like \"1.5s\" or milliseconds, got %s", raw)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// validate checks a rule and fills defaults.
func (r *Rule) validate() error {
	switch r.Kind {
	case RuleResourceFailure:
		if r.ResourceType == "" && r.LogicalID == "" {
			return errors.New("resource-failure rule needs resourceType or logicalId")
		}
	case RuleThrottle:
		if r.RatePerSecond < 0 || r.Burst < 0 {
			return errors.New("throttle rule: ratePerSecond and burst must not be negative")
		}
		if r.Burst == 0 {
			r.Burst = max(1, int(r.RatePerSecond))
		}
	case RuleServerError:
		if r.Status == 0 {
			r.Status = 500
		}
		if r.Status < 500 || r.Status > 599 {
			return fmt.Errorf("server-error rule: status %d is not a 5xx status", r.Status)
		}
		if r.Code == "" {
			switch r.Status {
			case 500:
				r.Code = "InternalFailure"
			case 503:
				r.Code = "ServiceUnavailable"
			default:
				r.Code = "InternalError"
			}
		}
	case RuleDelay:
		if r.Delay <= 0 || r.Delay > maxRuleDelay {
			return fmt.Errorf("delay rule: delay %v must be positive and at most %v", r.Delay, maxRuleDelay)
		}
	case "":
		return errors.New("rule kind is required (resource-failure, throttle, server-error or delay)")
	default:
		return fmt.Errorf("unknown rule kind %q (want resource-failure, throttle, server-error or delay)", r.Kind)
	}
	if r.Probability < 0 || r.Probability > 1 {
		return fmt.Errorf("probability %v must be between 0 and 1", r.Probability)
	}
	if r.Count < 0 {
		return fmt.Errorf("count %d must not be negative", r.Count)
	}
	if r.Account != "" && !awsproto.ValidAccountID(r.Account) {
		return fmt.Errorf("account %q is not a 12-digit account id", r.Account)
	}
	if r.Region != "" && !awsproto.ValidRegion(r.Region) {
		return fmt.Errorf("region %q is not a region name", r.Region)
	}
	return nil
}

// activeRule is a rule with its runtime state.
type activeRule struct {
	Rule
	limiters map[string]*rate.Limiter // account/region → bucket (throttle rules)
}

// faults holds the fault rules. It is safe for concurrent use; rules may change at any time.
type faults struct {
	mu     sync.Mutex
	rules  []*activeRule
	nextID int
	rng    *mrand.Rand
	// nRequest and nResource count live rules, so that calls skip the lock when none exist.
	nRequest, nResource atomic.Int32
}

func newFaults(seed int64) *faults {
	return &faults{rng: mrand.New(mrand.NewPCG(uint64(seed), 0xfa17))}
}

// add validates and installs a rule, returning it with its ID.
func (f *faults) add(r Rule) (Rule, error) {
	r.ID, r.Fired = "", 0
	if err := r.validate(); err != nil {
		return Rule{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	r.ID = "rule-" + strconv.Itoa(f.nextID)
	f.rules = append(f.rules, &activeRule{Rule: r, limiters: map[string]*rate.Limiter{}})
	f.recount()
	return r, nil
}

// recount refreshes the live-rule counters; callers hold mu.
func (f *faults) recount() {
	var req, res int32
	for _, r := range f.rules {
		if r.spent() {
			continue
		}
		if r.Kind == RuleResourceFailure {
			res++
		} else {
			req++
		}
	}
	f.nRequest.Store(req)
	f.nResource.Store(res)
}

func (r *activeRule) spent() bool { return r.Count > 0 && r.Fired >= r.Count }

func (f *faults) list() []Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Rule, len(f.rules))
	for i, r := range f.rules {
		out[i] = r.Rule
	}
	return out
}

func (f *faults) remove(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.rules)
	f.rules = slices.DeleteFunc(f.rules, func(r *activeRule) bool { return r.ID == id })
	f.recount()
	return len(f.rules) != n
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
	f.recount()
}

// fire decides whether a matching rule fires now (probability and count), recording it.
// Callers hold mu.
func (f *faults) fire(r *activeRule) bool {
	if r.spent() {
		return false
	}
	if r.Probability > 0 && r.Probability < 1 && f.rng.Float64() >= r.Probability {
		return false
	}
	r.Fired++
	if r.spent() {
		f.recount()
	}
	return true
}

func matchField(want, got string) bool { return want == "" || want == got }

func (r *activeRule) matchesCall(service, action, account, region string) bool {
	return matchField(r.Service, service) && matchField(r.Action, action) &&
		matchField(r.Account, account) && matchField(r.Region, region)
}

// callFault is the outcome of the request rules for one call.
type callFault struct {
	delay time.Duration
	err   *awsproto.Error
	// throttled and faulted say which kind of rule produced err, for the counters.
	throttled, faulted bool
}

// throttlingError is the error AWS answers a throttled call of service with: Organizations
// says TooManyRequestsException, the others Throttling(Exception).
func throttlingError(p awsproto.Protocol, service string) *awsproto.Error {
	if service == "organizations" {
		return awsproto.Errorf(400, "TooManyRequestsException",
			"You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later.")
	}
	return awsproto.ThrottlingError(p)
}

// onCall evaluates the request rules for one call: the first firing delay rule sets the delay,
// then a throttle rule or a server-error rule may fail the call.
func (f *faults) onCall(p awsproto.Protocol, service, action, account, region string, now time.Time) callFault {
	var out callFault
	if f.nRequest.Load() == 0 {
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Kind == RuleDelay && out.delay == 0 && r.matchesCall(service, action, account, region) && f.fire(r) {
			out.delay = r.Delay
		}
	}
	for _, r := range f.rules {
		if r.Kind != RuleThrottle || r.spent() || !r.matchesCall(service, action, account, region) {
			continue
		}
		key := account + "/" + region
		lim := r.limiters[key]
		if lim == nil {
			lim = rate.NewLimiter(rate.Limit(r.RatePerSecond), r.Burst)
			r.limiters[key] = lim
		}
		// Over the rate, the call is throttled with the rule's probability: AWS's own
		// throttling is not exact either, and a client must cope with a call that passes.
		if (r.RatePerSecond == 0 || !lim.AllowN(now, 1)) && f.fire(r) {
			out.err, out.throttled = throttlingError(p, service), true
			return out
		}
	}
	for _, r := range f.rules {
		if r.Kind == RuleServerError && r.matchesCall(service, action, account, region) && f.fire(r) {
			msg := r.Reason
			if msg == "" {
				msg = "We encountered an internal error. Please try again."
			}
			out.err = &awsproto.Error{Code: r.Code, Message: msg, Status: r.Status}
			out.faulted = true
			return out
		}
	}
	return out
}

// onResource evaluates the resource-failure rules for one resource operation.
func (f *faults) onResource(account, region, stack, logicalID, resourceType string) (string, bool) {
	if f.nResource.Load() == 0 {
		return "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Kind != RuleResourceFailure || !matchField(r.Account, account) || !matchField(r.Region, region) ||
			!matchField(r.StackName, stack) || !matchField(r.ResourceType, resourceType) ||
			!matchField(r.LogicalID, logicalID) || !f.fire(r) {
			continue
		}
		reason := r.Reason
		if reason == "" {
			reason = fmt.Sprintf("Resource handler returned message: \"Injected failure (sandbox %s)\" (HandlerErrorCode: InternalFailure)", r.ID)
		}
		return reason, true
	}
	return "", false
}
