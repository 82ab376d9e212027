package swarm

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// Node liveness. When a node is lost (its dockerd dies, its link is cut),
// Docker's embedded DNS on the other nodes drops its tasks after 5-6 s of
// gossip, but the manager marks the node Down only after 11-16 s and lists
// its tasks as running until then. So the source asks the nodes itself:
// it connects to every other node's gossip port (TCP 7946, which Swarm
// needs open between all nodes) about once a second. A node that answered
// once and then fails twice in a row is unreachable, and its running tasks
// are published as TaskNodeUnreachable (not answered) until it answers
// again or the manager's own word (Down, tasks shut down) takes over. A
// node never reached is never suspected: a firewall that closes the port
// must not empty the zone. See docs/architecture.md, "Node liveness".

// TaskNodeUnreachable is the state of a task the manager reports running
// on a node that this manager instance can no longer reach: it is not
// answered until the node answers again.
const TaskNodeUnreachable = "node-unreachable"

// Defaults of the probe.
const (
	// gossipPort is Docker's node gossip port (memberlist, TCP and UDP),
	// which a Swarm requires open between its nodes.
	gossipPort = 7946
	// probeInterval is how often each node is probed, probeTimeout how
	// long a connection may take (a LAN answers in well under a
	// millisecond), probeMisses the failures in a row that make a node
	// that answered before unreachable.
	probeInterval = time.Second
	probeTimeout  = time.Second
	probeMisses   = 2
	// For convergeWindow after a node became unreachable, while the
	// manager marks it Down (11-16 s) and runs its tasks elsewhere (17-22
	// s), the source syncs every convergePoll: the Engine API has no task
	// events, and a replacement on another node would otherwise wait up
	// to a whole poll interval after Docker's gossip has it.
	convergeWindow = 30 * time.Second
	convergePoll   = 250 * time.Millisecond
)

// liveness probes the other nodes of the Swarm and knows which of them are
// unreachable. The zero value is not usable; newLiveness makes one.
type liveness struct {
	port              int
	interval, timeout time.Duration
	misses            int
	log               *logrus.Entry

	mu     sync.Mutex
	probes map[string]*nodeProbe // node ID →
	// unreachable is replaced, never modified: current hands it out.
	unreachable map[string]bool // node ID →
	onChange    func()          // called, without mu, when unreachable changed
	lostAt      time.Time       // when a node last became unreachable
}

// nodeProbe is one node's probe and what it found.
type nodeProbe struct {
	hostname string
	addr     netip.AddrPort
	stop     context.CancelFunc
	answered bool // the node answered once: only then is it suspected
	misses   int  // failures in a row
	// unreachable: answered once, then missed misses times in a row.
	unreachable bool
	// warned: "never answered" was logged.
	warned bool
}

func newLiveness(log *logrus.Entry) *liveness {
	return &liveness{
		port: gossipPort, interval: probeInterval, timeout: probeTimeout, misses: probeMisses,
		log: log, probes: map[string]*nodeProbe{},
	}
}

// track makes the probes follow the node list of a sync: a probe for every
// node but self that has an address, started under ctx; the probes of
// nodes gone (or moved to another address) stop and forget what they found.
func (l *liveness) track(ctx context.Context, self string, nodes []swarmtypes.Node) {
	l.mu.Lock()
	seen := make(map[string]bool, len(nodes))
	changed := false
	for _, n := range nodes {
		addr, ok := gossipAddr(n, l.port)
		if n.ID == self || !ok {
			continue
		}
		seen[n.ID] = true
		p := l.probes[n.ID]
		if p != nil && p.addr == addr {
			p.hostname = n.Description.Hostname
			continue
		}
		if p != nil {
			p.stop()
			changed = changed || p.unreachable
		}
		pctx, stop := context.WithCancel(ctx)
		p = &nodeProbe{hostname: n.Description.Hostname, addr: addr, stop: stop}
		l.probes[n.ID] = p
		go l.probe(pctx, n.ID, p)
	}
	for id, p := range l.probes {
		if !seen[id] {
			p.stop()
			delete(l.probes, id)
			changed = changed || p.unreachable
		}
	}
	notify := l.changedLocked(changed)
	l.mu.Unlock()
	if notify != nil {
		notify()
	}
}

// current returns the IDs of the unreachable nodes; the map is not to be
// modified.
func (l *liveness) current() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unreachable
}

// changedLocked recomputes the unreachable set when changed and returns
// the function to call once mu is released, if any.
func (l *liveness) changedLocked(changed bool) func() {
	if !changed {
		return nil
	}
	set := map[string]bool{}
	for id, p := range l.probes {
		if p.unreachable {
			set[id] = true
		}
	}
	l.unreachable = set
	return l.onChange
}

