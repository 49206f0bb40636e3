package sandbox_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

var (
	orgIDRe   = regexp.MustCompile(`^o-[a-z0-9]{10}$`)
	rootIDRe  = regexp.MustCompile(`^r-[a-z0-9]{4}$`)
	ouIDRe    = regexp.MustCompile(`^ou-[a-z0-9]{4}-[a-z0-9]{8}$`)
	accountRe = regexp.MustCompile(`^\d{12}$`)
)

func TestSeededOrg(t *testing.T) {
	clock := newClock()
	sb, err := sandbox.New(sandbox.Options{Accounts: 7, OUs: 2, Seed: 42, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	v := sb.Org()
	if !orgIDRe.MatchString(v.ID) || !rootIDRe.MatchString(v.RootID) || !accountRe.MatchString(v.ManagementAccount) {
		t.Errorf("bad ids: org %q root %q management %q", v.ID, v.RootID, v.ManagementAccount)
	}
	var paths []string
	for _, u := range v.OUs {
		if !ouIDRe.MatchString(u.ID) || u.ID[3:7] != v.RootID[2:] {
			t.Errorf("OU id %q does not match root %q", u.ID, v.RootID)
		}
		paths = append(paths, u.Path)
	}
	want := []string{"Workloads-1", "Workloads-1/Prod", "Workloads-1/NonProd", "Workloads-2", "Workloads-2/Prod", "Workloads-2/NonProd"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("OU paths (-want +got):\n%s", diff)
	}
	if got := len(v.Members()); got != 7 {
		t.Fatalf("members = %d, want 7", got)
	}
	seen := map[string]bool{}
	for _, a := range v.Accounts {
		if seen[a.ID] || seen[a.Email] || seen[a.Name] {
			t.Errorf("duplicate id, email or name in %+v", a)
		}
		seen[a.ID], seen[a.Email], seen[a.Name] = true, true, true
		if a.Management {
			continue
		}
		stage := map[string]string{"Prod": "prod", "NonProd": "nonprod"}[a.OUPath[len("Workloads-1/"):]]
		if a.Tags["stage"] != stage || a.Tags["team"] == "" {
			t.Errorf("account %s in %s has tags %v, want stage=%s and a team", a.Name, a.OUPath, a.Tags, stage)
		}
	}

	// The same seed gives the same organization, another seed another one.
	same, err := sandbox.New(sandbox.Options{Accounts: 7, OUs: 2, Seed: 42, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	if diff := cmp.Diff(v, same.Org()); diff != "" {
		t.Errorf("same seed, different org (-first +second):\n%s", diff)
	}
	if sb.ManagementCredentials() != same.ManagementCredentials() {
		t.Errorf("same seed, different management credentials")
	}
	other, err := sandbox.New(sandbox.Options{Accounts: 7, OUs: 2, Seed: 43, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Org().ID == v.ID || other.ManagementCredentials() == sb.ManagementCredentials() {
		t.Errorf("different seeds gave the same organization or credentials")
	}
}

func TestListAccountsPaginator(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 45, OUs: 3, Seed: 1})
	client := organizations.NewFromConfig(e.cfg)
	var got []string
	pages := 0
	p := organizations.NewListAccountsPaginator(client, &organizations.ListAccountsInput{MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Accounts) > 7 {
			t.Errorf("page of %d accounts, MaxResults 7", len(out.Accounts))
		}
		for _, a := range out.Accounts {
			got = append(got, *a.Id)
		}
	}
	var want []string
	for _, a := range e.sb.Org().Accounts {
		want = append(want, a.ID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	if pages != 7 {
		t.Errorf("pages = %d, want 7", pages)
	}

	// Default page size is 20, AWS's maximum.
	out, err := client.ListAccounts(context.Background(), &organizations.ListAccountsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Accounts) != 20 || out.NextToken == nil {
		t.Errorf("default page: %d accounts, NextToken %v; want 20 and a token", len(out.Accounts), out.NextToken)
	}
}

// walk lists every account under parent with the ListChildren paginator.
func walk(t *testing.T, client *organizations.Client, parent string, depth int) []string {
	t.Helper()
	var out []string
	for _, typ := range []types.ChildType{types.ChildTypeAccount, types.ChildTypeOrganizationalUnit} {
		p := organizations.NewListChildrenPaginator(client, &organizations.ListChildrenInput{
			ParentId: aws.String(parent), ChildType: typ, MaxResults: aws.Int32(2),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Children {
				if c.Type != typ {
					t.Errorf("child %s has type %s, want %s", *c.Id, c.Type, typ)
				}
				if typ == types.ChildTypeAccount {
					out = append(out, fmt.Sprintf("%d:%s", depth, *c.Id))
				} else {
					out = append(out, walk(t, client, *c.Id, depth+1)...)
				}
			}
		}
	}
	return out
}

func TestListChildrenWalk(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 11, OUs: 2, Seed: 9})
	client := organizations.NewFromConfig(e.cfg)
	roots, err := client.ListRoots(context.Background(), &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	v := e.sb.Org()
	if len(roots.Roots) != 1 || *roots.Roots[0].Id != v.RootID || *roots.Roots[0].Name != "Root" {
		t.Fatalf("roots = %+v, want one root %s", roots.Roots, v.RootID)
	}
	if want := "arn:aws:organizations::" + v.ManagementAccount + ":root/" + v.ID + "/" + v.RootID; *roots.Roots[0].Arn != want {
		t.Errorf("root arn %s, want %s", *roots.Roots[0].Arn, want)
	}
	got := walk(t, client, v.RootID, 0)
	var want []string
	for _, a := range v.Accounts {
		depth := 0
		if a.OUPath != "" {
			depth = len(regexp.MustCompile("/").FindAllString(a.OUPath, -1)) + 1
		}
		want = append(want, fmt.Sprintf("%d:%s", depth, a.ID))
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accounts by depth (-want +got):\n%s", diff)
	}

	// ListParents climbs back up.
	member := v.Members()[0]
	parents, err := client.ListParents(context.Background(), &organizations.ListParentsInput{ChildId: &member.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(parents.Parents) != 1 || *parents.Parents[0].Id != member.OUID || parents.Parents[0].Type != types.ParentTypeOrganizationalUnit {
		t.Errorf("parents of %s = %+v, want OU %s", member.ID, parents.Parents, member.OUID)
	}
	top := v.OUs[0]
	parents, err = client.ListParents(context.Background(), &organizations.ListParentsInput{ChildId: &top.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(parents.Parents) != 1 || *parents.Parents[0].Id != v.RootID || parents.Parents[0].Type != types.ParentTypeRoot {
		t.Errorf("parents of %s = %+v, want root", top.ID, parents.Parents)
	}
	ous, err := client.ListOrganizationalUnitsForParent(context.Background(), &organizations.ListOrganizationalUnitsForParentInput{ParentId: &top.ID})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range ous.OrganizationalUnits {
		names = append(names, *u.Name)
		if want := v.ID + "/" + v.RootID + "/" + top.ID + "/" + *u.Id + "/"; aws.ToString(u.Path) != want {
			t.Errorf("OU path %q, want %q", aws.ToString(u.Path), want)
		}
	}
	if diff := cmp.Diff([]string{"Prod", "NonProd"}, names); diff != "" {
		t.Errorf("child OUs (-want +got):\n%s", diff)
	}
}

func TestDescribeOrganizationAndAccount(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, OUs: 1, Seed: 4})
	client := organizations.NewFromConfig(e.cfg)
	v := e.sb.Org()
	ctx := context.Background()
	o, err := client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{*o.Organization.Id, *o.Organization.Arn, *o.Organization.MasterAccountId, *o.Organization.MasterAccountArn, string(o.Organization.FeatureSet)}
	want := []string{v.ID, "arn:aws:organizations::" + v.ManagementAccount + ":organization/" + v.ID, v.ManagementAccount,
		"arn:aws:organizations::" + v.ManagementAccount + ":account/" + v.ID + "/" + v.ManagementAccount, "ALL"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("organization (-want +got):\n%s", diff)
	}

	m := v.Members()[0]
	a, err := client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: &m.ID})
	if err != nil {
		t.Fatal(err)
	}
	gotA := []string{*a.Account.Id, *a.Account.Name, *a.Account.Email, *a.Account.Arn, string(a.Account.Status), string(a.Account.State)}
	wantA := []string{m.ID, m.Name, m.Email, "arn:aws:organizations::" + v.ManagementAccount + ":account/" + v.ID + "/" + m.ID, "ACTIVE", "ACTIVE"}
	if diff := cmp.Diff(wantA, gotA); diff != "" {
		t.Errorf("account (-want +got):\n%s", diff)
	}
	if a.Account.JoinedTimestamp == nil || a.Account.JoinedTimestamp.IsZero() {
		t.Errorf("JoinedTimestamp missing")
	}

	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown account", func() error {
			_, err := client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("999999999999")})
			return err
		}, "AccountNotFoundException"},
		{"unknown OU", func() error {
			_, err := client.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String("ou-abcd-abcdefgh")})
			return err
		}, "OrganizationalUnitNotFoundException"},
		{"unknown parent", func() error {
			_, err := client.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: aws.String("ou-abcd-abcdefgh"), ChildType: types.ChildTypeAccount})
			return err
		}, "ParentNotFoundException"},
		{"MaxResults 0", func() error {
			_, err := client.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(0)})
			return err
		}, "InvalidInputException"},
		{"MaxResults 21", func() error {
			_, err := client.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(21)})
			return err
		}, "InvalidInputException"},
		{"garbage NextToken", func() error {
			_, err := client.ListAccounts(ctx, &organizations.ListAccountsInput{NextToken: aws.String("garbage!")})
			return err
		}, "InvalidInputException"},
		{"NextToken of another listing", func() error {
			out, err := client.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
			if err != nil || out.NextToken == nil {
				return fmt.Errorf("setup: %v, token %v", err, out.NextToken)
			}
			_, err = client.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: &v.RootID, ChildType: types.ChildTypeAccount, NextToken: out.NextToken})
			return err
		}, "InvalidInputException"},
		{"bad child type", func() error {
			_, err := client.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: &v.RootID, ChildType: "BUCKET"})
			return err
		}, "InvalidInputException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errCode(tt.call()); got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
		})
	}
}

