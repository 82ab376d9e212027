package file

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/swarmdns/swarmdns/registry"
)

// taskStates are Swarm's task states; only running is published.
var taskStates = map[string]bool{
	"new": true, "pending": true, "assigned": true, "accepted": true, "preparing": true,
	"ready": true, "starting": true, "running": true, "complete": true, "shutdown": true,
	"failed": true, "rejected": true, "remove": true, "orphaned": true,
}

// validator turns a decoded file into Data, collecting every problem with
// its line; see Parse for the two passes.
type validator struct {
	path string
	root *yaml.Node // nil on the first pass, which only finds whether there is an error
	errs []error
	// strs shares the strings many tasks repeat (node IDs, states, port
	// names) across the Data.
	strs    registry.Interner
	defined defined
	// Scratch space reused from task to task.
	netNames []string
	addrs    []netip.Addr
}

// defined is what the file has defined so far: what later entries refer
// to, and what must not be defined twice.
type defined struct {
	networks   map[string]string // lower-cased name → ID
	nodes      map[string]bool
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

func (v *validator) errorf(line int, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s:%d: %s", v.path, line, fmt.Sprintf(format, args...)))
}

// line finds the YAML node at a path of mapping keys and sequence indices,
// for the line of an error; it returns the line of the deepest node it
// reached.
func (v *validator) line(path ...any) int {
	n := v.root
	if n == nil {
		return 0 // first pass, before any error
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, step := range path {
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
// services and tasks refer to them.
func (v *validator) data(f *fileRegistry) *registry.Data {
	d := &registry.Data{LocalNode: f.LocalNode}
	for i := range f.Networks {
		if nw, ok := v.network(&f.Networks[i], i); ok {
			d.Networks = append(d.Networks, nw)
		}
	}
	for i := range f.Nodes {
		if n, ok := v.node(&f.Nodes[i], i); ok {
			d.Nodes = append(d.Nodes, n)
		}
	}
	if f.LocalNode != "" && !v.defined.nodes[f.LocalNode] {
		v.errorf(v.line("local_node"), "local_node %q is not a node", f.LocalNode)
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
	return d
}

// network checks network i; ok is false when it has no name.
func (v *validator) network(n *fileNetwork, i int) (nw registry.Network, ok bool) {
	line := v.line("networks", i)
	if n.Name == "" {
		v.errorf(line, "network has no name")
		return nw, false
	}
	if err := registry.CheckLabel(strings.ToLower(n.Name)); err != nil {
		v.errorf(line, "network %q: %v", n.Name, err)
	}
	id := n.ID
	if id == "" {
		id = n.Name
	}
	if _, dup := v.defined.networks[strings.ToLower(n.Name)]; dup {
		v.errorf(line, "network %q defined twice", n.Name)
	}
	v.defined.networks[strings.ToLower(n.Name)] = id
	nw = registry.Network{ID: id, Name: n.Name, Ingress: n.Ingress}
	for j, s := range n.Subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			v.errorf(v.line("networks", i, "subnets", j), "network %q: subnet %q is not a CIDR prefix", n.Name, s)
			continue
		}
		nw.Subnets = append(nw.Subnets, p)
	}
	return nw, true
}

// node checks node i; ok is false when it has no id.
func (v *validator) node(n *fileNode, i int) (registry.Node, bool) {
	line := v.line("nodes", i)
	if n.ID == "" {
		v.errorf(line, "node has no id")
		return registry.Node{}, false
	}
	if v.defined.nodes[n.ID] {
		v.errorf(line, "node %q defined twice", n.ID)
	}
	v.defined.nodes[n.ID] = true
	if w, ok := n.Labels[registry.LabelWeight]; ok {
		if err := registry.CheckLabelValue(registry.LabelWeight, w); err != nil {
			v.errorf(v.line("nodes", i, "labels"), "node %q: label %s: %v", n.ID, registry.LabelWeight, err)
		}
	}
	return registry.Node{ID: n.ID, Hostname: n.Hostname, Labels: registry.NonEmpty(n.Labels)}, true
}

// service checks service i and adds it and its tasks to d, unless it has
// no name.
func (v *validator) service(d *registry.Data, fs *fileService, i int) {
	svc, ok := v.serviceSpec(fs, i)
	if !ok {
		return
	}
	v.labels(fs, i)
	v.ports(&svc, fs, i)
	onNet := v.attachments(&svc, fs, i)
	for j := range fs.Tasks {
		d.Tasks = append(d.Tasks, v.task(&svc, fs, i, j, onNet))
	}
	d.Services = append(d.Services, svc)
}

// serviceSpec checks a service's name, id and modes; ok is false when it
// has no name.
func (v *validator) serviceSpec(fs *fileService, i int) (svc registry.Service, ok bool) {
	line := v.line("services", i)
	if fs.Name == "" {
		v.errorf(line, "service has no name")
		return svc, false
	}
	if err := registry.CheckLabel(strings.ToLower(fs.Name)); err != nil {
		v.errorf(line, "service %q: %v", fs.Name, err)
	}
	if v.defined.services[strings.ToLower(fs.Name)] {
		v.errorf(line, "service %q defined twice", fs.Name)
	}
	v.defined.services[strings.ToLower(fs.Name)] = true
	svc = registry.Service{ID: fs.ID, Name: fs.Name, Labels: registry.NonEmpty(fs.Labels), EndpointMode: registry.ModeVIP}
	if svc.ID == "" {
		svc.ID = fs.Name
	}
	if v.defined.serviceIDs[svc.ID] {
		v.errorf(line, "service id %q used twice", svc.ID)
	}
	v.defined.serviceIDs[svc.ID] = true
	switch fs.EndpointMode {
	case "", registry.ModeVIP:
	case registry.ModeDNSRR:
		svc.EndpointMode = registry.ModeDNSRR
	default:
		v.errorf(v.line("services", i, "endpoint_mode"), "service %q: endpoint_mode %q: want vip or dnsrr", fs.Name, fs.EndpointMode)
	}
	switch fs.Mode {
	case "", "replicated":
	case "global":
		svc.Global = true
	default:
		v.errorf(v.line("services", i, "mode"), "service %q: mode %q: want replicated or global", fs.Name, fs.Mode)
	}
	return svc, true
}

// ports checks a service's ports and adds the good ones to svc.
func (v *validator) ports(svc *registry.Service, fs *fileService, i int) {
	for j, p := range fs.Ports {
		pl := v.line("services", i, "ports", j)
		port := registry.Port{Name: v.strs.Get(strings.ToLower(p.Name)), Protocol: v.strs.Get(strings.ToLower(p.Protocol))}
		if port.Protocol == "" {
			port.Protocol = "tcp"
		}
		if p.Target < 1 || p.Target > 65535 || p.Published < 0 || p.Published > 65535 {
			v.errorf(pl, "service %q: port %d: target must be 1-65535 and published 0-65535", fs.Name, p.Target)
			continue
		}
		port.Target, port.Published = uint16(p.Target), uint16(p.Published)
		if err := registry.CheckPort(port); err != nil {
			v.errorf(pl, "service %q: %v", fs.Name, err)
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
		nl := v.line("services", i, "networks", j)
		id, ok := v.defined.networks[strings.ToLower(n.Name)]
		if !ok {
			v.errorf(nl, "service %q: network %q is not in networks", fs.Name, n.Name)
			continue
		}
		onNet[id] = true
		for _, a := range n.Aliases {
			if err := registry.CheckName(strings.ToLower(a)); err != nil {
				v.errorf(nl, "service %q: alias: %v", fs.Name, err)
			}
		}
		svc.Networks = append(svc.Networks, registry.Attachment{Network: id, Aliases: n.Aliases})
		if n.VIP == "" {
			continue
		}
		a, err := netip.ParseAddr(n.VIP)
		switch {
		case err != nil:
			v.errorf(v.line("services", i, "networks", j, "vip"), "service %q: vip %q is not an IP address", fs.Name, n.VIP)
		case svc.EndpointMode == registry.ModeDNSRR:
			v.errorf(v.line("services", i, "networks", j, "vip"), "service %q: a dnsrr service has no vip", fs.Name)
		default:
			svc.SetVIP(id, a)
		}
	}
	return onNet
}

// task checks task j of service i, which is on the networks onNet.
func (v *validator) task(svc *registry.Service, fs *fileService, i, j int, onNet map[string]bool) registry.Task {
	ft := &fs.Tasks[j]
	tl := v.line("services", i, "tasks", j)
	t := registry.Task{ID: ft.ID, ServiceID: svc.ID, Slot: ft.Slot, NodeID: v.strs.Get(ft.Node), State: v.strs.Get(ft.State)}
	if t.State == "" {
		t.State = registry.TaskRunning
	}
	switch {
	case t.ID == "":
		v.errorf(tl, "service %q: task has no id", fs.Name)
	case v.defined.tasks[t.ID]:
		v.errorf(tl, "service %q: task id %q used twice", fs.Name, t.ID)
	case registry.CheckLabel(strings.ToLower(t.ID)) != nil:
		v.errorf(tl, "service %q: task id %q: %v", fs.Name, t.ID, registry.CheckLabel(strings.ToLower(t.ID)))
	}
	v.defined.tasks[t.ID] = true
	if !taskStates[t.State] {
		v.errorf(tl, "service %q: task %q: state %q is not a Swarm task state", fs.Name, t.ID, t.State)
	}
	switch {
	case svc.Global && t.Slot != 0:
		v.errorf(tl, "service %q: task %q: a global service's task has no slot", fs.Name, t.ID)
	case svc.Global && t.NodeID == "":
		v.errorf(tl, "service %q: task %q: a global service's task needs a node", fs.Name, t.ID)
	case !svc.Global && t.Slot < 1:
		v.errorf(tl, "service %q: task %q: slot must be 1 or more", fs.Name, t.ID)
	}
	if t.NodeID != "" && !v.defined.nodes[t.NodeID] {
		v.errorf(tl, "service %q: task %q: node %q is not in nodes", fs.Name, t.ID, t.NodeID)
	}
	v.taskAddrs(&t, ft, fs, i, j, onNet)
	return t
}

// taskAddrs checks a task's addresses and adds the good ones to t.
func (v *validator) taskAddrs(t *registry.Task, ft *fileTask, fs *fileService, i, j int, onNet map[string]bool) {
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
			v.errorf(v.line("services", i, "tasks", j, "addresses"), "service %q: task %q: network %q is not one of the service's networks", fs.Name, t.ID, netName)
			continue
		}
		v.addrs = v.addrs[:0]
		for _, s := range ft.Addresses[netName] {
			a, err := netip.ParseAddr(s)
			if err != nil {
				v.errorf(v.line("services", i, "tasks", j, "addresses", netName), "service %q: task %q: address %q is not an IP address", fs.Name, t.ID, s)
				continue
			}
			v.addrs = append(v.addrs, a)
		}
		t.AddAddrs(id, v.addrs...)
	}
}

// labels checks the values of the swarmdns.* labels a file sets, so that
// `swarmdns check` reports them; Swarm's own labels are checked at build.
func (v *validator) labels(fs *fileService, i int) {
	ll := v.line("services", i, "labels")
	for k, val := range fs.Labels {
		if err := registry.CheckLabelValue(k, val); err != nil {
			v.errorf(ll, "service %q: label %s: %v", fs.Name, k, err)
		}
	}
}
