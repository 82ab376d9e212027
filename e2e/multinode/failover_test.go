//go:build multinode

package multinode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// switchWithin is how soon a follower whose manager instance went away
// follows another: a closed stream at once, a silent one after the peer
// timeout (3 s) and a dial.
const switchWithin = 6 * time.Second

// followedManager returns the node whose sidecar the sidecar (operations
// API at ops) on node n follows, as its /readyz says, or an error while it
// follows none.
func followedManager(ctx context.Context, n *Node, ops string) (*Node, error) {
	_, body, err := n.Get(ctx, ops, "/readyz")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, "following manager ")
		if !ok {
			continue
		}
		host, _, err := net.SplitHostPort(strings.Fields(rest)[0])
		if err != nil {
			return nil, fmt.Errorf("%s: /readyz: %q: %w", n, line, err)
		}
		for _, m := range bed.Managers() {
			if m.Addr.String() == host {
				return m, nil
			}
		}
		return nil, fmt.Errorf("%s follows %s, which is no manager of the test bed", n, host)
	}
	return nil, fmt.Errorf("%s follows no manager: %s", n, body)
}

// answerWatch asks a resolver for one name every 50 ms until stopped and
// keeps every answer that was not want.
type answerWatch struct {
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	asked int
	wrong []string
}

