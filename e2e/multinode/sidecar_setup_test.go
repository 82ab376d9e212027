//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// deploySidecars deploys deploy/stack.yml as a new stack with the suite's
// sidecar image and the stack variables env (SWARMDNS_UPSTREAM, …), removed
// at the test's end, and waits until every node's sidecar is ready.
func deploySidecars(t *testing.T, env map[string]string) {
	t.Helper()
	vars := map[string]string{"SWARMDNS_IMAGE": SidecarImage()}
	maps.Copy(vars, env)
	bed.DeployStack(t, UniqueName("mn-sd"), vars)
	waitSidecarsReady(t)
}

// waitSidecarsReady waits until every node's sidecar is ready, the
// worker's following a manager.
func waitSidecarsReady(t *testing.T) {
	t.Helper()
	for _, n := range bed.Nodes {
		err := Eventually(t.Context(), 60*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			code, body, err := n.HTTP(ctx, "/readyz")
			switch {
			case err != nil:
				return err
			case code != 200:
				return fmt.Errorf("%s: /readyz %d: %s", n, code, body)
			case n.Role == Worker && !strings.Contains(body, "following manager"):
				return fmt.Errorf("%s: /readyz says no manager followed: %s", n, body)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// webOnEveryNode is a global service web (a task on every node, on network
// a, named port http:80) whose tasks mount the stack's swarmdns-resolv
// config at /etc/resolv.conf, and its task container on each node.
type webOnEveryNode struct {
	web, a    string
	webTasks  []Task
	container map[*Node]string // web's task container on each node
	pid       map[*Node]int
}

// newWebOnEveryNode creates the service (the sidecars must be up: the
// config is the stack's) and waits until every node's sidecar answers
// tasks.<web> with a task per node.
func newWebOnEveryNode(t *testing.T) *webOnEveryNode {
	t.Helper()
	ctx := t.Context()
	w := &webOnEveryNode{web: UniqueName("web"), a: UniqueName("mn-a"), container: map[*Node]string{}, pid: map[*Node]int{}}
	bed.Network(t, w.a)
	bed.Service(t, w.web, len(bed.Nodes), []string{"--mode", "global", "--network", w.a,
		"--label", "swarmdns.ports=http:80/tcp",
		"--config", "source=swarmdns-resolv,target=/etc/resolv.conf,mode=0444"}, Sleeper...)
	var err error
	if w.webTasks, err = bed.RunningTasks(ctx, w.web); err != nil {
		t.Fatal(err)
	}
	for _, n := range bed.Nodes {
		if w.container[n], err = n.TaskContainer(ctx, w.web); err != nil {
			t.Fatal(err)
		}
		if w.pid[n], err = n.ContainerPID(ctx, w.container[n]); err != nil {
			t.Fatal(err)
		}
	}
	// The manager's API said every task runs; its sidecars read it a
	// moment later, and the followers a moment after that.
	for _, n := range bed.Nodes {
		err := Eventually(ctx, 10*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
			got, err := LookupA(ctx, w.pid[n], NodeLocalDNS.String(), "tasks."+w.web)
			if err == nil && len(got) != len(bed.Nodes) {
				err = fmt.Errorf("%s's sidecar answers tasks.%s with %v, want %d tasks", n, w.web, got, len(bed.Nodes))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// webAddr is the address of web's task on node n, on network a.
func (w *webOnEveryNode) webAddr(n *Node) string {
	for _, tk := range w.webTasks {
		if tk.Node == n {
			return tk.Addrs[w.a].String()
		}
	}
	return ""
}
