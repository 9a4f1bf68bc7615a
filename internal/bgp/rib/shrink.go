package rib

// keepCap is the most elements a scratch or output slice keeps between
// Ready calls. Reusing slices saves allocations in steady state, but one
// initial table of 100k prefixes would otherwise leave every per-Ready
// slice (best changes, ECMP changes, queued NLRI, dirty lists) at 100k
// capacity for the life of the process: ~90 bytes a route, more than the
// Loc-RIB entry itself.
const keepCap = 4096

// reuse empties s for the next Ready, dropping its array when it grew past
// keepCap so the garbage collector gets it back.
func reuse[T any](s []T) []T {
	if cap(s) > keepCap {
		return nil
	}
	return s[:0]
}
