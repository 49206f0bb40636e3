package s3

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

type objectHandler func(s *Store, w http.ResponseWriter, c *Call, caller iam.Principal) error

var objectHandlers = map[string]objectHandler{
	"PutObject":               (*Store).putObject,
	"GetObject":               (*Store).getObject,
	"HeadObject":              (*Store).getObject,
	"DeleteObject":            (*Store).deleteObject,
	"CopyObject":              (*Store).copyObject,
	"CreateMultipartUpload":   (*Store).createUpload,
	"UploadPart":              (*Store).uploadPart,
	"CompleteMultipartUpload": (*Store).completeUpload,
	"AbortMultipartUpload":    (*Store).abortUpload,
	"ListParts":               (*Store).listParts,
	"GetObjectTagging":        (*Store).getObjectTagging,
	"PutObjectTagging":        (*Store).putObjectTagging,
	"DeleteObjectTagging":     (*Store).putObjectTagging,
}

// objectAction is the IAM action of an object operation.
var objectAction = map[string]string{
	"PutObject": "s3:PutObject", "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
	"DeleteObject": "s3:DeleteObject", "CopyObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
	"UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload",
	"ListParts": "s3:ListMultipartUploadParts", "GetObjectTagging": "s3:GetObjectTagging",
	"PutObjectTagging": "s3:PutObjectTagging", "DeleteObjectTagging": "s3:DeleteObjectTagging",
}

// lockObject runs f on c's bucket after the access check for c's object, under the write lock
// (write) or the read lock.
func (s *Store) lockObject(c *Call, caller iam.Principal, write bool, f func(b *bucket) error) error {
	if write {
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	b, ok := s.buckets[c.Bucket]
	if !ok {
		return noSuchBucket(c.Bucket)
	}
	if err := expectedOwner(c, b); err != nil {
		return err
	}
	if !s.allowed(b, caller, objectAction[c.Op], objectARN(b.Name, c.Key)) {
		return accessDenied()
	}
	return f(b)
}

// storedHeaders are the request headers an object keeps and returns on GET and HEAD.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires", "X-Amz-Website-Redirect-Location"}

// newObject builds an object from an upload request's headers.
func newObject(r *http.Request, now time.Time) (*Object, *Error) {
	o := &Object{LastModified: now.UTC(), ContentType: r.Header.Get("Content-Type"), Headers: map[string]string{}}
	for _, h := range storedHeaders {
		if v := r.Header.Get(h); v != "" {
			if h == "Content-Encoding" {
				v = stripAWSChunked(v)
				if v == "" {
					continue
				}
			}
			o.Headers[h] = v
		}
	}
	for k, vs := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
			o.Headers[http.CanonicalHeaderKey(k)] = strings.Join(vs, ",")
		}
	}
	if o.ContentType == "" {
		o.ContentType = "binary/octet-stream"
	}
	switch sse := r.Header.Get("X-Amz-Server-Side-Encryption"); sse {
	case "", "AES256", "aws:kms", "aws:kms:dsse":
		o.SSE = sse
		o.SSEKMSKeyID = r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")
	default:
		return nil, invalidArgument("The encryption method specified is not supported")
	}
	switch sc := r.Header.Get("X-Amz-Storage-Class"); sc {
	case "", "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR":
		o.StorageClass = sc
	default:
		return nil, invalidArgument("Invalid storage class.")
	}
	if acl := r.Header.Get("X-Amz-Acl"); acl != "" && acl != "private" && acl != "bucket-owner-full-control" {
		return nil, errorf(400, "AccessControlListNotSupported", "The bucket does not allow ACLs")
	}
	if t := r.Header.Get("X-Amz-Tagging"); t != "" {
		q, err := url.ParseQuery(t)
		if err != nil {
			return nil, invalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
		}
		o.Tags = map[string]string{}
		for k, v := range q {
			o.Tags[k] = v[0]
		}
	}
	return o, nil
}

func stripAWSChunked(v string) string {
	var keep []string
	for c := range strings.SplitSeq(v, ",") {
		if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, ",")
}

// defaultEncryption fills in the bucket's default encryption for an object sent without one.
func defaultEncryption(o *Object, b *bucket) {
	if o.SSE == "" {
		o.SSE = b.Encryption.SSEAlgorithm
		if o.SSE == "aws:kms" && o.SSEKMSKeyID == "" {
			o.SSEKMSKeyID = b.Encryption.KMSMasterKeyID
		}
	}
}

