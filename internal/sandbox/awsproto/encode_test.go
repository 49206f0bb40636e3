package awsproto_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

var ts = time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.UTC)

// sample exercises every value kind Encode accepts.
func sample() awsproto.Object {
	return awsproto.Object{
		"Str":     `a<b>&"c"`,
		"Bool":    true,
		"Int":     int64(-42),
		"Int32":   int32(7),
		"Float":   2.5,
		"Whole":   3.0,
		"Time":    ts,
		"TimePtr": &ts,
		"Nil":     nil,
		"Strs":    []string{"x", "y"},
		"Objs":    []awsproto.Object{{"K": "v"}},
		"List":    []any{"s", awsproto.Object{"A": int64(1)}, nil},
		"Empty":   []any{},
		"Map":     map[string]string{"b": "2", "a": "1"},
		"Struct":  map[string]any{"Inner": "i"},
		"Bytes":   []byte("hi"),
		"Proto":   awsproto.JSON11, // a fmt.Stringer
		"Bad Key": "skipped in XML",
	}
}

func TestEncodeQuery(t *testing.T) {
	w := httptest.NewRecorder()
	req := &awsproto.Request{Protocol: awsproto.Query, Service: "cloudformation", Action: "DescribeStacks", RequestID: "rid-1"}
	awsproto.Encode(w, req, sample(), nil)
	want := `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>` +
		`<Bool>true</Bool><Bytes>aGk=</Bytes><Empty></Empty><Float>2.5</Float><Int>-42</Int><Int32>7</Int32>` +
		`<List><member>s</member><member><A>1</A></member></List>` +
		`<Map><entry><key>a</key><value>1</value></entry><entry><key>b</key><value>2</value></entry></Map>` +
		`<Objs><member><K>v</K></member></Objs><Proto>awsJson1_1</Proto>` +
		`<Str>a&lt;b&gt;&amp;&#34;c&#34;</Str><Strs><member>x</member><member>y</member></Strs>` +
		`<Struct><Inner>i</Inner></Struct><Time>2026-03-04T05:06:07.890Z</Time><TimePtr>2026-03-04T05:06:07.890Z</TimePtr>` +
		`<Whole>3</Whole></DescribeStacksResult><ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></DescribeStacksResponse>`
	if diff := cmp.Diff(want, w.Body.String()); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	checkHeaders(t, w, 200, map[string]string{"Content-Type": "text/xml", "X-Amzn-Requestid": "rid-1"})
}

func TestEncodeQueryNilResultAndNamespaces(t *testing.T) {
	tests := []struct{ service, action, want string }{
		{"sts", "GetCallerIdentity", `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`},
		{"monitoring", "PutMetricData", `<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PutMetricDataResponse>`},
		{"other", "Op", `<OpResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></OpResponse>`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		awsproto.Encode(w, &awsproto.Request{Service: tt.service, Action: tt.action, RequestID: "r"}, nil, nil)
		if diff := cmp.Diff(tt.want, w.Body.String()); diff != "" {
			t.Errorf("%s body (-want +got):\n%s", tt.service, diff)
		}
	}
	w := httptest.NewRecorder()
	awsproto.Encode(w, &awsproto.Request{Service: "sts", Action: "Op", RequestID: "r"}, awsproto.Object{}, nil)
	if want := `<OpResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><OpResult></OpResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></OpResponse>`; w.Body.String() != want {
		t.Errorf("empty result body = %s, want %s", w.Body.String(), want)
	}
}

func TestEncodeQueryError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"sender", awsproto.Errorf(400, "ValidationError", "Stack [x] does not exist & <never> will"), 400,
			`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code>` +
				`<Message>Stack [x] does not exist &amp; &lt;never&gt; will</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"receiver", &awsproto.Error{Code: "InternalFailure", Message: "m", Status: 503}, 503,
			`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Receiver</Type><Code>InternalFailure</Code>` +
				`<Message>m</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"plain error", errors.New("x"), 500,
			`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Receiver</Type><Code>InternalFailure</Code>` +
				`<Message>x</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"typed nil", (*awsproto.Error)(nil), 500,
			`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Receiver</Type><Code>InternalFailure</Code>` +
				`<Message>internal error</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"zero status", &awsproto.Error{Code: "C", Message: "m"}, 400,
			`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>C</Code>` +
				`<Message>m</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"success status", &awsproto.Error{Code: "C", Message: "m", Status: 200, Sender: true}, 400,
			`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>C</Code>` +
				`<Message>m</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			req := &awsproto.Request{Protocol: awsproto.Query, Service: "cloudformation", Action: "DescribeStacks", RequestID: "rid"}
			awsproto.Encode(w, req, awsproto.Object{"Ignored": "x"}, tt.err)
			if diff := cmp.Diff(tt.want, w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			checkHeaders(t, w, tt.status, map[string]string{"Content-Type": "text/xml", "X-Amzn-Requestid": "rid"})
		})
	}
}

