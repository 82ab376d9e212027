package registry

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/swarmdns/swarmdns/scheduler"
)

// The checks below are one set of rules for every source. The builder
// serves around what fails them (a default for a bad label value, a name
// left out); a source that can refuse its input (the registry file, and
// `swarmdns check`) reports them as errors, and the Store logs what a
// source cannot refuse (a live Swarm) as warnings.

// CheckLabel reports whether l can be one label of a served name: 1 to 63
// bytes, no dot, space, control or zone-file special character.
func CheckLabel(l string) error { return checkLabel(l) }

// CheckName reports whether a bare name (an alias) can be served: labels
// that pass CheckLabel, 253 bytes at most.
func CheckName(n string) error { return checkName(n) }

// CheckPort reports whether a port can have SRV records: a protocol of
// tcp, udp or sctp, and a name, if any, that passes CheckLabel.
func CheckPort(p Port) error { return checkPort(p) }

// Labels are the swarmdns labels, in the order the docs list them.
var Labels = []string{LabelResolve, LabelPorts, LabelTTL, LabelScheduler, LabelWeight}

// CheckLabelValue reports whether value is valid for the swarmdns label
// key; other keys pass. A scheduler is one of the built-in policies.
func CheckLabelValue(key, value string) error {
	var err error
	switch key {
	case LabelWeight:
		_, err = parseWeight(value)
	case LabelPorts:
		_, err = ParsePorts(value)
	case LabelTTL:
		_, err = parseTTL(value)
	case LabelScheduler:
		_, err = scheduler.Lookup(value)
	case LabelResolve:
		if value != "tasks" && value != "vip" {
			err = fmt.Errorf("%q: want tasks or vip", value)
		}
	}
	return err
}

// A Problem is one thing wrong in Data: a bad label value, or data that
// cannot be true of a Swarm (two running tasks in one slot, one address on
// two tasks). Indexes are into the Data checked; -1 where none applies.
type Problem struct {
	Service, Task, Node int
	// Network is the ID of the network the problem is on, if one.
	Network string
	// Addr is the address the problem is about, if one.
	Addr netip.Addr
	// Label is the label whose value is bad, for a label problem.
	Label string
	Err   error
}

// CheckData returns every problem of d, in the order of d's services,
// then its nodes. Only running tasks count for slots and shared addresses:
// a stopped task's address may be given to a new one.
func CheckData(d *Data) []Problem {
	c := dataCheck{d: d, svcIdx: make(map[string]int, len(d.Services)), nets: make(map[string]*Network, len(d.Networks))}
	for i := range d.Networks {
		c.nets[d.Networks[i].ID] = &d.Networks[i]
	}
	for i := range d.Services {
		c.svcIdx[d.Services[i].ID] = i
		c.labels(i)
		c.vips(i)
	}
	c.tasks()
	for i := range d.Nodes {
		if v, ok := d.Nodes[i].Labels[LabelWeight]; ok {
			if err := CheckLabelValue(LabelWeight, v); err != nil {
				c.add(Problem{Service: -1, Task: -1, Node: i, Label: LabelWeight, Err: err})
			}
		}
	}
	return c.problems
}

// dataCheck is the state of one CheckData.
type dataCheck struct {
	d        *Data
	svcIdx   map[string]int
	nets     map[string]*Network
	problems []Problem
}

func (c *dataCheck) add(p Problem) { c.problems = append(c.problems, p) }

// labels checks the swarmdns labels of service i, in the order of Labels.
func (c *dataCheck) labels(i int) {
	svc := &c.d.Services[i]
	for _, k := range Labels {
		if v, ok := svc.Labels[k]; ok {
			if err := CheckLabelValue(k, v); err != nil {
				c.add(Problem{Service: i, Task: -1, Node: -1, Label: k, Err: err})
			}
		}
	}
}

