//go:build multinode

package multinode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// nodeCerts is node n's Swarm certificates as its engine keeps them.
func nodeCerts(n *Node) swarmpki.Files { return swarmpki.NodeFiles(n.DataRoot()) }

// followOnce opens the follow stream from node from's network namespace to
// the peer listener at addr, with creds (TLS or plaintext), says hello as
// a follower would and returns the first message the manager instance
// sends, or why none came.
func followOnce(ctx context.Context, from *Node, addr string, creds credentials.TransportCredentials) (*peerpb.ManagerMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dial := DialIn(from.Netns)
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return dial(ctx, "tcp", a) }))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stream, err := peerpb.NewRegistryClient(conn).Follow(ctx)
	if err != nil {
		return nil, err
	}
	hello := &peerpb.Hello{Protocol: peer.ProtocolVersion, NodeId: "intruder"}
	if err := stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Hello{Hello: hello}}); err != nil {
		return nil, err
	}
	return stream.Recv()
}

// peerCounters are a manager instance's peer metrics.
type peerCounters struct{ refused, resets float64 }

func readPeerCounters(t *testing.T, n *Node) peerCounters {
	t.Helper()
	body, err := n.Metrics(t.Context(), OpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	refused, ok1 := Metric(body, "swarmdns_peer_refused_total")
	resets, ok2 := Metric(body, "swarmdns_peer_resets_total")
	if !ok1 || !ok2 {
		t.Fatalf("%s: no swarmdns_peer_refused_total or swarmdns_peer_resets_total in /metrics", n)
	}
	return peerCounters{refused, resets}
}

// The peer listener of a manager's sidecar on the real Swarm (deploy/stack.yml
// on every node, sw1's sidecar on 10.99.0.2:5354) refuses, at the TLS
// handshake, a plaintext client, a client with no certificate and a client
// with the node certificate of another Swarm (swx's, from its data root);
// each is counted in swarmdns_peer_refused_total and logged once by the
// manager, and none gets a message of the stream: no whole data is sent
// (swarmdns_peer_resets_total stays). The same client with the worker
// sw3's own certificate gets the whole data: the client is a working
// follower, refused only for what it presents. And a follower (the real
// binary on the worker sw3, --follow) pointed at a peer server that
// presents sw3's worker certificate as if it were a manager's refuses it
// and logs why: it never gets the data that server offers. Every client
// connects from sw3's network namespace.
func TestPeerStreamAdmitsOnlyNodesOfThisSwarm(t *testing.T) {
	if bed.Other == nil {
		t.Fatal("the test bed has no other Swarm (MULTINODE_OTHER_SWARM=0); it needs swx's certificate")
	}
	stack := UniqueName("mn-sec")
	bed.DeployStack(t, stack, map[string]string{"SWARMDNS_IMAGE": SidecarImage()})
	waitSidecarsReady(t)
	manager, worker := bed.Manager(), bed.Workers()[0]
	peerAddr := net.JoinHostPort(manager.Addr.String(), "5354")
	sidecar, err := manager.TaskContainer(t.Context(), SidecarService(stack))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the manager instance refuses clients that are not nodes of this Swarm", func(t *testing.T) {
		other, err := tls.LoadX509KeyPair(nodeCerts(bed.Other).Cert, nodeCerts(bed.Other).Key)
		if err != nil {
			t.Fatal(err)
		}
		since := time.Now()
		for _, tc := range []struct {
			name   string
			creds  credentials.TransportCredentials
			reason string // in the manager's log line
		}{
			{"plaintext", insecure.NewCredentials(), "does not look like a TLS handshake"},
			{"TLS without a certificate", credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}), "didn't provide a certificate"},
			{"the node certificate of another Swarm (swx)", credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{other}}), "is not of this Swarm's CA"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := readPeerCounters(t, manager)
				m, err := followOnce(t.Context(), worker, peerAddr, tc.creds)
				if err == nil {
					t.Fatalf("got %T from the manager instance, want the connection refused", m.Msg)
				}
				t.Logf("client: %v", err)
				// Counted when the manager's handshake returns, which may
				// be a moment after the client saw the connection close.
				var after peerCounters
				err = Eventually(t.Context(), 2*time.Second, 50*time.Millisecond, func(context.Context) error {
					if after = readPeerCounters(t, manager); after.refused <= before.refused {
						return fmt.Errorf("swarmdns_peer_refused_total %v → %v, want it counted", before.refused, after.refused)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
				if after.resets != before.resets {
					t.Errorf("swarmdns_peer_resets_total %v → %v: whole data was sent", before.resets, after.resets)
				}
			})
		}
		// Logged once per address and reason, however often gRPC retried.
		lines, err := manager.Logs(t.Context(), sidecar, since.Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		refused := WithMsg(lines, "peer refused")
		for _, reason := range []string{"does not look like a TLS handshake", "didn't provide a certificate", "is not of this Swarm's CA"} {
			n := 0
			for _, l := range refused {
				if l.Field("peer") == worker.Addr.String() && strings.Contains(l.Field("error"), reason) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("manager logged %d \"peer refused\" lines from %s with %q, want 1; refusals: %v", n, worker.Addr, reason, refused)
			}
		}
	})

	t.Run("a node of this Swarm with its own certificate gets the whole data", func(t *testing.T) {
		creds, err := swarmpki.Load(nodeCerts(worker))
		if err != nil {
			t.Fatal(err)
		}
		before := readPeerCounters(t, manager)
		m, err := followOnce(t.Context(), worker, peerAddr, credentials.NewTLS(creds.ClientConfig()))
		if err != nil {
			t.Fatal(err)
		}
		if m.GetReset_() == nil {
			t.Fatalf("first message %T, want the whole data's Reset", m.Msg)
		}
		if after := readPeerCounters(t, manager); after.refused != before.refused {
			t.Errorf("swarmdns_peer_refused_total %v → %v for a node of this Swarm", before.refused, after.refused)
		}
	})

	t.Run("a follower refuses a worker's certificate posing as a manager", func(t *testing.T) {
		ctx := t.Context()
		creds, err := swarmpki.Load(nodeCerts(worker))
		if err != nil {
			t.Fatal(err)
		}
		if id := creds.Identity(); id.Role != swarmpki.RoleWorker {
			t.Fatalf("%s's certificate says %s, want %s", worker, id.Role, swarmpki.RoleWorker)
		}
		// A real peer server holding registry data, on sw3's address.
		fake, err := peer.NewServer(peer.ServerConfig{Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		canary := UniqueName("canary")
		fake.Published(&registry.Snapshot{Data: canaryData(canary)}, 0)
		ln, err := ListenIn(worker.Netns, "tcp", net.JoinHostPort(worker.Addr.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- fake.Serve(sctx, ln) }()
		t.Cleanup(func() { stop(); <-served })

		since := time.Now()
		f := worker.RunSwarmdns(t, "--follow", ln.Addr().String())
		var warned []LogLine
		err = Eventually(ctx, 15*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			lines, err := worker.Logs(ctx, f.ID, since.Add(-time.Second))
			if err != nil {
				return err
			}
			if warned = WithMsg(lines, "no manager reachable; serving the last data"); len(warned) == 0 {
				return errors.New("the follower has not logged that no manager is reachable")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if e := warned[0].Field("error"); !strings.Contains(e, "swarm-worker, not a swarm-manager") {
			t.Errorf("the follower logged %q, want the refusal of a swarm-worker posing as a swarm-manager", e)
		}
		code, body, err := f.Ready(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if code == 200 || !strings.Contains(body, "no registry snapshot yet") {
			t.Errorf("the follower's /readyz: %d %q, want not ready with no registry snapshot", code, body)
		}
		r := &Poller{Netns: worker.Netns, Server: f.DNS}
		defer r.Close()
		if a := r.A(canary+".swarm.local", time.Second); a.Err != nil || a.Rcode != 2 { // SERVFAIL
			t.Errorf("the follower answers the fake server's service %s with %s, want SERVFAIL (no data)", canary, a)
		}
		st := fake.Status()
		if st.Refused == 0 || len(st.Followers) != 0 || st.Resets != 0 || st.SentBytes != 0 {
			t.Errorf("the worker's peer server: %d refused, %d followers, %d whole data sent, %d bytes sent; want refused, nothing sent",
				st.Refused, len(st.Followers), st.Resets, st.SentBytes)
		}
	})
}

// canaryData is registry data with one service, name, and its running
// task: what a peer server posing as a manager offers.
func canaryData(name string) *registry.Data {
	task := registry.Task{ID: "canary-task", ServiceID: "canary-svc", Slot: 1, NodeID: "canary-node", State: registry.TaskRunning}
	task.AddAddrs("canary-net", netip.MustParseAddr("10.250.0.2"))
	return &registry.Data{
		Services: []registry.Service{{ID: "canary-svc", Name: name, EndpointMode: registry.ModeDNSRR,
			Networks: []registry.Attachment{{Network: "canary-net"}}}},
		Tasks:    []registry.Task{task},
		Networks: []registry.Network{{ID: "canary-net", Name: "canary", Subnets: []netip.Prefix{netip.MustParsePrefix("10.250.0.0/24")}}},
		Nodes:    []registry.Node{{ID: "canary-node", Hostname: "canary"}},
	}
}
