package registry

import (
	"sync/atomic"
	"time"
)

// A SyncReporter hears how every sync of a Source went, including those
// that found nothing new and so did not call update: a quiet cluster is
// current, not stale. *Store implements it.
type SyncReporter interface {
	// SyncOK reports a sync that read the whole backend, in took.
	SyncOK(took time.Duration)
	// SyncFailed reports a sync that could not read the backend.
	SyncFailed(err error)
}

// syncState is what the Store knows of its source's syncs, for readiness
// and metrics.
type syncState struct {
	last     atomic.Int64 // unix nanoseconds of the last successful sync; 0: none
	errors   atomic.Uint64
	lastErr  atomic.Pointer[string]
	lastTook atomic.Int64 // nanoseconds
	// onSync is called after every reported sync (metrics).
	onSync atomic.Pointer[func(took time.Duration, err error)]
}

// delivered marks a sync that delivered Data through Update.
func (s *syncState) delivered(at time.Time) {
	s.last.Store(at.UnixNano())
	s.lastErr.Store(nil)
}

// SyncOK implements SyncReporter.
func (s *Store) SyncOK(took time.Duration) {
	s.sync.last.Store(time.Now().UnixNano())
	s.sync.lastTook.Store(int64(took))
	s.sync.lastErr.Store(nil)
	if fn := s.sync.onSync.Load(); fn != nil {
		(*fn)(took, nil)
	}
}

// SyncFailed implements SyncReporter. The published snapshot stays.
func (s *Store) SyncFailed(err error) {
	s.sync.errors.Add(1)
	msg := err.Error()
	s.sync.lastErr.Store(&msg)
	if fn := s.sync.onSync.Load(); fn != nil {
		(*fn)(0, err)
	}
}

// OnSync sets a function called after every SyncOK and SyncFailed.
func (s *Store) OnSync(fn func(took time.Duration, err error)) {
	s.sync.onSync.Store(&fn)
}

// LastSync returns when the source last synced successfully (an Update or
// a SyncOK); the zero time before the first.
func (s *Store) LastSync() time.Time {
	ns := s.sync.last.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
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
