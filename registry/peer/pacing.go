package peer

import (
	"sync/atomic"
	"time"

	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// Keepalives are paced by the manager instance (README.md, "Keepalives"):
// a stream that has carried nothing for an interval carries a Keepalive,
// and a follower acks each interval. The interval grows with the number
// of followers, so that keepalives cost the manager instance about as
// much for any number of them; each Keepalive tells a paced follower the
// interval to ack at and the timeout to hold the instance to.

// pacing is the keepalive interval on a stream and the silence after
// which its peer is gone.
type pacing struct {
	interval, timeout time.Duration
}

// paceFor is the pacing for n followers: base for up to per of them, then
// one base more for each per more (per ≤ 0: base for any number).
func paceFor(base pacing, per, n int) pacing {
	if per <= 0 || n <= per {
		return base
	}
	k := time.Duration((n + per - 1) / per)
	return pacing{interval: base.interval * k, timeout: base.timeout * k}
}

// keepaliveDue is when a stream that last carried a message at lastSent
// is owed a keepalive, told being the interval its follower was last
// told; before any (0), at once, to tell it.
func keepaliveDue(lastSent time.Time, told time.Duration) time.Time {
	if told == 0 {
		return time.Time{}
	}
	return lastSent.Add(told)
}

// paced is a follower session's view of the pacing its manager instance
// tells: the interval to ack at (changed says it moved) and the silence
// after which the instance is gone.
type paced struct {
	intervalNs, timeoutNs atomic.Int64
	changed               chan struct{}
}

func newPaced(own pacing) *paced {
	p := &paced{changed: make(chan struct{}, 1)}
	p.intervalNs.Store(int64(own.interval))
	p.timeoutNs.Store(int64(own.timeout))
	return p
}

func (p *paced) interval() time.Duration { return time.Duration(p.intervalNs.Load()) }
func (p *paced) timeout() time.Duration  { return time.Duration(p.timeoutNs.Load()) }

// keepalive takes the pacing a keepalive tells, if any. It runs as the
// keepalive is read, so that a follower busy applying data paces at once.
func (p *paced) keepalive(k *peerpb.Keepalive) {
	if k.IntervalMs == 0 || k.TimeoutMs == 0 {
		return // an older manager instance: our own pacing holds
	}
	p.timeoutNs.Store(int64(time.Duration(k.TimeoutMs) * time.Millisecond))
	if p.intervalNs.Swap(int64(time.Duration(k.IntervalMs)*time.Millisecond)) != int64(k.IntervalMs)*int64(time.Millisecond) {
		select {
		case p.changed <- struct{}{}:
		default: // one is pending: the ack loop reads the latest
		}
	}
}
