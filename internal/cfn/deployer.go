// Package cfn deploys one CloudFormation stack instance: it previews and applies changes
// through change sets, waits for stack operations by polling, and reports failures by the first
// resource that failed.
//
// Polling is meant to be prompt and frugal at fleet scale. A wait polls DescribeStacks (one
// call returns status and outputs) on a backoff schedule; when deployers share a Timing, they
// learn how long operations of each kind take and poll close to the expected completion
// instead, so an instance whose stack takes about as long as its siblings' costs a few read
// calls (and is seen finished soon after it does), though no wait goes longer than
// DeployerOptions.PollMax without a poll. Stack events are read only to report progress (at
// most every few polls) and to find the first failure, and only the events of the operation
// at hand, told apart by their ClientRequestToken.
package cfn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// cfnAPI is the part of the CloudFormation client the Deployer uses; *cloudformation.Client
// satisfies it.
type cfnAPI interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	DescribeStackEvents(context.Context, *cloudformation.DescribeStackEventsInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error)
	GetTemplate(context.Context, *cloudformation.GetTemplateInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error)
	CreateStack(context.Context, *cloudformation.CreateStackInput, ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	CreateChangeSet(context.Context, *cloudformation.CreateChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.CreateChangeSetOutput, error)
	DescribeChangeSet(context.Context, *cloudformation.DescribeChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeChangeSetOutput, error)
	ExecuteChangeSet(context.Context, *cloudformation.ExecuteChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.ExecuteChangeSetOutput, error)
	DeleteChangeSet(context.Context, *cloudformation.DeleteChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteChangeSetOutput, error)
	DeleteStack(context.Context, *cloudformation.DeleteStackInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
	DetectStackDrift(context.Context, *cloudformation.DetectStackDriftInput, ...func(*cloudformation.Options)) (*cloudformation.DetectStackDriftOutput, error)
	DescribeStackDriftDetectionStatus(context.Context, *cloudformation.DescribeStackDriftDetectionStatusInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackDriftDetectionStatusOutput, error)
	DescribeStackResourceDrifts(context.Context, *cloudformation.DescribeStackResourceDriftsInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceDriftsOutput, error)
}

// Stack is the observed state of a stack. Exists is false when CloudFormation reports that the
// stack does not exist (never created, or deleted); the other fields are then empty.
type Stack struct {
	Name, ID, Status, StatusReason string
	Outputs, Parameters            map[string]string
	Tags                           map[string]string
	Exists                         bool
	// Changed is the stack's LastUpdatedTime, or its CreationTime if it was never updated.
	Changed time.Time
}

// ResourceEvent is one stack event: a resource (or the stack itself) changing status.
type ResourceEvent struct {
	Time       time.Time
	LogicalID  string
	PhysicalID string
	Type       string
	Status     string
	Reason     string
}

// DeployError is a stack operation that ended in failure. Status is the stack's final status
// (or FAILED for a change set CloudFormation refused), Reason its status reason, and
// FirstFailure the first resource that failed in this operation, nil when none did (e.g. a
// template error).
type DeployError struct {
	StackName    string
	Status       string
	Reason       string
	FirstFailure *ResourceEvent
}

func (e *DeployError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stack %s: %s", e.StackName, e.Status)
	if f := e.FirstFailure; f != nil {
		fmt.Fprintf(&b, ": %s (%s) %s: %s", f.LogicalID, f.Type, f.Status, f.Reason)
	} else if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	return b.String()
}

// DeployInput is what one instance should look like. Parameters not given take their template
// defaults (never the stack's previous values). Tags, when given, replace the stack's tags;
// nil keeps them. ClientToken identifies the operation: events of the operation carry it, and
// calling Deploy again with the same token resumes the operation instead of repeating it.
// A token is 1 to 128 letters, digits and hyphens, starting with a letter or digit; Deploy
// makes one up when it is empty.
type DeployInput struct {
	StackName    string
	TemplateBody []byte
	// TemplateURL, when set, is where CloudFormation reads the template (TemplateBody, the same
	// template, is still needed to compare with the deployed one): an S3 object in the stack's
	// region, for templates over the 51,200 bytes a request may carry.
	TemplateURL  string
	Parameters   map[string]string
	Tags         map[string]string
	Capabilities []string
	ClientToken  string
	// RevertDrift deploys an existing stack with a drift-aware change set (DeploymentMode
	// REVERT_DRIFT): resources changed outside CloudFormation get the template's properties back
	// even when the template and parameters are unchanged.
	RevertDrift bool
	// Absent says the caller just saw no stack of this name (a fresh create): Deploy creates it
	// without looking first. A stack that exists after all is found by its AlreadyExists and
	// deployed as if Absent were false.
	Absent bool
}

// DeployerOptions tune polling; zero fields take the defaults.
type DeployerOptions struct {
	// PollInitial is the first polling interval without an estimate (default 500 ms); the
	// interval grows by PollFactor (default 1.5) up to PollMax (default 10 s), which is also the
	// longest a wait ever goes without polling.
	PollInitial, PollMax time.Duration
	PollFactor           float64
	// Jitter (default 0.2; negative disables it) spreads the polls of instances started
	// together: each wait's backoff schedule is scaled by a random factor between 1-Jitter
	// and 1+3×Jitter, and probes of a learned span land within ±Jitter of its middle.
	Jitter float64
	// ProgressEvery reads events for the progress callback at most every ProgressEvery polls
	// (default 3); the final events of an operation are always reported.
	ProgressEvery int
	// Timing is shared by the deployers of one rollout to learn operation durations; nil gives
	// the Deployer a private one.
	Timing *Timing
}

// Deployer deploys one stack instance through one CloudFormation client. It holds no state of
// its own between calls beyond Timing, so several goroutines may use it for different stacks.
type Deployer struct {
	api  cfnAPI
	opts DeployerOptions
}

// NewDeployer returns a Deployer calling CloudFormation with cfg (typically from
// awsclient.Clients.ForTarget, which paces and retries the calls).
func NewDeployer(cfg aws.Config, opts DeployerOptions) *Deployer {
	return newDeployer(cloudformation.NewFromConfig(cfg), opts)
}

func newDeployer(api cfnAPI, opts DeployerOptions) *Deployer {
	if opts.PollInitial <= 0 {
		opts.PollInitial = 500 * time.Millisecond
	}
	if opts.PollMax <= 0 {
		opts.PollMax = 10 * time.Second
	}
	opts.PollMax = max(opts.PollMax, opts.PollInitial)
	if opts.PollFactor < 1 {
		opts.PollFactor = 1.5
	}
	if opts.Jitter == 0 {
		opts.Jitter = 0.2
	}
	opts.Jitter = min(max(opts.Jitter, 0), 0.9)
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 3
	}
	if opts.Timing == nil {
		opts.Timing = NewTiming()
	}
	return &Deployer{api: api, opts: opts}
}