// watchAnswers asks r for name every 50 ms and counts the answers that
// are neither want nor one of also.
func watchAnswers(r *Poller, name string, want []netip.Addr, also ...[]netip.Addr) *answerWatch {
	w := &answerWatch{stop: make(chan struct{})}
	w.done.Go(func() {
		defer r.Close()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			a := r.A(name, 200*time.Millisecond)
			w.mu.Lock()
			w.asked++
			ok := a.Err == nil && a.Rcode == 0 && slices.Equal(a.Addrs, want)
			for _, o := range also {
				ok = ok || a.Err == nil && a.Rcode == 0 && slices.Equal(a.Addrs, o)
			}
			if !ok {
				w.wrong = append(w.wrong, time.Now().Format("15:04:05.000")+" "+a.String())
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	})
	return w
}

// end stops the watch and returns how many queries it asked and the wrong
// answers.
func (w *answerWatch) end() (int, []string) {
	close(w.stop)
	w.done.Wait()
	return w.asked, w.wrong
}

// followerWorkload is a service of two tasks on an overlay network whose
// tasks the worker's sidecar answers.
func followerWorkload(t *testing.T, worker *Node, dnsAddr string) (name string, want []netip.Addr) {
	t.Helper()
	net, svc := UniqueName("mn-fo-net"), UniqueName("mn-fo")
	bed.Network(t, net)
	bed.Service(t, svc, 2, []string{"--replicas", "2", "--network", net}, Sleeper...)
	tasks, err := bed.RunningTasks(t.Context(), svc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		want = append(want, tk.Addrs[net])
	}
	want = SortedAddrs(want)
	name = "tasks." + svc
	r := &Poller{Netns: worker.Netns, Server: dnsAddr}
	defer r.Close()
	err = Eventually(t.Context(), 10*time.Second, 100*time.Millisecond, func(context.Context) error {
		if a := r.A(name, time.Second); a.Err != nil || !slices.Equal(a.Addrs, want) {
			return fmt.Errorf("%s's sidecar answers %s with %s, want %v", worker, name, a, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return name, want
}

// A follower (the worker's sidecar of deploy/stack.yml, on the real
// Swarm) whose manager instance goes away — its swarmdns task's container
// killed with docker kill, then, separately, the link of the manager it
// then follows cut (veth down) — keeps answering what it had in every
// query (asked every 50 ms), follows the other manager's sidecar within a
// few seconds, logs the loss and the new manager once each, and /readyz and
// swarmdns_follower_manager say which manager it follows, 0 changes behind.
func TestFollowerSwitchesManagerWhenItsManagerGoes(t *testing.T) {
	stack := UniqueName("mn-fo")
	bed.DeployStack(t, stack, map[string]string{"SWARMDNS_IMAGE": SidecarImage()})
	waitSidecarsReady(t)
	worker := bed.Workers()[0]
	sidecar, err := worker.TaskContainer(t.Context(), SidecarService(stack))
	if err != nil {
		t.Fatal(err)
	}
	name, want := followerWorkload(t, worker, "127.0.0.1:53")

	// switchOver makes the fault on the manager followed and checks the
	// follower's switch to the other one.
	switchOver := func(t *testing.T, fault func(ctx context.Context, m *Node) error, lostBecause string) {
		ctx := t.Context()
		from, err := followedManager(ctx, worker, OpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		before, err := worker.Metrics(ctx, OpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		switches, _ := Metric(before, "swarmdns_follower_switches_total")
		var also [][]netip.Addr
		if lostBecause == "silent" {
			// A node whose link is cut is one the manager instances
			// cannot reach: its task rightly leaves the answers
			// (registry/swarm liveness.go), and only its task.
			also = append(also, withoutTasksOn(t, name, want, from))
		}
		watch := watchAnswers(&Poller{Netns: worker.Netns, Server: "127.0.0.1:53"}, name, want, also...)
		start := time.Now()
		if err := fault(ctx, from); err != nil {
			watch.end()
			t.Fatal(err)
		}
		var to *Node
		took, err := Since(ctx, start, 20*time.Second, 50*time.Millisecond, func(ctx context.Context) error {
			m, err := followedManager(ctx, worker, OpsAddr)
			if err == nil && m == from {
				err = fmt.Errorf("%s still follows %s", worker, from)
			}
			to = m
			return err
		})
		// Answers a while longer on the new manager too.
		time.Sleep(time.Second)
		asked, wrong := watch.end()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s followed %s %.1f s after the fault (was %s); %d queries, %d wrong", worker, to, took.Seconds(), from, asked, len(wrong))
		if took > switchWithin {
			t.Errorf("%s followed another manager %.1f s after the fault, want within %s", worker, took.Seconds(), switchWithin)
		}
		if len(wrong) > 0 {
			t.Errorf("%d of %d answers for %s were not %v meanwhile: %v", len(wrong), asked, name, want, wrong[:min(5, len(wrong))])
		}

		lines, err := worker.Logs(ctx, sidecar, start.Add(-500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		fromAddr, toAddr := net.JoinHostPort(from.Addr.String(), "5354"), net.JoinHostPort(to.Addr.String(), "5354")
		lost, following := WithMsg(lines, "manager lost"), WithMsg(lines, "following manager")
		if len(lost) != 1 || lost[0].Field("manager") != fromAddr || !strings.Contains(lost[0].Field("error"), lostBecause) {
			t.Errorf("logged \"manager lost\" %d times (%v), want once for %s with %q", len(lost), lost, fromAddr, lostBecause)
		}
		if len(following) != 1 || following[0].Field("manager") != toAddr || following[0].Field("previous") != fromAddr {
			t.Errorf("logged \"following manager\" %d times (%v), want once for %s, previous %s", len(following), following, toAddr, fromAddr)
		}

		_, ready, err := worker.Get(ctx, OpsAddr, "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ready, "ready\nfollowing manager "+toAddr) || !strings.Contains(ready, ", 0 changes behind") {
			t.Errorf("/readyz on %s: %q, want ready, following %s, 0 changes behind", worker, ready, toAddr)
		}
		after, err := worker.Metrics(ctx, OpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := Metric(after, "swarmdns_follower_switches_total"); v != switches+1 {
			t.Errorf("swarmdns_follower_switches_total %v → %v, want one switch", switches, v)
		}
		if !strings.Contains(after, "\nswarmdns_follower_manager{manager=\""+toAddr+"\",") {
			t.Errorf("swarmdns_follower_manager does not name %s", toAddr)
		}
		for _, m := range []string{"swarmdns_follower_connected 1", "swarmdns_follower_behind_changes 0"} {
			if !strings.Contains(after, "\n"+m+"\n") {
				t.Errorf("/metrics on %s: no %q", worker, m)
			}
		}
	}

	t.Run("its manager's swarmdns killed", func(t *testing.T) {
		switchOver(t, func(ctx context.Context, m *Node) error {
			id, err := m.TaskContainer(ctx, SidecarService(stack))
			if err == nil {
				_, err = m.Docker(ctx, "kill", id)
			}
			return err
		}, "")
	})

	t.Run("its manager's link cut", func(t *testing.T) {
		// The killed sidecar is back (restart policy): the follower has
		// somewhere to go.
		waitSidecarsReady(t)
		var cut *Node
		t.Cleanup(func() {
			if cut != nil {
				healAndSettle(t, cut)
			}
		})
		switchOver(t, func(ctx context.Context, m *Node) error {
			cut = m
			return m.CutLink(ctx)
		}, "silent")
	})
}

// healAndSettle heals node n's link and waits until every node is Ready
// in the Swarm again and its managers have a leader.
func healAndSettle(t *testing.T, n *Node) {
	ctx := context.Background()
	if err := n.HealLink(ctx); err != nil {
		t.Fatal(err)
	}
	err := Eventually(ctx, 90*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
		out, err := bed.Manager().Docker(ctx, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
		if err != nil {
			return err
		}
		leader := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[1] != "Ready" {
				return fmt.Errorf("not every node is Ready: %q", out)
			}
			leader = leader || slices.Contains(f, "Leader")
		}
		if !leader {
			return errors.New("the managers have no leader")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the Swarm after %s's link healed: %v", n, err)
	}
}

// A follower with no manager reachable — a second follower on the worker
// (the real binary, --stale-after 3s, managers found from its engine), the
// managers' peer port then dropped by a firewall rule in the worker's
// network namespace, so that only the follow streams are cut, not Swarm —
// keeps answering its last data in every query, never empty, logs that no
// manager is reachable once, reports stale on /readyz after --stale-after
// and is ready again once the managers are reachable.
func TestFollowerWithNoManagerServesItsLastDataAndGoesStale(t *testing.T) {
	const staleAfter = 3 * time.Second
	stack := UniqueName("mn-stale")
	bed.DeployStack(t, stack, map[string]string{"SWARMDNS_IMAGE": SidecarImage()})
	waitSidecarsReady(t)
	worker := bed.Workers()[0]
	ctx := t.Context()
	f := worker.RunSwarmdns(t, "--stale-after", staleAfter.String())
	err := Eventually(ctx, 20*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		code, body, err := f.Ready(ctx)
		if err == nil && code != 200 {
			err = fmt.Errorf("/readyz %d: %s", code, body)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	name, want := followerWorkload(t, worker, f.DNS)

	watch := watchAnswers(&Poller{Netns: worker.Netns, Server: f.DNS}, name, want)
	rule := []string{"OUTPUT", "-p", "tcp", "--dport", "5354", "-m", "comment", "--comment", Label, "-j", "DROP"}
	start := time.Now()
	if _, err := worker.Exec(ctx, "iptables", append([]string{"-I"}, rule...)...); err != nil {
		watch.end()
		t.Fatal(err)
	}
	blocked := true
	unblock := func() {
		if blocked {
			if _, err := worker.Exec(context.Background(), "iptables", append([]string{"-D"}, rule...)...); err != nil {
				t.Errorf("remove the firewall rule on %s: %v", worker, err)
			}
			blocked = false
		}
	}
	t.Cleanup(unblock)

	var readyz string
	stale, err := Since(ctx, start, 20*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		code, body, err := f.Ready(ctx)
		if err == nil && code != 503 {
			err = fmt.Errorf("/readyz %d: %s", code, body)
		}
		readyz = body
		return err
	})
	if err != nil {
		watch.end()
		t.Fatal(err)
	}
	// Every manager tried, none answered: said once, and the last data
	// still serves.
	var lines []LogLine
	unreachable, err := Since(ctx, start, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
		var err error
		if lines, err = worker.Logs(ctx, f.ID, start.Add(-500*time.Millisecond)); err != nil {
			return err
		}
		if len(WithMsg(lines, "no manager reachable; serving the last data")) == 0 {
			return errors.New("no manager reachable not logged")
		}
		return nil
	})
	time.Sleep(time.Second)
	asked, wrong := watch.end()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stale %.1f s after the managers became unreachable (--stale-after %s), \"no manager reachable\" logged after %.1f s; %d queries, %d wrong",
		stale.Seconds(), staleAfter, unreachable.Seconds(), asked, len(wrong))
	if stale < staleAfter || stale > staleAfter+3*time.Second {
		t.Errorf("/readyz failed %.1f s after the managers became unreachable, want after --stale-after %s and within a few seconds of it", stale.Seconds(), staleAfter)
	}
	if !strings.Contains(readyz, "registry is stale") {
		t.Errorf("/readyz: %q, want stale", readyz)
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d answers for %s were not the last data %v: %v", len(wrong), asked, name, want, wrong[:min(5, len(wrong))])
	}
	if lines, err = worker.Logs(ctx, f.ID, start.Add(-500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n := len(WithMsg(lines, "no manager reachable; serving the last data")); n != 1 {
		t.Errorf("logged \"no manager reachable\" %d times, want once", n)
	}
	if n := len(WithMsg(lines, "manager lost")); n != 1 {
		t.Errorf("logged \"manager lost\" %d times, want once", n)
	}
	if code, body, err := f.Ready(ctx); err != nil || code != 503 || !strings.Contains(body, "following no manager") {
		t.Errorf("/readyz with every manager unreachable: %d %q (%v), want 503, following no manager", code, body, err)
	}

	unblock()
	back, err := Since(ctx, time.Now(), 30*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		code, body, err := f.Ready(ctx)
		if err == nil && code != 200 {
			err = fmt.Errorf("/readyz %d: %s", code, body)
		}
		return err
	})
	if err != nil {
		t.Fatalf("after the managers became reachable again: %v", err)
	}
	t.Logf("ready again %.1f s after the managers became reachable", back.Seconds())
}

// withoutTasksOn returns want without the addresses of the running tasks
// of the service that name asks for (tasks.<service>) on node n.
func withoutTasksOn(t *testing.T, name string, want []netip.Addr, n *Node) []netip.Addr {
	t.Helper()
	tasks, err := bed.RunningTasks(t.Context(), strings.TrimPrefix(name, "tasks."))
	if err != nil {
		t.Fatal(err)
	}
	on := map[netip.Addr]bool{}
	for _, task := range tasks {
		if task.Node == n {
			for _, a := range task.Addrs {
				on[a] = true
			}
		}
	}
	var out []netip.Addr
	for _, a := range want {
		if !on[a] {
			out = append(out, a)
		}
	}
	return out
}
