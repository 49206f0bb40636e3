package orgs

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// orgReadOnlyForMembers lists the Organizations actions a member account may call; AWS lets
// members describe the organization they belong to and nothing else.
var orgReadOnlyForMembers = map[string]bool{"DescribeOrganization": true}

// Handle serves one Organizations (awsJson1_1) request. Only the management account manages
// the organization; members get AccessDeniedException as on AWS.
func (o *Org) Handle(_ context.Context, caller iam.Principal, req *awsproto.Request) (awsproto.Object, error) {
	out, err := o.handle(o.opts.Now(), caller, req)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (o *Org) handle(now time.Time, caller iam.Principal, req *awsproto.Request) (awsproto.Object, *awsproto.Error) {
	if caller.Account != o.Management() && !orgReadOnlyForMembers[req.Action] {
		return nil, orgErr("AccessDeniedException", "You don't have permissions to access this resource.")
	}
	p := req.Params
	if p == nil {
		p = awsproto.Object{}
	}
	switch req.Action {
	case "DescribeOrganization":
		return o.describeOrganization(now), nil
	case "ListRoots":
		return o.listRoots(now, p)
	case "ListChildren":
		return o.listChildren(now, p)
	case "ListParents":
		return o.listParents(now, p)
	case "ListOrganizationalUnitsForParent":
		return o.listOUsForParent(now, p)
	case "ListAccountsForParent":
		return o.listAccounts(now, p, true)
	case "ListAccounts":
		return o.listAccounts(now, p, false)
	case "DescribeAccount":
		return o.describeAccount(now, p)
	case "DescribeOrganizationalUnit":
		return o.describeOU(now, p)
	case "CreateOrganizationalUnit":
		return o.createOU(now, p)
	case "UpdateOrganizationalUnit":
		return o.updateOU(now, p)
	case "DeleteOrganizationalUnit":
		return o.deleteOU(now, p)
	case "CreateAccount":
		return o.createAccount(now, p)
	case "DescribeCreateAccountStatus":
		return o.describeCreateAccountStatus(now, p)
	case "ListCreateAccountStatus":
		return o.listCreateAccountStatus(now, p)
	case "MoveAccount":
		return o.moveAccount(now, p)
	case "CloseAccount":
		return o.closeAccount(now, p)
	case "TagResource":
		return o.tagResource(now, p)
	case "UntagResource":
		return o.untagResource(now, p)
	case "ListTagsForResource":
		return o.listTags(now, p)
	}
	return nil, awsproto.UnknownOperation(req)
}

// required returns the InvalidInputException AWS sends for a missing required member.
func required(params awsproto.Object, names ...string) *awsproto.Error {
	for _, n := range names {
		if params.String(n) == "" {
			return orgErr("InvalidInputException", "You must specify a value for "+n+".")
		}
	}
	return nil
}

func (o *Org) describeOrganization(now time.Time) awsproto.Object {
	var out awsproto.Object
	o.read(now, func() {
		mgmt := o.accounts[o.st.Management]
		out = awsproto.Object{"Organization": awsproto.Object{
			"Id":                 o.st.ID,
			"Arn":                o.arn(),
			"FeatureSet":         "ALL",
			"MasterAccountArn":   o.accountARN(o.st.Management),
			"MasterAccountId":    o.st.Management,
			"MasterAccountEmail": mgmt.Email,
			"AvailablePolicyTypes": []any{
				awsproto.Object{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"},
			},
		}}
	})
	return out
}

func (o *Org) listRoots(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	pg, err := awsproto.ParsePage(p, "ListRoots", maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		awsproto.Paginate(out, "Roots", pg, []string{o.st.RootID}, func(id string) awsproto.Object {
			return awsproto.Object{
				"Id": id, "Arn": o.rootARN(), "Name": "Root",
				"PolicyTypes": []any{awsproto.Object{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}},
			}
		})
	})
	return out, nil
}

func (o *Org) accountObject(a *Account) awsproto.Object {
	return awsproto.Object{
		"Id": a.ID, "Arn": o.accountARN(a.ID), "Email": a.Email, "Name": a.Name,
		"Status":       map[bool]string{true: "SUSPENDED", false: "ACTIVE"}[a.Suspended()],
		"State":        map[bool]string{true: "SUSPENDED", false: "ACTIVE"}[a.Suspended()],
		"JoinedMethod": a.JoinedMethod, "JoinedTimestamp": a.Joined,
		"Paths": []any{o.idPath(a.ParentID) + a.ID + "/"},
	}
}

func (o *Org) ouObject(u *OU) awsproto.Object {
	return awsproto.Object{"Id": u.ID, "Arn": o.ouARN(u.ID), "Name": u.Name, "Path": o.idPath(u.ID)}
}

func (o *Org) listChildren(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ParentId", "ChildType"); err != nil {
		return nil, err
	}
	parent, typ := p.String("ParentId"), p.String("ChildType")
	if typ != typeAccount && typ != typeOU {
		return nil, orgErr("InvalidInputException", "You specified an invalid value.")
	}
	pg, err := awsproto.ParsePage(p, "ListChildren/"+parent+"/"+typ, maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		if !o.isParent(parent) {
			err = errParentNotFound()
			return
		}
		var ids []string
		if typ == typeAccount {
			for _, a := range o.st.Accounts {
				if a.ParentID == parent {
					ids = append(ids, a.ID)
				}
			}
		} else {
			for _, u := range o.st.OUs {
				if u.ParentID == parent {
					ids = append(ids, u.ID)
				}
			}
		}
		awsproto.Paginate(out, "Children", pg, ids, func(id string) awsproto.Object {
			return awsproto.Object{"Id": id, "Type": typ}
		})
	})
	return out, err
}

