package swarm

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer"
)

// onNetworks is a container summary on the given networks (name → ID,
// address).
func onNetworks(id string, eps map[string][2]string) container.Summary {
	c := container.Summary{ID: id, State: "running", NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}}}
	for name, ep := range eps {
		c.NetworkSettings.Networks[name] = &network.EndpointSettings{NetworkID: ep[0], IPAddress: ep[1]}
	}
	return c
}

// watchLocal runs Watch on the fake engine and returns the states it
// tells, as they come.
func watchLocal(t *testing.T, f *fakeEngine, cfg LocalConfig) <-chan peer.LocalState {
	t.Helper()
	cfg.DockerHost = f.host()
	l, err := NewLocalContainers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan peer.LocalState, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Watch(ctx, func(s peer.LocalState) { states <- s }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	return states
}

func nextState(t *testing.T, states <-chan peer.LocalState) peer.LocalState {
	t.Helper()
	select {
	case s := <-states:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no local state within 5 s")
		return peer.LocalState{}
	}
}

func TestLocalContainersTellsTheNodeThenItsContainersOnOverlays(t *testing.T) {
	f := newFakeEngine(t)
	f.set(func(f *fakeEngine) {
		f.nodeID = "worker-1"
		f.networks = fixtureNetworks()
		f.containers = []container.Summary{
			onNetworks("c-app", map[string][2]string{"appnet": {appnetID, "10.0.1.20"}, "ingress": {ingressID, "10.0.0.20"}}),
			onNetworks("c-bridge", map[string][2]string{"bridge": {"2d06b0fb9be2", "172.17.0.2"}}),
		}
		f.gwbridge = network.Inspect{Containers: map[string]network.EndpointResource{"c-app": {IPv4Address: "172.18.0.5/16"}}}
	})
	states := watchLocal(t, f, LocalConfig{})
	if got := nextState(t, states); !reflect.DeepEqual(got, peer.LocalState{NodeID: "worker-1"}) {
		t.Fatalf("first state %+v, want the node ID alone", got)
	}
	want := []registry.Container{{ID: "c-app", Addresses: []netip.Addr{ip("10.0.1.20"), ip("172.18.0.5")}, Networks: []string{appnetID}}}
	if got := nextState(t, states); got.NodeID != "worker-1" || !reflect.DeepEqual(got.Containers, want) {
		t.Fatalf("state %+v, want node worker-1 with %+v", got, want)
	}
}

func TestLocalContainersFollowsContainerAndNetworkEvents(t *testing.T) {
	f := newFakeEngine(t)
	f.set(func(f *fakeEngine) { f.networks = fixtureNetworks() })
	// A poll far away: only events can bring the changes in time.
	states := watchLocal(t, f, LocalConfig{NodeID: "worker-1", PollInterval: time.Hour})
	nextState(t, states) // the node ID
	if got := nextState(t, states); !got.Listed || len(got.Containers) != 0 {
		t.Fatalf("state %+v, want the first listing, empty", got)
	}
	waitSubscribed(t, f)

	steps := []struct {
		name       string
		containers []container.Summary
		event      events.Message
		want       []string // container IDs
	}{
		{"a container that starts on an overlay joins",
			[]container.Summary{onNetworks("c1", map[string][2]string{"appnet": {appnetID, "10.0.1.21"}})},
			events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "c1"}},
			[]string{"c1"}},
		{"a container connected to an overlay joins",
			[]container.Summary{onNetworks("c1", map[string][2]string{"appnet": {appnetID, "10.0.1.21"}}),
				onNetworks("c2", map[string][2]string{"backnet": {backnetID, "10.0.2.22"}})},
			events.Message{Type: events.NetworkEventType, Action: events.ActionConnect, Actor: events.Actor{ID: backnetID}},
			[]string{"c1", "c2"}},
		{"a container that dies leaves",
			[]container.Summary{onNetworks("c2", map[string][2]string{"backnet": {backnetID, "10.0.2.22"}})},
			events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "c1"}},
			[]string{"c2"}},
	}
	for _, st := range steps {
		f.set(func(f *fakeEngine) { f.containers = st.containers })
		f.emit(st.event)
		got := nextState(t, states)
		var ids []string
		for _, c := range got.Containers {
			ids = append(ids, c.ID)
		}
		if got.NodeID != "worker-1" || !reflect.DeepEqual(ids, st.want) {
			t.Fatalf("%s: state %+v, want containers %v", st.name, got, st.want)
		}
	}
}

