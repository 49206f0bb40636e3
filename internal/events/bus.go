// Package events is the one event stream of a command: engines publish, and the journal and the
// views subscribe. Each subscriber has its own queue and goroutine, so a slow one (the journal's
// disk, a terminal) never holds up a deploy, and each sees every event in publication order.
package events

import (
	"sync"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Subscriber receives events in order, in batches of whatever queued up while it was busy.
type Subscriber func([]fleet.Event)

// Bus delivers published events to its subscribers. Publish never blocks on a subscriber. Flush
// waits until every subscriber has seen every event published before it; Close flushes and
// stops the subscribers. The zero Bus is not usable: call New.
type Bus struct {
	subs []*queue
	wg   sync.WaitGroup
}

type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending []fleet.Event
	busy    bool // the subscriber holds a batch
	closed  bool
	deliver Subscriber
}

// New starts a bus with the subscribers.
func New(subs ...Subscriber) *Bus {
	b := &Bus{}
	for _, s := range subs {
		if s == nil {
			continue
		}
		q := &queue{deliver: s}
		q.cond = sync.NewCond(&q.mu)
		b.subs = append(b.subs, q)
		b.wg.Go(q.run)
	}
	return b
}

// Publish queues e for every subscriber.
func (b *Bus) Publish(e fleet.Event) {
	for _, q := range b.subs {
		q.mu.Lock()
		if !q.closed {
			q.pending = append(q.pending, e)
			q.cond.Broadcast()
		}
		q.mu.Unlock()
	}
}

// Flush waits until every subscriber has handled every event published so far.
func (b *Bus) Flush() {
	for _, q := range b.subs {
		q.mu.Lock()
		for len(q.pending) > 0 || q.busy {
			q.cond.Wait()
		}
		q.mu.Unlock()
	}
}

// Close delivers what is queued and stops the subscribers; events published after Close are
// dropped.
func (b *Bus) Close() {
	for _, q := range b.subs {
		q.mu.Lock()
		q.closed = true
		q.cond.Broadcast()
		q.mu.Unlock()
	}
	b.wg.Wait()
}

func (q *queue) run() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.pending) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.pending) == 0 {
			return
		}
		batch := q.pending
		q.pending, q.busy = nil, true
		q.mu.Unlock()
		q.deliver(batch)
		q.mu.Lock()
		q.busy = false
		q.cond.Broadcast()
	}
}

// Each adapts a function of one event to a Subscriber.
func Each(fn func(fleet.Event)) Subscriber {
	return func(evs []fleet.Event) {
		for _, e := range evs {
			fn(e)
		}
	}
}

// Record is the JSON record of an event in every event stream stackfleet writes (-o json,
// --events-file, notifications): the event's members after "type", which is "event" for a
// stack-set operation's and "releaseEvent" for a release's.
func Record(ev fleet.Event) any {
	switch e := ev.(type) {
	case fleet.OperationEvent:
		return EventRecord{"event", APIVersion, e}
	case fleet.ReleaseEvent:
		return ReleaseEventRecord{"releaseEvent", APIVersion, e}
	}
	return nil
}

// APIVersion identifies the format of stackfleet's JSON records and documents
// (schema/output.schema.json).
const APIVersion = "stackfleet/v1"

// EventRecord is the record of a stack-set operation's event.
type EventRecord struct {
	Type       string `json:"type"`
	APIVersion string `json:"apiVersion"`
	fleet.OperationEvent
}

// ReleaseEventRecord is the record of a release's event.
type ReleaseEventRecord struct {
	Type       string `json:"type"`
	APIVersion string `json:"apiVersion"`
	fleet.ReleaseEvent
}
