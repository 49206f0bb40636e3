package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// maxConfigBody bounds the XML and policy bodies of configuration calls.
const maxConfigBody = 1 << 20

// Serve answers one routed S3 call for caller, signed for region. It writes the response,
// success or error, itself.
func (s *Store) Serve(w http.ResponseWriter, c *Call, caller iam.Principal, region string) {
	if err := s.serve(w, c, caller, region); err != nil {
		WriteError(w, c, err)
	}
}

func (s *Store) serve(w http.ResponseWriter, c *Call, caller iam.Principal, region string) error {
	if c.Op == "" {
		return errorf(501, "NotImplemented", "A header or query you provided implies functionality that is not implemented (the sandbox's S3 does not serve %s %s).", c.r.Method, c.r.URL.Path)
	}
	if len(c.Key) > maxKeyLength {
		return errorf(400, "KeyTooLongError", "Your key is too long")
	}
	switch c.Op {
	case "ListBuckets":
		return s.listBuckets(w, c, caller)
	case "CreateBucket":
		return s.createBucket(w, c, caller, region)
	}
	if !ValidBucketName(c.Bucket) && !s.exists(c.Bucket) {
		if c.Op == "HeadBucket" {
			return noSuchBucket(c.Bucket)
		}
		return errorf(400, "InvalidBucketName", "The specified bucket is not valid.").with("BucketName", c.Bucket)
	}
	if h, ok := bucketHandlers[c.Op]; ok {
		return s.withBucket(c, caller, func(b *bucket) error { return h(s, w, c, caller, b) })
	}
	if h, ok := objectHandlers[c.Op]; ok {
		return h(s, w, c, caller)
	}
	return errorf(501, "NotImplemented", "The sandbox's S3 does not serve %s.", c.Op)
}

func (s *Store) exists(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.buckets[name]
	return ok
}

// withBucket runs f on bucket c.Bucket under the write lock, after the owner and expected-
// owner checks of a bucket configuration call.
func (s *Store) withBucket(c *Call, caller iam.Principal, f func(b *bucket) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[c.Bucket]
	if !ok {
		return noSuchBucket(c.Bucket)
	}
	if err := expectedOwner(c, b); err != nil {
		return err
	}
	action := "s3:" + strings.TrimPrefix(strings.TrimPrefix(c.Op, "Get"), "Head")
	switch c.Op {
	case "HeadBucket", "GetBucketLocation", "ListObjects", "ListObjectsV2", "ListMultipartUploads":
		action = map[string]string{
			"HeadBucket": "s3:ListBucket", "GetBucketLocation": "s3:GetBucketLocation", "ListObjects": "s3:ListBucket",
			"ListObjectsV2": "s3:ListBucket", "ListMultipartUploads": "s3:ListBucketMultipartUploads",
		}[c.Op]
		if !s.allowed(b, caller, action, bucketARN(b.Name)) {
			return accessDenied()
		}
	case "DeleteObjects":
		// Checked per key.
	default:
		if !ownerOnly(b, caller) {
			return accessDenied()
		}
	}
	return f(b)
}

func expectedOwner(c *Call, b *bucket) *Error {
	if want := c.r.Header.Get("X-Amz-Expected-Bucket-Owner"); want != "" && want != b.Account {
		return accessDenied()
	}
	return nil
}

type bucketHandler func(s *Store, w http.ResponseWriter, c *Call, caller iam.Principal, b *bucket) error

var bucketHandlers map[string]bucketHandler

