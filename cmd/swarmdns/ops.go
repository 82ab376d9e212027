package main

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/swarmdns/swarmdns/ops"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server"
	"github.com/swarmdns/swarmdns/server/forward"
)

// opsOptions are the serve flags of the operations side: the HTTP
// listener, readiness, the query log and reloadable settings.
type opsOptions struct {
	httpListen string
	staleAfter time.Duration
	logQueries bool
	config     string
	// flags is the serve command's flag set, for reloading.
	flags *pflag.FlagSet
}

func (o *opsOptions) addFlags(f *pflag.FlagSet) {
	o.flags = f
	f.StringVar(&o.httpListen, "http-listen", ops.DefaultAddr, "address of the HTTP operations listener: /metrics, /healthz, /readyz, /v1/… (empty: off)")
	f.DurationVar(&o.staleAfter, "stale-after", 30*time.Second, "/readyz fails when the last successful Swarm sync is older than this (not used with --registry-file)")
	f.BoolVar(&o.logQueries, "log-queries", false, "log every query as one structured line")
	f.StringVar(&o.config, "config", "", "YAML file of flag values (flag name: value); SIGHUP re-reads its reloadable settings")
}

// opsRuntime is the running operations side of serve.
type opsRuntime struct {
	opts     *opsOptions
	store    *registry.Store
	log      *logrus.Entry
	metrics  *ops.Metrics
	queryLog *ops.QueryLog
	http     *ops.Ops
	forward  ops.Forwarder // nil when not forwarding
	// follower, on a follower, tells /readyz whom it follows; peerServer,
	// on a manager instance, tells /v1/status its followers (peer.go).
	follower   func() ops.FollowerStatus
	peerServer func() ops.PeerServerStatus
}

// startOps sets up metrics and the query log; call it before the source
// runs, so that the metrics see its first sync.
func (o *opsOptions) startOps(store *registry.Store, log *logrus.Entry) *opsRuntime {
	r := &opsRuntime{opts: o, store: store, log: log}
	r.metrics = ops.NewMetrics(store)
	// The one registration on a new registry: it cannot collide.
	_ = r.metrics.SetBuildInfo(version)
	r.queryLog = ops.NewQueryLog(log.WithField("component", "query"), o.logQueries)
	return r
}

// observer is the server.Observer of every query: metrics, then the log.
func (r *opsRuntime) observer() server.Observer {
	return server.Observers{r.metrics, r.queryLog}
}

// addForwarder exports the forwarder's counters.
func (r *opsRuntime) addForwarder(f *forward.Forwarder) {
	r.forward = forwardStats{f}
	if err := r.metrics.AddForwarder(forwardStats{f}); err != nil {
		r.log.WithError(err).Warn("forward metrics not registered")
	}
}

// forwardStats reads a Forwarder's Stats for ops.ForwardStats.
type forwardStats struct{ f *forward.Forwarder }

func (s forwardStats) CacheHits() uint64      { return s.f.Stats().CacheHits }
func (s forwardStats) CacheMisses() uint64    { return s.f.Stats().CacheMisses }
func (s forwardStats) UpstreamErrors() uint64 { return s.f.Stats().Failures }
func (s forwardStats) StaleAnswers() uint64   { return s.f.Stats().Stale }

// Upstreams implements ops.Forwarder.
func (s forwardStats) Upstreams() []ops.UpstreamStatus {
	var out []ops.UpstreamStatus
	for _, h := range s.f.Health() {
		out = append(out, ops.UpstreamStatus{Addr: h.Addr.String(), Down: h.Down, DownFor: h.DownFor, Failures: h.Failures})
	}
	return out
}

// serveHTTP starts the HTTP listener, unless --http-listen is empty.
func (r *opsRuntime) serveHTTP(h *server.Handler) error {
	if r.opts.httpListen == "" {
		r.log.Info("operations HTTP off: --http-listen is empty")
		return nil
	}
	r.http = ops.New(ops.Config{
		Store: r.store, Handler: h, Metrics: r.metrics,
		StaleAfter: r.opts.staleAfter, Follower: r.follower, PeerServer: r.peerServer, Log: r.log.WithField("component", "http"),
		Forwarder: r.forward,
	})
	return r.http.Start(r.opts.httpListen)
}

// shutdown stops the HTTP listener within ctx.
func (r *opsRuntime) shutdown(ctx context.Context) {
	if r.http == nil {
		return
	}
	if err := r.http.Shutdown(ctx); err != nil {
		r.log.WithError(err).Warn("http listener cut off at shutdown")
	}
}
