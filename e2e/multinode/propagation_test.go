//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Propagation polling: each resolver on each node is asked every
// propPoll, waiting propTimeout for its answer.
const (
	propPoll    = 50 * time.Millisecond
	propTimeout = 100 * time.Millisecond
	// propSettled: the manager's API has said the final task set this
	// long, and swarmdns on every node answers it since half of it.
	propSettled  = 2 * time.Second
	propDeadline = 45 * time.Second
	// propMargin is how much later than Docker's DNS on the same node
	// swarmdns may be before the target counts as missed: two polls and
	// the noise of a shared machine.
	propMargin = 250 * time.Millisecond
)

// timeline is one resolver's answers during one change.
type timeline struct {
	mu      sync.Mutex
	at      []time.Duration
	answers []string
}

func (tl *timeline) add(at time.Duration, a string) {
	tl.mu.Lock()
	tl.at, tl.answers = append(tl.at, at), append(tl.answers, a)
	tl.mu.Unlock()
}

// rightSince returns since when the answer has been want, and whether the
// last one is.
func (tl *timeline) rightSince(want string) (time.Duration, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	i := len(tl.answers)
	for i > 0 && tl.answers[i-1] == want {
		i--
	}
	if i == len(tl.answers) {
		return 0, false
	}
	return tl.at[i], true
}

// goneSince returns the time of the first answer after the last one that
// held an address of stale: from then on they are gone.
func (tl *timeline) goneSince(stale map[string]bool) time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var at time.Duration
	for i, a := range tl.answers {
		for _, ad := range strings.Split(a, ",") {
			if stale[ad] && i+1 < len(tl.answers) {
				at = tl.at[i+1]
			}
		}
	}
	return at
}

func (tl *timeline) first() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.answers) == 0 {
		return ""
	}
	return tl.answers[0]
}

// transitions is the timeline's changes of answer, for the log.
func (tl *timeline) transitions() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	for i, a := range tl.answers {
		if i == 0 || a != tl.answers[i-1] {
			fmt.Fprintf(&b, " %s:[%s]", tl.at[i].Round(time.Millisecond), a)
		}
	}
	return b.String()
}

// resolverKinds are the two resolvers compared on each node.
var resolverKinds = []string{"docker", "swarmdns"}

// nodeTimes is one change as seen on one node: when each resolver's
// answer became final, and when the removed addresses were gone; never is
// true when Docker's answer had not settled by the deadline.
type nodeTimes struct {
	final, gone map[string]time.Duration
	never       bool
	drained     bool // the node's sidecar was stopped by the change itself
}

