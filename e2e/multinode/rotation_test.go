//go:build multinode

package multinode

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"
)

// nodePKI is what node n's engine holds of the Swarm's PKI.
type nodePKI struct {
	root, cert []byte // swarm-root-ca.crt, swarm-node.crt
}

func readPKI(n *Node) (nodePKI, error) {
	f := nodeCerts(n)
	root, err := os.ReadFile(f.CA)
	if err != nil {
		return nodePKI{}, err
	}
	cert, err := os.ReadFile(f.Cert)
	return nodePKI{root, cert}, err
}

// verifies reports whether the node certificate chains to the root alone.
func (p nodePKI) verifies() error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.root) {
		return fmt.Errorf("no root in swarm-root-ca.crt")
	}
	var chain []*x509.Certificate
	for rest := p.cert; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return err
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return fmt.Errorf("no certificate in swarm-node.crt")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// The Swarm's certificates rotated on the real Swarm (`docker swarm ca
// --rotate` on sw1: a new root CA, every node certificate issued again,
// the old root dropped), under deploy/stack.yml on every node: the
// worker's sidecar keeps following, nothing is refused, a change made after
// the rotation reaches it, and when its manager's sidecar is then killed it
// follows the other manager over a new handshake, made with the new
// certificates only, and a change after that reaches it too.
func TestFollowersKeepFollowingThroughCARotation(t *testing.T) {
	stack := UniqueName("mn-rot")
	bed.DeployStack(t, stack, map[string]string{"SWARMDNS_IMAGE": SidecarImage()})
	waitSidecarsReady(t)
	worker := bed.Workers()[0]
	ctx := t.Context()
	sidecar, err := worker.TaskContainer(ctx, SidecarService(stack))
	if err != nil {
		t.Fatal(err)
	}
	name, _ := followerWorkload(t, worker, "127.0.0.1:53")
	svc := name[len("tasks."):]
	before := map[*Node]nodePKI{}
	for _, n := range bed.Nodes {
		if before[n], err = readPKI(n); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(n *Node) float64 {
		body, err := n.Metrics(ctx, OpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := Metric(body, "swarmdns_peer_refused_total")
		return v
	}
	refusedBefore := map[*Node]float64{}
	for _, m := range bed.Managers() {
		refusedBefore[m] = refused(m)
	}

	start := time.Now()
	if _, err := bed.Manager().Docker(ctx, "swarm", "ca", "--rotate", "--quiet"); err != nil {
		t.Fatal(err)
	}
	// Every engine holds the new root and a certificate of it alone.
	err = Eventually(ctx, 60*time.Second, 250*time.Millisecond, func(context.Context) error {
		for _, n := range bed.Nodes {
			p, err := readPKI(n)
			if err != nil {
				return err
			}
			if bytes.Equal(p.root, before[n].root) || bytes.Equal(p.cert, before[n].cert) {
				return fmt.Errorf("%s still has the old root or certificate", n)
			}
			if err := p.verifies(); err != nil {
				return fmt.Errorf("%s's certificate does not chain to its new root: %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Since(start)
	lines, err := worker.Logs(ctx, sidecar, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rotated in %.1f s; the worker's sidecar meanwhile lost its manager %d times and followed one %d times",
		rotated.Seconds(), len(WithMsg(lines, "manager lost")), len(WithMsg(lines, "following manager")))

	// scaleAndSee scales the service and waits until the worker's sidecar
	// answers the new task set.
	scaleAndSee := func(t *testing.T, replicas int) {
		if _, err := bed.Manager().Docker(ctx, "service", "scale", "--detach", fmt.Sprintf("%s=%d", svc, replicas)); err != nil {
			t.Fatal(err)
		}
		r := &Poller{Netns: worker.Netns, Server: "127.0.0.1:53"}
		defer r.Close()
		err := Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
			tasks, err := bed.RunningTasks(ctx, svc)
			if err != nil {
				return err
			}
			var want []netip.Addr
			for _, tk := range tasks {
				for _, a := range tk.Addrs {
					want = append(want, a)
				}
			}
			want = SortedAddrs(want)
			if a := r.A(name, time.Second); len(tasks) != replicas || a.Err != nil || !slices.Equal(a.Addrs, want) {
				return fmt.Errorf("%d tasks running; the worker's sidecar answers %s, want %v", len(tasks), a, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a change after the rotation reaches the worker", func(t *testing.T) {
		if _, err := followedManager(ctx, worker, OpsAddr); err != nil {
			t.Fatal(err)
		}
		scaleAndSee(t, 3)
	})

	t.Run("a new handshake with the new certificates only", func(t *testing.T) {
		from, err := followedManager(ctx, worker, OpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		id, err := from.TaskContainer(ctx, SidecarService(stack))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := from.Docker(ctx, "kill", id); err != nil {
			t.Fatal(err)
		}
		var to *Node
		err = Eventually(ctx, switchWithin, 100*time.Millisecond, func(ctx context.Context) error {
			m, err := followedManager(ctx, worker, OpsAddr)
			if err == nil && m == from {
				err = fmt.Errorf("%s still follows %s", worker, from)
			}
			to = m
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		scaleAndSee(t, 1)
		if v := refused(to); v != refusedBefore[to] {
			t.Errorf("%s's sidecar refused %v handshakes during and after the rotation", to, v-refusedBefore[to])
		}
	})
}
