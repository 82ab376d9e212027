//go:build multinode

package multinode

import (
	"slices"
	"strings"
	"testing"
)

// The real Swarm has the nodes multinode-up.sh recorded, with their roles,
// names and addresses, and the other Swarm is a cluster of its own.
func TestSwarmHasTheRecordedManagersAndWorkers(t *testing.T) {
	ctx := t.Context()
	if len(bed.Managers()) < 2 || len(bed.Workers()) < 1 {
		t.Fatalf("test bed has %d managers and %d workers, issue 14 needs at least 2 and 1", len(bed.Managers()), len(bed.Workers()))
	}
	out, err := bed.Manager().Docker(ctx, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		name, rest, _ := strings.Cut(line, " ")
		listed[name] = strings.TrimSpace(rest)
	}
	if len(listed) != len(bed.Nodes) {
		t.Errorf("docker node ls lists %d nodes, the test bed has %d:\n%s", len(listed), len(bed.Nodes), out)
	}
	for _, n := range bed.Nodes {
		want := map[Role][]string{Manager: {"Ready Leader", "Ready Reachable"}, Worker: {"Ready"}}[n.Role]
		if got := listed[n.Name]; !slices.Contains(want, got) {
			t.Errorf("node ls says %s is %q, want one of %q", n, got, want)
		}
	}

	cluster := map[string]string{}
	for _, n := range append(bed.Nodes, bed.Other) {
		if n == nil {
			continue
		}
		info, err := n.Docker(ctx, "info", "--format", "{{.Name}} {{.Swarm.NodeAddr}} {{.Swarm.ControlAvailable}} {{.DockerRootDir}}")
		if err != nil {
			t.Fatal(err)
		}
		want := n.Name + " " + n.Addr.String() + " " + map[Role]string{Manager: "true", Worker: "false"}[n.Role] + " /var/lib/docker"
		if info != want {
			t.Errorf("%s: info says %q, want %q", n, info, want)
		}
		if n.Role == Manager {
			id, err := n.Docker(ctx, "info", "--format", "{{.Swarm.Cluster.ID}}")
			if err != nil {
				t.Fatal(err)
			}
			cluster[n.Cluster+"/"+id] = n.Name
		}
	}
	if bed.Other != nil && len(cluster) != 2 {
		t.Errorf("want one cluster ID for the Swarm's managers and one for %s, got %v", bed.Other, cluster)
	}

	// A worker's engine is not a manager's: what issue 14's follower is for.
	_, err = bed.Workers()[0].Docker(ctx, "service", "ls")
	if err == nil || !strings.Contains(err.Error(), "not a swarm manager") {
		t.Errorf("service ls on worker %s: want \"not a swarm manager\", got %v", bed.Workers()[0], err)
	}
}
