package config

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// The stack sets 'stackfleet bootstrap' deploys. They are recorded like any stack set, under
// names that configurations cannot use (ReservedPrefix), and only bootstrap plans them.
const (
	BootstrapRoleStackSet      = ReservedPrefix + "execution-role"
	BootstrapArtifactsStackSet = ReservedPrefix + "artifacts"
	// DefaultAccessRole is the role AWS Organizations creates in the accounts it creates.
	DefaultAccessRole = "OrganizationAccountAccessRole"
)

// DefaultManagedPolicies are attached to the execution role unless bootstrap.managedPolicies
// says otherwise.
var DefaultManagedPolicies = []string{"arn:aws:iam::aws:policy/AdministratorAccess"}

var executionRolePattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\{account\}:role(/(?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})$`)

// BootstrapPlan is what bootstrap deploys: the stack sets, the access role it deploys them
// through, and whether the management account is among the targets.
type BootstrapPlan struct {
	StackSets  []*fleet.StackSet
	AccessRole string
	Management bool
}

// ResolveBootstrap builds the bootstrap stack sets: the execution role (in one region: IAM is
// global) in every target account, and an artifact bucket in every target account and region.
// The targets are bootstrap.targets, else every account and region the resolved stack sets and
// the pipelines target.
func (f *File) ResolveBootstrap(inv *fleet.Inventory, r *Resolved, pipelines []fleet.Pipeline) (*BootstrapPlan, error) {
	b := f.Bootstrap
	var errs Errors
	m := executionRolePattern.FindStringSubmatch(f.Execution.Role)
	if m == nil {
		errs = append(errs, f.errorAt("execution.role", "bootstrap creates the execution role, so execution.role must be arn:aws:iam::{account}:role/NAME (got %q)", f.Execution.Role))
	}
	if inv.OrganizationID == "" {
		errs = append(errs, f.errorAt("organization.source", "bootstrap needs the organization's id for the role's trust policy: use source aws"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	rolePath, roleName := m[1], m[2]

	accounts := map[string]bool{}
	regions := []string{}
	addRegion := func(rs ...string) {
		for _, r := range rs {
			if !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
	}
	if b.Targets != nil {
		sel := fleet.Selector{OUs: b.Targets.OUs, Accounts: b.Targets.Accounts, AccountTags: b.Targets.AccountTags, Filter: fleet.Filter(b.Targets.Filter)}
		accts, err := inv.Select(sel)
		if err != nil {
			return nil, Errors{f.errorAt("bootstrap.targets", "%v", err)}
		}
		for _, a := range accts {
			accounts[a.ID] = true
		}
		if len(b.Targets.Regions) > 0 {
			addRegion(b.Targets.Regions...)
		} else {
			addRegion(f.Regions...)
		}
	} else {
		for _, s := range r.StackSets {
			targets, _, err := s.Targets(inv)
			if err != nil {
				return nil, Errors{f.errorAt("stackSets", "%v", err)}
			}
			for _, t := range targets {
				accounts[t.Account] = true
				addRegion(t.Region)
			}
		}
		for _, p := range pipelines {
			for _, st := range p.Stages {
				for _, w := range st.Waves {
					for _, t := range w {
						accounts[t.Account] = true
						addRegion(t.Region)
					}
				}
			}
		}
	}
	if b.Management {
		accounts[inv.ManagementAccount] = true
	}
	if len(accounts) == 0 || len(regions) == 0 {
		return nil, Errors{f.errorAt("bootstrap", "nothing to bootstrap: no stack set or pipeline targets an account (or set bootstrap.targets)")}
	}
	list := slices.Sorted(maps.Keys(accounts))
	trusted := cmp.Or(b.TrustedPrincipal, inv.ManagementAccount)
	if accountID.MatchString(trusted) {
		trusted = "arn:aws:iam::" + trusted + ":root"
	}
	policies := b.ManagedPolicies
	if len(policies) == 0 {
		policies = DefaultManagedPolicies
	}
	role := &fleet.StackSet{
		Name: BootstrapRoleStackSet, Description: "stackfleet's execution role",
		TemplateBody: []byte(roleTemplate(rolePath, roleName, policies)),
		Parameters:   map[string]string{"TrustedPrincipal": trusted, "OrganizationId": inv.OrganizationID, "ExternalId": f.Execution.ExternalID},
		Capabilities: []string{"CAPABILITY_NAMED_IAM"},
		Selector:     fleet.Selector{Accounts: list}, Regions: regions[:1],
		Preferences: fleet.Preferences{MaxConcurrent: fleet.Limit{Percentage: ptr(100)}, FailureTolerance: fleet.Limit{Percentage: ptr(10)},
			RegionConcurrency: fleet.Sequential, Mode: fleet.Soft},
	}
	out := &BootstrapPlan{StackSets: []*fleet.StackSet{role}, AccessRole: cmp.Or(b.AccessRole, DefaultAccessRole), Management: b.Management}
	if b.ArtifactBuckets == nil || *b.ArtifactBuckets {
		out.StackSets = append(out.StackSets, &fleet.StackSet{
			Name: BootstrapArtifactsStackSet, Description: "stackfleet's artifact buckets",
			TemplateBody: []byte(artifactsTemplate),
			Parameters:   map[string]string{"OrganizationId": inv.OrganizationID},
			Selector:     fleet.Selector{Accounts: list}, Regions: regions,
			Preferences: role.Preferences,
		})
	}
	return out, nil
}

func ptr(n int) *int { return &n }

// roleTemplate is the execution role: trusted by one principal, only from inside the
// organization, and with the external id when one is configured.
func roleTemplate(path, name string, policies []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Description: stackfleet's execution role (created by 'stackfleet bootstrap')
Parameters:
  TrustedPrincipal: {Type: String}
  OrganizationId: {Type: String}
  ExternalId: {Type: String, Default: "", NoEcho: true}
Conditions:
  HasExternalId: !Not [!Equals [!Ref ExternalId, ""]]
Resources:
  ExecutionRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: %s
      Path: %s
      Description: Assumed by stackfleet to deploy stacks in this account
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Ref TrustedPrincipal}
            Action: sts:AssumeRole
            Condition: !If
              - HasExternalId
              - {StringEquals: {"aws:PrincipalOrgID": !Ref OrganizationId, "sts:ExternalId": !Ref ExternalId}}
              - {StringEquals: {"aws:PrincipalOrgID": !Ref OrganizationId}}
      ManagedPolicyArns:
`, name, path)
	for _, p := range policies {
		fmt.Fprintf(&b, "        - %s\n", p)
	}
	b.WriteString(`Outputs:
  RoleArn: {Value: !GetAtt ExecutionRole.Arn}
`)
	return b.String()
}

// artifactsTemplate is the per-region bucket large templates and assets go through: encrypted,
// reachable only over TLS, readable by the organization's principals.
const artifactsTemplate = `Description: stackfleet's artifact bucket (created by 'stackfleet bootstrap')
Parameters:
  OrganizationId: {Type: String}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub stackfleet-artifacts-${AWS::AccountId}-${AWS::Region}
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: TLSOnly
            Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: [!GetAtt Bucket.Arn, !Sub "${Bucket.Arn}/*"]
            Condition: {Bool: {"aws:SecureTransport": "false"}}
          - Sid: OrganizationReads
            Effect: Allow
            Principal: "*"
            Action: ["s3:GetObject"]
            Resource: [!Sub "${Bucket.Arn}/*"]
            Condition: {StringEquals: {"aws:PrincipalOrgID": !Ref OrganizationId}}
Outputs:
  BucketName: {Value: !Ref Bucket}
`
