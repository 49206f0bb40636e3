package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Alphabets of AWS identifiers: access key IDs and unique IDs use upper-case base32, secrets a
// base64-like alphabet.
const (
	base32Upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
	lowerAlnum   = "abcdefghijklmnopqrstuvwxyz0123456789"
	digits       = "0123456789"
	adminUser    = "sandbox-admin"
	orgAdminRole = "OrganizationAccountAccessRole"
)

// Credentials are AWS credentials for the sandbox endpoint. SessionToken is empty for the
// management account's long-term key.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string `json:",omitempty"`
	// Account is the account the credentials act in; Region is the default region.
	Account string
	Region  string
}

// principal is an authenticated caller: the IAM user of the management account or an
// assumed-role session.
type principal struct {
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

// accessKey is a stored access key. Expires is zero for long-term keys.
type accessKey struct {
	ID           string
	Secret       string
	SessionToken string `json:",omitempty"`
	Principal    principal
	Expires      time.Time `json:",omitzero"`
}

// keyStore holds every access key the sandbox issued. It is safe for concurrent use.
type keyStore struct {
	mu   sync.RWMutex
	keys map[string]*accessKey
	// issued counts temporary keys since the last prune, to bound the work of pruning.
	issued int
}

func newKeyStore() *keyStore { return &keyStore{keys: map[string]*accessKey{}} }

func (k *keyStore) add(key *accessKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.ID] = key
}

// authenticate resolves the access key of req to its principal. It returns AWS's errors for
// unknown keys, mismatched session tokens and expired temporary credentials, spelled the way
// the protocol of req spells them.
func (k *keyStore) authenticate(req *awsproto.Request, now time.Time) (principal, *awsproto.Error) {
	k.mu.RLock()
	key, ok := k.keys[req.AccessKeyID]
	k.mu.RUnlock()
	if !ok || req.AccessKeyID == "" || key.SessionToken != req.SessionToken {
		return principal{}, invalidToken(req.Protocol)
	}
	if !key.Expires.IsZero() && !now.Before(key.Expires) {
		return principal{}, expiredToken(req.Protocol)
	}
	return key.Principal, nil
}

// issueTemporary stores a new temporary key for p expiring at exp. Expired keys are pruned
// from time to time so that a long-running sandbox does not grow without bound.
func (k *keyStore) issueTemporary(p principal, now, exp time.Time) *accessKey {
	key := &accessKey{
		ID:           "ASIA" + randomString(base32Upper, 16),
		Secret:       randomString(secretChars, 40),
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
		maps.DeleteFunc(k.keys, func(_ string, v *accessKey) bool {
			return !v.Expires.IsZero() && !now.Before(v.Expires)
		})
	}
	return key
}

// snapshot returns the keys still valid at now, sorted by ID.
func (k *keyStore) snapshot(now time.Time) []accessKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]accessKey, 0, len(k.keys))
	for _, v := range k.keys {
		if v.Expires.IsZero() || now.Before(v.Expires) {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b accessKey) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (k *keyStore) restore(keys []accessKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = make(map[string]*accessKey, len(keys))
	for i := range keys {
		k.keys[keys[i].ID] = &keys[i]
	}
}

// invalidToken is AWS's answer to an unknown access key: InvalidClientTokenId (403) on query
// services, UnrecognizedClientException (400) on JSON services.
func invalidToken(p awsproto.Protocol) *awsproto.Error {
	const msg = "The security token included in the request is invalid."
	if p == awsproto.Query {
		return awsproto.Errorf(403, "InvalidClientTokenId", msg)
	}
	return awsproto.Errorf(400, "UnrecognizedClientException", msg)
}

// expiredToken is AWS's answer to expired temporary credentials.
func expiredToken(p awsproto.Protocol) *awsproto.Error {
	const msg = "The security token included in the request is expired"
	if p == awsproto.Query {
		return awsproto.Errorf(403, "ExpiredToken", msg)
	}
	return awsproto.Errorf(400, "ExpiredTokenException", msg)
}

// randomString returns n characters of alphabet drawn from crypto/rand.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	limit := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, limit)
		if err != nil {
			// crypto/rand does not fail on supported platforms; fall back to math/rand.
			b[i] = alphabet[mrand.IntN(len(alphabet))]
			continue
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// seededString returns n characters of alphabet drawn from r, for identifiers that must be
// deterministic from the sandbox seed.
func seededString(r *mrand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// sessionToken returns an opaque session token shaped like AWS's (long base64).
func sessionToken() string {
	b := make([]byte, 180)
	_, _ = rand.Read(b)
	return "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(b)
}

// userPrincipal is the management account's IAM user.
func userPrincipal(account, userID string) principal {
	return principal{Account: account, ARN: "arn:aws:iam::" + account + ":user/" + adminUser, UserID: userID}
}
