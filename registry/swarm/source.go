package swarm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/docker/docker/client"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// Defaults of Config.
const (
	DefaultPollInterval = time.Second
	DefaultDebounce     = 15 * time.Millisecond
	DefaultReconcileMax = time.Minute
)

// Follow-up reads after an engine event: the manager records what the
// event is about (a task running, a dead container's task failed) a little
// after the event, so what the event named is read again at these delays,
// doubling, until they reach the poll interval.
// An event never brings a read sooner than followUpFirst after the end of
// the previous one, so a storm of events costs the manager at most ten
// reads a second.
const followUpFirst = 100 * time.Millisecond

// Retry delays after a failed sync: doubling from the first to the last.
const (
	retryMin = 250 * time.Millisecond
	retryMax = 30 * time.Second
)

// ErrNotManager is returned by Source.Run when the engine it talks to
// cannot list services because it is not a Swarm manager, before the first
// successful sync: a configuration error. Later (dockerd shutting down
// stops its Swarm component before its API, a demotion) it is a failed
// sync like any other.
var ErrNotManager = errors.New("the Docker engine is not a swarm manager: point --docker-host at a manager node")

// Config configures a Source. The zero value talks to the engine
// named by DOCKER_HOST (or the local socket) with the defaults.
type Config struct {
	// DockerHost overrides DOCKER_HOST, e.g. "tcp://manager:2376". TLS
	// still comes from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
	DockerHost string
	// PollInterval is how often the source proves the manager answers
	// when nothing changed (one small read), and the first and shortest
	// interval between full reconciliations.
	PollInterval time.Duration
	// ReconcileMax is the longest interval between full reconciliations:
	// the interval doubles from PollInterval while reconciliations find
	// nothing the targeted reads missed, up to this.
	ReconcileMax time.Duration
	// Debounce is how long to gather engine events before a read.
	Debounce time.Duration
	Logger   *logrus.Entry
}

// Source is a registry.Source that reads a Swarm manager through the
// Engine API.
// It only ever reads.
type Source struct {
	// Two clients: the docker client negotiates its API version lazily and
	// without a lock, so the event stream gets one of its own.
	cli          *client.Client
	eventsCli    *client.Client
	log          *logrus.Entry
	pollInterval time.Duration
	reconcileMax time.Duration
	debounce     time.Duration
	holdFor      time.Duration // hold.go
	localNode    string
	local        localTasks
	nodes        *liveness // liveness.go
	// hints is what events and Reread say changed, for the loop to read.
	hints *hints
	// localKick tells the loop that what the local engine or a follower
	// said of task containers changed (localTasks).
	localKick chan struct{}
	// streamDown is set while the event stream is not connected.
	streamDown atomic.Bool
}

