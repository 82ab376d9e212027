package ops

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server"
)

// Label values of the query metrics: bounded sets, never a client or a name.
var (
	pathNames  = [...]string{server.PathZone: "zone", server.PathForwarded: "forwarded", server.PathRefused: "refused", server.PathError: "error"}
	qtypeNames = [...]string{"A", "AAAA", "SRV", "PTR", "ANY", "other"}
	rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"}
	protoNames = [...]string{"udp", "tcp"}
)

const (
	numPaths  = len(pathNames)
	numQtypes = len(qtypeNames)
	numRcodes = len(rcodeNames)
)

func qtypeIndex(t uint16) int {
	switch t {
	case dns.TypeA:
		return 0
	case dns.TypeAAAA:
		return 1
	case dns.TypeSRV:
		return 2
	case dns.TypePTR:
		return 3
	case dns.TypeANY:
		return 4
	}
	return 5
}

func rcodeIndex(rc int) int {
	switch {
	case rc >= 0 && rc <= dns.RcodeRefused:
		return rc
	case rc == dns.RcodeBadVers:
		return 6
	}
	return 7
}

// Metrics is the Prometheus registry of one swarmdns process. Its Observe
// method is the server.Observer that counts queries.
type Metrics struct {
	reg *prometheus.Registry

	// Children resolved once, so that Observe only does atomic adds.
	queries   *queryCounters
	latency   [numPaths]prometheus.Observer
	size      [len(protoNames)]prometheus.Observer
	truncated [len(protoNames)]prometheus.Counter

	syncDuration  prometheus.Histogram
	buildDuration prometheus.Histogram
}

// NewMetrics registers the query, registry and process metrics of store.
// It observes store, so call it before the source runs.
func NewMetrics(store *registry.Store) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), queries: new(queryCounters)}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "swarmdns_query_duration_seconds",
		Help:    "Time from reading a query to writing its reply, by path.",
		Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5},
	}, []string{"path"})
	size := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "swarmdns_response_size_bytes",
		Help:    "Size of replies, by transport.",
		Buckets: []float64{64, 128, 256, 512, 1024, 1232, 2048, 4096, 16384, 65535},
	}, []string{"proto"})
	truncated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "swarmdns_truncated_responses_total",
		Help: "Replies sent with the TC bit set because they did not fit, by transport.",
	}, []string{"proto"})
	for p := range numPaths {
		m.latency[p] = latency.WithLabelValues(pathNames[p])
	}
	for i, proto := range protoNames {
		m.size[i] = size.WithLabelValues(proto)
		m.truncated[i] = truncated.WithLabelValues(proto)
	}
	m.syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "swarmdns_sync_duration_seconds",
		Help:    "Time a source took to read its whole backend, for successful syncs.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	m.buildDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "swarmdns_snapshot_build_duration_seconds",
		Help:    "Time to build a registry snapshot before it is published.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
	})
	m.reg.MustRegister(m.queries, latency, size, truncated, m.syncDuration, m.buildDuration,
		newRegistryCollector(store),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	store.Observe(registry.ObserverFuncs{
		OnPublished: func(_ *registry.Snapshot, build time.Duration) { m.buildDuration.Observe(build.Seconds()) },
		OnSynced: func(took time.Duration, err error) {
			if err == nil {
				m.syncDuration.Observe(took.Seconds())
			}
		},
	})
	return m
}

// Observe implements server.Observer. It does not allocate.
func (m *Metrics) Observe(ev *server.Event) {
	p := int(ev.Path)
	if p >= numPaths {
		p = int(server.PathError)
	}
	m.queries.n[p][qtypeIndex(ev.Qtype)][rcodeIndex(ev.Rcode)].Add(1)
	m.latency[p].Observe(ev.Took.Seconds())
	proto := 0
	if ev.TCP {
		proto = 1
	}
	m.size[proto].Observe(float64(ev.Size))
	if ev.Truncated {
		m.truncated[proto].Inc()
	}
}

// queryCounters counts queries by path, question type and response code,
// and exports only the label sets that have counted something: most of the
// 192 never do, and a series of zeros for each would be noise on every
// scrape. A series appears with its first query; an absent one is 0.
type queryCounters struct {
	n [numPaths][numQtypes][numRcodes]atomic.Uint64
}

var descQueries = prometheus.NewDesc("swarmdns_queries_total",
	"DNS queries answered, by how they were answered (path), question type and response code; a series appears with its first query.",
	[]string{"path", "qtype", "rcode"}, nil)

// Describe implements prometheus.Collector.
func (c *queryCounters) Describe(ch chan<- *prometheus.Desc) { ch <- descQueries }

// Collect implements prometheus.Collector.
func (c *queryCounters) Collect(ch chan<- prometheus.Metric) {
	for p := range c.n {
		for q := range c.n[p] {
			for r := range c.n[p][q] {
				if v := c.n[p][q][r].Load(); v != 0 {
					ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(v), pathNames[p], qtypeNames[q], rcodeNames[r])
				}
			}
		}
	}
}

// AddForwarder exports the counters of a forwarder; call it once, when
// swarmdns forwards.
func (m *Metrics) AddForwarder(f ForwardStats) error {
	return m.reg.Register(forwardCollector{f})
}

// SetBuildInfo exports swarmdns_build_info, always 1, labelled with the
// binary's version, the Go version and the VCS revision it was built from
// ("" when the build carries none). Call it once.
func (m *Metrics) SetBuildInfo(version string) error {
	revision := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "swarmdns_build_info",
		Help:        "Always 1; the labels say which build of swarmdns runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version(), "revision": revision},
	})
	info.Set(1)
	return m.reg.Register(info)
}

// Registry is the Prometheus registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
