package sandbox

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is the number of calls of one action by one account in one region.
type Counter struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Write is set for actions that change state (everything but Describe/List/Get/… reads).
	Write bool `json:"write"`
	// Calls counts authenticated calls, including those a fault rule failed; Throttled and
	// Faulted count the calls a throttle or server-error rule failed.
	Calls     int64 `json:"calls"`
	Throttled int64 `json:"throttled,omitempty"`
	Faulted   int64 `json:"faulted,omitempty"`
}

// Counts is a snapshot of the call counters, sorted by service, action, account and region.
type Counts []Counter

// Calls returns the number of calls of service (any service if "") and action (any if "").
func (c Counts) Calls(service, action string) int64 {
	var n int64
	for _, x := range c {
		if matchField(service, x.Service) && matchField(action, x.Action) {
			n += x.Calls
		}
	}
	return n
}

// Writes returns the number of state-changing calls of service (any service if "").
func (c Counts) Writes(service string) int64 {
	var n int64
	for _, x := range c {
		if x.Write && matchField(service, x.Service) {
			n += x.Calls
		}
	}
	return n
}

// Throttled returns the number of calls of service and action (either may be "") that a
// throttle rule failed.
func (c Counts) Throttled(service, action string) int64 {
	var n int64
	for _, x := range c {
		if matchField(service, x.Service) && matchField(action, x.Action) {
			n += x.Throttled
		}
	}
	return n
}

type counterKey struct{ service, action, account, region string }

type counterVal struct{ calls, throttled, faulted atomic.Int64 }

// counters counts calls; the map only grows by new keys, so increments take the read lock.
type counters struct {
	mu sync.RWMutex
	m  map[counterKey]*counterVal
}

func newCounters() *counters { return &counters{m: map[counterKey]*counterVal{}} }

func (c *counters) get(k counterKey) *counterVal {
	c.mu.RLock()
	v := c.m[k]
	c.mu.RUnlock()
	if v != nil {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v = c.m[k]; v == nil {
		v = &counterVal{}
		c.m[k] = v
	}
	return v
}

func (c *counters) snapshot() Counts {
	c.mu.RLock()
	out := make(Counts, 0, len(c.m))
	for k, v := range c.m {
		out = append(out, Counter{
			Service: k.service, Action: k.action, Account: k.account, Region: k.region,
			Write: isWriteAction(k.service, k.action),
			Calls: v.calls.Load(), Throttled: v.throttled.Load(), Faulted: v.faulted.Load(),
		})
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b Counter) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Action, b.Action),
			cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return out
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = map[counterKey]*counterVal{}
}

// readPrefixes are the operation-name prefixes of AWS read-only actions.
var readPrefixes = []string{"Describe", "List", "Get", "Head", "Validate", "Estimate", "Lookup", "Filter", "Search", "Detect", "BatchGet"}

// isWriteAction reports whether an action may change state. AssumeRole issues credentials but
// changes no resource, so it counts as a read; DetectStackDrift only inspects.
func isWriteAction(service, action string) bool {
	if service == "sts" {
		return false
	}
	for _, p := range readPrefixes {
		if strings.HasPrefix(action, p) {
			return false
		}
	}
	return true
}
