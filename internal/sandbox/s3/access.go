package s3

import (
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// allowed decides whether caller may perform action on resource of bucket b, as S3 does for a
// request with no ACLs: the bucket policy's explicit Deny refuses anyone, the owner's account
// is otherwise allowed (its identity policies are not modelled: sandbox principals may do
// anything in their own account), and another account needs an explicit Allow — a public one
// counts only without RestrictPublicBuckets. Anonymous callers (no account) are treated as
// another account. It must be called with s.mu held.
func (s *Store) allowed(b *bucket, caller iam.Principal, action, resource string) bool {
	owner := caller.Account != "" && caller.Account == b.Account
	if b.Policy == "" {
		return owner
	}
	p, err := iam.ParsePolicy(b.Policy)
	if err != nil {
		return owner
	}
	rc := iam.RequestContext{Caller: caller, Action: action, Resource: resource}
	if caller.Account != "" {
		rc.OrgID = s.orgID(caller.Account)
	}
	switch p.Evaluate(rc) {
	case iam.Denied:
		return false
	case iam.Allowed:
		if owner {
			return true
		}
		if b.PublicAccessBlock != nil && b.PublicAccessBlock.RestrictPublicBuckets && p.Public() {
			return false
		}
		return true
	}
	return owner
}

// ownerOnly reports whether caller acts in the bucket owner's account; bucket configuration
// (policy, public access block, encryption, deletion) is the owner's alone.
func ownerOnly(b *bucket, caller iam.Principal) bool {
	return caller.Account != "" && caller.Account == b.Account
}
