// Package config reads stackfleet.yaml: strictly (unknown fields are errors), with every error
// naming file:line:column and the field, and converts it into the fleet domain's types.
package config

// Config is the whole stackfleet.yaml. Field descriptions (the desc tags) feed the JSON Schema.
type Config struct {
	Version       int            `yaml:"version" desc:"Configuration format version; 1."`
	Organization  Organization   `yaml:"organization" desc:"Where the accounts, OUs and tags come from."`
	Regions       []string       `yaml:"regions" desc:"Default regions of every stack set."`
	Execution     Execution      `yaml:"execution" desc:"The role stackfleet assumes in each target account."`
	StackSets     []StackSet     `yaml:"stackSets" desc:"Templates deployed to accounts × regions."`
	Pipelines     []Pipeline     `yaml:"pipelines,omitempty" desc:"Stacks shipped through ordered stages (beta, gamma, prod) in waves, validated by alarms, health checks and tests, rolled back on failure."`
	Exports       []Export       `yaml:"exports,omitempty" desc:"Outputs apply keeps exported after every run (as 'stackfleet outputs --export')."`
	Bootstrap     Bootstrap      `yaml:"bootstrap,omitempty" desc:"What 'stackfleet bootstrap' installs in every targeted account: the execution role, and an artifact bucket per region."`
	Notifications []Notification `yaml:"notifications,omitempty" desc:"Webhooks that receive failures, rollbacks, approvals needed and finished releases and operations, signed with an HMAC."`
	Artifacts     Artifacts      `yaml:"artifacts,omitempty" desc:"Where templates over CloudFormation's 51,200-byte request limit are uploaded, once per region and content-addressed, to be deployed by TemplateURL."`
	Executor      string         `yaml:"executor,omitempty" desc:"Who runs operations: local (default), the stackfleet process itself, with the state in SQLite next to this file; temporal, the workers of 'stackfleet worker' on a Temporal service, with the state in PostgreSQL (state.postgresEnv) shared by every engineer and worker." enum:"local,temporal"`
	Temporal      Temporal       `yaml:"temporal,omitempty" desc:"The Temporal service of executor: temporal."`
	State         State          `yaml:"state,omitempty" desc:"Where the state (journal) lives: by default SQLite in .stackfleet/ next to this file."`
}

// Executors.
const (
	ExecutorLocal    = "local"
	ExecutorTemporal = "temporal"
)

// Temporal is how stackfleet reaches a Temporal service.
type Temporal struct {
	Address   string `yaml:"address,omitempty" desc:"host:port of the frontend (default localhost:7233; Temporal Cloud: NAMESPACE.ACCOUNT.tmprl.cloud:7233 or the regional endpoint)."`
	Namespace string `yaml:"namespace,omitempty" desc:"Namespace (default: default)."`
	TaskQueue string `yaml:"taskQueue,omitempty" desc:"Task queue the workers poll (default: stackfleet)."`
	TLS       bool   `yaml:"tls,omitempty" desc:"Connect with TLS (implied by apiKeyEnv and certFile)."`
	// ServerName, CAFile, CertFile and KeyFile configure TLS; files are relative to this config.
	ServerName string `yaml:"serverName,omitempty" desc:"TLS server name, when it differs from the address's host."`
	CAFile     string `yaml:"caFile,omitempty" desc:"PEM file of the CA that signed the server's certificate (default: the system's)."`
	CertFile   string `yaml:"certFile,omitempty" desc:"PEM client certificate for mutual TLS (with keyFile)."`
	KeyFile    string `yaml:"keyFile,omitempty" desc:"PEM private key of certFile."`
	APIKeyEnv  string `yaml:"apiKeyEnv,omitempty" desc:"Environment variable holding an API key (Temporal Cloud); the key is never printed."`
}

// State says where the journal lives.
type State struct {
	PostgresEnv string `yaml:"postgresEnv,omitempty" desc:"Environment variable holding a PostgreSQL connection string (postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full): the state lives in that database, shared by a team. Required with executor: temporal. The value is read from the environment only, as it may hold a password."`
}

