//go:build multinode

package multinode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
)

// Sleeper runs until SIGTERM and exits at once on it; a bare sleep as PID 1
// ignores SIGTERM and every stop would wait out the grace period.
var Sleeper = []string{"sh", "-c", `trap "exit 0" TERM; sleep 1000000 & wait`}

// UniqueName returns prefix with a random suffix, so that runs and tests
// never share a name.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// OnNode is the placement constraint that puts a service's tasks on n.
func OnNode(n *Node) []string { return []string{"--constraint", "node.hostname==" + n.Name} }

// Network creates an attachable overlay network on the Swarm (extra flags
// such as --internal go to docker network create) and removes it when the
// test ends.
func (c *Cluster) Network(t testing.TB, name string, flags ...string) {
	t.Helper()
	args := append([]string{"network", "create", "--driver", "overlay", "--attachable", "--label", Label}, flags...)
	if _, err := c.Manager().Docker(t.Context(), append(args, name)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A network stays in use until the tasks on it are gone.
		err := Eventually(context.Background(), 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
			_, err := c.Manager().Docker(ctx, "network", "rm", name)
			return err
		})
		if err != nil {
			t.Errorf("remove network %s: %v", name, err)
		}
	})
}

// Service creates a service of the test image with docker service create
// flags and command cmd, removes it when the test ends, and waits until
// it has want running tasks.
func (c *Cluster) Service(t testing.TB, name string, want int, flags []string, cmd ...string) {
	t.Helper()
	args := []string{"service", "create", "--detach", "--quiet", "--no-resolve-image", "--label", Label, "--name", name}
	args = append(append(args, flags...), Image)
	if _, err := c.Manager().Docker(t.Context(), append(args, cmd...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Manager().Docker(context.Background(), "service", "rm", name); err != nil {
			t.Errorf("remove service %s: %v", name, err)
		}
	})
	err := Eventually(t.Context(), 60*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
		tasks, err := c.RunningTasks(ctx, name)
		if err == nil && len(tasks) != want {
			err = fmt.Errorf("service %s has %d running tasks, want %d", name, len(tasks), want)
		}
		return err
	})
	if err != nil {
		ps, _ := c.Manager().Docker(context.Background(), "service", "ps", "--no-trunc", "--format", "{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}", name)
		t.Fatalf("%v; its tasks:\n%s", err, ps)
	}
}

// Task is a running task of a service as the manager reports it.
type Task struct {
	ID    string
	Node  *Node
	Addrs map[string]netip.Addr // by network name
}

// RunningTasks returns the service's tasks that the manager says run and
// are meant to.
func (c *Cluster) RunningTasks(ctx context.Context, service string) ([]Task, error) {
	api, err := c.Manager().API()
	if err != nil {
		return nil, err
	}
	nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	byID := map[string]*Node{}
	for _, n := range nodes {
		byID[n.ID] = c.Node(n.Description.Hostname)
	}
	tasks, err := api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", service), filters.Arg("desired-state", "running"))})
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", service, err)
	}
	var out []Task
	for _, tk := range tasks {
		if tk.Status.State != swarm.TaskStateRunning {
			continue
		}
		task := Task{ID: tk.ID, Node: byID[tk.NodeID], Addrs: map[string]netip.Addr{}}
		for _, att := range tk.NetworksAttachments {
			for _, a := range att.Addresses {
				if p, err := netip.ParsePrefix(a); err == nil {
					task.Addrs[att.Network.Spec.Name] = p.Addr()
				}
			}
		}
		out = append(out, task)
	}
	return out, nil
}

// TaskContainer returns the ID of the one running container of service on
// node n.
func (n *Node) TaskContainer(ctx context.Context, service string) (string, error) {
	out, err := n.Docker(ctx, "ps", "-q", "--no-trunc", "--filter", "status=running",
		"--filter", "label=com.docker.swarm.service.name="+service)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", fmt.Errorf("%s runs %d containers of service %s, want 1", n, len(ids), service)
	}
	return ids[0], nil
}

// Container runs a container of the test image on node n (docker run
// flags, command cmd; always --init), removes it when the test ends, and
// returns its ID.
func (n *Node) Container(t testing.TB, name string, flags []string, cmd ...string) string {
	t.Helper()
	args := append([]string{"run", "--detach", "--init", "--label", Label, "--name", name}, flags...)
	id, err := n.Docker(t.Context(), append(append(args, Image), cmd...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := n.Docker(context.Background(), "rm", "--force", id); err != nil {
			t.Errorf("remove container %s on %s: %v", name, n, err)
		}
	})
	return id
}

// ContainerPID returns the PID of a container's first process on node n,
// whose network namespace is the container's.
func (n *Node) ContainerPID(ctx context.Context, id string) (int, error) {
	out, err := n.Docker(ctx, "inspect", "--format", "{{.State.Pid}}", id)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(out)
	if err != nil || pid == 0 {
		return 0, fmt.Errorf("container %s on %s has no process (pid %q)", id, n, out)
	}
	return pid, nil
}

// SortedAddrs returns the addresses in order, for comparing answers.
func SortedAddrs(addrs []netip.Addr) []netip.Addr {
	out := slices.Clone(addrs)
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
