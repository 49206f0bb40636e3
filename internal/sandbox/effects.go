package sandbox

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
	"github.com/stackfleet/stackfleet/internal/sandbox/s3"

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

// CreateBucket creates a bucket in the shared S3 namespace.
func (e effects) CreateBucket(account, region string, b cfn.Bucket) error {
	err := e.s.s3.CreateBucket(s3.Bucket{Name: b.Name, Account: account, Region: region,
		Policy: "", PublicAccessBlock: publicAccessBlock(b), Encryption: s3.Encryption{SSEAlgorithm: b.SSEAlgorithm, KMSMasterKeyID: b.KMSKeyID},
		Versioning: b.Versioning, Tags: b.Tags})
	if errors.Is(err, s3.ErrBucketExists) {
		return fmt.Errorf("%s already exists", b.Name)
	}
	return err
}

// UpdateBucket changes the configuration of a bucket a stack created.
func (e effects) UpdateBucket(account string, b cfn.Bucket) error {
	return e.s.s3.Configure(account, b.Name, func(cur *s3.Bucket) {
		cur.PublicAccessBlock = publicAccessBlock(b)
		cur.Encryption = s3.Encryption{SSEAlgorithm: cmp.Or(b.SSEAlgorithm, "AES256"), KMSMasterKeyID: b.KMSKeyID}
		cur.Versioning = b.Versioning
		cur.Tags = b.Tags
	})
}

func publicAccessBlock(b cfn.Bucket) *s3.PublicAccessBlock {
	if b.PublicAccessBlock == nil {
		return nil
	}
	p := s3.PublicAccessBlock(*b.PublicAccessBlock)
	return &p
}

// DeleteBucket deletes an empty bucket; a bucket with objects fails the deletion, as on AWS.
func (e effects) DeleteBucket(account, name string) error {
	switch err := e.s.s3.DeleteBucket(account, name); {
	case errors.Is(err, s3.ErrBucketNotEmpty):
		return fmt.Errorf("The bucket you tried to delete is not empty (Service: S3, Status Code: 409, Request ID: %s)", awsproto.RandomString(awsproto.Base32Upper, 16))
	case errors.Is(err, s3.ErrNoSuchBucket):
		return nil // deleted out of band: CloudFormation's delete succeeds
	default:
		return err
	}
}

// PutBucketPolicy sets (or, with "", removes) the policy of account's bucket.
func (e effects) PutBucketPolicy(account, name, policy string) error {
	b, ok := e.s.s3.Bucket(name)
	if !ok {
		return fmt.Errorf("The specified bucket does not exist (Service: S3, Status Code: 404)")
	}
	if policy != "" {
		if err := s3.CheckPolicy(name, policy, b.PublicAccessBlock); err != nil {
			return fmt.Errorf("%s (Service: S3, Status Code: %d)", err.Message, err.Status)
		}
	}
	return e.s.s3.Configure(account, name, func(cur *s3.Bucket) { cur.Policy = policy })
}

// ReadObject reads the object at an S3 URL as account's caller would, for TemplateURL.
func (e effects) ReadObject(account, url string) ([]byte, error) {
	bucket, key, ok := s3.ParseObjectURL(url)
	if !ok {
		return nil, cfn.ErrObjectURL
	}
	data, err := e.s.s3.Read(iam.Principal{Account: account, ARN: "arn:aws:iam::" + account + ":root"}, bucket, key)
	switch {
	case errors.Is(err, s3.ErrNoSuchKey):
		return nil, cfn.ErrObjectNotFound
	case errors.Is(err, s3.ErrNoSuchBucket), errors.Is(err, s3.ErrAccessDenied):
		return nil, cfn.ErrObjectAccessDenied
	}
	return data, err
}

// ResourceFault evaluates the resource-failure rules.
func (e effects) ResourceFault(account, region, stack, logicalID, resourceType string) (string, bool) {
	return e.s.faults.onResource(account, region, stack, logicalID, resourceType)
}

// legacyNames restores the "Names" section of state files written before the sandbox had S3:
// bucket names claimed by stacks ({"s3": {name: "<stack ARN>/<logical id>"}}) become empty
// buckets of the stack's account and region. It writes no section.
type legacyNames struct{ s *Sandbox }

func (legacyNames) Snapshot() ([]byte, error) { return nil, nil }

func (l legacyNames) Restore(data []byte) error {
	var m map[string]map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for name, owner := range m["s3"] {
		// arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID/LOGICAL
		f := strings.Split(owner, ":")
		if len(f) < 6 {
			return fmt.Errorf("bucket %s: owner %q is not a stack resource", name, owner)
		}
		if _, ok := l.s.s3.Bucket(name); ok {
			continue
		}
		if err := l.s.s3.CreateBucket(s3.Bucket{Name: name, Account: f[4], Region: f[3]}); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}