// NewSource builds a Source; it does not contact the engine.
func NewSource(cfg Config) (*Source, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.DockerHost != "" {
		opts = append(opts, client.WithHost(cfg.DockerHost))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	eventsCli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	s := &Source{
		cli:          cli,
		eventsCli:    eventsCli,
		log:          cfg.Logger,
		pollInterval: cfg.PollInterval,
		reconcileMax: cfg.ReconcileMax,
		debounce:     cfg.Debounce,
		holdFor:      holdFor,
		hints:        newHints(),
		localKick:    make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = logrus.NewEntry(logrus.StandardLogger())
	}
	s.log = s.log.WithField("source", "swarm")
	s.nodes = newLiveness(s.log)
	if s.pollInterval <= 0 {
		s.pollInterval = DefaultPollInterval
	}
	if s.reconcileMax <= 0 {
		s.reconcileMax = DefaultReconcileMax
	}
	s.reconcileMax = max(s.reconcileMax, s.pollInterval)
	if s.debounce <= 0 {
		s.debounce = DefaultDebounce
	}
	return s, nil
}

// Reread asks for the services named to be read again (each with its
// tasks), as an event about them would: at once, then at the follow-up
// delays, and holds them (hold.go). It is for what the manager gives no
// event of: a follower whose own engine saw a task container of a service
// die or start tells the manager instances which service to re-read. It never blocks; it may be called
// from any goroutine, before or while Run runs.
func (s *Source) Reread(serviceIDs ...string) {
	s.hints.add(serviceWant(serviceIDs...))
}

// TasksDied records that the containers of these tasks of node died
// there, as the follower on that node saw: they stop being answered at
// once, as a local task container's death is, until the manager says what
// became of them. It never blocks; it may be called from any goroutine.
func (s *Source) TasksDied(node string, taskIDs ...string) {
	now := time.Now()
	for _, id := range taskIDs {
		s.local.noteTaskDied(node, id, now)
	}
	if len(taskIDs) > 0 {
		kick(s.localKick)
	}
}

// Run implements registry.Source. It reads the whole cluster at once;
// then on each engine event it reads what the event names (a service and
// its tasks, a node and its tasks, the networks; and the local engine's
// containers), after the debounce and again 100, 200, 400 ms... later
// while that is sooner than the poll interval. A full reconciliation runs
// at an interval that starts at the poll interval and doubles up to
// ReconcileMax while reconciliations find nothing new; while the event
// stream is down it stays at the poll interval. When nothing needs a
// read, one small read every poll interval tells that the manager answers.
// The sink gets Data only when it changed, and it always equals what a
// full read would give. A local task container that starts changes the
// last Data at once, even while a read is under way; one that dies does at
// the next successful read. Engine errors are retried with backoff, each
// retry a full read; Run returns an error only for ErrNotManager before the
// first successful sync (a dockerd shutting down says so for a moment).
func (s *Source) Run(ctx context.Context, sink registry.Sink) error {
	sink.Describe(registry.SourceInfo{Kind: "swarm", Origin: s.cli.DaemonHost(), Stales: true})
	sink = s.nodes.filter(sink) // tasks of unreachable nodes left out: liveness.go
	defer s.cli.Close()
	defer s.eventsCli.Close()

	// The event watcher must stop also when Run returns an error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.watchEvents(ctx, s.localKick)

	now := time.Now()
	l := &loop{src: s, sink: sink, timer: time.NewTimer(0), deadline: now, reconcileEvery: s.pollInterval}
	defer l.waitRead()
	defer l.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.localKick:
			l.localChanged()
		case <-s.hints.notify:
			l.changed(s.hints.take())
		case <-l.timer.C:
			l.deadline = time.Time{}
			if l.reading == nil {
				l.startRead(ctx)
			}
		case r := <-l.reading:
			l.reading = nil
			if stop, err := l.readEnded(ctx, r); stop {
				return err
			}
		}
	}
}

// loop is the state of one Run between its steps.
type loop struct {
	src  *Source
	sink registry.Sink
	// cluster is what the reads so far said; nil before the first.
	cluster *cluster
	// last is the Data last handed to sink.
	last        *registry.Data
	synced      bool        // a read has succeeded
	unreachable unreachable // what was logged of failed reads (unreachable.go)
	failures    int         // failed reads in a row
	// fullTook is how long the last full read took (liveness.go bounds
	// its faster reconciliations after a node loss by it).
	fullTook time.Duration
	// due is what the next read must bring up to date, since dueSince;
	// recent is what the follow-ups read again.
	due, recent wants
	dueSince    time.Time
	// followUp is the delay of the next follow-up read; 0: none.
	followUp time.Duration
	// reconcileEvery is the interval between full reconciliations, the
	// next one at reconcileAt.
	reconcileEvery time.Duration
	reconcileAt    time.Time
	// retryAt is when a failed read is retried.
	retryAt time.Time
	// settle holds the services whose tasks are on their way to running
	// (cluster.settling), which are read again on their own schedule.
	settle map[string]*settleState
	// held is when each held service's hold ends (hold.go).
	held map[string]holdState
	// reading holds the result of the read under way; nil: none.
	reading chan readResult
	// lastRead is when the last read ended.
	lastRead time.Time
	timer    *time.Timer
	// deadline is when timer fires; zero: not set.
	deadline time.Time
}

// publish hands d to the sink when it differs from the last Data, and
// tells whether it did.
func (l *loop) publish(d *registry.Data) bool {
	if sameSwarmData(l.last, d) {
		return false
	}
	logSwarmChanges(l.src.log, l.last, d)
	l.last = d
	l.sink.Update(d)
	return true
}

