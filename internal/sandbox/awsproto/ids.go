package awsproto

import (
	"crypto/rand"
	"math/big"
	mrand "math/rand/v2"
	"regexp"
)

// Alphabets of AWS identifiers: access key IDs and unique IDs use upper-case base32, secret
// keys a base64-like alphabet, organization and OU IDs lower-case letters and digits.
const (
	Base32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	SecretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
	LowerAlnum  = "abcdefghijklmnopqrstuvwxyz0123456789"
	Digits      = "0123456789"
)

var (
	accountIDRe = regexp.MustCompile(`^\d{12}$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$`)
)

// ValidAccountID reports whether s is shaped like an AWS account ID (12 digits).
func ValidAccountID(s string) bool { return accountIDRe.MatchString(s) }

// ValidRegion reports whether s is shaped like an AWS region name (us-east-1, us-gov-west-1).
func ValidRegion(s string) bool { return regionRe.MatchString(s) }

// RandomString returns n characters of alphabet drawn from crypto/rand.
func RandomString(alphabet string, n int) string {
	b := make([]byte, n)
	limit := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, limit)
		if err != nil {
			// crypto/rand does not fail on supported platforms; fall back to math/rand.
			b[i] = alphabet[mrand.IntN(len(alphabet))]
			continue
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// SeededString returns n characters of alphabet drawn from r, for identifiers that must be
// deterministic from a seed.
func SeededString(r *mrand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