func (o *Org) listParents(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ChildId"); err != nil {
		return nil, err
	}
	child := p.String("ChildId")
	pg, err := awsproto.ParsePage(p, "ListParents/"+child, maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		var parent string
		switch {
		case o.accounts[child] != nil:
			parent = o.accounts[child].ParentID
		case o.ous[child] != nil:
			parent = o.ous[child].ParentID
		default:
			err = errChildNotFound()
			return
		}
		typ := typeOU
		if parent == o.st.RootID {
			typ = typeRoot
		}
		awsproto.Paginate(out, "Parents", pg, []string{parent}, func(id string) awsproto.Object {
			return awsproto.Object{"Id": id, "Type": typ}
		})
	})
	return out, err
}

func (o *Org) listOUsForParent(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ParentId"); err != nil {
		return nil, err
	}
	parent := p.String("ParentId")
	pg, err := awsproto.ParsePage(p, "ListOrganizationalUnitsForParent/"+parent, maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		if !o.isParent(parent) {
			err = errParentNotFound()
			return
		}
		ous := slices.DeleteFunc(slices.Clone(o.st.OUs), func(u *OU) bool { return u.ParentID != parent })
		awsproto.Paginate(out, "OrganizationalUnits", pg, ous, o.ouObject)
	})
	return out, err
}

func (o *Org) listAccounts(now time.Time, p awsproto.Object, forParent bool) (awsproto.Object, *awsproto.Error) {
	scope, parent := "ListAccounts", ""
	if forParent {
		if err := required(p, "ParentId"); err != nil {
			return nil, err
		}
		parent = p.String("ParentId")
		scope = "ListAccountsForParent/" + parent
	}
	pg, err := awsproto.ParsePage(p, scope, maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		accounts := o.st.Accounts
		if forParent {
			if !o.isParent(parent) {
				err = errParentNotFound()
				return
			}
			accounts = slices.DeleteFunc(slices.Clone(accounts), func(a *Account) bool { return a.ParentID != parent })
		}
		awsproto.Paginate(out, "Accounts", pg, accounts, o.accountObject)
	})
	return out, err
}

func (o *Org) describeAccount(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "AccountId"); err != nil {
		return nil, err
	}
	id := p.String("AccountId")
	if !awsproto.ValidAccountID(id) {
		return nil, orgErr("InvalidInputException", "You provided a value that does not match the required pattern.")
	}
	var out awsproto.Object
	var err *awsproto.Error
	o.read(now, func() {
		a, ok := o.accounts[id]
		if !ok {
			err = errAccountNotFound()
			return
		}
		out = awsproto.Object{"Account": o.accountObject(a)}
	})
	return out, err
}

func (o *Org) describeOU(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "OrganizationalUnitId"); err != nil {
		return nil, err
	}
	id := p.String("OrganizationalUnitId")
	var out awsproto.Object
	var err *awsproto.Error
	o.read(now, func() {
		u, ok := o.ous[id]
		if !ok {
			err = errOUNotFound()
			return
		}
		out = awsproto.Object{"OrganizationalUnit": o.ouObject(u)}
	})
	return out, err
}

func validTags(objs []awsproto.Object) *awsproto.Error {
	seen := map[string]bool{}
	for _, t := range objs {
		k := t.String("Key")
		switch {
		case k == "" || len(k) > 128 || len(t.String("Value")) > 256:
			return orgErr("InvalidInputException", "You provided a value that does not match the required pattern.")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return orgErr("InvalidInputException", "You can't specify tags with the aws: prefix.")
		case seen[k]:
			return orgErr("InvalidInputException", "You provided duplicate tag keys.")
		}
		seen[k] = true
	}
	return nil
}

