package registry

import "time"

// An Observer hears what happens in a Store: metrics, logs, followers'
// streams. Its methods are called on the goroutine that published or
// reported, in the order the observers were added; they must not block.
type Observer interface {
	// Published is called after each publish with the new snapshot and
	// how long its build took.
	Published(snap *Snapshot, build time.Duration)
	// Synced is called after each sync the source reports: err is nil
	// for one that read the backend (took is how long), non-nil for one
	// that failed.
	Synced(took time.Duration, err error)
}

// ObserverFuncs adapts functions to an Observer; a nil field is skipped.
type ObserverFuncs struct {
	OnPublished func(snap *Snapshot, build time.Duration)
	OnSynced    func(took time.Duration, err error)
}

// Published implements Observer.
func (f ObserverFuncs) Published(snap *Snapshot, build time.Duration) {
	if f.OnPublished != nil {
		f.OnPublished(snap, build)
	}
}

// Synced implements Observer.
func (f ObserverFuncs) Synced(took time.Duration, err error) {
	if f.OnSynced != nil {
		f.OnSynced(took, err)
	}
}