// Describe returns the stack's state; a stack that does not exist is not an error.
func (d *Deployer) Describe(ctx context.Context, stackName string) (Stack, error) {
	s, err := d.describe(ctx, stackName)
	if err != nil || s == nil {
		return Stack{}, err
	}
	return toStack(s), nil
}

// List returns every stack of the account and region that is not deleted, reading them with
// DescribeStacks a page at a time: one call per hundred stacks, never one per stack.
func (d *Deployer) List(ctx context.Context) ([]Stack, error) {
	var out []Stack
	pages := cloudformation.NewDescribeStacksPaginator(d.api, &cloudformation.DescribeStacksInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list stacks: %w", err)
		}
		for i := range page.Stacks {
			if page.Stacks[i].StackStatus != types.StackStatusDeleteComplete {
				out = append(out, toStack(&page.Stacks[i]))
			}
		}
	}
	return out, nil
}

// describe returns nil, nil when the stack does not exist.
func (d *Deployer) describe(ctx context.Context, stack string) (*types.Stack, error) {
	out, err := d.api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe stack %s: %w", stack, err)
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

// Deploy makes the stack match in and returns it with its outputs. A new stack is created, an
// existing one updated, through a change set; a change set without changes is success without
// executing, and a stack that already has in's template and parameters is returned untouched.
// A stack in ROLLBACK_COMPLETE or ROLLBACK_FAILED (a failed creation, which cannot be updated)
// is deleted first.
//
// Deploy is idempotent. A stack already in an operation is waited for, not disturbed; if the
// operation is in's (same ClientToken, e.g. a resumed run after a crash), its outcome is the
// result, failure included, so a resumed operation is never applied twice. Failures are
// *DeployError.
func (d *Deployer) Deploy(ctx context.Context, in DeployInput, progress func(ResourceEvent)) (Stack, error) {
	if err := in.validate(); err != nil {
		return Stack{}, err
	}
	token := in.ClientToken
	if token == "" {
		token = newName("stackfleet")
	}
	if in.Absent {
		if st, exists, err := d.create(ctx, in, token, progress); !exists {
			return st, err
		}
	}
	// Each round observes the stack and takes one step; a round only repeats after the stack
	// changed state (an operation finished, a failed creation was deleted).
	for range 5 {
		s, err := d.describe(ctx, in.StackName)
		if err != nil {
			return Stack{}, err
		}
		if s == nil {
			st, exists, err := d.create(ctx, in, token, progress)
			if exists { // created meanwhile: look again
				continue
			}
			return st, err
		}
		status := string(s.StackStatus)
		id := aws.ToString(s.StackId)
		mine := false
		if in.ClientToken != "" && (busy(status) || failedFinal(status)) {
			// Resuming: was the last operation ours? The newest event tells.
			tok, err := d.latestToken(ctx, id)
			if err != nil {
				return Stack{}, err
			}
			mine = tok == token
		}
		switch {
		case busy(status):
			var p func(ResourceEvent)
			if mine {
				p = progress
			}
			w := d.newWatch(id, in.StackName, "", time.Time{}, p)
			if mine {
				w.events.token = token
			}
			final, err := w.wait(ctx)
			if err != nil {
				return Stack{}, err
			}
			if mine {
				return d.outcome(ctx, w, final)
			}
			continue
		case mine: // our operation already failed
			w := d.newWatch(id, in.StackName, "", time.Time{}, nil)
			w.events.token = token
			return d.outcome(ctx, w, s)
		}
		switch status {
		case string(types.StackStatusReviewInProgress):
			return d.change(ctx, in, token, s, progress)
		case string(types.StackStatusRollbackComplete), string(types.StackStatusRollbackFailed):
			// A failed creation cannot be updated, only replaced.
			if err := d.deleteStack(ctx, s, suffixToken(token, "-replace"), progress); err != nil {
				return Stack{}, err
			}
			continue
		case string(types.StackStatusDeleteFailed), string(types.StackStatusUpdateRollbackFailed),
			string(types.StackStatusImportRollbackFailed):
			return Stack{}, &DeployError{StackName: in.StackName, Status: status,
				Reason: fmt.Sprintf("a stack in %s cannot be updated; repair it first (%s)", status, aws.ToString(s.StackStatusReason))}
		}
		if !in.RevertDrift {
			same, err := d.matches(ctx, s, in)
			if err != nil {
				return Stack{}, err
			}
			if same {
				return toStack(s), nil
			}
		}
		return d.change(ctx, in, token, s, progress)
	}
	return Stack{}, fmt.Errorf("stack %s: it kept changing state while deploying; try again", in.StackName)
}

// create creates the stack with CreateStack — one call where a change set takes three
// (create, describe, execute) — and waits for it. exists reports that a stack of that name
// exists already, and nothing was done.
func (d *Deployer) create(ctx context.Context, in DeployInput, token string, progress func(ResourceEvent)) (st Stack, exists bool, err error) {
	input := &cloudformation.CreateStackInput{StackName: aws.String(in.StackName), ClientRequestToken: aws.String(token)}
	if in.TemplateURL != "" {
		input.TemplateURL = aws.String(in.TemplateURL)
	} else {
		input.TemplateBody = aws.String(string(in.TemplateBody))
	}
	input.Parameters, input.Tags, input.Capabilities = stackInputs(in)
	start := time.Now()
	out, err := d.api.CreateStack(ctx, input)
	switch {
	case apiCode(err) == "AlreadyExistsException":
		return Stack{}, true, nil
	case err != nil:
		return Stack{}, false, fmt.Errorf("create stack %s: %w", in.StackName, err)
	}
	w := d.newWatch(aws.ToString(out.StackId), in.StackName, kindCreate, start, progress)
	w.events.token = token
	final, err := w.wait(ctx)
	if err != nil {
		return Stack{}, false, err
	}
	st, err = d.outcome(ctx, w, final)
	return st, false, err
}

// stackInputs are in's parameters, tags (both in key order) and capabilities as the API takes them.
func stackInputs(in DeployInput) ([]types.Parameter, []types.Tag, []types.Capability) {
	var params []types.Parameter
	for _, k := range slices.Sorted(maps.Keys(in.Parameters)) {
		params = append(params, types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(in.Parameters[k])})
	}
	var tags []types.Tag
	for _, k := range slices.Sorted(maps.Keys(in.Tags)) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(in.Tags[k])})
	}
	var caps []types.Capability
	for _, c := range in.Capabilities {
		caps = append(caps, types.Capability(c))
	}
	return params, tags, caps
}

