package ops

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/swarmdns/swarmdns/registry"
)

// The JSON of /v1/services: one page of services, for a registry too
// large to send whole.
type servicesJSON struct {
	Total    int               `json:"total"` // services that match the filter
	Offset   int               `json:"offset"`
	Limit    int               `json:"limit"`
	Services []serviceItemJSON `json:"services"`
}

type serviceItemJSON struct {
	serviceJSON
	// TTL is the TTL of the service's answers, in seconds.
	TTL   uint32 `json:"ttl"`
	Tasks int    `json:"tasks"` // running tasks
}

// The JSON of /v1/services/{id}: a service with its tasks and the names
// that answer it.
type serviceDetailJSON struct {
	serviceItemJSON
	TaskList []taskDetailJSON `json:"task_list"`
	// Names are the names the registry answers for the service and its
	// tasks, fully qualified.
	Names []string `json:"names"`
}

type taskDetailJSON struct {
	taskJSON
	// Weight is the task's scheduling weight in the service's answers
	// (absent for a task that is not running).
	Weight uint32 `json:"weight,omitempty"`
}

const (
	defaultPage = 50
	maxPage     = 1000
)

// catalog is what the service endpoints need of one snapshot, made once
// per snapshot: the services in name order, tasks by service, names of
// networks and nodes.
type catalog struct {
	snap     *registry.Snapshot
	order    []int // indices in snap.Data.Services, by name
	tasks    map[string][]int
	running  map[string]int
	netName  map[string]string
	nodeName map[string]string
	byID     map[string]int
}

type catalogCache struct {
	mu  sync.Mutex
	cur *catalog
}

func (c *catalogCache) get(snap *registry.Snapshot) *catalog {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.snap == snap {
		return c.cur
	}
	d := snap.Data
	cat := &catalog{snap: snap, tasks: map[string][]int{}, running: map[string]int{},
		netName: map[string]string{}, nodeName: map[string]string{}, byID: map[string]int{}}
	for i := range d.Services {
		cat.order = append(cat.order, i)
		cat.byID[d.Services[i].ID] = i
	}
	sort.SliceStable(cat.order, func(a, b int) bool { return d.Services[cat.order[a]].Name < d.Services[cat.order[b]].Name })
	for i := range d.Tasks {
		t := &d.Tasks[i]
		cat.tasks[t.ServiceID] = append(cat.tasks[t.ServiceID], i)
		if t.State == registry.TaskRunning {
			cat.running[t.ServiceID]++
		}
	}
	for _, n := range d.Networks {
		cat.netName[n.ID] = n.Name
	}
	for _, n := range d.Nodes {
		cat.nodeName[n.ID] = n.Hostname
	}
	c.cur = cat
	return cat
}

func (c *catalog) network(id string) string {
	if n, ok := c.netName[id]; ok {
		return n
	}
	return id
}

// services serves /v1/services?q=&offset=&limit=.
func (o *Ops) services(w http.ResponseWriter, r *http.Request) {
	snap := o.cfg.Store.Snapshot()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "no registry snapshot yet: the first sync has not finished")
		return
	}
	q := r.URL.Query()
	offset, err := intParam(q.Get("offset"), 0, "offset")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := intParam(q.Get("limit"), defaultPage, "limit")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit = min(max(limit, 1), maxPage)
	filter := strings.ToLower(strings.TrimSpace(q.Get("q")))
	cat := o.catalogs.get(snap)
	out := &servicesJSON{Offset: offset, Limit: limit, Services: []serviceItemJSON{}}
	cfg := o.cfg.Store.Config()
	for _, i := range cat.order {
		svc := &snap.Data.Services[i]
		if filter != "" && !strings.Contains(strings.ToLower(svc.Name), filter) {
			continue
		}
		if out.Total >= offset && len(out.Services) < limit {
			out.Services = append(out.Services, cat.item(svc, cfg))
		}
		out.Total++
	}
	writeJSON(w, http.StatusOK, out)
}