// localChanged publishes at once that a local task container started, or
// that a follower saw one of its node's die; the read that came with its
// event or hint brings the manager's word. A local death waits for that
// read: dockerd stopping kills every local container, and while the
// manager cannot be read the last good data keeps serving (the die is
// applied at the next successful read, ahead of the engine's own
// listing).
func (l *loop) localChanged() {
	if l.cluster == nil {
		return
	}
	died, started := l.src.local.current(time.Now())
	maps.DeleteFunc(died, func(_ string, c diedContainer) bool { return c.node == "" })
	l.publish(withLocalTasks(l.last, died, started, l.cluster.readAt))
}

// changed takes what events or Reread say changed: it is read after the
// debounce (no sooner than followUpFirst after the last read ended), and
// again by the follow-ups.
func (l *loop) changed(w wants) {
	if w.empty() {
		return
	}
	now := time.Now()
	if l.due.empty() {
		l.dueSince = now
	}
	l.hold(w, now, true)
	l.due.add(w)
	l.recent.add(w)
	l.followUp = followUpFirst
	l.arm()
}

// arm sets the timer to the next moment something is to be read; it only
// ever brings a pending timer earlier, unless none is pending.
func (l *loop) arm() {
	if l.reading != nil {
		return // readEnded arms
	}
	at := l.nextRead()
	if l.deadline.IsZero() || at.Before(l.deadline) {
		l.deadline = at
		l.timer.Reset(time.Until(at))
	}
}

// rearm sets the timer afresh, after a read.
func (l *loop) rearm() {
	l.deadline = time.Time{}
	l.timer.Stop()
	l.arm()
}

// nextRead is when the next read is due: a retry, what changed, a
// follow-up, the reconciliation or the heartbeat, whichever comes first.
func (l *loop) nextRead() time.Time {
	var at time.Time
	if l.failures > 0 || l.cluster == nil {
		at = l.retryAt
	} else {
		at = l.reconcileAt
		if hb := l.lastRead.Add(l.src.pollInterval); hb.Before(at) {
			at = hb
		}
		if l.followUp > 0 {
			if f := l.lastRead.Add(l.followUp); f.Before(at) {
				at = f
			}
		}
		for _, st := range l.settle {
			if st.at.Before(at) {
				at = st.at
			}
		}
	}
	if !l.due.empty() {
		d := l.dueSince.Add(l.src.debounce)
		if gap := l.lastRead.Add(followUpFirst); d.Before(gap) {
			d = gap
		}
		if d.Before(at) {
			at = d
		}
	}
	return at
}

// readKind is what a read reads.
type readKind int

const (
	readHeartbeat readKind = iota
	readTargeted
	readAll       // asked for: the first read, a retry, an event read whole
	readReconcile // the reconciliation's own
)

// startRead runs the read that is due in the background; its result
// comes on l.reading. A read is one of: everything, what changed (and
// the follow-ups' share), or the heartbeat.
func (l *loop) startRead(ctx context.Context) {
	now := time.Now()
	kind, w := l.plan(now)
	var nets []network.Summary
	if l.cluster != nil {
		nets = l.cluster.networks
	}
	l.reading = make(chan readResult, 1)
	go func(done chan<- readResult) {
		r := readResult{kind: kind}
		r.start = time.Now()
		switch kind {
		case readAll, readReconcile:
			r.all, r.err = l.src.readAll(ctx)
		case readTargeted:
			var t *readResult
			if t, r.err = l.src.readTargeted(ctx, w, nets); t != nil {
				r.services, r.nodes, r.networks, r.local = t.services, t.nodes, t.networks, t.local
			}
		default:
			r.err = l.src.heartbeat(ctx)
		}
		done <- r
	}(l.reading)
}

