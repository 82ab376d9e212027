//go:build multinode

package multinode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Swarm config mounted at /etc/resolv.conf in a service replaces the file
// Docker writes (nameserver 127.0.0.11) in the task on every node, and a
// program in the task that reads it (busybox nslookup) then asks its own
// node's server at NodeLocalDNS: each node's probe answers with that
// node's address. This is how issue 14 has a service opt in to its node's
// sidecar.
func TestSwarmConfigAtResolvConfSendsQueriesToTheTasksNode(t *testing.T) {
	ctx := t.Context()
	for _, n := range bed.Nodes {
		serveProbe(t, n)
	}
	resolv := "nameserver " + NodeLocalDNS.String() + "\noptions ndots:1 timeout:1 attempts:2\n"
	config := UniqueName("mn-resolv")
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(resolv), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bed.Manager().Docker(ctx, "config", "create", "--label", Label, config, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := bed.Manager().Docker(context.Background(), "config", "rm", config); err != nil {
			t.Errorf("remove config %s: %v", config, err)
		}
	})
	s := globalService(t, "--config", "source="+config+",target=/etc/resolv.conf,mode=0444")

	for _, n := range bed.Nodes {
		id, err := n.TaskContainer(ctx, s.service)
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.Docker(ctx, "exec", id, "cat", "/etc/resolv.conf")
		if err != nil {
			t.Fatal(err)
		}
		if got != strings.TrimSpace(resolv) {
			t.Errorf("%s: /etc/resolv.conf in the task is %q, want the config's %q", n, got, resolv)
		}
		out, err := n.Docker(ctx, "exec", id, "nslookup", "-type=a", probeName)
		if err != nil {
			t.Errorf("%s: nslookup %s in the task: %v", n, probeName, err)
			continue
		}
		if !strings.Contains(out, "Address: "+n.Addr.String()) || !strings.Contains(out, "Server:\t\t"+NodeLocalDNS.String()) {
			t.Errorf("%s: want the answer of %s's own probe (%s) from %s, nslookup says:\n%s", n, n, n.Addr, NodeLocalDNS, out)
		}
	}
}
