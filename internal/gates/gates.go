// Package gates validates the targets of a release wave: CloudWatch alarms, HTTP health checks
// and test commands (the adapters behind the pipeline's AlarmSpec, HealthCheck and TestCommand).
//
// Alarm names, prefixes and ARNs and health-check URLs are templates over the target, rendered
// by package expand.
//
// Every check returns a Result rather than an error: a failed check is an expected outcome that
// fails the wave, and its Reason is a line written for the user.
package gates

import (
	"strings"
)

// Result is the outcome of one check of one target. OK false means the wave fails; Reason says
// why (or what passed) in one line a user reads, e.g.
// "alarm web-5xx in 222222222222/eu-west-1 is ALARM: Threshold Crossed: …".
type Result struct {
	OK bool
	// Unreadable: the check could not be read (an API, credentials or network error), which
	// says nothing about the deploy. Only set when OK is false.
	Unreadable bool
	Reason     string
	// Output is the combined output of a test command (its last 64 KiB); empty for other checks.
	Output string
}

// oneLine folds s onto one line for a Reason.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
