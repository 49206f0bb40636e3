// Package s3 implements the sandbox's Amazon S3: one global bucket namespace shared by the
// S3 REST API (path-style and virtual-hosted requests) and the CloudFormation engine (buckets
// of AWS::S3::Bucket resources are real buckets), objects held in memory and in the state
// file.
//
// Access follows S3's model as far as clients depend on it: the bucket owner's account may do
// anything its bucket policy does not explicitly deny; another account needs an explicit Allow
// in the bucket policy (and none of its Deny statements); a public access block refuses public
// policies and, with RestrictPublicBuckets, ignores public grants to other accounts. The
// sandbox endpoint is plain HTTP but stands for AWS's TLS endpoint, so aws:SecureTransport is
// "true" (bucket policies that deny insecure transport, as the CDK bootstrap's does, admit it).
//
// Signatures are not verified (the sandbox trusts the access key); payload checksums are:
// Content-MD5 and the x-amz-checksum-* headers and trailers (CRC32, CRC32C, CRC64NVME, SHA1,
// SHA256), including aws-chunked bodies.
package s3

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// Limits of the sandbox's S3. AWS allows 5 GiB per PUT and 5 TiB per object; the sandbox
// keeps objects in memory, so it allows less.
const (
	MaxObjectSize = 256 << 20 // one object, also the sum of a multipart upload's parts
	minPartSize   = 5 << 20   // every part but the last (EntityTooSmall)
	maxParts      = 10_000
	maxKeyLength  = 1024
	defaultRegion = "us-east-1"
)

// Bucket is a bucket as CloudFormation creates it: its owner, region and configuration.
type Bucket struct {
	Name    string
	Account string // owner
	Region  string
	Created time.Time
	// Policy is the bucket policy (JSON), "" for none.
	Policy string `json:",omitempty"`
	// PublicAccessBlock is the bucket's public access block, nil for none.
	PublicAccessBlock *PublicAccessBlock `json:",omitempty"`
	// Encryption is the default encryption: SSEAlgorithm AES256 (S3's default since 2023) or
	// aws:kms with an optional key.
	Encryption Encryption
	// Versioning is "", "Enabled" or "Suspended" (recorded; the sandbox keeps one version).
	Versioning string `json:",omitempty"`
	// Tags are the bucket's tags.
	Tags map[string]string `json:",omitempty"`
}

// PublicAccessBlock is a bucket's public access block configuration.
type PublicAccessBlock struct {
	BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets bool
}

// Encryption is a bucket's default server-side encryption.
type Encryption struct {
	SSEAlgorithm   string
	KMSMasterKeyID string `json:",omitempty"`
	BucketKey      bool   `json:",omitempty"`
}

// Object is one stored object.
type Object struct {
	Data         []byte
	ETag         string // quoted, as S3 sends it
	LastModified time.Time
	ContentType  string            `json:",omitempty"`
	Headers      map[string]string `json:",omitempty"` // Content-Encoding, Cache-Control, x-amz-meta-…
	// Checksum is the full-object checksum by algorithm (e.g. "CRC64NVME" → base64).
	Checksum     map[string]string `json:",omitempty"`
	SSE          string            `json:",omitempty"` // x-amz-server-side-encryption
	SSEKMSKeyID  string            `json:",omitempty"`
	Tags         map[string]string `json:",omitempty"`
	StorageClass string            `json:",omitempty"`
	Parts        int               `json:",omitempty"` // > 0 for a completed multipart upload
}

type bucket struct {
	Bucket
	objects map[string]*Object
	uploads map[string]*upload
}

type upload struct {
	key       string
	initiated time.Time
	proto     Object // content type, headers, SSE given at CreateMultipartUpload
	algorithm string // x-amz-checksum-algorithm
	parts     map[int]*part
}

type part struct {
	data     []byte
	etag     string
	checksum string
	modified time.Time
}

// Store is the global bucket namespace. It is safe for concurrent use.
type Store struct {
	now   func() time.Time
	orgID func(account string) string // the organization of an account, for aws:PrincipalOrgID

	mu      sync.RWMutex
	buckets map[string]*bucket
}

