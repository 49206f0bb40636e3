package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Register registers the workflows and activities of stackfleet on a worker.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflow(OperationWorkflow)
	w.RegisterWorkflow(RegionWorkflow)
	w.RegisterActivity(a)
}

// ClientJournal is what the command that starts operations reads and writes of the journal.
type ClientJournal interface {
	apply.OperationStore
	PutTemplate(ctx context.Context, hash string, body []byte) error
	LastEventSeq(ctx context.Context) (int64, error)
	Events(ctx context.Context, opID string, afterSeq int64, limit int) ([]fleet.Event, int64, error)
}

// Client starts, follows and cancels operations on the Temporal workers, as apply.Runner runs
// them in-process: same methods, same journal, same events.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// Config names the configuration the operations are of (the journal's namespace of it).
	Config  string
	Journal ClientJournal
	// Runner abandons operations whose workflow is not running (in this process: nothing runs).
	Runner *apply.Runner
	// Events receives the operations' events, read from the journal as the workers record them.
	Events apply.EventSink
	// Poll is how often the journal is read for new events (default 200 ms).
	Poll time.Duration
}

// BusyError reports a stack set whose operation runs on the workers.
type BusyError struct {
	StackSet, Operation, Workflow string
}

func (e *BusyError) Error() string {
	op := e.Operation
	if op == "" {
		op = "(unknown)"
	}
	return fmt.Sprintf("stack set %s is busy: operation %s is running on the Temporal workers (workflow %s); "+
		"wait for it (apply again follows it when the plan is the same), or stop it with 'stackfleet cancel --stack-set %s'",
		e.StackSet, op, e.Workflow, e.StackSet)
}

// DetachedError reports that the command stopped following an operation that goes on.
type DetachedError struct{ StackSet, Operation string }

func (e *DetachedError) Error() string {
	return fmt.Sprintf("stopped following operation %s of %s: it goes on on the Temporal workers; "+
		"run apply again to follow it, or 'stackfleet cancel --stack-set %s' to stop it", e.Operation, e.StackSet, e.StackSet)
}

func (c *Client) poll() time.Duration {
	if c.Poll <= 0 {
		return 200 * time.Millisecond
	}
	return c.Poll
}

// running returns the operation id of the stack set's running workflow, if one runs.
func (c *Client) running(ctx context.Context, stackSet string) (opID string, running bool, err error) {
	id := OperationWorkflowID(c.Config, stackSet)
	d, err := c.Temporal.DescribeWorkflow(ctx, id, "")
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("describe workflow %s: %w", id, err)
	}
	info := d.RawResponse.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", false, nil
	}
	if p := info.GetMemo().GetFields()["operation"]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &opID)
	}
	return opID, true, nil
}

func (c *Client) input(op fleet.Operation, d apply.Desired) OperationInput {
	return OperationInput{Operation: op.ID, StackSet: op.StackSet, Desired: DesiredRef{
		TemplateHash: fleet.Hash(string(d.TemplateBody)), Tags: d.Tags, Capabilities: d.Capabilities, Assets: d.Assets}}
}

// launch starts the workflow of op; an operation of the stack set already running is a
// *BusyError.
func (c *Client) launch(ctx context.Context, op fleet.Operation, d apply.Desired) (client.WorkflowRun, error) {
	if err := c.Journal.PutTemplate(ctx, fleet.Hash(string(d.TemplateBody)), d.TemplateBody); err != nil {
		return nil, fmt.Errorf("record template: %w", err)
	}
	id := OperationWorkflowID(c.Config, op.StackSet)
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: c.TaskQueue, Memo: map[string]any{"operation": op.ID},
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, OperationWorkflow, c.input(op, d))
	if _, ok := errors.AsType[*serviceerror.WorkflowExecutionAlreadyStarted](err); ok {
		running, _, _ := c.running(ctx, op.StackSet)
		return nil, &BusyError{StackSet: op.StackSet, Operation: running, Workflow: id}
	}
	if err != nil {
		return nil, fmt.Errorf("start workflow %s on Temporal: %w", id, err)
	}
	return run, nil
}

// Start records a new operation for the stack set's plan, starts its workflow and follows it to
// its end, publishing its events.
func (c *Client) Start(ctx context.Context, d apply.Desired, sp fleet.StackSetPlan) (fleet.Operation, error) {
	op, steps := apply.NewOperation(time.Now(), sp)
	if len(steps) == 0 {
		return fleet.Operation{StackSet: sp.Name, Status: fleet.OpSucceeded}, nil
	}
	if running, busy, err := c.running(ctx, sp.Name); err != nil || busy {
		if err == nil {
			err = &BusyError{StackSet: sp.Name, Operation: running, Workflow: OperationWorkflowID(c.Config, sp.Name)}
		}
		return op, err
	}
	after, err := c.Journal.LastEventSeq(ctx)
	if err != nil {
		return op, err
	}
	if err := c.Journal.CreateOperation(ctx, op, steps); err != nil {
		return op, fmt.Errorf("record operation: %w", err)
	}
	run, err := c.launch(ctx, op, d)
	if err != nil {
		// Another operation started first: this one never ran.
		uerr := c.Journal.UpdateOperation(context.WithoutCancel(ctx), op.ID, fleet.OpCancelled, "not started: "+err.Error(), time.Now())
		return op, errors.Join(err, uerr)
	}
	return c.follow(ctx, run, op, after)
}

