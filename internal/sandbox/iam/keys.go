package iam

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// The IAM user of the management account's long-term key, and the role AWS Organizations
// creates in the member accounts it creates.
const (
	AdminUser     = "sandbox-admin"
	OrgAccessRole = "OrganizationAccountAccessRole"
)

// Principal is an authenticated caller: the IAM user of the management account or an
// assumed-role session.
type Principal struct {
	Account string
	// ARN is the caller ARN as GetCallerIdentity reports it:
	// arn:aws:iam::ACCT:user/NAME or arn:aws:sts::ACCT:assumed-role/ROLE/SESSION.
	ARN string
	// UserID is AIDA… for users, AROA…:SESSION for role sessions.
	UserID string
	// RoleARN is the IAM ARN of the assumed role (empty for users); trust policies naming the
	// role admit its sessions.
	RoleARN string `json:",omitempty"`
	// Chained is set for sessions obtained with the credentials of another role session.
	Chained bool `json:",omitempty"`
}

// AccessKey is a stored access key. Expires is zero for long-term keys.
type AccessKey struct {
	ID           string
	Secret       string
	SessionToken string `json:",omitempty"`
	Principal    Principal
	Expires      time.Time `json:",omitzero"`
}

// Keys holds every access key the sandbox issued. It is safe for concurrent use.
type Keys struct {
	now  func() time.Time
	mu   sync.RWMutex
	keys map[string]*AccessKey
	// issued counts temporary keys since the last prune, to bound the work of pruning.
	issued int
}

// NewKeys returns an empty key store whose snapshots leave out keys expired at now().
func NewKeys(now func() time.Time) *Keys { return &Keys{now: now, keys: map[string]*AccessKey{}} }

func (k *Keys) Add(key *AccessKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.ID] = key
}

// Authenticate resolves the access key of req to its Principal. It returns AWS's errors for
// unknown keys, mismatched session tokens and expired temporary credentials, spelled the way
// the protocol of req spells them.
func (k *Keys) Authenticate(req *awsproto.Request, now time.Time) (Principal, *awsproto.Error) {
	k.mu.RLock()
	key, ok := k.keys[req.AccessKeyID]
	k.mu.RUnlock()
	if !ok || req.AccessKeyID == "" || key.SessionToken != req.SessionToken {
		return Principal{}, InvalidToken(req.Protocol)
	}
	if !key.Expires.IsZero() && !now.Before(key.Expires) {
		return Principal{}, ExpiredToken(req.Protocol)
	}
	return key.Principal, nil
}

// IssueTemporary stores a new temporary key for p expiring at exp. Expired keys are pruned
// from time to time so that a long-running sandbox does not grow without bound.
func (k *Keys) IssueTemporary(p Principal, now, exp time.Time) *AccessKey {
	key := &AccessKey{
		ID:           "ASIA" + awsproto.RandomString(awsproto.Base32Upper, 16),
		Secret:       awsproto.RandomString(awsproto.SecretChars, 40),
		SessionToken: sessionToken(),
		Principal:    p,
		Expires:      exp,
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.ID] = key
	k.issued++
	if k.issued >= 1024 {
		k.issued = 0
		maps.DeleteFunc(k.keys, func(_ string, v *AccessKey) bool {
			return !v.Expires.IsZero() && !now.Before(v.Expires)
		})
	}
	return key
}

// Lookup returns the key with the given access key ID.
func (k *Keys) Lookup(id string) (AccessKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[id]
	if !ok {
		return AccessKey{}, false
	}
	return *key, true
}

// Snapshot returns the keys still valid, sorted by ID, as JSON.
func (k *Keys) Snapshot() ([]byte, error) {
	now := k.now()
	k.mu.RLock()
	out := make([]AccessKey, 0, len(k.keys))
	for _, v := range k.keys {
		if v.Expires.IsZero() || now.Before(v.Expires) {
			out = append(out, *v)
		}
	}
	k.mu.RUnlock()
	slices.SortFunc(out, func(a, b AccessKey) int { return strings.Compare(a.ID, b.ID) })
	return json.Marshal(out)
}

// Restore replaces the keys with a snapshot.
func (k *Keys) Restore(data []byte) error {
	var keys []AccessKey
	if err := json.Unmarshal(data, &keys); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = make(map[string]*AccessKey, len(keys))
	for i := range keys {
		k.keys[keys[i].ID] = &keys[i]
	}
	return nil
}

// InvalidToken is AWS's answer to an unknown access key: InvalidClientTokenId (403) on query
// services, UnrecognizedClientException (400) on JSON services.
func InvalidToken(p awsproto.Protocol) *awsproto.Error {
	const msg = "The security token included in the request is invalid."
	if p == awsproto.Query {
		return awsproto.Errorf(403, "InvalidClientTokenId", msg)
	}
	return awsproto.Errorf(400, "UnrecognizedClientException", msg)
}

// ExpiredToken is AWS's answer to expired temporary credentials.
func ExpiredToken(p awsproto.Protocol) *awsproto.Error {
	const msg = "The security token included in the request is expired"
	if p == awsproto.Query {
		return awsproto.Errorf(403, "ExpiredToken", msg)
	}
	return awsproto.Errorf(400, "ExpiredTokenException", msg)
}

// sessionToken returns an opaque session token shaped like AWS's (long base64).
func sessionToken() string {
	b := make([]byte, 180)
	_, _ = rand.Read(b)
	return "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(b)
}

// UserPrincipal is the management account's IAM user.
func UserPrincipal(account, userID string) Principal {
	return Principal{Account: account, ARN: "arn:aws:iam::" + account + ":user/" + AdminUser, UserID: userID}
}
