//go:build multinode

package multinode

import (
	"testing"
	"time"
)

// Docker's embedded DNS (127.0.0.11) inside a task container on every node
// answers tasks.<service> with the addresses of every task, on every node
// alike: the per-node baseline a sidecar's answers are compared with.
func TestEmbeddedDNSAnswersTasksAlikeOnEveryNode(t *testing.T) {
	s := globalService(t)
	want := s.addrs()
	if len(want) != len(bed.Nodes) {
		t.Fatalf("want one task address per node on %s, got %v", s.network, want)
	}
	for _, n := range bed.Nodes {
		if err := s.waitAnswer(t.Context(), n, want, 30*time.Second); err != nil {
			t.Error(err)
		}
	}
}
