package cli

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// cfnDeployer deploys one target's stack with CloudFormation through the role config gives
// for the target: the execution role for stack sets, a stage's role for releases. It is the
// CLI's one deployer.
type cfnDeployer struct {
	config      func(ctx context.Context, t fleet.Target) (aws.Config, error)
	timing      *cfn.Timing
	pollInitial time.Duration
	keys        *keyring // opens sealed parameter values for the deploy call
	// templates puts templates too large for a request in the artifact bucket.
	templates *templateStore
	// assets publishes CDK stacks' file assets in each target before it deploys.
	assets *assetPublisher
}

var _ apply.Deployer = cfnDeployer{}

// deployer deploys stack sets through the execution role.
func (w *workspace) deployer() cfnDeployer {
	return cfnDeployer{config: func(ctx context.Context, t fleet.Target) (aws.Config, error) {
		if w.bootstrapping && t.Account == w.inventory.ManagementAccount {
			// The management account has no access role: bootstrap acts there as the caller.
			cfg := w.clients.Base()
			cfg.Region = t.Region
			return cfg, nil
		}
		return w.clients.ForTarget(ctx, t.Account, t.Region)
	}, timing: w.timing, pollInitial: w.pollInitial, keys: w.keys, templates: w.templateStore(), assets: w.assetPublisher()}
}

// templateStore is the workspace's one store of large templates (see templateStore), in the
// buckets artifacts.bucket names (default: the management account's bootstrap buckets).
func (w *workspace) templateStore() *templateStore {
	if w.templates == nil {
		pattern := cmp.Or(w.file.Config.Artifacts.Bucket, config.DefaultArtifactBucket)
		w.templates = newTemplateStore(func(region string) string {
			return strings.NewReplacer("{account}", w.inventory.ManagementAccount, "{region}", region).Replace(pattern)
		}, w.clients.Base)
	}
	return w.templates
}

// assetPublisher is the workspace's one publisher of CDK assets.
func (w *workspace) assetPublisher() *assetPublisher {
	if w.assets == nil {
		w.assets = newAssetPublisher()
	}
	return w.assets
}

func (d cfnDeployer) target(ctx context.Context, t fleet.Target) (*cfn.Deployer, error) {
	cfg, err := d.config(ctx, t)
	if err != nil {
		return nil, err
	}
	return cfn.NewDeployer(cfg, cfn.DeployerOptions{Timing: d.timing, PollInitial: d.pollInitial}), nil
}

// Deploy implements apply.Deployer.
func (d cfnDeployer) Deploy(ctx context.Context, t fleet.Target, req apply.DeployRequest, progress func(apply.ResourceEvent)) (apply.DeployResult, error) {
	cfg, err := d.config(ctx, t)
	if err != nil {
		return apply.DeployResult{}, err
	}
	dep := cfn.NewDeployer(cfg, cfn.DeployerOptions{Timing: d.timing, PollInitial: d.pollInitial})
	if err := d.assets.publish(ctx, t, cfg, req.Assets); err != nil {
		return apply.DeployResult{}, err
	}
	params, err := d.keys.open(req.Parameters)
	if err != nil {
		return apply.DeployResult{}, err
	}
	url, err := d.templates.URL(ctx, t.Region, req.TemplateBody)
	if err != nil {
		return apply.DeployResult{}, err
	}
	stack, err := dep.Deploy(ctx, cfn.DeployInput{
		StackName: req.StackName, TemplateBody: req.TemplateBody, TemplateURL: url, Parameters: params,
		Tags: req.Tags, Capabilities: req.Capabilities, ClientToken: req.Token, RevertDrift: req.RevertDrift, Absent: req.Absent,
	}, resourceProgress(progress))
	if err != nil {
		return apply.DeployResult{}, err
	}
	return apply.DeployResult{StackID: stack.ID, Outputs: stack.Outputs, Changed: stack.Changed}, nil
}

// Drift runs drift detection on the target's stack.
func (d cfnDeployer) Drift(ctx context.Context, t fleet.Target, stackName string) (fleet.StackDrift, error) {
	dep, err := d.target(ctx, t)
	if err != nil {
		return fleet.StackDrift{}, err
	}
	return dep.DetectDrift(ctx, stackName)
}

// RegionUnavailable implements apply.RegionChecker.
func (cfnDeployer) RegionUnavailable(err error) bool { return regionUnavailable(err) }

// Live returns the stacks of the target's account and region by name, as CloudFormation
// reports them now (one paged DescribeStacks).
func (d cfnDeployer) Live(ctx context.Context, t fleet.Target) (map[string]fleet.LiveStack, error) {
	dep, err := d.target(ctx, t)
	if err != nil {
		return nil, err
	}
	stacks, err := dep.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fleet.LiveStack, len(stacks))
	for _, s := range stacks {
		out[s.Name] = fleet.LiveStack{StackID: s.ID, Status: s.Status, Changed: s.Changed, Parameters: s.Parameters}
	}
	return out, nil
}

// Delete implements apply.Deployer.
func (d cfnDeployer) Delete(ctx context.Context, t fleet.Target, stackName string, progress func(apply.ResourceEvent)) error {
	dep, err := d.target(ctx, t)
	if err != nil {
		return err
	}
	return dep.Delete(ctx, stackName, resourceProgress(progress))
}

// Preview returns the resource changes an update of the target would make.
func (d cfnDeployer) Preview(ctx context.Context, t fleet.Target, s *fleet.StackSet, params map[string]string) ([]fleet.ResourceChange, error) {
	dep, err := d.target(ctx, t)
	if err != nil {
		return nil, err
	}
	if params, err = d.keys.open(params); err != nil {
		return nil, err
	}
	url, err := d.templates.URL(ctx, t.Region, s.TemplateBody)
	if err != nil {
		return nil, err
	}
	return dep.Preview(ctx, cfn.DeployInput{
		StackName: s.Name, TemplateBody: s.TemplateBody, TemplateURL: url, Parameters: params, Tags: s.Tags, Capabilities: s.Capabilities,
	})
}

func resourceProgress(progress func(apply.ResourceEvent)) func(cfn.ResourceEvent) {
	return func(e cfn.ResourceEvent) {
		progress(apply.ResourceEvent{LogicalID: e.LogicalID, Type: e.Type, Status: e.Status, Reason: e.Reason})
	}
}