// Notification is one webhook the event stream is notified to.
type Notification struct {
	Name      string   `yaml:"name" desc:"Name, for messages (the URL is never printed: it may be a secret)."`
	URL       string   `yaml:"url,omitempty" desc:"https URL (http only for localhost) receiving a POST per notification."`
	URLEnv    string   `yaml:"urlEnv,omitempty" desc:"Environment variable holding the URL instead, for URLs that are secrets (Slack's)."`
	SecretEnv string   `yaml:"secretEnv,omitempty" desc:"Environment variable holding the HMAC key: each request carries X-Stackfleet-Timestamp and X-Stackfleet-Signature: sha256=HEX(HMAC-SHA256(key, TIMESTAMP.BODY))."`
	Format    string   `yaml:"format,omitempty" desc:"json (default: {apiVersion, notification, text, event}) or slack ({text}, for incoming webhooks)." enum:"json,slack"`
	Events    []string `yaml:"events,omitempty" desc:"Kinds sent (default all): failure, rollback, approval, releaseFinished, operationFinished."`
	StackSets []string `yaml:"stackSets,omitempty" desc:"Only these stack sets' events (with pipelines: either)."`
	Pipelines []string `yaml:"pipelines,omitempty" desc:"Only these pipelines' events."`
}

// Artifacts names the per-region buckets large templates go through.
type Artifacts struct {
	Bucket string `yaml:"bucket,omitempty" desc:"Bucket name pattern with {region} (and optionally {account}, the management account): default stackfleet-artifacts-{account}-{region}, the bucket 'stackfleet bootstrap' creates in the management account with bootstrap.management: true. Target accounts must be able to read it (the bootstrap bucket admits the organization)."`
}

// DefaultArtifactBucket is the artifact bucket pattern when artifacts.bucket is not set.
const DefaultArtifactBucket = "stackfleet-artifacts-{account}-{region}"

// Export is one stack set's outputs kept in SSM parameters (or a JSON file) by apply.
type Export struct {
	StackSet string `yaml:"stackSet" desc:"The stack set whose outputs are exported."`
	To       string `yaml:"to" desc:"ssm:/prefix (parameters /prefix/ACCOUNT/REGION/KEY) or a FILE.json relative to this config."`
	Account  string `yaml:"account,omitempty" desc:"Account holding the SSM parameters (default: the management account)."`
	Region   string `yaml:"region,omitempty" desc:"Region holding the SSM parameters (default: the home region)."`
}

// Bootstrap configures 'stackfleet bootstrap': the execution role (named by execution.role) and
// the per-region artifact buckets, deployed through the role Organizations or Control Tower
// created in each account.
type Bootstrap struct {
	AccessRole string `yaml:"accessRole,omitempty" desc:"Role bootstrap deploys through in member accounts: OrganizationAccountAccessRole (default; AWS Organizations) or AWSControlTowerExecution (Control Tower), or any role name."`
	// TrustedPrincipal is who may assume the execution role (with aws:PrincipalOrgID).
	TrustedPrincipal string   `yaml:"trustedPrincipal,omitempty" desc:"Who may assume the execution role: an account id, or a role ARN (default: the management account). The organization id is always required too (aws:PrincipalOrgID), and execution.externalId if set."`
	ManagedPolicies  []string `yaml:"managedPolicies,omitempty" desc:"Managed policy ARNs attached to the execution role (default: arn:aws:iam::aws:policy/AdministratorAccess)."`
	Management       bool     `yaml:"management,omitempty" desc:"Also bootstrap the management account, with the credentials stackfleet runs with."`
	ArtifactBuckets  *bool    `yaml:"artifactBuckets,omitempty" desc:"Create stackfleet-artifacts-ACCOUNT-REGION in every region (encrypted, TLS only, readable in the organization); default true."`
	Targets          *Targets `yaml:"targets,omitempty" desc:"Accounts and regions to bootstrap (default: every account and region the stack sets and pipelines target)."`
}

// Organization says where the inventory comes from.
type Organization struct {
	Source string `yaml:"source" desc:"aws (read through the Organizations API with management or delegated-admin credentials) or file." enum:"aws,file"`
	File   string `yaml:"file,omitempty" desc:"Static inventory (YAML) when source is file, relative to this config."`
}

// Execution is the role assumed in each target account.
type Execution struct {
	Role        string `yaml:"role" desc:"Role ARN pattern; {account} is replaced by the target account id, e.g. arn:aws:iam::{account}:role/StackFleetExecution."`
	ExternalID  string `yaml:"externalId,omitempty" desc:"External id passed to sts:AssumeRole."`
	SessionName string `yaml:"sessionName,omitempty" desc:"Role session name (default stackfleet)."`
}

