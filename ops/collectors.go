package ops

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/scheduler"
)

// registryCollector reads the store at scrape time: nothing on the query
// or sync path keeps these numbers.
type registryCollector struct {
	store *registry.Store
}

var (
	descServices   = prometheus.NewDesc("swarmdns_registry_services", "Services in the published snapshot.", nil, nil)
	descTasks      = prometheus.NewDesc("swarmdns_registry_tasks", "Running tasks in the published snapshot.", nil, nil)
	descNames      = prometheus.NewDesc("swarmdns_registry_names", "Owner names kept in the published snapshot (the empty non-terminals under task names are answered, not kept).", nil, nil)
	descPolicies   = prometheus.NewDesc("swarmdns_registry_services_by_scheduler", "Services by the scheduler that orders their answers (--scheduler or label swarmdns.scheduler).", []string{"scheduler"}, nil)
	descSwaps      = prometheus.NewDesc("swarmdns_snapshot_swaps_total", "Registry snapshots published.", nil, nil)
	descSyncErrors = prometheus.NewDesc("swarmdns_sync_errors_total", "Syncs that could not read the source; the last snapshot keeps serving.", nil, nil)
	descLabelErrs  = prometheus.NewDesc("swarmdns_registry_label_errors", "Services and nodes in the published snapshot whose value of this swarmdns label is ignored (the default applies); each is logged once as a warning.", []string{"label"}, nil)
	descSinceSync  = prometheus.NewDesc("swarmdns_seconds_since_last_sync", "Seconds since the source last confirmed that the served data is current: a Swarm manager's last successful sync; for a watched registry file 0 while its last load succeeded, else since its first failed reload. Absent before the first sync.", nil, nil)
)

func newRegistryCollector(store *registry.Store) registryCollector {
	return registryCollector{store: store}
}

// Describe implements prometheus.Collector.
func (c registryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descServices, descTasks, descNames, descPolicies, descSwaps, descSyncErrors, descSinceSync, descLabelErrs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c registryCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descSwaps, prometheus.CounterValue, float64(c.store.Swaps()))
	ch <- prometheus.MustNewConstMetric(descSyncErrors, prometheus.CounterValue, float64(c.store.SyncErrors()))
	now := time.Now()
	if at := c.store.ConfirmedAt(now); !at.IsZero() {
		ch <- prometheus.MustNewConstMetric(descSinceSync, prometheus.GaugeValue, now.Sub(at).Seconds())
	}
	snap := c.store.Snapshot()
	if snap == nil {
		return
	}
	st := snap.Stats()
	ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(st.Services))
	ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(st.Tasks))
	ch <- prometheus.MustNewConstMetric(descNames, prometheus.GaugeValue, float64(st.Names))
	labelErrs := c.store.LabelErrors()
	for _, l := range registry.Labels {
		ch <- prometheus.MustNewConstMetric(descLabelErrs, prometheus.GaugeValue, float64(labelErrs[l]), l)
	}
	counts := map[string]int{}
	for _, name := range scheduler.Names() {
		counts[name] = 0
	}
	cfg := c.store.Config()
	for i := range snap.Data.Services {
		counts[servicePolicy(&snap.Data.Services[i], cfg)]++
	}
	for name, n := range counts {
		ch <- prometheus.MustNewConstMetric(descPolicies, prometheus.GaugeValue, float64(n), name)
	}
}

// servicePolicy is the scheduler a service's answers use: its label when
// the label names a known policy (the build warns otherwise), else the
// default.
func servicePolicy(svc *registry.Service, cfg registry.Config) string {
	if v, ok := svc.Labels[registry.LabelScheduler]; ok {
		if _, err := cfg.Policies(v); err == nil {
			return v
		}
	}
	return cfg.Policy
}

// ForwardStats is what a forwarder counts for /metrics. The forwarder
// keeps the counters (atomics); they are read at scrape time.
type ForwardStats interface {
	CacheHits() uint64
	CacheMisses() uint64
	UpstreamErrors() uint64
	StaleAnswers() uint64
}

var (
	descCacheHits   = prometheus.NewDesc("swarmdns_forward_cache_hits_total", "Forwarded queries answered from the cache.", nil, nil)
	descCacheMisses = prometheus.NewDesc("swarmdns_forward_cache_misses_total", "Forwarded queries the cache could not answer.", nil, nil)
	descUpstreamErr = prometheus.NewDesc("swarmdns_forward_upstream_errors_total", "Upstream exchanges that failed (timeout, network error, SERVFAIL, REFUSED).", nil, nil)
	descStale       = prometheus.NewDesc("swarmdns_forward_stale_answers_total", "Forwarded queries no upstream answered that were answered from an expired cache entry (--serve-stale).", nil, nil)
)

type forwardCollector struct{ f ForwardStats }

// Describe implements prometheus.Collector.
func (c forwardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCacheHits
	ch <- descCacheMisses
	ch <- descUpstreamErr
	ch <- descStale
}

// Collect implements prometheus.Collector.
func (c forwardCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(c.f.CacheHits()))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(c.f.CacheMisses()))
	ch <- prometheus.MustNewConstMetric(descUpstreamErr, prometheus.CounterValue, float64(c.f.UpstreamErrors()))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.CounterValue, float64(c.f.StaleAnswers()))
}