// Resume follows the unfinished operation opID: its running workflow if it has one, else a new
// workflow that runs what is left of it.
func (c *Client) Resume(ctx context.Context, d apply.Desired, opID string) (fleet.Operation, error) {
	op, _, err := c.Journal.Operation(ctx, opID)
	if err != nil {
		return op, fmt.Errorf("read operation %s: %w", opID, err)
	}
	after, err := c.Journal.LastEventSeq(ctx)
	if err != nil {
		return op, err
	}
	running, busy, err := c.running(ctx, op.StackSet)
	switch {
	case err != nil:
		return op, err
	case busy && running == opID:
		return c.follow(ctx, c.Temporal.GetWorkflow(ctx, OperationWorkflowID(c.Config, op.StackSet), ""), op, after)
	case busy:
		return op, &BusyError{StackSet: op.StackSet, Operation: running, Workflow: OperationWorkflowID(c.Config, op.StackSet)}
	}
	if err := c.Journal.UpdateOperation(ctx, op.ID, fleet.OpRunning, "", time.Time{}); err != nil {
		return op, err
	}
	c.Events.Publish(fleet.OperationEvent{Operation: op.ID, StackSet: op.StackSet, EventDetail: fleet.EventDetail{
		Time: time.Now().UTC(), Kind: fleet.EventOperation, Status: "RESUMED",
		Reason: fmt.Sprintf("resuming operation %s started %s", op.ID, op.StartedAt.Format(time.RFC3339))}})
	run, err := c.launch(ctx, op, d)
	if err != nil {
		return op, err
	}
	return c.follow(ctx, run, op, after)
}

// Abandon cancels an unfinished operation whose workflow is not running; one that runs is a
// *BusyError (Cancel stops it).
func (c *Client) Abandon(ctx context.Context, stackSet, opID, reason string) error {
	running, busy, err := c.running(ctx, stackSet)
	if err != nil {
		return err
	}
	if busy {
		return &BusyError{StackSet: stackSet, Operation: running, Workflow: OperationWorkflowID(c.Config, stackSet)}
	}
	return c.Runner.AbandonHeld(ctx, stackSet, opID, reason)
}

// Cancel stops the stack set's running operation and waits until its workflow has abandoned
// it; with none running it reports false.
func (c *Client) Cancel(ctx context.Context, stackSet string) (fleet.Operation, bool, error) {
	opID, busy, err := c.running(ctx, stackSet)
	if err != nil || !busy {
		return fleet.Operation{}, false, err
	}
	op, _, err := c.Journal.Operation(ctx, opID)
	if err != nil {
		return op, true, fmt.Errorf("read operation %s: %w", opID, err)
	}
	after, err := c.Journal.LastEventSeq(ctx)
	if err != nil {
		return op, true, err
	}
	id := OperationWorkflowID(c.Config, stackSet)
	if err := c.Temporal.CancelWorkflow(ctx, id, ""); err != nil {
		return op, true, fmt.Errorf("cancel workflow %s: %w", id, err)
	}
	op, err = c.follow(ctx, c.Temporal.GetWorkflow(ctx, id, ""), op, after)
	return op, true, err
}

// follow publishes the operation's journaled events after seq after until its workflow ends,
// and returns the operation as the workflow left it. When ctx ends first, the operation goes on:
// a *DetachedError.
func (c *Client) follow(ctx context.Context, run client.WorkflowRun, op fleet.Operation, after int64) (fleet.Operation, error) {
	type result struct {
		op  fleet.Operation
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = run.Get(ctx, &r.op)
		done <- r
	}()
	drain := func(ctx context.Context) error {
		for {
			evs, last, err := c.Journal.Events(ctx, op.ID, after, 1000)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				c.Events.Publish(ev)
			}
			after = max(after, last)
			if len(evs) < 1000 {
				return nil
			}
		}
	}
	t := time.NewTicker(c.poll())
	defer t.Stop()
	for {
		select {
		case r := <-done:
			// The workflow's last activity flushed its events to the journal before it ended.
			derr := drain(context.WithoutCancel(ctx))
			if f, ok := c.Events.(interface{ Flush() }); ok {
				f.Flush()
			}
			switch {
			case ctx.Err() != nil:
				return op, &DetachedError{StackSet: op.StackSet, Operation: op.ID}
			case r.err != nil:
				return op, fmt.Errorf("operation %s: its workflow %s ended without finishing it (%w); run apply again to resume it",
					op.ID, run.GetID(), r.err)
			}
			return r.op, derr
		case <-t.C:
			if err := drain(ctx); err != nil && ctx.Err() == nil {
				return op, fmt.Errorf("follow operation %s: %w", op.ID, err)
			}
		}
	}
}