func (s *Store) putObject(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	p, perr := readPayload(c.r)
	if perr != nil {
		return perr
	}
	o, oerr := newObject(c.r, s.now())
	if oerr != nil {
		return oerr
	}
	return s.lockObject(c, caller, true, func(b *bucket) error {
		if err := conditionalWrite(c.r, b.objects[c.Key]); err != nil {
			return err
		}
		o.Data, o.ETag = p.data, etagOf(p.data)
		o.Checksum = map[string]string{}
		if p.algorithm != "" {
			o.Checksum[strings.ToUpper(p.algorithm)] = p.checksum
		} else {
			// S3 computes a CRC64NVME checksum of every object uploaded without one.
			o.Checksum["CRC64NVME"] = checksumOf("crc64nvme", p.data)
		}
		defaultEncryption(o, b)
		b.objects[c.Key] = o
		h := w.Header()
		h.Set("ETag", o.ETag)
		writeObjectSSE(h, o)
		for alg, v := range o.Checksum {
			h.Set("X-Amz-Checksum-"+strings.ToLower(alg), v)
		}
		writeEmpty(w, c, http.StatusOK)
		return nil
	})
}

// conditionalWrite evaluates If-None-Match: * and If-Match on a write (S3's conditional
// writes) against the current object (nil for none).
func conditionalWrite(r *http.Request, cur *Object) *Error {
	if r.Header.Get("If-None-Match") == "*" && cur != nil {
		return errorf(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold").with("Condition", "If-None-Match")
	}
	if m := r.Header.Get("If-Match"); m != "" && (cur == nil || !etagMatches(m, cur.ETag)) {
		if cur == nil {
			return noSuchKey("")
		}
		return errorf(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold").with("Condition", "If-Match")
	}
	return nil
}

func etagMatches(header, etag string) bool {
	for v := range strings.SplitSeq(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || v == etag || `"`+strings.Trim(v, `"`)+`"` == etag {
			return true
		}
	}
	return false
}

func writeObjectSSE(h http.Header, o *Object) {
	if o.SSE != "" {
		h.Set("X-Amz-Server-Side-Encryption", o.SSE)
	}
	if o.SSEKMSKeyID != "" {
		h.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", o.SSEKMSKeyID)
	}
}

func (s *Store) getObject(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	var o Object
	err := s.lockObject(c, caller, false, func(b *bucket) error {
		cur, ok := b.objects[c.Key]
		if !ok {
			return noSuchKey(c.Key)
		}
		o = *cur
		return nil
	})
	if err != nil {
		return err
	}
	h := w.Header()
	setIDs(h, c)
	h.Set("ETag", o.ETag)
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Content-Type", o.ContentType)
	h.Set("Accept-Ranges", "bytes")
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	writeObjectSSE(h, &o)
	if o.StorageClass != "" && o.StorageClass != "STANDARD" {
		h.Set("X-Amz-Storage-Class", o.StorageClass)
	}
	if len(o.Tags) > 0 {
		h.Set("X-Amz-Tagging-Count", strconv.Itoa(len(o.Tags)))
	}
	if o.Parts > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(o.Parts))
	}
	if status := preconditions(c.r, &o); status != 0 {
		if status == http.StatusPreconditionFailed {
			return errorf(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
		}
		w.WriteHeader(status)
		return nil
	}
	data := o.Data
	status := http.StatusOK
	if rg := c.r.Header.Get("Range"); rg != "" {
		start, end, ok := parseRange(rg, len(data))
		if !ok {
			return errorf(416, "InvalidRange", "The requested range is not satisfiable").with("ActualObjectSize", strconv.Itoa(len(data)))
		}
		h.Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(end)+"/"+strconv.Itoa(len(data)))
		data, status = data[start:end+1], http.StatusPartialContent
	} else if strings.EqualFold(c.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		// Full-object checksums only; a range has none.
		for alg, v := range o.Checksum {
			h.Set("X-Amz-Checksum-"+strings.ToLower(alg), v)
			h.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	if c.r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
	return nil
}

// preconditions evaluates If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since
// on a read: 0 to go on, 304 or 412.
func preconditions(r *http.Request, o *Object) int {
	if m := r.Header.Get("If-Match"); m != "" && !etagMatches(m, o.ETag) {
		return http.StatusPreconditionFailed
	}
	if m := r.Header.Get("If-None-Match"); m != "" && etagMatches(m, o.ETag) {
		return http.StatusNotModified
	}
	mod := o.LastModified.Truncate(time.Second)
	if v := r.Header.Get("If-Unmodified-Since"); v != "" && r.Header.Get("If-Match") == "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if v := r.Header.Get("If-Modified-Since"); v != "" && r.Header.Get("If-None-Match") == "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// parseRange parses "bytes=a-b", "bytes=a-" and "bytes=-n" for an object of size n.
func parseRange(h string, size int) (start, end int, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, _ := strings.Cut(spec, "-")
	switch {
	case a == "":
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	default:
		s, err := strconv.Atoi(a)
		if err != nil || s >= size {
			return 0, 0, false
		}
		e := size - 1
		if b != "" {
			if e, err = strconv.Atoi(b); err != nil || e < s {
				return 0, 0, false
			}
			e = min(e, size-1)
		}
		return s, e, true
	}
}

func (s *Store) deleteObject(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	return s.lockObject(c, caller, true, func(b *bucket) error {
		delete(b.objects, c.Key)
		writeEmpty(w, c, http.StatusNoContent)
		return nil
	})
}

func (s *Store) copyObject(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	src := strings.TrimPrefix(unescape(strings.SplitN(c.r.Header.Get("X-Amz-Copy-Source"), "?", 2)[0]), "/")
	srcBucket, srcKey, ok := strings.Cut(src, "/")
	if !ok || srcKey == "" {
		return invalidArgument("Invalid copy source object key")
	}
	data, err := s.Read(caller, srcBucket, srcKey)
	switch err {
	case nil:
	case ErrNoSuchBucket:
		return noSuchBucket(srcBucket)
	case ErrNoSuchKey:
		return noSuchKey(srcKey)
	default:
		return accessDenied()
	}
	s.mu.RLock()
	srcObj := *s.buckets[srcBucket].objects[srcKey]
	s.mu.RUnlock()
	o, oerr := newObject(c.r, s.now())
	if oerr != nil {
		return oerr
	}
	if !strings.EqualFold(c.r.Header.Get("X-Amz-Metadata-Directive"), "REPLACE") {
		o.ContentType, o.Headers = srcObj.ContentType, maps.Clone(srcObj.Headers)
	}
	return s.lockObject(c, caller, true, func(b *bucket) error {
		if srcBucket == c.Bucket && srcKey == c.Key && !strings.EqualFold(c.r.Header.Get("X-Amz-Metadata-Directive"), "REPLACE") {
			return invalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
		o.Data, o.ETag = bytes.Clone(data), etagOf(data)
		o.Checksum = map[string]string{"CRC64NVME": checksumOf("crc64nvme", data)}
		defaultEncryption(o, b)
		b.objects[c.Key] = o
		writeObjectSSE(w.Header(), o)
		writeXML(w, c, copyObjectResult{Xmlns: xmlns, ETag: o.ETag, LastModified: isoTime(o.LastModified)})
		return nil
	})
}

func (s *Store) createUpload(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	o, oerr := newObject(c.r, s.now())
	if oerr != nil {
		return oerr
	}
	return s.lockObject(c, caller, true, func(b *bucket) error {
		id := awsproto.RandomString(awsproto.LowerAlnum, 64)
		alg := strings.ToLower(c.r.Header.Get("X-Amz-Checksum-Algorithm"))
		if _, ok := checksumAlgorithms[alg]; alg != "" && !ok {
			return invalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		b.uploads[id] = &upload{key: c.Key, initiated: s.now().UTC(), proto: *o, algorithm: alg, parts: map[int]*part{}}
		if alg != "" {
			w.Header().Set("X-Amz-Checksum-Algorithm", strings.ToUpper(alg))
		}
		writeXML(w, c, initiateMultipartUploadResult{Xmlns: xmlns, Bucket: b.Name, Key: c.Key, UploadID: id})
		return nil
	})
}

// upload returns the multipart upload of c, or NoSuchUpload.
func (c *Call) upload(b *bucket) (*upload, *Error) {
	u, ok := b.uploads[c.query.Get("uploadId")]
	if !ok || u.key != c.Key {
		return nil, errorf(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.").with("UploadId", c.query.Get("uploadId"))
	}
	return u, nil
}

func (s *Store) uploadPart(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	n, err := strconv.Atoi(c.query.Get("partNumber"))
	if err != nil || n < 1 || n > maxParts {
		return invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	p, perr := readPayload(c.r)
	if perr != nil {
		return perr
	}
	return s.lockObject(c, caller, true, func(b *bucket) error {
		u, uerr := c.upload(b)
		if uerr != nil {
			return uerr
		}
		pt := &part{data: p.data, etag: etagOf(p.data), modified: s.now().UTC(), checksum: p.checksum}
		u.parts[n] = pt
		w.Header().Set("ETag", pt.etag)
		if p.algorithm != "" {
			w.Header().Set("X-Amz-Checksum-"+p.algorithm, p.checksum)
		}
		writeEmpty(w, c, http.StatusOK)
		return nil
	})
}

func (s *Store) completeUpload(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	var in completeMultipartUpload
	if err := decodeConfig(c, &in); err != nil {
		return err
	}
	if len(in.Parts) == 0 {
		return malformedXML()
	}
	return s.lockObject(c, caller, true, func(b *bucket) error {
		u, uerr := c.upload(b)
		if uerr != nil {
			return uerr
		}
		var data bytes.Buffer
		var sums []byte
		prev := 0
		for i, ip := range in.Parts {
			if ip.PartNumber <= prev {
				return errorf(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
			}
			prev = ip.PartNumber
			pt, ok := u.parts[ip.PartNumber]
			if !ok || `"`+strings.Trim(ip.ETag, `"`)+`"` != pt.etag {
				return errorf(400, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
			}
			if i < len(in.Parts)-1 && len(pt.data) < minPartSize {
				return errorf(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
			}
			if data.Len()+len(pt.data) > MaxObjectSize {
				return entityTooLarge()
			}
			data.Write(pt.data)
			raw, _ := hex.DecodeString(strings.Trim(pt.etag, `"`))
			sums = append(sums, raw...)
		}
		sum := md5.Sum(sums)
		o := u.proto
		o.Data = data.Bytes()
		o.ETag = `"` + hex.EncodeToString(sum[:]) + "-" + strconv.Itoa(len(in.Parts)) + `"`
		o.LastModified = s.now().UTC()
		o.Parts = len(in.Parts)
		o.Checksum = map[string]string{}
		if u.algorithm == "" {
			o.Checksum["CRC64NVME"] = checksumOf("crc64nvme", o.Data)
		}
		defaultEncryption(&o, b)
		b.objects[c.Key] = &o
		delete(b.uploads, c.query.Get("uploadId"))
		writeObjectSSE(w.Header(), &o)
		writeXML(w, c, completeMultipartUploadResult{Xmlns: xmlns, Location: "/" + b.Name + "/" + c.Key, Bucket: b.Name, Key: c.Key, ETag: o.ETag})
		return nil
	})
}

func (s *Store) abortUpload(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	return s.lockObject(c, caller, true, func(b *bucket) error {
		if _, err := c.upload(b); err != nil {
			return err
		}
		delete(b.uploads, c.query.Get("uploadId"))
		writeEmpty(w, c, http.StatusNoContent)
		return nil
	})
}

func (s *Store) listParts(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	return s.lockObject(c, caller, false, func(b *bucket) error {
		u, err := c.upload(b)
		if err != nil {
			return err
		}
		out := listPartsResult{Xmlns: xmlns, Bucket: b.Name, Key: c.Key, UploadID: c.query.Get("uploadId")}
		for _, n := range slices.Sorted(maps.Keys(u.parts)) {
			pt := u.parts[n]
			out.Parts = append(out.Parts, partItem{PartNumber: n, LastModified: isoTime(pt.modified), ETag: pt.etag, Size: len(pt.data)})
		}
		writeXML(w, c, out)
		return nil
	})
}

func (s *Store) listUploads(w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
	out := listMultipartUploadsResult{Xmlns: xmlns, Bucket: b.Name}
	for _, id := range sortedNames(b.uploads) {
		u := b.uploads[id]
		out.Uploads = append(out.Uploads, uploadItem{Key: u.key, UploadID: id, Initiated: isoTime(u.initiated)})
	}
	slices.SortFunc(out.Uploads, func(a, b uploadItem) int { return cmp.Compare(a.Key, b.Key) })
	writeXML(w, c, out)
	return nil
}

func (s *Store) getObjectTagging(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	return s.lockObject(c, caller, false, func(b *bucket) error {
		o, ok := b.objects[c.Key]
		if !ok {
			return noSuchKey(c.Key)
		}
		writeXML(w, c, tagging{Xmlns: xmlns, Tags: tagList(o.Tags)})
		return nil
	})
}

func (s *Store) putObjectTagging(w http.ResponseWriter, c *Call, caller iam.Principal) error {
	var tags map[string]string
	if c.Op == "PutObjectTagging" {
		var err *Error
		if tags, err = readTagging(c); err != nil {
			return err
		}
	}
	return s.lockObject(c, caller, true, func(b *bucket) error {
		o, ok := b.objects[c.Key]
		if !ok {
			return noSuchKey(c.Key)
		}
		o.Tags = tags
		if c.Op == "DeleteObjectTagging" {
			writeEmpty(w, c, http.StatusNoContent)
		} else {
			writeEmpty(w, c, http.StatusOK)
		}
		return nil
	})
}

// listObjects serves ListObjects (v1, with markers) and ListObjectsV2 (with continuation
// tokens): keys in UTF-8 binary order, grouped by delimiter into common prefixes, at most
// max-keys (1000) of keys and prefixes together, URL-encoded with encoding-type=url.
func (s *Store) listObjects(w http.ResponseWriter, c *Call, _ iam.Principal, b *bucket) error {
	q := c.query
	v2 := c.Op == "ListObjectsV2"
	maxKeys := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return invalidArgument("Provided max-keys not an integer or within integer range")
		}
		maxKeys = min(n, 1000)
	}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return invalidArgument("Invalid Encoding Method specified in Request")
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	after := q.Get("marker")
	if v2 {
		after = q.Get("start-after")
		if tok := q.Get("continuation-token"); tok != "" {
			k, err := decodeToken(tok)
			if err != nil {
				return invalidArgument("The continuation token provided is incorrect")
			}
			after = max(after, k)
		}
	}
	encode := func(s string) string {
		if enc == "url" {
			return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
		}
		return s
	}
	out := listBucketResult{Xmlns: xmlns, Name: b.Name, Prefix: encode(prefix), MaxKeys: maxKeys, Delimiter: encode(delim), EncodingType: enc}
	keys := sortedNames(b.objects)
	seen := map[string]bool{}
	count, last := 0, ""
	for _, k := range keys {
		if k <= after || !strings.HasPrefix(k, prefix) {
			continue
		}
		entry := k
		isPrefix := false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				entry, isPrefix = k[:len(prefix)+i+len(delim)], true
				if seen[entry] {
					continue
				}
			}
		}
		if count == maxKeys {
			out.IsTruncated = true
			break
		}
		count++
		if isPrefix {
			seen[entry] = true
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: encode(entry)})
			last = entry + "\U0010FFFF" // skip every key under the prefix
		} else {
			o := b.objects[k]
			item := objectItem{Key: encode(k), LastModified: isoTime(o.LastModified), ETag: o.ETag, Size: len(o.Data), StorageClass: cmp.Or(o.StorageClass, "STANDARD")}
			for alg := range o.Checksum {
				item.ChecksumAlgorithm = append(item.ChecksumAlgorithm, alg)
			}
			if !v2 || q.Get("fetch-owner") == "true" {
				item.Owner = &owner{ID: canonicalID(b.Account)}
			}
			out.Contents = append(out.Contents, item)
			last = k
		}
		after = max(after, last)
	}
	if v2 {
		out.KeyCount = &count
		out.ContinuationToken = q.Get("continuation-token")
		out.StartAfter = encode(q.Get("start-after"))
		if out.IsTruncated {
			out.NextContinuationToken = encodeToken(last)
		}
	} else {
		m := encode(q.Get("marker"))
		out.Marker = &m
		if out.IsTruncated && delim != "" {
			out.NextMarker = encode(strings.TrimSuffix(last, "\U0010FFFF"))
		}
	}
	writeXML(w, c, out)
	return nil
}

func encodeToken(after string) string { return hex.EncodeToString([]byte(after)) }

func decodeToken(tok string) (string, error) {
	b, err := hex.DecodeString(tok)
	return string(b), err
}

func (s *Store) deleteObjects(w http.ResponseWriter, c *Call, caller iam.Principal, b *bucket) error {
	body, err := readConfig(c)
	if err != nil {
		return err
	}
	var in deleteRequest
	if xml.Unmarshal(body, &in) != nil || len(in.Objects) == 0 {
		return malformedXML()
	}
	if len(in.Objects) > 1000 {
		return malformedXML()
	}
	out := deleteResult{Xmlns: xmlns}
	for _, o := range in.Objects {
		if !s.allowed(b, caller, "s3:DeleteObject", objectARN(b.Name, o.Key)) {
			out.Errors = append(out.Errors, deleteError{Key: o.Key, Code: "AccessDenied", Message: "Access Denied"})
			continue
		}
		delete(b.objects, o.Key)
		if !in.Quiet {
			out.Deleted = append(out.Deleted, deletedItem{Key: o.Key})
		}
	}
	writeXML(w, c, out)
	return nil
}

func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
