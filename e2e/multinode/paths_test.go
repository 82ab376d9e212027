//go:build multinode

package multinode

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// What a service bind-mounts from /var/run/docker.sock and
// /var/lib/docker is its own node's, as on a machine of its own: the same
// stack file (deploy/stack.yml) then gives each node's sidecar its node's
// engine and Swarm certificates.
func TestBindMountsGiveEachNodeItsOwnSocketAndCertificates(t *testing.T) {
	for _, n := range bed.Nodes {
		t.Run(n.Name, func(t *testing.T) {
			ctx := t.Context()
			id := n.Container(t, UniqueName("mn-paths"), []string{
				"--volume", "/var/run/docker.sock:/engine.sock:ro",
				"--volume", "/var/lib/docker/swarm/certificates:/certs:ro",
			}, Sleeper...)
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(n.runDir(), "docker.sock"), &st); err != nil {
				t.Fatal(err)
			}
			inode, err := n.Docker(ctx, "exec", id, "busybox", "stat", "-c", "%i", "/engine.sock")
			if err != nil {
				t.Fatal(err)
			}
			if inode != strconv.FormatUint(st.Ino, 10) {
				t.Errorf("/var/run/docker.sock in a container on %s is inode %s, want its engine's socket %d", n, inode, st.Ino)
			}
			crt, err := n.Docker(ctx, "exec", id, "cat", "/certs/swarm-node.crt")
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(n.DataRoot(), "swarm", "certificates", "swarm-node.crt"))
			if err != nil {
				t.Fatal(err)
			}
			if crt != strings.TrimSpace(string(want)) {
				t.Errorf("swarm-node.crt in a container on %s is not the node's own", n)
			}
		})
	}
}
