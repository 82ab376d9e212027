package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/registry/swarm"
	"github.com/swarmdns/swarmdns/scheduler"
	"github.com/swarmdns/swarmdns/server"
	"github.com/swarmdns/swarmdns/server/forward"
	"github.com/swarmdns/swarmdns/server/transfer"
)

// serveOptions are the flags of `swarmdns serve`.
type serveOptions struct {
	listen       string
	registryFile string
	dockerHost   string
	pollInterval time.Duration
	reconcileMax time.Duration
	domain       string
	ttl          uint32
	scheduler    string
	maxAnswers   int
	networks     []string
	preferLocal  bool
	preferLabel  string

	upstreams       []string
	resolvConf      string
	upstreamTimeout time.Duration
	cacheSize       int
	cacheMaxTTL     time.Duration
	serveStale      time.Duration
	maxInflight     int
	allowRecursion  []string
	maxTCPConns     int
	tcpIdleTimeout  time.Duration
	maxUDPSize      int
	rrlRate         int
	rrlSlip         int

	logLevel  string
	logFormat string

	ops  opsOptions      // ops.go
	xfr  transferOptions // transfer.go
	peer peerOptions     // peer.go
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer DNS for the registry's names",
		Long:  serveLong(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":53", "address to serve DNS on, UDP and TCP (host:port)")
	f.StringVar(&o.registryFile, "registry-file", "", "read the registry from this YAML file instead of a Swarm manager")
	f.StringVar(&o.dockerHost, "docker-host", "", "Docker Engine API of a Swarm manager (default DOCKER_HOST or the local socket)")
	f.DurationVar(&o.pollInterval, "poll-interval", time.Second, "check that the Swarm manager answers this often, and reconcile with it at first this often")
	f.DurationVar(&o.reconcileMax, "reconcile-max", swarm.DefaultReconcileMax, "longest interval between full reconciliations with the Swarm manager")
	f.StringVar(&o.domain, "domain", "swarm.internal.", "zone the names are served under (they answer bare too)")
	f.Uint32Var(&o.ttl, "ttl", 5, "TTL of answers in seconds (service label swarmdns.ttl overrides)")
	f.StringVar(&o.scheduler, "scheduler", scheduler.RoundRobin, "answer order policy: roundrobin, weighted or random (label swarmdns.scheduler overrides)")
	f.IntVar(&o.maxAnswers, "max-answers", 0, "at most this many records per A, AAAA or SRV answer (0: all)")
	f.StringSliceVar(&o.networks, "network", nil, "restrict the answers for clients with no network context to these networks (repeatable)")
	f.BoolVar(&o.preferLocal, "prefer-local", false, "answer tasks on this node before the others")
	f.StringVar(&o.preferLabel, "prefer-label", "", "answer tasks on nodes whose value of this node label is this node's before the others (after this node's own, with --prefer-local)")

	f.StringSliceVar(&o.upstreams, "upstream", nil, "resolver for names outside the registry, ip[:port] (repeatable; default: the nameservers of --resolv-conf)")
	f.StringVar(&o.resolvConf, "resolv-conf", forward.DefaultResolvConf, "resolv.conf to take upstreams from when no --upstream is given")
	f.DurationVar(&o.upstreamTimeout, "upstream-timeout", forward.DefaultTimeout, "timeout of each try of each upstream")
	f.IntVar(&o.cacheSize, "cache-size", 10000, "forwarded answers to cache (0: no cache)")
	f.DurationVar(&o.cacheMaxTTL, "cache-max-ttl", forward.DefaultCacheMaxTTL, "cache forwarded answers at most this long")
	f.DurationVar(&o.serveStale, "serve-stale", 0, "keep forwarded answers this long past their TTL, to answer with (TTL 30 s) when no upstream can (0: never)")
	f.IntVar(&o.maxInflight, "max-inflight", forward.DefaultMaxInflight, "upstream exchanges under way at once (identical queries share one); more get SERVFAIL")
	f.StringSliceVar(&o.allowRecursion, "allow-recursion", forward.DefaultAllowRecursion, "CIDRs of clients whose other names are forwarded; others get REFUSED")
	f.IntVar(&o.maxTCPConns, "max-tcp-conns", 256, "open TCP connections at once; more are closed at accept")
	f.DurationVar(&o.tcpIdleTimeout, "tcp-idle-timeout", 10*time.Second, "close a TCP connection that sends no query for this long")
	f.IntVar(&o.maxUDPSize, "max-udp-size", server.DefaultMaxUDPSize, "largest UDP reply in bytes, 512 to 65535, whatever larger buffer a client offers; beyond it TC=1 and the client retries over TCP")
	f.IntVar(&o.rrlRate, "rrl-rate", 0, "authoritative UDP answers per second per client /24 (IPv6 /56); 0: no limit")
	f.IntVar(&o.rrlSlip, "rrl-slip", 2, "with --rrl-rate, send every Nth limited answer truncated so real clients retry over TCP (0: drop all)")

	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	o.ops.addFlags(f)
	o.xfr.addFlags(f)
	o.peer.addFlags(f)
	for _, name := range reloadable {
		f.Lookup(name).Usage += " (reloads on SIGHUP)"
	}
	return cmd
}

