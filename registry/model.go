package registry

import (
	"net/netip"
	"slices"
)

// Endpoint modes of a service, as Swarm names them.
const (
	ModeVIP   = "vip"
	ModeDNSRR = "dnsrr"
)

// TaskRunning is the only task state whose addresses are published.
const TaskRunning = "running"

// Labels read by swarmdns on services and nodes.
const (
	LabelResolve   = "swarmdns.resolve"   // "tasks": the service name answers tasks even in vip mode
	LabelPorts     = "swarmdns.ports"     // "http:8080/tcp,grpc:9090/tcp"
	LabelTTL       = "swarmdns.ttl"       // seconds
	LabelScheduler = "swarmdns.scheduler" // roundrobin | weighted | random
	LabelWeight    = "swarmdns.weight"    // non-negative integer, on services and nodes
)

// Data is everything a Source knows about the cluster at one moment. A
// Source hands over complete Data; it is never partial.
type Data struct {
	Services []Service
	Tasks    []Task
	Networks []Network
	Nodes    []Node
	// Containers are the local engine's containers with overlay attachments,
	// used to tell which networks a client belongs to when it reaches
	// swarmdns from an address outside every overlay subnet (docker_gwbridge,
	// a bridge network).
	Containers []Container
	// LocalNode is the ID of the node swarmdns runs on, if known.
	LocalNode string
}

// RunningTasks counts the tasks in state running, the ones swarmdns
// publishes. It is what "tasks" means wherever swarmdns counts them: the
// source logs, the snapshot's Stats, swarmdns_registry_tasks and check.
func (d *Data) RunningTasks() int {
	n := 0
	for i := range d.Tasks {
		if d.Tasks[i].State == TaskRunning {
			n++
		}
	}
	return n
}

// Container is a container on the local engine: the addresses it may send
// queries from, and the overlay networks (IDs, in the engine's order) whose
// view of the names it should get.
type Container struct {
	ID        string
	Addresses []netip.Addr
	Networks  []string
	// TaskID and ServiceID name the Swarm task the container runs and its
	// service (its labels); empty for a container that is no task's.
	TaskID, ServiceID string
	// Unhealthy is true while the container's healthcheck has not passed
	// (starting or failing): it runs, but its task is not ready.
	Unhealthy bool
}

// Service is a Swarm service as far as naming is concerned.
type Service struct {
	ID           string
	Name         string
	EndpointMode string // ModeVIP or ModeDNSRR
	Global       bool
	Labels       map[string]string
	// VirtualIPs holds the service VIP on each network, sorted by network
	// ID, one per network. SetVIP keeps that order.
	VirtualIPs []VirtualIP
	Ports      []Port
	Networks   []Attachment
}

// VirtualIP is a service's virtual IP on one network.
type VirtualIP struct {
	Network string // network ID
	Addr    netip.Addr
}

// Port is a port the service exposes. Name may be empty.
type Port struct {
	Name      string
	Protocol  string // tcp, udp or sctp
	Target    uint16
	Published uint16
}

// Attachment is a service's membership of a network, with its aliases there.
type Attachment struct {
	Network string // network ID
	Aliases []string
}

// Task is one instance of a service.
type Task struct {
	ID        string
	ServiceID string
	Slot      int // 0 for global services
	NodeID    string
	State     string
	// Addresses holds the task's addresses on each network, sorted by
	// network ID, one entry per network and none without addresses.
	// AddAddrs keeps that order. Most tasks are on one network: a slice
	// costs a fraction of a map there.
	Addresses []NetworkAddrs
}

// NetworkAddrs is a task's addresses on one network.
type NetworkAddrs struct {
	Network string // network ID
	Addrs   []netip.Addr
}

// Network is an overlay (or other) network tasks attach to.
type Network struct {
	ID      string
	Name    string
	Subnets []netip.Prefix
	// Ingress marks Swarm's routing-mesh network; nothing is named on it.
	Ingress bool
}

// Node is a Swarm node.
type Node struct {
	ID       string
	Hostname string
	Labels   map[string]string
}

// AddrsOn returns the task's addresses on the network with this ID.
func (t *Task) AddrsOn(network string) []netip.Addr {
	if i, ok := t.addrsIndex(network); ok {
		return t.Addresses[i].Addrs
	}
	return nil
}

// NetworkIDs appends to dst the IDs of the networks the task has
// addresses on, sorted.
func (t *Task) NetworkIDs(dst []string) []string {
	for _, na := range t.Addresses {
		dst = append(dst, na.Network)
	}
	return dst
}

// AddAddrs appends addrs to the task's addresses on network, keeping
// Addresses sorted by network; no addresses add nothing.
func (t *Task) AddAddrs(network string, addrs ...netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	i, ok := t.addrsIndex(network)
	if ok {
		t.Addresses[i].Addrs = append(t.Addresses[i].Addrs, addrs...)
		return
	}
	t.Addresses = slices.Insert(t.Addresses, i, NetworkAddrs{Network: network, Addrs: slices.Clone(addrs)})
}

func (t *Task) addrsIndex(network string) (int, bool) {
	// Most tasks have one network or two: a scan beats a binary search.
	for i, na := range t.Addresses {
		if na.Network >= network {
			return i, na.Network == network
		}
	}
	return len(t.Addresses), false
}

// VIPOn returns the service's virtual IP on the network with this ID.
func (s *Service) VIPOn(network string) (netip.Addr, bool) {
	if i, ok := s.vipIndex(network); ok {
		return s.VirtualIPs[i].Addr, true
	}
	return netip.Addr{}, false
}

// VIPNetworkIDs appends to dst the IDs of the networks the service has a
// virtual IP on, sorted.
func (s *Service) VIPNetworkIDs(dst []string) []string {
	for _, v := range s.VirtualIPs {
		dst = append(dst, v.Network)
	}
	return dst
}

// SetVIP sets the service's virtual IP on network, keeping VirtualIPs
// sorted by network.
func (s *Service) SetVIP(network string, addr netip.Addr) {
	i, ok := s.vipIndex(network)
	if ok {
		s.VirtualIPs[i].Addr = addr
		return
	}
	s.VirtualIPs = slices.Insert(s.VirtualIPs, i, VirtualIP{Network: network, Addr: addr})
}

func (s *Service) vipIndex(network string) (int, bool) {
	for i, v := range s.VirtualIPs {
		if v.Network >= network {
			return i, v.Network == network
		}
	}
	return len(s.VirtualIPs), false
}

// A source decodes 100,000 tasks that repeat the same few service, node,
// network and state strings, and label maps that are mostly empty; these
// keep the Data it hands over small.

// Interner hands out one copy of each string it is given, so that the many
// tasks naming one service, node, state or network share it instead of
// each keeping its decoder's copy. Make one with NewInterner.
type Interner struct{ strs interner }

// NewInterner returns an empty Interner.
func NewInterner() Interner { return Interner{strs: interner{}} }

// Get returns the one copy of s.
func (in Interner) Get(s string) string { return in.strs.get(s) }

// NonEmpty returns labels, or nil for none: an engine sends "Labels": {}
// for every object without labels, and Data need not keep an empty map
// for each.
func NonEmpty(labels map[string]string) map[string]string { return nonEmpty(labels) }

// PackAddrs moves the tasks' addresses into two arrays they all share: two
// allocations in place of two per task. Each task's slices are capped, so
// an append copies rather than overwrites the next task's.
func PackAddrs(tasks []Task) { packAddrs(tasks) }
