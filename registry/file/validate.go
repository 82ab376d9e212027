package file

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/swarmdns/swarmdns/internal/suggest"
	"github.com/swarmdns/swarmdns/registry"
)

// taskStateList are Swarm's task states, in the order of a task's life;
// only running is published.
var taskStateList = []string{"new", "pending", "assigned", "accepted", "preparing", "ready", "starting",
	"running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned"}

// validator turns a decoded file into Data, collecting every problem with
// its line and field path; see Parse for the two passes.
type validator struct {
	path string
	root *yaml.Node // nil on the first pass, which only finds whether there is an error
	errs []lineError
	// strs shares the strings many tasks repeat (node IDs, states, port
	// names) across the Data.
	strs    registry.Interner
	defined defined
	// Where each service, task and node of the Data is in the file, for
	// the problems registry.CheckData finds.
	svcAt  []int
	taskAt []taskPos
	nodeAt []int
	// Scratch space reused from task to task.
	netNames []string
	addrs    []netip.Addr
}

// lineError is an error and the line it is on, to sort by.
type lineError struct {
	line int
	err  error
}

// sorted returns the errors in the order of their lines.
func (v *validator) sorted() []error {
	slices.SortStableFunc(v.errs, func(a, b lineError) int { return a.line - b.line })
	errs := make([]error, len(v.errs))
	for i, e := range v.errs {
		errs[i] = e.err
	}
	return errs
}

// taskPos is where a task is: task j of service i.
type taskPos struct{ i, j int }

// defined is what the file has defined so far: what later entries refer
// to, and what must not be defined twice.
type defined struct {
	networks   map[string]string // lower-cased name → ID
	netNames   []string          // as written, for suggestions
	nodes      map[string]bool
	nodeIDs    []string
	services   map[string]bool // lower-cased name
	serviceIDs map[string]bool
	tasks      map[string]bool
}

func newValidator(path string, root *yaml.Node) *validator {
	return &validator{path: path, root: root, strs: registry.NewInterner(), defined: defined{
		networks: map[string]string{}, nodes: map[string]bool{},
		services: map[string]bool{}, serviceIDs: map[string]bool{}, tasks: map[string]bool{},
	}}
}

// at is a place in the file: mapping keys and sequence indexes from the
// top, e.g. at{"services", 2, "tasks", 0, "slot"}.
type at []any

