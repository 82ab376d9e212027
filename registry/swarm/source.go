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
	if s.pollInterval <= 0 {
		s.pollInterval = DefaultPollInterval
	}
	if s.debounce <= 0 {
		s.debounce = DefaultDebounce
	}
	return s, nil
}

// Run implements registry.Source. It syncs at once, then on engine events (after the
// debounce, and again 100, 200, 400 ms... later while that is sooner than
// the poll) and every poll interval, and updates sink only when the Data
// changed. A local task container that starts changes the last Data at
// once, even while a sync is under way; one that dies does at the next
// successful sync. Engine errors are retried
// with backoff; Run returns an error only for ErrNotManager before the
// first successful sync (a dockerd shutting down says so for a moment).
func (s *Source) Run(ctx context.Context, sink registry.Sink) error {
	sink.Describe(registry.SourceInfo{Kind: "swarm", Origin: s.cli.DaemonHost(), Stales: true})
	defer s.cli.Close()
	defer s.eventsCli.Close()

	// The event watcher must stop also when Run returns an error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kicks := make(chan struct{}, 1)
	local := make(chan struct{}, 1)
	go s.watchEvents(ctx, kicks, local)

	var (
		last        *registry.Data
		synced      bool
		unreachable bool
		failures    int
		// followUp is the delay of the next follow-up resync; 0: none.
		followUp time.Duration
		// syncing holds the result of the sync under way; nil: none.
		syncing chan syncResult
		// lastSync is when the last sync ended, syncedAt when the last
		// successful one began: what the local engine said since is newer
		// than the Data it read.
		lastSync, syncedAt time.Time
	)
	defer func() {
		if syncing != nil {
			<-syncing
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	// A pending timer is never pushed later by an event, only earlier.
	deadline := time.Now()
	publish := func(d *registry.Data) {
		if !sameSwarmData(last, d) {
			logSwarmChanges(s.log, last, d)
			last = d
			sink.Update(d)
		}
	}
	for {
		// Kicks wait while a sync is under way: they schedule the next.
		kicked := kicks
		if syncing != nil {
			kicked = nil
		}
		var r syncResult
		select {
		case <-ctx.Done():
			return nil
		case <-local:
			// A local task container started: publish that at once; the
			// kick that came with it brings the manager's word. A death
			// waits for that sync: dockerd stopping kills every local
			// container, and while the manager cannot be read the last
			// good data keeps serving (the die is applied at the next
			// successful sync, ahead of the engine's own listing).
			_, started := s.local.current(time.Now())
			publish(withLocalTasks(last, nil, started, syncedAt))
			continue
		case <-kicked:
			followUp = followUpFirst
			soon := time.Now().Add(s.debounce)
			if gap := lastSync.Add(followUpFirst); soon.Before(gap) {
				soon = gap
			}
			if soon.Before(deadline) {
				deadline = soon
				timer.Reset(time.Until(soon))
			}
			continue
		case <-timer.C:
			syncing = make(chan syncResult, 1)
			go func(done chan<- syncResult) {
				start := time.Now()
				data, err := s.sync(ctx)
				done <- syncResult{data: data, err: err, start: start}
			}(syncing)
			continue
		case r = <-syncing:
			syncing = nil
		}

		lastSync = time.Now()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(r.err, ErrNotManager) && !synced:
			return r.err
		case r.err != nil:
			sink.Failed(r.err)
			if !unreachable {
				s.log.WithError(r.err).Warn("manager unreachable")
				unreachable = true
			} else {
				s.log.WithError(r.err).Debug("sync failed")
			}
			wait := backoff(failures)
			failures++
			deadline = time.Now().Add(wait)
			timer.Reset(wait)
			continue
		}
		syncedAt = r.start
		if unreachable {
			s.log.Info("manager reachable again")
			unreachable = false
		}
		failures, synced = 0, true
		// What the local engine said after the sync read it goes on top.
		died, started := s.local.current(time.Now())
		publish(withLocalTasks(r.data, died, started, r.start))
		sink.Synced(lastSync.Sub(r.start))
		next := s.pollInterval
		if followUp > 0 && followUp < next {
			next = followUp
			followUp *= 2
		} else {
			followUp = 0
		}
		deadline = time.Now().Add(next)
		timer.Reset(next)
	}
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
