package orgs_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/orgs"
)

// fakeOrg serves an organization two items a page, and tracks how many calls run at once.
type fakeOrg struct {
	mgmt     string
	root     string
	ous      []fleet.OU
	accounts []fleet.Account
	denied   bool

	inFlight, maxInFlight atomic.Int32
	calls                 atomic.Int32
}

func (f *fakeOrg) enter() func() {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond) // hold the slot so concurrency shows
	return func() { f.inFlight.Add(-1) }
}

// page returns items [from, from+2) of n and the next token.
func page(token *string, n int) (int, int, *string) {
	from := 0
	if token != nil {
		from, _ = strconv.Atoi(*token)
	}
	to := min(from+2, n)
	if to < n {
		return from, to, aws.String(strconv.Itoa(to))
	}
	return from, to, nil
}

func (f *fakeOrg) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	defer f.enter()()
	if f.denied {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "You don't have permissions to access this resource."}
	}
	return &organizations.DescribeOrganizationOutput{Organization: &types.Organization{MasterAccountId: aws.String(f.mgmt)}}, nil
}

func (f *fakeOrg) ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	defer f.enter()()
	return &organizations.ListRootsOutput{Roots: []types.Root{{Id: aws.String(f.root), Name: aws.String("Root")}}}, nil
}

func (f *fakeOrg) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	defer f.enter()()
	var all []types.OrganizationalUnit
	for _, ou := range f.ous {
		if ou.ParentID == aws.ToString(in.ParentId) {
			all = append(all, types.OrganizationalUnit{Id: aws.String(ou.ID), Name: aws.String(ou.Name)})
		}
	}
	from, to, next := page(in.NextToken, len(all))
	return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: all[from:to], NextToken: next}, nil
}

func (f *fakeOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	defer f.enter()()
	var all []types.Account
	for _, a := range f.accounts {
		if a.ParentID == aws.ToString(in.ParentId) {
			all = append(all, types.Account{Id: aws.String(a.ID), Name: aws.String(a.Name), Email: aws.String(a.Email),
				Status: types.AccountStatus(a.Status), State: types.AccountState(a.Status)})
		}
	}
	from, to, next := page(in.NextToken, len(all))
	return &organizations.ListAccountsForParentOutput{Accounts: all[from:to], NextToken: next}, nil
}

func (f *fakeOrg) ListTagsForResource(_ context.Context, in *organizations.ListTagsForResourceInput, _ ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error) {
	defer f.enter()()
	var all []types.Tag
	for _, a := range f.accounts {
		if a.ID == aws.ToString(in.ResourceId) {
			for _, k := range slices.Sorted(maps.Keys(a.Tags)) { // stable pages
				all = append(all, types.Tag{Key: aws.String(k), Value: aws.String(a.Tags[k])})
			}
		}
	}
	from, to, next := page(in.NextToken, len(all))
	return &organizations.ListTagsForResourceOutput{Tags: all[from:to], NextToken: next}, nil
}

// bigOrg builds an organization of 3 levels of OUs and n accounts spread over them.
func bigOrg(n int) *fakeOrg {
	f := &fakeOrg{mgmt: "100000000000", root: "r-ab12"}
	parents := []string{f.root}
	for level := range 3 {
		var next []string
		for i, p := range parents {
			for j := range 3 {
				id := "ou-ab12-" + strconv.Itoa(100000000+level*1000+i*10+j)
				f.ous = append(f.ous, fleet.OU{ID: id, Name: "OU" + strconv.Itoa(j), ParentID: p})
				next = append(next, id)
			}
		}
		parents = next
	}
	f.accounts = append(f.accounts, fleet.Account{ID: f.mgmt, Name: "management", Email: "m@example.com", ParentID: f.root, Status: "ACTIVE"})
	for i := range n {
		a := fleet.Account{
			ID: strconv.Itoa(200000000000 + i), Name: "acct" + strconv.Itoa(i), Email: strconv.Itoa(i) + "@example.com",
			ParentID: f.ous[i%len(f.ous)].ID, Status: "ACTIVE",
		}
		if i%7 == 0 {
			a.Status = "SUSPENDED"
		}
		if i%2 == 0 {
			a.Tags = map[string]string{"env": "dev", "team": "t" + strconv.Itoa(i%3), "n": strconv.Itoa(i)}
		}
		f.accounts = append(f.accounts, a)
	}
	return f
}

func TestReadFrom(t *testing.T) {
	f := bigOrg(50)
	inv, err := orgs.ReadFrom(t.Context(), f, orgs.ReadOptions{Tags: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &fleet.Inventory{ManagementAccount: f.mgmt, RootID: f.root, OUs: f.ous, Accounts: f.accounts}
	sortInventory(want)
	if diff := cmp.Diff(want, inv); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	if m := f.maxInFlight.Load(); m > orgs.Concurrency || m < 2 {
		t.Errorf("at most %d calls ran at once, want 2 to %d", m, orgs.Concurrency)
	}
	// The inventory is usable: OU paths resolve and select accounts.
	if id, ok := inv.FindOU("OU1/OU2"); !ok || id == "" {
		t.Errorf("FindOU(OU1/OU2) = %q, %v", id, ok)
	}
}

func sortInventory(inv *fleet.Inventory) {
	slices.SortFunc(inv.OUs, func(a, b fleet.OU) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(inv.Accounts, func(a, b fleet.Account) int { return strings.Compare(a.ID, b.ID) })
}

func TestReadFromAccessDenied(t *testing.T) {
	f := bigOrg(1)
	f.denied = true
	_, err := orgs.ReadFrom(t.Context(), f, orgs.ReadOptions{Tags: true})
	if _, ok := errors.AsType[smithy.APIError](err); !ok || !strings.Contains(err.Error(), "delegated administrator") {
		t.Errorf("ReadFrom without access = %v, want the API error with a hint", err)
	}
}

func TestReadFromHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f := bigOrg(10)
	if _, err := orgs.ReadFrom(ctx, &cancelled{f}, orgs.ReadOptions{Tags: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFrom with a cancelled context = %v", err)
	}
}

// cancelled fails every call with the context's error, as the SDK does.
type cancelled struct{ *fakeOrg }

func (c *cancelled) DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, o ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.fakeOrg.DescribeOrganization(ctx, in, o...)
}

func TestReadFromWithoutTags(t *testing.T) {
	f := bigOrg(20)
	inv, err := orgs.ReadFrom(t.Context(), f, orgs.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Accounts) != len(f.accounts) {
		t.Fatalf("%d accounts, want %d", len(inv.Accounts), len(f.accounts))
	}
	for _, a := range inv.Accounts {
		if a.Tags != nil {
			t.Fatalf("account %s has tags %v although tags were not asked for", a.ID, a.Tags)
		}
	}
}
