package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Gates reads alarms, health checks and tests (adapters: CloudWatch, HTTP, exec): each call is
// one Measurement; the engine judges their history with fleet.Assess.
type Gates interface {
	Alarms(ctx context.Context, stage fleet.Stage, spec fleet.AlarmSpec, t fleet.GateTarget) fleet.Measurement
	Health(ctx context.Context, hc fleet.HealthCheck, t fleet.GateTarget) fleet.Measurement
	// Test runs a test command for a target of the stage (with the stage's credentials for the
	// target's account, unless the command asks for the caller's).
	Test(ctx context.Context, stage fleet.Stage, tc fleet.TestCommand, t fleet.GateTarget) fleet.Measurement
}

// watching runs fn while reading the alarms of every target every Poll, and judges each
// target's readings with the spec's limits: alarms in ALARM past the failure limit, or alarms
// that could not be read past the consecutive-error limit, cancel fn and fail the wave. An
// unreadable poll within the limit is an event, not a failure. The alarms are read once more
// after fn returns. history holds the wave's readings so far, across its deploy and its bake.
func (e *Engine) watching(ctx context.Context, r *fleet.Release, st fleet.Stage, spec fleet.AlarmSpec, p fleet.Pipeline, targets []fleet.Target,
	history map[fleet.Target][]fleet.Measurement, fn func(context.Context) error) error {
	if spec.Empty() {
		return fn(ctx)
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- fn(wctx) }()
	tick := time.NewTicker(e.poll())
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if cause := context.Cause(wctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			if err != nil {
				return err
			}
			return e.checkAlarms(ctx, r, st, spec, p, targets, history)
		case <-tick.C:
			if err := e.checkAlarms(ctx, r, st, spec, p, targets, history); err != nil {
				cancel(err)
				<-done
				return err
			}
		}
	}
}

// checkAlarms reads every target's alarms once, adds the readings to history and judges it.
func (e *Engine) checkAlarms(ctx context.Context, r *fleet.Release, st fleet.Stage, spec fleet.AlarmSpec, p fleet.Pipeline, targets []fleet.Target, history map[fleet.Target][]fleet.Measurement) error {
	gts, err := e.gateTargets(ctx, p, targets)
	if err != nil {
		return err
	}
	for i, gt := range gts {
		t := targets[i]
		m := e.Gates.Alarms(ctx, st, spec, gt)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		history[t] = append(history[t], m)
		v := fleet.Assess(history[t], spec.Limits)
		switch v.Phase {
		case fleet.Failed:
			return &waveError{reason: v.Reason}
		case fleet.Error:
			return &waveError{reason: "alarms " + v.Reason}
		}
		if m.Phase == fleet.Error {
			e.emit(r, fleet.EventGate, "UNREADABLE", fmt.Sprintf("%s (tolerated: %d in a row so far)", m.Message, trailingErrors(history[t])), &t)
		}
	}
	return nil
}

// trailingErrors counts the Error readings at the end of ms.
func trailingErrors(ms []fleet.Measurement) int {
	n := 0
	for i := len(ms) - 1; i >= 0 && ms[i].Phase == fleet.Error; i-- {
		n++
	}
	return n
}

// gateTargets gathers, for each target, the outputs of every stack of the pipeline there. It
// reads each stack's instances once, however many targets: alarms are re-read every poll.
func (e *Engine) gateTargets(ctx context.Context, p fleet.Pipeline, targets []fleet.Target) ([]fleet.GateTarget, error) {
	outputs := make(map[fleet.Target]map[string]string, len(targets))
	for _, s := range p.Stacks {
		insts, err := e.Journal.Instances(ctx, fleet.PipelineOwner(p.Name, s.Name))
		if err != nil {
			return nil, err
		}
		for _, in := range insts {
			if outputs[in.Target] == nil {
				outputs[in.Target] = map[string]string{}
			}
			maps.Copy(outputs[in.Target], in.Outputs)
		}
	}
	gts := make([]fleet.GateTarget, len(targets))
	for i, t := range targets {
		gts[i] = fleet.GateTarget{Account: t.Account, Region: t.Region, Outputs: outputs[t]}
		if gts[i].Outputs == nil {
			gts[i].Outputs = map[string]string{}
		}
		if len(p.Stacks) > 0 {
			gts[i].Stack = p.Stacks[0].Name
		}
	}
	return gts, nil
}

func (e *Engine) verify(ctx context.Context, p fleet.Pipeline, r *fleet.Release, si, wi int, checks fleet.Checks, targets []fleet.Target) error {
	if len(checks.Health) == 0 && len(checks.Tests) == 0 {
		return nil
	}
	gts, err := e.gateTargets(ctx, p, targets)
	if err != nil {
		return err
	}
	var recs []fleet.GateRecord
	var failure string
	for i, gt := range gts {
		t := targets[i]
		for _, hc := range checks.Health {
			m := e.Gates.Health(ctx, hc, gt)
			recs = append(recs, e.record(r, si, wi, "health "+hc.URL, t, m))
			if m.Phase != fleet.Successful && failure == "" {
				failure = m.Message
			}
		}
		for _, tc := range checks.Tests {
			m := e.Gates.Test(ctx, p.Stages[si], tc, gt)
			recs = append(recs, e.record(r, si, wi, "test "+tc.Name, t, m))
			if m.Phase != fleet.Successful && failure == "" {
				failure = m.Message
				if m.Output != "" {
					failure += "\n" + indentOutput(m.Output)
				}
			}
		}
		if failure != "" {
			break
		}
	}
	if err := e.Journal.AddGateRecords(context.WithoutCancel(ctx), recs...); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failure != "" {
		return &waveError{reason: failure}
	}
	return nil
}

func indentOutput(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 20 {
		lines = append([]string{"…"}, lines[len(lines)-20:]...)
	}
	return "    | " + strings.Join(lines, "\n    | ")
}

// record keeps a one-shot gate's reading for 'pipeline status' and shows it as an event.
func (e *Engine) record(r *fleet.Release, si, wi int, gate string, t fleet.Target, m fleet.Measurement) fleet.GateRecord {
	status := "PASSED"
	switch m.Phase {
	case fleet.Successful:
	case fleet.Error:
		status = "ERROR"
	default:
		status = "FAILED"
	}
	e.emit(r, fleet.EventGate, status, m.Message, &t)
	return fleet.GateRecord{Release: r.ID, Stage: si, Wave: wi, Gate: gate, Target: t.String(), Status: status, Reason: m.Message, Output: m.Output, At: e.now()}
}