func (o *Org) createOU(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ParentId", "Name"); err != nil {
		return nil, err
	}
	parent, name := p.String("ParentId"), p.String("Name")
	if len(name) > 128 {
		return nil, orgErr("InvalidInputException", "You provided a value that exceeded the maximum allowed length.")
	}
	objs, tags := p.Tags("Tags")
	if err := validTags(objs); err != nil {
		return nil, err
	}
	var out awsproto.Object
	var err *awsproto.Error
	o.write(now, func() {
		if !o.isParent(parent) {
			err = errParentNotFound()
			return
		}
		if slices.ContainsFunc(o.st.OUs, func(u *OU) bool { return u.ParentID == parent && u.Name == name }) {
			err = orgErr("DuplicateOrganizationalUnitException", "An OU with the same name already exists.")
			return
		}
		u := &OU{ID: o.newOUID(), Name: name, ParentID: parent}
		if len(tags) > 0 {
			u.Tags = tags
		}
		o.st.OUs = append(o.st.OUs, u)
		o.ous[u.ID] = u
		out = awsproto.Object{"OrganizationalUnit": o.ouObject(u)}
	})
	return out, err
}

func (o *Org) updateOU(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "OrganizationalUnitId"); err != nil {
		return nil, err
	}
	id, name := p.String("OrganizationalUnitId"), p.String("Name")
	var out awsproto.Object
	var err *awsproto.Error
	o.write(now, func() {
		u, ok := o.ous[id]
		if !ok {
			err = errOUNotFound()
			return
		}
		if name != "" && name != u.Name {
			if slices.ContainsFunc(o.st.OUs, func(v *OU) bool { return v.ParentID == u.ParentID && v.Name == name }) {
				err = orgErr("DuplicateOrganizationalUnitException", "An OU with the same name already exists.")
				return
			}
			u.Name = name
		}
		out = awsproto.Object{"OrganizationalUnit": o.ouObject(u)}
	})
	return out, err
}

func (o *Org) deleteOU(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "OrganizationalUnitId"); err != nil {
		return nil, err
	}
	id := p.String("OrganizationalUnitId")
	var err *awsproto.Error
	o.write(now, func() {
		if _, ok := o.ous[id]; !ok {
			err = errOUNotFound()
			return
		}
		if slices.ContainsFunc(o.st.OUs, func(u *OU) bool { return u.ParentID == id }) ||
			slices.ContainsFunc(o.st.Accounts, func(a *Account) bool { return a.ParentID == id }) {
			err = orgErr("OrganizationalUnitNotEmptyException",
				"You can't delete an organizational unit (OU) that contains accounts or other OUs.")
			return
		}
		o.st.OUs = slices.DeleteFunc(o.st.OUs, func(u *OU) bool { return u.ID == id })
		delete(o.ous, id)
	})
	return awsproto.Object{}, err
}

func (o *Org) createAccount(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "Email", "AccountName"); err != nil {
		return nil, err
	}
	email, name := p.String("Email"), p.String("AccountName")
	if !emailRe.MatchString(email) || len(email) > 64 {
		return nil, orgErr("InvalidInputException", "You provided a value that does not match the required pattern.")
	}
	if len(name) > 50 {
		return nil, orgErr("InvalidInputException", "You provided a value that exceeded the maximum allowed length.")
	}
	role := p.String("RoleName")
	if role == "" {
		role = iam.OrgAccessRole
	}
	if !regexpRoleName(role) {
		return nil, orgErr("InvalidInputException", "You provided a role name that isn't valid.")
	}
	objs, tags := p.Tags("Tags")
	if err := validTags(objs); err != nil {
		return nil, err
	}
	var out awsproto.Object
	o.write(now, func() {
		r := &CreateAccountRequest{
			ID: "car-" + awsproto.SeededString(o.rng, awsproto.LowerAlnum, 32), AccountName: name, Email: email, RoleName: role,
			Requested: now, Due: now.Add(o.opts.CreateDelay), State: stateInProgress,
		}
		if len(tags) > 0 {
			r.Tags = tags
		}
		o.st.Requests = append(o.st.Requests, r)
		// The response always shows the request in progress, as AWS's does.
		out = awsproto.Object{"CreateAccountStatus": o.requestObject(r)}
	})
	return out, nil
}

func regexpRoleName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@-_", r))
	})
}

func (o *Org) requestObject(r *CreateAccountRequest) awsproto.Object {
	obj := awsproto.Object{
		"Id": r.ID, "AccountName": r.AccountName, "State": r.State, "RequestedTimestamp": r.Requested,
	}
	if r.AccountID != "" {
		obj["AccountId"] = r.AccountID
	}
	if !r.Completed.IsZero() {
		obj["CompletedTimestamp"] = r.Completed
	}
	if r.FailureReason != "" {
		obj["FailureReason"] = r.FailureReason
	}
	return obj
}

