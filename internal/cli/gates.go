package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates"
)

// pipelineGates runs alarms through the stage's role, health checks over HTTP and tests with sh.
type pipelineGates struct {
	c      *stageClients
	health *gates.Health
}

func (g pipelineGates) Alarms(ctx context.Context, st fleet.Stage, spec fleet.AlarmSpec, t fleet.GateTarget) fleet.Measurement {
	a := &gates.Alarms{Config: func(ctx context.Context, account, region string) (aws.Config, error) {
		return g.c.config(ctx, st, fleet.Target{Account: account, Region: region})
	}}
	return measurement(a.Check(ctx, spec, t))
}

func (g pipelineGates) Health(ctx context.Context, hc fleet.HealthCheck, t fleet.GateTarget) fleet.Measurement {
	return measurement(g.health.Check(ctx, hc, t))
}

func (g pipelineGates) Test(ctx context.Context, tc fleet.TestCommand, t fleet.GateTarget) fleet.Measurement {
	return measurement(gates.RunTest(ctx, tc, t))
}

func measurement(r gates.Result) fleet.Measurement {
	m := fleet.Measurement{Phase: fleet.Failed, Message: r.Reason, Output: r.Output}
	switch {
	case r.OK:
		m.Phase = fleet.Successful
	case r.Unreadable:
		m.Phase = fleet.Error
	}
	return m
}
