package peer

import (
	"fmt"
	"net/netip"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// Conversions between the registry's data model and the wire messages.
// Addresses travel as 4 or 16 bytes (an IPv6 zone does not travel: Swarm
// addresses have none); empty lists and maps arrive as nil.

func servicePB(s *registry.Service) *peerpb.Service {
	m := &peerpb.Service{Id: s.ID, Name: s.Name, EndpointMode: s.EndpointMode, Global: s.Global, Labels: s.Labels}
	if len(s.VirtualIPs) > 0 {
		m.VirtualIps = make([]*peerpb.VirtualIP, len(s.VirtualIPs))
		for i, v := range s.VirtualIPs {
			m.VirtualIps[i] = &peerpb.VirtualIP{Network: v.Network, Addr: v.Addr.AsSlice()}
		}
	}
	if len(s.Ports) > 0 {
		m.Ports = make([]*peerpb.Port, len(s.Ports))
		for i, p := range s.Ports {
			m.Ports[i] = &peerpb.Port{Name: p.Name, Protocol: p.Protocol, Target: uint32(p.Target), Published: uint32(p.Published)}
		}
	}
	if len(s.Networks) > 0 {
		m.Networks = make([]*peerpb.Attachment, len(s.Networks))
		for i, a := range s.Networks {
			m.Networks[i] = &peerpb.Attachment{Network: a.Network, Aliases: a.Aliases}
		}
	}
	return m
}

func taskPB(t *registry.Task) *peerpb.Task {
	m := &peerpb.Task{Id: t.ID, ServiceId: t.ServiceID, Slot: int64(t.Slot), NodeId: t.NodeID, State: t.State}
	if len(t.Addresses) > 0 {
		m.Addresses = make([]*peerpb.NetworkAddrs, len(t.Addresses))
		for i, na := range t.Addresses {
			addrs := make([][]byte, len(na.Addrs))
			for j, a := range na.Addrs {
				addrs[j] = a.AsSlice()
			}
			m.Addresses[i] = &peerpb.NetworkAddrs{Network: na.Network, Addrs: addrs}
		}
	}
	return m
}

func networkPB(n *registry.Network) *peerpb.Network {
	m := &peerpb.Network{Id: n.ID, Name: n.Name, Ingress: n.Ingress}
	if len(n.Subnets) > 0 {
		m.Subnets = make([]*peerpb.Prefix, len(n.Subnets))
		for i, p := range n.Subnets {
			m.Subnets[i] = &peerpb.Prefix{Addr: p.Addr().AsSlice(), Bits: uint32(p.Bits())}
		}
	}
	return m
}

func nodePB(n *registry.Node) *peerpb.Node {
	return &peerpb.Node{Id: n.ID, Hostname: n.Hostname, Labels: n.Labels}
}

// decoder turns wire messages back into the data model. It hands out one
// copy of each repeated string (service, node and network IDs, states),
// so a follower's registry takes no more memory than its manager's.
type decoder map[string]string

func (d decoder) str(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := d[s]; ok {
		return v
	}
	d[s] = s
	return s
}

func addrOf(b []byte) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Addr{}, fmt.Errorf("address of %d bytes", len(b))
	}
	return a, nil
}

