package sandbox

import (
	"fmt"
	"regexp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Identifier patterns of AWS Organizations and IAM.
var (
	orgIDRe     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	rootIDRe    = regexp.MustCompile(`^r-[a-z0-9]{4,32}$`)
	ouIDRe      = regexp.MustCompile(`^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
	accountIDRe = regexp.MustCompile(`^\d{12}$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$`)
	emailRe     = regexp.MustCompile(`^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$`)
	sessionRe   = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleArnRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role(/|/[\x21-\x7e]*/)([\w+=,.@-]{1,64})$`)
)

// The helpers below read request parameters whatever protocol carried them, on top of the
// awsproto accessors.

func pString(o awsproto.Object, k string) string { return o.String(k) }

// pInt returns an integer parameter and whether it was present; a present value that is not an
// integer is an error.
func pInt(o awsproto.Object, k string) (int64, bool, error) {
	if o[k] == nil {
		return 0, false, nil
	}
	n, ok := o.Int(k)
	if !ok {
		return 0, true, fmt.Errorf("%s: %q is not an integer", k, o.String(k))
	}
	return n, true, nil
}

func pStrings(o awsproto.Object, k string) []string { return o.Strings(k) }

func pObjects(o awsproto.Object, k string) []awsproto.Object { return o.Objects(k) }

// pTags reads a list of {Key, Value} structures.
func pTags(o awsproto.Object, k string) ([]awsproto.Object, map[string]string) {
	objs := o.Objects(k)
	m := make(map[string]string, len(objs))
	for _, t := range objs {
		m[t.String("Key")] = t.String("Value")
	}
	return objs, m
}