// service serves /v1/services/{id}.
func (o *Ops) service(w http.ResponseWriter, r *http.Request) {
	snap := o.cfg.Store.Snapshot()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "no registry snapshot yet: the first sync has not finished")
		return
	}
	cat := o.catalogs.get(snap)
	id := r.PathValue("id")
	i, ok := cat.byID[id]
	if !ok {
		writeError(w, http.StatusNotFound, "no service with ID "+strconv.Quote(id))
		return
	}
	svc := &snap.Data.Services[i]
	out := &serviceDetailJSON{serviceItemJSON: cat.item(svc, o.cfg.Store.Config()), TaskList: []taskDetailJSON{}}
	weights := cat.weights(svc)
	for _, ti := range cat.tasks[svc.ID] {
		t := &snap.Data.Tasks[ti]
		tj := taskDetailJSON{taskJSON: taskJSON{ID: t.ID, Service: svc.Name, Slot: t.Slot, Node: t.NodeID, State: t.State}, Weight: weights[t.ID]}
		if h := cat.nodeName[t.NodeID]; h != "" {
			tj.Node = h
		}
		for _, na := range t.Addresses {
			if tj.Addresses == nil {
				tj.Addresses = map[string][]string{}
			}
			for _, a := range na.Addrs {
				tj.Addresses[cat.network(na.Network)] = append(tj.Addresses[cat.network(na.Network)], a.String())
			}
		}
		out.TaskList = append(out.TaskList, tj)
	}
	sort.Slice(out.TaskList, func(a, b int) bool {
		x, y := out.TaskList[a], out.TaskList[b]
		if x.Slot != y.Slot {
			return x.Slot < y.Slot
		}
		return x.ID < y.ID
	})
	out.Names = cat.names(svc)
	writeJSON(w, http.StatusOK, out)
}

func (c *catalog) item(svc *registry.Service, cfg registry.Config) serviceItemJSON {
	sj := newServiceJSON(svc, cfg, c.network)
	ttl := cfg.TTL
	if n, ok := c.snap.Lookup([]byte(strings.ToLower(svc.Name))); ok {
		if sets := n.View(nil).Sets(); len(sets) > 0 {
			ttl = sets[0].TTL
		}
	}
	return serviceItemJSON{serviceJSON: sj, TTL: ttl, Tasks: c.running[svc.ID]}
}

// weights reads each running task's weight from the service's task
// answers (tasks.<svc>, default view).
func (c *catalog) weights(svc *registry.Service) map[string]uint32 {
	out := map[string]uint32{}
	n, ok := c.snap.Lookup([]byte("tasks." + strings.ToLower(svc.Name)))
	if !ok {
		return out
	}
	for _, v := range n.Views() {
		for _, set := range []*registry.RRSet{v.A, v.AAAA} {
			if set == nil {
				continue
			}
			for i := 0; i < set.Len(); i++ {
				out[set.Info(i)] = set.Weight(i)
			}
		}
	}
	return out
}

// names lists the names that answer svc, in the forms of docs/names.md,
// keeping those the snapshot has records for.
func (c *catalog) names(svc *registry.Service) []string {
	base := []string{strings.ToLower(svc.Name)}
	var nets []string
	for _, a := range svc.Networks {
		nets = append(nets, strings.ToLower(c.network(a.Network)))
		for _, al := range a.Aliases {
			base = append(base, strings.ToLower(al))
		}
	}
	var keys []string
	for _, b := range base {
		keys = append(keys, b, "tasks."+b)
		for _, n := range nets {
			keys = append(keys, b+"."+n, "tasks."+b+"."+n)
		}
		for _, p := range c.ports(svc) {
			keys = append(keys, "_"+p.Name+"._"+p.Protocol+"."+b)
		}
	}
	name := strings.ToLower(svc.Name)
	for _, ti := range c.tasks[svc.ID] {
		t := &c.snap.Data.Tasks[ti]
		mid := strconv.Itoa(t.Slot)
		if t.Slot == 0 {
			mid = strings.ToLower(t.NodeID)
		} else {
			keys = append(keys, mid+"."+name)
		}
		task := name + "." + mid + "." + strings.ToLower(t.ID)
		keys = append(keys, task)
		for _, na := range t.Addresses {
			keys = append(keys, task+"."+strings.ToLower(c.network(na.Network)))
		}
	}
	out := []string{}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if n, ok := c.snap.Lookup([]byte(k)); ok && hasAnswers(n) {
			out = append(out, k+"."+c.snap.Domain)
		}
	}
	return out
}

// ports are the service's SRV ports: endpoint ports and the
// swarmdns.ports label, a port without a name named by its number.
func (c *catalog) ports(svc *registry.Service) []registry.Port {
	ports := append([]registry.Port(nil), svc.Ports...)
	if l, ok := svc.Labels[registry.LabelPorts]; ok {
		if extra, err := registry.ParsePorts(l); err == nil {
			ports = append(ports, extra...)
		}
	}
	for i := range ports {
		if ports[i].Name == "" {
			ports[i].Name = strconv.Itoa(int(ports[i].Target))
		}
		ports[i].Name, ports[i].Protocol = strings.ToLower(ports[i].Name), strings.ToLower(ports[i].Protocol)
	}
	return ports
}

func hasAnswers(n registry.Name) bool {
	for _, v := range n.Views() {
		if !v.Empty() && (v.A != nil || v.AAAA != nil || v.SRV != nil || v.PTR != nil) {
			return true
		}
	}
	return false
}

// intParam reads a non-negative integer query parameter; "" is def.
func intParam(s string, def int, what string) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", what, s)
	}
	return n, nil
}
