package file

import (
	"strings"
	"testing"
)

func TestExampleRegistryLoads(t *testing.T) {
	d, err := Load("../../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Services) != 4 || len(d.Networks) != 2 || len(d.Nodes) != 2 {
		t.Fatalf("loaded %d services, %d networks, %d nodes", len(d.Services), len(d.Networks), len(d.Nodes))
	}
}

// Every message a bad file gets: the file and line, the field path, what
// is wrong and what would be right, in the words of docs/registry-file.md
// (no Go type, no YAML tag).
func TestInvalidRegistryFileIsRejectedWithLineFieldAndReason(t *testing.T) {
	const head = "networks:\n  - {name: appnet, subnets: [10.0.1.0/24]}\nnodes:\n  - {id: n1}\nservices:\n"
	tests := []struct {
		name string
		body string
		want string // the whole error
	}{
		{"yaml syntax error", "services: [\n", "reg.yaml:1: YAML syntax: did not find expected node content"},
		{"unknown top-level field, with the nearest one", "servces: []\n",
			"reg.yaml:1: servces: no such field in the registry; did you mean services?"},
		{"unknown service field, with the nearest one", head + "  - name: web\n    endpointmode: dnsrr\n",
			"reg.yaml:7: services[0].endpointmode: no such field in a service; did you mean endpoint_mode?"},
		{"unknown field far from any lists the fields", head + "  - name: web\n    colour: red\n",
			"reg.yaml:7: services[0].colour: no such field in a service; the fields of a service are id, name, mode, endpoint_mode, labels, ports, networks, tasks"},
		{"a slot that is not a number", head + "  - name: web\n    tasks:\n      - {id: t1, slot: one}\n",
			`reg.yaml:8: services[0].tasks[0].slot: "one" is not a whole number`},
		{"a quoted slot", head + "  - name: web\n    tasks:\n      - {id: t1, slot: \"1\"}\n",
			`reg.yaml:8: services[0].tasks[0].slot: "1" is quoted, which makes it text; write the number without quotes`},
		{"a port target that is not a number", head + "  - name: web\n    ports: [{target: http}]\n",
			`reg.yaml:7: services[0].ports[0].target: "http" is not a whole number`},
		{"ingress that is not a bool", "networks:\n  - {name: a, ingress: maybe}\nservices: []\n",
			`reg.yaml:2: networks[0].ingress: "maybe" is not true or false`},
		{"a list where a name goes", head + "  - name: [web]\n",
			"reg.yaml:6: services[0].name: want a single value, not a list"},
		{"a value where a list goes", head + "  - name: web\n    tasks: t1\n",
			`reg.yaml:7: services[0].tasks: want a list, not the value "t1"`},
		{"a value where a service goes", "services:\n  - web\n",
			`reg.yaml:2: services[0]: a service is a mapping of its fields (id, name, mode, endpoint_mode, labels, ports, networks, tasks), not the value "web"`},
		{"labels that are a list", head + "  - name: web\n    labels: [a]\n",
			"reg.yaml:7: services[0].labels: want a mapping of names to values, not a list"},
		{"no services", "networks: []\n",
			"reg.yaml:1: services: a registry file lists its services; write services: [] for a registry with none"},
		{"service without a name", head + "  - {id: x}\n", "reg.yaml:6: services[0]: a service needs a name"},
		{"duplicate service", head + "  - {name: web}\n  - {name: web}\n", `reg.yaml:7: services[1].name: service "web" is defined twice`},
		{"duplicate service id", head + "  - {name: web, id: s}\n  - {name: api, id: s}\n", `reg.yaml:7: services[1].id: service "api": id "s" is used twice`},
		{"bad endpoint mode", head + "  - name: web\n    endpoint_mode: vlan\n", `reg.yaml:7: services[0].endpoint_mode: service "web": "vlan" is not an endpoint mode; use vip or dnsrr`},
		{"bad mode", head + "  - name: web\n    mode: once\n", `reg.yaml:7: services[0].mode: service "web": "once" is not a service mode; use replicated or global`},
		{"unknown network, with the nearest one", head + "  - name: web\n    networks: [{name: apnet}]\n",
			`reg.yaml:7: services[0].networks[0].name: service "web": network "apnet" is not in networks; did you mean appnet?`},
		{"bad vip", head + "  - name: web\n    networks: [{name: appnet, vip: 10.0.1.x}]\n", `reg.yaml:7: services[0].networks[0].vip: service "web": "10.0.1.x" is not an IP address`},
		{"vip on dnsrr", head + "  - name: web\n    endpoint_mode: dnsrr\n    networks: [{name: appnet, vip: 10.0.1.2}]\n",
			`reg.yaml:8: services[0].networks[0].vip: service "web": a dnsrr service has no VIP; remove it, or use endpoint_mode: vip`},
		{"vip-mode service with no vip on its network", head + "  - name: web\n    networks: [{name: appnet}]\n",
			`reg.yaml:7: services[0].networks[0]: service "web": no VIP on network appnet, which a vip-mode service needs for its name there (or use endpoint mode dnsrr)`},
		{"bad alias", head + "  - name: web\n    networks: [{name: appnet, vip: 10.0.1.2, aliases: [\"a b\"]}]\n",
			`reg.yaml:7: services[0].networks[0].aliases[0]: service "web": alias "a b" cannot be served: name "a b": label "a b" has character ' '`},
		{"bad task address", head + "  - name: web\n    endpoint_mode: dnsrr\n    networks: [{name: appnet}]\n    tasks:\n      - {id: t1, slot: 1, addresses: {appnet: [nope]}}\n",
			`reg.yaml:10: services[0].tasks[0].addresses.appnet[0]: service "web": task "t1": "nope" is not an IP address`},
		{"task on a network the service lacks", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1, addresses: {appnet: [10.0.1.5]}}\n",
			`reg.yaml:8: services[0].tasks[0].addresses.appnet: service "web": task "t1": network "appnet" is not one of the service's networks`},
		{"task address outside the network's subnets", head + "  - name: web\n    endpoint_mode: dnsrr\n    networks: [{name: appnet}]\n    tasks:\n      - {id: t1, slot: 1, addresses: {appnet: [10.9.0.5]}}\n",
			`reg.yaml:10: services[0].tasks[0].addresses.appnet[0]: service "web": task t1: address 10.9.0.5 is outside network appnet's subnets (10.0.1.0/24)`},
		{"one address on two tasks", head + "  - name: web\n    endpoint_mode: dnsrr\n    networks: [{name: appnet}]\n    tasks:\n      - {id: t1, slot: 1, addresses: {appnet: [10.0.1.5]}}\n      - {id: t2, slot: 2, addresses: {appnet: [10.0.1.5]}}\n",
			`reg.yaml:11: services[0].tasks[1].addresses.appnet[0]: service "web": task t2: address 10.0.1.5 on network appnet is also task t1's (service web)`},
		{"two running tasks in one slot", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1}\n      - {id: t2, slot: 1}\n",
			`reg.yaml:9: services[0].tasks[1].slot: service "web": task t2: slot 1 has another running task, t1`},
		{"task on unknown node, with the nearest one", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1, node: n2}\n",
			`reg.yaml:8: services[0].tasks[0].node: service "web": task "t1": "n2" is not the id of a node in nodes; did you mean n1?`},
		{"task without id", head + "  - name: web\n    tasks:\n      - {slot: 1}\n", `reg.yaml:8: services[0].tasks[0]: service "web": a task needs an id`},
		{"replicated task without slot", head + "  - name: web\n    tasks:\n      - {id: t1}\n",
			`reg.yaml:8: services[0].tasks[0].slot: service "web": task "t1": a replicated service's task needs a slot, 1 or more`},
		{"global task with a slot", head + "  - name: web\n    mode: global\n    tasks:\n      - {id: t1, node: n1, slot: 1}\n",
			`reg.yaml:9: services[0].tasks[0].slot: service "web": task "t1": a global service's task has no slot; remove it, or use mode: replicated`},
		{"global task without node", head + "  - name: web\n    mode: global\n    tasks:\n      - {id: t1}\n",
			`reg.yaml:9: services[0].tasks[0]: service "web": task "t1": a global service's task needs a node`},
		{"bad task state, with the nearest one", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1, state: runing}\n",
			`reg.yaml:8: services[0].tasks[0].state: service "web": task "t1": "runing" is not a Swarm task state; use one of new, pending, assigned, accepted, preparing, ready, starting, running, complete, shutdown, failed, rejected, remove, orphaned; did you mean running?`},
		{"duplicate task id", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1}\n      - {id: t1, slot: 2}\n",
			`reg.yaml:9: services[0].tasks[1].id: service "web": task id "t1" is used twice`},
		{"bad port protocol", head + "  - name: web\n    ports: [{target: 80, protocol: icmp}]\n",
			`reg.yaml:7: services[0].ports[0]: service "web": port 80: protocol "icmp" is not tcp, udp or sctp`},
		{"port out of range", head + "  - name: web\n    ports: [{target: 70000}]\n", `reg.yaml:7: services[0].ports[0].target: service "web": port 70000 is out of range; use 1 to 65535`},
		{"bad weight label", head + "  - name: web\n    labels: {swarmdns.weight: heavy}\n",
			`reg.yaml:7: services[0].labels.swarmdns.weight: service "web": weight "heavy": want an integer from 0 to 65535`},
		{"bad ports label", head + "  - name: web\n    labels: {swarmdns.ports: \"http:x/tcp\"}\n",
			`reg.yaml:7: services[0].labels.swarmdns.ports: service "web": port "http:x/tcp": want name:number/protocol`},
		{"bad ttl label", head + "  - name: web\n    labels: {swarmdns.ttl: soon}\n", `reg.yaml:7: services[0].labels.swarmdns.ttl: service "web": ttl "soon": want seconds`},
		{"bad scheduler label, with the nearest one", head + "  - name: web\n    labels: {swarmdns.scheduler: weigthed}\n",
			`reg.yaml:7: services[0].labels.swarmdns.scheduler: service "web": "weigthed" is not a scheduler; use one of random, roundrobin, weighted; did you mean weighted?`},
		{"bad resolve label", head + "  - name: web\n    labels: {swarmdns.resolve: all}\n", `reg.yaml:7: services[0].labels.swarmdns.resolve: service "web": "all": want tasks or vip`},
		{"bad node weight label", "nodes:\n  - id: n1\n    labels: {swarmdns.weight: big}\nservices: []\n",
			`reg.yaml:3: nodes[0].labels.swarmdns.weight: weight "big": want an integer from 0 to 65535`},
		{"node without id", "nodes:\n  - {hostname: h}\nservices: []\n", "reg.yaml:2: nodes[0]: a node needs an id"},
		{"duplicate node", "nodes:\n  - {id: n1}\n  - {id: n1}\nservices: []\n", `reg.yaml:3: nodes[1].id: node "n1" is defined twice`},
		{"bad subnet", "networks:\n  - {name: a, subnets: [10.0.0.0/99]}\nservices: []\n",
			`reg.yaml:2: networks[0].subnets[0]: network "a": "10.0.0.0/99" is not a CIDR prefix; use address/length, e.g. 10.0.1.0/24 or fd00:1::/64`},
		{"network without a name", "networks:\n  - {id: x}\nservices: []\n", "reg.yaml:2: networks[0]: a network needs a name"},
		{"duplicate network", "networks:\n  - {name: a}\n  - {name: a}\nservices: []\n", `reg.yaml:3: networks[1].name: network "a" is defined twice`},
		{"unknown local node", "local_node: zz\nservices: []\n", `reg.yaml:1: local_node: "zz" is not the id of a node in nodes`},
		{"name with a bad character", head + "  - {name: \"we b\"}\n", `reg.yaml:6: services[0].name: service "we b": the name must be one DNS label: label "we b" has character ' '`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("reg.yaml", []byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n%s\nwant\n%s", err, tc.want)
			}
			for _, internal := range []string{"!!", "file.", "registry.", "strconv", "netip", "unmarshal", "type "} {
				if strings.Contains(err.Error(), internal) {
					t.Errorf("error %q shows %q", err, internal)
				}
			}
		})
	}
}