// plan picks what the read starting now reads, and takes it from what is
// due.
func (l *loop) plan(now time.Time) (readKind, wants) {
	// w is a copy: the read runs beside the loop, which changes due,
	// recent and settle.
	var w wants
	followed := false
	if !l.due.empty() && !now.Before(l.dueSince.Add(l.src.debounce)) {
		w, l.due = l.due, wants{}
	} else if l.followUp > 0 && !now.Before(l.lastRead.Add(l.followUp)) {
		w.add(l.recent)
		followed = true
	}
	for id, st := range l.settle {
		if !now.Before(st.at) {
			w.addService(id)
		}
	}
	// A read of what the follow-ups read again (a held service's) is one
	// of them.
	if l.followUp > 0 && (followed || w.covers(l.recent)) {
		l.followUp *= 2
		if l.followUp >= l.src.pollInterval {
			l.followUp, l.recent = 0, wants{}
		}
	}
	switch {
	case l.cluster == nil || l.failures > 0:
		l.due = wants{}
		return readAll, wants{}
	case !now.Before(l.reconcileAt):
		l.due = wants{}
		return readReconcile, wants{}
	case w.full || w.targets() > maxTargeted:
		l.due = wants{}
		return readAll, wants{}
	case !w.empty():
		return readTargeted, w
	}
	return readHeartbeat, wants{}
}

// waitRead waits for the read under way, if any, to end.
func (l *loop) waitRead() {
	if l.reading != nil {
		<-l.reading
	}
}

// readEnded takes the result of a read; stop tells Run to return err.
func (l *loop) readEnded(ctx context.Context, r readResult) (stop bool, err error) {
	l.lastRead = time.Now()
	switch {
	case ctx.Err() != nil:
		return true, nil
	case errors.Is(r.err, ErrNotManager) && !l.synced:
		return true, r.err
	case r.err != nil:
		l.readFailed(r.err)
	default:
		l.readSucceeded(r)
	}
	l.rearm()
	return false, nil
}

// readFailed reports a failed read and retries, reading everything,
// after a backoff.
func (l *loop) readFailed(err error) {
	l.sink.Failed(err)
	l.unreachable.failed(l.src.log, l.src.cli.DaemonHost(), err, time.Now())
	l.retryAt = time.Now().Add(backoff(l.failures))
	l.failures++
}

// readSucceeded applies what a read brought to the cluster, publishes
// the Data it makes with what the local engine said since on top, and
// reports the sync. A reconciliation that found nothing new doubles the
// interval to the next one, up to ReconcileMax; one that found something
// goes back to the poll interval, and so does a lost event stream. For a
// while after a node was lost, reconciliations come faster (liveness.go):
// the manager gives no event of the replacement tasks.
func (l *loop) readSucceeded(r readResult) {
	l.unreachable.reached(l.src.log)
	l.failures, l.synced = 0, true
	if r.kind != readHeartbeat {
		first := l.cluster == nil
		read := l.apply(r)
		l.settled(r.start, l.lastRead.Sub(r.start), read, first)
		found := l.publish(l.data()) && l.missed(read)
		switch {
		case r.kind == readReconcile && !found:
			l.reconcileEvery = min(2*l.reconcileEvery, l.src.reconcileMax)
		case r.kind == readReconcile:
			l.reconcileEvery = l.src.pollInterval
		}
		if r.kind == readAll || r.kind == readReconcile {
			l.fullTook = l.lastRead.Sub(r.start)
			l.reconcileAt = r.start.Add(l.reconcileEvery)
		}
	}
	if l.src.streamDown.Load() {
		l.reconcileEvery = l.src.pollInterval
		if at := r.start.Add(l.reconcileEvery); at.Before(l.reconcileAt) {
			l.reconcileAt = at
		}
	}
	if fast := l.src.nodes.pollInterval(l.src.pollInterval, l.fullTook, l.lastRead); fast < l.src.pollInterval {
		if at := l.lastRead.Add(fast); at.Before(l.reconcileAt) {
			l.reconcileAt = at
		}
	}
	l.sink.Synced(l.lastRead.Sub(r.start))
}

// missed tells whether a reconciliation that changed the Data found what
// the reads of events would not have: a change to a service no event is
// being followed for, or to something other than services. Under steady
// churn a reconciliation often lands between an event and its read; that
// is not a miss, and must not keep the interval short.
func (l *loop) missed(read map[string]bool) bool {
	any := false
	for id, changed := range read {
		if !changed {
			continue
		}
		any = true
		if !l.recent.services[id] && !l.due.services[id] {
			return true
		}
	}
	return !any
}

