package swarm

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"

	"github.com/swarmdns/swarmdns/registry"
)

// A node's gossip port, played on loopback by real sockets: one that
// accepts, none (refused, as a node whose dockerd is gone), or one that
// never accepts and whose queue is full (a timeout, as a cut link).
type fakeGossip struct {
	t    *testing.T
	addr netip.AddrPort
	mu   sync.Mutex
	stop func()
}

// newFakeGossip picks a free port on 127.0.0.1, and accepts there.
func newFakeGossip(t *testing.T) *fakeGossip {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGossip{t: t, addr: netip.MustParseAddrPort(ln.Addr().String())}
	g.serve(ln)
	t.Cleanup(g.close)
	return g
}

func (g *fakeGossip) serve(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	g.stop = func() { ln.Close() }
}

// close stops whatever listens: connections are refused.
func (g *fakeGossip) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stop != nil {
		g.stop()
		g.stop = nil
	}
}

// accept listens again, accepting.
func (g *fakeGossip) accept() {
	g.close()
	g.mu.Lock()
	defer g.mu.Unlock()
	ln, err := net.Listen("tcp", g.addr.String())
	if err != nil {
		g.t.Fatal(err)
	}
	g.serve(ln)
}

// silence listens without ever accepting, with the queue full: a new
// connection gets no answer and times out.
func (g *fakeGossip) silence() {
	g.close()
	g.mu.Lock()
	defer g.mu.Unlock()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		g.t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(g.addr.Port()), Addr: g.addr.Addr().As4()}); err != nil {
		unix.Close(fd)
		g.t.Fatal(err)
	}
	// A backlog of 0 queues one connection; the next ones time out.
	if err := unix.Listen(fd, 0); err != nil {
		unix.Close(fd)
		g.t.Fatal(err)
	}
	var queued []net.Conn
	for {
		c, err := net.DialTimeout("tcp", g.addr.String(), 100*time.Millisecond)
		if err != nil {
			break
		}
		queued = append(queued, c)
	}
	g.stop = func() {
		for _, c := range queued {
			c.Close()
		}
		unix.Close(fd)
	}
}

// gossipNode is a node of the Swarm whose gossip port is at addr.
func gossipNode(id, hostname string, addr netip.Addr) swarmtypes.Node {
	var n swarmtypes.Node
	n.ID = id
	n.Description.Hostname = hostname
	n.Status.Addr = addr.String()
	return n
}

// startLiveness probes the nodes on port with test timings and returns
// the liveness and its log.
func startLiveness(t *testing.T, port uint16, self string, nodes ...swarmtypes.Node) (*liveness, *logtest.Hook) {
	t.Helper()
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	l := newLiveness(logrus.NewEntry(logger))
	l.port, l.interval, l.timeout = int(port), 20*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l.track(ctx, self, nodes)
	return l, hook
}

