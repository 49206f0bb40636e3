package awsproto_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// checkDecoded asserts the fuzz invariants: Decode never panics, fails only with an
// *awsproto.Error, always returns a Request, and whatever it decodes can be encoded back in
// every protocol (handlers echo input).
func checkDecoded(t *testing.T, r *http.Request) {
	t.Helper()
	req, err := awsproto.Decode(r)
	if req == nil {
		t.Fatal("Decode returned a nil Request")
	}
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			t.Fatalf("Decode error %v is a %T, not an *awsproto.Error", err, err)
		}
		if ae.Status < 400 || ae.Status > 599 || ae.Code == "" {
			t.Fatalf("Decode error %+v has no usable status or code", ae)
		}
		return
	}
	if req.Params == nil {
		t.Fatal("Decode succeeded with nil Params")
	}
	for _, p := range []awsproto.Protocol{awsproto.Query, awsproto.JSON11, awsproto.RPCv2CBOR} {
		out := *req
		out.Protocol = p
		w := httptest.NewRecorder()
		awsproto.Encode(w, &out, awsproto.Object{"Echo": req.Params}, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("encoding the decoded params in %v answered %d", p, w.Code)
		}
	}
}

func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{
		"Action=DescribeStacks&Version=2010-05-15&StackName=web",
		"Action=CreateStack&Parameters.member.1.ParameterKey=K&Parameters.member.1.ParameterValue=V&Capabilities.member.1=CAPABILITY_IAM",
		"Action=X&Attributes.entry.1.key=k&Attributes.entry.1.value=v&Tags=",
		"Action=X&A.member.2.member.1=x&A.member.10.B.entry.3.key=k",
		"Action=X&L.member.0=a",
		"Action=X&L=x&L.member.1=a",
		"Action=X&A..B=1&%zz",
		"Version=1",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkDecoded(t, newQuery(body))
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"MaxResults":2,"NextToken":"t"}`,
		`{"Name":"/a","WithDecryption":true,"F":1.5,"E":-1e3,"Big":1e30,"L":[null,{"k":[]}]}`,
		`{"N":1e999}`,
		`[1,2]`,
		`{} {}`,
		`null`,
		``,
		`{"a":`,
		"{\"s\":\"\xff\"}",
	} {
		f.Add("AmazonSSM.GetParameter", s)
	}
	f.Add("NoDot", "{}")
	f.Fuzz(func(t *testing.T, target, body string) {
		checkDecoded(t, newJSON(target, body))
	})
}

func FuzzDecodeCBOR(f *testing.F) {
	for _, v := range []cbor.Value{
		cbor.Map{"AlarmNames": cbor.List{cbor.String("a")}, "MaxRecords": cbor.Uint(10)},
		cbor.Map{"T": &cbor.Tag{ID: 1, Value: cbor.Float64(1.5e9)}, "N": cbor.NegInt(3), "B": cbor.Slice("x")},
		cbor.Map{"T": &cbor.Tag{ID: 1, Value: cbor.Float64(1e300)}, "U": cbor.Uint(1 << 63)},
		cbor.Map{"Nested": cbor.Map{"L": cbor.List{&cbor.Nil{}, &cbor.Undefined{}, cbor.Float32(0.5), cbor.Bool(true)}}},
		cbor.List{},
		&cbor.Tag{ID: 2, Value: cbor.Slice{1}},
	} {
		f.Add(cbor.Encode(v))
	}
	// Indefinite-length map and string, a truncated map, and a bare break byte.
	f.Add([]byte{0xbf, 0x61, 'k', 0x7f, 0x61, 'v', 0xff, 0xff})
	f.Add([]byte{0xa1, 0x61})
	f.Add([]byte{0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecoded(t, newCBOR("PutMetricData", body))
		// The same bytes gzip-compressed must behave the same way.
		r := newCBOR("PutMetricData", gzipped(t, body))
		r.Header.Set("Content-Encoding", "gzip")
		checkDecoded(t, r)
		if len(body) > 0 {
			r := newCBOR("PutMetricData", body)
			r.Header.Set("Content-Encoding", "gzip") // not gzip data
			checkDecoded(t, r)
		}
	})
}
