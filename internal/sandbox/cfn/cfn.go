// Package cfn is the sandbox's CloudFormation service: stacks, change sets, events, exports and
// drift, with simulated resources whose side effects (IAM roles, SSM parameters, CloudWatch
// alarms, globally unique bucket names) go through the Effects interface the sandbox implements.
//
// State is partitioned by account and region; each partition has its own lock, held only for
// short in-memory updates and never across a resource operation or a simulated delay. Stack
// operations run asynchronously in goroutines owned by the Engine, with AWS's status
// transitions and events. Resources of one stack are created and updated one at a time in
// dependency order (and deleted in the reverse order), so events are deterministic; stacks run
// concurrently with each other.
package cfn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Effects is what simulated resources change outside CloudFormation; the sandbox implements it.
// Its methods are called without any engine lock held and may be called concurrently.
type Effects interface {
	// PutRole creates IAM role name in account (error if it exists: the resource fails with
	// "<name> already exists"); returns its ARN and RoleId (AROA…).
	PutRole(account, name, path, trustPolicyJSON string) (arn, roleID string, err error)
	DeleteRole(account, name string)
	// PutParameter creates/overwrites an SSM parameter; fails if it exists and overwrite is false.
	PutParameter(account, region string, p Parameter, overwrite bool) error
	DeleteParameter(account, region, name string)
	GetParameter(account, region, name string) (value string, ok bool)
	PutAlarm(account, region string, a Alarm) error
	DeleteAlarm(account, region, name string)
	// CreateBucket creates an S3 bucket in the global namespace (error "<name> already exists"
	// if any account has it); UpdateBucket changes its configuration; DeleteBucket deletes it,
	// failing while it holds objects. PutBucketPolicy sets its policy ("" removes it).
	CreateBucket(account, region string, b Bucket) error
	UpdateBucket(account string, b Bucket) error
	DeleteBucket(account, name string) error
	PutBucketPolicy(account, bucket, policy string) error
	// ReadObject reads the S3 object at url with the permissions of account (for
	// TemplateURL): the errors are ErrObjectURL, ErrObjectNotFound and ErrObjectAccessDenied.
	ReadObject(account, url string) ([]byte, error)
	// CustomResource answers a request (Create, Update, Delete) to a custom resource, in place
	// of the function its ServiceToken names.
	CustomResource(account, region, stackName, logicalID, resourceType, serviceToken, request string) CustomResponse
	// ResourceFault reports whether an injected fault fails this resource operation now.
	ResourceFault(account, region, stackName, logicalID, resourceType string) (reason string, fail bool)
}

// Errors of Effects.ReadObject.
var (
	ErrObjectURL          = errors.New("not an S3 object URL")
	ErrObjectNotFound     = errors.New("the specified key does not exist")
	ErrObjectAccessDenied = errors.New("access denied")
)

// Bucket is the configuration of an S3 bucket created by an AWS::S3::Bucket resource.
type Bucket struct {
	Name, SSEAlgorithm, KMSKeyID, Versioning string
	Tags                                     map[string]string
	PublicAccessBlock                        *PublicAccessBlock
}

// PublicAccessBlock is a bucket's PublicAccessBlockConfiguration.
type PublicAccessBlock struct {
	BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets bool
}

// Parameter is an SSM parameter created by an AWS::SSM::Parameter resource.
type Parameter struct{ Name, Type, Value, Description, DataType, AllowedPattern, Tier string }

// Alarm is a CloudWatch metric alarm created by an AWS::CloudWatch::Alarm resource.
type Alarm struct {
	Name, Description, Namespace, MetricName, Statistic, ComparisonOperator, TreatMissingData string
	Dimensions                                                                                map[string]string
	Threshold                                                                                 float64
	Period, EvaluationPeriods, DatapointsToAlarm                                              int32
	ActionsEnabled                                                                            bool
	AlarmActions, OKActions, InsufficientDataActions                                          []string
}

// Options configure an Engine.
type Options struct {
	Effects       Effects          // required (New rejects nil)
	ResourceDelay time.Duration    // simulated time per resource operation; 0 = none
	Now           func() time.Time // default time.Now
	Logger        *slog.Logger     // default discard
}

// Engine is the CloudFormation service. All its methods are safe for concurrent use.
type Engine struct {
	fx     Effects
	now    func() time.Time
	log    *slog.Logger
	delay  atomic.Int64 // time.Duration
	ctx    context.Context
	cancel context.CancelFunc

	// opMu orders starting an operation against Close: Close takes it for writing, so no
	// operation is added to ops after Close has begun waiting.
	opMu   sync.RWMutex
	closed bool
	ops    sync.WaitGroup

	mu      sync.RWMutex
	regions map[regionKey]*region

	templates templateCache
}

