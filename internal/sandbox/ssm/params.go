package ssm

import (
	"math"
	"strconv"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// The accessors below read members of a decoded awsJson1_1 request. JSON numbers may arrive as
// int64 or float64 depending on the decoder, and tests may hand-build string values, so every
// accessor accepts the forms a decoder can produce and reports a ValidationException otherwise.

func invalidMember(member string, v any) *awsproto.Error {
	return awsproto.Errorf(400, "ValidationException",
		"1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: Member has an invalid type", v, lowerFirst(member))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// str returns a string member; absent and null members read as "".
func str(p awsproto.Object, member string) (string, *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", invalidMember(member, v)
	}
}

// boolean returns a boolean member and whether it was present.
func boolean(p awsproto.Object, member string) (bool, bool, *awsproto.Error) {
	switch v := p[member].(type) {
	case nil:
		return false, false, nil
	case bool:
		return v, true, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, false, invalidMember(member, v)
		}
		return b, true, nil
	default:
		return false, false, invalidMember(member, v)
	}
}

// integer returns an integer member and whether it was present.
func integer(p awsproto.Object, member string) (int64, bool, *awsproto.Error) {
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
			return 0, false, invalidMember(member, v)
		}
		return int64(v), true, nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, invalidMember(member, v)
		}
		return n, true, nil
	default:
		return 0, false, invalidMember(member, v)
	}
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
		return nil, invalidMember(member, v)
	default:
		return nil, invalidMember(member, v)
	}
}

// strList returns a list of strings member.
func strList(p awsproto.Object, member string) ([]string, *awsproto.Error) {
	l, err := list(p, member)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, invalidMember(member, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// objList returns a list of structures member.
func objList(p awsproto.Object, member string) ([]awsproto.Object, *awsproto.Error) {
	l, err := list(p, member)
	if err != nil {
		return nil, err
	}
	out := make([]awsproto.Object, 0, len(l))
	for _, e := range l {
		o, ok := e.(awsproto.Object)
		if !ok {
			if m, isMap := e.(map[string]any); isMap {
				o = awsproto.Object(m)
			} else {
				return nil, invalidMember(member, e)
			}
		}
		out = append(out, o)
	}
	return out, nil
}
