package swarm

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/swarmdns/swarmdns/registry"
)

// Fixtures shaped like what dockerd 20.10 returns for the objects
// scripts/swarm-up.sh and docs/swarm-notes.md describe.

const (
	appnetID  = "m5s1d0p7qqiiziwarrtpkt45y"
	backnetID = "7rvl6bmobye1w6l0j4opvpqta"
	ingressID = "2q6rycvt9f0uo5ymjrplyp2c4"
	gwbridge  = "31d0ec5ea6590d5acfbab83eea0b766e697f8f482ee47d0779d9bb6e9623d126"
)

func swarmNet(id, name string, ingress bool, subnets ...string) network.Summary {
	n := network.Summary{ID: id, Name: name, Scope: "swarm", Driver: "overlay", Ingress: ingress}
	for _, s := range subnets {
		n.IPAM.Config = append(n.IPAM.Config, network.IPAMConfig{Subnet: s})
	}
	return n
}

func fixtureNetworks() []network.Summary {
	return []network.Summary{
		swarmNet(ingressID, "ingress", true, "10.0.0.0/24"),
		swarmNet(appnetID, "appnet", false, "10.0.1.0/24"),
		swarmNet(backnetID, "backnet", false, "10.0.2.0/24", "fd00:2::/64"),
		{ID: "2d06b0fb9be2", Name: "bridge", Scope: "local", Driver: "bridge",
			IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "172.17.0.0/16"}}}},
		{ID: gwbridge, Name: "docker_gwbridge", Scope: "local", Driver: "bridge"},
	}
}

func replicated(id, name string) swarmtypes.Service {
	var s swarmtypes.Service
	s.ID = id
	s.Spec.Name = name
	one := uint64(1)
	s.Spec.Mode.Replicated = &swarmtypes.ReplicatedService{Replicas: &one}
	s.Spec.EndpointSpec = &swarmtypes.EndpointSpec{Mode: swarmtypes.ResolutionModeVIP}
	return s
}

func withVIPs(s swarmtypes.Service, netVIP ...string) swarmtypes.Service {
	for i := 0; i+1 < len(netVIP); i += 2 {
		s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, swarmtypes.EndpointVirtualIP{NetworkID: netVIP[i], Addr: netVIP[i+1]})
	}
	return s
}

func withNetworks(s swarmtypes.Service, nets ...swarmtypes.NetworkAttachmentConfig) swarmtypes.Service {
	s.Spec.TaskTemplate.Networks = nets
	return s
}

func task(id, service string, slot int, desired, state swarmtypes.TaskState, attachments ...swarmtypes.NetworkAttachment) swarmtypes.Task {
	return swarmtypes.Task{
		ID: id, ServiceID: service, Slot: slot, NodeID: "node-local",
		DesiredState:        desired,
		Status:              swarmtypes.TaskStatus{State: state},
		NetworksAttachments: attachments,
	}
}

func withContainer(t swarmtypes.Task, id string) swarmtypes.Task {
	t.Status.ContainerStatus = &swarmtypes.ContainerStatus{ContainerID: id}
	return t
}

