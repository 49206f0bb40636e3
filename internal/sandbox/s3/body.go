package s3

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// checksumAlgorithms are the algorithms of the x-amz-checksum-* headers, by header suffix.
var checksumAlgorithms = map[string]func() hash.Hash{
	"crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"crc64nvme": func() hash.Hash { return crc64.New(crc64NVME) },
	"sha1":      sha1.New,
	"sha256":    sha256.New,
}

// crc64NVME is the CRC-64/NVME polynomial (0xad93d23594c93659), bit-reversed as hash/crc64
// takes it.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// checksumOf returns the base64 checksum of data with alg (a lowercase header suffix).
func checksumOf(alg string, data []byte) string {
	h := checksumAlgorithms[alg]()
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// payload is a request body as S3 stores it: decoded from aws-chunked, with the checksum it
// was sent with (verified).
type payload struct {
	data      []byte
	algorithm string // lowercase, "" if none was sent
	checksum  string
}

// readPayload reads and verifies the body of an object upload: aws-chunked framing (signed or
// unsigned, with trailers), Content-MD5, x-amz-checksum-* in headers or trailers, and the
// size limit.
func readPayload(r *http.Request) (*payload, *Error) {
	if r.ContentLength > MaxObjectSize {
		return nil, entityTooLarge()
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxObjectSize+1<<20))
	if err != nil {
		return nil, errorf(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	data := raw
	trailers := http.Header{}
	if chunked(r) {
		if data, trailers, err = decodeChunked(raw); err != nil {
			return nil, invalidArgument("The aws-chunked body could not be decoded: %v", err)
		}
		if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
			if n, err := strconv.Atoi(d); err != nil || n != len(data) {
				return nil, errorf(400, "IncompleteBody", "You did not provide the number of bytes specified by the x-amz-decoded-content-length header.")
			}
		}
	}
	if len(data) > MaxObjectSize {
		return nil, entityTooLarge()
	}
	if sha := r.Header.Get("X-Amz-Content-Sha256"); isHexSHA256(sha) {
		sum := sha256.Sum256(data)
		if !strings.EqualFold(sha, hex.EncodeToString(sum[:])) {
			return nil, errorf(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	if m := r.Header.Get("Content-MD5"); m != "" {
		sum := md5.Sum(data)
		if m != base64.StdEncoding.EncodeToString(sum[:]) {
			if _, err := base64.StdEncoding.DecodeString(m); err != nil || len(m) != 24 {
				return nil, errorf(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
			}
			return nil, errorf(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
		}
	}
	p := &payload{data: data}
	for alg := range checksumAlgorithms {
		name := "X-Amz-Checksum-" + alg
		v := r.Header.Get(name)
		if v == "" {
			v = trailers.Get(name)
		}
		if v == "" {
			continue
		}
		if p.algorithm != "" {
			return nil, invalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		if got := checksumOf(alg, data); got != v {
			return nil, errorf(400, "BadDigest", "The %s you specified did not match the calculated checksum.", strings.ToUpper(alg))
		}
		p.algorithm, p.checksum = alg, v
	}
	return p, nil
}

func invalidRequest(msg string) *Error { return errorf(400, "InvalidRequest", "%s", msg) }

func entityTooLarge() *Error {
	return errorf(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size").
		with("MaxSizeAllowed", strconv.Itoa(MaxObjectSize))
}

// chunked reports whether the body uses aws-chunked framing.
func chunked(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return true
	}
	for _, v := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(c), "aws-chunked") {
				return true
			}
		}
	}
	return false
}

// decodeChunked decodes an aws-chunked body: chunks "HEXSIZE[;chunk-signature=…]\r\nDATA\r\n",
// a last chunk of size 0, then optional trailer lines and an empty line.
func decodeChunked(raw []byte) ([]byte, http.Header, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, nil, errors.New("truncated chunk header")
		}
		size, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 || n > MaxObjectSize {
			return nil, nil, errors.New("invalid chunk size")
		}
		if n == 0 {
			break
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, nil, errors.New("truncated chunk")
		}
		if crlf, err := br.ReadString('\n'); err != nil || strings.TrimRight(crlf, "\r\n") != "" {
			return nil, nil, errors.New("chunk not terminated by CRLF")
		}
	}
	tp := textproto.NewReader(br)
	h, err := tp.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("malformed trailer")
	}
	return out.Bytes(), http.Header(h), nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	return strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}
