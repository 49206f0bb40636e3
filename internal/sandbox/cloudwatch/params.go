package cloudwatch

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// The accessors below read members of a decoded request. awsQuery requests (the AWS CLI) carry
// every scalar as a string and lists as []any; Smithy RPC v2 CBOR requests (aws-sdk-go-v2)
// carry typed values. Each accessor accepts both and answers malformed values with
// InvalidParameterValue, as CloudWatch does for values it cannot parse.

func badValue(member string, v any) *awsproto.Error {
	return awsproto.Errorf(400, codeInvalidParameterValue, "Value '%v' for parameter %s is invalid.", v, member)
}

func nullMember(member string) *awsproto.Error {
	return awsproto.Errorf(400, codeValidationError,
		"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(member))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func str(p awsproto.Object, member string) (string, *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", badValue(member, v)
	}
}

func requiredStr(p awsproto.Object, member string) (string, *awsproto.Error) {
	v, err := str(p, member)
	if err == nil && v == "" {
		err = nullMember(member)
	}
	return v, err
}

func boolean(p awsproto.Object, member string) (b, present bool, err *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return false, false, nil
	case bool:
		return v, true, nil
	case string:
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			return false, false, badValue(member, v)
		}
		return b, true, nil
	default:
		return false, false, badValue(member, v)
	}
}

func integer(p awsproto.Object, member string) (n int64, present bool, err *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return 0, false, nil
	case int64:
		return v, true, nil
	case int:
		return int64(v), true, nil
	case int32:
		return int64(v), true, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, false, badValue(member, v)
		}
		return int64(v), true, nil
	case string:
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			return 0, false, badValue(member, v)
		}
		return n, true, nil
	default:
		return 0, false, badValue(member, v)
	}
}

// int32Member reads an integer that must fit the model's Integer type.
func int32Member(p awsproto.Object, member string) (int32, bool, *awsproto.Error) {
	n, ok, err := integer(p, member)
	if err != nil {
		return 0, false, err
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false, badValue(member, n)
	}
	return int32(n), ok, nil
}

func toFloat(member string, v any) (float64, *awsproto.Error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case int:
		return float64(v), nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil && !isRangeErr(err) {
			return 0, badValue(member, v)
		}
		return f, nil
	default:
		return 0, badValue(member, v)
	}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func float(p awsproto.Object, member string) (f float64, present bool, err *awsproto.Error) {
	v, ok := p[member]
	if !ok || v == nil {
		return 0, false, nil
	}
	f, err = toFloat(member, v)
	return f, err == nil, err
}

// timestamp reads a time: a time.Time (CBOR), an ISO 8601 string (query) or epoch seconds.
func timestamp(p awsproto.Object, member string) (t time.Time, present bool, err *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
			if t, perr := time.Parse(layout, v); perr == nil {
				return t.UTC(), true, nil
			}
		}
		if f, perr := strconv.ParseFloat(v, 64); perr == nil {
			return epoch(f), true, nil
		}
		return time.Time{}, false, badValue(member, v)
	case float64:
		return epoch(v), true, nil
	case int64:
		return time.Unix(v, 0).UTC(), true, nil
	default:
		return time.Time{}, false, badValue(member, v)
	}
}

func epoch(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// list returns a list member; a query-style empty list ("") and an absent member read as nil.
func list(p awsproto.Object, member string) ([]any, *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return nil, nil
	case []any:
		return v, nil
	case string:
		if v == "" {
			return nil, nil
		}
		return nil, badValue(member, v)
	default:
		return nil, badValue(member, v)
	}
}

func strList(p awsproto.Object, member string) ([]string, *awsproto.Error) {
	l, err := list(p, member)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, badValue(member, e)
		}
		out = append(out, s)
	}
	return out, nil
}

func floatList(p awsproto.Object, member string) ([]float64, *awsproto.Error) {
	l, err := list(p, member)
	if err != nil {
		return nil, err
	}
	out := make([]float64, 0, len(l))
	for _, e := range l {
		f, err := toFloat(member, e)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func asObject(v any) (awsproto.Object, bool) {
	switch o := v.(type) {
	case awsproto.Object:
		return o, true
	case map[string]any:
		return awsproto.Object(o), true
	}
	return nil, false
}

func objList(p awsproto.Object, member string) ([]awsproto.Object, *awsproto.Error) {
	l, err := list(p, member)
	if err != nil {
		return nil, err
	}
	out := make([]awsproto.Object, 0, len(l))
	for _, e := range l {
		o, ok := asObject(e)
		if !ok {
			return nil, badValue(member, e)
		}
		out = append(out, o)
	}
	return out, nil
}
