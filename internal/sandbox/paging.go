package sandbox

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Organizations list operations return at most maxPage items per call (AWS's upper bound for
// MaxResults) and, like AWS, page by default too.
const maxPage = 20

// page is the window of a list request after validating MaxResults and NextToken.
type page struct {
	start, size int
	scope       string
}

// pageParams validates MaxResults (1..20) and NextToken for a list operation. scope names the
// listing (action plus the parameters that select the list) so that a token from another
// listing is rejected, as AWS rejects it.
func pageParams(params awsproto.Object, scope string) (page, *awsproto.Error) {
	p := page{size: maxPage, scope: scope}
	n, ok, err := pInt(params, "MaxResults")
	switch {
	case err != nil:
		return p, orgErr("InvalidInputException", "You provided a value that does not match the required pattern.")
	case ok && n < 1:
		return p, orgErr("InvalidInputException", "You provided a value that is less than the minimum allowed value (1) for MaxResults.")
	case ok && n > maxPage:
		return p, orgErr("InvalidInputException", "You provided a value that exceeded the maximum allowed value (20) for MaxResults.")
	case ok:
		p.size = int(n)
	}
	if tok := pString(params, "NextToken"); tok != "" {
		start, ok := decodeToken(tok, scope)
		if !ok {
			return p, orgErr("InvalidInputException",
				"You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API.")
		}
		p.start = start
	}
	return p, nil
}

// window returns the bounds of the page within n items and the token of the next page ("" at
// the end).
func (p page) window(n int) (lo, hi int, next string) {
	lo = min(p.start, n)
	hi = min(lo+p.size, n)
	if hi < n {
		next = encodeToken(hi, p.scope)
	}
	return lo, hi, next
}

func encodeToken(offset int, scope string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1\x00" + scope + "\x00" + strconv.Itoa(offset)))
}

func decodeToken(tok, scope string) (int, bool) {
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

// paginate fills result[key] with the page of items and sets NextToken when more remain.
func paginate[T any](result awsproto.Object, key string, p page, items []T, conv func(T) awsproto.Object) {
	lo, hi, next := p.window(len(items))
	out := make([]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		out = append(out, conv(it))
	}
	result[key] = out
	if next != "" {
		result["NextToken"] = next
	}
}