func attached(netID string, ingress bool, cidrs ...string) swarmtypes.NetworkAttachment {
	var a swarmtypes.NetworkAttachment
	a.Network.ID = netID
	a.Network.Spec.Ingress = ingress
	a.Addresses = cidrs
	return a
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestEngineStateData(t *testing.T) {
	running, shutdown := swarmtypes.TaskStateRunning, swarmtypes.TaskStateShutdown

	tests := []struct {
		name  string
		state engineState
		want  registry.Data
	}{
		{
			name: "tasks whose desired state is not running are left out",
			state: engineState{tasks: []swarmtypes.Task{
				task("t1", "s1", 1, running, running, attached(appnetID, false, "10.0.1.4/24")),
				task("t0", "s1", 1, shutdown, swarmtypes.TaskStateFailed, attached(appnetID, false, "10.0.1.3/24")),
			}, networks: fixtureNetworks()},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "running",
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}},
		},
		{
			name: "a task still starting keeps its observed state for the registry to judge",
			state: engineState{tasks: []swarmtypes.Task{
				task("t1", "s1", 2, running, swarmtypes.TaskStateStarting, attached(appnetID, false, "10.0.1.5/24")),
			}, networks: fixtureNetworks()},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 2, NodeID: "node-local", State: "starting",
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.5")}})}}},
		},
		{
			name: "a running task on this node whose container has stopped is not running",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, running, running, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, networks: fixtureNetworks(), localNode: "node-local"},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: TaskContainerStopped,
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}, LocalNode: "node-local"},
		},
		{
			name: "a running task on this node whose container runs stays running",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, running, running, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, containers: []container.Summary{{ID: "c1"}}, networks: fixtureNetworks(), localNode: "node-local"},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "running",
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}, LocalNode: "node-local"},
		},
		{
			name: "a running task on this node whose container died is not running, though the engine still lists it",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, running, running, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, containers: []container.Summary{{ID: "c1"}}, died: map[string]bool{"c1": true},
				networks: fixtureNetworks(), localNode: "node-local"},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: TaskContainerStopped,
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}, LocalNode: "node-local"},
		},
		{
			name: "a starting task on this node whose container is ready is running",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, running, swarmtypes.TaskStateStarting, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, ready: map[string]bool{"c1": true}, networks: fixtureNetworks(), localNode: "node-local"},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "running",
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}, LocalNode: "node-local"},
		},
		{
			name: "a starting task on this node whose container is not ready stays starting",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, running, swarmtypes.TaskStateStarting, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, networks: fixtureNetworks(), localNode: "node-local"},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "starting",
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}, LocalNode: "node-local"},
		},
		{
			name: "a task shutting down is not made running by its container",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, shutdown, swarmtypes.TaskStateStarting, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, ready: map[string]bool{"c1": true}, networks: fixtureNetworks(), localNode: "node-local"},
			want: registry.Data{LocalNode: "node-local"},
		},
		{
			name: "a task on another node is judged by the manager alone",
			state: engineState{tasks: []swarmtypes.Task{
				withContainer(task("t1", "s1", 1, running, running, attached(appnetID, false, "10.0.1.4/24")), "c1"),
			}, networks: fixtureNetworks(), localNode: "node-other"},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "running",
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}}, LocalNode: "node-other"},
		},
		{
			name: "ingress gets no VIP, task address or attachment",
			state: engineState{
				services: []swarmtypes.Service{withNetworks(withVIPs(replicated("s1", "pub"),
					ingressID, "10.0.0.3/24", appnetID, "10.0.1.2/24"),
					swarmtypes.NetworkAttachmentConfig{Target: ingressID},
					swarmtypes.NetworkAttachmentConfig{Target: appnetID})},
				tasks: []swarmtypes.Task{task("t1", "s1", 1, running, running,
					attached(ingressID, true, "10.0.0.4/24"), attached(appnetID, false, "10.0.1.4/24"))},
				networks: fixtureNetworks(),
			},
			want: registry.Data{
				Services: []registry.Service{{ID: "s1", Name: "pub", EndpointMode: registry.ModeVIP,
					VirtualIPs: vips(map[string]netip.Addr{appnetID: ip("10.0.1.2")}),
					Networks:   []registry.Attachment{{Network: appnetID}}}},
				Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "running",
					Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.4")}})}},
			},
		},
		{
			name: "a service has one VIP per network",
			state: engineState{services: []swarmtypes.Service{withVIPs(replicated("s1", "web"),
				backnetID, "10.0.2.2/24", appnetID, "10.0.1.2/24")}, networks: fixtureNetworks()},
			want: registry.Data{Services: []registry.Service{{ID: "s1", Name: "web", EndpointMode: registry.ModeVIP,
				VirtualIPs: vips(map[string]netip.Addr{appnetID: ip("10.0.1.2"), backnetID: ip("10.0.2.2")})}}},
		},
		{
			name: "a VIP not yet allocated is left out",
			state: engineState{services: []swarmtypes.Service{withVIPs(replicated("s1", "web"), appnetID, "")},
				networks: fixtureNetworks()},
			want: registry.Data{Services: []registry.Service{{ID: "s1", Name: "web", EndpointMode: registry.ModeVIP}}},
		},
		{
			name: "IPv6 task addresses are kept beside IPv4, sorted",
			state: engineState{tasks: []swarmtypes.Task{task("t1", "s1", 1, running, running,
				attached(backnetID, false, "fd00:2::4/64", "10.0.2.4/24"))}, networks: fixtureNetworks()},
			want: registry.Data{Tasks: []registry.Task{{ID: "t1", ServiceID: "s1", Slot: 1, NodeID: "node-local", State: "running",
				Addresses: byNetwork(map[string][]netip.Addr{backnetID: {ip("10.0.2.4"), ip("fd00:2::4")}})}}},
		},
		{
			name: "dnsrr service has its mode and no VIP",
			state: func() engineState {
				s := replicated("s1", "rr")
				s.Spec.EndpointSpec.Mode = swarmtypes.ResolutionModeDNSRR
				return engineState{services: []swarmtypes.Service{s}, networks: fixtureNetworks()}
			}(),
			want: registry.Data{Services: []registry.Service{{ID: "s1", Name: "rr", EndpointMode: registry.ModeDNSRR}}},
		},
		{
			name: "global service is marked global and its tasks have slot 0",
			state: func() engineState {
				s := replicated("s1", "glob")
				s.Spec.Mode = swarmtypes.ServiceMode{Global: &swarmtypes.GlobalService{}}
				return engineState{services: []swarmtypes.Service{s},
					tasks:    []swarmtypes.Task{task("t1", "s1", 0, running, running)},
					networks: fixtureNetworks()}
			}(),
			want: registry.Data{
				Services: []registry.Service{{ID: "s1", Name: "glob", EndpointMode: registry.ModeVIP, Global: true}},
				Tasks:    []registry.Task{{ID: "t1", ServiceID: "s1", NodeID: "node-local", State: "running"}},
			},
		},
		{
			name: "aliases come from the task template, network names resolve to IDs",
			state: engineState{services: []swarmtypes.Service{withNetworks(replicated("s1", "aliased"),
				swarmtypes.NetworkAttachmentConfig{Target: backnetID, Aliases: []string{"store"}},
				swarmtypes.NetworkAttachmentConfig{Target: "appnet", Aliases: []string{"shop", "boutique"}})},
				networks: fixtureNetworks()},
			want: registry.Data{Services: []registry.Service{{ID: "s1", Name: "aliased", EndpointMode: registry.ModeVIP, Networks: []registry.Attachment{
				{Network: backnetID, Aliases: []string{"store"}},
				{Network: appnetID, Aliases: []string{"shop", "boutique"}},
			}}}},
		},
		{
			name: "labels and allocated ports are passed through",
			state: func() engineState {
				s := replicated("s1", "api")
				s.Spec.Labels = map[string]string{registry.LabelPorts: "http:80/tcp"}
				s.Spec.EndpointSpec.Ports = []swarmtypes.PortConfig{{Protocol: swarmtypes.PortConfigProtocolTCP, TargetPort: 80}}
				s.Endpoint.Ports = []swarmtypes.PortConfig{{Protocol: swarmtypes.PortConfigProtocolTCP, TargetPort: 80, PublishedPort: 30000}}
				return engineState{services: []swarmtypes.Service{s}, networks: fixtureNetworks()}
			}(),
			want: registry.Data{Services: []registry.Service{{ID: "s1", Name: "api", EndpointMode: registry.ModeVIP,
				Labels: map[string]string{registry.LabelPorts: "http:80/tcp"},
				Ports:  []registry.Port{{Protocol: "tcp", Target: 80, Published: 30000}}}}},
		},
		{
			name: "spec ports stand in until the endpoint is allocated",
			state: func() engineState {
				s := replicated("s1", "api")
				s.Spec.EndpointSpec.Ports = []swarmtypes.PortConfig{{Name: "dns", Protocol: swarmtypes.PortConfigProtocolUDP, TargetPort: 53}}
				return engineState{services: []swarmtypes.Service{s}, networks: fixtureNetworks()}
			}(),
			want: registry.Data{Services: []registry.Service{{ID: "s1", Name: "api", EndpointMode: registry.ModeVIP,
				Ports: []registry.Port{{Name: "dns", Protocol: "udp", Target: 53}}}}},
		},
		{
			name:  "networks carry subnets and the ingress flag, local networks are left out",
			state: engineState{networks: fixtureNetworks()},
			want:  registry.Data{},
		},
		{
			name: "nodes carry hostname and spec labels",
			state: func() engineState {
				var n swarmtypes.Node
				n.ID = "n1"
				n.Description.Hostname = "worker-1"
				n.Spec.Labels = map[string]string{registry.LabelWeight: "3"}
				return engineState{nodes: []swarmtypes.Node{n}, networks: fixtureNetworks(), localNode: "n1"}
			}(),
			want: registry.Data{Nodes: []registry.Node{{ID: "n1", Hostname: "worker-1", Labels: map[string]string{registry.LabelWeight: "3"}}}, LocalNode: "n1"},
		},
		{
			name: "local containers on overlays carry every address and their overlays in name order",
			state: engineState{
				containers: []container.Summary{
					{ID: "c-both", NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
						"backnet": {NetworkID: backnetID, IPAddress: "10.0.2.14", GlobalIPv6Address: "fd00:2::e"},
						"appnet":  {NetworkID: appnetID, IPAddress: "10.0.1.14"},
						"ingress": {NetworkID: ingressID, IPAddress: "10.0.0.9"},
					}}},
					{ID: "c-bridge-only", NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
						"bridge": {NetworkID: "2d06b0fb9be2", IPAddress: "172.17.0.2"},
					}}},
				},
				gateways: map[string][]netip.Addr{"c-both": {ip("172.18.0.3")}},
				networks: fixtureNetworks(),
			},
			want: registry.Data{Containers: []registry.Container{{
				ID:        "c-both",
				Addresses: []netip.Addr{ip("10.0.1.14"), ip("10.0.2.14"), ip("fd00:2::e"), ip("172.18.0.3")},
				Networks:  []string{appnetID, backnetID},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.state.data()
			want := tt.want
			// Every row has the fixture networks; state them once here, by ID.
			want.Networks = []registry.Network{
				{ID: ingressID, Name: "ingress", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, Ingress: true},
				{ID: backnetID, Name: "backnet", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24"), netip.MustParsePrefix("fd00:2::/64")}},
				{ID: appnetID, Name: "appnet", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}},
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestSortedDataComparesEqualWhateverTheEngineOrder(t *testing.T) {
	running := swarmtypes.TaskStateRunning
	a := engineState{networks: fixtureNetworks(), tasks: []swarmtypes.Task{
		task("t1", "s1", 1, running, running, attached(appnetID, false, "10.0.1.4/24")),
		task("t2", "s1", 2, running, running, attached(appnetID, false, "10.0.1.5/24")),
	}, services: []swarmtypes.Service{replicated("s1", "web"), replicated("s2", "api")}}
	b := engineState{networks: fixtureNetworks(), tasks: []swarmtypes.Task{a.tasks[1], a.tasks[0]},
		services: []swarmtypes.Service{a.services[1], a.services[0]}}
	if !sameSwarmData(a.data(), b.data()) {
		t.Error("the same cluster listed in another order compares different")
	}
}