// New returns an empty store. orgID may be nil.
func New(now func() time.Time, orgID func(account string) string) *Store {
	if now == nil {
		now = time.Now
	}
	if orgID == nil {
		orgID = func(string) string { return "" }
	}
	return &Store{now: now, orgID: orgID, buckets: map[string]*bucket{}}
}

// Errors of the Go API (CloudFormation's use of the store).
var (
	ErrBucketExists   = errors.New("bucket already exists")
	ErrNoSuchBucket   = errors.New("the specified bucket does not exist")
	ErrBucketNotEmpty = errors.New("the bucket you tried to delete is not empty")
	ErrNoSuchKey      = errors.New("the specified key does not exist")
	ErrAccessDenied   = errors.New("access denied")
)

// CreateBucket creates a bucket owned by account in region, as AWS::S3::Bucket does.
func (s *Store) CreateBucket(b Bucket) error {
	if !ValidBucketName(b.Name) {
		return fmt.Errorf("bucket name %q is not valid", b.Name)
	}
	if b.Encryption.SSEAlgorithm == "" {
		b.Encryption.SSEAlgorithm = "AES256"
	}
	if b.Created.IsZero() {
		b.Created = s.now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[b.Name]; ok {
		return ErrBucketExists
	}
	s.buckets[b.Name] = &bucket{Bucket: b, objects: map[string]*Object{}, uploads: map[string]*upload{}}
	return nil
}

// Configure changes the configuration of account's bucket name (policy, public access block,
// encryption, versioning, tags) through f, as CloudFormation's updates of AWS::S3::Bucket and
// AWS::S3::BucketPolicy do.
func (s *Store) Configure(account, name string, f func(*Bucket)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[name]
	switch {
	case !ok:
		return ErrNoSuchBucket
	case b.Account != account:
		return ErrAccessDenied
	}
	f(&b.Bucket)
	b.Name = name
	b.Account = account
	return nil
}

// DeleteBucket deletes account's empty bucket name.
func (s *Store) DeleteBucket(account, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[name]
	switch {
	case !ok:
		return ErrNoSuchBucket
	case b.Account != account:
		return ErrAccessDenied
	case len(b.objects) > 0:
		return ErrBucketNotEmpty
	}
	delete(s.buckets, name)
	return nil
}

// Bucket returns a copy of bucket name's configuration.
func (s *Store) Bucket(name string) (Bucket, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[name]
	if !ok {
		return Bucket{}, false
	}
	return b.clone(), true
}

// Buckets returns the names of account's buckets, sorted.
func (s *Store) Buckets(account string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for name, b := range s.buckets {
		if b.Account == account {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Read returns the content of an object as caller may read it (s3:GetObject), as
// CloudFormation reads a TemplateURL with the caller's credentials.
func (s *Store) Read(caller iam.Principal, bucketName, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[bucketName]
	if !ok {
		return nil, ErrNoSuchBucket
	}
	if !s.allowed(b, caller, "s3:GetObject", objectARN(bucketName, key)) {
		return nil, ErrAccessDenied
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, ErrNoSuchKey
	}
	return o.Data, nil
}

func (b *bucket) clone() Bucket {
	c := b.Bucket
	c.Tags = maps.Clone(b.Tags)
	if b.PublicAccessBlock != nil {
		pab := *b.PublicAccessBlock
		c.PublicAccessBlock = &pab
	}
	return c
}

// ValidBucketName reports whether name follows S3's rules for general purpose buckets:
// 3–63 characters of lowercase letters, digits, dots and hyphens, beginning and ending with
// a letter or digit, no two adjacent dots, not shaped like an IP address, none of the
// reserved prefixes and suffixes.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) || strings.Contains(name, "..") {
		return false
	}
	if looksLikeIP(name) {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, suf := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, suf) {
			return false
		}
	}
	return true
}

func looksLikeIP(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func bucketARN(name string) string      { return "arn:aws:s3:::" + name }
func objectARN(name, key string) string { return "arn:aws:s3:::" + name + "/" + key }

// etagOf returns the quoted MD5 ETag of data.
func etagOf(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// Keys returns the keys of bucket name's objects, sorted; ok is false without such a bucket.
func (s *Store) Keys(name string) (keys []string, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[name]
	if !ok {
		return nil, false
	}
	return sortedNames(b.objects), true
}
