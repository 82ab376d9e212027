package swarm

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/swarmdns/swarmdns/registry"
)

// byNetwork returns a task's Addresses holding m, as AddAddrs builds them.
func byNetwork(m map[string][]netip.Addr) []registry.NetworkAddrs {
	var t registry.Task
	for _, id := range slices.Sorted(maps.Keys(m)) {
		t.AddAddrs(id, m[id]...)
	}
	return t.Addresses
}

// vips returns a service's VirtualIPs holding m, as SetVIP builds them.
func vips(m map[string]netip.Addr) []registry.VirtualIP {
	var s registry.Service
	for id, a := range m {
		s.SetVIP(id, a)
	}
	return s.VirtualIPs
}
