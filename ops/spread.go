package ops

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// How answers are spread. Every answer adds one to a counter of the
// record it put first (registry.RRSet.Order: an atomic add, nothing
// else). Once a second the sampler reads the counters of the published
// snapshot and adds what they grew by to the history of each set, in
// buckets of spreadBucket; /v1/spread sums the last spreadBuckets of them.
// History is kept by rotation, so it goes on across snapshots while a
// set's records, weights and scheduler stay, and starts again when they
// change (a scale up).
const (
	spreadBucket  = 5 * time.Second
	spreadBuckets = 12 // one minute
)

type spreadSampler struct {
	store *registry.Store

	mu   sync.Mutex
	snap *registry.Snapshot
	sets []*registry.RRSet // the rotated sets of snap
	last []uint32          // their counters at the last reading, back to back
	buf  []uint32
	hist map[registry.RotationID]*setHistory

	labels labelCache
}

// setHistory is one set's first-place counts in the last minute.
type setHistory struct {
	set    *registry.RRSet // in the newest snapshot that has it
	stamp  [spreadBuckets]int64
	counts []uint32 // spreadBuckets rows of one count per record
}

func newSpreadSampler(store *registry.Store) *spreadSampler {
	return &spreadSampler{store: store, hist: map[registry.RotationID]*setHistory{}}
}

// sample reads the counters; it runs once a second.
func (s *spreadSampler) sample(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := now.UnixNano() / int64(spreadBucket)
	cur := s.store.Snapshot()
	if cur != s.snap {
		// The old snapshot's last counts, then the new one's from zero,
		// but for the sets it shares with the old one (a snapshot layered
		// over the same base), whose counters go on.
		s.read(b)
		at := make(map[*registry.RRSet]int, len(s.sets))
		off := 0
		for _, set := range s.sets {
			at[set] = off
			off += set.Len()
		}
		old := s.last
		s.snap, s.sets = cur, nil
		s.last = nil
		if cur != nil {
			cur.EachRotated(func(set *registry.RRSet) {
				s.sets = append(s.sets, set)
				if o, ok := at[set]; ok {
					s.last = append(s.last, old[o:o+set.Len()]...)
				} else {
					s.last = append(s.last, make([]uint32, set.Len())...)
				}
			})
		}
	}
	s.read(b)
	for id, h := range s.hist {
		if h.newest() <= b-spreadBuckets {
			delete(s.hist, id)
		}
	}
}

// read adds what the counters of s.snap grew by since the last reading.
func (s *spreadSampler) read(b int64) {
	off := 0
	for _, set := range s.sets {
		s.buf = set.FirstCounts(s.buf[:0])
		var h *setHistory
		for i, c := range s.buf {
			d := c - s.last[off+i]
			if d == 0 {
				continue
			}
			if h == nil {
				h = s.history(set)
			}
			h.add(b, i, d)
		}
		copy(s.last[off:], s.buf)
		off += len(s.buf)
	}
}

func (s *spreadSampler) history(set *registry.RRSet) *setHistory {
	id := set.Rotation()
	h := s.hist[id]
	if h == nil {
		h = &setHistory{counts: make([]uint32, spreadBuckets*set.Len())}
		for i := range h.stamp {
			h.stamp[i] = -1
		}
		s.hist[id] = h
	}
	h.set = set
	return h
}

func (h *setHistory) add(b int64, i int, d uint32) {
	slot := int(b % spreadBuckets)
	n := h.set.Len()
	row := h.counts[slot*n : slot*n+n]
	if h.stamp[slot] != b {
		h.stamp[slot] = b
		clear(row)
	}
	row[i] += d
}

func (h *setHistory) newest() int64 {
	m := int64(-1)
	for _, s := range h.stamp {
		m = max(m, s)
	}
	return m
}

// window sums the counts of the buckets of the last minute.
func (h *setHistory) window(b int64) []uint64 {
	n := h.set.Len()
	out := make([]uint64, n)
	for slot, st := range h.stamp {
		if st > b-spreadBuckets && st <= b {
			for i, c := range h.counts[slot*n : slot*n+n] {
				out[i] += uint64(c)
			}
		}
	}
	return out
}

// The JSON of /v1/spread.
type spreadJSON struct {
	WindowSeconds float64             `json:"window_seconds"`
	Total         int                 `json:"total"` // services with answers in the window that match the filter
	Services      []spreadServiceJSON `json:"services"`
}

type spreadServiceJSON struct {
	Service string          `json:"service"`
	Answers uint64          `json:"answers"`
	Sets    []spreadSetJSON `json:"sets"`
}

type spreadSetJSON struct {
	Name      string             `json:"name"`
	Network   string             `json:"network,omitempty"` // the view's network; "" the default view
	Type      string             `json:"type"`
	Scheduler string             `json:"scheduler"`
	Answers   uint64             `json:"answers"`
	Records   []spreadRecordJSON `json:"records"`
}

type spreadRecordJSON struct {
	Data   string  `json:"data"`
	Info   string  `json:"info,omitempty"`
	Weight uint32  `json:"weight"`
	First  uint64  `json:"first"` // answers that put it first
	Share  float64 `json:"share"` // First / Answers
	// Promised is the share its scheduler and weights promise; absent
	// when a custom scheduler does not say.
	Promised *float64 `json:"promised,omitempty"`
}

