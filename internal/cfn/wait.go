package cfn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// Kinds of operations Timing tells apart.
const (
	kindChangeSet = "changeset"
	kindCreate    = "create"
	kindUpdate    = "update"
	kindDelete    = "delete"
)

// Timing learns how long operations take — change set creations, stack creations, updates
// and deletions — from the deployers that share it, so that they poll near the expected end of
// an operation instead of on a blind backoff. Instances of one stack set take about as long as
// each other, so one Timing per rollout (or per stack set and region) is the right scope.
// When one deployer learns something, waiting deployers reconsider their next poll at once:
// the first instance of a wave to see its stack finish brings the others' polls forward.
//
// For each kind, Timing keeps a span: operations are still running at its start and finished
// by its end. A wait probes the span and then polls at its end, so each operation
// narrows the span (a bisection across instances) until it is narrower than the minimum poll
// gap, when one poll at its end suffices. An observation first widens the span a little, so it
// follows operations that get faster or slower, but only if no observation widened it since its
// wait began: a wave of instances finishing together widens it once, not once per instance. An
// observation outside the span replaces it.
//
// The zero Timing is ready to use; it is safe for concurrent use and must not be copied.
type Timing struct {
	mu    sync.Mutex
	spans map[string]span
	ch    chan struct{} // closed and replaced when a span changes
}

// span bounds when operations of one kind finish: after lo, by hi (elapsed since their start).
// gen counts its widenings.
type span struct {
	lo, hi time.Duration
	gen    int
}

// NewTiming returns an empty Timing.
func NewTiming() *Timing { return &Timing{} }

// Estimate returns the expected duration of operations of kind ("changeset", "create",
// "update", "delete"), and false before any was observed.
func (t *Timing) Estimate(kind string) (time.Duration, bool) {
	s, ok := t.span(kind)
	return s.lo + (s.hi-s.lo)/2, ok
}

func (t *Timing) span(kind string) (span, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.spans[kind]
	return s, ok
}

// changed returns a channel closed at the next change of any span.
func (t *Timing) changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ch == nil {
		t.ch = make(chan struct{})
	}
	return t.ch
}

// observe records an operation of kind last seen running at elapsed running (0 if never) and
// first seen finished at done, whose wait began when the span's generation was gen.
func (t *Timing) observe(kind string, running, done time.Duration, gen int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.spans == nil {
		t.spans = map[string]span{}
	}
	s, ok := t.spans[kind]
	if ok && s.gen == gen {
		w := s.hi / 64
		s.lo, s.hi, s.gen = max(s.lo-w, 0), s.hi+w, s.gen+1
	}
	switch {
	case !ok || done <= s.lo:
		s = span{running, done, s.gen + 1}
	case running >= s.hi: // slower than the span allowed: extend it
		s.hi = done
	default:
		s.lo, s.hi = max(s.lo, running), min(s.hi, done)
	}
	t.spans[kind] = s
	if t.ch != nil {
		close(t.ch)
	}
	t.ch = make(chan struct{})
}

// maxProbes bounds the probes of one wait: each narrows the span for later waits, but while
// the span is wide, probing it down to the minimum gap would cost this wait too many polls.
const maxProbes = 2

// poller schedules the polls of one wait.
type poller struct {
	opts  *DeployerOptions
	kind  string
	start time.Time
	// learn: the operation's start is known, so its timing is estimated and observed.
	learn bool
	polls int           // polls that found the operation unfinished
	lo    time.Duration // elapsed time of the last of them
	late  int           // how many of them were at or past the end of the span
	gen   int           // the span's generation when the wait began
	scale float64       // of the backoff schedule
	probe float64       // where in the span the next probe goes, 0 to 1
}

// newPoller returns a poller for an operation of kind started at start; a zero start (an
// operation found running) is neither estimated nor observed.
func (d *Deployer) newPoller(kind string, start time.Time) *poller {
	p := &poller{opts: &d.opts, kind: kind, start: start, learn: !start.IsZero() && kind != ""}
	if start.IsZero() {
		p.start = time.Now()
	}
	if s, ok := p.span(); ok {
		p.gen = s.gen
	}
	// The backoff schedule of each wait is scaled by a random factor rather than each
	// interval jittered: the polls of a wave started together then cover the time densely,
	// so one of them sees the first operation finish soon after it does (and wakes the
	// others), while each wait makes as few polls as the nominal schedule.
	p.scale = 1
	if j := d.opts.Jitter; j > 0 {
		p.scale = 1 - min(j, 0.5) + 4*j*rand.Float64()
	}
	p.randomize()
	return p
}