func unreachableWithin(t *testing.T, l *liveness, id string, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.current()[id] != want {
		if time.Now().After(deadline) {
			t.Fatalf("node %s unreachable = %v, want %v within 5 s", id, !want, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func logged(hook *logtest.Hook, msg string) []*logrus.Entry {
	var out []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Message == msg {
			out = append(out, e)
		}
	}
	return out
}

const msgUnreachable = "node unreachable; its tasks are not answered until it answers again or the manager marks it down"

func TestLivenessFindsALostNode(t *testing.T) {
	tests := []struct {
		name  string
		lose  func(*fakeGossip)
		cause string
	}{
		{"a node that answered and then refuses (dockerd gone) is unreachable", (*fakeGossip).close, "refused: dockerd not running"},
		{"a node that answered and then does not answer (link cut) is unreachable", (*fakeGossip).silence, "timeout: node or link down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGossip(t)
			l, hook := startLiveness(t, g.addr.Port(), "self", gossipNode("n1", "worker1", g.addr.Addr()))
			waitFor(t, func() bool { return len(logged(hook, "node answers on its gossip port")) == 1 })
			if l.current()["n1"] {
				t.Fatal("a node that answers is unreachable")
			}

			tt.lose(g)
			unreachableWithin(t, l, "n1", true)
			entries := logged(hook, msgUnreachable)
			if len(entries) != 1 {
				t.Fatalf("%d %q log entries, want 1", len(entries), msgUnreachable)
			}
			if got := entries[0].Data["cause"]; got != tt.cause {
				t.Errorf("cause %q, want %q", got, tt.cause)
			}
			if got := entries[0].Data["node"]; got != "worker1" {
				t.Errorf("node %q, want worker1", got)
			}

			g.accept()
			unreachableWithin(t, l, "n1", false)
			if n := len(logged(hook, "node reachable again")); n != 1 {
				t.Errorf("%d 'node reachable again' log entries, want 1", n)
			}
		})
	}
}

func TestLivenessNeedsTwoMissesInARow(t *testing.T) {
	// The probe results are given by hand: no probe runs.
	l := newLiveness(logrus.NewEntry(logrus.New()))
	p := &nodeProbe{hostname: "worker1", addr: netip.MustParseAddrPort("127.0.0.1:7946"), stop: func() {}}
	l.probes["n1"] = p

	refused := &net.OpError{Op: "dial", Err: unix.ECONNREFUSED}
	l.result("n1", p, nil)
	l.result("n1", p, refused)
	if l.current()["n1"] {
		t.Fatal("one miss made the node unreachable")
	}
	l.result("n1", p, nil)
	l.result("n1", p, refused)
	if l.current()["n1"] {
		t.Fatal("two misses with an answer between made the node unreachable")
	}
	l.result("n1", p, refused)
	if !l.current()["n1"] {
		t.Fatal("two misses in a row left the node reachable")
	}
	l.result("n1", p, nil)
	if l.current()["n1"] {
		t.Fatal("an answer left the node unreachable")
	}
}

func TestLivenessNeverSuspectsANodeItNeverReached(t *testing.T) {
	g := newFakeGossip(t)
	g.close() // a firewall that refuses the port, or no engine at all
	l, hook := startLiveness(t, g.addr.Port(), "self", gossipNode("n1", "worker1", g.addr.Addr()))
	never := "node never answered on its gossip port (TCP 7946); its loss is left to the manager"
	waitFor(t, func() bool { return len(logged(hook, never)) == 1 })
	// Well past the misses that make a node that answered unreachable.
	waitFor(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.probes["n1"].misses >= 3*l.misses })
	if l.current()["n1"] {
		t.Fatal("a node never reached is unreachable")
	}
	if n := len(logged(hook, never)); n != 1 {
		t.Errorf("%d 'never answered' log entries, want 1", n)
	}
}

func TestLivenessDoesNotProbeItsOwnNode(t *testing.T) {
	g := newFakeGossip(t)
	l, _ := startLiveness(t, g.addr.Port(), "self", gossipNode("self", "manager1", g.addr.Addr()))
	if len(l.probes) != 0 {
		t.Fatalf("%d probes, want none for the local node", len(l.probes))
	}
}

func TestLivenessForgetsANodeThatLeft(t *testing.T) {
	g := newFakeGossip(t)
	n1 := gossipNode("n1", "worker1", g.addr.Addr())
	l, _ := startLiveness(t, g.addr.Port(), "self", n1)
	waitFor(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.probes["n1"].answered })
	g.close()
	unreachableWithin(t, l, "n1", true)

	changed := make(chan struct{}, 1)
	l.mu.Lock()
	l.onChange = func() { changed <- struct{}{} }
	l.mu.Unlock()
	l.track(context.Background(), "self", nil)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("removing an unreachable node did not report a change")
	}
	if len(l.current()) != 0 || len(l.probes) != 0 {
		t.Fatalf("a removed node is still known: unreachable %v, %d probes", l.current(), len(l.probes))
	}
}

