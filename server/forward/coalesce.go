package forward

import (
	"context"
	"sync"

	"github.com/miekg/dns"
)

// group coalesces identical concurrent queries: the first caller for a key
// leads and asks upstream, later ones wait for its result.
type group struct {
	mu      sync.Mutex
	flights map[key]*flight
}

// flight is one upstream exchange shared by its waiters.
type flight struct {
	done    chan struct{}
	res     result // written before done is closed
	waiters int    // followers that joined, guarded by group.mu
}

// result is what a flight produced: a cache entry and its records, an
// uncached upstream reply, or an error.
type result struct {
	entry *entry
	view  *view
	msg   *dns.Msg
	err   error
}

// join returns the flight for k and whether the caller leads it.
func (g *group) join(k key) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fl, ok := g.flights[k]; ok {
		fl.waiters++
		return fl, false
	}
	if g.flights == nil {
		g.flights = make(map[key]*flight)
	}
	fl := &flight{done: make(chan struct{})}
	g.flights[k] = fl
	return fl, true
}

// finish publishes the leader's result and releases the waiters.
func (g *group) finish(k key, fl *flight, res result) {
	g.mu.Lock()
	delete(g.flights, k)
	g.mu.Unlock()
	fl.res = res
	close(fl.done)
}

// wait blocks until the flight lands or ctx ends.
func (fl *flight) wait(ctx context.Context) (result, error) {
	select {
	case <-fl.done:
		return fl.res, nil
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

// waiting returns how many followers wait on the flight for k.
func (g *group) waiting(k key) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fl, ok := g.flights[k]; ok {
		return fl.waiters
	}
	return 0
}