func labelsOf(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func (d decoder) service(m *peerpb.Service) (registry.Service, error) {
	s := registry.Service{ID: m.Id, Name: m.Name, EndpointMode: d.str(m.EndpointMode), Global: m.Global, Labels: labelsOf(m.Labels)}
	if len(m.VirtualIps) > 0 {
		s.VirtualIPs = make([]registry.VirtualIP, len(m.VirtualIps))
		for i, v := range m.VirtualIps {
			a, err := addrOf(v.Addr)
			if err != nil {
				return s, fmt.Errorf("service %s: VIP: %w", m.Id, err)
			}
			s.VirtualIPs[i] = registry.VirtualIP{Network: d.str(v.Network), Addr: a}
		}
	}
	if len(m.Ports) > 0 {
		s.Ports = make([]registry.Port, len(m.Ports))
		for i, p := range m.Ports {
			if p.Target > 0xffff || p.Published > 0xffff {
				return s, fmt.Errorf("service %s: port %d/%d out of range", m.Id, p.Target, p.Published)
			}
			s.Ports[i] = registry.Port{Name: p.Name, Protocol: d.str(p.Protocol), Target: uint16(p.Target), Published: uint16(p.Published)}
		}
	}
	if len(m.Networks) > 0 {
		s.Networks = make([]registry.Attachment, len(m.Networks))
		for i, a := range m.Networks {
			var aliases []string
			if len(a.Aliases) > 0 {
				aliases = a.Aliases
			}
			s.Networks[i] = registry.Attachment{Network: d.str(a.Network), Aliases: aliases}
		}
	}
	return s, nil
}

func (d decoder) task(m *peerpb.Task) (registry.Task, error) {
	t := registry.Task{ID: m.Id, ServiceID: d.str(m.ServiceId), Slot: int(m.Slot), NodeID: d.str(m.NodeId), State: d.str(m.State)}
	if len(m.Addresses) > 0 {
		t.Addresses = make([]registry.NetworkAddrs, len(m.Addresses))
		for i, na := range m.Addresses {
			var addrs []netip.Addr
			if len(na.Addrs) > 0 {
				addrs = make([]netip.Addr, len(na.Addrs))
			}
			for j, b := range na.Addrs {
				a, err := addrOf(b)
				if err != nil {
					return t, fmt.Errorf("task %s: %w", m.Id, err)
				}
				addrs[j] = a
			}
			t.Addresses[i] = registry.NetworkAddrs{Network: d.str(na.Network), Addrs: addrs}
		}
	}
	return t, nil
}

func (d decoder) network(m *peerpb.Network) (registry.Network, error) {
	n := registry.Network{ID: d.str(m.Id), Name: m.Name, Ingress: m.Ingress}
	if len(m.Subnets) > 0 {
		n.Subnets = make([]netip.Prefix, len(m.Subnets))
		for i, p := range m.Subnets {
			a, err := addrOf(p.Addr)
			if err != nil {
				return n, fmt.Errorf("network %s: subnet: %w", m.Id, err)
			}
			pfx := netip.PrefixFrom(a, int(p.Bits))
			if !pfx.IsValid() {
				return n, fmt.Errorf("network %s: subnet %s/%d is not a prefix", m.Id, a, p.Bits)
			}
			n.Subnets[i] = pfx
		}
	}
	return n, nil
}

func (d decoder) node(m *peerpb.Node) registry.Node {
	return registry.Node{ID: d.str(m.Id), Hostname: m.Hostname, Labels: labelsOf(m.Labels)}
}

// decodeList decodes a list of wire messages with conv.
func decodeList[M any, T any](ms []M, conv func(M) (T, error)) ([]T, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	out := make([]T, len(ms))
	for i, m := range ms {
		v, err := conv(m)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// clusterPB is the wire form of a whole cluster.
func clusterPB(c *cluster) *peerpb.ClusterData {
	m := &peerpb.ClusterData{
		Services: make([]*peerpb.Service, len(c.services)),
		Tasks:    make([]*peerpb.Task, len(c.tasks)),
		Networks: make([]*peerpb.Network, len(c.networks)),
		Nodes:    make([]*peerpb.Node, len(c.nodes)),
	}
	for i := range c.services {
		m.Services[i] = servicePB(&c.services[i])
	}
	for i := range c.tasks {
		m.Tasks[i] = taskPB(&c.tasks[i])
	}
	for i := range c.networks {
		m.Networks[i] = networkPB(&c.networks[i])
	}
	for i := range c.nodes {
		m.Nodes[i] = nodePB(&c.nodes[i])
	}
	return m
}

// clusterOfPB decodes a whole cluster; its lists must be in ID order with
// no ID twice.
func clusterOfPB(m *peerpb.ClusterData) (cluster, error) {
	d := decoder{}
	var c cluster
	var err error
	if c.services, err = decodeList(m.Services, d.service); err != nil {
		return c, err
	}
	if c.tasks, err = decodeList(m.Tasks, d.task); err != nil {
		return c, err
	}
	if c.networks, err = decodeList(m.Networks, d.network); err != nil {
		return c, err
	}
	c.nodes, _ = decodeList(m.Nodes, func(n *peerpb.Node) (registry.Node, error) { return d.node(n), nil })
	if err := c.checkOrder(); err != nil {
		return c, err
	}
	return c, nil
}