func TestCreateAccount(t *testing.T) {
	clock := newClock()
	e := start(t, sandbox.Options{Accounts: 1, Seed: 8, Now: clock.Now, CreateAccountDelay: 30 * time.Second})
	client := organizations.NewFromConfig(e.cfg)
	ctx := context.Background()
	out, err := client.CreateAccount(ctx, &organizations.CreateAccountInput{
		AccountName: aws.String("new-team"), Email: aws.String("new-team@example.com"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("new")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := out.CreateAccountStatus
	if st.State != types.CreateAccountStateInProgress || !regexp.MustCompile(`^car-[a-z0-9]{32}$`).MatchString(*st.Id) {
		t.Fatalf("CreateAccount status %+v", st)
	}
	describe := func() *types.CreateAccountStatus {
		d, err := client.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: st.Id})
		if err != nil {
			t.Fatal(err)
		}
		return d.CreateAccountStatus
	}
	if got := describe(); got.State != types.CreateAccountStateInProgress {
		t.Fatalf("before the delay: state %s", got.State)
	}
	clock.Advance(30 * time.Second)
	done := describe()
	if done.State != types.CreateAccountStateSucceeded || done.AccountId == nil {
		t.Fatalf("after the delay: %+v", done)
	}
	id := *done.AccountId
	a, ok := e.sb.Org().Account(id)
	if !ok || a.Name != "new-team" || a.OUID != e.sb.Org().RootID || a.Tags["team"] != "new" {
		t.Errorf("new account %+v (found %v), want new-team in the root with tag team=new", a, ok)
	}
	// The new account has the access role.
	got, err := callerIdentity(t, e.member(t, id))
	if err != nil || got.Account != id {
		t.Errorf("identity in new account: %+v, %v", got, err)
	}

	// Same email again fails asynchronously, as on AWS.
	out, err = client.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("dup"), Email: aws.String("NEW-TEAM@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	d, err := client.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: out.CreateAccountStatus.Id})
	if err != nil {
		t.Fatal(err)
	}
	if d.CreateAccountStatus.State != types.CreateAccountStateFailed || d.CreateAccountStatus.FailureReason != types.CreateAccountFailureReasonEmailAlreadyExists {
		t.Errorf("duplicate email: %+v", d.CreateAccountStatus)
	}
	_, err = client.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: aws.String("car-00000000000000000000000000000000")})
	if errCode(err) != "CreateAccountStatusNotFoundException" {
		t.Errorf("unknown request: %v", err)
	}
}

