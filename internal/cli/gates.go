package cli

import (
	"context"
	"fmt"

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

func (g pipelineGates) Test(ctx context.Context, st fleet.Stage, tc fleet.TestCommand, t fleet.GateTarget) fleet.Measurement {
	if tc.CallerCredentials {
		return measurement(gates.RunTest(ctx, tc, t))
	}
	// The stage's role in the target's account, as the deploy used: a test acts where it tests.
	cfg, err := g.c.config(ctx, st, fleet.Target{Account: t.Account, Region: t.Region})
	var creds aws.Credentials
	if err == nil {
		creds, err = cfg.Credentials.Retrieve(ctx)
	}
	if err != nil {
		return fleet.Measurement{Phase: fleet.Error, Message: fmt.Sprintf("test %s: credentials for %s: %v", tc.Name, t.Account, err)}
	}
	return measurement(gates.RunTest(ctx, tc, t,
		"AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_SESSION_TOKEN="+creds.SessionToken, "AWS_REGION="+t.Region, "AWS_DEFAULT_REGION="+t.Region))
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
