package awsproto

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Page is the window of one call of an offset-paged list operation, after validating
// MaxResults and NextToken.
type Page struct {
	start, size int
	scope       string
}

// ParsePage validates MaxResults (1..maxSize, default maxSize) and NextToken of a list call;
// errors carry the service's validation error code. scope names the listing (the action and
// the parameters that select the list) so that a token from another listing is rejected, as
// AWS rejects it.
func ParsePage(params Object, scope string, maxSize int, code string) (Page, *Error) {
	p := Page{size: maxSize, scope: scope}
	n, ok, err := params.IntIfSet("MaxResults")
	switch {
	case err != nil:
		return p, Errorf(400, code, "You provided a value that does not match the required pattern.")
	case ok && n < 1:
		return p, Errorf(400, code, "You provided a value that is less than the minimum allowed value (1) for MaxResults.")
	case ok && n > int64(maxSize):
		return p, Errorf(400, code, "You provided a value that exceeded the maximum allowed value (%d) for MaxResults.", maxSize)
	case ok:
		p.size = int(n)
	}
	if tok := params.String("NextToken"); tok != "" {
		start, ok := decodePageToken(tok, scope)
		if !ok {
			return p, Errorf(400, code,
				"You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API.")
		}
		p.start = start
	}
	return p, nil
}

// Window returns the bounds of the page within n items and the token of the next page ("" at
// the end).
func (p Page) Window(n int) (lo, hi int, next string) {
	lo = min(p.start, n)
	hi = min(lo+p.size, n)
	if hi < n {
		next = encodePageToken(hi, p.scope)
	}
	return lo, hi, next
}

// Paginate sets result[key] to the page of items, converted, and NextToken when more remain.
func Paginate[T any](result Object, key string, p Page, items []T, conv func(T) Object) {
	lo, hi, next := p.Window(len(items))
	out := make([]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		out = append(out, conv(it))
	}
	result[key] = out
	if next != "" {
		result["NextToken"] = next
	}
}

func encodePageToken(offset int, scope string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1\x00" + scope + "\x00" + strconv.Itoa(offset)))
}

func decodePageToken(tok, scope string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] != scope {
		return 0, false
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// IntIfSet returns an integer parameter and whether it was given; a given value that is not an
// integer is an error.
func (o Object) IntIfSet(name string) (int64, bool, error) {
	if o[name] == nil {
		return 0, false, nil
	}
	n, ok := o.Int(name)
	if !ok {
		return 0, true, fmt.Errorf("%s: %q is not an integer", name, o.String(name))
	}
	return n, true, nil
}

// Tags reads a list of {Key, Value} structures, as given and as a map.
func (o Object) Tags(name string) ([]Object, map[string]string) {
	objs := o.Objects(name)
	m := make(map[string]string, len(objs))
	for _, t := range objs {
		m[t.String("Key")] = t.String("Value")
	}
	return objs, m
}

// UnknownOperation is the answer for an action the service does not have, spelled as the
// protocol of req spells it.
func UnknownOperation(req *Request) *Error {
	if req.Protocol == Query {
		return Errorf(400, "InvalidAction", "The action %s is not valid for this web service.", req.Action)
	}
	return Errorf(400, "UnknownOperationException", "The operation %s is not supported by this service.", req.Action)
}