// change creates a change set against s (nil: no stack), executes it and waits for the stack.
func (d *Deployer) change(ctx context.Context, in DeployInput, token string, s *types.Stack, progress func(ResourceEvent)) (Stack, error) {
	cs, err := d.createChangeSet(ctx, in, s)
	if err != nil {
		return Stack{}, err
	}
	if cs.noChanges {
		d.cleanup(ctx, cs)
		return toStack(s), nil
	}
	if cs.failed {
		d.cleanup(ctx, cs)
		return Stack{}, &DeployError{StackName: in.StackName, Status: string(types.ChangeSetStatusFailed), Reason: cs.reason}
	}
	kind := kindUpdate
	if cs.typ == types.ChangeSetTypeCreate {
		kind = kindCreate
	}
	start := time.Now()
	_, err = d.api.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{
		ChangeSetName:      aws.String(cs.id),
		ClientRequestToken: aws.String(token),
	})
	if err != nil {
		return Stack{}, fmt.Errorf("execute change set for stack %s: %w", in.StackName, err)
	}
	w := d.newWatch(cs.stackID, in.StackName, kind, start, progress)
	w.events.token = token
	final, err := w.wait(ctx)
	if err != nil {
		return Stack{}, err
	}
	return d.outcome(ctx, w, final)
}

