package pipeline

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// CheckResult is the verdict of one gate on one target.
type CheckResult struct {
	OK             bool
	Reason, Output string
}

// Gates evaluates alarms, health checks and tests (adapters: CloudWatch, HTTP, exec).
type Gates interface {
	Alarms(ctx context.Context, stage fleet.Stage, spec fleet.AlarmSpec, t fleet.GateTarget) CheckResult
	Health(ctx context.Context, hc fleet.HealthCheck, t fleet.GateTarget) CheckResult
	Test(ctx context.Context, tc fleet.TestCommand, t fleet.GateTarget) CheckResult
}

// GateRecord is one gate verdict kept for 'pipeline status'.
type GateRecord struct {
	Stage, Wave          int
	Gate, Target, Status string
	Reason, Output       string
	At                   time.Time
}

// watching runs fn while reading the alarms of every target every Poll; an alarm in ALARM
// cancels fn and fails the wave. The alarms are read once more after fn returns.
func (e *Engine) watching(ctx context.Context, st fleet.Stage, spec fleet.AlarmSpec, p fleet.Pipeline, targets []fleet.Target, fn func(context.Context) error) error {
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
			return e.checkAlarms(ctx, st, spec, p, targets)
		case <-tick.C:
			if err := e.checkAlarms(ctx, st, spec, p, targets); err != nil {
				cancel(err)
				<-done
				return err
			}
		}
	}
}

func (e *Engine) checkAlarms(ctx context.Context, st fleet.Stage, spec fleet.AlarmSpec, p fleet.Pipeline, targets []fleet.Target) error {
	gts, err := e.gateTargets(ctx, p, targets)
	if err != nil {
		return err
	}
	for _, gt := range gts {
		if res := e.Gates.Alarms(ctx, st, spec, gt); !res.OK {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &waveError{reason: res.Reason}
		}
	}
	return nil
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
	var recs []GateRecord
	var failure string
	for i, gt := range gts {
		t := targets[i]
		for _, hc := range checks.Health {
			res := e.Gates.Health(ctx, hc, gt)
			recs = append(recs, e.record(si, wi, "health "+hc.URL, t, res))
			if !res.OK && failure == "" {
				failure = res.Reason
			}
		}
		for _, tc := range checks.Tests {
			res := e.Gates.Test(ctx, tc, gt)
			recs = append(recs, e.record(si, wi, "test "+tc.Name, t, res))
			if !res.OK && failure == "" {
				failure = res.Reason
				if res.Output != "" {
					failure += "\n" + indentOutput(res.Output)
				}
			}
		}
		if failure != "" {
			break
		}
	}
	if err := e.Journal.AddGateRecords(context.WithoutCancel(ctx), r.ID, recs...); err != nil {
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

func (e *Engine) record(si, wi int, gate string, t fleet.Target, res CheckResult) GateRecord {
	status := "PASSED"
	if !res.OK {
		status = "FAILED"
	}
	return GateRecord{Stage: si, Wave: wi, Gate: gate, Target: t.String(), Status: status, Reason: res.Reason, Output: res.Output, At: e.now()}
}
