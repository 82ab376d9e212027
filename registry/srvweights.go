package registry

import (
	"slices"

	"github.com/swarmdns/swarmdns/scheduler"
)

// srvWeightAt is where packSRV puts the weight field in a record: after
// the owner pointer (2), type, class, TTL and RDLENGTH (10) and the
// priority (2).
const srvWeightAt = 14

// reduceSRVWeights rewrites the weight field of the SRV records recs,
// just packed (zero weights not yet drained; local says which are this
// node's tier), to the weights the scheduler rotates by (scheduler.Reduce):
// within each priority (the tiers of --prefer-local and --prefer-label),
// divided by their greatest common divisor and scaled to 16 bits in proportion. A client
// choosing by RFC 2782 then gives each target the share the rotation
// gives it, and a product of weights over 65535 keeps its proportion
// instead of being cut to 65535. Records of weight 0 are drained later,
// unless every record has weight 0: then each gets 1, answered equally.
func (p *packer) reduceSRVWeights(recs []rec, local []locality) {
	anyWeight := false
	for i := range recs {
		anyWeight = anyWeight || recs[i].weight > 0
	}
	kept := func(i int, prio uint16) bool {
		return p.srvPriority[local[i]] == prio && (recs[i].weight > 0 || !anyWeight)
	}
	for t, group := range p.srvPriority {
		if slices.Contains(p.srvPriority[:t], group) {
			continue // tiers that share a priority are one group
		}
		n := 0
		for i := range recs {
			if kept(i, group) {
				n++
			}
		}
		w := takeN(&p.weights, n)[:0]
		for i := range recs {
			if kept(i, group) {
				w = append(w, max(recs[i].weight, 1))
			}
		}
		scheduler.Reduce(w)
		for i := range recs {
			if kept(i, group) {
				at := recs[i].off + srvWeightAt
				p.tab.bytes[at], p.tab.bytes[at+1] = byte(w[0]>>8), byte(w[0])
				w = w[1:]
			}
		}
	}
}
