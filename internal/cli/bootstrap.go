package cli

import (
	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/templates"
)

func newBootstrapCmd(g *globals) *cobra.Command {
	var af applyFlags
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Install the execution role (and an artifact bucket per region) in every targeted account",
		Long: `bootstrap creates the role named by execution.role in every account the stack sets and pipelines
target (or bootstrap.targets), and the management account with bootstrap.management, through the
role AWS Organizations or Control Tower created there (bootstrap.accessRole, default
OrganizationAccountAccessRole). The role trusts only bootstrap.trustedPrincipal (default: the
management account), only from inside the organization (aws:PrincipalOrgID), and only with
execution.externalId when one is set; it gets bootstrap.managedPolicies (default
AdministratorAccess). With artifactBuckets (default), every account and region also gets
stackfleet-artifacts-ACCOUNT-REGION: encrypted, TLS only, readable in the organization.

bootstrap runs as stack sets of its own (stackfleet-execution-role in the first region,
stackfleet-artifacts in every region): planned, shown, journaled and resumable like apply; run it
again when accounts join, and it changes only what is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, true)
			if err != nil {
				return err
			}
			defer w.Close()
			pipelines, err := w.file.ResolvePipelines(w.inventory)
			if err != nil {
				return usageErr(err)
			}
			bp, err := w.file.ResolveBootstrap(w.inventory, w.resolved, pipelines)
			if err != nil {
				return usageErr(err)
			}
			resolved := &config.Resolved{Templates: map[string]*templates.Info{}}
			for _, s := range bp.StackSets {
				info, err := templates.Parse(s.TemplateBody)
				if err != nil {
					return operationalErr(err) // a bug: the templates are stackfleet's
				}
				resolved.StackSets, resolved.Templates[s.Name] = append(resolved.StackSets, s), info
			}
			clients, err := awsclient.New(ctx, awsclient.Options{
				Region: g.region, Profile: g.profile, Endpoint: g.endpoint, Logger: g.log,
				RoleARNPattern: "arn:aws:iam::{account}:role/" + bp.AccessRole, SessionName: w.file.Execution.SessionName,
			})
			if err != nil {
				return operationalErr(err)
			}
			w.clients, w.resolved, w.bootstrapping = clients, resolved, true
			if err := w.sealStackSets(); err != nil {
				return operationalErr(err)
			}
			return w.apply(ctx, g, nil, af, false)
		},
	}
	cmd.Flags().BoolVar(&af.autoApprove, "auto-approve", false, "do not ask for confirmation on a terminal")
	addRefreshFlag(cmd, &af.refresh)
	return cmd
}
