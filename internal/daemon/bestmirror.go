package daemon

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// The daemon mirrors every Loc-RIB prefix's best path for snapshots
// (`clos show routes`, metrics, the FIB view), so the mirror is one entry
// per route and is kept small: a pointer-free 18-byte key and a 16-byte
// value holding the RIB's interned attributes (immutable; the RIB holds
// them while the path is best) and the neighbor as an index into a small
// table. Routes are formatted when asked. A map of netip.Prefix to Route,
// with the AS path formatted up front, cost ~210 bytes a route at 100k
// prefixes (BenchmarkRouteMemory).

// bestKey is a prefix without netip.Prefix's zone pointer, so garbage
// collections do not scan the mirror's keys.
type bestKey struct {
	addr [16]byte
	bits uint8
	v4   bool
}

func bestKeyOf(p netip.Prefix) bestKey {
	return bestKey{addr: p.Addr().As16(), bits: uint8(p.Bits()), v4: p.Addr().Is4()}
}

func (k bestKey) prefix() netip.Prefix {
	if k.v4 {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(k.addr[12:])), int(k.bits))
	}
	return netip.PrefixFrom(netip.AddrFrom16(k.addr), int(k.bits))
}

// bestRoute is one prefix's best path as the last Ready reported it.
type bestRoute struct {
	attrs *wire.PathAttrs
	peer  uint32 // index into bestPeers; 0 for none (local, or the session is gone)
	local bool
}

func (b bestRoute) route(f wire.Family, p netip.Prefix, peer netip.Addr) Route {
	r := Route{Family: f.String(), Prefix: p, Local: b.local, Peer: peer}
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

// bestPeers interns the neighbor addresses best paths come through and
// counts the best paths of each; an address no best path uses is freed.
type bestPeers struct {
	addrs []netip.Addr // slot 0 unused: "no peer"
	count []int
	idx   map[netip.Addr]uint32
	free  []uint32
}

// add counts one more best path through a and returns its index.
func (t *bestPeers) add(a netip.Addr) uint32 {
	if i, ok := t.idx[a]; ok {
		t.count[i]++
		return i
	}
	if t.idx == nil {
		t.idx = map[netip.Addr]uint32{}
		t.addrs, t.count = make([]netip.Addr, 1), make([]int, 1)
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.addrs[i], t.count[i] = a, 1
	} else {
		i = uint32(len(t.addrs))
		t.addrs = append(t.addrs, a)
		t.count = append(t.count, 1)
	}
	t.idx[a] = i
	return i
}

// drop counts one best path less through index i (0: none).
func (t *bestPeers) drop(i uint32) {
	if i == 0 {
		return
	}
	if t.count[i]--; t.count[i] == 0 {
		delete(t.idx, t.addrs[i])
		t.addrs[i] = netip.Addr{}
		t.free = append(t.free, i)
	}
}

// addr is the address of index i; the zero Addr for 0.
func (t *bestPeers) addr(i uint32) netip.Addr {
	if i == 0 {
		return netip.Addr{}
	}
	return t.addrs[i]
}

// of is the number of best paths through a.
func (t *bestPeers) of(a netip.Addr) int {
	if i, ok := t.idx[a]; ok {
		return t.count[i]
	}
	return 0
}