func (o *Org) describeCreateAccountStatus(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "CreateAccountRequestId"); err != nil {
		return nil, err
	}
	id := p.String("CreateAccountRequestId")
	var out awsproto.Object
	var err *awsproto.Error
	o.read(now, func() {
		i := slices.IndexFunc(o.st.Requests, func(r *CreateAccountRequest) bool { return r.ID == id })
		if i < 0 {
			err = orgErr("CreateAccountStatusNotFoundException",
				"We can't find an create account request with the CreateAccountRequestId that you specified.")
			return
		}
		out = awsproto.Object{"CreateAccountStatus": o.requestObject(o.st.Requests[i])}
	})
	return out, err
}

func (o *Org) listCreateAccountStatus(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	states := p.Strings("States")
	for _, s := range states {
		if s != stateInProgress && s != stateSucceeded && s != stateFailed {
			return nil, orgErr("InvalidInputException", "You specified an invalid value.")
		}
	}
	pg, err := awsproto.ParsePage(p, "ListCreateAccountStatus/"+strings.Join(states, ","), maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		reqs := slices.DeleteFunc(slices.Clone(o.st.Requests), func(r *CreateAccountRequest) bool {
			return len(states) > 0 && !slices.Contains(states, r.State)
		})
		awsproto.Paginate(out, "CreateAccountStatuses", pg, reqs, o.requestObject)
	})
	return out, nil
}

func (o *Org) moveAccount(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "AccountId", "SourceParentId", "DestinationParentId"); err != nil {
		return nil, err
	}
	id, src, dst := p.String("AccountId"), p.String("SourceParentId"), p.String("DestinationParentId")
	var err *awsproto.Error
	o.write(now, func() {
		a, ok := o.accounts[id]
		switch {
		case !ok:
			err = errAccountNotFound()
		case !o.isParent(src):
			err = orgErr("SourceParentNotFoundException", "We can't find a source root or OU with the ParentId that you specified.")
		case !o.isParent(dst):
			err = orgErr("DestinationParentNotFoundException",
				"We can't find a destination root or OU with the ParentId that you specified.")
		case a.ParentID == dst:
			err = orgErr("DuplicateAccountException", "That account is already present in the specified destination.")
		case a.ParentID != src:
			err = errAccountNotFound()
		default:
			a.ParentID = dst
		}
	})
	return awsproto.Object{}, err
}

// closeAccount closes a member account: it is SUSPENDED at once (the sandbox skips AWS's brief
// PENDING_CLOSURE) and leaves the organization after Options.CloseDelay.
func (o *Org) closeAccount(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "AccountId"); err != nil {
		return nil, err
	}
	id := p.String("AccountId")
	var err *awsproto.Error
	o.write(now, func() {
		a, ok := o.accounts[id]
		switch {
		case !ok:
			err = errAccountNotFound()
		case id == o.st.Management:
			err = orgErr("ConstraintViolationException", "You cannot close the management account of an organization with CloseAccount.")
		case a.Suspended():
			err = orgErr("AccountAlreadyClosedException", "You attempted to close an account that is already closed.")
		default:
			a.Closed = now
		}
	})
	return awsproto.Object{}, err
}

func (o *Org) tagResource(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ResourceId"); err != nil {
		return nil, err
	}
	objs, tags := p.Tags("Tags")
	if err := validTags(objs); err != nil {
		return nil, err
	}
	var err *awsproto.Error
	o.write(now, func() {
		var m map[string]string
		if m, err = o.tagsOf(p.String("ResourceId"), true); err == nil {
			maps.Copy(m, tags)
		}
	})
	return awsproto.Object{}, err
}

func (o *Org) untagResource(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ResourceId"); err != nil {
		return nil, err
	}
	var err *awsproto.Error
	o.write(now, func() {
		var m map[string]string
		if m, err = o.tagsOf(p.String("ResourceId"), false); err == nil {
			for _, k := range p.Strings("TagKeys") {
				delete(m, k)
			}
		}
	})
	return awsproto.Object{}, err
}

func (o *Org) listTags(now time.Time, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	if err := required(p, "ResourceId"); err != nil {
		return nil, err
	}
	id := p.String("ResourceId")
	pg, err := awsproto.ParsePage(p, "ListTagsForResource/"+id, maxPage, "InvalidInputException")
	if err != nil {
		return nil, err
	}
	out := awsproto.Object{}
	o.read(now, func() {
		var m map[string]string
		if m, err = o.tagsOf(id, false); err != nil {
			return
		}
		awsproto.Paginate(out, "Tags", pg, slices.Sorted(maps.Keys(m)), func(k string) awsproto.Object {
			return awsproto.Object{"Key": k, "Value": m[k]}
		})
	})
	return out, err
}
