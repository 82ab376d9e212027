package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/swarmdns/swarmdns/nodelocal"
	"github.com/swarmdns/swarmdns/ops"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
	"github.com/swarmdns/swarmdns/registry/swarm"
	"github.com/swarmdns/swarmdns/server"
)

// peerOptions are the serve flags of a sidecar on a Swarm node: how a
// manager serves followers, whom a worker follows, and the node-local
// address.
type peerOptions struct {
	follow           []string
	peerListen       string
	peerCert         string
	peerKey          string
	peerCA           string
	nodeLocalAddress string
}

func (o *peerOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&o.follow, "follow", nil, "on a worker, the manager instances to follow, host[:port] (repeatable; default: the engine's Swarm managers on port "+strconv.Itoa(peer.DefaultPort)+")")
	f.StringVar(&o.peerListen, "peer-listen", "", "on a manager, where followers connect, host:port, mutual TLS only (default: the node's Swarm address, port "+strconv.Itoa(peer.DefaultPort)+")")
	f.StringVar(&o.peerCert, "peer-cert", "", "node certificate for the peer stream (PEM; default: the engine's swarm-node.crt); with --peer-key and --peer-ca")
	f.StringVar(&o.peerKey, "peer-key", "", "its private key (PEM; default: the engine's swarm-node.key)")
	f.StringVar(&o.peerCA, "peer-ca", "", "root CA of the Swarm (PEM; default: the engine's swarm-root-ca.crt)")
	f.StringVar(&o.nodeLocalAddress, "node-local-address", "", "bind this address to lo while serving (needs NET_ADMIN, else add it on the host) and serve DNS on it too, e.g. 169.254.53.53 (empty: none)")
}

// nodeRole is what serve runs for its node's place in the Swarm, asked of
// the local engine: a manager reads the Swarm and serves followers; a
// worker follows a manager instance. With --registry-file there is none
// (a nil *nodeRole does nothing).
type nodeRole struct {
	opts *peerOptions
	info swarm.EngineInfo
	log  *logrus.Entry

	server   *peer.Server   // on a manager
	follower *peer.Follower // on a worker

	binding   *nodelocal.Binding
	localDNS  *server.Server // DNS on the node-local address
	peerErr   chan error
	peerClose context.CancelFunc
}

