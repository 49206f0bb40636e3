package events_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// TestOrderFlushAndSlowSubscriber: every subscriber sees every event in publication order; a
// blocked subscriber holds up neither Publish nor the other subscribers; Flush waits for it.
func TestOrderFlushAndSlowSubscriber(t *testing.T) {
	var fast, slow []string
	var mu sync.Mutex
	gate := make(chan struct{})
	b := events.New(
		events.Each(func(e fleet.Event) { mu.Lock(); fast = append(fast, e.Detail().Reason); mu.Unlock() }),
		func(evs []fleet.Event) {
			<-gate
			for _, e := range evs {
				slow = append(slow, e.Detail().Reason)
			}
		},
	)
	const n = 1000
	var want []string
	var wg sync.WaitGroup
	for i := range n {
		want = append(want, fmt.Sprint(i))
		b.Publish(fleet.OperationEvent{EventDetail: fleet.EventDetail{Reason: fmt.Sprint(i)}}) // must not block although slow is stuck
	}
	wg.Go(func() { close(gate) })
	b.Flush()
	wg.Wait()
	mu.Lock()
	ok := slices.Equal(fast, want) && slices.Equal(slow, want)
	mu.Unlock()
	if !ok {
		t.Fatalf("fast saw %d events, slow %d, want %d in order", len(fast), len(slow), n)
	}
	b.Publish(fleet.OperationEvent{EventDetail: fleet.EventDetail{Reason: "last"}})
	b.Close()
	if slow[len(slow)-1] != "last" {
		t.Errorf("Close did not deliver the queued event: last = %q", slow[len(slow)-1])
	}
	b.Publish(fleet.OperationEvent{EventDetail: fleet.EventDetail{Reason: "after close"}})
}
