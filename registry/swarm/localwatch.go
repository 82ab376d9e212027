package swarm

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer"
)

// DefaultLocalPoll is how often LocalContainers reads the local containers
// again when no event says they changed.
const DefaultLocalPoll = 10 * time.Second

// LocalConfig configures LocalContainers. The zero value talks to the
// engine named by DOCKER_HOST (or the local socket) and reads the node ID
// from it.
type LocalConfig struct {
	// DockerHost overrides DOCKER_HOST.
	DockerHost string
	// NodeID is this node's Swarm node ID (EngineInfo.NodeID); empty:
	// asked of the engine at the start of Watch.
	NodeID string
	// PollInterval is the period of the safety-net read
	// (DefaultLocalPoll); Debounce gathers events before a read
	// (DefaultDebounce).
	PollInterval, Debounce time.Duration
	Logger                 *logrus.Entry
}

// LocalContainers is the peer.Local of a follower's own engine: the node's
// ID and its containers on overlay networks (with their addresses on every
// network, docker_gwbridge included), as the Swarm source reads them on a
// manager. It reads them again on container start, die and destroy events,
// on network connect and disconnect, and on a poll. It only reads, and
// needs no manager: a worker's engine answers all of it.
type LocalContainers struct {
	// src holds the engine clients and the reads shared with the Swarm
	// source; its sync loop never runs.
	src      *Source
	nodeID   string
	poll     time.Duration
	debounce time.Duration
	log      *logrus.Entry
	// dead holds the containers a die event named, left out of what Watch
	// tells at once: the engine lists a dead container until it has torn
	// its networks down, half a second later.
	dead deadContainers
}

// deadContainers is the set of containers that died and that the engine
// may still list.
type deadContainers struct {
	mu  sync.Mutex
	ids map[string]time.Time // container ID → when it died
}

func (d *deadContainers) died(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[string]time.Time{}
	}
	d.ids[id] = now
}

func (d *deadContainers) alive(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ids, id)
}

// without returns cs without the dead containers; listed (cs is a fresh
// listing) forgets the dead that it no longer lists, and those older than
// localTaskMemory.
func (d *deadContainers) without(cs []registry.Container, listed bool, now time.Time) []registry.Container {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ids) == 0 {
		return cs
	}
	var out []registry.Container
	seen := map[string]bool{}
	for _, c := range cs {
		if _, dead := d.ids[c.ID]; dead {
			seen[c.ID] = true
			continue
		}
		out = append(out, c)
	}
	for id, at := range d.ids {
		if (listed && !seen[id]) || now.Sub(at) > localTaskMemory {
			delete(d.ids, id)
		}
	}
	return out
}

var _ peer.Local = (*LocalContainers)(nil)

