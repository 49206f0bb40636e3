package s3

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Call is one S3 REST request after routing: its operation and what it names.
type Call struct {
	// Op is the S3 operation name (PutObject, ListObjectsV2…), for counters, fault rules and
	// errors; "" when the request matches no operation the sandbox serves.
	Op        string
	Bucket    string
	Key       string
	RequestID string
	r         *http.Request
	query     url.Values
}

// IsRequest reports whether r is an S3 call rather than another service's: signed for the s3
// service, or addressed to a virtual-hosted bucket.
func IsRequest(r *http.Request, signingService string) bool {
	if signingService == "s3" {
		return true
	}
	if signingService == "" {
		_, ok := virtualHostBucket(r.Host)
		return ok
	}
	return false
}

// Route reads the operation of an S3 request. The bucket comes from the Host header when it
// is virtual-hosted (BUCKET.s3.amazonaws.com, BUCKET.s3.REGION.amazonaws.com,
// BUCKET.s3.localhost, BUCKET.localhost, with any port), else from the first path segment.
func Route(r *http.Request, requestID string) *Call {
	c := &Call{r: r, query: r.URL.Query(), RequestID: requestID}
	path := r.URL.EscapedPath()
	if b, ok := virtualHostBucket(r.Host); ok {
		c.Bucket = b
		c.Key = unescape(strings.TrimPrefix(path, "/"))
	} else {
		rest := strings.TrimPrefix(path, "/")
		b, k, _ := strings.Cut(rest, "/")
		c.Bucket, c.Key = unescape(b), unescape(k)
	}
	c.Op = c.operation()
	return c
}

// ParseObjectURL reads the bucket and key of an https (or http) object URL as CloudFormation
// accepts it for TemplateURL: virtual-hosted (BUCKET.s3.amazonaws.com/KEY,
// BUCKET.s3.REGION.amazonaws.com/KEY) or path-style (s3.amazonaws.com/BUCKET/KEY,
// s3.REGION.amazonaws.com/BUCKET/KEY), or path-style on the sandbox endpoint itself.
func ParseObjectURL(raw string) (bucket, key string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", "", false
	}
	path := strings.TrimPrefix(u.EscapedPath(), "/")
	if b, vh := virtualHostBucket(u.Host); vh {
		bucket, key = b, unescape(path)
	} else {
		h := strings.ToLower(u.Hostname())
		s3Host := h == "s3.amazonaws.com" || strings.HasSuffix(h, ".amazonaws.com") && (strings.HasPrefix(h, "s3.") || strings.HasPrefix(h, "s3-"))
		local := net.ParseIP(h) != nil || h == "localhost"
		if !s3Host && !local {
			return "", "", false
		}
		b, k, _ := strings.Cut(path, "/")
		bucket, key = unescape(b), unescape(k)
	}
	return bucket, key, bucket != "" && key != ""
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// virtualHostBucket returns the bucket of a virtual-hosted Host header.
func virtualHostBucket(host string) (string, bool) {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if net.ParseIP(h) != nil || !strings.Contains(h, ".") {
		return "", false
	}
	for _, suffix := range []string{".s3.localhost", ".localhost"} {
		if b, ok := strings.CutSuffix(h, suffix); ok && b != "" && b != "s3" {
			return b, true
		}
	}
	// BUCKET.s3.amazonaws.com, BUCKET.s3.REGION.amazonaws.com, BUCKET.s3-REGION.amazonaws.com,
	// BUCKET.s3.dualstack.REGION.amazonaws.com
	if rest, ok := strings.CutSuffix(h, ".amazonaws.com"); ok {
		for _, marker := range []string{".s3.", ".s3-"} {
			if i := strings.LastIndex(rest+".", marker); i > 0 {
				return rest[:i], true
			}
		}
	}
	return "", false
}

func (c *Call) has(sub string) bool {
	_, ok := c.query[sub]
	return ok
}

// operation maps method, bucket, key and subresource to the S3 operation.
func (c *Call) operation() string {
	m := c.r.Method
	switch {
	case c.Bucket == "":
		if m == http.MethodGet {
			return "ListBuckets"
		}
		return ""
	case c.Key == "":
		return c.bucketOperation(m)
	}
	return c.objectOperation(m)
}

func (c *Call) bucketOperation(m string) string {
	subs := []struct{ sub, get, put, del string }{
		{"policy", "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"},
		{"publicAccessBlock", "GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"},
		{"encryption", "GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"},
		{"versioning", "GetBucketVersioning", "PutBucketVersioning", ""},
		{"tagging", "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"},
		{"location", "GetBucketLocation", "", ""},
		{"policyStatus", "GetBucketPolicyStatus", "", ""},
		{"ownershipControls", "GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"},
		{"acl", "GetBucketAcl", "PutBucketAcl", ""},
		{"uploads", "ListMultipartUploads", "", ""},
	}
	for _, s := range subs {
		if !c.has(s.sub) {
			continue
		}
		switch m {
		case http.MethodGet:
			return s.get
		case http.MethodPut:
			return s.put
		case http.MethodDelete:
			return s.del
		}
		return ""
	}
	switch m {
	case http.MethodPut:
		return "CreateBucket"
	case http.MethodHead:
		return "HeadBucket"
	case http.MethodDelete:
		return "DeleteBucket"
	case http.MethodPost:
		if c.has("delete") {
			return "DeleteObjects"
		}
	case http.MethodGet:
		if c.query.Get("list-type") == "2" {
			return "ListObjectsV2"
		}
		if len(c.query) == 0 || c.has("prefix") || c.has("marker") || c.has("delimiter") || c.has("max-keys") || c.has("encoding-type") {
			return "ListObjects"
		}
	}
	return ""
}

func (c *Call) objectOperation(m string) string {
	upload := c.has("uploadId")
	switch m {
	case http.MethodPut:
		switch {
		case c.has("tagging"):
			return "PutObjectTagging"
		case upload && c.has("partNumber"):
			return "UploadPart"
		case c.r.Header.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		case len(c.query) == 0 || c.has("x-id") || c.has("X-Amz-Credential"):
			return "PutObject"
		}
	case http.MethodGet:
		switch {
		case c.has("tagging"):
			return "GetObjectTagging"
		case upload:
			return "ListParts"
		case c.has("attributes"):
			return ""
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		switch {
		case c.has("tagging"):
			return "DeleteObjectTagging"
		case upload:
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	case http.MethodPost:
		switch {
		case c.has("uploads"):
			return "CreateMultipartUpload"
		case upload:
			return "CompleteMultipartUpload"
		}
	}
	return ""
}

// IsWrite reports whether op changes state (for persistence).
func IsWrite(op string) bool {
	for _, p := range []string{"Put", "Create", "Delete", "Upload", "Complete", "Abort", "Copy"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}