// measureChange runs apply and polls both resolvers on every node until
// the manager's API and swarmdns on every node have settled on the final
// task set (truth), and returns the times per node, from just before
// apply.
func measureChange(t *testing.T, change string, clients map[*Node]string, without *Node, name string, truth func(context.Context) (string, bool, error), apply func(context.Context) error) map[*Node]nodeTimes {
	t.Helper()
	ctx := t.Context()
	tls := map[*Node]map[string]*timeline{}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n, netns := range clients {
		tls[n] = map[string]*timeline{}
		for _, kind := range resolverKinds {
			tl := &timeline{}
			tls[n][kind] = tl
			server := EmbeddedDNS + ":53"
			if kind == "swarmdns" {
				server = NodeLocalDNS.String() + ":53"
			}
			r := &Poller{Netns: netns, Server: server}
			wg.Go(func() {
				defer r.Close()
				tick := time.NewTicker(propPoll)
				defer tick.Stop()
				for {
					at := time.Since(start)
					// A query that got no answer in time says nothing.
					if a := r.A(name, propTimeout); a.Err == nil {
						tl.add(at, a.String())
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			})
		}
	}
	defer func() { close(stop); wg.Wait() }()
	if err := apply(ctx); err != nil {
		t.Fatalf("%s: %v", change, err)
	}
	var (
		want     string
		wantFrom time.Duration
	)
	deadline := time.Now().Add(propDeadline)
	for {
		time.Sleep(100 * time.Millisecond)
		got, done, err := truth(ctx)
		if err != nil {
			t.Fatalf("%s: the manager's API: %v", change, err)
		}
		now := time.Since(start)
		if got != want || !done {
			want, wantFrom = got, now
		}
		settled := done && now-wantFrom >= propSettled
		dockerSettled := true
		for n, m := range tls {
			at, ok := m["swarmdns"].rightSince(want)
			settled = settled && (n == without || ok && now-at >= propSettled/2)
			at, ok = m["docker"].rightSince(want)
			dockerSettled = dockerSettled && ok && now-at >= propSettled/2
		}
		timedOut := time.Now().After(deadline)
		if !(settled && (dockerSettled || timedOut)) {
			if timedOut {
				for n, m := range tls {
					t.Logf("%s on %s: docker%s", change, n, m["docker"].transitions())
					t.Logf("%s on %s: swarmdns%s", change, n, m["swarmdns"].transitions())
				}
				t.Fatalf("%s: swarmdns did not settle on %q within %s", change, want, propDeadline)
			}
			continue
		}
		stale := map[string]bool{}
		for _, m := range tls {
			for _, tl := range m {
				for _, a := range strings.Split(tl.first(), ",") {
					stale[a] = true
				}
			}
		}
		for _, a := range strings.Split(want, ",") {
			delete(stale, a)
		}
		out := map[*Node]nodeTimes{}
		for n, m := range tls {
			nt := nodeTimes{final: map[string]time.Duration{}, gone: map[string]time.Duration{}}
			for kind, tl := range m {
				at, ok := tl.rightSince(want)
				if kind == "docker" && (!ok || time.Since(start)-at < propSettled/2) {
					nt.never = true
				}
				if kind == "swarmdns" && n == without {
					nt.drained = true
				}
				nt.final[kind], nt.gone[kind] = at, tl.goneSince(stale)
			}
			if testing.Verbose() {
				t.Logf("%s on %s: docker%s", change, n, m["docker"].transitions())
				t.Logf("%s on %s: swarmdns%s", change, n, m["swarmdns"].transitions())
			}
			out[n] = nt
		}
		return out
	}
}

// runsFromEnv is SWARMDNS_MULTINODE_RUNS, else def.
func runsFromEnv(def int) int {
	if v, err := strconv.Atoi(os.Getenv("SWARMDNS_MULTINODE_RUNS")); err == nil && v > 0 {
		return v
	}
	return def
}

// A change made on the manager — scale up, scale down, docker kill of the
// task on the worker, a rolling update, a drain of the worker — measured
// on every node of the real Swarm in the same run: how long until the
// sidecar there (deploy/stack.yml, asked at 169.254.53.53) and Docker's
// embedded DNS there (127.0.0.11) answer tasks.<svc> with the final task
// set, and until neither answers a removed address, both asked every 50 ms
// from a container on the service's network on that node.
// SWARMDNS_MULTINODE_RUNS sets the runs (default 1);
// SWARMDNS_MULTINODE_PROPAGATION=FILE writes the table to FILE. The target,
// asserted on each node's median with a margin of 250 ms: never later
// than Docker's DNS on the same node.
func TestPropagationOnEveryNode(t *testing.T) {
	runs := runsFromEnv(1)
	stack := UniqueName("mn-prop")
	bed.DeployStack(t, stack, map[string]string{"SWARMDNS_IMAGE": SidecarImage()})
	waitSidecarsReady(t)
	ctx := t.Context()
	network := UniqueName("mn-prop-net")
	bed.Network(t, network)
	clients := map[*Node]string{}
	for _, n := range bed.Nodes {
		id := n.Container(t, UniqueName("mn-prop-client"), []string{"--network", network}, Sleeper...)
		pid, err := n.ContainerPID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		clients[n] = ContainerNetns(pid)
	}
	api, err := bed.Manager().API()
	if err != nil {
		t.Fatal(err)
	}
	worker := bed.Workers()[0]

	type step struct {
		name  string
		drain *Node // the node the change drains, sidecar included
		tasks int   // running when the change is complete
		idle  bool  // an update that must have completed
		// before, if set, waits for what the step needs, unmeasured.
		before func(ctx context.Context, svc string) error
		apply  func(ctx context.Context, svc string) error
		after  func(ctx context.Context, svc string) error
	}
	mgr := func(args ...string) func(ctx context.Context, svc string) error {
		return func(ctx context.Context, svc string) error {
			_, err := bed.Manager().Docker(ctx, append(args[:len(args):len(args)], svc)...)
			return err
		}
	}
	steps := []step{
		{name: "scale up 3→4", tasks: 4, apply: func(ctx context.Context, svc string) error {
			_, err := bed.Manager().Docker(ctx, "service", "scale", "--detach", svc+"=4")
			return err
		}},
		{name: "scale down 4→3", tasks: 3, apply: func(ctx context.Context, svc string) error {
			_, err := bed.Manager().Docker(ctx, "service", "scale", "--detach", svc+"=3")
			return err
		}},
		{name: "docker kill of the task on the worker", tasks: 3, before: func(ctx context.Context, svc string) error {
			// A task the scale down stopped may still be exiting there.
			_, err := worker.TaskContainer(ctx, svc)
			for deadline := time.Now().Add(15 * time.Second); err != nil && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				_, err = worker.TaskContainer(ctx, svc)
			}
			return err
		}, apply: func(ctx context.Context, svc string) error {
			id, err := worker.TaskContainer(ctx, svc)
			if err == nil {
				_, err = worker.Docker(ctx, "kill", id)
			}
			return err
		}},
		{name: "rolling update --force", tasks: 3, idle: true, apply: mgr("service", "update", "--detach", "--force")},
		{name: "drain the worker", drain: worker, tasks: 3, apply: func(ctx context.Context, svc string) error {
			_, err := bed.Manager().Docker(ctx, "node", "update", "--availability", "drain", worker.Name)
			return err
		}, after: func(ctx context.Context, svc string) error {
			_, err := bed.Manager().Docker(ctx, "node", "update", "--availability", "active", worker.Name)
			return err
		}},
	}
	t.Cleanup(func() {
		bed.Manager().Docker(context.Background(), "node", "update", "--availability", "active", worker.Name)
	})

	results := map[string]map[*Node][]nodeTimes{}
	for run := range runs {
		t.Run(fmt.Sprintf("run %d", run+1), func(t *testing.T) {
			waitSidecarsReady(t) // the worker's is back after the last run's drain
			svc := UniqueName("mn-prop")
			// Three tasks, spread: one on each node.
			bed.Service(t, svc, 3, []string{"--replicas", "3", "--network", network, "--update-parallelism", "1", "--update-delay", "0s"}, Sleeper...)
			truth := func(n int, idle bool) func(ctx context.Context) (string, bool, error) {
				return func(ctx context.Context) (string, bool, error) {
					tasks, err := bed.RunningTasks(ctx, svc)
					if err != nil {
						return "", false, err
					}
					addrs := SortedTasks(tasks, network)
					done := len(tasks) == n
					if idle {
						s, _, err := api.ServiceInspectWithRaw(ctx, svc, swarm.ServiceInspectOptions{})
						if err != nil {
							return "", false, err
						}
						done = done && !(s.UpdateStatus != nil && s.UpdateStatus.State == swarm.UpdateStateUpdating)
					}
					return strings.Join(addrs, ","), done, nil
				}
			}
			name := "tasks." + svc
			measureChange(t, "settle", clients, nil, name, truth(3, false), func(context.Context) error { return nil })
			if _, err := worker.TaskContainer(ctx, svc); err != nil {
				t.Fatalf("the spread left the worker without a task: %v", err)
			}
			for _, s := range steps {
				if s.before != nil {
					if err := s.before(ctx, svc); err != nil {
						t.Fatalf("%s: %v", s.name, err)
					}
				}
				times := measureChange(t, s.name, clients, s.drain, name, truth(s.tasks, s.idle), func(ctx context.Context) error { return s.apply(ctx, svc) })
				if results[s.name] == nil {
					results[s.name] = map[*Node][]nodeTimes{}
				}
				for _, n := range bed.Nodes {
					nt := times[n]
					results[s.name][n] = append(results[s.name][n], nt)
					t.Logf("%-38s %s: final docker %5d ms swarmdns %5d ms; removed gone docker %5d ms swarmdns %5d ms%s", s.name, n,
						nt.final["docker"].Milliseconds(), nt.final["swarmdns"].Milliseconds(),
						nt.gone["docker"].Milliseconds(), nt.gone["swarmdns"].Milliseconds(), map[bool]string{true: " (Docker never settled)"}[nt.never])
				}
				if s.after != nil {
					if err := s.after(ctx, svc); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n%d run(s); milliseconds from the docker command, median / max over the runs.\n\n", runs)
	b.WriteString("| change | node | answer final: Docker 127.0.0.11 | swarmdns sidecar | removed addresses gone: Docker | swarmdns |\n|---|---|---|---|---|---|\n")
	for _, s := range steps {
		for _, n := range bed.Nodes {
			ts := results[s.name][n]
			if len(ts) == 0 {
				continue
			}
			col := func(get func(nodeTimes) time.Duration) (string, time.Duration) {
				var ds []time.Duration
				for _, x := range ts {
					ds = append(ds, get(x))
				}
				slices.Sort(ds)
				med := ds[(len(ds)-1)/2]
				return fmt.Sprintf("%d / %d", med.Milliseconds(), ds[len(ds)-1].Milliseconds()), med
			}
			dF, dFm := col(func(x nodeTimes) time.Duration { return x.final["docker"] })
			oF, oFm := col(func(x nodeTimes) time.Duration { return x.final["swarmdns"] })
			dG, dGm := col(func(x nodeTimes) time.Duration { return x.gone["docker"] })
			oG, oGm := col(func(x nodeTimes) time.Duration { return x.gone["swarmdns"] })
			if slices.ContainsFunc(ts, func(x nodeTimes) bool { return x.never }) {
				dF += " (not settled in some runs)"
			}
			if ts[0].drained {
				// Drain stops every task on the node, global ones too.
				fmt.Fprintf(&b, "| %s | %s | %s | drained with the node | %s | drained with the node |\n", s.name, n, dF, dG)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", s.name, n, dF, oF, dG, oG)
			if oFm > dFm+propMargin {
				t.Errorf("%s on %s: swarmdns answered the final set after %d ms, Docker's DNS after %d ms: later than Docker by more than %s",
					s.name, n, oFm.Milliseconds(), dFm.Milliseconds(), propMargin)
			}
			if oGm > dGm+propMargin {
				t.Errorf("%s on %s: swarmdns dropped the removed addresses after %d ms, Docker's DNS after %d ms: later than Docker by more than %s",
					s.name, n, oGm.Milliseconds(), dGm.Milliseconds(), propMargin)
			}
		}
	}
	t.Log(b.String())
	if out := os.Getenv("SWARMDNS_MULTINODE_PROPAGATION"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// SortedTasks returns the tasks' addresses on network, sorted, as text.
func SortedTasks(tasks []Task, network string) []string {
	var out []string
	var addrs []netip.Addr
	for _, tk := range tasks {
		addrs = append(addrs, tk.Addrs[network])
	}
	for _, a := range SortedAddrs(addrs) {
		out = append(out, a.String())
	}
	return out
}
