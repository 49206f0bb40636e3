package awsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Content types of the responses.
const (
	contentTypeXML  = "text/xml"
	contentTypeJSON = "application/x-amz-json-1.1"
	contentTypeCBOR = "application/cbor"
)

// queryNamespaces are the XML namespaces of the awsQuery services, keyed by signing name.
var queryNamespaces = map[string]string{
	"cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
	"sts":            "https://sts.amazonaws.com/doc/2011-06-15/",
	"monitoring":     "http://monitoring.amazonaws.com/doc/2010-08-01/",
}

// cborNamespaces are the Smithy namespaces of the RPC v2 CBOR services, keyed by signing name;
// the error __type is a shape id in that namespace.
var cborNamespaces = map[string]string{
	"monitoring": "com.amazonaws.cloudwatch",
}

// errorShapes maps the awsQuery error codes of query-compatible services (served on JSON or
// CBOR as well as on query) to the names of their error shapes, where the two differ. Clients
// read the shape name from __type (to build a typed error) and the query code from
// X-Amzn-Query-Error (their ErrorCode()).
var errorShapes = map[string]map[string]string{
	"monitoring": {
		"InternalServiceError":        "InternalServiceFault",
		"InvalidFormat":               "InvalidFormatFault",
		"InvalidParameterCombination": "InvalidParameterCombinationException",
		"InvalidParameterInput":       "DashboardInvalidInputError",
		"InvalidParameterValue":       "InvalidParameterValueException",
		"LimitExceeded":               "LimitExceededFault",
		"MissingParameter":            "MissingRequiredParameterException",
		"ValidationError":             "ValidationException",
	},
}

// Encode writes the answer to req: result on success, or err, in req.Protocol. Every response
// carries the x-amzn-RequestId header with req.RequestID.
//
// err is normally an *Error (possibly wrapped); any other error is answered as a 500
// InternalFailure carrying err's text. A nil req (a request Decode never saw) is answered in
// the query protocol; EncodeError picks the protocol from the raw request instead.
//
// Result values may be the Object value types plus, for handler convenience, other integer and
// float types, []string, []Object, map[string]any (a structure), map[string]string (a map,
// "entry"/"key"/"value" in XML), []byte (base64 in XML and JSON) and *time.Time. Nil
// structure members are omitted.
func Encode(w http.ResponseWriter, req *Request, result Object, err error) {
	if req == nil {
		req = &Request{Protocol: Query}
	}
	id := req.RequestID
	if id == "" {
		id = newRequestID()
	}
	h := w.Header()
	h.Set("x-amzn-RequestId", id)
	if err != nil {
		encodeError(w, req, id, err)
		return
	}
	switch req.Protocol {
	case JSON11:
		if result == nil {
			result = Object{}
		}
		write(w, http.StatusOK, contentTypeJSON, marshalJSON(result))
	case RPCv2CBOR:
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
		if result == nil {
			result = Object{}
		}
		write(w, http.StatusOK, contentTypeCBOR, cbor.Encode(toCBOR(result)))
	default:
		write(w, http.StatusOK, contentTypeXML, queryResponse(req, id, result))
	}
}

// EncodeError writes err as the answer to the raw request r, in the protocol r appears to use.
// It is meant for failures before or during Decode; a nil err is answered as an internal
// failure.
func EncodeError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = errors.New("unknown error")
	}
	req := &Request{Protocol: sniff(r), RequestID: newRequestID()}
	if sc, aerr := parseAuth(r, req.Protocol); aerr == nil {
		req.AccessKeyID, req.Region, req.Service = sc.accessKeyID, sc.region, sc.service
	}
	Encode(w, req, nil, err)
}

func write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to tell it
}

// apiError returns err as an *Error with a usable status.
func apiError(err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Code: "InternalFailure", Message: err.Error(), Status: http.StatusInternalServerError}
	}
	if e == nil {
		// A nil *Error in a non-nil error interface: err.Error() would dereference it.
		return &Error{Code: "InternalFailure", Message: "internal error", Status: http.StatusInternalServerError}
	}
	out := *e
	if out.Status < 400 || out.Status > 599 {
		// Zero means the default; any other non-error status would make the client take the
		// error for a success. 400 is what AWS uses for nearly all errors.
		out.Status = http.StatusBadRequest
	}
	if out.Code == "" {
		out.Code = "InternalFailure"
	}
	return &out
}

