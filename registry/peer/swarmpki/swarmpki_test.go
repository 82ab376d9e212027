package swarmpki_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/internal/pkitest"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// handshake runs a real TLS handshake over a pipe between a server with
// srv's ServerConfig and a client with cli's ClientConfig and returns each
// side's error.
func handshake(t *testing.T, srv, cli *swarmpki.Credentials) (serverErr, clientErr error) {
	t.Helper()
	return handshakeWith(t, srv, cli.ClientConfig())
}

// intruder is a client that presents files's certificate (none when
// empty) and trusts any server: what a peer that wants the data does.
func intruder(t *testing.T, files *swarmpki.Files) *tls.Config {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if files != nil {
		cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func handshakeWith(t *testing.T, srv *swarmpki.Credentials, cfg *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := tls.Server(a, srv.ServerConfig())
	c := tls.Client(b, cfg)
	done := make(chan error, 1)
	_ = a.SetDeadline(time.Now().Add(5 * time.Second))
	_ = b.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 clients learn of a refused certificate only when
			// they read; a byte proves the server accepted.
			_, err = s.Write([]byte{1})
		}
		done <- err
		a.Close()
	}()
	clientErr = c.Handshake()
	if clientErr == nil {
		var one [1]byte
		_, clientErr = c.Read(one[:])
	}
	return <-done, clientErr
}

func load(t *testing.T, f swarmpki.Files) *swarmpki.Credentials {
	t.Helper()
	c, err := swarmpki.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHandshakeAdmitsOnlyThisSwarm(t *testing.T) {
	ca, otherCA := pkitest.NewCA(t), pkitest.NewCA(t)
	manager := load(t, ca.WriteNode(t, t.TempDir(), "cluster-a", swarmpki.RoleManager, "mgr1"))
	manager2 := load(t, ca.WriteNode(t, t.TempDir(), "cluster-a", swarmpki.RoleManager, "mgr2"))
	worker := load(t, ca.WriteNode(t, t.TempDir(), "cluster-a", swarmpki.RoleWorker, "wrk1"))
	otherClusterFiles := ca.WriteNode(t, t.TempDir(), "cluster-b", swarmpki.RoleManager, "mgrB")
	otherSwarmFiles := otherCA.WriteNode(t, t.TempDir(), "cluster-a", swarmpki.RoleManager, "mgrX")
	otherSwarm := load(t, otherSwarmFiles)

	tests := []struct {
		name          string
		server        *swarmpki.Credentials
		client        *tls.Config
		serverRefuses string
		clientRefuses string
	}{
		{name: "worker follows a manager of its cluster", server: manager, client: worker.ClientConfig()},
		{name: "manager follows another manager of its cluster", server: manager, client: manager2.ClientConfig()},
		{name: "manager refuses a client without certificate", server: manager, client: intruder(t, nil), serverRefuses: "didn't provide a certificate"},
		{name: "manager refuses a node of another cluster", server: manager, client: intruder(t, &otherClusterFiles), serverRefuses: "of cluster cluster-b, not cluster-a"},
		{name: "manager refuses a node of another Swarm's CA", server: manager, client: intruder(t, &otherSwarmFiles), serverRefuses: "not of this Swarm's CA"},
		{name: "follower refuses a worker presented as a manager", server: worker, client: manager.ClientConfig(), clientRefuses: "is a swarm-worker, not a swarm-manager"},
		{name: "follower refuses a manager of another Swarm's CA", server: otherSwarm, client: worker.ClientConfig(), clientRefuses: "not of this Swarm's CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serr, cerr := handshakeWith(t, tt.server, tt.client)
			switch {
			case tt.serverRefuses != "":
				if serr == nil || !strings.Contains(serr.Error(), tt.serverRefuses) {
					t.Fatalf("server error = %v, want one saying %q", serr, tt.serverRefuses)
				}
				if cerr == nil {
					t.Fatal("client got through a refused handshake")
				}
			case tt.clientRefuses != "":
				if cerr == nil || !strings.Contains(cerr.Error(), tt.clientRefuses) {
					t.Fatalf("client error = %v, want one saying %q", cerr, tt.clientRefuses)
				}
				if !errors.Is(cerr, swarmpki.ErrRefused) {
					t.Fatalf("client error %v does not wrap ErrRefused", cerr)
				}
			default:
				if serr != nil || cerr != nil {
					t.Fatalf("handshake failed: server %v, client %v", serr, cerr)
				}
			}
		})
	}
}

