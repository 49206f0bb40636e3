package awsproto

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// MaxBodySize is the largest request body Decode accepts, both as sent and after inflating a
// gzip Content-Encoding; larger bodies are rejected with a 413 error rather than buffered.
const MaxBodySize = 8 << 20

// Decode reads one AWS API call from r: it detects the wire protocol, reads the SigV4 credential
// scope, inflates a gzip body and decodes the operation input into Request.Params.
//
// Signatures are NOT verified: the sandbox trusts the access key id in the credential scope
// (it identifies the caller) and ignores Signature, SignedHeaders and X-Amz-Date.
//
// Decode never panics. On failure it returns an *Error spelled for the detected protocol
// together with a non-nil Request whose Protocol, RequestID and any fields decoded so far are
// set, so Encode(w, req, nil, err) answers in the protocol the client speaks.
func Decode(r *http.Request) (*Request, error) {
	req := &Request{Protocol: sniff(r), RequestID: newRequestID()}
	if err := decode(r, req); err != nil {
		return req, err
	}
	return req, nil
}

func decode(r *http.Request, req *Request) *Error {
	p := req.Protocol
	req.SessionToken = r.Header.Get("X-Amz-Security-Token")
	if req.SessionToken == "" && r.URL != nil {
		req.SessionToken = r.URL.Query().Get("X-Amz-Security-Token")
	}
	sc, err := parseAuth(r, p)
	if err != nil {
		return err
	}
	req.AccessKeyID, req.Region, req.Service = sc.accessKeyID, sc.region, sc.service

	body, err := readBody(r, p)
	if err != nil {
		return err
	}
	switch p {
	case JSON11:
		req.Action, err = jsonAction(r)
		if err != nil {
			return err
		}
		req.Params, err = decodeJSON(body)
	case RPCv2CBOR:
		req.Action, err = cborAction(r)
		if err != nil {
			return err
		}
		req.Params, err = decodeCBOR(body)
	default:
		err = decodeQueryRequest(r, body, req)
	}
	return err
}

// sniff guesses the protocol of r from its headers and path alone, so that even a request that
// fails to decode gets its error in a shape its client can parse.
func sniff(r *http.Request) Protocol {
	if strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor") {
		return RPCv2CBOR
	}
	if r.URL != nil && strings.Contains(r.URL.Path, "/service/") && strings.Contains(r.URL.Path, "/operation/") {
		return RPCv2CBOR
	}
	if r.Header.Get("X-Amz-Target") != "" {
		return JSON11
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(mt, "application/x-amz-json-"):
		return JSON11
	case mt == "application/cbor":
		return RPCv2CBOR
	}
	return Query
}

// codeFor spells a query-protocol error code the way JSON and CBOR services spell it: AWS JSON
// services name their common errors with an "Exception" suffix (MissingAuthenticationToken →
// MissingAuthenticationTokenException).
func codeFor(p Protocol, queryCode string) string {
	if p == Query {
		return queryCode
	}
	return queryCode + "Exception"
}

// malformedCode is the code for an unreadable request body in protocol p.
func malformedCode(p Protocol) string {
	if p == Query {
		return "InvalidQueryParameter"
	}
	return "SerializationException"
}

// scope is the part of a SigV4 credential scope the sandbox uses.
type scope struct {
	accessKeyID, region, service string
}

// parseAuth reads the credential scope from the Authorization header or, for presigned
// requests, from the X-Amz-Credential query parameter.
func parseAuth(r *http.Request, p Protocol) (scope, *Error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		if r.URL != nil {
			if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
				return parseCredential(c, p)
			}
		}
		msg := "Request is missing Authentication Token"
		if p != Query {
			msg = "Missing Authentication Token"
		}
		return scope{}, Errorf(http.StatusForbidden, codeFor(p, "MissingAuthenticationToken"), "%s", msg)
	}
	alg, rest, _ := strings.Cut(h, " ")
	if alg != "AWS4-HMAC-SHA256" {
		return scope{}, Errorf(http.StatusForbidden, codeFor(p, "IncompleteSignature"),
			"Unsupported AWS 'algorithm': '%s'. Authorization=%s", alg, truncate(h, 256))
	}
	params := map[string]string{}
	for field := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
		params[k] = v
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return scope{}, Errorf(http.StatusForbidden, codeFor(p, "IncompleteSignature"),
			"%s Authorization=%s", strings.Join(missing, " "), truncate(h, 256))
	}
	return parseCredential(params["Credential"], p)
}

// parseCredential parses "AKID/YYYYMMDD/region/service/aws4_request".
func parseCredential(c string, p Protocol) (scope, *Error) {
	parts := strings.Split(c, "/")
	bad := func(format string, args ...any) (scope, *Error) {
		return scope{}, Errorf(http.StatusForbidden, codeFor(p, "IncompleteSignature"), format, args...)
	}
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return bad("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.",
			truncate(parts[len(parts)-1], 64))
	}
	if parts[0] == "" {
		return bad("Credential should contain an access key id, not '%s'.", truncate(c, 128))
	}
	if len(parts[1]) != 8 || strings.Trim(parts[1], "0123456789") != "" {
		return bad("Credential should be scoped to a valid date (YYYYMMDD), not '%s'.", truncate(parts[1], 64))
	}
	if parts[2] == "" {
		return bad("Credential should be scoped to a valid region, not '%s'.", parts[2])
	}
	if parts[3] == "" {
		return bad("Credential should be scoped to correct service: '%s'.", parts[3])
	}
	return scope{accessKeyID: parts[0], region: parts[2], service: parts[3]}, nil
}