// randomize draws the probe position of the next poll. Random probes matter when instances
// run in waves: their probes spread over the span, so the first of the wave to find its
// operation finished narrows the span for all the others at once.
func (p *poller) randomize() {
	p.probe = 0.5
	if j := p.opts.Jitter; j > 0 {
		p.probe = 0.5 + j*(2*rand.Float64()-1)
	}
}

// next returns the elapsed time (since start) of the next poll. With a span, a wait probes it
// (while it is wide, at most maxProbes times: in the middle, or around it with jitter), then
// polls at its end, then beyond at a sixteenth of it, growing by half each time. Without a
// span (nothing of the kind has finished yet in this process), a first poll goes early, a fifth
// of PollInitial in — an operation that is over at once (a sandbox, an unchanged resource set)
// is then seen at once, and its end teaches the span to every other wait — and the next back
// off from PollInitial. Polls are at least a fifth of PollInitial apart, and never more than
// PollMax.
func (p *poller) next() time.Duration {
	limit := p.lo + p.opts.PollMax
	gap := p.opts.PollInitial / 5
	if s, ok := p.span(); ok {
		var at time.Duration
		// This operation is known to be running at p.lo, so its own span may be narrower.
		lo := max(s.lo, p.lo)
		switch {
		case s.hi-lo > gap && p.polls < maxProbes:
			at = lo + time.Duration(float64(s.hi-lo)*p.probe)
		case p.lo < s.hi:
			at = s.hi
		default:
			at = p.lo + time.Duration(float64(s.hi)/16*math.Pow(1.5, float64(max(p.late-1, 0))))
		}
		if p.polls > 0 {
			at = max(at, p.lo+gap)
		}
		return min(at, limit)
	}
	if p.polls == 0 {
		return min(time.Duration(float64(gap)*p.scale), limit)
	}
	iv := min(float64(p.opts.PollInitial)*math.Pow(p.opts.PollFactor, float64(p.polls-1)), float64(p.opts.PollMax))
	return min(p.lo+time.Duration(iv*p.scale), limit)
}

func (p *poller) span() (span, bool) {
	if !p.learn {
		return span{}, false
	}
	return p.opts.Timing.span(p.kind)
}

// run polls check until it reports done. after, if set, runs after each poll that found the
// operation unfinished, with the number of such polls so far.
func (p *poller) run(ctx context.Context, check func(context.Context) (bool, error), after func(context.Context, int) error) error {
	for {
		if err := p.sleep(ctx); err != nil {
			return err
		}
		done, err := check(ctx)
		if err != nil {
			return err
		}
		elapsed := time.Since(p.start)
		if done {
			if p.learn {
				p.opts.Timing.observe(p.kind, p.lo, elapsed, p.gen)
			}
			return nil
		}
		if s, ok := p.span(); ok && elapsed >= s.hi {
			p.late++
		}
		p.polls++
		p.lo = elapsed
		p.randomize()
		if after != nil {
			if err := after(ctx, p.polls); err != nil {
				return err
			}
		}
	}
}

// sleep waits until the next poll is due, recomputing it whenever a span changes.
func (p *poller) sleep(ctx context.Context) error {
	for {
		var wake <-chan struct{}
		if p.learn {
			wake = p.opts.Timing.changed() // before next(), so no change goes unnoticed
		}
		d := time.Until(p.start.Add(p.next()))
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			return nil
		case <-wake:
			t.Stop()
		}
	}
}

// watch waits for one stack operation and gathers its events.
type watch struct {
	d        *Deployer
	id, name string
	poll     *poller
	events   *eventLog
	progress func(ResourceEvent)
}

// newWatch watches the operation of kind started at start ("" and zero when found running) on
// stack id. The caller sets events.token when it knows the operation's token.
func (d *Deployer) newWatch(id, name, kind string, start time.Time, progress func(ResourceEvent)) *watch {
	return &watch{
		d: d, id: id, name: name,
		poll:     d.newPoller(kind, start),
		events:   &eventLog{api: d.api, stackID: id, stackName: name, seen: map[string]bool{}},
		progress: progress,
	}
}

