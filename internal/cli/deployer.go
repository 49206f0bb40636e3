package cli

import (
	"context"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// fleetDeployer deploys one target's stack through its assumed execution role.
type fleetDeployer struct{ w *workspace }

var _ apply.Deployer = fleetDeployer{}

func (w *workspace) deployer() fleetDeployer { return fleetDeployer{w} }

func (d fleetDeployer) target(ctx context.Context, t fleet.Target) (*cfn.Deployer, error) {
	cfg, err := d.w.clients.ForTarget(ctx, t.Account, t.Region)
	if err != nil {
		return nil, err
	}
	return cfn.NewDeployer(cfg, cfn.DeployerOptions{Timing: d.w.timing, PollInitial: d.w.pollInitial}), nil
}

// Deploy implements apply.Deployer.
func (d fleetDeployer) Deploy(ctx context.Context, t fleet.Target, req apply.DeployRequest, progress func(apply.ResourceEvent)) (apply.DeployResult, error) {
	dep, err := d.target(ctx, t)
	if err != nil {
		return apply.DeployResult{}, err
	}
	stack, err := dep.Deploy(ctx, cfn.DeployInput{
		StackName: req.StackName, TemplateBody: req.TemplateBody, Parameters: req.Parameters,
		Tags: req.Tags, Capabilities: req.Capabilities, ClientToken: req.Token,
	}, resourceProgress(progress))
	if err != nil {
		return apply.DeployResult{}, err
	}
	return apply.DeployResult{StackID: stack.ID, Outputs: stack.Outputs}, nil
}

// Delete implements apply.Deployer.
func (d fleetDeployer) Delete(ctx context.Context, t fleet.Target, stackName string, progress func(apply.ResourceEvent)) error {
	dep, err := d.target(ctx, t)
	if err != nil {
		return err
	}
	return dep.Delete(ctx, stackName, resourceProgress(progress))
}

// Preview returns the resource changes an update of the target would make.
func (d fleetDeployer) Preview(ctx context.Context, t fleet.Target, s *fleet.StackSet, params map[string]string) ([]fleet.ResourceChange, error) {
	dep, err := d.target(ctx, t)
	if err != nil {
		return nil, err
	}
	return dep.Preview(ctx, cfn.DeployInput{
		StackName: s.Name, TemplateBody: s.TemplateBody, Parameters: params, Tags: s.Tags, Capabilities: s.Capabilities,
	})
}

func resourceProgress(progress func(apply.ResourceEvent)) func(cfn.ResourceEvent) {
	return func(e cfn.ResourceEvent) {
		progress(apply.ResourceEvent{LogicalID: e.LogicalID, Type: e.Type, Status: e.Status, Reason: e.Reason})
	}
}