// probe connects to the node every interval until ctx is done.
func (l *liveness) probe(ctx context.Context, id string, p *nodeProbe) {
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		err := dialGossip(ctx, p.addr, l.timeout)
		if ctx.Err() != nil {
			return
		}
		l.result(id, p, err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// result records one probe of node id.
func (l *liveness) result(id string, p *nodeProbe, err error) {
	l.mu.Lock()
	if l.probes[id] != p {
		l.mu.Unlock()
		return // stopped meanwhile
	}
	fields := logrus.Fields{"node": p.hostname, "id": id, "addr": p.addr.String()}
	was := p.unreachable
	if err == nil {
		if !p.answered {
			l.log.WithFields(fields).Debug("node answers on its gossip port")
		}
		p.answered, p.misses, p.unreachable = true, 0, false
	} else {
		p.misses++
		switch {
		case p.answered && p.misses >= l.misses:
			p.unreachable = true
		case !p.answered && p.misses == l.misses && !p.warned:
			p.warned = true
			l.log.WithFields(fields).WithError(err).Warn("node never answered on its gossip port (TCP 7946); its loss is left to the manager")
		}
	}
	switch {
	case p.unreachable && !was:
		l.lostAt = time.Now()
		l.log.WithFields(fields).WithField("cause", lossCause(err)).WithError(err).Warn("node unreachable; its tasks are not answered until it answers again or the manager marks it down")
	case was && !p.unreachable:
		l.log.WithFields(fields).Info("node reachable again")
	}
	notify := l.changedLocked(was != p.unreachable)
	l.mu.Unlock()
	if notify != nil {
		notify()
	}
}

// pollInterval is the delay of the next sync after one that took took:
// normal, or while the Swarm replaces a lost node's tasks convergePoll,
// but never under four times what a sync costs, so that a large cluster's
// manager spends at most a fifth of its time on them.
func (l *liveness) pollInterval(normal, took time.Duration, now time.Time) time.Duration {
	l.mu.Lock()
	lost := l.lostAt
	l.mu.Unlock()
	if lost.IsZero() || now.Sub(lost) > convergeWindow {
		return normal
	}
	return min(max(convergePoll, 4*took), normal)
}

// dialGossip connects to addr and closes the connection at once, cleanly:
// the gossip listener reads an end of stream, which it does not log.
func dialGossip(ctx context.Context, addr netip.AddrPort, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	return c.Close()
}

// lossCause says what a failed probe means: a refused connection is a
// node whose dockerd is gone; a timeout, a node that cannot be reached.
func lossCause(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused: dockerd not running"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout: node or link down"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route: node or link down"
	}
	return "connection failed"
}

// gossipAddr is where node n's gossip port is: its Status.Addr, or for a
// manager whose Status.Addr is unset (0.0.0.0 on some engines), the
// address of its manager endpoint.
func gossipAddr(n swarmtypes.Node, port int) (netip.AddrPort, bool) {
	if a, err := netip.ParseAddr(n.Status.Addr); err == nil && !a.IsUnspecified() {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
	}
	if n.ManagerStatus != nil {
		if ap, err := netip.ParseAddrPort(n.ManagerStatus.Addr); err == nil && !ap.Addr().IsUnspecified() {
			return netip.AddrPortFrom(ap.Addr().Unmap(), uint16(port)), true
		}
	}
	return netip.AddrPort{}, false
}

// withoutUnreachable returns d with the running tasks on unreachable nodes
// in state TaskNodeUnreachable, and the IDs of those tasks in order. d is
// not modified; with nothing to change it is returned as is.
func withoutUnreachable(d *registry.Data, unreachable map[string]bool) (*registry.Data, []string) {
	if d == nil || len(unreachable) == 0 {
		return d, nil
	}
	var tasks []registry.Task // copied on the first change
	var left []string
	for i, t := range d.Tasks {
		if t.State != registry.TaskRunning || !unreachable[t.NodeID] {
			continue
		}
		if tasks == nil {
			tasks = slices.Clone(d.Tasks)
		}
		tasks[i].State = TaskNodeUnreachable
		left = append(left, t.ID)
	}
	if tasks == nil {
		return d, nil
	}
	sort.Strings(left)
	out := *d
	out.Tasks = tasks
	return &out, left
}

// livenessSink is the sink between the source and its own sink: it hands
// on each Data without the tasks of unreachable nodes, and hands the last
// Data on again when the unreachable nodes change and with them what is
// left out. Its Update is safe for concurrent use.
type livenessSink struct {
	registry.Sink
	nodes *liveness

	mu     sync.Mutex
	latest *registry.Data // as the source delivered it
	left   []string       // the tasks the last Update left out
}

// filter puts a livenessSink in front of next, and makes changes of the
// unreachable nodes reach it.
func (l *liveness) filter(next registry.Sink) registry.Sink {
	s := &livenessSink{Sink: next, nodes: l}
	l.mu.Lock()
	l.onChange = s.reachabilityChanged
	l.mu.Unlock()
	return s
}

// Update implements registry.Sink.
func (s *livenessSink) Update(d *registry.Data) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = d
	out, left := withoutUnreachable(d, s.nodes.current())
	s.left = left
	s.Sink.Update(out)
}

// reachabilityChanged hands the last Data on again when what is left out
// of it changed.
func (s *livenessSink) reachabilityChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return
	}
	out, left := withoutUnreachable(s.latest, s.nodes.current())
	if slices.Equal(left, s.left) {
		return
	}
	s.left = left
	s.Sink.Update(out)
}