// serveLong is the help text of serve: where settings come from and which
// of them SIGHUP reloads.
func serveLong() string {
	return `Answer DNS for the registry's names: from a Swarm manager, or from --registry-file.

Every flag also reads an environment variable, SWARMDNS_ and the flag name in
upper case with dashes as underscores (--max-answers: ` + envName("max-answers") + `).
The command line wins over the environment, which wins over the --config file.

SIGHUP re-reads --registry-file and the --config file. Of the settings, only
these take the file's new value without a restart:
  ` + strings.Join(reloadable, ", ") + `
Every other setting needs a restart. See docs/configuration.md.`
}

// source picks the registry source from the flags, and for a Swarm the
// node's role (peer.go).
func (o *serveOptions) source(log *logrus.Entry) (registry.Source, func(), *nodeRole, error) {
	if o.registryFile != "" {
		src := file.NewSource(o.registryFile, log.WithField("component", "file"))
		return src, src.Reload, nil, nil
	}
	src, node, err := o.swarmSource(log)
	return src, nil, node, err
}

// forwarder builds the Forwarder, or nil when no upstream is configured.
func (o *serveOptions) forwarder(log *logrus.Entry) (*forward.Forwarder, forward.ACL, error) {
	acl, err := forward.ParseACL(o.allowRecursion)
	if err != nil {
		return nil, acl, fmt.Errorf("--allow-recursion: %w", err)
	}
	self, err := listenAddrPort(o.listen)
	if err != nil {
		return nil, acl, err
	}
	f, err := forward.New(forward.Config{
		Upstreams: o.upstreams, ResolvConf: o.resolvConf, Self: append([]netip.AddrPort{self}, o.peer.nodeLocalSelf(self.Port())...),
		Timeout: o.upstreamTimeout, CacheSize: o.cacheSize, CacheMaxTTL: o.cacheMaxTTL, ServeStale: o.serveStale,
		MaxInflight: o.maxInflight, Logger: log.WithField("component", "forward"),
	})
	if err != nil {
		return nil, acl, err
	}
	if !f.Enabled() {
		return nil, acl, nil
	}
	return f, acl, nil
}

// listenAddrPort turns --listen into an address; ":53" is the unspecified
// address, which the forwarder reads as every local address.
func listenAddrPort(listen string) (netip.AddrPort, error) {
	const use = "use ip:port, e.g. 127.0.0.1:53, [::1]:53 or :53 for every address"
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--listen: %q is not ip:port; %s", listen, use)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--listen: %q: the port is not a number from 0 to 65535; %s", listen, use)
	}
	addr := netip.IPv6Unspecified()
	if host != "" {
		if addr, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("--listen: %q: %q is not an IP address (host names are not supported); %s", listen, host, use)
		}
	}
	return netip.AddrPortFrom(addr, uint16(p)), nil
}

func (o *serveOptions) run(ctx context.Context) error {
	if err := o.checkRanges(); err != nil {
		return err
	}
	logger, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	log := logrus.NewEntry(logger)
	if err := o.check(); err != nil {
		return err
	}
	store, xfr, err := o.newStore(log)
	if err != nil {
		return err
	}
	src, reload, node, err := o.source(log)
	if err != nil {
		return err
	}
	rt, hcfg, err := o.wire(store, xfr, node, log)
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	observePublishes(store, xfr)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if xfr != nil {
		xfr.Start(ctx)
	}
	// The first load comes before the listeners: nothing says "serving"
	// before the registry has loaded or the source has started, and a
	// registry that cannot load is the only error at start.
	srcErr := make(chan error, 1)
	first := firstSync(store)
	go func() { srcErr <- src.Run(ctx, store) }()
	if ended, err := waitFirstSync(first, srcErr, sigs, log); ended {
		return err
	}
	if np := store.NetworkProblem(); np != "" && o.registryFile != "" {
		return errors.New(np)
	}
	srv, node, err := o.startServing(ctx, hcfg, node, rt, log)
	if err != nil {
		return err
	}
	defer node.stop()
	return serveUntilDone(ctx, stop, srv, rt, sigs, srcErr, func() {
		if reload != nil {
			log.Info("SIGHUP: reloading the registry file")
			reload()
		}
		rt.reload(o.ops.flags, logger)
	}, log)
}