// String is the field path: services[2].tasks[0].slot.
func (p at) String() string {
	var b strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(s) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// errorf records an error at a place: "FILE:LINE: PATH: message".
func (v *validator) errorf(where at, format string, args ...any) {
	line := v.line(where)
	v.errs = append(v.errs, lineError{line, fmt.Errorf("%s:%d: %s: %s", v.path, line, where, fmt.Sprintf(format, args...))})
}

// line finds the YAML node at a place, for the line of an error; it
// returns the line of the deepest node it reached.
func (v *validator) line(where at) int {
	n := v.root
	if n == nil {
		return 0 // first pass, before any error
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, step := range where {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return n.Line
}

// data checks and converts the whole file: networks and nodes first, as
// services and tasks refer to them; then what holds across services.
func (v *validator) data(f *fileRegistry) *registry.Data {
	d := &registry.Data{LocalNode: f.LocalNode}
	if f.Services == nil {
		v.errorf(at{"services"}, "a registry file lists its services; write services: [] for a registry with none")
	}
	for i := range f.Networks {
		if nw, ok := v.network(&f.Networks[i], i); ok {
			d.Networks = append(d.Networks, nw)
		}
	}
	for i := range f.Nodes {
		if n, ok := v.node(&f.Nodes[i], i); ok {
			d.Nodes = append(d.Nodes, n)
			v.nodeAt = append(v.nodeAt, i)
		}
	}
	if f.LocalNode != "" && !v.defined.nodes[f.LocalNode] {
		v.errorf(at{"local_node"}, "%q is not the id of a node in nodes%s", f.LocalNode, suggest.Hint(f.LocalNode, v.defined.nodeIDs))
	}
	// Sized up front: append's headroom on 100,000 tasks is megabytes the
	// Data would keep.
	tasks := 0
	for i := range f.Services {
		tasks += len(f.Services[i].Tasks)
	}
	d.Services, d.Tasks = slices.Grow(d.Services, len(f.Services)), slices.Grow(d.Tasks, tasks)
	for i := range f.Services {
		v.service(d, &f.Services[i], i)
	}
	registry.PackAddrs(d.Tasks)
	v.problems(d, f)
	return d
}

// problems reports what registry.CheckData finds in d (the rules every
// source shares), at the place in the file it comes from.
func (v *validator) problems(d *registry.Data, f *fileRegistry) {
	for _, p := range registry.CheckData(d) {
		var where at
		who := ""
		switch {
		case p.Task >= 0:
			pos := v.taskAt[p.Task]
			fs := &f.Services[pos.i]
			who = fmt.Sprintf("service %q: ", fs.Name)
			where = at{"services", pos.i, "tasks", pos.j}
			if p.Addr.IsValid() {
				where = append(where, v.addrPlace(&fs.Tasks[pos.j], p)...)
			} else {
				where = append(where, "slot")
			}
		case p.Service >= 0:
			i := v.svcAt[p.Service]
			fs := &f.Services[i]
			who = fmt.Sprintf("service %q: ", fs.Name)
			switch {
			case p.Label != "":
				where = at{"services", i, "labels", p.Label}
			case p.Network != "":
				j := v.attachmentIndex(fs, p.Network)
				if fs.Networks[j].VIP != "" {
					continue // a bad VIP, reported already
				}
				where = at{"services", i, "networks", j}
			default:
				where = at{"services", i}
			}
		case p.Node >= 0:
			where = at{"nodes", v.nodeAt[p.Node], "labels", p.Label}
		}
		v.errorf(where, "%s%v", who, p.Err)
	}
}

// addrPlace is the place of p's address in a task's addresses.
func (v *validator) addrPlace(ft *fileTask, p registry.Problem) at {
	for netName, list := range ft.Addresses {
		if v.defined.networks[strings.ToLower(netName)] != p.Network {
			continue
		}
		for k, s := range list {
			if a, err := netip.ParseAddr(s); err == nil && a == p.Addr {
				return at{"addresses", netName, k}
			}
		}
	}
	return at{"addresses"}
}

// attachmentIndex is the index of the service's attachment to a network.
func (v *validator) attachmentIndex(fs *fileService, network string) int {
	for j, n := range fs.Networks {
		if v.defined.networks[strings.ToLower(n.Name)] == network {
			return j
		}
	}
	return 0
}

// network checks network i; ok is false when it has no name.
func (v *validator) network(n *fileNetwork, i int) (nw registry.Network, ok bool) {
	if n.Name == "" {
		v.errorf(at{"networks", i}, "a network needs a name")
		return nw, false
	}
	if err := registry.CheckLabel(strings.ToLower(n.Name)); err != nil {
		v.errorf(at{"networks", i, "name"}, "network %q: the name must be one DNS label: %v", n.Name, err)
	}
	id := n.ID
	if id == "" {
		id = n.Name
	}
	if _, dup := v.defined.networks[strings.ToLower(n.Name)]; dup {
		v.errorf(at{"networks", i, "name"}, "network %q is defined twice", n.Name)
	}
	v.defined.networks[strings.ToLower(n.Name)] = id
	v.defined.netNames = append(v.defined.netNames, n.Name)
	nw = registry.Network{ID: id, Name: n.Name, Ingress: n.Ingress}
	for j, s := range n.Subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			v.errorf(at{"networks", i, "subnets", j}, "network %q: %q is not a CIDR prefix; use address/length, e.g. 10.0.1.0/24 or fd00:1::/64", n.Name, s)
			continue
		}
		nw.Subnets = append(nw.Subnets, p)
	}
	return nw, true
}

// node checks node i; ok is false when it has no id.
func (v *validator) node(n *fileNode, i int) (registry.Node, bool) {
	if n.ID == "" {
		v.errorf(at{"nodes", i}, "a node needs an id")
		return registry.Node{}, false
	}
	if v.defined.nodes[n.ID] {
		v.errorf(at{"nodes", i, "id"}, "node %q is defined twice", n.ID)
	}
	v.defined.nodes[n.ID] = true
	v.defined.nodeIDs = append(v.defined.nodeIDs, n.ID)
	return registry.Node{ID: n.ID, Hostname: n.Hostname, Labels: registry.NonEmpty(n.Labels)}, true
}

// service checks service i and adds it and its tasks to d, unless it has
// no name.
func (v *validator) service(d *registry.Data, fs *fileService, i int) {
	svc, ok := v.serviceSpec(fs, i)
	if !ok {
		return
	}
	v.ports(&svc, fs, i)
	onNet := v.attachments(&svc, fs, i)
	for j := range fs.Tasks {
		d.Tasks = append(d.Tasks, v.task(&svc, fs, i, j, onNet))
		v.taskAt = append(v.taskAt, taskPos{i, j})
	}
	d.Services = append(d.Services, svc)
	v.svcAt = append(v.svcAt, i)
}

// serviceSpec checks a service's name, id and modes; ok is false when it
// has no name.
func (v *validator) serviceSpec(fs *fileService, i int) (svc registry.Service, ok bool) {
	if fs.Name == "" {
		v.errorf(at{"services", i}, "a service needs a name")
		return svc, false
	}
	if err := registry.CheckLabel(strings.ToLower(fs.Name)); err != nil {
		v.errorf(at{"services", i, "name"}, "service %q: the name must be one DNS label: %v", fs.Name, err)
	}
	if v.defined.services[strings.ToLower(fs.Name)] {
		v.errorf(at{"services", i, "name"}, "service %q is defined twice", fs.Name)
	}
	v.defined.services[strings.ToLower(fs.Name)] = true
	svc = registry.Service{ID: fs.ID, Name: fs.Name, Labels: registry.NonEmpty(fs.Labels), EndpointMode: registry.ModeVIP}
	if svc.ID == "" {
		svc.ID = fs.Name
	}
	if v.defined.serviceIDs[svc.ID] && fs.ID != "" {
		v.errorf(at{"services", i, "id"}, "service %q: id %q is used twice", fs.Name, svc.ID)
	}
	v.defined.serviceIDs[svc.ID] = true
	switch fs.EndpointMode {
	case "", registry.ModeVIP:
	case registry.ModeDNSRR:
		svc.EndpointMode = registry.ModeDNSRR
	default:
		v.errorf(at{"services", i, "endpoint_mode"}, "service %q: %q is not an endpoint mode; use vip or dnsrr", fs.Name, fs.EndpointMode)
	}
	switch fs.Mode {
	case "", "replicated":
	case "global":
		svc.Global = true
	default:
		v.errorf(at{"services", i, "mode"}, "service %q: %q is not a service mode; use replicated or global", fs.Name, fs.Mode)
	}
	return svc, true
}

// ports checks a service's ports and adds the good ones to svc.
func (v *validator) ports(svc *registry.Service, fs *fileService, i int) {
	for j, p := range fs.Ports {
		port := registry.Port{Name: v.strs.Get(strings.ToLower(p.Name)), Protocol: v.strs.Get(strings.ToLower(p.Protocol))}
		if port.Protocol == "" {
			port.Protocol = "tcp"
		}
		bad := false
		if p.Target < 1 || p.Target > 65535 {
			v.errorf(at{"services", i, "ports", j, "target"}, "service %q: port %d is out of range; use 1 to 65535", fs.Name, p.Target)
			bad = true
		}
		if p.Published < 0 || p.Published > 65535 {
			v.errorf(at{"services", i, "ports", j, "published"}, "service %q: port %d is out of range; use 0 to 65535", fs.Name, p.Published)
			bad = true
		}
		if bad {
			continue
		}
		port.Target, port.Published = uint16(p.Target), uint16(p.Published)
		if err := registry.CheckPort(port); err != nil {
			v.errorf(at{"services", i, "ports", j}, "service %q: %v", fs.Name, err)
			continue
		}
		svc.Ports = append(svc.Ports, port)
	}
}

// attachments checks a service's networks, aliases and VIPs, adds them to
// svc, and returns the IDs of its networks.
func (v *validator) attachments(svc *registry.Service, fs *fileService, i int) (onNet map[string]bool) {
	onNet = map[string]bool{}
	for j, n := range fs.Networks {
		id, ok := v.defined.networks[strings.ToLower(n.Name)]
		if !ok {
			v.errorf(at{"services", i, "networks", j, "name"}, "service %q: network %q is not in networks%s", fs.Name, n.Name, suggest.Hint(n.Name, v.defined.netNames))
			continue
		}
		onNet[id] = true
		for k, a := range n.Aliases {
			if err := registry.CheckName(strings.ToLower(a)); err != nil {
				v.errorf(at{"services", i, "networks", j, "aliases", k}, "service %q: alias %q cannot be served: %v", fs.Name, a, err)
			}
		}
		svc.Networks = append(svc.Networks, registry.Attachment{Network: id, Aliases: n.Aliases})
		if n.VIP == "" {
			continue
		}
		a, err := netip.ParseAddr(n.VIP)
		switch {
		case err != nil:
			v.errorf(at{"services", i, "networks", j, "vip"}, "service %q: %q is not an IP address", fs.Name, n.VIP)
		case svc.EndpointMode == registry.ModeDNSRR:
			v.errorf(at{"services", i, "networks", j, "vip"}, "service %q: a dnsrr service has no VIP; remove it, or use endpoint_mode: vip", fs.Name)
		default:
			svc.SetVIP(id, a)
		}
	}
	return onNet
}

// task checks task j of service i, which is on the networks onNet.
func (v *validator) task(svc *registry.Service, fs *fileService, i, j int, onNet map[string]bool) registry.Task {
	ft := &fs.Tasks[j]
	tl := at{"services", i, "tasks", j}
	t := registry.Task{ID: ft.ID, ServiceID: svc.ID, Slot: ft.Slot, NodeID: v.strs.Get(ft.Node), State: v.strs.Get(ft.State)}
	if t.State == "" {
		t.State = registry.TaskRunning
	}
	switch {
	case t.ID == "":
		v.errorf(tl, "service %q: a task needs an id", fs.Name)
	case v.defined.tasks[t.ID]:
		v.errorf(append(tl, "id"), "service %q: task id %q is used twice", fs.Name, t.ID)
	case registry.CheckLabel(strings.ToLower(t.ID)) != nil:
		v.errorf(append(tl, "id"), "service %q: task id %q must be one DNS label: %v", fs.Name, t.ID, registry.CheckLabel(strings.ToLower(t.ID)))
	}
	v.defined.tasks[t.ID] = true
	if !slices.Contains(taskStateList, t.State) {
		v.errorf(append(tl, "state"), "service %q: task %q: %q is not a Swarm task state; use one of %s%s",
			fs.Name, t.ID, t.State, strings.Join(taskStateList, ", "), suggest.Hint(t.State, taskStateList))
	}
	switch {
	case svc.Global && t.Slot != 0:
		v.errorf(append(tl, "slot"), "service %q: task %q: a global service's task has no slot; remove it, or use mode: replicated", fs.Name, t.ID)
	case svc.Global && t.NodeID == "":
		v.errorf(tl, "service %q: task %q: a global service's task needs a node", fs.Name, t.ID)
	case !svc.Global && t.Slot < 1:
		v.errorf(append(tl, "slot"), "service %q: task %q: a replicated service's task needs a slot, 1 or more", fs.Name, t.ID)
	}
	if t.NodeID != "" && !v.defined.nodes[t.NodeID] {
		v.errorf(append(tl, "node"), "service %q: task %q: %q is not the id of a node in nodes%s", fs.Name, t.ID, t.NodeID, suggest.Hint(t.NodeID, v.defined.nodeIDs))
	}
	v.taskAddrs(&t, ft, fs, tl, onNet)
	return t
}

// taskAddrs checks a task's addresses and adds the good ones to t.
func (v *validator) taskAddrs(t *registry.Task, ft *fileTask, fs *fileService, tl at, onNet map[string]bool) {
	// In name order: two spellings of one network add up the same way
	// every time.
	v.netNames = v.netNames[:0]
	for netName := range ft.Addresses {
		v.netNames = append(v.netNames, netName)
	}
	slices.Sort(v.netNames)
	for _, netName := range v.netNames {
		id, ok := v.defined.networks[strings.ToLower(netName)]
		if !ok || !onNet[id] {
			v.errorf(append(tl[:len(tl):len(tl)], "addresses", netName), "service %q: task %q: network %q is not one of the service's networks", fs.Name, t.ID, netName)
			continue
		}
		v.addrs = v.addrs[:0]
		for k, s := range ft.Addresses[netName] {
			a, err := netip.ParseAddr(s)
			if err != nil {
				v.errorf(append(tl[:len(tl):len(tl)], "addresses", netName, k), "service %q: task %q: %q is not an IP address", fs.Name, t.ID, s)
				continue
			}
			v.addrs = append(v.addrs, a)
		}
		t.AddAddrs(id, v.addrs...)
	}
}
