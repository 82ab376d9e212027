package transfer

// ComputeWhole makes t compute every version of the zones from the whole
// snapshot, as before versions were derived, for benchmarks that compare
// the two.
func ComputeWhole(t *Transfer) { t.whole = true }