func init() {
	bucketHandlers = map[string]bucketHandler{
		"HeadBucket": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			w.Header().Set("X-Amz-Bucket-Region", b.Region)
			writeEmpty(w, c, http.StatusOK)
			return nil
		},
		"DeleteBucket": func(s *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			if len(b.objects) > 0 {
				return errorf(409, "BucketNotEmpty", "The bucket you tried to delete is not empty").with("BucketName", b.Name)
			}
			delete(s.buckets, b.Name)
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"GetBucketLocation": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			loc := b.Region
			if loc == defaultRegion {
				loc = "" // S3 answers an empty constraint for us-east-1
			}
			writeXML(w, c, locationConstraint{Xmlns: xmlns, Value: loc})
			return nil
		},
		"GetBucketPolicy": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			if b.Policy == "" {
				return errorf(404, "NoSuchBucketPolicy", "The bucket policy does not exist").with("BucketName", b.Name)
			}
			setIDs(w.Header(), c)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, b.Policy)
			return nil
		},
		"PutBucketPolicy": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			body, err := readConfig(c)
			if err != nil {
				return err
			}
			if err := CheckPolicy(b.Name, string(body), b.PublicAccessBlock); err != nil {
				return err
			}
			b.Policy = string(body)
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"DeleteBucketPolicy": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			b.Policy = ""
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"GetBucketPolicyStatus": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			if b.Policy == "" {
				return errorf(404, "NoSuchBucketPolicy", "The bucket policy does not exist").with("BucketName", b.Name)
			}
			p, err := iam.ParsePolicy(b.Policy)
			writeXML(w, c, policyStatus{Xmlns: xmlns, IsPublic: err == nil && p.Public()})
			return nil
		},
		"GetPublicAccessBlock": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			p := b.PublicAccessBlock
			if p == nil {
				return errorf(404, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found").with("BucketName", b.Name)
			}
			writeXML(w, c, publicAccessBlockConfiguration{Xmlns: xmlns, BlockPublicAcls: p.BlockPublicAcls,
				IgnorePublicAcls: p.IgnorePublicAcls, BlockPublicPolicy: p.BlockPublicPolicy, RestrictPublicBuckets: p.RestrictPublicBuckets})
			return nil
		},
		"PutPublicAccessBlock": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			var in publicAccessBlockConfiguration
			if err := decodeConfig(c, &in); err != nil {
				return err
			}
			b.PublicAccessBlock = &PublicAccessBlock{BlockPublicAcls: in.BlockPublicAcls, IgnorePublicAcls: in.IgnorePublicAcls,
				BlockPublicPolicy: in.BlockPublicPolicy, RestrictPublicBuckets: in.RestrictPublicBuckets}
			writeEmpty(w, c, http.StatusOK)
			return nil
		},
		"DeletePublicAccessBlock": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			b.PublicAccessBlock = nil
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"GetBucketEncryption": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			var out serverSideEncryptionConfiguration
			out.Xmlns = xmlns
			out.Rules = make([]struct {
				Default struct {
					SSEAlgorithm   string `xml:"SSEAlgorithm"`
					KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
				} `xml:"ApplyServerSideEncryptionByDefault"`
				BucketKeyEnabled bool `xml:"BucketKeyEnabled"`
			}, 1)
			out.Rules[0].Default.SSEAlgorithm = b.Encryption.SSEAlgorithm
			out.Rules[0].Default.KMSMasterKeyID = b.Encryption.KMSMasterKeyID
			out.Rules[0].BucketKeyEnabled = b.Encryption.BucketKey
			writeXML(w, c, out)
			return nil
		},
		"PutBucketEncryption": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			var in serverSideEncryptionConfiguration
			if err := decodeConfig(c, &in); err != nil {
				return err
			}
			if len(in.Rules) == 0 {
				return malformedXML()
			}
			r := in.Rules[0]
			switch r.Default.SSEAlgorithm {
			case "AES256", "aws:kms", "aws:kms:dsse":
			default:
				return malformedXML()
			}
			b.Encryption = Encryption{SSEAlgorithm: r.Default.SSEAlgorithm, KMSMasterKeyID: r.Default.KMSMasterKeyID, BucketKey: r.BucketKeyEnabled}
			writeEmpty(w, c, http.StatusOK)
			return nil
		},
		"DeleteBucketEncryption": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			b.Encryption = Encryption{SSEAlgorithm: "AES256"}
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"GetBucketVersioning": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			writeXML(w, c, versioningConfiguration{Xmlns: xmlns, Status: b.Versioning})
			return nil
		},
		"PutBucketVersioning": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			var in versioningConfiguration
			if err := decodeConfig(c, &in); err != nil {
				return err
			}
			if in.Status != "Enabled" && in.Status != "Suspended" {
				return malformedXML()
			}
			b.Versioning = in.Status
			writeEmpty(w, c, http.StatusOK)
			return nil
		},
		"GetBucketTagging": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			if len(b.Tags) == 0 {
				return errorf(404, "NoSuchTagSet", "The TagSet does not exist").with("BucketName", b.Name)
			}
			writeXML(w, c, tagging{Xmlns: xmlns, Tags: tagList(b.Tags)})
			return nil
		},
		"PutBucketTagging": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			tags, err := readTagging(c)
			if err != nil {
				return err
			}
			b.Tags = tags
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"DeleteBucketTagging": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			b.Tags = nil
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"GetBucketOwnershipControls": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, _ *bucket) error {
			var out ownershipControls
			out.Xmlns = xmlns
			out.Rules = []struct {
				ObjectOwnership string `xml:"ObjectOwnership"`
			}{{"BucketOwnerEnforced"}}
			writeXML(w, c, out)
			return nil
		},
		"PutBucketOwnershipControls": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, _ *bucket) error {
			var in ownershipControls
			if err := decodeConfig(c, &in); err != nil {
				return err
			}
			writeEmpty(w, c, http.StatusOK)
			return nil
		},
		"DeleteBucketOwnershipControls": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, _ *bucket) error {
			writeEmpty(w, c, http.StatusNoContent)
			return nil
		},
		"GetBucketAcl": func(_ *Store, w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
			out := accessControlPolicy{Xmlns: xmlns, Owner: owner{ID: canonicalID(b.Account)}}
			var g grant
			g.Grantee.XMLNS, g.Grantee.Type, g.Grantee.ID = "http://www.w3.org/2001/XMLSchema-instance", "CanonicalUser", canonicalID(b.Account)
			g.Permission = "FULL_CONTROL"
			out.Grants = []grant{g}
			writeXML(w, c, out)
			return nil
		},
		"PutBucketAcl": func(_ *Store, _ http.ResponseWriter, _ *Call, _ iam.Principal, _ *bucket) error {
			return errorf(400, "AccessControlListNotSupported", "The bucket does not allow ACLs")
		},
		"ListObjects":          (*Store).listObjects,
		"ListObjectsV2":        (*Store).listObjects,
		"ListMultipartUploads": (*Store).listUploads,
		"DeleteObjects":        (*Store).deleteObjects,
	}
}

