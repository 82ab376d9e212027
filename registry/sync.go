package registry

import (
	"sync/atomic"
	"time"
)

// syncState is what the Store knows of its source's syncs, for readiness
// and metrics.
type syncState struct {
	last     atomic.Int64 // unix nanoseconds of the last successful sync; 0: none
	errors   atomic.Uint64
	lastErr  atomic.Pointer[string]
	lastTook atomic.Int64 // nanoseconds
	// failing is the unix nanoseconds of the first failed sync since the
	// last successful one; 0 while the last sync succeeded.
	failing atomic.Int64
}

// delivered marks a sync that delivered Data through Update.
func (s *syncState) delivered(at time.Time) {
	s.last.Store(at.UnixNano())
	s.failing.Store(0)
	s.lastErr.Store(nil)
}

// Synced implements Sink.
func (s *Store) Synced(took time.Duration) {
	s.sync.last.Store(time.Now().UnixNano())
	s.sync.failing.Store(0)
	s.sync.lastTook.Store(int64(took))
	s.sync.lastErr.Store(nil)
	for _, o := range s.observerList() {
		o.Synced(took, nil)
	}
}

// Failed implements Sink. The published snapshot stays.
func (s *Store) Failed(err error) {
	s.sync.errors.Add(1)
	s.sync.failing.CompareAndSwap(0, time.Now().UnixNano())
	msg := err.Error()
	s.sync.lastErr.Store(&msg)
	for _, o := range s.observerList() {
		o.Synced(0, err)
	}
}

// LastSync returns when the source last synced successfully (an Update or
// a Synced); the zero time before the first.
func (s *Store) LastSync() time.Time {
	ns := s.sync.last.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// ConfirmedAt returns, as of now, when the source last confirmed that the
// published data is what its backend holds; the zero time before the
// first successful sync. For a source whose data goes stale (a Swarm
// manager) that is its last successful sync. One that does not (a watched
// file) confirms it all the time while its last sync succeeded: now; after
// a failed sync, when the first failure since the last success came.
func (s *Store) ConfirmedAt(now time.Time) time.Time {
	last := s.LastSync()
	if last.IsZero() || s.Source().Stales {
		return last
	}
	if ns := s.sync.failing.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return now
}

// SyncErrors counts failed syncs.
func (s *Store) SyncErrors() uint64 { return s.sync.errors.Load() }

// LastSyncError returns the error of the last sync when it failed, or "".
func (s *Store) LastSyncError() string {
	if p := s.sync.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Rebuild builds the current data again with the current configuration
// (after Reconfigure) and publishes it. It does nothing before the first
// Update, and it is not a sync.
func (s *Store) Rebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap := s.cur.Load(); snap != nil {
		s.publish(snap.Data)
	}
}
