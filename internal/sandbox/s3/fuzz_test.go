package s3

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/sandbox/iam"
)

// FuzzDecodeChunked: any body decodes or fails, never panics; a body framed by the encoder
// below decodes to its content.
func FuzzDecodeChunked(f *testing.F) {
	f.Add([]byte("5;chunk-signature=abc\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"))
	f.Add([]byte("0\r\n\r\n"))
	f.Add([]byte("zz\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _, _ = decodeChunked(raw)
		var b bytes.Buffer
		for i := 0; i < len(raw); i += 7 {
			chunk := raw[i:min(i+7, len(raw))]
			fmt.Fprintf(&b, "%x;chunk-signature=00\r\n", len(chunk))
			b.Write(chunk)
			b.WriteString("\r\n")
		}
		b.WriteString("0\r\n\r\n")
		got, _, err := decodeChunked(b.Bytes())
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, raw)
		}
	})
}

// FuzzServe: any request to the store is answered with a status, never a panic.
func FuzzServe(f *testing.F) {
	f.Add("PUT", "/b1", "", "")
	f.Add("PUT", "/b1/k", "x-id=PutObject", "data")
	f.Add("GET", "/b1", "list-type=2&prefix=a&delimiter=/&max-keys=1", "")
	f.Add("POST", "/b1/k", "uploads", "")
	f.Add("POST", "/b1", "delete", "<Delete><Object><Key>k</Key></Object></Delete>")
	f.Add("PUT", "/b1", "policy", `{"Statement":[]}`)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, " \r\n#") {
			return
		}
		s := New(nil, nil)
		_ = s.CreateBucket(Bucket{Name: "b1", Account: "111111111111", Region: "us-east-1"})
		r, err := http.NewRequest(method, "http://127.0.0.1"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		s.Serve(w, Route(r, "id"), iam.Principal{Account: "111111111111"}, "us-east-1")
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
