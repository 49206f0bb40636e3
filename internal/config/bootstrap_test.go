package config_test

import (
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/config"
	"github.com/stackfleet/stackfleet/internal/templates"
)

func TestResolveBootstrap(t *testing.T) {
	inv := inventory(3)
	inv.OrganizationID = "o-abcdefghij"
	cfg := strings.Replace(resolveConfig, `execution: {role: "arn:aws:iam::{account}:role/X"}`,
		`execution: {role: "arn:aws:iam::{account}:role/ops/StackfleetExecution", externalId: ext}`, 1)
	f, err := config.Load(writeConfig(t, cfg, baseTemplate))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Resolve(inv)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := f.ResolveBootstrap(inv, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.StackSets) != 2 || bp.AccessRole != config.DefaultAccessRole {
		t.Fatalf("bootstrap plan: %d stack sets, access role %s", len(bp.StackSets), bp.AccessRole)
	}
	role, buckets := bp.StackSets[0], bp.StackSets[1]
	if len(role.Regions) != 1 || len(buckets.Regions) != 2 || len(role.Selector.Accounts) != 3 {
		t.Errorf("role in %v, buckets in %v, accounts %v", role.Regions, buckets.Regions, role.Selector.Accounts)
	}
	body := string(role.TemplateBody)
	for _, want := range []string{"RoleName: StackfleetExecution", "Path: /ops/", `"aws:PrincipalOrgID": !Ref OrganizationId`, `"sts:ExternalId": !Ref ExternalId`, "arn:aws:iam::aws:policy/AdministratorAccess"} {
		if !strings.Contains(body, want) {
			t.Errorf("role template lacks %q:\n%s", want, body)
		}
	}
	if role.Parameters["TrustedPrincipal"] != "arn:aws:iam::"+inv.ManagementAccount+":root" || role.Parameters["OrganizationId"] != "o-abcdefghij" || role.Parameters["ExternalId"] != "ext" {
		t.Errorf("role parameters %v", role.Parameters)
	}
	for _, s := range bp.StackSets {
		if _, err := templates.Parse(s.TemplateBody); err != nil {
			t.Errorf("%s: its template does not validate: %v", s.Name, err)
		}
	}

	// Without the organization's id, or with a role that is not a plain role ARN pattern.
	inv.OrganizationID = ""
	if _, err := f.ResolveBootstrap(inv, r, nil); err == nil || !strings.Contains(err.Error(), "organization.source: bootstrap needs the organization's id") {
		t.Errorf("bootstrap without an organization id: %v", err)
	}
}
