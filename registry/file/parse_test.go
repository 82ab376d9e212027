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

func TestInvalidRegistryFileIsRejectedWithLineAndReason(t *testing.T) {
	const head = "networks:\n  - {name: appnet, subnets: [10.0.1.0/24]}\nnodes:\n  - {id: n1}\nservices:\n"
	tests := []struct {
		name string
		body string
		want string // in the error, after "reg.yaml:"
	}{
		{"yaml syntax error", "services: [\n", "reg.yaml:1: did not find expected node content"},
		{"unknown field", "servces: []\n", "reg.yaml:1: field servces not found"},
		{"service without a name", head + "  - {id: x}\n", "reg.yaml:6: service has no name"},
		{"duplicate service", head + "  - {name: web}\n  - {name: web}\n", "reg.yaml:7: service \"web\" defined twice"},
		{"bad endpoint mode", head + "  - name: web\n    endpoint_mode: vlan\n", "reg.yaml:7: service \"web\": endpoint_mode \"vlan\""},
		{"unknown network", head + "  - name: web\n    networks: [{name: nonet}]\n", "reg.yaml:7: service \"web\": network \"nonet\" is not in networks"},
		{"bad vip", head + "  - name: web\n    networks: [{name: appnet, vip: 10.0.1.x}]\n", "reg.yaml:7: service \"web\": vip \"10.0.1.x\" is not an IP address"},
		{"vip on dnsrr", head + "  - name: web\n    endpoint_mode: dnsrr\n    networks: [{name: appnet, vip: 10.0.1.2}]\n", "a dnsrr service has no vip"},
		{"bad task address", head + "  - name: web\n    networks: [{name: appnet}]\n    tasks:\n      - {id: t1, slot: 1, addresses: {appnet: [nope]}}\n", "reg.yaml:9: service \"web\": task \"t1\": address \"nope\" is not an IP address"},
		{"task on a network the service lacks", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1, addresses: {appnet: [10.0.1.5]}}\n", "network \"appnet\" is not one of the service's networks"},
		{"task on unknown node", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1, node: n9}\n", "reg.yaml:8: service \"web\": task \"t1\": node \"n9\" is not in nodes"},
		{"replicated task without slot", head + "  - name: web\n    tasks:\n      - {id: t1}\n", "slot must be 1 or more"},
		{"global task without node", head + "  - name: web\n    mode: global\n    tasks:\n      - {id: t1}\n", "a global service's task needs a node"},
		{"bad task state", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1, state: dancing}\n", "state \"dancing\" is not a Swarm task state"},
		{"duplicate task id", head + "  - name: web\n    tasks:\n      - {id: t1, slot: 1}\n      - {id: t1, slot: 2}\n", "task id \"t1\" used twice"},
		{"bad port protocol", head + "  - name: web\n    ports: [{target: 80, protocol: icmp}]\n", "reg.yaml:7: service \"web\": port 80: protocol \"icmp\""},
		{"port out of range", head + "  - name: web\n    ports: [{target: 70000}]\n", "target must be 1-65535"},
		{"bad weight label", head + "  - name: web\n    labels: {swarmdns.weight: heavy}\n", "reg.yaml:7: service \"web\": label swarmdns.weight: weight \"heavy\""},
		{"bad ports label", head + "  - name: web\n    labels: {swarmdns.ports: \"http:x/tcp\"}\n", "label swarmdns.ports: port \"http:x/tcp\""},
		{"bad ttl label", head + "  - name: web\n    labels: {swarmdns.ttl: soon}\n", "label swarmdns.ttl: ttl \"soon\""},
		{"bad subnet", "networks:\n  - {name: a, subnets: [10.0.0.0/99]}\n", "reg.yaml:2: network \"a\": subnet \"10.0.0.0/99\""},
		{"unknown local node", "local_node: zz\n", "reg.yaml:1: local_node \"zz\" is not a node"},
		{"name with a bad character", head + "  - {name: \"we b\"}\n", "reg.yaml:6: service \"we b\": label \"we b\" has character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("reg.yaml", []byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEveryErrorOfAFileIsReported(t *testing.T) {
	body := "services:\n  - {name: a, endpoint_mode: x}\n  - {name: b, mode: y}\n"
	_, err := Parse("reg.yaml", []byte(body))
	if err == nil || !strings.Contains(err.Error(), "reg.yaml:2:") || !strings.Contains(err.Error(), "reg.yaml:3:") {
		t.Fatalf("error %v: want both lines 2 and 3", err)
	}
}

func TestEmptyRegistryFileIsAnEmptyRegistry(t *testing.T) {
	d, err := Parse("reg.yaml", nil)
	if err != nil || len(d.Services) != 0 {
		t.Fatalf("got %v, %v", d, err)
	}
}