// NewLocalContainers builds a LocalContainers; it does not contact the
// engine.
func NewLocalContainers(cfg LocalConfig) (*LocalContainers, error) {
	if cfg.Logger == nil {
		cfg.Logger = logrus.NewEntry(logrus.StandardLogger())
	}
	src, err := NewSource(Config{DockerHost: cfg.DockerHost, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	l := &LocalContainers{src: src, nodeID: cfg.NodeID, poll: cfg.PollInterval, debounce: cfg.Debounce,
		log: cfg.Logger.WithField("source", "local-engine")}
	if l.poll <= 0 {
		l.poll = DefaultLocalPoll
	}
	if l.debounce <= 0 {
		l.debounce = DefaultDebounce
	}
	return l, nil
}

// Watch implements peer.Local: it tells the node ID at once (when known),
// then the containers after each read that changed them, until ctx is
// done. A failed read keeps the last state and is retried with backoff.
func (l *LocalContainers) Watch(ctx context.Context, update func(peer.LocalState)) error {
	failures := 0
	for l.nodeID == "" {
		info, err := l.src.cli.Info(ctx)
		if err == nil && info.Swarm.NodeID != "" {
			l.nodeID = info.Swarm.NodeID
			break
		}
		if err == nil {
			err = ErrNotInSwarm
		}
		l.logFailure(failures, fmt.Errorf("engine info: %w", err))
		if !sleep(ctx, backoff(failures)) {
			return nil
		}
		failures++
	}
	st := peer.LocalState{NodeID: l.nodeID}
	update(st)

	kicks := make(chan struct{}, 1)
	go l.watchEvents(ctx, kicks)
	read := true
	poll := time.NewTimer(l.poll)
	defer poll.Stop()
	failures = 0
	for {
		if read {
			containers, err := l.read(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				l.logFailure(failures, err)
				poll.Reset(backoff(failures))
				failures++
			default:
				if failures > 0 {
					l.log.Info("local containers read again")
				}
				failures = 0
				containers = l.dead.without(containers, true, time.Now())
				if !st.Listed || !reflect.DeepEqual(containers, st.Containers) {
					st = peer.LocalState{NodeID: l.nodeID, Containers: containers, Listed: true}
					update(st)
				}
				poll.Reset(l.poll)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kicks:
			// A death is told at once; the read confirms it.
			if cs := l.dead.without(st.Containers, false, time.Now()); len(cs) != len(st.Containers) {
				st = peer.LocalState{NodeID: l.nodeID, Containers: cs, Listed: st.Listed}
				update(st)
			}
			read = sleep(ctx, l.debounce)
		case <-poll.C:
			read = true
		}
	}
}

// logFailure logs the first failure of a run at warning level and the
// rest at debug: an engine that is down is said once.
func (l *LocalContainers) logFailure(failures int, err error) {
	if failures == 0 {
		l.log.WithError(err).Warn("local containers not read; keeping the last")
		return
	}
	l.log.WithError(err).Debug("local containers not read")
}

// read lists the local containers on overlay networks. The containers are
// listed before the networks: a network a listed container is on is then
// in the network list, since an engine knows an overlay network while a
// container of it runs.
func (l *LocalContainers) read(ctx context.Context) ([]registry.Container, error) {
	cli := l.src.cli
	list, err := cli.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	st := engineState{}
	if st.networks, err = cli.NetworkList(ctx, network.ListOptions{}); err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	gateways, err := l.src.gatewayAddresses(ctx, st.networks)
	if err != nil {
		return nil, err
	}
	strs := registry.NewInterner()
	nets := st.swarmNetworks(&registry.Data{}, strs)
	var out []registry.Container
	for _, c := range list {
		if ctr, ok := containerOf(c, nets.overlay, nets.ingress, gateways[c.ID], strs); ok {
			out = append(out, ctr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// watchEvents kicks for each event that may change the local containers'
// networks, and reconnects with backoff until ctx is done; the poll covers
// what is missed meanwhile.
func (l *LocalContainers) watchEvents(ctx context.Context, kicks chan<- struct{}) {
	opts := events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("type", string(events.NetworkEventType)),
	)}
	failures := 0
	for {
		connected := time.Now()
		msgs, errs := l.src.eventsCli.Events(ctx, opts)
		err := l.forwardLocalEvents(ctx, msgs, errs, kicks)
		if ctx.Err() != nil {
			return
		}
		l.log.WithError(err).Debug("event stream ended")
		if time.Since(connected) > retryMax {
			failures = 0
		}
		if !sleep(ctx, backoff(failures)) {
			return
		}
		failures++
		kick(kicks) // what happened while the stream was down
	}
}

// forwardLocalEvents kicks on the events that change which containers are
// on which networks, noting the containers that died, until the stream
// ends.
func (l *LocalContainers) forwardLocalEvents(ctx context.Context, msgs <-chan events.Message, errs <-chan error, kicks chan<- struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case m := <-msgs:
			if !localChange(m) {
				continue
			}
			if m.Type == events.ContainerEventType {
				switch m.Action {
				case events.ActionDie:
					l.dead.died(m.Actor.ID, time.Now())
				case events.ActionStart:
					l.dead.alive(m.Actor.ID)
				}
			}
			kick(kicks)
		}
	}
}

// localChange reports whether an event may change the local containers
// on overlay networks or their addresses.
func localChange(m events.Message) bool {
	switch m.Type {
	case events.ContainerEventType:
		switch m.Action {
		case events.ActionStart, events.ActionDie, events.ActionDestroy:
			return true
		}
	case events.NetworkEventType:
		switch m.Action {
		case events.ActionConnect, events.ActionDisconnect:
			return true
		}
	}
	return false
}

// sleep waits d or until ctx is done; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
