package awsproto

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The accessors below read a member of an input Object whatever protocol decoded it: query
// inputs hold only strings, JSON inputs numbers as int64/float64, CBOR inputs time.Time and
// []byte as well. They never panic; a missing member or one of an unusable type reads as absent.

// String returns member name as a string. Numbers and booleans are formatted, timestamps with
// Timestamp; a missing member, nil or a list or structure reads as "".
func (o Object) String(name string) string { return formatScalar(o[name]) }

func formatScalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		if s, ok := nonFinite(v); ok {
			return s
		}
		return formatFloat(v)
	case time.Time:
		return Timestamp(v)
	case []byte:
		return string(v)
	}
	return ""
}

// Bool returns member name as a boolean; strings "true" and "false" (any case) convert. ok is
// false when the member is missing or not a boolean.
func (o Object) Bool(name string) (v, ok bool) {
	switch v := o[name].(type) {
	case bool:
		return v, true
	case string:
		switch {
		case strings.EqualFold(v, "true"):
			return true, true
		case strings.EqualFold(v, "false"):
			return false, true
		}
	}
	return false, false
}

// Int returns member name as an integer; decimal strings and integral floats convert. ok is
// false when the member is missing, not integral or out of the int64 range.
func (o Object) Int(name string) (int64, bool) {
	switch v := o[name].(type) {
	case int64:
		return v, true
	case float64:
		return floatToInt(v)
	case string:
		s := strings.TrimSpace(v)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return floatToInt(f)
		}
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// Float returns member name as a float64; integers and numeric strings (including "NaN",
// "Infinity" and "-Infinity") convert. ok is false when the member is missing or not a number.
func (o Object) Float(name string) (float64, bool) {
	switch v := o[name].(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case string:
		s := strings.TrimSpace(v)
		switch s {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
	}
	return 0, false
}

// Strings returns list member name as strings, formatting scalar items as String does and
// skipping the others. It returns nil when the member is missing and a non-nil empty slice for
// an empty list (including the query protocol's "Name="), so callers can tell "not given"
// from "given empty".
func (o Object) Strings(name string) []string {
	switch v := o[name].(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if isScalar(e) {
				out = append(out, formatScalar(e))
			}
		}
		return out
	case []string:
		return v
	case string:
		if v == "" {
			return []string{}
		}
	}
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int64, float64, time.Time:
		return true
	}
	return false
}

// Objects returns list member name as structures, skipping items that are not structures. Like
// Strings it returns nil for a missing member and a non-nil empty slice for an empty list.
func (o Object) Objects(name string) []Object {
	switch v := o[name].(type) {
	case []any:
		out := make([]Object, 0, len(v))
		for _, e := range v {
			switch e := e.(type) {
			case Object:
				out = append(out, e)
			case map[string]any:
				out = append(out, Object(e))
			}
		}
		return out
	case []Object:
		return v
	case string:
		if v == "" {
			return []Object{}
		}
	}
	return nil
}

// Object returns structure member name, or nil when it is missing or not a structure.
func (o Object) Object(name string) Object {
	switch v := o[name].(type) {
	case Object:
		return v
	case map[string]any:
		return Object(v)
	}
	return nil
}

// StringMap returns map member name (a query Name.entry.N.key/value map, a JSON or CBOR
// object) with its scalar values formatted as String does. It returns nil when the member is
// missing and a non-nil empty map for an empty one.
func (o Object) StringMap(name string) map[string]string {
	var m Object
	switch v := o[name].(type) {
	case Object:
		m = v
	case map[string]any:
		m = Object(v)
	case map[string]string:
		return v
	case string:
		if v == "" {
			return map[string]string{}
		}
		return nil
	default:
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		if isScalar(e) {
			out[k] = formatScalar(e)
		}
	}
	return out
}

// timeLayouts are the ISO 8601 forms clients send in query strings; a missing zone means UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02",
}

// Time returns timestamp member name: a time.Time (CBOR), epoch seconds as a number (JSON) or
// a numeric string, or an ISO 8601 string (query). ok is false when the member is missing or
// unparseable.
func (o Object) Time(name string) (time.Time, bool) {
	switch v := o[name].(type) {
	case time.Time:
		return v, true
	case int64:
		return time.Unix(v, 0).UTC(), true
	case float64:
		return epochTime(v)
	case string:
		s := strings.TrimSpace(v)
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), true
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return epochTime(f)
		}
	}
	return time.Time{}, false
}

// epochTime converts epoch seconds to a time with millisecond precision, the precision AWS
// timestamps carry. ±2^53 seconds is far beyond any meaningful date and keeps the conversion
// exact; larger magnitudes, infinities and NaN are rejected.
func epochTime(secs float64) (time.Time, bool) {
	if math.IsNaN(secs) || math.Abs(secs) > 1<<53 {
		return time.Time{}, false
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e3))*1e6).UTC(), true
}

// ThrottlingError returns the error AWS answers a throttled call with in protocol p: code
// "Throttling" on the query protocol and "ThrottlingException" on the others, message "Rate
// exceeded", status 400. The SDKs retry both codes.
func ThrottlingError(p Protocol) *Error {
	return Errorf(http.StatusBadRequest, codeFor(p, "Throttling"), "Rate exceeded")
}

// ProtocolName returns the Smithy name of p: "awsQuery", "awsJson1_1" or "rpcv2Cbor".
func ProtocolName(p Protocol) string {
	switch p {
	case Query:
		return "awsQuery"
	case JSON11:
		return "awsJson1_1"
	case RPCv2CBOR:
		return "rpcv2Cbor"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// String returns ProtocolName(p).
func (p Protocol) String() string { return ProtocolName(p) }