// settleState is when a settling service is read next, and how long after
// the read before.
type settleState struct {
	every time.Duration
	at    time.Time
}

// settled schedules the next read of each service a read begun at start
// brought (read says whether its tasks changed; first: the first read).
// A held service that converges is read again at the hold's pace
// (hold.go), and a change holds it afresh. Else, while it is settling: at
// the poll interval after a change, then doubling up to ReconcileMax while
// its tasks stay as they were. A task placed on another node thus reaches
// running in DNS within about a poll interval with no event to tell it.
func (l *loop) settled(start time.Time, took time.Duration, read map[string]bool, first bool) {
	if l.settle == nil {
		l.settle = map[string]*settleState{}
	}
	var changed wants
	for id, c := range read {
		if c && !first && l.cluster.services[id] != nil {
			changed.addService(id)
		}
	}
	l.hold(changed, start, false)
	for id, c := range read {
		e := l.cluster.services[id]
		if e == nil {
			delete(l.settle, id)
			delete(l.held, id)
			continue
		}
		if every, held := l.heldEvery(id, e, start, took, c); held {
			l.settle[id] = &settleState{every: every, at: start.Add(every)}
			continue
		}
		if !e.settling() {
			delete(l.settle, id)
			continue
		}
		st := l.settle[id]
		switch {
		case st == nil || c:
			st = &settleState{every: l.src.pollInterval}
		default:
			st.every = min(max(2*st.every, l.src.pollInterval), l.src.reconcileMax)
		}
		st.at = start.Add(st.every)
		l.settle[id] = st
	}
}

// apply brings the cluster up to date with what a read brought, and
// returns the services it read, each with whether its tasks changed. A
// node's read also asks for its services' tasks elsewhere: a node gone
// down has its tasks replaced on other nodes.
func (l *loop) apply(r readResult) map[string]bool {
	read := map[string]bool{}
	if r.all != nil {
		old := l.cluster
		l.cluster = newCluster(r.all, r.start)
		for id := range l.settle {
			read[id] = false // a settling service gone is no longer settling
		}
		for id, e := range l.cluster.services {
			read[id] = old == nil || old.services[id] == nil || !reflect.DeepEqual(old.services[id].tasks, e.tasks)
		}
		return read
	}
	c := l.cluster
	var more wants
	for id, nr := range r.nodes {
		if nr.node == nil {
			delete(c.nodes, id)
			more.full = true // a node removed: its tasks are the orchestrator's now
			continue
		}
		for svc := range c.setNode(*nr.node, nr.tasks, nr.ready, r.start) {
			if _, read := r.services[svc]; !read {
				more.addService(svc)
			}
		}
	}
	for id, sr := range r.services {
		var before []swarmtypes.Task
		if e := c.services[id]; e != nil {
			before = e.tasks
		}
		c.setService(id, sr.service, sr.tasks, sr.ready, r.start)
		var after []swarmtypes.Task
		if e := c.services[id]; e != nil {
			after = e.tasks
		}
		read[id] = !reflect.DeepEqual(before, after)
	}
	if r.networks != nil {
		c.networks = r.networks
	}
	if r.local != nil {
		c.containers, c.gateways = r.local.containers, r.local.gateways
	}
	l.changed(more)
	return read
}

// data is the Data of the cluster with what the local engine said.
func (l *loop) data() *registry.Data {
	died, started := l.src.local.current(time.Now())
	d := l.cluster.state(died, started).data()
	return withLocalTasks(d, died, started, l.cluster.readAt)
}

// readResult is the outcome of one read, begun at start.
type readResult struct {
	kind  readKind
	start time.Time
	err   error
	all   *engineState
	// services: ID → what the manager has of it; a nil service is gone.
	services map[string]serviceRead
	nodes    map[string]nodeRead
	networks []network.Summary // nil: not read
	local    *localRead
}

// backoff is the delay before retry number n (from 0): exponential, capped,
// with jitter so that many sidecars do not hit a recovering manager at once.
func backoff(n int) time.Duration {
	d := retryMax
	if n < 16 {
		d = min(retryMin<<n, retryMax)
	}
	return d/2 + rand.N(d/2+1)
}
