package ops_test

import (
	"context"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/swarmdns/swarmdns/internal/browsertest"
	"github.com/swarmdns/swarmdns/internal/pkitest"
	"github.com/swarmdns/swarmdns/ops"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/registry/peer"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
	"github.com/swarmdns/swarmdns/server"
)

// peerServerStatus and followerStatus read registry/peer's statuses as
// serve does (cmd/swarmdns/peer.go).
func peerServerStatus(srv *peer.Server) func() ops.PeerServerStatus {
	return func() ops.PeerServerStatus {
		s := srv.Status()
		out := ops.PeerServerStatus{Followers: len(s.Followers), Changes: s.Changes, Resets: s.Resets,
			Dropped: s.Dropped, Refused: s.Refused, SentBytes: s.SentBytes, Head: s.Head}
		for _, f := range s.Followers {
			out.Connected = append(out.Connected, ops.ConnectedFollower{Node: f.NodeID, Role: f.Role, Addr: f.Addr,
				Since: f.Since, LastHeard: f.LastHeard, Behind: f.Behind, SentBytes: f.SentBytes})
		}
		return out
	}
}

func followerStatus(f *peer.Follower) func() ops.FollowerStatus {
	return func() ops.FollowerStatus {
		s := f.Status()
		return ops.FollowerStatus{Manager: s.Manager, ManagerNode: s.ManagerNode, Connected: s.Connected, Since: s.Since,
			Behind: s.Behind(), LastHeard: s.LastHeard, Switches: s.Switches, LastError: s.LastError}
	}
}

// servePage serves the operations endpoints of store, with cfg's peer
// side, on loopback, and returns the page's address.
func servePage(t *testing.T, store *registry.Store, cfg ops.Config) string {
	t.Helper()
	cfg.Store, cfg.Metrics, cfg.Log = store, ops.NewMetrics(store), quiet()
	cfg.Handler = server.NewHandler(server.Config{Store: store, Observer: cfg.Metrics, Log: quiet()})
	o := ops.New(cfg)
	if err := o.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Shutdown(context.Background()) })
	return "http://" + o.Addr().String() + "/"
}

func newStore(t *testing.T) *registry.Store {
	t.Helper()
	st, err := registry.NewStore(registry.Config{Domain: "swarm.internal.", TTL: 5}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPageInChromiumOnAManagerAndItsFollowers runs a manager instance (a
// store of the example registry observed by a real peer server on
// loopback, mutual TLS with Swarm-like certificates) and two real
// followers, each with its own store and page, and reads both pages in
// chromium: the manager's lists its followers, a follower's says whom it
// follows.
func TestPageInChromiumOnAManagerAndItsFollowers(t *testing.T) {
	chromium(t)
	ca := pkitest.NewCA(t)
	creds := func(role, node string) *swarmpki.Credentials {
		c, err := swarmpki.Load(ca.WriteNode(t, t.TempDir(), "cluster-a", role, node))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The manager instance, on node-a (manager-1 in the example).
	mstore := newStore(t)
	srv, err := peer.NewServer(peer.ServerConfig{Credentials: creds("swarm-manager", "node-a"), Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	mstore.Observe(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })
	raw, err := os.ReadFile(repoFile(t, "examples/registry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := file.Parse("registry.yaml", raw)
	if err != nil {
		t.Fatal(err)
	}
	mstore.Describe(registry.SourceInfo{Kind: "swarm", Origin: "unix:///var/run/docker.sock", Stales: true})
	mstore.Update(d)
	managerPage := servePage(t, mstore, ops.Config{PeerServer: peerServerStatus(srv)})

	// Two followers: node-b (worker-1 in the example) and node-w2, which
	// the registry does not name.
	var followerPage string
	for _, node := range []string{"node-b", "node-w2"} {
		f, err := peer.NewFollower(peer.FollowerConfig{Managers: []string{ln.Addr().String()}, Credentials: creds("swarm-worker", node),
			Local: peer.StaticLocal{NodeID: node}, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		fstore := newStore(t)
		go f.Run(ctx, fstore)
		if followerPage == "" {
			followerPage = servePage(t, fstore, ops.Config{Follower: followerStatus(f)})
		}
	}

	b := newBrowser(t, 1280, 900)
	b.Run(t, "open the manager's page", chromedp.Navigate(managerPage))
	b.WaitFor(t, "both followers are listed", `document.querySelectorAll('#followers tr.follower').length === 2`, 15*time.Second)
	nodes := browsertest.Eval[[]string](t, b, `[...document.querySelectorAll('#followers tr.follower')].map(r => r.dataset.node).sort()`)
	if strings.Join(nodes, ",") != "node-b,node-w2" {
		t.Fatalf("followers %v, want node-b and node-w2", nodes)
	}
	b.WaitFor(t, "both are current", `[...document.querySelectorAll('#followers tr.follower')].every(r => r.dataset.behind === '0')`, 10*time.Second)
	row := browsertest.Eval[string](t, b, `document.querySelector('#followers tr.follower[data-node="node-b"]').innerText`)
	// Node (hostname, ID, role), address, connected for, behind, last
	// heard, bytes sent.
	if !regexp.MustCompile(`^worker-1 node-b swarm-worker\t127\.0\.0\.1:\d+\t\d+ s\t0 changes\t(just now|\d s ago)\t[1-9][0-9.]* (B|KiB)$`).MatchString(row) {
		t.Errorf("node-b's row %q, want worker-1, its address, a few seconds, 0 changes, just heard, some bytes", row)
	}
	summary := browsertest.Eval[string](t, b, `document.querySelector('[data-fact="Followers"]').textContent`)
	if !strings.HasPrefix(summary, "2 connected · all current · ") {
		t.Errorf("followers fact %q, want 2 connected, all current", summary)
	}
	b.Run(t, "filter the followers", chromedp.SendKeys(chromedp.ID("followers-filter"), "w2"))
	b.WaitFor(t, "the filter leaves node-w2", `document.getElementById('followers-count').textContent === '1–1 of 1'`, 10*time.Second)
	screenshot(t, b, "ops-page-manager.png")

	b.Run(t, "open a follower's page", chromedp.Navigate(followerPage))
	b.WaitFor(t, "the follower is connected", `(document.querySelector('[data-fact="Manager link"]') || {}).textContent?.startsWith('connected since')`, 15*time.Second)
	fact := func(name string) string {
		return browsertest.Eval[string](t, b, `document.querySelector('[data-fact="`+name+`"]').textContent`)
	}
	if got, want := fact("Follows"), ln.Addr().String()+" · node manager-1 (node-a)"; got != want {
		t.Errorf("follows %q, want %q", got, want)
	}
	b.WaitFor(t, "the follower is current", `document.querySelector('[data-fact="Behind"]').textContent === '0 changes'`, 10*time.Second)
	if heard := fact("Last heard"); heard != "just now" && !strings.HasSuffix(heard, " s ago") {
		t.Errorf("last heard %q, want a second or so ago", heard)
	}
	if hidden := browsertest.Eval[bool](t, b, `document.getElementById('followers').hidden`); !hidden {
		t.Error("a follower's page shows a followers table")
	}
	screenshot(t, b, "ops-page-follower.png")
	b.CheckClean(t)
}