// spread serves /v1/spread?service=&limit=.
func (o *Ops) spread(w http.ResponseWriter, r *http.Request) {
	snap := o.cfg.Store.Snapshot()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "no registry snapshot yet: the first sync has not finished")
		return
	}
	limit, err := intParam(r.URL.Query().Get("limit"), defaultPage, "limit")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit = min(max(limit, 1), maxPage)
	filter := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("service")))
	writeJSON(w, http.StatusOK, o.spreads.view(snap, o.catalogs.get(snap), filter, limit, time.Now()))
}

func (s *spreadSampler) view(snap *registry.Snapshot, cat *catalog, filter string, limit int, now time.Time) *spreadJSON {
	out := &spreadJSON{WindowSeconds: (spreadBuckets * spreadBucket).Seconds(), Services: []spreadServiceJSON{}}
	s.mu.Lock()
	idle := len(s.hist) == 0
	s.mu.Unlock()
	if idle {
		return out // no need to name the sets of a large registry
	}
	labels := s.labels.get(snap, cat)
	b := now.UnixNano() / int64(spreadBucket)
	type counted struct {
		set    *registry.RRSet
		counts []uint64
	}
	var sets []counted
	s.mu.Lock()
	for id, h := range s.hist {
		if _, ok := labels[id]; !ok {
			continue // a set the current snapshot no longer has
		}
		sets = append(sets, counted{h.set, h.window(b)})
	}
	s.mu.Unlock()

	bySvc := map[string]*spreadServiceJSON{}
	for _, c := range sets {
		l := labels[c.set.Rotation()]
		if filter != "" && !strings.Contains(strings.ToLower(l.service), filter) {
			continue
		}
		sj := spreadSetJSON{Name: l.owner, Network: l.network, Type: dns.TypeToString[c.set.Type], Scheduler: c.set.Policy(), Records: []spreadRecordJSON{}}
		for _, n := range c.counts {
			sj.Answers += n
		}
		if sj.Answers == 0 {
			continue
		}
		promised := c.set.Shares(nil)
		for i, n := range c.counts {
			rj := spreadRecordJSON{Data: recordData(l.owner, c.set.Record(i)), Info: c.set.Info(i), Weight: c.set.Weight(i),
				First: n, Share: float64(n) / float64(sj.Answers)}
			if promised != nil {
				rj.Promised = &promised[i]
			}
			sj.Records = append(sj.Records, rj)
		}
		svc := bySvc[l.service]
		if svc == nil {
			svc = &spreadServiceJSON{Service: l.service}
			bySvc[l.service] = svc
		}
		svc.Answers += sj.Answers
		svc.Sets = append(svc.Sets, sj)
	}
	out.Total = len(bySvc)
	for _, svc := range bySvc {
		sort.Slice(svc.Sets, func(i, j int) bool {
			a, b := svc.Sets[i], svc.Sets[j]
			if a.Answers != b.Answers {
				return a.Answers > b.Answers
			}
			return a.Name+a.Network+a.Type < b.Name+b.Network+b.Type
		})
		out.Services = append(out.Services, *svc)
	}
	sort.Slice(out.Services, func(i, j int) bool {
		a, b := out.Services[i], out.Services[j]
		if a.Answers != b.Answers {
			return a.Answers > b.Answers
		}
		return a.Service < b.Service
	})
	if len(out.Services) > limit {
		out.Services = out.Services[:limit]
	}
	return out
}

// setLabel says where a rotated set is: its owner name, view and the
// service its records belong to.
type setLabel struct {
	owner, network, service string
}

// labelCache names the rotated sets of one snapshot, made on the first
// /v1/spread after a publish (a walk over every name).
type labelCache struct {
	mu     sync.Mutex
	snap   *registry.Snapshot
	labels map[registry.RotationID]setLabel
}

func (c *labelCache) get(snap *registry.Snapshot, cat *catalog) map[registry.RotationID]setLabel {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == snap {
		return c.labels
	}
	svcOfTask := map[string]string{}
	for _, t := range snap.Data.Tasks {
		if i, ok := cat.byID[t.ServiceID]; ok {
			svcOfTask[t.ID] = snap.Data.Services[i].Name
		}
	}
	labels := map[registry.RotationID]setLabel{}
	snap.Names(func(key string, n registry.Name) {
		owner := key + "." + snap.Domain
		if strings.HasSuffix(key, ".arpa") {
			owner = key + "."
		}
		for _, v := range n.Views() {
			for _, set := range []*registry.RRSet{v.A, v.AAAA, v.SRV, v.PTR} {
				if set == nil || set.Len() < 2 {
					continue
				}
				l := setLabel{owner: owner, network: cat.network(v.Network), service: key}
				for i := 0; i < set.Len(); i++ {
					if svc, ok := svcOfTask[set.Info(i)]; ok {
						l.service = svc
						break
					}
				}
				labels[set.Rotation()] = l
			}
		}
	})
	c.snap, c.labels = snap, labels
	return labels
}
