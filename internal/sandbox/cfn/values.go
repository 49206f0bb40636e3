package cfn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
)

// Property values are the evaluated template values: string, bool, numbers (any Go numeric
// type, depending on whether the template was JSON or YAML), []any and map[string]any. The
// helpers below read them leniently, the way CloudFormation coerces scalars.

func propString(props map[string]any, key string) string {
	v, ok := props[key]
	if !ok || v == nil {
		return ""
	}
	return scalarString(v)
}

// scalarString renders a scalar the way CloudFormation stringifies it; structures become JSON.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return scalarString(float64(x))
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case json.Number:
		return x.String()
	case nil:
		return ""
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

func propFloat(props map[string]any, key string) (float64, bool) {
	v, ok := props[key]
	if !ok || v == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(scalarString(v), 64)
	return f, err == nil
}

func propInt32(props map[string]any, key string) int32 {
	f, _ := propFloat(props, key)
	return int32(f)
}

func propBool(props map[string]any, key string) bool {
	v, ok := props[key]
	if !ok {
		return false
	}
	b, _ := strconv.ParseBool(scalarString(v))
	return b
}

func propStrings(props map[string]any, key string) []string {
	l, _ := props[key].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, scalarString(v))
	}
	return out
}

// propJSON returns a policy-document-like property as JSON text: objects are marshalled, strings
// (already JSON) are kept.
func propJSON(props map[string]any, key string) string {
	v, ok := props[key]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return ""
	}
	return string(b)
}

// normalize converts a value tree into JSON-compatible types (map[string]any, []any, float64,
// string, bool, nil) so that deep comparison does not depend on the template's syntax.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = normalize(e)
		}
		return l
	case string, bool, nil, float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case uint64:
		return float64(x)
	case uint32:
		return float64(x)
	case float32:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Map:
			m := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				m[fmt.Sprint(it.Key().Interface())] = normalize(it.Value().Interface())
			}
			return m
		case reflect.Slice, reflect.Array:
			l := make([]any, rv.Len())
			for i := range rv.Len() {
				l[i] = normalize(rv.Index(i).Interface())
			}
			return l
		}
		return fmt.Sprint(v)
	}
}

// valuesEqual compares two property values the way CloudFormation decides whether a property
// changed: scalars compare by their string form ("5" equals 5), structures member-wise.
func valuesEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valuesEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return scalarString(a) == scalarString(b)
}

// containsUnknown reports whether v contains an unknown-value marker (see unknownMarker): a
// value only known once an operation runs, like the new physical id of a replaced resource.
// Markers never equal a deployed value, so properties that contain one count as changed.
func containsUnknown(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if containsUnknown(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsUnknown(e) {
				return true
			}
		}
	case string:
		return strings.Contains(x, "{{unknown ")
	}
	return false
}

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	hexDigits  = "0123456789abcdef"
)

// The random source of generated ids; the supported-types documentation replaces them to
// render stable examples.
var (
	randIntN   = rand.IntN
	randUint64 = rand.Uint64
)

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[randIntN(len(alphabet))]
	}
	return string(b)
}

// newUUID returns a random version 4 UUID string.
func newUUID() string {
	var b [16]byte
	hi, lo := randUint64(), randUint64()
	for i := range 8 {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var out [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j] = hexDigits[c>>4]
		out[j+1] = hexDigits[c&0xf]
		j += 2
	}
	return string(out[:])
}

// physicalName builds a name the way CloudFormation generates them for resources without an
// explicit name: "<stack>-<logicalId>-<random>", truncating the stack and logical id parts so
// the whole fits in maxLen.
func physicalName(stack, logical string, maxLen, randLen int, lower bool) string {
	alphabet := upperAlnum
	if lower {
		alphabet = lowerAlnum
		stack, logical = strings.ToLower(stack), strings.ToLower(logical)
	}
	budget := maxLen - randLen - 2
	if len(stack)+len(logical) > budget {
		// Split the budget, giving any slack of the shorter part to the longer one.
		half := budget / 2
		switch {
		case len(stack) <= half:
			logical = logical[:budget-len(stack)]
		case len(logical) <= budget-half:
			stack = stack[:budget-len(logical)]
		default:
			stack, logical = stack[:half], logical[:budget-half]
		}
	}
	return stack + "-" + logical + "-" + randomString(randLen, alphabet)
}
