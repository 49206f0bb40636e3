package orgs_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/orgs"
	"github.com/stackfleet/stackfleet/internal/sandbox"
)

func TestReadSandboxOrganization(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "") // the test's own HTTP client cannot take one
	sb, err := sandbox.New(sandbox.Options{Accounts: 12, OUs: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections) // before Close: see awsclient's sandbox test
	creds := sb.ManagementCredentials()
	dir := t.TempDir()
	cfg, err := config.LoadDefaultConfig(t.Context(),
		config.WithSharedConfigFiles([]string{filepath.Join(dir, "config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(dir, "credentials")}),
		config.WithRegion(creds.Region),
		config.WithBaseEndpoint(url),
		config.WithHTTPClient(&http.Client{Transport: transport}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")),
	)
	if err != nil {
		t.Fatal(err)
	}

	got, err := orgs.Read(t.Context(), cfg, orgs.ReadOptions{Tags: true})
	if err != nil {
		t.Fatal(err)
	}
	view := sb.Org()
	want := &fleet.Inventory{OrganizationID: view.ID, ManagementAccount: view.ManagementAccount, RootID: view.RootID}
	for _, ou := range view.OUs {
		want.OUs = append(want.OUs, fleet.OU{ID: ou.ID, Name: ou.Name, ParentID: ou.ParentID})
	}
	for _, a := range view.Accounts {
		parent := a.OUID
		if parent == "" {
			parent = view.RootID
		}
		want.Accounts = append(want.Accounts, fleet.Account{ID: a.ID, Name: a.Name, Email: a.Email, ParentID: parent, Status: "ACTIVE", Tags: a.Tags})
	}
	sortInventory(want)
	if diff := cmp.Diff(want, got, cmp.Transformer("emptyTags", func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		return m
	})); diff != "" {
		t.Errorf("inventory read from the sandbox (-want +got):\n%s", diff)
	}
	// OU paths from the API agree with the sandbox's.
	for _, ou := range view.OUs {
		if p := got.OUPath(ou.ID); p != ou.Path {
			t.Errorf("OUPath(%s) = %q, want %q", ou.ID, p, ou.Path)
		}
	}
	if !slices.ContainsFunc(got.OUs, func(o fleet.OU) bool { return strings.Contains(got.OUPath(o.ID), "/") }) {
		t.Error("no nested OU read: the walk stopped at the first level")
	}
}
