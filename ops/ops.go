package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server"
)

// DefaultAddr is where the listener serves by default: loopback only, as
// the registry API shows every service and address.
const DefaultAddr = "127.0.0.1:8053"

// Config wires the endpoints.
type Config struct {
	Store *registry.Store
	// Handler answers /v1/resolve.
	Handler *server.Handler
	// Metrics serves /metrics; nil leaves it out.
	Metrics *Metrics
	// StaleAfter is how long after the last successful sync /readyz
	// fails; 0 never (a watched file is never stale).
	StaleAfter time.Duration
	// Follower, on a follower, says which manager it follows; /readyz
	// adds it as a second line, /v1/status shows it (nil: not a
	// follower).
	Follower func() FollowerStatus
	// PeerServer, on a manager instance, reports its peer server;
	// /v1/status lists the followers connected (nil: not one).
	PeerServer func() PeerServerStatus
	Log        *logrus.Entry
	// Forwarder is shown on the page (traffic, upstream health); nil when
	// swarmdns does not forward.
	Forwarder Forwarder
}

// Ops serves the operations endpoints.
type Ops struct {
	cfg        Config
	staleAfter atomic.Int64
	mux        *http.ServeMux
	srv        *http.Server
	ln         net.Listener

	// The page's state (page.go).
	catalogs     catalogCache
	spreads      *spreadSampler
	traffics     *trafficSampler
	stopSampling context.CancelFunc
}

// New returns the endpoints of cfg; serve them with Handler or Start.
func New(cfg Config) *Ops {
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	o := &Ops{cfg: cfg, mux: http.NewServeMux()}
	o.staleAfter.Store(int64(cfg.StaleAfter))
	if cfg.Metrics != nil {
		o.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	o.mux.HandleFunc("GET /healthz", o.healthz)
	o.mux.HandleFunc("GET /readyz", o.readyz)
	o.mux.HandleFunc("GET /v1/registry", o.registry)
	o.mux.HandleFunc("GET /v1/resolve", o.resolve)
	o.routePage()
	return o
}

// SetStaleAfter changes the readiness bound (SIGHUP).
func (o *Ops) SetStaleAfter(d time.Duration) { o.staleAfter.Store(int64(d)) }

// Handler returns the endpoints as one http.Handler.
func (o *Ops) Handler() http.Handler { return o.mux }

// Start listens on addr and serves in the background.
func (o *Ops) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	o.ln = ln
	o.srv = &http.Server{
		Handler:           o.mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.stopSampling = cancel
	go o.sampleEvery(ctx)
	go func() {
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.cfg.Log.WithError(err).Error("http listener stopped")
		}
	}()
	o.cfg.Log.WithField("addr", ln.Addr().String()).Info("serving operations HTTP")
	return nil
}

// Addr is the bound address after Start.
func (o *Ops) Addr() net.Addr { return o.ln.Addr() }

// Shutdown stops the listener, letting requests under way finish until
// ctx is done.
func (o *Ops) Shutdown(ctx context.Context) error {
	if o.srv == nil {
		return nil
	}
	o.stopSampling()
	return o.srv.Shutdown(ctx)
}