func TestEveryErrorOfAFileIsReportedInLineOrder(t *testing.T) {
	// The label error is found after the duplicate, and printed before it.
	body := "services:\n  - {name: a, endpoint_mode: x, labels: {swarmdns.ttl: soon}}\n  - {name: a, mode: y}\n"
	_, err := Parse("reg.yaml", []byte(body))
	if err == nil {
		t.Fatal("accepted")
	}
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		lines = append(lines, strings.SplitN(l, " ", 2)[0])
	}
	if got := strings.Join(lines, " "); got != "reg.yaml:2: reg.yaml:2: reg.yaml:3: reg.yaml:3:" {
		t.Fatalf("errors on lines %s; want 2, 2, 3, 3:\n%v", got, err)
	}
}

// What an editor's truncate-then-write leaves for a moment is not a
// registry; an empty one says so.
func TestAnEmptyFileIsNotARegistry(t *testing.T) {
	for _, body := range []string{"", "\n  \n", "# being written\n\n", "---\n", "services:\n"} {
		if d, err := Parse("reg.yaml", []byte(body)); err == nil {
			t.Errorf("%q accepted as %d services", body, len(d.Services))
		}
	}
	d, err := Parse("reg.yaml", []byte("services: []\n"))
	if err != nil || len(d.Services) != 0 {
		t.Fatalf("services: [] is an empty registry; got %v, %v", d, err)
	}
}
