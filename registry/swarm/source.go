package swarm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/docker/docker/client"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// Defaults of Config.
const (
	DefaultPollInterval = time.Second
	DefaultDebounce     = 15 * time.Millisecond
)

// Follow-up resyncs after an engine event: the manager records what the
// event is about (a task running, a dead container's task failed) a little
// after the event, so the syncs after one come at these delays, doubling,
// until they reach the poll interval.
// An event never brings a sync sooner than followUpFirst after the end of
// the previous one, so a storm of events costs the manager at most ten
// syncs a second.
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
	// PollInterval is the period of the safety-net resync.
	PollInterval time.Duration
	// Debounce is how long to gather engine events before a resync.
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
	debounce     time.Duration
	localNode    string
	local        localTasks
	nodes        *liveness // liveness.go
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
		debounce:     cfg.Debounce,
	}
	if s.log == nil {
		s.log = logrus.NewEntry(logrus.StandardLogger())
	}
	s.log = s.log.WithField("source", "swarm")
	s.nodes = newLiveness(s.log)
	if s.pollInterval <= 0 {
		s.pollInterval = DefaultPollInterval
	}
	if s.debounce <= 0 {
		s.debounce = DefaultDebounce
	}
	return s, nil
}

// Run implements registry.Source. It syncs at once, then on engine events
// (after the debounce, and again 100, 200, 400 ms... later while that is
// sooner than the poll) and every poll interval, and updates sink only
// when the Data changed. A local task container that starts changes the
// last Data at once, even while a sync is under way; one that dies does at
// the next successful sync. Engine errors are retried with backoff; Run
// returns an error only for ErrNotManager before the first successful sync
// (a dockerd shutting down says so for a moment).
func (s *Source) Run(ctx context.Context, sink registry.Sink) error {
	sink.Describe(registry.SourceInfo{Kind: "swarm", Origin: s.cli.DaemonHost(), Stales: true})
	sink = s.nodes.filter(sink) // tasks of unreachable nodes left out: liveness.go
	defer s.cli.Close()
	defer s.eventsCli.Close()

	// The event watcher must stop also when Run returns an error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kicks := make(chan struct{}, 1)
	local := make(chan struct{}, 1)
	go s.watchEvents(ctx, kicks, local)

	l := &loop{src: s, sink: sink, timer: time.NewTimer(0), deadline: time.Now()}
	defer l.waitSync()
	defer l.timer.Stop()
	for {
		// Kicks wait while a sync is under way: they schedule the next.
		kicked := kicks
		if l.syncing != nil {
			kicked = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-local:
			l.localChanged()
		case <-kicked:
			l.kicked()
		case <-l.timer.C:
			l.startSync(ctx)
		case r := <-l.syncing:
			l.syncing = nil
			if stop, err := l.syncEnded(ctx, r); stop {
				return err
			}
		}
	}
}

// loop is the state of one Run between its steps.
type loop struct {
	src  *Source
	sink registry.Sink
	// last is the Data last handed to sink.
	last        *registry.Data
	synced      bool        // a sync has succeeded
	unreachable unreachable // what was logged of failed syncs (unreachable.go)
	failures    int         // failed syncs in a row
	// followUp is the delay of the next follow-up resync; 0: none.
	followUp time.Duration
	// syncing holds the result of the sync under way; nil: none.
	syncing chan syncResult
	// lastSync is when the last sync ended, syncedAt when the last
	// successful one began: what the local engine said since is newer
	// than the Data it read.
	lastSync, syncedAt time.Time
	timer              *time.Timer
	// deadline is when timer fires: a pending timer is never pushed later
	// by an event, only earlier.
	deadline time.Time
}

// publish hands d to the sink when it differs from the last Data.
func (l *loop) publish(d *registry.Data) {
	if !sameSwarmData(l.last, d) {
		logSwarmChanges(l.src.log, l.last, d)
		l.last = d
		l.sink.Update(d)
	}
}

// localChanged publishes at once that a local task container started;
// the kick that came with it brings the manager's word. A death waits for
// that sync: dockerd stopping kills every local container, and while the
// manager cannot be read the last good data keeps serving (the die is
// applied at the next successful sync, ahead of the engine's own listing).
func (l *loop) localChanged() {
	_, started := l.src.local.current(time.Now())
	l.publish(withLocalTasks(l.last, nil, started, l.syncedAt))
}

// kicked brings the next sync forward to the debounce after an engine
// event, but no sooner than followUpFirst after the last sync ended, and
// starts the follow-up resyncs.
func (l *loop) kicked() {
	l.followUp = followUpFirst
	soon := time.Now().Add(l.src.debounce)
	if gap := l.lastSync.Add(followUpFirst); soon.Before(gap) {
		soon = gap
	}
	if soon.Before(l.deadline) {
		l.deadline = soon
		l.timer.Reset(time.Until(soon))
	}
}

// startSync runs a sync in the background; its result comes on l.syncing.
func (l *loop) startSync(ctx context.Context) {
	l.syncing = make(chan syncResult, 1)
	go func(done chan<- syncResult) {
		start := time.Now()
		data, err := l.src.sync(ctx)
		done <- syncResult{data: data, err: err, start: start}
	}(l.syncing)
}

// waitSync waits for the sync under way, if any, to end.
func (l *loop) waitSync() {
	if l.syncing != nil {
		<-l.syncing
	}
}

// syncEnded takes the result of a sync; stop tells Run to return err.
func (l *loop) syncEnded(ctx context.Context, r syncResult) (stop bool, err error) {
	l.lastSync = time.Now()
	switch {
	case ctx.Err() != nil:
		return true, nil
	case errors.Is(r.err, ErrNotManager) && !l.synced:
		return true, r.err
	case r.err != nil:
		l.syncFailed(r.err)
	default:
		l.syncSucceeded(r)
	}
	return false, nil
}

// syncFailed reports a failed sync and retries after a backoff.
func (l *loop) syncFailed(err error) {
	l.sink.Failed(err)
	l.unreachable.failed(l.src.log, l.src.cli.DaemonHost(), err, time.Now())
	l.schedule(backoff(l.failures))
	l.failures++
}

// syncSucceeded publishes what a sync read, with what the local engine
// said since on top, reports the sync, and schedules the next: a
// follow-up while they are sooner than the poll, else the poll.
func (l *loop) syncSucceeded(r syncResult) {
	l.syncedAt = r.start
	l.unreachable.reached(l.src.log)
	l.failures, l.synced = 0, true
	died, started := l.src.local.current(time.Now())
	l.publish(withLocalTasks(r.data, died, started, r.start))
	l.sink.Synced(l.lastSync.Sub(r.start))
	next := l.src.nodes.pollInterval(l.src.pollInterval, l.lastSync.Sub(r.start), l.lastSync) // liveness.go
	if l.followUp > 0 && l.followUp < next {
		next = l.followUp
		l.followUp *= 2
	} else {
		l.followUp = 0
	}
	l.schedule(next)
}

// schedule sets the timer to fire after d.
func (l *loop) schedule(d time.Duration) {
	l.deadline = time.Now().Add(d)
	l.timer.Reset(d)
}

// syncResult is the outcome of one sync, begun at start.
type syncResult struct {
	data  *registry.Data
	err   error
	start time.Time
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