func TestOUsMoveAndTags(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, Seed: 6})
	client := organizations.NewFromConfig(e.cfg)
	ctx := context.Background()
	v := e.sb.Org()
	ou, err := client.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: &v.RootID, Name: aws.String("Sandbox")})
	if err != nil {
		t.Fatal(err)
	}
	ouID := *ou.OrganizationalUnit.Id
	if !ouIDRe.MatchString(ouID) {
		t.Errorf("OU id %q", ouID)
	}
	if _, err := client.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: &v.RootID, Name: aws.String("Sandbox")}); errCode(err) != "DuplicateOrganizationalUnitException" {
		t.Errorf("duplicate OU: %v", err)
	}
	if _, err := client.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String("ou-zzzz-zzzzzzzz"), Name: aws.String("X")}); errCode(err) != "ParentNotFoundException" {
		t.Errorf("OU under missing parent: %v", err)
	}

	m := v.Members()[0].ID
	move := func(src, dst string) error {
		_, err := client.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: &m, SourceParentId: &src, DestinationParentId: &dst})
		return err
	}
	if err := move(v.RootID, ouID); err != nil {
		t.Fatal(err)
	}
	if err := move(v.RootID, ouID); errCode(err) != "DuplicateAccountException" {
		t.Errorf("second move: %v", err)
	}
	if err := move("ou-zzzz-zzzzzzzz", v.RootID); errCode(err) != "SourceParentNotFoundException" {
		t.Errorf("move from missing source: %v", err)
	}
	if err := move(ouID, "ou-zzzz-zzzzzzzz"); errCode(err) != "DestinationParentNotFoundException" {
		t.Errorf("move to missing destination: %v", err)
	}
	list, err := client.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: &ouID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Accounts) != 1 || *list.Accounts[0].Id != m {
		t.Errorf("accounts in new OU: %+v", list.Accounts)
	}
	if a, _ := e.sb.Org().Account(m); a.OUPath != "Sandbox" {
		t.Errorf("OUPath after move = %q", a.OUPath)
	}

	tag := func(k, v string) types.Tag { return types.Tag{Key: &k, Value: &v} }
	if _, err := client.TagResource(ctx, &organizations.TagResourceInput{ResourceId: &m, Tags: []types.Tag{tag("b", "2"), tag("a", "1")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UntagResource(ctx, &organizations.UntagResourceInput{ResourceId: &m, TagKeys: []string{"stage"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := client.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: &m})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, t := range tags.Tags {
		got = append(got, *t.Key+"="+*t.Value)
	}
	want := []string{"a=1", "b=2"}
	for _, k := range []string{"cost-center", "team"} {
		if x, ok := v.Members()[0].Tags[k]; ok {
			want = append(want, k+"="+x)
		}
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, err := client.TagResource(ctx, &organizations.TagResourceInput{ResourceId: &ouID, Tags: []types.Tag{tag("env", "x")}}); err != nil {
		t.Errorf("tag OU: %v", err)
	}
	if _, err := client.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String("999999999999")}); errCode(err) != "TargetNotFoundException" {
		t.Errorf("tags of unknown account: %v", err)
	}
}

func TestOrganizationsDeniedToMembers(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 2})
	member := e.sb.Org().Members()[0].ID
	client := organizations.NewFromConfig(e.member(t, member))
	_, err := client.ListAccounts(context.Background(), &organizations.ListAccountsInput{})
	if errCode(err) != "AccessDeniedException" || !contains(err, "You don't have permissions to access this resource.") {
		t.Errorf("member ListAccounts: %v", err)
	}
	// Members may describe their organization, as on AWS.
	o, err := client.DescribeOrganization(context.Background(), &organizations.DescribeOrganizationInput{})
	if err != nil || *o.Organization.Id != e.sb.Org().ID {
		t.Errorf("member DescribeOrganization: %+v, %v", o, err)
	}
}

