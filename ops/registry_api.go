package ops

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// The JSON of /v1/registry; docs/api.md shows an example.
type registryJSON struct {
	Domain           string        `json:"domain"`
	Serial           uint32        `json:"serial"`
	Built            time.Time     `json:"built"`
	AgeSeconds       float64       `json:"age_seconds"`
	LastSync         *time.Time    `json:"last_sync,omitempty"`
	LastSyncError    string        `json:"last_sync_error,omitempty"`
	Stats            statsJSON     `json:"stats"`
	DefaultScheduler string        `json:"default_scheduler"`
	Services         []serviceJSON `json:"services"`
	Tasks            []taskJSON    `json:"tasks"`
	Names            []nameJSON    `json:"names"`
}

type statsJSON struct {
	Services int `json:"services"`
	Tasks    int `json:"tasks"`
	Names    int `json:"names"`
}

type serviceJSON struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	EndpointMode string            `json:"endpoint_mode"`
	Global       bool              `json:"global"`
	Scheduler    string            `json:"scheduler"`
	Labels       map[string]string `json:"labels,omitempty"`
	VIPs         map[string]string `json:"vips,omitempty"` // network name → VIP
	Networks     []attachmentJSON  `json:"networks,omitempty"`
	Ports        []portJSON        `json:"ports,omitempty"`
}

type attachmentJSON struct {
	Network string   `json:"network"`
	Aliases []string `json:"aliases,omitempty"`
}

type portJSON struct {
	Name      string `json:"name,omitempty"`
	Protocol  string `json:"protocol"`
	Target    uint16 `json:"target"`
	Published uint16 `json:"published,omitempty"`
}

type taskJSON struct {
	ID        string              `json:"id"`
	Service   string              `json:"service"`
	Slot      int                 `json:"slot,omitempty"`
	Node      string              `json:"node,omitempty"`
	State     string              `json:"state"`
	Addresses map[string][]string `json:"addresses,omitempty"` // network name → addresses
}

type nameJSON struct {
	Name  string     `json:"name"`
	Views []viewJSON `json:"views"`
}

type viewJSON struct {
	// Network is the network whose clients get this view; "" is the
	// default view.
	Network string      `json:"network,omitempty"`
	Sets    []rrsetJSON `json:"rrsets"`
}

type rrsetJSON struct {
	Type      string       `json:"type"`
	TTL       uint32       `json:"ttl"`
	Scheduler string       `json:"scheduler,omitempty"`
	Records   []recordJSON `json:"records"`
}

type recordJSON struct {
	Data   string `json:"data"`
	Weight uint32 `json:"weight"`
	Info   string `json:"info,omitempty"`
}

// registry serves the published snapshot as JSON.
func (o *Ops) registry(w http.ResponseWriter, _ *http.Request) {
	st := o.cfg.Store
	snap := st.Snapshot()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "no registry snapshot yet: the first sync has not finished")
		return
	}
	writeJSON(w, http.StatusOK, registryView(snap, st.Config(), st.LastSync(), st.LastSyncError(), time.Now()))
}

func registryView(snap *registry.Snapshot, cfg registry.Config, lastSync time.Time, lastErr string, now time.Time) *registryJSON {
	st := snap.Stats()
	out := &registryJSON{
		Domain: snap.Domain, Serial: snap.Serial, Built: snap.Built,
		AgeSeconds:       now.Sub(snap.Built).Seconds(),
		LastSyncError:    lastErr,
		Stats:            statsJSON{Services: st.Services, Tasks: st.Tasks, Names: st.Names},
		DefaultScheduler: cfg.Policy,
	}
	if !lastSync.IsZero() {
		out.LastSync = &lastSync
	}
	names := namesOf(snap.Data)
	out.Services = servicesView(snap.Data, cfg, names)
	out.Tasks = tasksView(snap.Data, names)
	out.Names = recordsView(snap, names)
	return out
}

// dataNames names what Data refers to by ID: networks, nodes (by
// hostname) and services.
type dataNames struct {
	networks, nodes, services map[string]string // ID →
}

func namesOf(d *registry.Data) dataNames {
	n := dataNames{networks: map[string]string{}, nodes: map[string]string{}, services: map[string]string{}}
	for _, nw := range d.Networks {
		n.networks[nw.ID] = nw.Name
	}
	for _, node := range d.Nodes {
		n.nodes[node.ID] = node.Hostname
	}
	for _, svc := range d.Services {
		n.services[svc.ID] = svc.Name
	}
	return n
}