// checkRanges checks the flags whose values have a range of their own.
func (o *serveOptions) checkRanges() error {
	if o.maxUDPSize < 512 || o.maxUDPSize > 65535 {
		return fmt.Errorf("--max-udp-size: %d bytes is out of range; use 512 to 65535 (default %d, which fits any path without fragments)", o.maxUDPSize, server.DefaultMaxUDPSize)
	}
	if strings.ContainsAny(o.preferLabel, "= \t\n") {
		return fmt.Errorf("--prefer-label %q: want the key of a node label (zone), not key=value", o.preferLabel)
	}
	return nil
}

// newStore makes the registry store of the build settings, and the zone
// transfers when they are on (nil otherwise).
func (o *serveOptions) newStore(log *logrus.Entry) (*registry.Store, *transfer.Transfer, error) {
	nameservers, err := o.xfr.nameserverSet(o.domain, o.listen)
	if err != nil {
		return nil, nil, err
	}
	xfr, err := o.xfr.build(log)
	if err != nil {
		return nil, nil, err
	}
	rcfg := registry.Config{
		Domain: o.domain, TTL: o.ttl, Policy: o.scheduler, MaxAnswers: o.maxAnswers,
		Networks: o.networks, PreferLocal: o.preferLocal, PreferLabel: o.preferLabel, Nameservers: nameservers,
	}
	if xfr != nil {
		rcfg.Serial = xfr.Serial
	}
	store, err := registry.NewStore(rcfg, log.WithField("component", "registry"))
	if err != nil {
		return nil, nil, fmt.Errorf("--nameserver: %w", err) // o.check has checked the rest
	}
	if w := mdnsDomainWarning(store.Config().Domain); w != "" {
		log.WithField("domain", store.Config().Domain).Warn(w)
	}
	return store, xfr, nil
}

// wire sets up what observes and serves beside the store: operations,
// the forwarder, transfers, and the node's role; it returns the DNS
// handler's configuration.
func (o *serveOptions) wire(store *registry.Store, xfr *transfer.Transfer, node *nodeRole, log *logrus.Entry) (*opsRuntime, server.Config, error) {
	fwd, acl, err := o.forwarder(log)
	if err != nil {
		return nil, server.Config{}, err
	}
	rt := o.ops.startOps(store, log)
	node.observe(store, rt)
	hcfg := server.Config{Store: store, Log: log.WithField("component", "server"), AllowRecursion: acl.Allows, Observer: rt.observer(), MaxUDPSize: o.maxUDPSize}
	if xfr != nil {
		hcfg.Transfer = xfr
	}
	if fwd != nil {
		hcfg.Forwarder = fwd
		rt.addForwarder(fwd)
		log.WithField("upstreams", fwd.Upstreams()).Info("forwarding names outside the registry")
	}
	return rt, hcfg, nil
}

// observePublishes hands the first load's garbage back to the system and
// tells the zone transfers of every publish.
func observePublishes(store *registry.Store, xfr *transfer.Transfer) {
	// The first load of a large registry leaves the parse's and the
	// build's garbage mapped (several times the snapshot); hand it back to
	// the system once, rather than keep it as the heap's high-water mark.
	var released sync.Once
	store.Observe(registry.ObserverFuncs{OnPublished: func(*registry.Snapshot, time.Duration) {
		released.Do(func() { go debug.FreeOSMemory() })
		if xfr != nil {
			xfr.Published()
		}
	}})
}