// outcome turns the final state of a watched operation into Deploy's result.
func (d *Deployer) outcome(ctx context.Context, w *watch, s *types.Stack) (Stack, error) {
	switch s.StackStatus {
	case types.StackStatusCreateComplete, types.StackStatusUpdateComplete, types.StackStatusImportComplete:
		return toStack(s), nil
	}
	return Stack{}, d.failure(ctx, w, s)
}

// failure builds the DeployError of a failed operation, reading its events if need be.
func (d *Deployer) failure(ctx context.Context, w *watch, s *types.Stack) error {
	e := &DeployError{StackName: w.name, Status: string(s.StackStatus), Reason: aws.ToString(s.StackStatusReason)}
	if err := w.events.read(ctx); err != nil {
		return errors.Join(e, err)
	}
	e.FirstFailure = w.events.firstFailure()
	return e
}

// Delete deletes the stack and waits until it is gone. A stack that does not exist is deleted
// already; a stack in another operation is waited for first.
func (d *Deployer) Delete(ctx context.Context, stackName string, progress func(ResourceEvent)) error {
	if stackName == "" {
		return errors.New("delete stack: no stack name")
	}
	for range 5 {
		s, err := d.describe(ctx, stackName)
		if err != nil {
			return err
		}
		if s == nil || s.StackStatus == types.StackStatusDeleteComplete {
			return nil
		}
		if busy(string(s.StackStatus)) {
			var p func(ResourceEvent)
			if s.StackStatus == types.StackStatusDeleteInProgress {
				p = progress // a deletion in flight is this deletion, resumed
			}
			if _, err := d.newWatch(aws.ToString(s.StackId), stackName, "", time.Time{}, p).wait(ctx); err != nil {
				return err
			}
			continue
		}
		return d.deleteStack(ctx, s, newName("stackfleet-delete"), progress)
	}
	return fmt.Errorf("delete stack %s: it kept changing state; try again", stackName)
}