// wait polls DescribeStacks until the operation is over and returns the final stack. A stack
// that no longer exists is returned as DELETE_COMPLETE.
func (w *watch) wait(ctx context.Context) (*types.Stack, error) {
	var final *types.Stack
	check := func(ctx context.Context) (bool, error) {
		out, err := w.d.api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(w.id)})
		if err != nil && !notFound(err) {
			return false, fmt.Errorf("describe stack %s: %w", w.name, err)
		}
		if err != nil || len(out.Stacks) == 0 {
			final = &types.Stack{StackId: aws.String(w.id), StackName: aws.String(w.name), StackStatus: types.StackStatusDeleteComplete}
			return true, nil
		}
		s := &out.Stacks[0]
		status := string(s.StackStatus)
		// Just after ExecuteChangeSet a new stack may still show REVIEW_IN_PROGRESS.
		if busy(status) || (w.poll.kind == kindCreate && s.StackStatus == types.StackStatusReviewInProgress) {
			return false, nil
		}
		final = s
		return true, nil
	}
	after := func(ctx context.Context, polls int) error {
		if w.progress == nil || polls%w.d.opts.ProgressEvery != 0 {
			return nil
		}
		return w.report(ctx)
	}
	if err := w.poll.run(ctx, check, after); err != nil {
		return nil, err
	}
	if w.progress != nil {
		if err := w.report(ctx); err != nil {
			return nil, err
		}
	}
	return final, nil
}

// report passes the operation's events not reported yet to the progress callback.
func (w *watch) report(ctx context.Context) error {
	if err := w.events.read(ctx); err != nil {
		return err
	}
	for _, e := range w.events.ops[w.events.reported:] {
		w.progress(toEvent(e))
	}
	w.events.reported = len(w.events.ops)
	return nil
}

// eventLog collects the events of one stack operation. DescribeStackEvents lists a stack's
// events newest first; reading stops at the first event already seen, at an event of another
// operation (another ClientRequestToken), or after the stack event that began this operation,
// so each read costs one call unless the operation produced a page of events since the last.
type eventLog struct {
	api                cfnAPI
	stackID, stackName string
	// token is the operation's ClientRequestToken; "" takes the newest event's on first read.
	token    string
	seen     map[string]bool
	ops      []types.StackEvent // oldest first
	reported int
}

func (l *eventLog) read(ctx context.Context) error {
	var fresh []types.StackEvent // newest first
	var next *string
	for done := false; !done; {
		out, err := l.api.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{
			StackName: aws.String(l.stackID), NextToken: next,
		})
		if err != nil {
			return fmt.Errorf("describe stack events of %s: %w", l.stackName, err)
		}
		for _, e := range out.StackEvents {
			tok := aws.ToString(e.ClientRequestToken)
			if l.token == "" && len(l.ops) == 0 && len(fresh) == 0 {
				l.token = tok
			}
			if l.seen[aws.ToString(e.EventId)] || (tok != "" && tok != l.token) {
				done = true
				break
			}
			fresh = append(fresh, e)
			if l.isStack(e) && opStart(e.ResourceStatus) {
				done = true // older events belong to earlier operations
				break
			}
		}
		next = out.NextToken
		done = done || next == nil
	}
	slices.Reverse(fresh)
	for _, e := range fresh {
		l.seen[aws.ToString(e.EventId)] = true
	}
	l.ops = append(l.ops, fresh...)
	return nil
}

// firstFailure returns the earliest resource failure of the operation, preferring a real
// cause over the "Resource creation cancelled" failures a real cause sets off.
func (l *eventLog) firstFailure() *ResourceEvent {
	var first *ResourceEvent
	for _, e := range l.ops {
		if !strings.HasSuffix(string(e.ResourceStatus), "_FAILED") || l.isStack(e) {
			continue
		}
		ev := toEvent(e)
		if !strings.Contains(strings.ToLower(ev.Reason), "cancelled") {
			return &ev
		}
		if first == nil {
			first = &ev
		}
	}
	return first
}

// isStack reports whether e is about the stack itself rather than one of its resources (a
// nested stack is a resource with a physical id of its own).
func (l *eventLog) isStack(e types.StackEvent) bool {
	return aws.ToString(e.ResourceType) == "AWS::CloudFormation::Stack" &&
		(aws.ToString(e.PhysicalResourceId) == l.stackID || aws.ToString(e.PhysicalResourceId) == aws.ToString(e.StackId))
}

// opStart reports whether a stack event of this status begins an operation.
func opStart(s types.ResourceStatus) bool {
	switch s {
	case types.ResourceStatusCreateInProgress, types.ResourceStatusUpdateInProgress,
		types.ResourceStatusDeleteInProgress, types.ResourceStatusImportInProgress:
		return true
	}
	return false
}

func toEvent(e types.StackEvent) ResourceEvent {
	return ResourceEvent{
		Time:       aws.ToTime(e.Timestamp),
		LogicalID:  aws.ToString(e.LogicalResourceId),
		PhysicalID: aws.ToString(e.PhysicalResourceId),
		Type:       aws.ToString(e.ResourceType),
		Status:     string(e.ResourceStatus),
		Reason:     aws.ToString(e.ResourceStatusReason),
	}
}
