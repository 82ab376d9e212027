package ops

import (
	"net/http"
	"sync"
	"time"

	"github.com/swarmdns/swarmdns/server"
)

// Traffic: queries per second by outcome over the last minutes. The
// sampler reads the query counters of Metrics once a second (nothing is
// added to the query path) and the forwarder's cache hits, and keeps the
// differences in a ring.
const trafficSeconds = 300

// Outcomes of a query, as the traffic chart shows them. Each query has
// exactly one.
var outcomeNames = [...]string{"registry", "forwarded", "cached", "nxdomain", "refused", "servfail", "error"}

const (
	outRegistry = iota // answered from the registry (NOERROR)
	outForwarded
	outCached // forwarded queries the cache answered
	outNXDOMAIN
	outRefused
	outServfail
	outError // FORMERR, NOTIMP, BADVERS, …
	numOutcomes
)

// A Forwarder is what the operations page shows of the forwarder:
// its counters and each upstream's health.
type Forwarder interface {
	ForwardStats
	Upstreams() []UpstreamStatus
}

// UpstreamStatus is one upstream's health.
type UpstreamStatus struct {
	Addr     string
	Down     bool
	DownFor  time.Duration
	Failures int
}

type trafficSampler struct {
	metrics *Metrics
	forward Forwarder

	mu       sync.Mutex
	primed   bool
	last     [numOutcomes]uint64
	lastHits uint64
	ring     [trafficSeconds][numOutcomes]uint32
	end      time.Time // the second the newest entry ends
	n        int       // entries filled, up to trafficSeconds
	head     int       // index of the newest entry
}

func newTrafficSampler(m *Metrics, f Forwarder) *trafficSampler {
	return &trafficSampler{metrics: m, forward: f}
}

// totals reads the query counters by outcome, with forwarded queries the
// cache answered still counted as forwarded.
func (t *trafficSampler) totals() [numOutcomes]uint64 {
	var out [numOutcomes]uint64
	for p := range numPaths {
		for q := range numQtypes {
			for r := range numRcodes {
				out[outcomeOf(server.Path(p), r)] += t.metrics.queries.n[p][q][r].Load()
			}
		}
	}
	return out
}

func outcomeOf(p server.Path, rcode int) int {
	switch {
	case rcodeNames[rcode] == "SERVFAIL":
		return outServfail
	case rcodeNames[rcode] == "NXDOMAIN":
		return outNXDOMAIN
	case p == server.PathRefused:
		return outRefused
	case p == server.PathZone:
		return outRegistry
	case p == server.PathForwarded:
		return outForwarded
	}
	return outError
}

// sample adds the last second's queries; it runs once a second.
func (t *trafficSampler) sample(now time.Time) {
	if t.metrics == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.totals()
	var hits uint64
	if t.forward != nil {
		hits = t.forward.CacheHits()
	}
	if !t.primed {
		t.primed, t.last, t.lastHits, t.end = true, cur, hits, now
		return
	}
	var row [numOutcomes]uint32
	for i := range cur {
		row[i] = uint32(cur[i] - t.last[i])
	}
	// Cache hits are forwarded queries too; a cached NXDOMAIN stays under
	// NXDOMAIN, so the hits are capped by the forwarded count.
	cached := min(uint32(hits-t.lastHits), row[outForwarded])
	row[outForwarded] -= cached
	row[outCached] = cached
	t.last, t.lastHits = cur, hits
	t.head = (t.head + 1) % trafficSeconds
	t.ring[t.head] = row
	t.n = min(t.n+1, trafficSeconds)
	t.end = now
}

// The JSON of /v1/traffic.
type trafficJSON struct {
	// End is when the newest second ended; Series[o][i] is the queries
	// of outcome o in the second ending len-1-i seconds before End.
	End       time.Time           `json:"end"`
	Interval  float64             `json:"interval_seconds"`
	Outcomes  []string            `json:"outcomes"`
	Series    map[string][]uint32 `json:"series"`
	Forwards  bool                `json:"forwards"`
	Upstreams []upstreamJSON      `json:"upstreams"`
}

type upstreamJSON struct {
	Address  string  `json:"address"`
	Up       bool    `json:"up"`
	DownFor  float64 `json:"down_for_seconds,omitempty"`
	Failures int     `json:"failures_in_a_row"`
}

// traffic serves /v1/traffic.
func (o *Ops) traffic(w http.ResponseWriter, _ *http.Request) {
	if o.cfg.Metrics == nil {
		writeError(w, http.StatusNotFound, "no query metrics: traffic is counted by /metrics")
		return
	}
	writeJSON(w, http.StatusOK, o.traffics.view())
}

func (t *trafficSampler) view() *trafficJSON {
	out := &trafficJSON{Interval: 1, Outcomes: outcomeNames[:], Series: map[string][]uint32{}, Upstreams: []upstreamJSON{}}
	t.mu.Lock()
	out.End = t.end
	for o, name := range outcomeNames {
		s := make([]uint32, t.n)
		for i := range t.n {
			s[t.n-1-i] = t.ring[(t.head-i+trafficSeconds)%trafficSeconds][o]
		}
		out.Series[name] = s
	}
	t.mu.Unlock()
	if t.forward != nil {
		out.Forwards = true
		for _, u := range t.forward.Upstreams() {
			out.Upstreams = append(out.Upstreams, upstreamJSON{Address: u.Addr, Up: !u.Down, DownFor: u.DownFor.Seconds(), Failures: u.Failures})
		}
	}
	return out
}
