package cfn

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// DetectDrift runs CloudFormation's drift detection on a stack, waits for it (polling as for
// stack operations) and returns the resources that drifted (MODIFIED or DELETED) with their
// property differences. A detection that fails is UNKNOWN with CloudFormation's reason.
func (d *Deployer) DetectDrift(ctx context.Context, stackName string) (fleet.StackDrift, error) {
	det, err := d.api.DetectStackDrift(ctx, &cloudformation.DetectStackDriftInput{StackName: aws.String(stackName)})
	if err != nil {
		return fleet.StackDrift{}, fmt.Errorf("detect drift of stack %s: %w", stackName, err)
	}
	var status *cloudformation.DescribeStackDriftDetectionStatusOutput
	check := func(ctx context.Context) (bool, error) {
		out, err := d.api.DescribeStackDriftDetectionStatus(ctx, &cloudformation.DescribeStackDriftDetectionStatusInput{StackDriftDetectionId: det.StackDriftDetectionId})
		if err != nil {
			return false, fmt.Errorf("drift detection of stack %s: %w", stackName, err)
		}
		status = out
		return out.DetectionStatus != types.StackDriftDetectionStatusDetectionInProgress, nil
	}
	if done, err := check(ctx); err != nil {
		return fleet.StackDrift{}, err
	} else if !done {
		if err := d.newPoller("drift", time.Now()).run(ctx, check, nil); err != nil {
			return fleet.StackDrift{}, err
		}
	}
	out := fleet.StackDrift{Status: fleet.DriftUnknown}
	switch status.StackDriftStatus {
	case types.StackDriftStatusInSync:
		out.Status = fleet.InSync
		return out, nil
	case types.StackDriftStatusDrifted:
		out.Status = fleet.Drifted
	default:
		out.Reason = aws.ToString(status.DetectionStatusReason)
		if out.Reason == "" {
			out.Reason = fmt.Sprintf("detection %s, drift %s", status.DetectionStatus, status.StackDriftStatus)
		}
		return out, nil
	}
	pages := cloudformation.NewDescribeStackResourceDriftsPaginator(d.api, &cloudformation.DescribeStackResourceDriftsInput{
		StackName:                       aws.String(stackName),
		StackResourceDriftStatusFilters: []types.StackResourceDriftStatus{types.StackResourceDriftStatusModified, types.StackResourceDriftStatusDeleted},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fleet.StackDrift{}, fmt.Errorf("resource drifts of stack %s: %w", stackName, err)
		}
		for _, r := range page.StackResourceDrifts {
			rd := fleet.ResourceDrift{LogicalID: aws.ToString(r.LogicalResourceId), Type: aws.ToString(r.ResourceType), Status: string(r.StackResourceDriftStatus)}
			for _, p := range r.PropertyDifferences {
				rd.Differences = append(rd.Differences, fleet.PropertyDrift{Path: aws.ToString(p.PropertyPath),
					Expected: aws.ToString(p.ExpectedValue), Actual: aws.ToString(p.ActualValue), Type: string(p.DifferenceType)})
			}
			out.Resources = append(out.Resources, rd)
		}
	}
	return out, nil
}