// readBody reads the body of r within MaxBodySize and undoes its Content-Encoding.
func readBody(r *http.Request, p Protocol) ([]byte, *Error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := readLimited(r.Body)
	if err != nil {
		return nil, bodyError(p, err)
	}
	var codings []string
	for _, h := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(h, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	// Codings are listed in the order they were applied, so they are undone last first.
	slices.Reverse(codings)
	for _, c := range codings {
		switch c {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, Errorf(http.StatusBadRequest, malformedCode(p), "invalid gzip request body: %v", err)
			}
			body, err = readLimited(zr)
			if err != nil {
				return nil, bodyError(p, err)
			}
		default:
			return nil, Errorf(http.StatusBadRequest, malformedCode(p), "unsupported Content-Encoding %q", truncate(c, 64))
		}
	}
	return body, nil
}

var errTooLarge = errors.New("request body too large")

// readLimited reads at most MaxBodySize bytes and fails with errTooLarge beyond that, so
// neither a huge upload nor a gzip bomb is buffered in full.
func readLimited(rd io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, MaxBodySize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBodySize {
		return nil, errTooLarge
	}
	return b, nil
}

func bodyError(p Protocol, err error) *Error {
	if errors.Is(err, errTooLarge) {
		return Errorf(http.StatusRequestEntityTooLarge, codeFor(p, "RequestEntityTooLarge"),
			"Request body exceeds the maximum of %d bytes", MaxBodySize)
	}
	return Errorf(http.StatusBadRequest, malformedCode(p), "reading request body: %v", err)
}

// jsonAction returns the operation named by X-Amz-Target ("Prefix.Operation").
func jsonAction(r *http.Request) (string, *Error) {
	t := r.Header.Get("X-Amz-Target")
	i := strings.LastIndexByte(t, '.')
	if i <= 0 || i == len(t)-1 {
		return "", Errorf(http.StatusBadRequest, "UnknownOperationException", "Unknown operation %q", truncate(t, 128))
	}
	return t[i+1:], nil
}

// cborAction returns the operation named by an RPC v2 path, /service/<Service>/operation/<Op>
// (an endpoint path prefix before /service/ is allowed by the Smithy spec).
func cborAction(r *http.Request) (string, *Error) {
	path := ""
	if r.URL != nil {
		path = r.URL.Path
	}
	if i := strings.LastIndex(path, "/service/"); i >= 0 {
		svc, op, ok := strings.Cut(path[i+len("/service/"):], "/operation/")
		if ok && svc != "" && op != "" && !strings.Contains(svc, "/") && !strings.Contains(op, "/") {
			return op, nil
		}
	}
	return "", Errorf(http.StatusNotFound, "UnknownOperationException", "Unknown operation path %q", truncate(path, 128))
}

// decodeQueryRequest merges the URL query and a form-encoded body into req.Action and
// req.Params. Body values override URL values of the same name.
func decodeQueryRequest(r *http.Request, body []byte, req *Request) *Error {
	vals := url.Values{}
	if r.URL != nil && r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return Errorf(http.StatusBadRequest, "InvalidQueryParameter", "malformed query string: %v", err)
		}
		vals = q
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if len(body) > 0 && (mt == "" || mt == "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return Errorf(http.StatusBadRequest, "InvalidQueryParameter", "malformed form body: %v", err)
		}
		for k, v := range q {
			vals[k] = v
		}
	}
	req.Action = vals.Get("Action")
	if req.Action == "" {
		return Errorf(http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action.")
	}
	for _, k := range []string{"Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
		"X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"} {
		delete(vals, k)
	}
	params, err := decodeQuery(vals)
	if err != nil {
		return err
	}
	req.Params = params
	return nil
}

// newRequestID returns a random version-4 UUID, the shape AWS request ids have.
// NewRequestID returns a new request id (a random UUID), for services that decode requests
// themselves (S3).
func NewRequestID() string { return newRequestID() }

// CredentialScope reads the access key id, region and service of r's SigV4 credential scope
// (Authorization header or presigned query) and its session token, without reading the body.
// present is false for an unsigned request; err is set for a malformed signature.
func CredentialScope(r *http.Request) (accessKeyID, region, service, sessionToken string, present bool, err *Error) {
	sessionToken = r.Header.Get("X-Amz-Security-Token")
	if sessionToken == "" && r.URL != nil {
		sessionToken = r.URL.Query().Get("X-Amz-Security-Token")
	}
	if r.Header.Get("Authorization") == "" && (r.URL == nil || r.URL.Query().Get("X-Amz-Credential") == "") {
		return "", "", "", sessionToken, false, nil
	}
	sc, err := parseAuth(r, Query)
	if err != nil {
		return "", "", "", sessionToken, true, err
	}
	return sc.accessKeyID, sc.region, sc.service, sessionToken, true, nil
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// truncate shortens s for echoing client input in error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
