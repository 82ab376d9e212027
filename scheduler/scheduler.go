// Package scheduler orders the endpoints of one DNS answer. A Policy
// compiles, at sync time, an Orderer for one answer's endpoint weights; on
// the query path the Orderer writes the answer order using a shared State,
// without locks or allocation.
package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/swarmdns/swarmdns/internal/suggest"
)

// A Policy turns the weights of one answer's endpoints into an Orderer.
// Compile runs at sync time and may take its time; weights has at least one
// element and every weight is positive. A build may call Compile from
// several goroutines at once.
type Policy interface {
	Name() string
	Compile(weights []uint32) Orderer
}

// An Orderer appends to dst the indices of the endpoints in answer order,
// at most limit of them (limit ≤ 0 means all), for the query at rotation
// position pos (from State.Next). It must be safe for concurrent use and
// should not allocate when dst has room.
type Orderer interface {
	Order(dst []int, pos uint64, limit int) []int
}

// State is the rotation position of one answer. A new snapshot reuses the
// previous State when the answer's endpoints are unchanged, so rotation goes
// on across syncs.
type State struct {
	n atomic.Uint64
}

// Next returns the position for this query and advances the rotation.
func (s *State) Next() uint64 { return s.n.Add(1) - 1 }

// Peek returns the position the next query will get, without taking it.
func (s *State) Peek() uint64 { return s.n.Load() }

// Names of the built-in policies.
const (
	RoundRobin = "roundrobin"
	Weighted   = "weighted"
	Random     = "random"
)

// Lookup returns the built-in policy with this name.
func Lookup(name string) (Policy, error) {
	switch name {
	case RoundRobin:
		return roundRobin{}, nil
	case Weighted:
		return weighted{}, nil
	case Random:
		return NewRandom(nil), nil
	}
	return nil, fmt.Errorf("%q is not a scheduler; use one of %s%s", name, strings.Join(Names(), ", "), suggest.Hint(name, Names()))
}

// Names lists the built-in policies.
func Names() []string {
	n := []string{RoundRobin, Weighted, Random}
	sort.Strings(n)
	return n
}

func limitOf(n, limit int) int {
	if limit <= 0 || limit > n {
		return n
	}
	return limit
}
