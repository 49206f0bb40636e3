package sandbox

import (
	"fmt"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
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

// handleSTS serves STS (query protocol).
func (s *Sandbox) handleSTS(caller principal, req *awsproto.Request) (awsproto.Object, *awsproto.Error) {
	switch req.Action {
	case "GetCallerIdentity":
		return awsproto.Object{"UserId": caller.UserID, "Account": caller.Account, "Arn": caller.ARN}, nil
	case "AssumeRole":
		return s.assumeRole(caller, req.Params)
	case "GetAccessKeyInfo":
		id := pString(req.Params, "AccessKeyId")
		s.keys.mu.RLock()
		k, ok := s.keys.keys[id]
		s.keys.mu.RUnlock()
		if !ok {
			return nil, stsValidation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: the access key is not known to this sandbox", id)
		}
		return awsproto.Object{"Account": k.Principal.Account}, nil
	}
	return nil, unknownOperation(req)
}

func (s *Sandbox) assumeRole(caller principal, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	roleARN, session := pString(p, "RoleArn"), pString(p, "RoleSessionName")
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
	secs, given, err := pInt(p, "DurationSeconds")
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

	now := s.now()
	if !s.org.hasAccount(now, account) {
		return nil, denied
	}
	role, ok := s.roles.get(account, name)
	if !ok {
		return nil, denied
	}
	policy, perr := parsePolicy(role.TrustPolicy)
	if perr != nil {
		return nil, denied
	}
	rc := requestContext{Caller: caller, OrgID: s.org.orgID(), Action: "sts:AssumeRole", ExternalID: pString(p, "ExternalId")}
	if !policy.allows(rc) {
		return nil, denied
	}
	exp := now.Add(time.Duration(secs) * time.Second).Truncate(time.Second)
	sessionARN := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, role.Name, session)
	key := s.keys.issueTemporary(principal{
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