// network returns the name of a network, or its ID when Data has none.
func (n dataNames) network(id string) string {
	if name, ok := n.networks[id]; ok {
		return name
	}
	return id
}

// servicesView lists the services by name.
func servicesView(d *registry.Data, cfg registry.Config, names dataNames) []serviceJSON {
	out := []serviceJSON{}
	for i := range d.Services {
		svc := &d.Services[i]
		out = append(out, newServiceJSON(svc, cfg, names.network))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tasksView lists the tasks by service, slot and ID.
func tasksView(d *registry.Data, names dataNames) []taskJSON {
	out := []taskJSON{}
	for _, t := range d.Tasks {
		tj := taskJSON{ID: t.ID, Service: names.services[t.ServiceID], Slot: t.Slot, Node: t.NodeID, State: t.State}
		if h := names.nodes[t.NodeID]; h != "" {
			tj.Node = h
		}
		for _, na := range t.Addresses {
			if tj.Addresses == nil {
				tj.Addresses = map[string][]string{}
			}
			for _, a := range na.Addrs {
				tj.Addresses[names.network(na.Network)] = append(tj.Addresses[names.network(na.Network)], a.String())
			}
		}
		out = append(out, tj)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		return a.ID < b.ID
	})
	return out
}

// recordsView lists every name of the snapshot with its views and
// records, by name.
func recordsView(snap *registry.Snapshot, names dataNames) []nameJSON {
	out := []nameJSON{}
	snap.Names(func(key string, n registry.Name) {
		owner := key + "." + snap.Domain
		if strings.HasSuffix(key, ".arpa") {
			owner = key + "."
		}
		nj := nameJSON{Name: owner}
		for _, v := range n.Views() {
			vj := viewJSON{Network: names.network(v.Network), Sets: []rrsetJSON{}}
			for _, set := range v.Sets() {
				vj.Sets = append(vj.Sets, rrsetView(owner, set))
			}
			nj.Views = append(nj.Views, vj)
		}
		out = append(out, nj)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func rrsetView(owner string, set *registry.RRSet) rrsetJSON {
	rj := rrsetJSON{Type: dns.TypeToString[set.Type], TTL: set.TTL, Scheduler: set.Policy(), Records: []recordJSON{}}
	for i := 0; i < set.Len(); i++ {
		rj.Records = append(rj.Records, recordJSON{Data: recordData(owner, set.Record(i)), Weight: set.Weight(i), Info: set.Info(i)})
	}
	return rj
}

// recordData decodes a record packed behind a question (its owner is a
// pointer to offset 12) and returns its RDATA in presentation format.
func recordData(owner string, rec []byte) string {
	q := new(dns.Msg)
	q.SetQuestion(owner, dns.TypeA)
	msg, err := q.Pack()
	if err != nil {
		return "?"
	}
	msg[7] = 1 // ANCOUNT
	msg = append(msg, rec...)
	var m dns.Msg
	if err := m.Unpack(msg); err != nil || len(m.Answer) != 1 {
		return "?"
	}
	return rdata(m.Answer[0])
}

// rdata is the presentation form of rr without its header.
func rdata(rr dns.RR) string {
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// newServiceJSON is svc as the API shows it, its networks named by
// network (an ID to a name).
func newServiceJSON(svc *registry.Service, cfg registry.Config, network func(id string) string) serviceJSON {
	sj := serviceJSON{
		ID: svc.ID, Name: svc.Name, EndpointMode: svc.EndpointMode, Global: svc.Global,
		Scheduler: servicePolicy(svc, cfg), Labels: svc.Labels,
	}
	for _, vip := range svc.VirtualIPs {
		if sj.VIPs == nil {
			sj.VIPs = map[string]string{}
		}
		sj.VIPs[network(vip.Network)] = vip.Addr.String()
	}
	for _, a := range svc.Networks {
		sj.Networks = append(sj.Networks, attachmentJSON{Network: network(a.Network), Aliases: a.Aliases})
	}
	for _, p := range svc.Ports {
		sj.Ports = append(sj.Ports, portJSON{Name: p.Name, Protocol: p.Protocol, Target: p.Target, Published: p.Published})
	}
	return sj
}
