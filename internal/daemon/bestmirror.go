package daemon

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// bestRoute is the daemon's mirror of one prefix's best path, kept small
// because there is one per Loc-RIB prefix: the interned attributes the
// RIB reported (immutable, and the RIB holds them while the path is best)
// instead of a Route with its formatted AS path, which cost ~200 bytes a
// prefix at 100k prefixes. route builds the Route when asked.
type bestRoute struct {
	attrs *wire.PathAttrs
	peer  netip.Addr
	local bool
}

func (b bestRoute) route(f wire.Family, p netip.Prefix) Route {
	r := Route{Family: f.String(), Prefix: p, Local: b.local, Peer: b.peer}
	if a := b.attrs; a != nil {
		r.ASPath = asPathString(a.ASPath)
		r.NextHop = a.NextHop
		if a.MPReach != nil {
			r.NextHop = a.MPReach.NextHop
		}
		r.Communities = len(a.Communities)
	}
	return r
}