// deleteStack deletes s and waits for DELETE_COMPLETE.
func (d *Deployer) deleteStack(ctx context.Context, s *types.Stack, token string, progress func(ResourceEvent)) error {
	id, name := aws.ToString(s.StackId), aws.ToString(s.StackName)
	start := time.Now()
	_, err := d.api.DeleteStack(ctx, &cloudformation.DeleteStackInput{
		StackName:          aws.String(id),
		ClientRequestToken: aws.String(token),
	})
	if err != nil {
		return fmt.Errorf("delete stack %s: %w", name, err)
	}
	w := d.newWatch(id, name, kindDelete, start, progress)
	w.events.token = token
	final, err := w.wait(ctx)
	if err != nil {
		return err
	}
	if final.StackStatus == types.StackStatusDeleteComplete {
		return nil
	}
	return d.failure(ctx, w, final)
}

// Preview returns the resource changes Deploy would make, through a change set it deletes
// afterwards (with the stack, if the preview had to create it in REVIEW_IN_PROGRESS). A stack
// that already matches, or a change set without changes, yields no changes. For a stack that
// Deploy would replace (ROLLBACK_COMPLETE), every resource of the template is an Add.
func (d *Deployer) Preview(ctx context.Context, in DeployInput) ([]fleet.ResourceChange, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	s, err := d.describe(ctx, in.StackName)
	if err != nil {
		return nil, err
	}
	if s != nil {
		switch status := string(s.StackStatus); {
		case status == string(types.StackStatusRollbackComplete) || status == string(types.StackStatusRollbackFailed):
			return templateAdds(in.TemplateBody)
		case busy(status):
			return nil, fmt.Errorf("preview stack %s: it is %s; preview again once it finishes", in.StackName, status)
		case status != string(types.StackStatusReviewInProgress):
			same, err := d.matches(ctx, s, in)
			if err != nil || same {
				return nil, err
			}
		}
	}
	cs, err := d.createChangeSet(ctx, in, s)
	if err != nil {
		return nil, err
	}
	defer d.cleanup(ctx, cs)
	switch {
	case cs.noChanges:
		return nil, nil
	case cs.failed:
		return nil, &DeployError{StackName: in.StackName, Status: string(types.ChangeSetStatusFailed), Reason: cs.reason}
	}
	changes := resourceChanges(cs.first.Changes)
	for next := cs.first.NextToken; next != nil; {
		page, err := d.api.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{
			ChangeSetName: aws.String(cs.id), NextToken: next,
		})
		if err != nil {
			return nil, fmt.Errorf("describe change set of stack %s: %w", in.StackName, err)
		}
		changes = append(changes, resourceChanges(page.Changes)...)
		next = page.NextToken
	}
	return changes, nil
}

func resourceChanges(cs []types.Change) []fleet.ResourceChange {
	var out []fleet.ResourceChange
	for _, c := range cs {
		rc := c.ResourceChange
		if rc == nil {
			continue
		}
		out = append(out, fleet.ResourceChange{
			Action:      string(rc.Action),
			LogicalID:   aws.ToString(rc.LogicalResourceId),
			Type:        aws.ToString(rc.ResourceType),
			Replacement: string(rc.Replacement),
		})
	}
	return out
}

// changeSet is a change set that finished creating.
type changeSet struct {
	id, stackID string
	typ         types.ChangeSetType
	// createdStack: the change set created the stack (REVIEW_IN_PROGRESS), which is ours to
	// remove if the change set goes unexecuted.
	createdStack      bool
	noChanges, failed bool
	reason            string
	first             *cloudformation.DescribeChangeSetOutput
}

