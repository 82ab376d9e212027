package registry

// BuildInFull makes s build every snapshot in full, as before layered
// publishing, for benchmarks that compare the two.
func BuildInFull(s *Store) { s.layers.off = true }

// WaitFold waits for a background full build of s to be done.
func WaitFold(s *Store) { s.waitFold() }

// SetFoldTasks sets the overlay size that starts a fold, and returns the
// one before.
func SetFoldTasks(n int) int { old := foldTasks; foldTasks = n; return old }
