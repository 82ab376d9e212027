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

// Container is a container on the local engine: the addresses it may send
// queries from, and the overlay networks (IDs, in the engine's order) whose
// view of the names it should get.
type Container struct {
	ID        string
	Addresses []netip.Addr
	Networks  []string
}

// Service is a Swarm service as far as naming is concerned.
type Service struct {
	ID           string
	Name         string
	EndpointMode string // ModeVIP or ModeDNSRR
	Global       bool
	Labels       map[string]string
	// VirtualIPs holds the service VIP on each network (network ID → address).
	VirtualIPs map[string]netip.Addr
	Ports      []Port
	Networks   []Attachment
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
	// Addresses holds the task's addresses on each network (network ID → addresses).
	Addresses map[string][]netip.Addr
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
func (t *Task) AddrsOn(network string) []netip.Addr { return t.Addresses[network] }

// NetworkIDs appends to dst the IDs of the networks the task has
// addresses on, sorted.
func (t *Task) NetworkIDs(dst []string) []string {
	start := len(dst)
	for id := range t.Addresses {
		dst = append(dst, id)
	}
	slices.Sort(dst[start:])
	return dst
}

// VIPOn returns the service's virtual IP on the network with this ID.
func (s *Service) VIPOn(network string) (netip.Addr, bool) {
	a, ok := s.VirtualIPs[network]
	return a, ok
}

// VIPNetworkIDs appends to dst the IDs of the networks the service has a
// virtual IP on, sorted.
func (s *Service) VIPNetworkIDs(dst []string) []string {
	start := len(dst)
	for id := range s.VirtualIPs {
		dst = append(dst, id)
	}
	slices.Sort(dst[start:])
	return dst
}
