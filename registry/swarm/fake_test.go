package swarm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
)

// fakeEngine is an in-process Docker Engine API: it serves the JSON the
// docker client expects for the calls the Swarm source makes, records every
// request, and can fail paths or stream events on demand.
type fakeEngine struct {
	srv *httptest.Server

	mu         sync.Mutex
	services   []swarmtypes.Service
	tasks      []swarmtypes.Task
	networks   []network.Summary
	nodes      []swarmtypes.Node
	containers []container.Summary
	inspect    map[string]container.InspectResponse // container ID → inspect
	gwbridge   network.Inspect
	nodeID     string
	fail       map[string]int           // path → HTTP status to answer with
	delay      map[string]time.Duration // path → time to take before answering
	failBody   string
	requests   []string // "METHOD /path"
	subs       []chan events.Message
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	f := &fakeEngine{nodeID: "node-local", fail: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// host is the address to give Config.DockerHost.
func (f *fakeEngine) host() string {
	return "tcp://" + strings.TrimPrefix(f.srv.URL, "http://")
}

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")

	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+path)
	status, body, delay := f.fail[path], f.failBody, f.delay[path]
	f.mu.Unlock()
	time.Sleep(delay)

	w.Header().Set("Api-Version", "1.41")
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"message": body})
		return
	}
	switch {
	case path == "/_ping":
		w.Write([]byte("OK"))
	case path == "/version":
		f.reply(w, map[string]string{"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10.24"})
	case path == "/info":
		f.mu.Lock()
		info := system.Info{Swarm: swarmtypes.Info{NodeID: f.nodeID, LocalNodeState: swarmtypes.LocalNodeStateActive, ControlAvailable: true}}
		f.mu.Unlock()
		f.reply(w, info)
	case path == "/services":
		f.replyLocked(w, func() any { return f.services })
	case path == "/tasks":
		f.replyLocked(w, func() any { return f.tasks })
	case path == "/networks":
		f.replyLocked(w, func() any { return f.networks })
	case strings.HasPrefix(path, "/networks/"):
		f.replyLocked(w, func() any { return f.gwbridge })
	case path == "/nodes":
		f.replyLocked(w, func() any { return f.nodes })
	case path == "/containers/json":
		f.replyLocked(w, func() any { return f.containers })
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")
		f.mu.Lock()
		c, ok := f.inspect[id]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"message": "No such container: " + id})
			return
		}
		f.reply(w, c)
	case path == "/events":
		f.streamEvents(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "no such endpoint " + path})
	}
}

func (f *fakeEngine) reply(w http.ResponseWriter, v any) {
	json.NewEncoder(w).Encode(v)
}

// replyLocked encodes under the lock, so that tests may change the state
// while the source reads it.
func (f *fakeEngine) replyLocked(w http.ResponseWriter, v func() any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	json.NewEncoder(w).Encode(v())
}

func (f *fakeEngine) streamEvents(w http.ResponseWriter, r *http.Request) {
	ch := make(chan events.Message, 16)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, c := range f.subs {
			if c == ch {
				f.subs = append(f.subs[:i], f.subs[i+1:]...)
				break
			}
		}
	}()
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			enc.Encode(m)
			w.(http.Flusher).Flush()
		}
	}
}

// emit sends an event to every open event stream.
func (f *fakeEngine) emit(m events.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		ch <- m
	}
}

// subscribers tells how many event streams are open.
func (f *fakeEngine) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// set changes the engine's state under the lock.
func (f *fakeEngine) set(change func(f *fakeEngine)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeEngine) failPath(path string, status int, message string) {
	f.set(func(f *fakeEngine) {
		f.fail[path] = status
		f.failBody = message
	})
}

func (f *fakeEngine) heal() {
	f.set(func(f *fakeEngine) { f.fail = map[string]int{} })
}

func (f *fakeEngine) seenRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// count is how many times the engine was asked req ("GET /services").
func (f *fakeEngine) count(req string) int {
	n := 0
	for _, r := range f.seenRequests() {
		if r == req {
			n++
		}
	}
	return n
}

// oneTask sets a cluster of one service with one task in state, whose
// container c1 the engine lists as running.
func (f *fakeEngine) oneTask(state swarmtypes.TaskState) {
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		f.services = []swarmtypes.Service{replicated("svc-web", "web")}
		f.tasks = []swarmtypes.Task{withContainer(task("task-1", "svc-web", 1, swarmtypes.TaskStateRunning, state,
			attached(appnetID, false, "10.0.1.11/24")), "c1")}
		f.containers = []container.Summary{{ID: "c1", State: "running"}}
	})
}
