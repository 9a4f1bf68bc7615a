package policy

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
)

// RIB adapts a neighbor's route-maps, and its prepend, to rib.Policy: the
// form closd and clos sim hand the RIB.
type RIB struct {
	N Neighbor
	// Prepend is the extra copies of our AS put on every path sent (the
	// RIB has already put the one eBGP requires).
	Prepend []uint32
}

func (r RIB) Import(_ rib.PathInfo, _ wire.Family, p netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	return r.N.Import(p, a)
}

func (r RIB) Export(_ rib.PathInfo, _ wire.Family, p netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	out, ok := r.N.Export(p, a)
	if !ok || len(r.Prepend) == 0 {
		return out, ok
	}
	c := out.Clone()
	c.ASPath = Prepend(out.ASPath, r.Prepend...)
	c.HasASPath = true
	return c, true
}