// CloseAccount: the account is SUSPENDED at once (no role can be assumed in it any more) and
// leaves the organization after CloseAccountDelay; the management account cannot be closed.
func TestCloseAccount(t *testing.T) {
	clock := newClock()
	e := start(t, sandbox.Options{Accounts: 2, Seed: 9, Now: clock.Now, CloseAccountDelay: time.Hour})
	client := organizations.NewFromConfig(e.cfg)
	ctx := context.Background()
	member := e.sb.Org().Members()[0].ID
	if _, err := client.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(member)}); err != nil {
		t.Fatal(err)
	}
	d, err := client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(member)})
	if err != nil || d.Account.Status != types.AccountStatusSuspended {
		t.Fatalf("closed account: %+v, %v; want SUSPENDED", d, err)
	}
	if _, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + member + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("xx")}); errCode(err) != "AccessDenied" {
		t.Errorf("AssumeRole into a closed account: %v, want AccessDenied", err)
	}
	if _, err := client.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(member)}); errCode(err) != "AccountAlreadyClosedException" {
		t.Errorf("closing it again: %v", err)
	}
	if _, err := client.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(e.sb.Org().ManagementAccount)}); errCode(err) != "ConstraintViolationException" {
		t.Errorf("closing the management account: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(member)}); errCode(err) != "AccountNotFoundException" {
		t.Errorf("after the close delay: %v, want AccountNotFoundException", err)
	}
	if n := len(e.sb.Org().Members()); n != 1 {
		t.Errorf("%d members after the close delay, want 1", n)
	}
}