// createChangeSet creates a change set for in against s (nil: no stack) and waits until it is
// ready or failed.
func (d *Deployer) createChangeSet(ctx context.Context, in DeployInput, s *types.Stack) (*changeSet, error) {
	cs := &changeSet{typ: types.ChangeSetTypeUpdate}
	if s == nil || s.StackStatus == types.StackStatusReviewInProgress {
		cs.typ = types.ChangeSetTypeCreate
		cs.createdStack = s == nil
	}
	name := newName("stackfleet")
	input := &cloudformation.CreateChangeSetInput{
		StackName:     aws.String(in.StackName),
		ChangeSetName: aws.String(name),
		ChangeSetType: cs.typ,
		Description:   aws.String("stackfleet"),
	}
	if in.TemplateURL != "" {
		input.TemplateURL = aws.String(in.TemplateURL)
	} else {
		input.TemplateBody = aws.String(string(in.TemplateBody))
	}
	input.Parameters, input.Tags, input.Capabilities = stackInputs(in)
	if in.RevertDrift && cs.typ == types.ChangeSetTypeUpdate {
		input.DeploymentMode = types.DeploymentModeRevertDrift
	}
	start := time.Now()
	out, err := d.api.CreateChangeSet(ctx, input)
	switch {
	case apiCode(err) == "AlreadyExistsException":
		// The name is fresh, so this is our own request retried after a lost response.
		cs.id = name
	case err != nil:
		return nil, fmt.Errorf("create change set for stack %s: %w", in.StackName, err)
	default:
		cs.id, cs.stackID = aws.ToString(out.Id), aws.ToString(out.StackId)
	}
	p := d.newPoller(kindChangeSet, start)
	err = p.run(ctx, func(ctx context.Context) (bool, error) {
		req := &cloudformation.DescribeChangeSetInput{ChangeSetName: aws.String(cs.id)}
		if !strings.HasPrefix(cs.id, "arn:") {
			req.StackName = aws.String(in.StackName) // a change set known by name only
		}
		out, err := d.api.DescribeChangeSet(ctx, req)
		if err != nil {
			return false, fmt.Errorf("describe change set for stack %s: %w", in.StackName, err)
		}
		cs.first = out
		switch out.Status {
		case types.ChangeSetStatusCreateComplete:
			return true, nil
		case types.ChangeSetStatusFailed, types.ChangeSetStatusDeleteComplete, types.ChangeSetStatusDeleteFailed:
			cs.failed = true
			cs.reason = aws.ToString(out.StatusReason)
			cs.noChanges = noChanges(cs.reason)
			return true, nil
		}
		return false, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	cs.id = aws.ToString(cs.first.ChangeSetId)
	cs.stackID = aws.ToString(cs.first.StackId)
	return cs, nil
}

// cleanup deletes an unexecuted change set, and the stack it created if it created one. It
// runs even when ctx is done, briefly: leftovers would confuse the next deployment.
func (d *Deployer) cleanup(ctx context.Context, cs *changeSet) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if cs.createdStack && cs.stackID != "" {
		// Deleting a REVIEW_IN_PROGRESS stack removes its change sets too.
		_, _ = d.api.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(cs.stackID)})
		return
	}
	_, _ = d.api.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{ChangeSetName: aws.String(cs.id)})
}

// matches reports whether s already has in's template, parameters and tags. It reads the
// template only when the parameters match.
func (d *Deployer) matches(ctx context.Context, s *types.Stack, in DeployInput) (bool, error) {
	if in.Tags != nil && !maps.Equal(tagMap(s.Tags), in.Tags) {
		return false, nil
	}
	have := paramMap(s.Parameters)
	for k := range in.Parameters {
		if _, ok := have[k]; !ok {
			return false, nil
		}
	}
	var defaults map[string]*string
	for k, v := range have {
		want, ok := in.Parameters[k]
		if !ok {
			if defaults == nil {
				defaults = templateDefaults(in.TemplateBody)
			}
			def := defaults[k]
			if def == nil {
				return false, nil
			}
			want = *def
		}
		if v != want {
			return false, nil
		}
	}
	out, err := d.api.GetTemplate(ctx, &cloudformation.GetTemplateInput{
		StackName: s.StackId, TemplateStage: types.TemplateStageOriginal,
	})
	if err != nil {
		return false, fmt.Errorf("get template of stack %s: %w", aws.ToString(s.StackName), err)
	}
	return strings.TrimSpace(aws.ToString(out.TemplateBody)) == strings.TrimSpace(string(in.TemplateBody)), nil
}

