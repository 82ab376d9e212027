// Package benchdata generates the synthetic registries the benchmarks serve:
// the same services, tasks and addresses for swarmdns, dnsmasq and the Go
// benchmarks.
package benchdata

import (
	"fmt"
	"net/netip"

	"github.com/swarmdns/swarmdns/registry"
)

// Size is how many services and tasks per service a registry has.
type Size struct {
	Name     string
	Services int
	Tasks    int
}

// The sizes of issue 6.
var (
	Small = Size{Name: "small", Services: 10, Tasks: 3}
	Large = Size{Name: "large", Services: 10000, Tasks: 10}
)

// ParseSize returns the size called name.
func ParseSize(name string) (Size, error) {
	switch name {
	case Small.Name:
		return Small, nil
	case Large.Name:
		return Large, nil
	}
	return Size{}, fmt.Errorf("size %q: want small or large", name)
}

// Names and numbers every generated registry shares.
const (
	Domain    = "swarm.local."
	Network   = "benchnet"
	NetworkID = "net-bench"
	Subnet    = "10.0.0.0/8"
	PortName  = "http"
	Port      = 80
	Nodes     = 4
)

// ServiceName is the name of service i; every even service is vip mode,
// every odd one dnsrr.
func ServiceName(i int) string { return fmt.Sprintf("svc%d", i) }

// DNSRR reports whether service i is in dnsrr mode.
func DNSRR(i int) bool { return i%2 == 1 }

// TaskID is the ID of task j (slot j+1) of service i.
func TaskID(i, j int) string { return fmt.Sprintf("t%dx%d", i, j) }

// TaskName is Docker's name of that task: <svc>.<slot>.<taskid>.
func TaskName(i, j int) string { return fmt.Sprintf("%s.%d.%s", ServiceName(i), j+1, TaskID(i, j)) }

// TaskAddr is the address of task j of service i, counted up from 10.0.0.1.
func TaskAddr(sz Size, i, j int) netip.Addr { return addr(0x0A000001 + uint32(i*sz.Tasks+j)) }

// VIP is the virtual IP of vip-mode service i, counted up from 10.200.0.1.
func VIP(i int) netip.Addr { return addr(0x0AC80001 + uint32(i)) }

// NodeID is the node task j runs on.
func NodeID(j int) string { return fmt.Sprintf("node%d", j%Nodes) }

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Data returns the registry of size sz, as the file source would read it.
func Data(sz Size) *registry.Data {
	d := &registry.Data{
		Networks: []registry.Network{{ID: NetworkID, Name: Network, Subnets: []netip.Prefix{netip.MustParsePrefix(Subnet)}}},
		Services: make([]registry.Service, 0, sz.Services),
		Tasks:    make([]registry.Task, 0, sz.Services*sz.Tasks),
	}
	for n := 0; n < Nodes; n++ {
		d.Nodes = append(d.Nodes, registry.Node{ID: NodeID(n), Hostname: NodeID(n)})
	}
	for i := 0; i < sz.Services; i++ {
		svc := registry.Service{
			ID: "id-" + ServiceName(i), Name: ServiceName(i), EndpointMode: registry.ModeVIP,
			VirtualIPs: map[string]netip.Addr{},
			Ports:      []registry.Port{{Name: PortName, Protocol: "tcp", Target: Port}},
			Networks:   []registry.Attachment{{Network: NetworkID}},
		}
		if DNSRR(i) {
			svc.EndpointMode = registry.ModeDNSRR
		} else {
			svc.VirtualIPs[NetworkID] = VIP(i)
		}
		d.Services = append(d.Services, svc)
		for j := 0; j < sz.Tasks; j++ {
			d.Tasks = append(d.Tasks, registry.Task{
				ID: TaskID(i, j), ServiceID: svc.ID, Slot: j + 1, NodeID: NodeID(j), State: registry.TaskRunning,
				Addresses: map[string][]netip.Addr{NetworkID: {TaskAddr(sz, i, j)}},
			})
		}
	}
	return d
}
