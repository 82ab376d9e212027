package forward

import (
	"net/netip"
	"time"
)

// UpstreamHealth is what the forwarder knows of one upstream now, for the
// operations page.
type UpstreamHealth struct {
	Addr netip.AddrPort
	// Down is true while the upstream is tried only after those that are
	// up, for DownFor more.
	Down    bool
	DownFor time.Duration
	// Failures counts its timeouts and network errors in a row.
	Failures int
}

// Health returns every upstream's health, in the configured order.
func (f *Forwarder) Health() []UpstreamHealth {
	now := f.now()
	out := make([]UpstreamHealth, len(f.upstreams))
	for i, up := range f.upstreams {
		h := &f.health[i]
		out[i] = UpstreamHealth{Addr: up, Failures: int(h.fails.Load())}
		if until := time.Unix(0, h.downUntil.Load()); h.downUntil.Load() != 0 && until.After(now) {
			out[i].Down, out[i].DownFor = true, until.Sub(now)
		}
	}
	return out
}
