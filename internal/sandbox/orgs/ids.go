package orgs

import "regexp"

// Organizations list operations return at most maxPage items per call (AWS's upper bound for
// MaxResults) and, like AWS, page by default too.
const maxPage = 20

// Identifier patterns of AWS Organizations.
var (
	orgIDRe  = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	rootIDRe = regexp.MustCompile(`^r-[a-z0-9]{4,32}$`)
	ouIDRe   = regexp.MustCompile(`^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
	emailRe  = regexp.MustCompile(`^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$`)
)
