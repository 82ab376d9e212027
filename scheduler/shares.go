package scheduler

// A Sharer is an Orderer that can say what it promises: the share of
// answers, in the long run, that put each endpoint first. The operations
// page shows it beside the shares it counted.
type Sharer interface {
	Shares(dst []float64) []float64
}

// Shares appends o's promised first-place shares (one per endpoint,
// summing to 1) to dst, or returns nil when o does not say (an Orderer of
// a custom policy that is no Sharer).
func Shares(o Orderer, dst []float64) []float64 {
	if s, ok := o.(Sharer); ok {
		return s.Shares(dst)
	}
	return nil
}

func equalShares(dst []float64, n int) []float64 {
	for range n {
		dst = append(dst, 1/float64(n))
	}
	return dst
}

// Shares implements Sharer: every endpoint comes first equally often.
func (r rrOrder) Shares(dst []float64) []float64 { return equalShares(dst, int(r)) }

// Shares implements Sharer: each endpoint's share of the cycle.
func (o *wrrOrder) Shares(dst []float64) []float64 {
	base := len(dst)
	for range o.n {
		dst = append(dst, 0)
	}
	for _, i := range o.seq {
		dst[base+int(i)]++
	}
	for i := base; i < len(dst); i++ {
		dst[i] /= float64(o.cycle)
	}
	return dst
}

// Shares implements Sharer: a uniform shuffle puts each endpoint first
// equally often.
func (o randomOrder) Shares(dst []float64) []float64 { return equalShares(dst, o.n) }

// Shares implements Sharer: the first group always comes first, shared as
// its own Orderer promises; the other groups never do. It returns nil
// when the first group's Orderer does not say.
func (g grouped) Shares(dst []float64) []float64 {
	n := 0
	for _, grp := range g {
		n += len(grp.Indices)
	}
	base := len(dst)
	for range n {
		dst = append(dst, 0)
	}
	for _, grp := range g {
		if len(grp.Indices) == 0 {
			continue
		}
		first := Shares(grp.Orderer, nil)
		if first == nil {
			return nil
		}
		for k, s := range first {
			dst[base+grp.Indices[k]] = s
		}
		break
	}
	return dst
}
