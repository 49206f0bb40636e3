package fleet

import "fmt"

// MeasurementPhase is what one reading of a gate found.
type MeasurementPhase string

// Measurement phases, as Argo Rollouts' analysis names them.
const (
	// Successful: the gate passed (alarms OK, health check answered as expected, test exit 0).
	Successful MeasurementPhase = "Successful"
	// Failed: the gate says the deploy is bad (an alarm in ALARM, a failing check or test).
	Failed MeasurementPhase = "Failed"
	// Error: the gate could not be read (an API, credentials or network error). It says nothing
	// about the deploy; only too many in a row fail the wave.
	Error MeasurementPhase = "Error"
	// Inconclusive: the reading neither passes nor fails.
	Inconclusive MeasurementPhase = "Inconclusive"
)

// Measurement is one reading of a gate on one target.
type Measurement struct {
	Phase   MeasurementPhase
	Message string // one line for the user
	Output  string // a test command's output (its tail); empty for other gates
}

// GateLimits say how many bad readings a gate tolerates.
type GateLimits struct {
	// FailureLimit is how many Failed readings are tolerated (default 0: the first fails).
	FailureLimit int
	// ConsecutiveErrorLimit is how many Error readings in a row are tolerated (0: the
	// default, DefaultConsecutiveErrorLimit).
	ConsecutiveErrorLimit int
}

// DefaultConsecutiveErrorLimit is the consecutive errors tolerated when the config sets none
// (Argo Rollouts' default).
const DefaultConsecutiveErrorLimit = 4

func (l GateLimits) errorLimit() int {
	if l.ConsecutiveErrorLimit <= 0 {
		return DefaultConsecutiveErrorLimit
	}
	return l.ConsecutiveErrorLimit
}

// Verdict is what a gate's readings so far mean.
type Verdict struct {
	// Phase is Failed (the deploy is bad), Error (the gate could not be read too many times in
	// a row), or Successful (nothing stops the wave yet).
	Phase  MeasurementPhase
	Reason string
}

// Assess judges a gate's readings, oldest first: more Failed readings than the failure limit
// fail it; more consecutive Error readings than the error limit make it an Error. Errors and
// inconclusive readings alone never fail a gate.
func Assess(ms []Measurement, l GateLimits) Verdict {
	failed, errs := 0, 0
	var lastFailure string
	for _, m := range ms {
		switch m.Phase {
		case Failed:
			failed++
			lastFailure = m.Message
			errs = 0
		case Error:
			errs++
		default:
			errs = 0
		}
	}
	switch {
	case failed > l.FailureLimit:
		return Verdict{Phase: Failed, Reason: lastFailure}
	case errs > l.errorLimit():
		return Verdict{Phase: Error, Reason: fmt.Sprintf("could not be read %d times in a row: %s", errs, ms[len(ms)-1].Message)}
	}
	return Verdict{Phase: Successful}
}