// swarmSource asks the local engine where this node stands and returns the
// source for it: the Swarm source on a manager, a follower on a worker.
func (o *serveOptions) swarmSource(log *logrus.Entry) (registry.Source, *nodeRole, error) {
	ctx, cancel := context.WithTimeout(context.Background(), engineWait)
	info, err := readEngineInfo(ctx, o.dockerHost, log)
	cancel()
	switch {
	case errors.Is(err, swarm.ErrNotInSwarm):
		return nil, nil, fmt.Errorf("swarm source: %w", err)
	case err != nil:
		// DNS must not wait for the engine: serve as a manager does (SERVFAIL
		// and not ready while the engine is down, its names once it is up).
		// A worker's engine then refuses the Swarm source, which ends serve,
		// and its restart follows a manager.
		log.WithError(err).Warn("the Docker engine does not answer: the node's role is unknown; reading it as a Swarm manager, with no followers served until swarmdns restarts")
		src, err := swarm.NewSource(swarm.Config{
			DockerHost: o.dockerHost, PollInterval: o.pollInterval, ReconcileMax: o.reconcileMax, Logger: log.WithField("component", "swarm"),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("swarm source: %w", err)
		}
		return src, nil, nil
	}
	n := &nodeRole{opts: &o.peer, info: info, log: log.WithField("node", info.NodeID)}
	creds, credsErr := o.peer.credentials(info)
	if info.Manager {
		src, err := swarm.NewSource(swarm.Config{
			DockerHost: o.dockerHost, PollInterval: o.pollInterval, ReconcileMax: o.reconcileMax, Logger: log.WithField("component", "swarm"),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("swarm source: %w", err)
		}
		if credsErr != nil {
			// The names are served all the same; only followers lose
			// this manager instance.
			n.log.WithError(credsErr).Error("this node is a Swarm manager but serves no followers")
			return src, n, nil
		}
		if n.server, err = peer.NewServer(peer.ServerConfig{Credentials: creds, Log: log, Hints: rereadHints{src}}); err != nil {
			return nil, nil, err
		}
		n.log.WithField("role", "manager").Info("this node is a Swarm manager: reading the Swarm and serving followers")
		return src, n, nil
	}
	if credsErr != nil {
		return nil, nil, fmt.Errorf("this node is a Swarm worker: %w", credsErr)
	}
	managers := o.peer.follow
	if len(managers) == 0 {
		managers = peer.PeerAddrs(info.RemoteManagers, peer.DefaultPort)
	}
	if len(managers) == 0 {
		return nil, nil, errors.New("follower: the engine names no Swarm manager; give --follow")
	}
	local, err := swarm.NewLocalContainers(swarm.LocalConfig{DockerHost: o.dockerHost, NodeID: info.NodeID, Logger: log.WithField("component", "local")})
	if err != nil {
		return nil, nil, fmt.Errorf("local engine: %w", err)
	}
	n.follower, err = peer.NewFollower(peer.FollowerConfig{Managers: managers, Credentials: creds, Local: local, Log: log})
	if err != nil {
		return nil, nil, err
	}
	n.log.WithFields(logrus.Fields{"role": "worker", "managers": managers}).Info("this node is a Swarm worker: following a manager's swarmdns")
	return n.follower, n, nil
}

// readEngineInfo asks the engine where this node stands, again and again
// while it cannot be reached (dockerd starting): an engine in no Swarm is
// an error at once.
// engineWait is how long serve asks the engine for the node's role before
// it serves without knowing it.
const engineWait = 2 * time.Second

func readEngineInfo(ctx context.Context, dockerHost string, log *logrus.Entry) (swarm.EngineInfo, error) {
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := swarm.ReadEngineInfo(cctx, dockerHost)
		cancel()
		if err == nil || errors.Is(err, swarm.ErrNotInSwarm) {
			return info, err
		}
		if delay == 250*time.Millisecond {
			log.WithError(err).Warn("the Docker engine does not answer; asking again")
		}
		select {
		case <-ctx.Done():
			return info, err
		case <-time.After(delay):
		}
	}
}

// credentials reads the peer stream's certificates: --peer-cert, --peer-key
// and --peer-ca, else the engine's own Swarm certificates.
func (o *peerOptions) credentials(info swarm.EngineInfo) (*swarmpki.Credentials, error) {
	files := swarmpki.NodeFiles(info.DockerRootDir)
	given := 0
	for _, f := range []struct {
		flag string
		dst  *string
	}{{o.peerCert, &files.Cert}, {o.peerKey, &files.Key}, {o.peerCA, &files.CA}} {
		if f.flag != "" {
			*f.dst = f.flag
			given++
		}
	}
	if given != 0 && given != 3 {
		return nil, errors.New("--peer-cert, --peer-key and --peer-ca go together: give all three or none")
	}
	creds, err := swarmpki.Load(files)
	if err != nil {
		return nil, fmt.Errorf("peer certificates (the sidecar must read them; see docs/security.md): %w", err)
	}
	return creds, nil
}

// observe hooks the role into the store and the operations side; call it
// before the source runs, so that the peer server sees the first publish.
func (n *nodeRole) observe(store *registry.Store, rt *opsRuntime) {
	if n == nil {
		return
	}
	if n.server != nil {
		store.Observe(n.server)
		rt.peerServer = n.peerServerStatus
		if err := rt.metrics.AddPeerServer(n.peerServerStatus); err != nil {
			rt.log.WithError(err).Warn("peer server metrics not registered")
		}
	}
	if n.follower != nil {
		rt.follower = n.followerStatus
		if err := rt.metrics.AddFollower(n.followerStatus); err != nil {
			rt.log.WithError(err).Warn("follower metrics not registered")
		}
	}
}

func (n *nodeRole) followerStatus() ops.FollowerStatus {
	s := n.follower.Status()
	return ops.FollowerStatus{
		Manager: s.Manager, ManagerNode: s.ManagerNode, Connected: s.Connected, Since: s.Since, Behind: s.Behind(),
		LastHeard: s.LastHeard, Switches: s.Switches, LastError: s.LastError,
	}
}

func (n *nodeRole) peerServerStatus() ops.PeerServerStatus {
	s := n.server.Status()
	out := ops.PeerServerStatus{
		Followers: len(s.Followers), Changes: s.Changes, Resets: s.Resets,
		Dropped: s.Dropped, Refused: s.Refused, SentBytes: s.SentBytes, Head: s.Head,
		Connected: make([]ops.ConnectedFollower, len(s.Followers)),
	}
	for i, f := range s.Followers {
		out.Connected[i] = ops.ConnectedFollower{
			Node: f.NodeID, Role: f.Role, Addr: f.Addr, Since: f.Since, LastHeard: f.LastHeard,
			Behind: f.Behind, SentBytes: f.SentBytes,
		}
	}
	return out
}

// startNode binds the node-local address and serves DNS on it beside srv
// and, on a manager, starts the peer listener. The node-local address is bound even with
// --registry-file.
func (o *serveOptions) startNode(ctx context.Context, n *nodeRole, srv *server.Server, log *logrus.Entry) (*nodeRole, error) {
	if n == nil {
		n = &nodeRole{opts: &o.peer, log: log}
	}
	if err := n.bindNodeLocal(srv, log); err != nil {
		n.stop()
		return nil, err
	}
	if n.server == nil {
		return n, nil
	}
	listen := n.opts.peerListen
	if listen == "" {
		if n.info.NodeAddr == "" {
			n.stop()
			return nil, errors.New("peer listener: the engine says no Swarm address for this node; give --peer-listen")
		}
		listen = net.JoinHostPort(n.info.NodeAddr, strconv.Itoa(peer.DefaultPort))
	}
	pctx, cancel := context.WithCancel(ctx)
	n.peerClose, n.peerErr = cancel, make(chan error, 1)
	go func() { n.peerErr <- n.servePeers(pctx, listen) }()
	return n, nil
}

// servePeers serves followers on listen until ctx is done. An address that
// cannot be bound (in use) is tried again every few seconds: DNS serves
// meanwhile, and followers follow another manager.
func (n *nodeRole) servePeers(ctx context.Context, listen string) error {
	for failed := false; ; failed = true {
		ln, err := net.Listen("tcp", listen)
		if err == nil {
			if failed {
				n.log.WithField("listen", listen).Info("peer listener bound")
			}
			return n.server.Serve(ctx, ln)
		}
		if !failed {
			n.log.WithError(err).Error("peer listener: not serving followers yet; trying again every 5 s")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

// bindNodeLocal binds --node-local-address to lo and serves DNS on it:
// a wildcard --listen already takes it (and answers from it, as from every
// address asked), a --listen of one other address gets a listener on it
// beside.
func (n *nodeRole) bindNodeLocal(srv *server.Server, log *logrus.Entry) error {
	if n.opts.nodeLocalAddress == "" {
		return nil
	}
	addr, err := netip.ParseAddr(n.opts.nodeLocalAddress)
	if err != nil {
		return fmt.Errorf("--node-local-address %q: want an IP address", n.opts.nodeLocalAddress)
	}
	listen, err := listenAddrPort(srv.Addr)
	if err != nil {
		return err
	}
	covered := listen.Addr() == addr || listen.Addr() == netip.IPv6Unspecified()
	if listen.Addr() == netip.IPv4Unspecified() {
		if !addr.Unmap().Is4() {
			// 0.0.0.0 takes IPv4 only over UDP, and over TCP (Go's
			// dual-stack wildcard) leaves no room for a listener beside.
			return fmt.Errorf("--node-local-address %s is IPv6, which --listen %s does not serve over UDP; give --listen :%d (IPv4 and IPv6) or one address", addr, srv.Addr, listen.Port())
		}
		covered = true
	}
	if n.binding, err = nodelocal.Bind(addr, "lo"); err != nil {
		return err
	}
	log.WithFields(logrus.Fields{"address": n.binding.String(), "added": n.binding.Owned()}).Info("node-local address bound")
	if covered {
		return nil
	}
	n.localDNS = &server.Server{
		Handler: srv.Handler, Addr: netip.AddrPortFrom(addr, listen.Port()).String(), Log: srv.Log,
		MaxTCPConns: srv.MaxTCPConns, TCPIdleTimeout: srv.TCPIdleTimeout, RateLimit: srv.RateLimit,
	}
	if err := n.localDNS.Start(); err != nil {
		n.localDNS = nil
		return fmt.Errorf("DNS on the node-local address: %w", err)
	}
	return nil
}

// stop ends the peer listener (its followers move to another manager at
// once), the DNS listener on the node-local address, and removes the
// node-local address if swarmdns added it.
func (n *nodeRole) stop() {
	if n == nil {
		return
	}
	if n.peerClose != nil {
		n.peerClose()
		if err := <-n.peerErr; err != nil {
			n.log.WithError(err).Warn("peer listener stopped")
		}
		n.peerClose = nil
	}
	if n.localDNS != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n.localDNS.Shutdown(ctx)
		cancel()
		n.localDNS = nil
	}
	if n.binding != nil {
		owned := n.binding.Owned()
		if err := n.binding.Release(); err != nil {
			n.log.WithError(err).Error("node-local address not removed")
		} else if owned {
			n.log.WithField("address", n.binding.String()).Info("node-local address removed")
		}
		n.binding = nil
	}
}

// nodeLocalSelf is the node-local DNS listener on port, for the forwarder
// to leave out of its upstreams (a node whose resolv.conf names it).
func (o *peerOptions) nodeLocalSelf(port uint16) []netip.AddrPort {
	addr, err := netip.ParseAddr(o.nodeLocalAddress)
	if err != nil {
		return nil
	}
	return []netip.AddrPort{netip.AddrPortFrom(addr, port)}
}

// rereadHints hands what followers tell to the Swarm source: a follower
// whose engine saw a task container die or start names its service, which
// the source reads again at once (the manager has no task events), and
// the tasks of its node that died, which the source stops answering at
// once. Node IDs are not sent by followers.
type rereadHints struct{ src *swarm.Source }

func (h rereadHints) Reread(from peer.Peer, serviceIDs, _, diedTaskIDs []string) {
	h.src.TasksDied(from.NodeID, diedTaskIDs...)
	h.src.Reread(serviceIDs...)
}

// Reachability is not used: the manager instance probes the nodes itself
// (registry/swarm, liveness.go).
func (rereadHints) Reachability(peer.Peer, []string, []string) {}
