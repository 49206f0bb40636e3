package state_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// benchUpdateSteps measures UpdateStep throughput from the given number of goroutines over an
// operation of 4,000 steps, and reports it as updates/s.
func benchUpdateSteps(b *testing.B, goroutines int) {
	ctx := b.Context()
	s := open(b, b.TempDir())
	const n = 4000
	steps := make([]fleet.StepRecord, n)
	for i := range steps {
		steps[i] = fleet.StepRecord{Target: fleet.Target{Account: fmt.Sprintf("%012d", i), Region: "eu-west-1"}, Status: "PENDING"}
	}
	if err := s.CreateOperation(ctx, fleet.Operation{ID: "op", StackSet: "web", Status: fleet.OpRunning}, steps); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var next atomic.Int64
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			rec := fleet.StepRecord{Target: steps[i%n].Target, Status: "RUNNING", Reason: "r", UpdatedAt: time.Now()}
			if err := s.UpdateStep(ctx, "op", rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(next.Load())/time.Since(start).Seconds(), "updates/s")
}

// BenchmarkUpdateStep is the load of one apply: 100 goroutines updating steps.
func BenchmarkUpdateStep(b *testing.B) { benchUpdateSteps(b, 100) }

// BenchmarkUpdateStepSerial shows the cost of one durable commit, which group commit shares out.
func BenchmarkUpdateStepSerial(b *testing.B) { benchUpdateSteps(b, 1) }
