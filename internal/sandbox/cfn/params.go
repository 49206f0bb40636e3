package cfn

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// params reads an operation's input. Query requests carry every scalar as a string; the
// accessors convert, so they also work for typed (JSON/CBOR) inputs.
type params struct{ o awsproto.Object }

func (p params) has(key string) bool {
	_, ok := p.o[key]
	return ok
}

func (p params) str(key string) string {
	v, ok := p.o[key]
	if !ok || v == nil {
		return ""
	}
	return scalarString(v)
}

func (p params) boolean(key string) (value, set bool) {
	v, ok := p.o[key]
	if !ok || v == nil {
		return false, false
	}
	if b, ok := v.(bool); ok {
		return b, true
	}
	b, err := strconv.ParseBool(scalarString(v))
	return b, err == nil
}

func (p params) integer(key string) (int64, bool) {
	v, ok := p.o[key]
	if !ok || v == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(scalarString(v), 10, 64)
	return n, err == nil
}

// list returns a list member; a query list sent empty ("Name=") is an empty list.
func (p params) list(key string) []any {
	switch v := p.o[key].(type) {
	case []any:
		return v
	case awsproto.Object:
		// Some decoders produce {"member": [...]}; accept it.
		if l, ok := v["member"].([]any); ok {
			return l
		}
	}
	return nil
}

func (p params) strings(key string) []string {
	l := p.list(key)
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, scalarString(v))
	}
	return out
}

func (p params) objects(key string) []params {
	l := p.list(key)
	out := make([]params, 0, len(l))
	for _, v := range l {
		switch o := v.(type) {
		case awsproto.Object:
			out = append(out, params{o})
		case map[string]any:
			out = append(out, params{awsproto.Object(o)})
		}
	}
	return out
}

// Page tokens are opaque to clients: base64 of a position.
func encodeToken(pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.Itoa(pos)))
}

func decodeToken(tok string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "p") {
		return 0, validationError("Invalid NextToken")
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil || n < 0 {
		return 0, validationError("Invalid NextToken")
	}
	return n, nil
}

func validationError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(400, "ValidationError", format, args...)
}
