package awsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// decodeJSON decodes an awsJson1_1 request body. An empty body or null is an empty input.
func decodeJSON(body []byte) (Object, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return Object{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, serializationError("invalid JSON request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, serializationError("invalid JSON request body: unexpected data after the top-level value")
	}
	if v == nil {
		return Object{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, serializationError("invalid JSON request body: the top-level value must be an object")
	}
	o, err := fromJSON(m)
	if err != nil {
		return nil, err
	}
	return o.(Object), nil
}

func serializationError(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "SerializationException", format, args...)
}

// fromJSON converts encoding/json's generic values into Object values, integral numbers to
// int64 and the others to float64.
func fromJSON(v any) (any, *Error) {
	switch v := v.(type) {
	case map[string]any:
		o := make(Object, len(v))
		for k, e := range v {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			o[k] = c
		}
		return o, nil
	case []any:
		for i, e := range v {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
		return v, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, serializationError("invalid JSON number %s", truncate(string(v), 64))
		}
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), nil
		}
		return f, nil
	default: // string, bool, nil
		return v, nil
	}
}

// toJSON converts an encodable value into something encoding/json writes the way awsJson1_1
// expects: timestamps as epoch seconds, non-finite doubles as the strings Smithy specifies.
func toJSON(v any) any {
	switch v := canonical(v).(type) {
	case Object:
		m := make(map[string]any, len(v))
		for k, e := range v {
			if e = canonical(e); e != nil {
				m[k] = toJSON(e)
			}
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toJSON(e)
		}
		return out
	case map[string]string:
		return v
	case time.Time:
		return json.Number(epochSeconds(v))
	case float64:
		if s, ok := nonFinite(v); ok {
			return s
		}
		return json.Number(formatFloat(v))
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	default: // nil, string, bool, int64
		return v
	}
}

// epochSeconds formats t as epoch seconds with millisecond precision.
func epochSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', -1, 64)
}

// nonFinite returns the Smithy spelling of NaN and the infinities.
func nonFinite(f float64) (string, bool) {
	switch {
	case math.IsNaN(f):
		return "NaN", true
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	}
	return "", false
}

// formatFloat formats a finite f in its shortest form, without an exponent for the magnitudes
// numbers usually have (as encoding/json and JavaScript do).
func formatFloat(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func marshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toJSON(v)); err != nil {
		// Unreachable: toJSON leaves only types encoding/json accepts, and formatFloat only
		// valid numbers. Answer with an empty object rather than a broken body.
		return []byte("{}")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
