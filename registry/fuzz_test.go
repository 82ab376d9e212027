package registry

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseFile: any bytes either load as a registry that builds into a
// snapshot whose every record unpacks, and that answers every name as the
// snapshot with every name in the name index does, or fail with errors
// that name the file; nothing panics.
func FuzzParseFile(f *testing.F) {
	if example, err := os.ReadFile("../examples/registry.yaml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"", "services: [\n", "services:\n  - {name: web, tasks: [{id: t, slot: 1}]}\n",
		"networks: [{name: n, subnets: [10.0.0.0/8]}]\nservices: [{name: a, networks: [{name: n, vip: 10.0.0.1, aliases: [b]}]}]\n",
		"services: [{name: a, labels: {swarmdns.ports: 'x:1/tcp,2/udp', swarmdns.weight: '0'}}]\n",
		"&a [*a]", "services: !!binary AAAA", strings.Repeat("- ", 1000),
		"services: [{name: web, tasks: [{id: t1, slot: 1, addresses: {n: [10.0.0.1]}}]}, {name: t1, tasks: [{id: t2, slot: 1, addresses: {n: [10.0.0.2]}}]}]\nnetworks: [{name: n}]\n",
	} {
		f.Add([]byte(s))
	}
	cfg := Config{Domain: "swarm.internal.", TTL: 5}
	if err := cfg.Check(); err != nil {
		f.Fatal(err)
	}
	all := cfg
	all.allNamesIndexed = true
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ParseFile("reg.yaml", raw)
		if err != nil {
			if !strings.Contains(err.Error(), "reg.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		s, _ := Build(d, cfg, nil)
		s.Names(func(key string, n Name) {
			for _, v := range n.Views() {
				for _, set := range []*RRSet{v.A, v.AAAA, v.SRV, v.PTR} {
					if set == nil {
						continue
					}
					for i := 0; i < set.Len(); i++ {
						rec := set.Record(i)
						msg := append([]byte{0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'q', 0, 0, 1, 0, 1}, rec...)
						if err := new(dns.Msg).Unpack(msg); err != nil {
							t.Fatalf("%s: record does not unpack: %v", key, err)
						}
					}
				}
			}
		})
		want, _ := Build(d, all, nil)
		sameAnswers(t, want, s)
	})
}

// FuzzParsePorts: the swarmdns.ports label parser accepts only ports whose
// SRV names are valid labels.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"http:8080/tcp,grpc:9090/tcp", "80", "a:b", ":1/udp", "x:0", "x:65536/tcp", "é:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		ports, err := ParsePorts(label)
		if err != nil {
			return
		}
		for _, p := range ports {
			if p.Target == 0 {
				t.Fatalf("port 0 accepted from %q", label)
			}
			if err := checkName(srvLabels(p) + ".svc"); err != nil {
				t.Fatalf("%q gives an unservable SRV name: %v", label, err)
			}
		}
	})
}
