package registry

import (
	"maps"
	"slices"
)

// Equality of Data's objects as a snapshot sees them: a nil list or map
// equals an empty one. The Store diffs each Data against the base of its
// snapshot with them (layers.go), and registry/peer diffs what it sends.
// None of them allocates; lists shared by both objects (one array) are
// equal at the cost of a pointer comparison.

// SameService reports whether two services are the same for naming.
func SameService(a, b *Service) bool {
	return a.ID == b.ID && a.Name == b.Name && a.EndpointMode == b.EndpointMode && a.Global == b.Global &&
		maps.Equal(a.Labels, b.Labels) && slices.Equal(a.VirtualIPs, b.VirtualIPs) && slices.Equal(a.Ports, b.Ports) &&
		slices.EqualFunc(a.Networks, b.Networks, func(x, y Attachment) bool {
			return x.Network == y.Network && slices.Equal(x.Aliases, y.Aliases)
		})
}

// SameTask reports whether two tasks are the same for naming.
func SameTask(a, b *Task) bool {
	if a.ID != b.ID || a.ServiceID != b.ServiceID || a.Slot != b.Slot || a.NodeID != b.NodeID || a.State != b.State || len(a.Addresses) != len(b.Addresses) {
		return false
	}
	if len(a.Addresses) == 0 || &a.Addresses[0] == &b.Addresses[0] {
		return true
	}
	for i := range a.Addresses {
		if x, y := &a.Addresses[i], &b.Addresses[i]; x.Network != y.Network || !slices.Equal(x.Addrs, y.Addrs) {
			return false
		}
	}
	return true
}

// SameNetwork reports whether two networks are the same for naming.
func SameNetwork(a, b *Network) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Ingress == b.Ingress && slices.Equal(a.Subnets, b.Subnets)
}

// SameNode reports whether two nodes are the same for naming.
func SameNode(a, b *Node) bool {
	return a.ID == b.ID && a.Hostname == b.Hostname && maps.Equal(a.Labels, b.Labels)
}

// SameContainer reports whether two local containers are the same.
func SameContainer(a, b *Container) bool {
	return a.ID == b.ID && slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.Networks, b.Networks) &&
		a.TaskID == b.TaskID && a.ServiceID == b.ServiceID && a.Unhealthy == b.Unhealthy
}

// sameList reports whether two lists hold equal objects in one order.
func sameList[T any](a, b []T, same func(x, y *T) bool) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if !same(&a[i], &b[i]) {
			return false
		}
	}
	return true
}
