package awsproto_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

const testAuth = "AWS4-HMAC-SHA256 Credential=AKID1/20260101/us-east-1/cloudformation/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef"

// newQuery builds a signed form-encoded query request.
func newQuery(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("Authorization", testAuth)
	return r
}

// newJSON builds a signed awsJson1_1 request.
func newJSON(target, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", target)
	r.Header.Set("Authorization", strings.Replace(testAuth, "cloudformation", "organizations", 1))
	return r
}

// newCBOR builds a signed RPC v2 CBOR request.
func newCBOR(op string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/service/GraniteServiceVersion20100801/operation/"+op, bytes.NewReader(body))
	r.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	r.Header.Set("Content-Type", "application/cbor")
	r.Header.Set("Authorization", strings.Replace(testAuth, "cloudformation", "monitoring", 1))
	return r
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestDecodeQueryRequest(t *testing.T) {
	r := newQuery("Action=CreateStack&Version=2010-05-15&StackName=web&Capabilities.member.1=CAPABILITY_IAM")
	r.Header.Set("X-Amz-Security-Token", "tok")
	got, err := awsproto.Decode(r)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := &awsproto.Request{
		Protocol: awsproto.Query, Service: "cloudformation", Action: "CreateStack", AccessKeyID: "AKID1",
		Region: "us-east-1", SessionToken: "tok",
		Params:    awsproto.Object{"StackName": "web", "Capabilities": []any{"CAPABILITY_IAM"}},
		RequestID: got.RequestID,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	if !uuidRE.MatchString(got.RequestID) {
		t.Errorf("RequestID %q is not a v4 UUID", got.RequestID)
	}
	again, _ := awsproto.Decode(newQuery("Action=X"))
	if again.RequestID == got.RequestID {
		t.Errorf("two requests share RequestID %q", got.RequestID)
	}
}

func TestDecodeQueryGETAndPresigned(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet,
		"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"+
			"&X-Amz-Credential=AKID2%2F20260101%2Fap-south-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z"+
			"&X-Amz-SignedHeaders=host&X-Amz-Signature=ff&X-Amz-Security-Token=tok2&Extra=1", nil)
	got, err := awsproto.Decode(r)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	gotF := []any{got.Protocol, got.Service, got.Action, got.AccessKeyID, got.Region, got.SessionToken, got.Params}
	wantF := []any{awsproto.Query, "sts", "GetCallerIdentity", "AKID2", "ap-south-1", "tok2", awsproto.Object{"Extra": "1"}}
	if diff := cmp.Diff(wantF, gotF); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestDecodeQueryURLAndBodyMerge(t *testing.T) {
	r := newQuery("StackName=from-body")
	r.URL.RawQuery = "Action=DescribeStacks&StackName=from-url&NextToken=n"
	got, err := awsproto.Decode(r)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if diff := cmp.Diff(awsproto.Object{"StackName": "from-body", "NextToken": "n"}, got.Params); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}
}

func TestDecodeJSONRequest(t *testing.T) {
	tests := []struct {
		name, target, body string
		action             string
		want               awsproto.Object
	}{
		{"empty body", "AWSOrganizationsV20161128.ListRoots", "", "ListRoots", awsproto.Object{}},
		{"null body", "AmazonSSM.DescribeParameters", " null ", "DescribeParameters", awsproto.Object{}},
		{"types", "AmazonSSM.PutParameter",
			`{"Name":"/a","Overwrite":true,"Tier":null,"N":3,"F":2.5,"E":1e3,"Big":1e30,"Neg":-7,"L":[1,"x",{"k":[]}],"M":{"a":{"b":"c"}}}`,
			"PutParameter", awsproto.Object{
				"Name": "/a", "Overwrite": true, "Tier": nil, "N": int64(3), "F": 2.5, "E": int64(1000), "Big": 1e30, "Neg": int64(-7),
				"L": []any{int64(1), "x", awsproto.Object{"k": []any{}}}, "M": awsproto.Object{"a": awsproto.Object{"b": "c"}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := awsproto.Decode(newJSON(tt.target, tt.body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Protocol != awsproto.JSON11 || got.Action != tt.action || got.Service != "organizations" {
				t.Errorf("Decode = %v %q %q, want awsJson1_1 %q organizations", got.Protocol, got.Action, got.Service, tt.action)
			}
			if diff := cmp.Diff(tt.want, got.Params); diff != "" {
				t.Errorf("Params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeCBORRequest(t *testing.T) {
	body := cbor.Encode(cbor.Map{
		"S":      cbor.String("x"),
		"U":      cbor.Uint(5),
		"N":      cbor.NegInt(5),
		"Min":    cbor.NegInt(1 << 63),
		"F32":    cbor.Float32(0.5),
		"F":      cbor.Float64(2.25),
		"B":      cbor.Bool(true),
		"Nil":    &cbor.Nil{},
		"Undef":  &cbor.Undefined{},
		"Bytes":  cbor.Slice("raw"),
		"T":      &cbor.Tag{ID: 1, Value: cbor.Float64(1767225600.125)},
		"TInt":   &cbor.Tag{ID: 1, Value: cbor.Uint(1767225600)},
		"TNeg":   &cbor.Tag{ID: 1, Value: cbor.NegInt(10)},
		"List":   cbor.List{cbor.String("a"), cbor.Map{"k": cbor.String("v")}},
		"Nested": cbor.Map{"Inner": cbor.List{}},
	})
	got, err := awsproto.Decode(newCBOR("PutMetricData", body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := awsproto.Object{
		"S": "x", "U": int64(5), "N": int64(-5), "Min": int64(-1 << 63), "F32": 0.5, "F": 2.25, "B": true,
		"Nil": nil, "Undef": nil, "Bytes": []byte("raw"),
		"T":    time.Date(2026, 1, 1, 0, 0, 0, 125e6, time.UTC),
		"TInt": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		"TNeg": time.Unix(-10, 0).UTC(),
		"List": []any{"a", awsproto.Object{"k": "v"}}, "Nested": awsproto.Object{"Inner": []any{}},
	}
	if got.Protocol != awsproto.RPCv2CBOR || got.Action != "PutMetricData" || got.Service != "monitoring" {
		t.Errorf("Decode = %v %q %q, want rpcv2Cbor PutMetricData monitoring", got.Protocol, got.Action, got.Service)
	}
	if diff := cmp.Diff(want, got.Params); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}

	empty, err := awsproto.Decode(newCBOR("DescribeAlarms", nil))
	if err != nil {
		t.Fatalf("Decode of an empty body: %v", err)
	}
	if diff := cmp.Diff(awsproto.Object{}, empty.Params); diff != "" {
		t.Errorf("empty body Params (-want +got):\n%s", diff)
	}
}

func TestDecodeGzip(t *testing.T) {
	form := "Action=DescribeStacks&StackName=gz"
	r := newQuery("")
	r.Body = io.NopCloser(bytes.NewReader(gzipped(t, []byte(form))))
	r.Header.Set("Content-Encoding", "gzip")
	got, err := awsproto.Decode(r)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Action != "DescribeStacks" || got.Params.String("StackName") != "gz" {
		t.Errorf("Decode = %q %v, want DescribeStacks StackName=gz", got.Action, got.Params)
	}

	j := newJSON("AmazonSSM.GetParameter", "")
	j.Body = io.NopCloser(bytes.NewReader(gzipped(t, []byte(`{"Name":"/x"}`))))
	j.Header.Set("Content-Encoding", "identity, gzip")
	got, err = awsproto.Decode(j)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if diff := cmp.Diff(awsproto.Object{"Name": "/x"}, got.Params); diff != "" {
		t.Errorf("gzip JSON Params (-want +got):\n%s", diff)
	}
}

// TestDecodeErrors checks the error, and that the partial Request still names the protocol.
func TestDecodeErrors(t *testing.T) {
	big := bytes.Repeat([]byte("a"), awsproto.MaxBodySize+1)
	tests := []struct {
		name     string
		req      func() *http.Request
		protocol awsproto.Protocol
		status   int
		code     string
		msg      string // a substring of the message
	}{
		{"query no auth", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Del("Authorization")
			return r
		}, awsproto.Query, 403, "MissingAuthenticationToken", "Request is missing Authentication Token"},
		{"json no auth", func() *http.Request {
			r := newJSON("AmazonSSM.GetParameter", "{}")
			r.Header.Del("Authorization")
			return r
		}, awsproto.JSON11, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"cbor no auth", func() *http.Request {
			r := newCBOR("DescribeAlarms", nil)
			r.Header.Del("Authorization")
			return r
		}, awsproto.RPCv2CBOR, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"no credential", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "Authorization header requires 'Credential' parameter."},
		{"no signature", func() *http.Request {
			r := newJSON("AmazonSSM.GetParameter", "{}")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=A/20260101/r/ssm/aws4_request")
			return r
		}, awsproto.JSON11, 403, "IncompleteSignatureException", "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"sigv2", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS AKID:sig")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "Unsupported AWS 'algorithm': 'AWS'"},
		{"short scope", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/aws4_request, SignedHeaders=host, Signature=ab")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "valid terminator"},
		{"bad terminator", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/sts/aws5_request, SignedHeaders=host, Signature=ab")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "not 'aws5_request'"},
		{"bad date", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=A/2026-1-1/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=ab")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "valid date"},
		{"empty region", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=A/20260101//sts/aws4_request, SignedHeaders=host, Signature=ab")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "valid region"},
		{"empty access key", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=/20260101/r/sts/aws4_request, SignedHeaders=host, Signature=ab")
			return r
		}, awsproto.Query, 403, "IncompleteSignature", "access key"},
		{"missing action", func() *http.Request { return newQuery("Version=2010-05-15&StackName=x") },
			awsproto.Query, 400, "MissingAction", "Action"},
		{"bad form encoding", func() *http.Request { return newQuery("Action=X&A=%zz") },
			awsproto.Query, 400, "InvalidQueryParameter", "malformed"},
		{"bad list index", func() *http.Request { return newQuery("Action=X&L.member.0=a") },
			awsproto.Query, 400, "InvalidQueryParameter", "positive integer"},
		{"json target without operation", func() *http.Request { return newJSON("AmazonSSM", "{}") },
			awsproto.JSON11, 400, "UnknownOperationException", "AmazonSSM"},
		{"json content type without target", func() *http.Request {
			r := newJSON("x.y", "{}")
			r.Header.Del("X-Amz-Target")
			return r
		}, awsproto.JSON11, 400, "UnknownOperationException", "Unknown operation"},
		{"json syntax", func() *http.Request { return newJSON("AmazonSSM.GetParameter", `{"Name":`) },
			awsproto.JSON11, 400, "SerializationException", "invalid JSON"},
		{"json array", func() *http.Request { return newJSON("AmazonSSM.GetParameter", `[1]`) },
			awsproto.JSON11, 400, "SerializationException", "object"},
		{"json trailing data", func() *http.Request { return newJSON("AmazonSSM.GetParameter", `{} {}`) },
			awsproto.JSON11, 400, "SerializationException", "after"},
		{"json huge number", func() *http.Request { return newJSON("AmazonSSM.GetParameter", `{"N":1e999}`) },
			awsproto.JSON11, 400, "SerializationException", "number"},
		{"cbor bad path", func() *http.Request {
			r := newCBOR("X", nil)
			r.URL.Path = "/service/Granite/operation/"
			return r
		}, awsproto.RPCv2CBOR, 404, "UnknownOperationException", "Unknown operation"},
		{"cbor truncated", func() *http.Request { return newCBOR("PutMetricData", []byte{0xa1, 0x61}) },
			awsproto.RPCv2CBOR, 400, "SerializationException", "invalid CBOR"},
		{"cbor not a map", func() *http.Request { return newCBOR("PutMetricData", cbor.Encode(cbor.List{})) },
			awsproto.RPCv2CBOR, 400, "SerializationException", "map"},
		{"cbor unknown tag", func() *http.Request {
			return newCBOR("PutMetricData", cbor.Encode(cbor.Map{"T": &cbor.Tag{ID: 0, Value: cbor.String("2026-01-01")}}))
		}, awsproto.RPCv2CBOR, 400, "SerializationException", "tag 0"},
		{"cbor uint overflow", func() *http.Request {
			return newCBOR("PutMetricData", cbor.Encode(cbor.Map{"U": cbor.Uint(1 << 63)}))
		}, awsproto.RPCv2CBOR, 400, "SerializationException", "overflows"},
		{"cbor negint overflow", func() *http.Request {
			return newCBOR("PutMetricData", cbor.Encode(cbor.Map{"N": cbor.NegInt(0)}))
		}, awsproto.RPCv2CBOR, 400, "SerializationException", "overflows"},
		{"cbor timestamp string", func() *http.Request {
			return newCBOR("PutMetricData", cbor.Encode(cbor.Map{"T": &cbor.Tag{ID: 1, Value: cbor.String("x")}}))
		}, awsproto.RPCv2CBOR, 400, "SerializationException", "timestamp"},
		{"bad gzip", func() *http.Request {
			r := newJSON("AmazonSSM.GetParameter", "{}")
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, awsproto.JSON11, 400, "SerializationException", "gzip"},
		{"unsupported encoding", func() *http.Request {
			r := newQuery("Action=X")
			r.Header.Set("Content-Encoding", "br")
			return r
		}, awsproto.Query, 400, "InvalidQueryParameter", `"br"`},
		{"body too large", func() *http.Request {
			r := newQuery("")
			r.Body = io.NopCloser(bytes.NewReader(big))
			return r
		}, awsproto.Query, 413, "RequestEntityTooLarge", "maximum"},
		{"gzip bomb", func() *http.Request {
			r := newCBOR("PutMetricData", gzipped(t, big))
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, awsproto.RPCv2CBOR, 413, "RequestEntityTooLargeException", "maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := awsproto.Decode(tt.req())
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Decode error = %v (%T), want *awsproto.Error", err, err)
			}
			if ae.Status != tt.status || ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
				t.Errorf("error = %d %s %q, want %d %s containing %q", ae.Status, ae.Code, ae.Message, tt.status, tt.code, tt.msg)
			}
			if !ae.Sender {
				t.Errorf("error %v is not a Sender fault", ae)
			}
			if req == nil {
				t.Fatal("Decode returned a nil Request with its error")
			}
			if req.Protocol != tt.protocol || !uuidRE.MatchString(req.RequestID) {
				t.Errorf("partial Request = %v %q, want %v and a request id", req.Protocol, req.RequestID, tt.protocol)
			}
		})
	}
}