func TestIdentityIsTheCertificateSubject(t *testing.T) {
	ca := pkitest.NewCA(t)
	c := load(t, ca.WriteNode(t, t.TempDir(), "cluster-a", swarmpki.RoleWorker, "node-7"))
	want := swarmpki.Identity{Cluster: "cluster-a", Role: swarmpki.RoleWorker, NodeID: "node-7"}
	if got := c.Identity(); got != want {
		t.Fatalf("identity = %+v, want %+v", got, want)
	}
}

func TestLoadRefusesWhatIsNotANodesCredentials(t *testing.T) {
	ca := pkitest.NewCA(t)
	tests := []struct {
		name  string
		setup func(dir string) swarmpki.Files
		want  string
	}{
		{"missing files", func(dir string) swarmpki.Files { return pkitest.Files(dir) }, "no such file"},
		{"certificate with a role Swarm does not give", func(dir string) swarmpki.Files {
			return ca.WriteNode(t, dir, "cluster-a", "swarm-admin", "n1")
		}, `role "swarm-admin"`},
		{"key of another certificate", func(dir string) swarmpki.Files {
			chain, _ := ca.Node(t, "cluster-a", swarmpki.RoleWorker, "n1")
			_, key := ca.Node(t, "cluster-a", swarmpki.RoleWorker, "n2")
			return pkitest.Write(t, dir, chain, key, ca.PEM)
		}, "private key does not match"},
		{"encrypted key of an autolocked Swarm", func(dir string) swarmpki.Files {
			chain, _ := ca.Node(t, "cluster-a", swarmpki.RoleWorker, "n1")
			key := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
			return pkitest.Write(t, dir, chain, key, ca.PEM)
		}, "autolocked"},
		{"root CA file without a certificate", func(dir string) swarmpki.Files {
			chain, key := ca.Node(t, "cluster-a", swarmpki.RoleWorker, "n1")
			return pkitest.Write(t, dir, chain, key, []byte("not PEM"))
		}, "no certificate in it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := swarmpki.Load(tt.setup(t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// A CA rotation as Swarm does it: new node certificates signed by the new
// CA with a cross-signed intermediate while the old root is trusted, then
// the new root alone. Each step is read at the next handshake.
func TestRotationIsReadAtTheNextHandshake(t *testing.T) {
	oldCA, newCA := pkitest.NewCA(t), pkitest.NewCA(t)
	mdir, wdir := t.TempDir(), t.TempDir()
	manager := load(t, oldCA.WriteNode(t, mdir, "c", swarmpki.RoleManager, "m"))
	worker := load(t, oldCA.WriteNode(t, wdir, "c", swarmpki.RoleWorker, "w"))
	if serr, cerr := handshake(t, manager, worker); serr != nil || cerr != nil {
		t.Fatalf("before rotation: %v / %v", serr, cerr)
	}

	// The worker renews first: new CA, cross-signed, old root kept.
	cross := oldCA.CrossSign(t, newCA)
	chain, key := newCA.Node(t, "c", swarmpki.RoleWorker, "w", cross)
	pkitest.Write(t, wdir, chain, key, oldCA.PEM)
	if serr, cerr := handshake(t, manager, worker); serr != nil || cerr != nil {
		t.Fatalf("worker renewed, manager not yet: %v / %v", serr, cerr)
	}

	// Then every node trusts the new root only.
	chain, key = newCA.Node(t, "c", swarmpki.RoleManager, "m")
	pkitest.Write(t, mdir, chain, key, newCA.PEM)
	chain, key = newCA.Node(t, "c", swarmpki.RoleWorker, "w")
	pkitest.Write(t, wdir, chain, key, newCA.PEM)
	if serr, cerr := handshake(t, manager, worker); serr != nil || cerr != nil {
		t.Fatalf("after rotation: %v / %v", serr, cerr)
	}

	// A node still on the old CA is now a stranger.
	stale := load(t, oldCA.WriteNode(t, t.TempDir(), "c", swarmpki.RoleWorker, "old"))
	if serr, _ := handshake(t, manager, stale); serr == nil {
		t.Fatal("a certificate of the retired CA was admitted")
	}
}

func TestHalfWrittenRotationKeepsTheLastGoodCredentials(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	c := load(t, ca.WriteNode(t, dir, "c", swarmpki.RoleWorker, "w"))
	f := pkitest.Files(dir)

	// The certificate is replaced, its key not yet.
	chain, _ := ca.Node(t, "c", swarmpki.RoleWorker, "w2")
	if err := os.WriteFile(f.Cert, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Hour)
	_ = os.Chtimes(f.Cert, at, at)
	if err := c.Reload(); err == nil {
		t.Fatal("Reload of a certificate without its key reported no error")
	}
	if got := c.Identity().NodeID; got != "w" {
		t.Fatalf("identity after a failed reload = %q, want the last good one (w)", got)
	}
}
