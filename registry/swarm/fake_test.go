package swarm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
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
	filtered   []string // "METHOD /path?key=value,..." (sorted filters)
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

	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+path)
	f.filtered = append(f.filtered, r.Method+" "+path+filterString(args))
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
		f.replyLocked(w, func() any { return f.filteredServices(args) })
	case path == "/tasks":
		f.mu.Lock()
		tasks, missing := f.filteredTasks(args)
		f.mu.Unlock()
		if missing != "" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"message": missing})
			return
		}
		f.reply(w, tasks)
	case path == "/networks":
		f.replyLocked(w, func() any { return f.networks })
	case strings.HasPrefix(path, "/networks/"):
		f.replyLocked(w, func() any { return f.gwbridge })
	case path == "/nodes":
		f.replyLocked(w, func() any { return f.filteredNodes(args) })
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

// filteredServices answers the filters the source uses on /services as the
// manager does: id matches a prefix. The caller holds f.mu.
func (f *fakeEngine) filteredServices(args filters.Args) []swarmtypes.Service {
	var out []swarmtypes.Service
	for _, s := range f.services {
		if matchPrefix(args, "id", s.ID) {
			out = append(out, s)
		}
	}
	return out
}

// filteredNodes answers id (a prefix) on /nodes. The caller holds f.mu.
func (f *fakeEngine) filteredNodes(args filters.Args) []swarmtypes.Node {
	var out []swarmtypes.Node
	for _, n := range f.nodes {
		if matchPrefix(args, "id", n.ID) {
			out = append(out, n)
		}
	}
	return out
}

// filteredTasks answers service, node and desired-state on /tasks as the
// manager does: a service or node it does not have is an error (404) that
// names it. The caller holds f.mu.
func (f *fakeEngine) filteredTasks(args filters.Args) ([]swarmtypes.Task, string) {
	for _, id := range args.Get("service") {
		if !slices.ContainsFunc(f.services, func(s swarmtypes.Service) bool { return s.ID == id }) {
			return nil, "service " + id + " not found"
		}
	}
	for _, id := range args.Get("node") {
		if !slices.ContainsFunc(f.nodes, func(n swarmtypes.Node) bool { return n.ID == id }) {
			return nil, "node " + id + " not found"
		}
	}
	var out []swarmtypes.Task
	for _, t := range f.tasks {
		if (!args.Contains("service") || args.ExactMatch("service", t.ServiceID)) &&
			(!args.Contains("node") || args.ExactMatch("node", t.NodeID)) &&
			(!args.Contains("desired-state") || args.ExactMatch("desired-state", string(t.DesiredState))) {
			out = append(out, t)
		}
	}
	return out, ""
}

func matchPrefix(args filters.Args, key, id string) bool {
	if !args.Contains(key) {
		return true
	}
	for _, p := range args.Get(key) {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// filterString is "?key=value,..." of a request's filters, sorted; "" when
// it has none.
func filterString(args filters.Args) string {
	var kv []string
	for _, k := range args.Keys() {
		for _, v := range args.Get(k) {
			kv = append(kv, k+"="+v)
		}
	}
	if len(kv) == 0 {
		return ""
	}
	slices.Sort(kv)
	return "?" + strings.Join(kv, ",")
}

// seenFiltered returns the requests so far with their filters.
func (f *fakeEngine) seenFiltered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.filtered...)
}

// forget drops the requests recorded so far.
func (f *fakeEngine) forget() {
	f.set(func(f *fakeEngine) { f.requests, f.filtered = nil, nil })
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