// vips checks that a vip-mode service has a VIP on every network it is
// attached to (but the ingress network, where only published ports have one).
func (c *dataCheck) vips(i int) {
	svc := &c.d.Services[i]
	if svc.EndpointMode != ModeVIP {
		return
	}
	for _, a := range svc.Networks {
		nw := c.nets[a.Network]
		if nw == nil || nw.Ingress {
			continue
		}
		if _, ok := svc.VIPOn(a.Network); !ok {
			c.add(Problem{Service: i, Task: -1, Node: -1, Network: a.Network,
				Err: fmt.Errorf("no VIP on network %s, which a vip-mode service needs for its name there (or use endpoint mode dnsrr)", nw.Name)})
		}
	}
}

// tasks checks the slots and addresses of every task.
func (c *dataCheck) tasks() {
	type slotKey struct{ svc, slot int32 }
	type addrKey struct {
		net  int32
		addr netip.Addr
	}
	netIdx := make(map[string]int32, len(c.d.Networks))
	for i := range c.d.Networks {
		netIdx[c.d.Networks[i].ID] = int32(i)
	}
	// Sized up front, and keyed by numbers: maps of 100,000 tasks cost
	// their growth and their string hashing more than their filling.
	slots := make(map[slotKey]int, len(c.d.Tasks))
	addrs := make(map[addrKey]int, len(c.d.Tasks))
	for ti := range c.d.Tasks {
		t := &c.d.Tasks[ti]
		si, ok := c.svcIdx[t.ServiceID]
		if !ok {
			continue
		}
		svc := &c.d.Services[si]
		running := t.State == TaskRunning
		if running && !svc.Global && t.Slot > 0 {
			k := slotKey{int32(si), int32(t.Slot)}
			if other, dup := slots[k]; dup {
				c.add(Problem{Service: si, Task: ti, Node: -1,
					Err: fmt.Errorf("task %s: slot %d has another running task, %s", t.ID, t.Slot, c.d.Tasks[other].ID)})
			} else {
				slots[k] = ti
			}
		}
		for _, na := range t.Addresses {
			ni, known := netIdx[na.Network]
			var nw *Network
			if known {
				nw = &c.d.Networks[ni]
			} else {
				ni = -1 // one network the data does not list: still one network
			}
			for _, a := range na.Addrs {
				if nw != nil && len(nw.Subnets) > 0 && !inSubnets(nw.Subnets, a) {
					c.add(Problem{Service: si, Task: ti, Node: -1, Network: na.Network, Addr: a,
						Err: fmt.Errorf("task %s: address %s is outside network %s's subnets (%s)", t.ID, a, nw.Name, prefixList(nw.Subnets))})
				}
				if !running || !known {
					continue
				}
				k := addrKey{ni, a}
				if other, dup := addrs[k]; dup {
					o := &c.d.Tasks[other]
					c.add(Problem{Service: si, Task: ti, Node: -1, Network: na.Network, Addr: a,
						Err: fmt.Errorf("task %s: address %s on network %s is also task %s's (service %s)", t.ID, a, nw.Name, o.ID, c.svcName(o.ServiceID))})
				} else {
					addrs[k] = ti
				}
			}
		}
	}
}

func inSubnets(subnets []netip.Prefix, a netip.Addr) bool {
	for _, p := range subnets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *dataCheck) svcName(id string) string {
	if i, ok := c.svcIdx[id]; ok {
		return c.d.Services[i].Name
	}
	return id
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// String says what the problem is and where, as a log line: "service web:
// label swarmdns.ttl: ttl "soon": want seconds".
func (p Problem) String(d *Data) string {
	var where string
	switch {
	case p.Service >= 0:
		where = "service " + d.Services[p.Service].Name
	case p.Node >= 0:
		n := &d.Nodes[p.Node]
		where = "node " + n.ID
		if n.Hostname != "" {
			where = "node " + n.Hostname
		}
	}
	if p.Label != "" {
		where += ": label " + p.Label
	}
	return where + ": " + p.Err.Error()
}

// UnknownNetworks returns the names of list (network names or IDs, as
// Config.Networks holds them) that name no network of d.
func UnknownNetworks(d *Data, list []string) []string {
	var unknown []string
	for _, n := range list {
		found := false
		for i := range d.Networks {
			if d.Networks[i].ID == n || strings.EqualFold(d.Networks[i].Name, n) {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, n)
		}
	}
	return unknown
}
