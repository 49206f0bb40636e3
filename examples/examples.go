// Package examples ships the example configuration and templates inside the binary, so that
// `stackfleet demo` works from an installed binary as well as from a checkout.
package examples

import "embed"

// FS holds stackfleet.yaml and templates/.
//
//go:embed stackfleet.yaml templates
var FS embed.FS