// CheckPolicy validates a bucket policy as PutBucketPolicy does — valid JSON, every statement
// on resources of this bucket — and refuses a public one under a public access block that
// blocks public policies.
func CheckPolicy(bucketName, doc string, pab *PublicAccessBlock) *Error {
	p, err := iam.ParsePolicy(doc)
	if err != nil {
		return errorf(400, "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
	}
	for _, r := range p.Resources() {
		if r != bucketARN(bucketName) && !strings.HasPrefix(r, bucketARN(bucketName)+"/") && r != "*" {
			return errorf(400, "MalformedPolicy", "Policy has invalid resource")
		}
	}
	if !p.EveryStatementHasResource() {
		return errorf(400, "MalformedPolicy", "Missing required field Resource")
	}
	if pab != nil && pab.BlockPublicPolicy && p.Public() {
		return accessDenied()
	}
	return nil
}

func (s *Store) listBuckets(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	if caller.Account == "" {
		return accessDenied()
	}
	s.mu.RLock()
	out := listAllMyBucketsResult{Xmlns: xmlns, Owner: owner{ID: canonicalID(caller.Account)}}
	for _, name := range sortedNames(s.buckets) {
		b := s.buckets[name]
		if b.Account == caller.Account {
			out.Buckets = append(out.Buckets, bucketItem{Name: name, CreationDate: isoTime(b.Created), BucketRegion: b.Region})
		}
	}
	s.mu.RUnlock()
	writeXML(w, c, out)
	return nil
}

func (s *Store) createBucket(w http.ResponseWriter, c *Call, caller iam.Principal, region string) error {
	if caller.Account == "" {
		return accessDenied()
	}
	if !ValidBucketName(c.Bucket) {
		return errorf(400, "InvalidBucketName", "The specified bucket is not valid.").with("BucketName", c.Bucket)
	}
	body, err := readConfig(c)
	if err != nil {
		return err
	}
	loc := ""
	if len(strings.TrimSpace(string(body))) > 0 {
		var cfg createBucketConfiguration
		if xml.Unmarshal(body, &cfg) != nil {
			return malformedXML()
		}
		loc = cfg.LocationConstraint
	}
	switch {
	case loc == "" && region != defaultRegion && region != "":
		return errorf(400, "IllegalLocationConstraintException", "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	case loc != "" && loc == defaultRegion:
		return errorf(400, "InvalidLocationConstraint", "The specified location-constraint is not valid").with("LocationConstraint", loc)
	case loc != "" && region != "" && loc != region:
		return errorf(400, "IllegalLocationConstraintException", "The %s location constraint is incompatible for the region specific endpoint this request was sent to.", loc)
	}
	if loc == "" {
		loc = defaultRegion
	}
	if acl := c.r.Header.Get("X-Amz-Acl"); acl != "" && acl != "private" && acl != "bucket-owner-full-control" {
		return errorf(400, "InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buckets[c.Bucket]; ok {
		if b.Account == caller.Account {
			if b.Region == defaultRegion && loc == defaultRegion {
				// us-east-1 answers success for a bucket the caller already owns there.
				w.Header().Set("Location", "/"+c.Bucket)
				writeEmpty(w, c, http.StatusOK)
				return nil
			}
			return errorf(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.").with("BucketName", c.Bucket)
		}
		return errorf(409, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.").with("BucketName", c.Bucket)
	}
	s.buckets[c.Bucket] = &bucket{
		Bucket:  Bucket{Name: c.Bucket, Account: caller.Account, Region: loc, Created: s.now().UTC(), Encryption: Encryption{SSEAlgorithm: "AES256"}},
		objects: map[string]*Object{}, uploads: map[string]*upload{},
	}
	w.Header().Set("Location", "/"+c.Bucket)
	writeEmpty(w, c, http.StatusOK)
	return nil
}

// canonicalID is a stand-in for the canonical user id of an account: 64 hex digits derived
// from the account id.
func canonicalID(account string) string {
	return fmt.Sprintf("%064x", []byte(account))[:64]
}

// readConfig reads the body of a configuration call.
func readConfig(c *Call) ([]byte, *Error) {
	if c.r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxConfigBody+1))
	if err != nil {
		return nil, errorf(400, "IncompleteBody", "The request body could not be read.")
	}
	if len(body) > maxConfigBody {
		return nil, errorf(400, "MaxMessageLengthExceeded", "Your request was too big.")
	}
	if chunked(c.r) {
		data, _, err := decodeChunked(body)
		if err != nil {
			return nil, invalidArgument("The aws-chunked body could not be decoded: %v", err)
		}
		body = data
	}
	return body, nil
}

func decodeConfig(c *Call, v any) *Error {
	body, err := readConfig(c)
	if err != nil {
		return err
	}
	if xml.Unmarshal(body, v) != nil {
		return malformedXML()
	}
	return nil
}

func readTagging(c *Call) (map[string]string, *Error) {
	var in tagging
	if err := decodeConfig(c, &in); err != nil {
		return nil, err
	}
	if len(in.Tags) > 50 {
		return nil, errorf(400, "BadRequest", "Object tags cannot be greater than 50")
	}
	out := make(map[string]string, len(in.Tags))
	for _, t := range in.Tags {
		if _, dup := out[t.Key]; dup {
			return nil, invalidArgument("Cannot provide multiple Tags with the same key")
		}
		out[t.Key] = t.Value
	}
	return out, nil
}

func tagList(m map[string]string) []tag {
	out := make([]tag, 0, len(m))
	for _, k := range sortedNames(m) {
		out = append(out, tag{Key: k, Value: m[k]})
	}
	return out
}

// FromAuthError spells an authentication failure of the shared key store as S3 does.
func FromAuthError(e *awsproto.Error) *Error {
	switch e.Code {
	case "ExpiredToken", "ExpiredTokenException":
		return errorf(400, "ExpiredToken", "The provided token has expired.")
	case "MissingAuthenticationToken", "MissingAuthenticationTokenException":
		return accessDenied()
	case "IncompleteSignature", "IncompleteSignatureException":
		return errorf(400, "AuthorizationHeaderMalformed", "%s", e.Message)
	}
	return errorf(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
}

// FromAPIError spells an error of the sandbox's fault rules (or any other service-neutral
// error) as S3 does: throttling is SlowDown.
func FromAPIError(e *awsproto.Error) *Error {
	code := e.Code
	switch code {
	case "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded":
		return errorf(503, "SlowDown", "Please reduce your request rate.")
	}
	status := e.Status
	if status == 0 {
		status = 500
	}
	return &Error{Status: status, Code: code, Message: e.Message}
}