func TestLocalContainersKeepsTheLastStateWhileTheEngineFails(t *testing.T) {
	f := newFakeEngine(t)
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		f.containers = []container.Summary{onNetworks("c1", map[string][2]string{"appnet": {appnetID, "10.0.1.21"}})}
	})
	states := watchLocal(t, f, LocalConfig{NodeID: "worker-1", PollInterval: 50 * time.Millisecond})
	nextState(t, states)
	if got := nextState(t, states); len(got.Containers) != 1 {
		t.Fatalf("state %+v, want c1", got)
	}
	f.failPath("/containers/json", 500, "engine shutting down")
	failedAt := f.count("GET /containers/json")
	deadline := time.After(2 * time.Second)
	for f.count("GET /containers/json") < failedAt+2 {
		select {
		case s := <-states:
			t.Fatalf("a failing engine changed the state to %+v", s)
		case <-deadline:
			t.Fatal("the failed read was not retried")
		case <-time.After(10 * time.Millisecond):
		}
	}
	f.heal()
	f.set(func(f *fakeEngine) { f.containers = nil })
	if got := nextState(t, states); len(got.Containers) != 0 || got.NodeID != "worker-1" {
		t.Fatalf("after the engine healed: %+v, want no containers", got)
	}
}

func waitSubscribed(t *testing.T, f *fakeEngine) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.subscribers() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no event stream within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLocalContainersNameTheTaskTheyRunAndWhetherItIsHealthy(t *testing.T) {
	f := newFakeEngine(t)
	taskCtr := func(id, status string) container.Summary {
		c := onNetworks(id, map[string][2]string{"appnet": {appnetID, "10.0.1.2" + id[len(id)-1:]}})
		c.Labels = map[string]string{labelTaskID: "task-" + id, labelServiceID: "svc-web"}
		c.Status = status
		return c
	}
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		f.containers = []container.Summary{
			taskCtr("c1", "Up 3 seconds"),
			taskCtr("c2", "Up 3 seconds (health: starting)"),
			taskCtr("c3", "Up 3 minutes (unhealthy)"),
			taskCtr("c4", "Up 3 minutes (healthy)"),
			onNetworks("c5", map[string][2]string{"appnet": {appnetID, "10.0.1.25"}}),
		}
	})
	states := watchLocal(t, f, LocalConfig{NodeID: "worker-1"})
	nextState(t, states) // the node ID
	got := nextState(t, states)
	if !got.Listed {
		t.Error("a state from a listing is not marked Listed")
	}
	want := map[string]registry.Container{
		"c1": {TaskID: "task-c1", ServiceID: "svc-web"},
		"c2": {TaskID: "task-c2", ServiceID: "svc-web", Unhealthy: true},
		"c3": {TaskID: "task-c3", ServiceID: "svc-web", Unhealthy: true},
		"c4": {TaskID: "task-c4", ServiceID: "svc-web"},
		"c5": {},
	}
	if len(got.Containers) != len(want) {
		t.Fatalf("%d containers, want %d", len(got.Containers), len(want))
	}
	for _, c := range got.Containers {
		w := want[c.ID]
		if c.TaskID != w.TaskID || c.ServiceID != w.ServiceID || c.Unhealthy != w.Unhealthy {
			t.Errorf("%s: task %q service %q unhealthy %v, want %q %q %v", c.ID, c.TaskID, c.ServiceID, c.Unhealthy, w.TaskID, w.ServiceID, w.Unhealthy)
		}
	}
}

// The engine lists a dead container until it has torn its networks down:
// the die event takes it out at once, and a start brings it back.
func TestLocalContainersLeaveOutAContainerThatDiedBeforeTheEngineUnlistsIt(t *testing.T) {
	f := newFakeEngine(t)
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		f.containers = []container.Summary{onNetworks("c1", map[string][2]string{"appnet": {appnetID, "10.0.1.21"}})}
	})
	states := watchLocal(t, f, LocalConfig{NodeID: "worker-1", PollInterval: time.Hour})
	nextState(t, states) // the node ID
	if got := nextState(t, states); len(got.Containers) != 1 {
		t.Fatalf("state %+v, want c1", got)
	}
	waitSubscribed(t, f)
	f.emit(events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "c1"}})
	if got := nextState(t, states); len(got.Containers) != 0 || !got.Listed {
		t.Fatalf("after the die, still listed by the engine: %+v, want no containers", got)
	}
	f.emit(events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "c1"}})
	if got := nextState(t, states); len(got.Containers) != 1 {
		t.Fatalf("after the start: %+v, want c1 again", got)
	}
}
