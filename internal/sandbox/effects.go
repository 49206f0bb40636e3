package sandbox

import (
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
	"github.com/stackfleet/stackfleet/internal/sandbox/cloudwatch"
	"github.com/stackfleet/stackfleet/internal/sandbox/ssm"
)

// effects implements cfn.Effects on the sandbox's stores, so that resources created by stacks
// are visible through the other services: roles are assumable, parameters readable through
// SSM, alarms listed by CloudWatch.
type effects struct{ s *Sandbox }

var _ cfn.Effects = effects{}

// PutRole creates a role in the shared IAM store, so that it is assumable.
func (e effects) PutRole(account, name, path, trust string) (string, string, error) {
	r, err := e.s.roles.Put(account, name, path, trust, "", e.s.now())
	if err != nil {
		return "", "", err
	}
	return r.ARN, r.RoleID, nil
}

// DeleteRole deletes a role from the IAM store.
func (e effects) DeleteRole(account, name string) { e.s.roles.Delete(account, name) }

// PutParameter writes an SSM parameter (a new version when overwriting).
func (e effects) PutParameter(account, region string, p cfn.Parameter, overwrite bool) error {
	_, err := e.s.ssm.Put(account, region, ssm.Parameter{
		Name: p.Name, Type: p.Type, Value: p.Value, Description: p.Description, DataType: p.DataType,
		AllowedPattern: p.AllowedPattern, Tier: p.Tier,
	}, overwrite)
	return err
}

// DeleteParameter deletes an SSM parameter.
func (e effects) DeleteParameter(account, region, name string) { e.s.ssm.Delete(account, region, name) }

// GetParameter reads the latest value of an SSM parameter.
func (e effects) GetParameter(account, region, name string) (string, bool) {
	p, ok := e.s.ssm.Get(account, region, name)
	return p.Value, ok
}

// PutAlarm creates or replaces a CloudWatch alarm.
func (e effects) PutAlarm(account, region string, a cfn.Alarm) error {
	return e.s.cw.PutAlarm(account, region, cloudwatch.Alarm{
		Name: a.Name, Description: a.Description, Namespace: a.Namespace, MetricName: a.MetricName,
		Statistic: a.Statistic, ComparisonOperator: a.ComparisonOperator, TreatMissingData: a.TreatMissingData,
		Dimensions: a.Dimensions, Threshold: a.Threshold, Period: a.Period,
		EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
		ActionsEnabled: a.ActionsEnabled, AlarmActions: a.AlarmActions, OKActions: a.OKActions,
		InsufficientDataActions: a.InsufficientDataActions,
	})
}

// DeleteAlarm deletes a CloudWatch alarm.
func (e effects) DeleteAlarm(account, region, name string) { e.s.cw.DeleteAlarm(account, region, name) }

// ClaimName reserves a globally unique name for owner.
func (e effects) ClaimName(scope, name, owner string) error {
	return e.s.names.claim(scope, name, owner)
}

// ReleaseName frees a name owner holds.
func (e effects) ReleaseName(scope, name, owner string) { e.s.names.release(scope, name, owner) }

// ResourceFault evaluates the resource-failure rules.
func (e effects) ResourceFault(account, region, stack, logicalID, resourceType string) (string, bool) {
	return e.s.faults.onResource(account, region, stack, logicalID, resourceType)
}

// nameClaims reserves globally unique names (S3 bucket names) across all accounts and regions.
// It is safe for concurrent use.
type nameClaims struct {
	mu sync.Mutex
	m  map[string]map[string]string // scope → name → owner
}

func newNameClaims() *nameClaims { return &nameClaims{m: map[string]map[string]string{}} }

func (n *nameClaims) claim(scope, name, owner string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := n.m[scope]
	if names == nil {
		names = map[string]string{}
		n.m[scope] = names
	}
	if cur, ok := names[name]; ok && cur != owner {
		return fmt.Errorf("%s already exists", name)
	}
	names[name] = owner
	return nil
}

func (n *nameClaims) release(scope, name, owner string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m[scope][name] == owner {
		delete(n.m[scope], name)
	}
}

// Snapshot returns the claimed names as JSON.
func (n *nameClaims) Snapshot() ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]map[string]string, len(n.m))
	for scope, names := range n.m {
		if len(names) == 0 {
			continue
		}
		out[scope] = maps.Clone(names)
	}
	return json.Marshal(out)
}

// Restore replaces the claimed names with a snapshot.
func (n *nameClaims) Restore(data []byte) error {
	var m map[string]map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m = m
	if n.m == nil {
		n.m = map[string]map[string]string{}
	}
	return nil
}
