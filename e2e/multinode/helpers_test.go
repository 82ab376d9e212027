//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// probeName is the name a node's probe server answers with the node's own
// address, so that an answer says which node's server gave it.
const probeName = "whoami.probe."

// serveProbe binds NodeLocalDNS on node n and serves DNS on it, port 53,
// in the node's network namespace, as a sidecar would: probeName has one A
// record, the node's address; everything else is REFUSED. Both go when the
// test ends.
func serveProbe(t *testing.T, n *Node) {
	t.Helper()
	remove, err := n.AddLinkLocal(t.Context(), NodeLocalDNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(context.Background()); err != nil {
			t.Error(err)
		}
	})
	pc, err := n.ListenPacket(net.JoinHostPort(NodeLocalDNS.String(), "53"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || q.Question[0].Name != probeName:
			m.Rcode = dns.RcodeRefused
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: probeName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
				A:   n.Addr.AsSlice(),
			}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
}

// tasksOnEveryNode is a global service on an overlay network, a task on
// every node of the Swarm, and in each task container's namespace a view.
type tasksOnEveryNode struct {
	service, network string
	tasks            []Task
	pid              map[*Node]int // task container's first process, by node
}

// globalService creates an overlay network and a global service of
// sleepers on it (extra docker service create flags), and finds each
// node's task container.
func globalService(t *testing.T, flags ...string) *tasksOnEveryNode {
	t.Helper()
	ctx := t.Context()
	s := &tasksOnEveryNode{service: UniqueName("mn-svc"), network: UniqueName("mn-net"), pid: map[*Node]int{}}
	bed.Network(t, s.network)
	bed.Service(t, s.service, len(bed.Nodes), append([]string{"--mode", "global", "--network", s.network}, flags...), Sleeper...)
	var err error
	if s.tasks, err = bed.RunningTasks(ctx, s.service); err != nil {
		t.Fatal(err)
	}
	for _, n := range bed.Nodes {
		id, err := n.TaskContainer(ctx, s.service)
		if err != nil {
			t.Fatal(err)
		}
		if s.pid[n], err = n.ContainerPID(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// addrs returns the task addresses on the service's network, sorted; with
// except, without the tasks on those nodes.
func (s *tasksOnEveryNode) addrs(except ...*Node) []netip.Addr {
	var out []netip.Addr
	for _, tk := range s.tasks {
		if !slices.Contains(except, tk.Node) {
			out = append(out, tk.Addrs[s.network])
		}
	}
	return SortedAddrs(out)
}

// embeddedAnswer is what Docker's embedded DNS answers for tasks.<service>
// inside node n's task container.
func (s *tasksOnEveryNode) embeddedAnswer(ctx context.Context, n *Node) ([]netip.Addr, error) {
	return LookupA(ctx, s.pid[n], EmbeddedDNS, "tasks."+s.service)
}

// waitAnswer waits until Docker's DNS on node n answers want for
// tasks.<service>.
func (s *tasksOnEveryNode) waitAnswer(ctx context.Context, n *Node, want []netip.Addr, timeout time.Duration) error {
	return Eventually(ctx, timeout, 200*time.Millisecond, func(ctx context.Context) error {
		got, err := s.embeddedAnswer(ctx, n)
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("Docker's DNS on %s answers tasks.%s with %v, want %v", n, s.service, got, want)
		}
		return err
	})
}
