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
	d := snap.Data
	st := snap.Stats()
	out := &registryJSON{
		Domain: snap.Domain, Serial: snap.Serial, Built: snap.Built,
		AgeSeconds:       now.Sub(snap.Built).Seconds(),
		LastSyncError:    lastErr,
		Stats:            statsJSON{Services: st.Services, Tasks: st.Tasks, Names: st.Names},
		DefaultScheduler: cfg.Policy,
		Services:         []serviceJSON{},
		Tasks:            []taskJSON{},
		Names:            []nameJSON{},
	}
	if !lastSync.IsZero() {
		out.LastSync = &lastSync
	}
	netName := map[string]string{}
	for _, n := range d.Networks {
		netName[n.ID] = n.Name
	}
	nameOf := func(id string) string {
		if n, ok := netName[id]; ok {
			return n
		}
		return id
	}
	nodeName := map[string]string{}
	for _, n := range d.Nodes {
		nodeName[n.ID] = n.Hostname
	}
	svcName := map[string]string{}
	for i := range d.Services {
		svc := &d.Services[i]
		svcName[svc.ID] = svc.Name
		sj := serviceJSON{
			ID: svc.ID, Name: svc.Name, EndpointMode: svc.EndpointMode, Global: svc.Global,
			Scheduler: servicePolicy(svc, cfg), Labels: svc.Labels,
		}
		for _, vip := range svc.VirtualIPs {
			if sj.VIPs == nil {
				sj.VIPs = map[string]string{}
			}
			sj.VIPs[nameOf(vip.Network)] = vip.Addr.String()
		}
		for _, a := range svc.Networks {
			sj.Networks = append(sj.Networks, attachmentJSON{Network: nameOf(a.Network), Aliases: a.Aliases})
		}
		for _, p := range svc.Ports {
			sj.Ports = append(sj.Ports, portJSON{Name: p.Name, Protocol: p.Protocol, Target: p.Target, Published: p.Published})
		}
		out.Services = append(out.Services, sj)
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Name < out.Services[j].Name })
	for _, t := range d.Tasks {
		tj := taskJSON{ID: t.ID, Service: svcName[t.ServiceID], Slot: t.Slot, Node: t.NodeID, State: t.State}
		if h := nodeName[t.NodeID]; h != "" {
			tj.Node = h
		}
		for _, na := range t.Addresses {
			if tj.Addresses == nil {
				tj.Addresses = map[string][]string{}
			}
			for _, a := range na.Addrs {
				tj.Addresses[nameOf(na.Network)] = append(tj.Addresses[nameOf(na.Network)], a.String())
			}
		}
		out.Tasks = append(out.Tasks, tj)
	}
	sort.Slice(out.Tasks, func(i, j int) bool {
		a, b := out.Tasks[i], out.Tasks[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		return a.ID < b.ID
	})
	snap.Names(func(key string, n registry.Name) {
		owner := key + "." + snap.Domain
		if strings.HasSuffix(key, ".arpa") {
			owner = key + "."
		}
		nj := nameJSON{Name: owner}
		for _, v := range n.Views() {
			vj := viewJSON{Network: nameOf(v.Network), Sets: []rrsetJSON{}}
			for _, set := range v.Sets() {
				vj.Sets = append(vj.Sets, rrsetView(owner, set))
			}
			nj.Views = append(nj.Views, vj)
		}
		out.Names = append(out.Names, nj)
	})
	sort.Slice(out.Names, func(i, j int) bool { return out.Names[i].Name < out.Names[j].Name })
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