// latestToken is the ClientRequestToken of the stack's newest event: the token of the
// operation in progress or last finished.
func (d *Deployer) latestToken(ctx context.Context, stackID string) (string, error) {
	out, err := d.api.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)})
	if err != nil {
		return "", fmt.Errorf("describe stack events of %s: %w", stackID, err)
	}
	if len(out.StackEvents) == 0 {
		return "", nil
	}
	return aws.ToString(out.StackEvents[0].ClientRequestToken), nil
}

func (in *DeployInput) validate() error {
	switch {
	case in.StackName == "":
		return errors.New("deploy: no stack name")
	case len(in.TemplateBody) == 0:
		return fmt.Errorf("deploy stack %s: empty template", in.StackName)
	case len(in.ClientToken) > 128:
		return fmt.Errorf("deploy stack %s: client token longer than 128 characters", in.StackName)
	}
	return nil
}

func toStack(s *types.Stack) Stack {
	if s == nil {
		return Stack{}
	}
	out := Stack{
		Name:         aws.ToString(s.StackName),
		ID:           aws.ToString(s.StackId),
		Changed:      aws.ToTime(s.CreationTime),
		Status:       string(s.StackStatus),
		StatusReason: aws.ToString(s.StackStatusReason),
		Parameters:   paramMap(s.Parameters),
		Tags:         tagMap(s.Tags),
		Exists:       true,
	}
	if s.LastUpdatedTime != nil {
		out.Changed = *s.LastUpdatedTime
	}
	for _, o := range s.Outputs {
		if out.Outputs == nil {
			out.Outputs = map[string]string{}
		}
		out.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return out
}

func paramMap(ps []types.Parameter) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	return m
}

func tagMap(ts []types.Tag) map[string]string {
	if len(ts) == 0 {
		return nil
	}
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// busy reports whether an operation is running on a stack in status. REVIEW_IN_PROGRESS is
// not an operation: it is a stack waiting for its first change set to be executed.
func busy(status string) bool {
	return strings.HasSuffix(status, "_IN_PROGRESS") && status != string(types.StackStatusReviewInProgress)
}

// failedFinal reports whether status is where a failed operation leaves a stack.
func failedFinal(status string) bool {
	switch types.StackStatus(status) {
	case types.StackStatusRollbackComplete, types.StackStatusRollbackFailed,
		types.StackStatusUpdateRollbackComplete, types.StackStatusUpdateRollbackFailed,
		types.StackStatusCreateFailed, types.StackStatusUpdateFailed, types.StackStatusDeleteFailed,
		types.StackStatusImportRollbackComplete, types.StackStatusImportRollbackFailed:
		return true
	}
	return false
}

func notFound(err error) bool {
	api, ok := errors.AsType[smithy.APIError](err)
	return ok && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist")
}

func apiCode(err error) string {
	if api, ok := errors.AsType[smithy.APIError](err); ok {
		return api.ErrorCode()
	}
	return ""
}

// noChanges reports whether a failed change set failed only for having nothing to do.
func noChanges(reason string) bool {
	return strings.Contains(reason, "didn't contain changes") || strings.Contains(reason, "No updates are to be performed")
}

// newName returns prefix-<random>, valid as a change set name and as a ClientRequestToken.
func newName(prefix string) string { return prefix + "-" + rand.Text() }

// suffixToken derives a token for a sub-operation, within the 128-character limit.
func suffixToken(token, suffix string) string {
	return token[:min(len(token), 128-len(suffix))] + suffix
}