type regionKey struct{ account, region string }

// New returns an Engine; opts.Effects is required.
func New(opts Options) (*Engine, error) {
	if opts.Effects == nil {
		return nil, errors.New("cfn: Options.Effects is required")
	}
	e := &Engine{fx: opts.Effects, now: opts.Now, log: opts.Logger, regions: map[regionKey]*region{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e.delay.Store(int64(opts.ResourceDelay))
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.templates.init()
	return e, nil
}

// SetResourceDelay changes the simulated duration of each resource operation; it applies to
// operations that start waiting after the call.
func (e *Engine) SetResourceDelay(d time.Duration) { e.delay.Store(int64(max(d, 0))) }

// Close stops accepting operations and waits for in-flight ones to finish. Simulated delays
// are cut short, so in-flight operations complete promptly. Close is idempotent.
func (e *Engine) Close() error {
	e.opMu.Lock()
	e.closed = true
	e.opMu.Unlock()
	e.cancel()
	e.ops.Wait()
	return nil
}

// goOp runs fn as an asynchronous stack operation, or reports false if the engine is closed.
func (e *Engine) goOp(fn func()) bool {
	e.opMu.RLock()
	defer e.opMu.RUnlock()
	if e.closed {
		return false
	}
	e.ops.Add(1)
	go func() {
		defer e.ops.Done()
		fn()
	}()
	return true
}

// sleep waits for the simulated duration of one resource operation, or until Close.
func (e *Engine) sleep() {
	d := time.Duration(e.delay.Load())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.ctx.Done():
	}
}

// region returns the partition of account and name, creating it if create is set.
func (e *Engine) region(account, name string, create bool) *region {
	k := regionKey{account, name}
	e.mu.RLock()
	r := e.regions[k]
	e.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r = e.regions[k]
	if r == nil && create {
		r = newRegion(account, name)
		e.regions[k] = r
	}
	return r
}

// errClosed is the error for operations refused because the engine is closing.
func errClosed() error {
	return &awsproto.Error{Code: "ServiceUnavailable", Message: "The CloudFormation service is shutting down.", Status: 503}
}

type handler func(e *Engine, r *region, p params) (awsproto.Object, error)

var handlers = map[string]handler{
	"CreateStack":                       (*Engine).createStack,
	"UpdateStack":                       (*Engine).updateStack,
	"DeleteStack":                       (*Engine).deleteStack,
	"DescribeStacks":                    (*Engine).describeStacks,
	"ListStacks":                        (*Engine).listStacks,
	"DescribeStackEvents":               (*Engine).describeStackEvents,
	"DescribeStackResources":            (*Engine).describeStackResources,
	"DescribeStackResource":             (*Engine).describeStackResource,
	"ListStackResources":                (*Engine).listStackResources,
	"GetTemplate":                       (*Engine).getTemplate,
	"GetTemplateSummary":                (*Engine).getTemplateSummary,
	"ValidateTemplate":                  (*Engine).validateTemplate,
	"CreateChangeSet":                   (*Engine).createChangeSet,
	"DescribeChangeSet":                 (*Engine).describeChangeSet,
	"ExecuteChangeSet":                  (*Engine).executeChangeSet,
	"DeleteChangeSet":                   (*Engine).deleteChangeSet,
	"ListChangeSets":                    (*Engine).listChangeSets,
	"CancelUpdateStack":                 (*Engine).cancelUpdateStack,
	"ContinueUpdateRollback":            (*Engine).continueUpdateRollback,
	"DetectStackDrift":                  (*Engine).detectStackDrift,
	"DescribeStackDriftDetectionStatus": (*Engine).describeStackDriftDetectionStatus,
	"DescribeStackResourceDrifts":       (*Engine).describeStackResourceDrifts,
	"UpdateTerminationProtection":       (*Engine).updateTerminationProtection,
	"ListExports":                       (*Engine).listExports,
	"ListImports":                       (*Engine).listImports,
}

// Handle serves one CloudFormation API call in account and req.Region.
func (e *Engine) Handle(ctx context.Context, account string, req *awsproto.Request) (awsproto.Object, error) {
	h := handlers[req.Action]
	if h == nil {
		return nil, awsproto.Errorf(400, "InvalidAction",
			"The action %s is not valid for this web service.", req.Action)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	regionName := req.Region
	if regionName == "" {
		regionName = "us-east-1"
	}
	r := e.region(account, regionName, true)
	out, err := h(e, r, params{req.Params})
	if err != nil && e.log.Enabled(ctx, slog.LevelDebug) {
		e.log.DebugContext(ctx, "cloudformation call failed", "action", req.Action, "account", account, "region", regionName, "err", err)
	}
	return out, err
}
