// Package sts is the sandbox's AWS Security Token Service: GetCallerIdentity, AssumeRole
// (subject to the role's trust policy and the one-hour limit on role chaining) and
// GetAccessKeyInfo, over the query protocol. The keys and roles it acts on belong to package iam.
package sts

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// Org is what STS needs of the organization: whether an account exists, and the ID that
// aws:PrincipalOrgID conditions compare with.
type Org interface {
	HasAccount(id string) bool
	ID() string
}

// Service serves STS. Its fields are set once, before the first call.
type Service struct {
	Keys  *iam.Keys
	Roles *iam.Roles
	Org   Org
	Now   func() time.Time
}

var (
	sessionRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role(/|/[\x21-\x7e]*/)([\w+=,.@-]{1,64})$`)
)

// STS session duration bounds (seconds) and the one-hour limit AWS puts on sessions obtained
// by role chaining.
const (
	minSessionSeconds     = 900
	maxSessionSeconds     = 43200
	defaultSessionSeconds = 3600
	chainedSessionSeconds = 3600
)

// stsValidation is STS's ValidationError (query protocol, 400).
func stsValidation(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(400, "ValidationError", format, args...)
}

// Handle serves one STS call by caller.
func (s *Service) Handle(_ context.Context, caller iam.Principal, req *awsproto.Request) (awsproto.Object, error) {
	out, err := s.handle(caller, req)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) handle(caller iam.Principal, req *awsproto.Request) (awsproto.Object, *awsproto.Error) {
	switch req.Action {
	case "GetCallerIdentity":
		return awsproto.Object{"UserId": caller.UserID, "Account": caller.Account, "Arn": caller.ARN}, nil
	case "AssumeRole":
		return s.assumeRole(caller, req.Params)
	case "GetAccessKeyInfo":
		id := req.Params.String("AccessKeyId")
		k, ok := s.Keys.Lookup(id)
		if !ok {
			return nil, stsValidation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: the access key is not known to this sandbox", id)
		}
		return awsproto.Object{"Account": k.Principal.Account}, nil
	}
	return nil, awsproto.UnknownOperation(req)
}

func (s *Service) assumeRole(caller iam.Principal, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	roleARN, session := p.String("RoleArn"), p.String("RoleSessionName")
	switch {
	case roleARN == "":
		return nil, stsValidation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	case session == "":
		return nil, stsValidation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	case len(roleARN) < 20 || len(roleARN) > 2048:
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20", roleARN)
	case len(session) < 2 || len(session) > 64:
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", session)
	case !sessionRe.MatchString(session):
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	secs, given, err := p.IntIfSet("DurationSeconds")
	switch {
	case err != nil:
		return nil, stsValidation("1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must be an integer")
	case !given:
		secs = defaultSessionSeconds
	case secs < minSessionSeconds:
		return nil, stsValidation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", secs, minSessionSeconds)
	case secs > maxSessionSeconds:
		return nil, stsValidation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", secs, maxSessionSeconds)
	case caller.RoleARN != "" && secs > chainedSessionSeconds:
		return nil, stsValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	m := roleArnRe.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, stsValidation("%s is invalid", roleARN)
	}
	account, name := m[1], m[3]
	denied := awsproto.Errorf(403, "AccessDenied",
		"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.ARN, roleARN)

	now := s.Now()
	if !s.Org.HasAccount(account) {
		return nil, denied
	}
	role, ok := s.Roles.Get(account, name)
	if !ok {
		return nil, denied
	}
	policy, perr := iam.ParsePolicy(role.TrustPolicy)
	if perr != nil {
		return nil, denied
	}
	rc := iam.RequestContext{Caller: caller, OrgID: s.Org.ID(), Action: "sts:AssumeRole", ExternalID: p.String("ExternalId")}
	if !policy.Allows(rc) {
		return nil, denied
	}
	exp := now.Add(time.Duration(secs) * time.Second).Truncate(time.Second)
	sessionARN := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, role.Name, session)
	key := s.Keys.IssueTemporary(iam.Principal{
		Account: account, ARN: sessionARN, UserID: role.RoleID + ":" + session, RoleARN: role.ARN,
		Chained: caller.RoleARN != "",
	}, now, exp)
	return awsproto.Object{
		"Credentials": awsproto.Object{
			"AccessKeyId": key.ID, "SecretAccessKey": key.Secret, "SessionToken": key.SessionToken, "Expiration": exp,
		},
		"AssumedRoleUser": awsproto.Object{"Arn": sessionARN, "AssumedRoleId": role.RoleID + ":" + session},
	}, nil
}