// fault is the awsQuery fault type: Receiver for server faults, Sender for everything else.
func fault(e *Error) string {
	if !e.Sender && e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

func encodeError(w http.ResponseWriter, req *Request, id string, err error) {
	e := apiError(err)
	h := w.Header()
	switch req.Protocol {
	case JSON11:
		queryCode, shape := errorNames(req.Service, e.Code)
		h.Set("X-Amzn-ErrorType", shape)
		// Query-compatible clients (CloudWatch) take the error code from this header; the
		// others ignore it.
		h.Set("X-Amzn-Query-Error", queryCode+";"+fault(e))
		write(w, e.Status, contentTypeJSON, marshalJSON(Object{"__type": shape, "message": e.Message}))
	case RPCv2CBOR:
		queryCode, shape := errorNames(req.Service, e.Code)
		if ns := cborNamespaces[req.Service]; ns != "" {
			shape = ns + "#" + shape
		}
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
		h.Set("X-Amzn-Query-Error", queryCode+";"+fault(e))
		write(w, e.Status, contentTypeCBOR, cbor.Encode(toCBOR(Object{"__type": shape, "message": e.Message})))
	default:
		var b bytes.Buffer
		b.WriteString("<ErrorResponse")
		writeXMLNS(&b, req.Service)
		b.WriteString("><Error><Type>")
		b.WriteString(fault(e))
		b.WriteString("</Type><Code>")
		escape(&b, e.Code)
		b.WriteString("</Code><Message>")
		escape(&b, e.Message)
		b.WriteString("</Message></Error><RequestId>")
		escape(&b, id)
		b.WriteString("</RequestId></ErrorResponse>")
		write(w, e.Status, contentTypeXML, b.Bytes())
	}
}

// errorNames returns the awsQuery code and the error shape name of code, which a handler may
// give in either spelling.
func errorNames(service, code string) (queryCode, shape string) {
	for q, s := range errorShapes[service] {
		if code == q || code == s {
			return q, s
		}
	}
	return code, code
}

func writeXMLNS(b *bytes.Buffer, service string) {
	if ns := queryNamespaces[service]; ns != "" {
		b.WriteString(` xmlns="`)
		escape(b, ns)
		b.WriteString(`"`)
	}
}

// queryResponse renders the awsQuery success document.
func queryResponse(req *Request, id string, result Object) []byte {
	action := req.Action
	if !validName(action) {
		action = "Unknown"
	}
	var b bytes.Buffer
	b.WriteString("<" + action + "Response")
	writeXMLNS(&b, req.Service)
	b.WriteString(">")
	if result != nil {
		b.WriteString("<" + action + "Result>")
		writeXMLObject(&b, result)
		b.WriteString("</" + action + "Result>")
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	escape(&b, id)
	b.WriteString("</RequestId></ResponseMetadata></" + action + "Response>")
	return b.Bytes()
}

// writeXMLObject writes the members of o as elements, sorted by name so output is stable.
// Members whose names are not XML names are skipped rather than corrupting the document.
func writeXMLObject(b *bytes.Buffer, o Object) {
	for _, k := range slices.Sorted(maps.Keys(o)) {
		v := canonical(o[k])
		if v == nil || !validName(k) {
			continue
		}
		writeXMLElement(b, k, v)
	}
}

func writeXMLElement(b *bytes.Buffer, name string, v any) {
	b.WriteString("<" + name + ">")
	writeXMLValue(b, v)
	b.WriteString("</" + name + ">")
}

func writeXMLValue(b *bytes.Buffer, v any) {
	switch v := canonical(v).(type) {
	case nil:
	case Object:
		writeXMLObject(b, v)
	case []any:
		for _, e := range v {
			if e = canonical(e); e != nil {
				writeXMLElement(b, "member", e)
			}
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			b.WriteString("<entry><key>")
			escape(b, k)
			b.WriteString("</key><value>")
			escape(b, v[k])
			b.WriteString("</value></entry>")
		}
	case string:
		escape(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if s, ok := nonFinite(v); ok {
			b.WriteString(s)
		} else {
			b.WriteString(formatFloat(v))
		}
	case time.Time:
		b.WriteString(Timestamp(v))
	case []byte:
		b.WriteString(base64.StdEncoding.EncodeToString(v))
	default:
		escape(b, fmt.Sprint(v))
	}
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // writing to a bytes.Buffer cannot fail
}

// validName reports whether s can be used as an XML element name (a conservative subset:
// no colons, so no namespace prefixes).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return utf8.ValidString(s)
}

// canonical reduces the convenience types Encode accepts to the Object value types plus
// map[string]string and []byte. Unknown types become their fmt.Sprint text.
func canonical(v any) any {
	switch v := v.(type) {
	case nil, Object, []any, map[string]string, string, bool, int64, float64, time.Time, []byte:
		return v
	case map[string]any:
		return Object(v)
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case []Object:
		out := make([]any, len(v))
		for i, o := range v {
			out[i] = o
		}
		return out
	case *time.Time:
		if v == nil {
			return nil
		}
		return *v
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint:
		return uintValue(uint64(v))
	case uint64:
		return uintValue(v)
	case float32:
		return float64(v)
	case fmt.Stringer:
		return v.String()
	case error:
		return v.Error()
	}
	return fmt.Sprint(v)
}

func uintValue(u uint64) any {
	if u > 1<<63-1 {
		return float64(u)
	}
	return int64(u)
}