// StackSet is one template deployed to many accounts and regions.
type StackSet struct {
	Name         string            `yaml:"name" desc:"Stack set name; also the CloudFormation stack name of every instance."`
	Description  string            `yaml:"description,omitempty" desc:"Free text."`
	Template     string            `yaml:"template" desc:"Template file (YAML or JSON), relative to this config; or DIR/STACK, a stack of the CDK cloud assembly in DIR (cdk.out/MyStack), whose file assets are published to each target's CDK bootstrap bucket before it deploys."`
	Parameters   map[string]any    `yaml:"parameters,omitempty" desc:"Template parameters; lists become comma-delimited strings. A value may reference other stack sets' outputs: {{ output \"SET\" \"KEY\" }} (same account and region), {{ outputIn \"SET\" \"KEY\" \"ACCOUNT\" \"REGION\" }}, {{ outputs \"SET\" \"KEY\" [\"region=R\" \"ou=PATH\" \"tag:K=V\" \"account=A\"] }} (comma-delimited), {{ outputsJSON … }}."`
	Tags         map[string]string `yaml:"tags,omitempty" desc:"Stack tags."`
	Capabilities []string          `yaml:"capabilities,omitempty" desc:"CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND." enum:"CAPABILITY_IAM,CAPABILITY_NAMED_IAM,CAPABILITY_AUTO_EXPAND"`
	Targets      Targets           `yaml:"targets" desc:"Accounts and regions that get an instance."`
	Overrides    []Override        `yaml:"overrides,omitempty" desc:"Parameter values for some targets; the most specific match wins."`
	Rollout      Rollout           `yaml:"rollout,omitempty" desc:"Operation preferences, with StackSets semantics."`
	AutoDeploy   bool              `yaml:"autoDeploy,omitempty" desc:"'stackfleet reconcile' deploys to accounts that join the targets (with the rollout preferences) and removes the stacks of accounts that leave (per onRemoval)."`
	OnRemoval    string            `yaml:"onRemoval,omitempty" desc:"What happens to an instance whose target disappears: delete (default) or retain (the stack stays, unmanaged)." enum:"delete,retain"`
}

// Targets selects accounts and regions.
type Targets struct {
	OUs         []string          `yaml:"ous,omitempty" desc:"OUs (ids or name paths like Workloads/Prod); children included; the management account never."`
	Accounts    []string          `yaml:"accounts,omitempty" desc:"Account ids, combined with the OUs by filter."`
	AccountTags map[string]string `yaml:"accountTags,omitempty" desc:"Accounts having all these tags are listed too."`
	Filter      string            `yaml:"filter,omitempty" desc:"How listed accounts combine with the OUs." enum:"NONE,INTERSECTION,DIFFERENCE,UNION"`
	Regions     []string          `yaml:"regions,omitempty" desc:"Regions; default: the top-level regions."`
}

// Override sets parameters for the targets it matches. Every given criterion must match.
type Override struct {
	Match      Match          `yaml:"match" desc:"Which targets; at least one criterion."`
	Parameters map[string]any `yaml:"parameters" desc:"Parameter values for the matched targets."`
}

// Match criteria of an override. Specificity, lowest to highest: region, tags, OU (deeper is more
// specific), account; criteria add up.
type Match struct {
	OU      string            `yaml:"ou,omitempty" desc:"An OU id or name path; accounts anywhere below it match."`
	Account string            `yaml:"account,omitempty" desc:"An account id."`
	Region  string            `yaml:"region,omitempty" desc:"A region."`
	Tags    map[string]string `yaml:"tags,omitempty" desc:"Account tags that must all be present."`
}

// Rollout is a stack set's operation preferences. Count and percentage of one limit are exclusive.
type Rollout struct {
	MaxConcurrentCount         *int     `yaml:"maxConcurrentCount,omitempty" desc:"Accounts per region deployed at once (default 1)." min:"1"`
	MaxConcurrentPercentage    *int     `yaml:"maxConcurrentPercentage,omitempty" desc:"Percentage of a region's accounts deployed at once, rounded down, at least 1." min:"1" max:"100"`
	FailureToleranceCount      *int     `yaml:"failureToleranceCount,omitempty" desc:"Failed accounts per region before the region stops (default 0)." min:"0"`
	FailureTolerancePercentage *int     `yaml:"failureTolerancePercentage,omitempty" desc:"Percentage of a region's accounts that may fail, rounded down." min:"0" max:"100"`
	RegionOrder                []string `yaml:"regionOrder,omitempty" desc:"Regions deployed first, in this order; the others follow in the order of regions."`
	RegionConcurrency          string   `yaml:"regionConcurrency,omitempty" desc:"sequential (default) or parallel." enum:"sequential,parallel"`
	Mode                       string   `yaml:"mode,omitempty" desc:"strict (default: concurrency shrinks as failures occur) or soft." enum:"strict,soft"`
}