func TestEncodeJSON(t *testing.T) {
	w := httptest.NewRecorder()
	req := &awsproto.Request{Protocol: awsproto.JSON11, Action: "X", RequestID: "rid"}
	in := sample()
	in["NaN"], in["Inf"], in["Huge"] = math.NaN(), math.Inf(-1), 1e300
	awsproto.Encode(w, req, in, nil)
	checkHeaders(t, w, 200, map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amzn-Requestid": "rid"})
	var got map[string]any
	dec := json.NewDecoder(w.Body)
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	want := map[string]any{
		"Str": `a<b>&"c"`, "Bool": true, "Int": json.Number("-42"), "Int32": json.Number("7"), "Float": json.Number("2.5"),
		"Whole": json.Number("3"), "Time": json.Number("1772600767.89"), "TimePtr": json.Number("1772600767.89"),
		"Strs": []any{"x", "y"}, "Objs": []any{map[string]any{"K": "v"}}, "List": []any{"s", map[string]any{"A": json.Number("1")}, nil},
		"Empty": []any{}, "Map": map[string]any{"a": "1", "b": "2"}, "Struct": map[string]any{"Inner": "i"}, "Bytes": "aGk=",
		"Proto": "awsJson1_1", "Bad Key": "skipped in XML", "NaN": "NaN", "Inf": "-Infinity", "Huge": json.Number("1e+300"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	w = httptest.NewRecorder()
	awsproto.Encode(w, req, nil, nil)
	if got := w.Body.String(); got != "{}" {
		t.Errorf("nil result body = %s, want {}", got)
	}
}

func TestEncodeJSONError(t *testing.T) {
	tests := []struct {
		service, code           string
		wantType, wantQueryCode string
	}{
		{"organizations", "AccountNotFoundException", "AccountNotFoundException", "AccountNotFoundException"},
		// CloudWatch over awsJson1_0 (recent botocore) is query-compatible like its CBOR form.
		{"monitoring", "InvalidParameterValue", "InvalidParameterValueException", "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			w := httptest.NewRecorder()
			req := &awsproto.Request{Protocol: awsproto.JSON11, Service: tt.service, Action: "Op", RequestID: "rid"}
			awsproto.Encode(w, req, nil, awsproto.Errorf(400, tt.code, "no account %q", "1"))
			checkHeaders(t, w, 400, map[string]string{
				"Content-Type": "application/x-amz-json-1.1", "X-Amzn-Requestid": "rid",
				"X-Amzn-Errortype": tt.wantType, "X-Amzn-Query-Error": tt.wantQueryCode + ";Sender",
			})
			want := `{"__type":"` + tt.wantType + `","message":"no account \"1\""}`
			if got := w.Body.String(); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
		})
	}
}

func TestEncodeCBOR(t *testing.T) {
	w := httptest.NewRecorder()
	req := &awsproto.Request{Protocol: awsproto.RPCv2CBOR, Service: "monitoring", Action: "X", RequestID: "rid"}
	awsproto.Encode(w, req, sample(), nil)
	checkHeaders(t, w, 200, map[string]string{"Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor", "X-Amzn-Requestid": "rid"})
	got, err := cbor.Decode(w.Body.Bytes())
	if err != nil {
		t.Fatalf("response is not CBOR: %v", err)
	}
	tm := &cbor.Tag{ID: 1, Value: cbor.Float64(1772600767.89)}
	want := cbor.Map{
		"Str": cbor.String(`a<b>&"c"`), "Bool": cbor.Bool(true), "Int": cbor.NegInt(42), "Int32": cbor.Uint(7),
		"Float": cbor.Float64(2.5), "Whole": cbor.Uint(3), "Time": tm, "TimePtr": tm,
		"Strs": cbor.List{cbor.String("x"), cbor.String("y")}, "Objs": cbor.List{cbor.Map{"K": cbor.String("v")}},
		"List":  cbor.List{cbor.String("s"), cbor.Map{"A": cbor.Uint(1)}, &cbor.Nil{}},
		"Empty": cbor.List{}, "Map": cbor.Map{"a": cbor.String("1"), "b": cbor.String("2")},
		"Struct": cbor.Map{"Inner": cbor.String("i")}, "Bytes": cbor.Slice("hi"), "Proto": cbor.String("awsJson1_1"),
		"Bad Key": cbor.String("skipped in XML"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestEncodeCBORError(t *testing.T) {
	tests := []struct {
		service, code      string
		wantType, wantCode string
	}{
		{"monitoring", "ResourceNotFound", "com.amazonaws.cloudwatch#ResourceNotFound", "ResourceNotFound"},
		{"monitoring", "InvalidParameterValue", "com.amazonaws.cloudwatch#InvalidParameterValueException", "InvalidParameterValue"},
		{"monitoring", "MissingRequiredParameterException", "com.amazonaws.cloudwatch#MissingRequiredParameterException", "MissingParameter"},
		{"monitoring", "ThrottlingException", "com.amazonaws.cloudwatch#ThrottlingException", "ThrottlingException"},
		{"", "SomeError", "SomeError", "SomeError"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			w := httptest.NewRecorder()
			req := &awsproto.Request{Protocol: awsproto.RPCv2CBOR, Service: tt.service, RequestID: "rid"}
			awsproto.Encode(w, req, nil, awsproto.Errorf(404, tt.code, "msg"))
			checkHeaders(t, w, 404, map[string]string{
				"Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor", "X-Amzn-Requestid": "rid",
				"X-Amzn-Query-Error": tt.wantCode + ";Sender",
			})
			got, err := cbor.Decode(w.Body.Bytes())
			if err != nil {
				t.Fatalf("response is not CBOR: %v", err)
			}
			if diff := cmp.Diff(cbor.Map{"__type": cbor.String(tt.wantType), "message": cbor.String("msg")}, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeError(t *testing.T) {
	tests := []struct {
		name     string
		req      *http.Request
		status   int
		ct, body string
	}{
		{"query", newQuery("Action=X"), 400, "text/xml", "<Code>Throttling</Code>"},
		{"json", newJSON("AmazonSSM.GetParameter", "{}"), 400, "application/x-amz-json-1.1", `"__type":"Throttling"`},
		{"cbor", newCBOR("DescribeAlarms", nil), 400, "application/cbor", "com.amazonaws.cloudwatch#Throttling"},
		{"query unsigned", func() *http.Request { r := newQuery("Action=X"); r.Header.Del("Authorization"); return r }(),
			400, "text/xml", "<ErrorResponse><Error>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			awsproto.EncodeError(w, tt.req, awsproto.ThrottlingError(awsproto.Query))
			if !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("body %q does not contain %q", w.Body.String(), tt.body)
			}
			if id := w.Header().Get("X-Amzn-Requestid"); !uuidRE.MatchString(id) {
				t.Errorf("request id %q is not a UUID", id)
			}
			checkHeaders(t, w, tt.status, map[string]string{"Content-Type": tt.ct})
		})
	}

	w := httptest.NewRecorder()
	awsproto.EncodeError(w, newQuery("Action=X"), nil)
	checkHeaders(t, w, 500, map[string]string{"Content-Type": "text/xml"})

	w = httptest.NewRecorder()
	awsproto.Encode(w, nil, nil, fmt.Errorf("wrapped: %w", awsproto.Errorf(409, "AlreadyExists", "m")))
	checkHeaders(t, w, 409, map[string]string{"Content-Type": "text/xml"})
	if !strings.Contains(w.Body.String(), "<Code>AlreadyExists</Code>") {
		t.Errorf("body %q lacks the wrapped error code", w.Body.String())
	}
}

func TestThrottlingErrorAndProtocolName(t *testing.T) {
	type row struct {
		Name string
		Err  awsproto.Error
	}
	var got []row
	for _, p := range []awsproto.Protocol{awsproto.Query, awsproto.JSON11, awsproto.RPCv2CBOR, awsproto.Protocol(9)} {
		got = append(got, row{awsproto.ProtocolName(p), *awsproto.ThrottlingError(p)})
	}
	want := []row{
		{"awsQuery", awsproto.Error{Code: "Throttling", Message: "Rate exceeded", Status: 400, Sender: true}},
		{"awsJson1_1", awsproto.Error{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, Sender: true}},
		{"rpcv2Cbor", awsproto.Error{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, Sender: true}},
		{"Protocol(9)", awsproto.Error{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, Sender: true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func checkHeaders(t *testing.T, w *httptest.ResponseRecorder, status int, want map[string]string) {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d", w.Code, status)
	}
	got := map[string]string{}
	for k := range want {
		got[k] = w.Header().Get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(w.Body.Len()) {
		t.Errorf("Content-Length = %s, body has %d bytes", cl, w.Body.Len())
	}
}
