package registry

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func testStore(t *testing.T) *Store {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	s, err := NewStore(Config{Domain: "swarm.internal."}, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreSyncState(t *testing.T) {
	data := &Data{Services: []Service{{ID: "s1", Name: "web", EndpointMode: ModeDNSRR}}}
	tests := []struct {
		name       string
		do         func(s *Store)
		synced     bool
		errors     uint64
		lastErr    string
		swaps      uint64
		onSyncSeen int
	}{
		{"a new store has never synced", func(*Store) {}, false, 0, "", 0, 0},
		{"an update is a successful sync", func(s *Store) { s.Update(data) }, true, 0, "", 1, 0},
		{"Synced without an update is a successful sync", func(s *Store) { s.Synced(time.Millisecond) }, true, 0, "", 0, 1},
		{"a failed sync counts and keeps its message", func(s *Store) { s.Failed(errors.New("manager unreachable")) }, false, 1, "manager unreachable", 0, 1},
		{"a sync after a failure clears the message", func(s *Store) {
			s.Failed(errors.New("boom"))
			s.Synced(time.Millisecond)
		}, true, 1, "", 0, 2},
		{"rebuild publishes but is not a sync", func(s *Store) {
			s.Update(data)
			before := s.LastSync()
			time.Sleep(2 * time.Millisecond)
			s.Rebuild()
			if !s.LastSync().Equal(before) {
				panic("rebuild moved LastSync")
			}
		}, true, 0, "", 2, 0},
		{"rebuild before the first update does nothing", func(s *Store) { s.Rebuild() }, false, 0, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStore(t)
			seen := 0
			s.Observe(ObserverFuncs{OnSynced: func(time.Duration, error) { seen++ }})
			tt.do(s)
			if got := !s.LastSync().IsZero(); got != tt.synced {
				t.Errorf("synced = %v, want %v", got, tt.synced)
			}
			if got := s.SyncErrors(); got != tt.errors {
				t.Errorf("SyncErrors = %d, want %d", got, tt.errors)
			}
			if got := s.LastSyncError(); got != tt.lastErr {
				t.Errorf("LastSyncError = %q, want %q", got, tt.lastErr)
			}
			if got := s.Swaps(); got != tt.swaps {
				t.Errorf("Swaps = %d, want %d", got, tt.swaps)
			}
			if seen != tt.onSyncSeen {
				t.Errorf("observer heard %d times, want %d", seen, tt.onSyncSeen)
			}
		})
	}
}

func TestRebuildAppliesReconfigure(t *testing.T) {
	s := testStore(t)
	s.Update(&Data{})
	if err := s.Reconfigure(Config{Domain: "other.test."}); err != nil {
		t.Fatal(err)
	}
	s.Rebuild()
	if got := s.Snapshot().Domain; got != "other.test." {
		t.Errorf("domain after rebuild = %q, want other.test.", got)
	}
}

func TestConfirmedAtMeansTheSameForEverySource(t *testing.T) {
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name   string
		stales bool
		do     func(s *Store)
		want   func(s *Store) time.Time // as of later
	}{
		{"nothing is confirmed before the first sync", false, func(*Store) {}, func(*Store) time.Time { return time.Time{} }},
		{"a failed first sync confirms nothing", true, func(s *Store) { s.Failed(errors.New("unreachable")) },
			func(*Store) time.Time { return time.Time{} }},
		{"a source that goes stale was confirmed at its last successful sync", true, func(s *Store) { s.Synced(0) },
			func(s *Store) time.Time { return s.LastSync() }},
		{"a failure does not move a staling source's confirmation", true, func(s *Store) {
			s.Synced(0)
			s.Failed(errors.New("unreachable"))
		}, func(s *Store) time.Time { return s.LastSync() }},
		{"a healthy watched file is confirmed now, however long ago it loaded", false, func(s *Store) { s.Update(&Data{}) },
			func(*Store) time.Time { return later }},
		{"a watched file whose reload failed was last confirmed at the failure", false, func(s *Store) {
			s.Update(&Data{})
			s.Failed(errors.New("bad file"))
		}, func(s *Store) time.Time { return time.Unix(0, s.sync.failing.Load()) }},
		{"the first failure counts, not the latest", false, func(s *Store) {
			s.Update(&Data{})
			s.Failed(errors.New("bad file"))
			first := s.sync.failing.Load()
			time.Sleep(2 * time.Millisecond)
			s.Failed(errors.New("still bad"))
			if s.sync.failing.Load() != first {
				panic("a later failure moved the first")
			}
		}, func(s *Store) time.Time { return time.Unix(0, s.sync.failing.Load()) }},
		{"a good reload after a failure confirms again", false, func(s *Store) {
			s.Update(&Data{})
			s.Failed(errors.New("bad file"))
			s.Update(&Data{})
		}, func(*Store) time.Time { return later }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStore(t)
			s.Describe(SourceInfo{Kind: "test", Stales: tt.stales})
			tt.do(s)
			want := tt.want(s)
			if got := s.ConfirmedAt(later); !got.Equal(want) {
				t.Errorf("ConfirmedAt = %v, want %v", got, want)
			}
		})
	}
}
