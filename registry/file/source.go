package file

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// Source reads the registry from a YAML file and reloads it when the
// file changes or Reload is called. A file that fails to load on reload is
// reported and the previous data keeps serving.
type Source struct {
	Path string
	Log  *logrus.Entry
	// Debounce groups the bursts of events an editor's save makes.
	Debounce time.Duration
	reload   chan struct{}
	// services is how many services the last good load had.
	services int
}

// NewSource returns a source for the file at path.
func NewSource(path string, log *logrus.Entry) *Source {
	return &Source{Path: path, Log: log, Debounce: 100 * time.Millisecond, reload: make(chan struct{}, 1)}
}

// Reload asks Run to read the file again (SIGHUP).
func (f *Source) Reload() {
	select {
	case f.reload <- struct{}{}:
	default:
	}
}

// Run implements Source. The first load must succeed; later failures
// keep the last good data.
func (f *Source) Run(ctx context.Context, sink registry.Sink) error {
	// Watch before the first load, so no change slips in between. Watch
	// the directory: editors and config managers replace the file by
	// renaming a new one over it, which ends a watch on the file itself.
	abs, err := filepath.Abs(f.Path)
	if err != nil {
		return fmt.Errorf("watch registry %s: %w", f.Path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch registry %s: %w", f.Path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch registry %s: %w", f.Path, err)
	}
	// A watched file changes when the file does: it is never stale.
	sink.Describe(registry.SourceInfo{Kind: "file", Origin: f.Path, Checked: true})
	start := time.Now()
	d, err := Load(f.Path)
	if err != nil {
		return err
	}
	sink.Update(d)
	sink.Synced(time.Since(start))
	f.services = len(d.Services)
	f.Log.WithFields(logrus.Fields{"file": f.Path, "services": len(d.Services), "tasks": d.RunningTasks()}).Info("registry file loaded")

	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) != abs || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(f.Debounce)
			} else {
				timer.Reset(f.Debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			f.Log.WithError(err).WithField("file", f.Path).Warn("registry file watch error")
		case <-fire:
			fire = nil
			f.load(sink)
		case <-f.reload:
			f.load(sink)
		}
	}
}

func (f *Source) load(sink registry.Sink) {
	start := time.Now()
	d, err := Load(f.Path)
	if err != nil {
		f.Log.WithError(err).WithField("file", f.Path).Error("registry file rejected; serving the previous data")
		sink.Failed(err)
		return
	}
	if dropsMost(f.services, len(d.Services)) {
		f.Log.WithFields(logrus.Fields{"file": f.Path, "before": f.services, "after": len(d.Services)}).
			Warn("registry file reload drops most services; if that was not meant, the file may have been cut short")
	}
	sink.Update(d)
	sink.Synced(time.Since(start))
	f.services = len(d.Services)
	f.Log.WithFields(logrus.Fields{"file": f.Path, "services": len(d.Services), "tasks": d.RunningTasks()}).Info("registry file reloaded")
}

// dropsMost reports whether a reload from before to after services drops
// more than half of them, of at least a few: worth a warning, as a file
// cut short looks like that.
func dropsMost(before, after int) bool {
	return before >= 4 && after < before-before/2
}
