//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstreamAddr is where each node's upstream resolver listens, in the
// node's own network namespace: the sidecars forward there
// (SWARMDNS_UPSTREAM), and nothing leaves the machine.
const upstreamAddr = "127.0.0.1:5399"

// forwardedName is the one name the upstreams answer: with their node's
// address, so that an answer says which node's sidecar forwarded it.
const forwardedName = "forwarded.test."

// serveUpstream serves DNS on upstreamAddr in node n's network namespace
// until the test ends: forwardedName has one A record, n's address.
func serveUpstream(t *testing.T, n *Node) {
	t.Helper()
	pc, err := n.ListenPacket(upstreamAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || q.Question[0].Name != forwardedName:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: forwardedName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   n.Addr.AsSlice(),
			}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
}

// digAnswers asks server from inside the network namespace of pid and
// returns the answer's records of type qtype in the order given, as dig
// prints their data.
func digAnswers(ctx context.Context, pid int, server, name, qtype string) ([]string, error) {
	out, err := Dig(ctx, pid, "@"+server, "+tries=1", "+time=2", "+noall", "+answer", "+comments", name, qtype)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "status: NOERROR") {
		return nil, fmt.Errorf("dig @%s %s %s: %s", server, name, qtype, out)
	}
	var data []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[3] == qtype && !strings.HasPrefix(f[0], ";") {
			data = append(data, strings.Join(f[4:], " "))
		}
	}
	return data, nil
}

// nslookupAddrs runs busybox nslookup in container id on node n, which
// asks the nameserver of the container's /etc/resolv.conf, and returns the
// server it names and the answer's addresses.
func nslookupAddrs(ctx context.Context, n *Node, id string, args ...string) (server string, addrs []string, err error) {
	out, err := n.Docker(ctx, append([]string{"exec", id, "nslookup"}, args...)...)
	if err != nil {
		return "", nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Server:"):
			server = strings.TrimSpace(strings.TrimPrefix(line, "Server:"))
		case strings.HasPrefix(line, "Address: "):
			addrs = append(addrs, strings.TrimPrefix(line, "Address: "))
		case strings.Contains(line, "service = "):
			addrs = append(addrs, strings.TrimSpace(line[strings.Index(line, "service = ")+len("service = "):]))
		}
	}
	return server, addrs, nil
}

// sidecarWorkload is what TestSidecarOnEveryNode resolves: web on every
// node, and a service multi on web's network a and on network b.
type sidecarWorkload struct {
	*webOnEveryNode
	multi, b string
}

func newSidecarWorkload(t *testing.T) *sidecarWorkload {
	t.Helper()
	w := &sidecarWorkload{webOnEveryNode: newWebOnEveryNode(t), multi: UniqueName("multi"), b: UniqueName("mn-b")}
	bed.Network(t, w.b)
	bed.Service(t, w.multi, 1, []string{"--network", w.a, "--network", w.b}, Sleeper...)
	return w
}