// waitFirstSync waits for the source's first sync, at most firstSyncWait.
// It says whether serve is to end instead (the source failed, or a signal
// came), and with what error.
func waitFirstSync(first <-chan struct{}, srcErr <-chan error, sigs <-chan os.Signal, log *logrus.Entry) (bool, error) {
	waited := time.NewTimer(firstSyncWait)
	defer waited.Stop()
	for {
		select {
		case <-first:
			return false, nil
		case err := <-srcErr:
			if err == nil || errors.Is(err, context.Canceled) {
				return true, nil
			}
			return true, fmt.Errorf("registry source: %w", err)
		case <-waited.C:
			log.WithField("waited", firstSyncWait.String()).Warn("the first sync has not ended; serving DNS (SERVFAIL) until it does")
			return false, nil
		case sig := <-sigs:
			if sig != syscall.SIGHUP { // nothing is loaded yet to reload
				log.WithField("signal", sig.String()).Info("shutting down")
				return true, nil
			}
		}
	}
}

// startServing starts the DNS listeners, the node's role (peer listener,
// node-local address) and the operations listener.
func (o *serveOptions) startServing(ctx context.Context, hcfg server.Config, node *nodeRole, rt *opsRuntime, log *logrus.Entry) (*server.Server, *nodeRole, error) {
	// A UDP read loop waits for queries inside recvmmsg, keeping its P.
	// With a single P (one CPU, or pinned to one) the runtime hands that P
	// to a freshly woken spinning thread every time the loop waits, which
	// costs about as much as the answer itself. The server runs one loop
	// fewer than there are Ps, so on one CPU a second P is that spare.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	srv := &server.Server{
		Handler: server.NewHandler(hcfg), Addr: o.listen, Log: log.WithField("component", "server"),
		MaxTCPConns: o.maxTCPConns, TCPIdleTimeout: o.tcpIdleTimeout,
		RateLimit: server.NewRateLimit(o.rrlRate, o.rrlSlip),
	}
	if err := srv.Start(); err != nil {
		return nil, nil, err
	}
	node, err := o.startNode(ctx, node, srv, log)
	if err != nil {
		srv.Shutdown(context.Background())
		return nil, nil, err
	}
	if err := rt.serveHTTP(srv.Handler); err != nil {
		node.stop()
		srv.Shutdown(context.Background())
		return nil, nil, err
	}
	return srv, node, nil
}

// serveUntilDone serves until ctx ends, the source fails or a signal ends
// it; SIGHUP calls reload.
func serveUntilDone(ctx context.Context, stop context.CancelFunc, srv *server.Server, rt *opsRuntime, sigs <-chan os.Signal, srcErr <-chan error, reload func(), log *logrus.Entry) error {
	for {
		select {
		case <-ctx.Done():
			shutdown(srv, rt, sigs, log)
			return nil
		case err := <-srcErr:
			if err != nil && !errors.Is(err, context.Canceled) {
				shutdown(srv, rt, sigs, log)
				return fmt.Errorf("registry source: %w", err)
			}
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload()
				continue
			}
			log.WithField("signal", sig.String()).Info("shutting down")
			stop()
			shutdown(srv, rt, sigs, log)
			return nil
		}
	}
}

// shutdown lets queries under way finish for up to 5 s; a second signal
// exits at once.
func shutdown(srv *server.Server, rt *opsRuntime, sigs <-chan os.Signal, log *logrus.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			log.Warn("second signal: exiting now")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	httpDone := make(chan struct{})
	go func() { rt.shutdown(ctx); close(httpDone) }()
	if err := srv.Shutdown(ctx); err != nil {
		log.WithError(err).Warn("queries cut off at shutdown")
	}
	<-httpDone
}

// firstSyncWait is how long serve waits for the source's first sync before
// it serves anyway: a manager that takes longer is answered with SERVFAIL
// until it has synced.
const firstSyncWait = 10 * time.Second

// firstSync returns a channel closed when the store has heard the end of
// the source's first sync, good or failed.
func firstSync(store *registry.Store) <-chan struct{} {
	done := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(done) }) }
	store.Observe(registry.ObserverFuncs{
		OnPublished: func(*registry.Snapshot, time.Duration) { end() },
		OnSynced:    func(time.Duration, error) { end() },
	})
	return done
}

// check checks the settings that nothing else checks before they are used,
// each named by its flag.
func (o *serveOptions) check() error {
	if err := checkScheduler(o.scheduler); err != nil {
		return err
	}
	if err := checkMaxAnswers(o.maxAnswers); err != nil {
		return err
	}
	if err := (&registry.Config{Domain: o.domain}).Check(); err != nil {
		return fmt.Errorf("--domain: %w", err)
	}
	return nil
}
