// Package orgs builds the fleet.Inventory of an AWS Organization, either by reading the
// Organizations API (Read) or from a static YAML file (LoadFile) for users without access to
// the management account and for tests.
package orgs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Concurrency bounds the Organizations calls Read makes at once. Organizations has low,
// account-wide rate limits; more would only be throttled.
const Concurrency = 8

// API is the part of the Organizations client Read uses; *organizations.Client satisfies it.
type API interface {
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	ListOrganizationalUnitsForParent(context.Context, *organizations.ListOrganizationalUnitsForParentInput, ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
	ListAccountsForParent(context.Context, *organizations.ListAccountsForParentInput, ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	ListTagsForResource(context.Context, *organizations.ListTagsForResourceInput, ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error)
}

// ReadOptions say what Read fetches beyond the structure of the organization.
type ReadOptions struct {
	// Tags reads every account's tags: one ListTagsForResource per account, the bulk of the
	// calls for a large organization, so callers ask only when some selector uses tags.
	Tags bool
}

// Read reads the organization with cfg's credentials, which must be the management account's
// or a delegated administrator's.
func Read(ctx context.Context, cfg aws.Config, opts ReadOptions) (*fleet.Inventory, error) {
	return ReadFrom(ctx, organizations.NewFromConfig(cfg), opts)
}

// ReadFrom reads the organization through api: its management account, root, every OU (walked
// level by level from the root) and every account with its status and tags. OUs and accounts
// are sorted by id, so the same organization always yields the same inventory (plans pin its
// hash).
func ReadFrom(ctx context.Context, api API, opts ReadOptions) (*fleet.Inventory, error) {
	org, err := api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return nil, orgError("describe organization", err)
	}
	inv := &fleet.Inventory{}
	if org.Organization != nil {
		inv.ManagementAccount = aws.ToString(org.Organization.MasterAccountId)
		inv.OrganizationID = aws.ToString(org.Organization.Id)
	}
	var roots []types.Root
	for p := organizations.NewListRootsPaginator(api, &organizations.ListRootsInput{}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, orgError("list roots", err)
		}
		roots = append(roots, page.Roots...)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("list roots: the organization has no root")
	}
	inv.RootID = aws.ToString(roots[0].Id)

	var mu sync.Mutex // guards inv while a level is read
	level := []string{inv.RootID}
	for len(level) > 0 {
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(Concurrency)
		for _, parent := range level {
			g.Go(func() error {
				ous, err := childOUs(gctx, api, parent)
				if err != nil {
					return err
				}
				accts, err := childAccounts(gctx, api, parent)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				inv.OUs = append(inv.OUs, ous...)
				inv.Accounts = append(inv.Accounts, accts...)
				for _, ou := range ous {
					next = append(next, ou.ID)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		if len(inv.OUs) > 100_000 {
			return nil, fmt.Errorf("list organizational units: more than 100000, is the hierarchy cyclic?")
		}
		level = next
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	for i := range inv.Accounts {
		if !opts.Tags {
			break
		}
		g.Go(func() error {
			tags, err := accountTags(gctx, api, inv.Accounts[i].ID)
			inv.Accounts[i].Tags = tags // each goroutine owns one element
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(inv.OUs, func(a, b fleet.OU) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(inv.Accounts, func(a, b fleet.Account) int { return cmp.Compare(a.ID, b.ID) })
	return inv, nil
}

func childOUs(ctx context.Context, api API, parent string) ([]fleet.OU, error) {
	var out []fleet.OU
	in := &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)}
	for p := organizations.NewListOrganizationalUnitsForParentPaginator(api, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, orgError("list organizational units of "+parent, err)
		}
		for _, ou := range page.OrganizationalUnits {
			out = append(out, fleet.OU{ID: aws.ToString(ou.Id), Name: aws.ToString(ou.Name), ParentID: parent})
		}
	}
	return out, nil
}

func childAccounts(ctx context.Context, api API, parent string) ([]fleet.Account, error) {
	var out []fleet.Account
	in := &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)}
	for p := organizations.NewListAccountsForParentPaginator(api, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, orgError("list accounts of "+parent, err)
		}
		for _, a := range page.Accounts {
			// State supersedes Status (retired in 2026); both spell SUSPENDED the same.
			status := string(a.State)
			if status == "" {
				status = string(a.Status)
			}
			out = append(out, fleet.Account{
				ID:       aws.ToString(a.Id),
				Name:     aws.ToString(a.Name),
				Email:    aws.ToString(a.Email),
				ParentID: parent,
				Status:   status,
			})
		}
	}
	return out, nil
}

func accountTags(ctx context.Context, api API, account string) (map[string]string, error) {
	var tags map[string]string
	in := &organizations.ListTagsForResourceInput{ResourceId: aws.String(account)}
	for p := organizations.NewListTagsForResourcePaginator(api, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, orgError("list tags of account "+account, err)
		}
		for _, t := range page.Tags {
			if tags == nil {
				tags = map[string]string{}
			}
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags, nil
}

// orgError adds a hint to the errors a user can fix by running with other credentials.
func orgError(what string, err error) error {
	api, ok := errors.AsType[smithy.APIError](err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case api.ErrorCode() == "AWSOrganizationsNotInUseException":
		return fmt.Errorf("%s: %w (the account is not in an organization; use a static inventory file)", what, err)
	case api.ErrorCode() == "AccessDeniedException" || strings.HasPrefix(api.ErrorCode(), "AccessDenied"):
		return fmt.Errorf("%s: %w (run with the management account's or a delegated administrator's credentials, or use a static inventory file)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