// deploy/stack.yml deployed as it is, with the image `make image` built
// loaded into every engine and --resolve-image never, runs a swarmdns on
// every node of the real three-node Swarm (two managers, one worker): the
// managers read the Swarm and serve followers, the worker follows a
// manager's swarmdns over the Swarm's own certificates. Tasks of a global
// service that mount the stack's swarmdns-resolv config at
// /etc/resolv.conf have their node's sidecar at 169.254.53.53 as their only
// nameserver. Driven with the real dockerds, containers, busybox nslookup
// and dig; each node's upstream is a DNS server in its own network
// namespace.
func TestSidecarOnEveryNode(t *testing.T) {
	for _, n := range bed.Nodes {
		serveUpstream(t, n)
	}
	deploySidecars(t, map[string]string{"SWARMDNS_UPSTREAM": upstreamAddr, "SWARMDNS_PREFER_LOCAL": "true"})
	w := newSidecarWorkload(t)

	t.Run("the managers serve the worker's sidecar, which follows one of them", func(t *testing.T) {
		followers := 0
		for _, n := range bed.Managers() {
			_, body, err := n.HTTP(t.Context(), "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(body, "\n") {
				if v, ok := strings.CutPrefix(line, "swarmdns_peer_followers "); ok {
					c, _ := strconv.Atoi(v)
					followers += c
				}
			}
		}
		if followers != len(bed.Workers()) {
			t.Errorf("the managers' sidecars have %d followers, want one per worker (%d)", followers, len(bed.Workers()))
		}
		for _, n := range bed.Workers() {
			_, body, err := n.HTTP(t.Context(), "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(body, "\nswarmdns_follower_connected 1\n") {
				t.Errorf("%s: swarmdns_follower_connected is not 1", n)
			}
		}
	})

	t.Run("every name form resolves through the resolv.conf config on every node", func(t *testing.T) {
		for _, n := range bed.Nodes {
			for _, tc := range []struct {
				name string
				args []string
				want int
			}{
				{"bare service name: its VIP", []string{"-type=a", w.web}, 1},
				{"tasks.<service>: a task per node", []string{"-type=a", "tasks." + w.web}, len(bed.Nodes)},
				{"SRV of the named port: a record per task", []string{"-type=srv", "_http._tcp." + w.web}, len(bed.Nodes)},
				{"a name outside the Swarm: forwarded to the node's upstream", []string{"-type=a", forwardedName}, 1},
			} {
				server, addrs, err := nslookupAddrs(t.Context(), n, w.container[n], tc.args...)
				switch {
				case err != nil:
					t.Errorf("%s, %s: %v", n, tc.name, err)
				case server != NodeLocalDNS.String():
					t.Errorf("%s, %s: asked %q, want the node-local %s", n, tc.name, server, NodeLocalDNS)
				case len(addrs) != tc.want:
					t.Errorf("%s, %s: %d answers %v, want %d", n, tc.name, len(addrs), addrs, tc.want)
				case tc.args[1] == forwardedName && addrs[0] != n.Addr.String():
					t.Errorf("%s, %s: answered %s, want %s from %s's own upstream", n, tc.name, addrs[0], n.Addr, n)
				}
			}
		}
	})

	t.Run("each task's queries are answered by its own node's sidecar and no other", func(t *testing.T) {
		const queries = 10
		for _, n := range bed.Nodes {
			before := map[*Node]float64{}
			for _, m := range bed.Nodes {
				v, err := m.QueriesAnswered(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				before[m] = v
			}
			for range queries {
				if _, _, err := nslookupAddrs(t.Context(), n, w.container[n], "-type=a", "tasks."+w.web); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range bed.Nodes {
				v, err := m.QueriesAnswered(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				switch got := v - before[m]; {
				case m == n && got < queries:
					t.Errorf("queries from %s's task: its own sidecar answered %v, want at least %d", n, got, queries)
				case m != n && got != 0:
					t.Errorf("queries from %s's task: %s's sidecar answered %v of them, want none", n, m, got)
				}
			}
		}
	})

	// multi is on networks a and b, the asking task on a only: Docker's DNS
	// answers multi's VIP on a, and so must a sidecar that knows the
	// container (on the worker, from its own engine: LocalContainers); one
	// that did not would answer both VIPs.
	t.Run("answers are the sets Docker's embedded DNS gives in the same container", func(t *testing.T) {
		names := []string{w.web, "tasks." + w.web, w.multi, "tasks." + w.multi}
		for _, n := range bed.Nodes {
			for _, name := range names {
				err := Eventually(t.Context(), 10*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
					docker, err := LookupA(ctx, w.pid[n], EmbeddedDNS, name)
					if err != nil {
						return err
					}
					ours, err := LookupA(ctx, w.pid[n], NodeLocalDNS.String(), name)
					if err != nil {
						return err
					}
					if len(docker) == 0 || !slices.Equal(docker, ours) {
						return fmt.Errorf("%s answers %v, Docker's DNS %v", NodeLocalDNS, ours, docker)
					}
					return nil
				})
				if err != nil {
					t.Errorf("%s, %s: %v", n, name, err)
				}
			}
		}
	})

	t.Run("prefer-local answers the node's own task first in every query", func(t *testing.T) {
		for _, n := range bed.Nodes {
			want := w.webAddr(n)
			seen := map[string]bool{}
			for i := range 2 * len(bed.Nodes) {
				got, err := digAnswers(t.Context(), w.pid[n], NodeLocalDNS.String(), "tasks."+w.web, "A")
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(bed.Nodes) || got[0] != want {
					t.Fatalf("%s, query %d: answer %v, want %d records, %s's own task %s first", n, i, got, len(bed.Nodes), n, want)
				}
				seen[strings.Join(got[1:], ",")] = true
			}
			if len(seen) < 2 {
				t.Errorf("%s: the other tasks never rotated behind the local one: %v", n, seen)
			}
		}
	})
}

// A sidecar that stops removes the node-local address it added: after the
// stack is removed, no node has 169.254.53.53 on lo. Driven by deploying and
// removing deploy/stack.yml on the real Swarm.
func TestSidecarRemovesTheNodeLocalAddressWhenItStops(t *testing.T) {
	t.Run("deployed", func(t *testing.T) {
		deploySidecars(t, nil)
		for _, n := range bed.Nodes {
			if !hasLoAddr(t, n, NodeLocalDNS) {
				t.Errorf("%s: the ready sidecar has not bound %s to lo", n, NodeLocalDNS)
			}
		}
	}) // the subtest's cleanup removed the stack and waited for its containers
	for _, n := range bed.Nodes {
		if hasLoAddr(t, n, NodeLocalDNS) {
			t.Errorf("%s: %s is still on lo after the sidecar stopped", n, NodeLocalDNS)
		}
	}
}

// hasLoAddr reports whether addr is bound to lo in node n's namespace.
func hasLoAddr(t *testing.T, n *Node, addr netip.Addr) bool {
	t.Helper()
	out, err := n.Exec(t.Context(), "ip", "-o", "addr", "show", "dev", "lo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(out, " "+addr.String()+"/")
}
