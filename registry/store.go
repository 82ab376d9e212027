package registry

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Store holds the published snapshot. Queries read it with one atomic load
// and never wait for a build; builds are serialized among themselves.
type Store struct {
	cfg Config
	log *logrus.Entry

	cur   atomic.Pointer[Snapshot]
	mu    sync.Mutex // held while building, never by queries
	swaps atomic.Uint64
	// lastBuild is the duration of the last build, in nanoseconds.
	lastBuild atomic.Int64
	observers atomic.Pointer[[]Observer] // see Observe
	source    atomic.Pointer[SourceInfo] // what Describe said

	sync     syncState     // see sync.go
	problems problemReport // see problems.go
	layers   layers        // the base of layered snapshots (layers.go)
}

// NewStore checks cfg and returns an empty store.
func NewStore(cfg Config, log *logrus.Entry) (*Store, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, log: log}, nil
}

// Config returns the normalized configuration.
func (s *Store) Config() Config { return s.cfg }

// Snapshot returns the current snapshot, or nil before the first update.
func (s *Store) Snapshot() *Snapshot { return s.cur.Load() }

// Swaps counts published snapshots.
func (s *Store) Swaps() uint64 { return s.swaps.Load() }

// Update implements Sink: it builds a snapshot of d and publishes it.
func (s *Store) Update(d *Data) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publish(d)
	s.sync.delivered(time.Now())
}

// publish builds and publishes a snapshot of d: an overlay of what
// changed over the last full build when it can, else a full build
// (layers.go); s.mu is held.
func (s *Store) publish(d *Data) {
	start := time.Now()
	cur := s.cur.Load()
	snap, warnings, layered := s.layers.layered(d, s.cfg, cur)
	if !layered {
		snap, warnings = Build(d, s.cfg, cur)
		s.layers.reset(snap, d, s.cfg)
	}
	s.install(snap, warnings, time.Since(start))
	if layered {
		s.maybeFold(snap)
	}
}

// maybeFold starts a full build of snap's Data in the background when its
// overlay has grown past foldAt; once done, it is the new base.
func (s *Store) maybeFold(snap *Snapshot) {
	l := &s.layers
	if l.folding || snap.over.tasks < foldAt(l.base) {
		return
	}
	l.folding, l.sinceFold = true, map[string]bool{}
	gen, cfg, d := l.gen, s.cfg, snap.Data
	cfg.Serial = nil // asked under s.mu, of what is published
	go func() {
		base, _ := Build(d, cfg, snap)
		idx := &indexing{done: make(chan struct{}), index: indexData(d, base, cfg)}
		close(idx.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.layers.folding = false
		if s.layers.gen == gen {
			s.rebase(base, d, idx)
		}
	}()
}

// rebase makes base, a full build of d, the base, and publishes the
// newest Data over it; s.mu is held.
func (s *Store) rebase(base *Snapshot, d *Data, idx *indexing) {
	start := time.Now()
	cur := s.cur.Load()
	s.layers.setBase(base, d, idx)
	// What changed since the fold started is carried over the new base.
	s.layers.carried = s.layers.sinceFold
	if cur.Data == d && len(s.layers.carried) == 0 && base.Serial > cur.Serial {
		if s.cfg.Serial != nil {
			base.setSerial(s.cfg.Serial(base))
		}
		s.install(base, nil, time.Since(start))
		return
	}
	snap, warnings, layered := s.layers.layered(cur.Data, s.cfg, cur)
	if layered {
		base.countFirsts()
	} else {
		snap, warnings = Build(cur.Data, s.cfg, cur)
		s.layers.reset(snap, cur.Data, s.cfg)
	}
	s.install(snap, warnings, time.Since(start))
}

// install publishes snap, built in took; s.mu is held.
func (s *Store) install(snap *Snapshot, warnings []error, took time.Duration) {
	snap.countFirsts()
	s.cur.Store(snap)
	// After the swap: checking the data must not delay its answers.
	s.reportProblems(snap.Data, warnings)
	s.swaps.Add(1)
	s.lastBuild.Store(int64(took))
	st := snap.Stats()
	s.log.WithFields(logrus.Fields{
		"services": st.Services, "tasks": st.Tasks, "names": st.Names,
		"serial": snap.Serial, "build": took.String(),
	}).Debug("snapshot published")
	for _, o := range s.observerList() {
		o.Published(snap, took)
	}
}

// Observe adds o to the observers of every publish and every reported
// sync. Add observers before the source runs, so that they see its first
// sync; adding one later is safe but it misses what came before.
func (s *Store) Observe(o Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := append(slices.Clone(s.observerList()), o)
	s.observers.Store(&list)
}

func (s *Store) observerList() []Observer {
	if p := s.observers.Load(); p != nil {
		return *p
	}
	return nil
}

// Describe implements Sink.
func (s *Store) Describe(info SourceInfo) { s.source.Store(&info) }

// Source returns what the source said of itself through Describe; the
// zero SourceInfo before it did.
func (s *Store) Source() SourceInfo {
	if p := s.source.Load(); p != nil {
		return *p
	}
	return SourceInfo{}
}

// Reconfigure replaces the build configuration; the next Update uses it.
func (s *Store) Reconfigure(cfg Config) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg = cfg
	s.layers.drop()
	s.mu.Unlock()
	return nil
}