func TestLivenessPollsFasterWhileTheSwarmReplacesALostNode(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		lostAt time.Time
		took   time.Duration
		want   time.Duration
	}{
		{"no node lost: the poll interval", time.Time{}, 10 * time.Millisecond, time.Second},
		{"a node lost just now: the converging poll", now.Add(-time.Second), 10 * time.Millisecond, convergePoll},
		{"a node lost within the window: the converging poll", now.Add(-convergeWindow + time.Second), 10 * time.Millisecond, convergePoll},
		{"a node lost before the window: the poll interval", now.Add(-convergeWindow - time.Second), 10 * time.Millisecond, time.Second},
		{"a costly sync: four times its cost", now.Add(-time.Second), 100 * time.Millisecond, 400 * time.Millisecond},
		{"a very costly sync: never slower than the poll interval", now.Add(-time.Second), 400 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLiveness(logrus.NewEntry(logrus.New()))
			l.lostAt = tt.lostAt
			if got := l.pollInterval(time.Second, tt.took, now); got != tt.want {
				t.Errorf("pollInterval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGossipAddr(t *testing.T) {
	withManager := func(n swarmtypes.Node, addr string) swarmtypes.Node {
		n.ManagerStatus = &swarmtypes.ManagerStatus{Addr: addr}
		return n
	}
	tests := []struct {
		name string
		node swarmtypes.Node
		want string
	}{
		{"a node's status address", gossipNode("n", "h", netip.MustParseAddr("10.0.0.4")), "10.0.0.4:7946"},
		{"a manager whose status address is unset has its manager address", withManager(swarmtypes.Node{Status: swarmtypes.NodeStatus{Addr: "0.0.0.0"}}, "10.0.0.2:2377"), "10.0.0.2:7946"},
		{"an IPv6 node", gossipNode("n", "h", netip.MustParseAddr("fd00::4")), "[fd00::4]:7946"},
		{"a node with no address is not probed", swarmtypes.Node{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := gossipAddr(tt.node, gossipPort)
			if (tt.want == "") == ok || (ok && got.String() != tt.want) {
				t.Errorf("gossipAddr = %v, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestWithoutUnreachable(t *testing.T) {
	tk := func(id, node, state string) registry.Task {
		return registry.Task{ID: id, ServiceID: "svc-web", NodeID: node, State: state}
	}
	data := func(tasks ...registry.Task) *registry.Data { return &registry.Data{LocalNode: "m", Tasks: tasks} }
	tests := []struct {
		name        string
		in          *registry.Data
		unreachable map[string]bool
		want        *registry.Data
		left        []string
	}{
		{"no unreachable node leaves the data as it is",
			data(tk("t1", "w1", registry.TaskRunning)), nil,
			data(tk("t1", "w1", registry.TaskRunning)), nil},
		{"the running tasks of an unreachable node are not answered",
			data(tk("t1", "w1", registry.TaskRunning), tk("t2", "w2", registry.TaskRunning), tk("t3", "w1", registry.TaskRunning)), map[string]bool{"w1": true},
			data(tk("t1", "w1", TaskNodeUnreachable), tk("t2", "w2", registry.TaskRunning), tk("t3", "w1", TaskNodeUnreachable)), []string{"t1", "t3"}},
		{"a task of an unreachable node that is not running keeps its state",
			data(tk("t1", "w1", "starting")), map[string]bool{"w1": true},
			data(tk("t1", "w1", "starting")), nil},
		{"an unreachable node with no task changes nothing",
			data(tk("t1", "w2", registry.TaskRunning)), map[string]bool{"w1": true},
			data(tk("t1", "w2", registry.TaskRunning)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := data(tt.in.Tasks...)
			got, left := withoutUnreachable(tt.in, tt.unreachable)
			if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(left, tt.left) {
				t.Errorf("got %+v, left %v; want %+v, left %v", got.Tasks, left, tt.want.Tasks, tt.left)
			}
			if !reflect.DeepEqual(tt.in, before) {
				t.Errorf("the input was modified: %+v", tt.in.Tasks)
			}
			if tt.left == nil && got != tt.in {
				t.Error("unchanged data was copied")
			}
		})
	}
}

// A Swarm of this manager (node-local) and a worker whose gossip port is g,
// with one running task on each.
func workerCluster(f *fakeEngine, g *fakeGossip) {
	smallCluster(f, 2)
	f.set(func(f *fakeEngine) {
		f.tasks[1].NodeID = "node-worker"
		f.nodes = []swarmtypes.Node{
			gossipNode("node-local", "manager1", netip.MustParseAddr("127.0.0.1")),
			gossipNode("node-worker", "worker1", g.addr.Addr()),
		}
	})
}

func taskStates(d *registry.Data) map[string]string {
	out := map[string]string{}
	for _, t := range d.Tasks {
		out[t.ID] = t.State
	}
	return out
}

// nextWith returns the first update that has the task states want.
func (rs *runningSource) nextWith(t *testing.T, want map[string]string) *registry.Data {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := rs.next(t, time.Until(deadline))
		if reflect.DeepEqual(taskStates(d), want) {
			return d
		}
	}
}

func TestSwarmSourceLeavesOutTheTasksOfAnUnreachableNode(t *testing.T) {
	g := newFakeGossip(t)
	f := newFakeEngine(t)
	workerCluster(f, g)
	rs := startSourceWith(t, f, Config{PollInterval: 20 * time.Millisecond}, func(s *Source) {
		s.nodes.port, s.nodes.interval, s.nodes.timeout = int(g.addr.Port()), 20*time.Millisecond, 200*time.Millisecond
	})
	running := map[string]string{"task-1": registry.TaskRunning, "task-2": registry.TaskRunning}
	rs.nextWith(t, running)
	// The worker must have answered once before it may be suspected.
	time.Sleep(100 * time.Millisecond)

	g.close()
	rs.nextWith(t, map[string]string{"task-1": registry.TaskRunning, "task-2": TaskNodeUnreachable})

	g.accept()
	rs.nextWith(t, running)

	// The manager's word takes over: the old task shut down, a new one
	// runs elsewhere; the lost worker does not matter any more.
	g.close()
	rs.nextWith(t, map[string]string{"task-1": registry.TaskRunning, "task-2": TaskNodeUnreachable})
	f.set(func(f *fakeEngine) {
		f.tasks[1] = task("task-3", "svc-web", 2, swarmtypes.TaskStateRunning, swarmtypes.TaskStateRunning, attached(appnetID, false, "10.0.1.13/24"))
	})
	rs.nextWith(t, map[string]string{"task-1": registry.TaskRunning, "task-3": registry.TaskRunning})
}

func TestSwarmSourcePublishesNothingNewWhenANodeWithoutTasksIsLost(t *testing.T) {
	g := newFakeGossip(t)
	f := newFakeEngine(t)
	workerCluster(f, g)
	f.set(func(f *fakeEngine) { f.tasks = f.tasks[:1] })
	rs := startSourceWith(t, f, Config{PollInterval: 20 * time.Millisecond}, func(s *Source) {
		s.nodes.port, s.nodes.interval, s.nodes.timeout = int(g.addr.Port()), 20*time.Millisecond, 200*time.Millisecond
	})
	rs.nextWith(t, map[string]string{"task-1": registry.TaskRunning})
	time.Sleep(100 * time.Millisecond)
	g.close()
	rs.none(t, 500*time.Millisecond)
	if n := rs.messages(msgUnreachable); n != 1 {
		t.Errorf("%d %q log entries, want 1", n, msgUnreachable)
	}
}

func TestLivenessProbesTheNodesPort(t *testing.T) {
	g := newFakeGossip(t)
	err := dialGossip(context.Background(), g.addr, time.Second)
	if err != nil {
		t.Fatalf("probe of a listening port: %v", err)
	}
	g.close()
	err = dialGossip(context.Background(), g.addr, time.Second)
	if got := lossCause(err); got != "refused: dockerd not running" {
		t.Errorf("probe of a closed port: %v, cause %q", err, got)
	}
	g.silence()
	err = dialGossip(context.Background(), g.addr, 200*time.Millisecond)
	if got := lossCause(err); got != "timeout: node or link down" {
		t.Errorf("probe of a port that never answers: %v, cause %q", err, got)
	}
}
