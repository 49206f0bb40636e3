package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

func newSandboxCmd(g *globals) *cobra.Command {
	var (
		opts    sandbox.Options
		addr    string
		regions string
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local multi-account AWS endpoint (CloudFormation, STS, Organizations, S3, SSM, CloudWatch)",
		Long: `sandbox serves a simulated AWS Organization on one local endpoint: a management account and
member accounts in nested OUs, each member with the OrganizationAccountAccessRole, and
CloudFormation, STS, Organizations, S3, SSM and CloudWatch partitioned by account and region. The
AWS CLI, the AWS SDKs, the CDK CLI and stackfleet can deploy to it (resource types:
internal/sandbox/RESOURCES.md). It prints the endpoint and the management
account's credentials as shell export lines, then serves until interrupted.

  eval "$(stackfleet sandbox --accounts 48 --ous 4 --regions us-east-1,eu-west-1 &)"   # or copy the lines
  aws organizations list-accounts
  aws cloudformation deploy --template-file t.yaml --stack-name demo
  aws s3 mb s3://my-bucket && aws s3 cp big.yaml s3://my-bucket/

Faults, counters, alarm states and drift are driven through the admin API under /_sandbox/
(see internal/sandbox/ADMIN.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if regions != "" {
				opts.Regions = strings.Split(regions, ",")
			}
			if opts.AdminToken == "" {
				opts.AdminToken = os.Getenv("STACKFLEET_SANDBOX_TOKEN")
			}
			opts.Logger = g.log
			sb, err := sandbox.New(opts)
			if err != nil {
				return usageErr(err)
			}
			url, err := sb.Start(addr)
			if err != nil {
				sb.Close()
				return operationalErr(err)
			}
			org := sb.Org()
			guarded := ""
			if opts.AdminToken != "" {
				guarded = " (token required)"
			}
			fmt.Fprintf(g.stderr, "# stackfleet sandbox on %s: %d accounts, regions %s; admin API %s/_sandbox/%s\n",
				url, len(org.Accounts), strings.Join(sb.Regions(), ","), url, guarded)
			for _, l := range sb.ExportLines() {
				fmt.Fprintln(g.stdout, l)
			}
			<-cmd.Context().Done()
			fmt.Fprintln(g.stderr, "# stopping the sandbox")
			return sb.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "listen", "127.0.0.1:4566", "address to listen on (port 0 picks a free one)")
	f.IntVar(&opts.Accounts, "accounts", 12, "member accounts to create")
	f.IntVar(&opts.OUs, "ous", 3, "top-level OUs (each with Prod and NonProd children)")
	f.StringVar(&regions, "regions", "us-east-1,eu-west-1,ap-northeast-1", "enabled regions, comma-separated")
	f.Int64Var(&opts.Seed, "seed", 1, "seed for ids, keys and fault probabilities")
	f.StringVar(&opts.OrgFile, "org-file", "", "YAML file describing the organization instead of --accounts/--ous")
	f.StringVar(&opts.DataDir, "data-dir", "", "persist the organization and stacks here across restarts")
	f.DurationVar(&opts.ResourceDelay, "resource-delay", 0, "simulated duration of each CloudFormation resource operation, e.g. 2s")
	f.DurationVar(&opts.CreateAccountDelay, "create-account-delay", 2*time.Second, "how long CreateAccount stays IN_PROGRESS")
	f.StringVar(&opts.AccessRole, "access-role", "OrganizationAccountAccessRole", "role every member account has, trusting the management account (AWSControlTowerExecution: like a Control Tower landing zone)")
	f.StringVar(&opts.AdminToken, "admin-token", "", "require this token on the admin API (Authorization: Bearer TOKEN or ?token=); env STACKFLEET_SANDBOX_TOKEN")
	f.StringSliceVar(&opts.AllowedHosts, "allow-host", nil, "host names the admin API answers for besides IP addresses and localhost (it refuses others against DNS rebinding)")
	return cmd
}
