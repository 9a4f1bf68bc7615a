package rib

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
)

// NextHop is one member of an ECMP set as the FIB installs it.
type NextHop struct {
	// Addr is the path's next hop (the IPv6 link-local one when the peer
	// sent both); the FIB resolves it, on Peer's interface for a
	// link-local address.
	Addr netip.Addr
	Peer PeerID
	// Weight is the member's share, 1 to 255. All members weigh 1 unless
	// every one carries a link bandwidth extended community, in which case
	// weights are proportional to bandwidth (seed 002 7.3.3).
	Weight uint32
}

// ecmpGroup is one interned ECMP set; many prefixes share one, so a member
// change in a Clos fabric touches one group, not every prefix.
type ecmpGroup struct {
	key  string
	hops []NextHop
	refs uint32
}

type ecmpTable struct {
	byKey  map[string]uint32
	groups []ecmpGroup
	free   []uint32
	keys   []uint64
	buf    []byte
}

func (t *ecmpTable) init() {
	t.byKey = map[string]uint32{}
	t.groups = make([]ecmpGroup, 1)
}

// groupFor interns the ECMP set made of paths[idx...] of family slot f
// and returns it with one more reference.
func (e *Engine) groupFor(f int, paths []path, idx []int) uint32 {
	t := &e.ecmp
	t.keys = t.keys[:0]
	for _, i := range idx {
		p := paths[i]
		nh := e.attrs.sets[p.attr].nh[f]
		if nh == 0 {
			continue
		}
		t.keys = append(t.keys, uint64(p.peerID())<<32|uint64(nh))
	}
	if len(t.keys) == 0 {
		return 0
	}
	slices.Sort(t.keys)
	t.keys = slices.Compact(t.keys)
	t.buf = t.buf[:0]
	for _, k := range t.keys {
		t.buf = binary.LittleEndian.AppendUint64(t.buf, k)
	}
	if g, ok := t.byKey[string(t.buf)]; ok {
		t.groups[g].refs++
		return g
	}
	hops := make([]NextHop, len(t.keys))
	weighted := true
	var maxBW float32
	for i, k := range t.keys {
		n := e.nhs.list[uint32(k)].key
		hops[i] = NextHop{Addr: n.addr, Peer: PeerID(k >> 32), Weight: 1}
		if !n.hasBW || n.bw <= 0 || math.IsNaN(float64(n.bw)) || math.IsInf(float64(n.bw), 0) {
			weighted = false
		} else if n.bw > maxBW {
			maxBW = n.bw
		}
	}
	if weighted {
		for i, k := range t.keys {
			bw := e.nhs.list[uint32(k)].key.bw
			w := uint32(math.Round(float64(bw) / float64(maxBW) * 255))
			hops[i].Weight = max(w, 1)
		}
	}
	slices.SortFunc(hops, func(a, b NextHop) int {
		if a.Peer != b.Peer {
			return int(a.Peer) - int(b.Peer)
		}
		return a.Addr.Compare(b.Addr)
	})
	return e.addGroup(ecmpGroup{key: string(t.buf), hops: hops, refs: 1})
}

func (e *Engine) addGroup(g ecmpGroup) uint32 {
	t := &e.ecmp
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.groups[i] = g
	} else {
		i = uint32(len(t.groups))
		t.groups = append(t.groups, g)
	}
	t.byKey[g.key] = i
	return i
}

func (e *Engine) putGroup(i uint32) {
	if i == 0 {
		return
	}
	t := &e.ecmp
	g := &t.groups[i]
	g.refs--
	if g.refs == 0 {
		delete(t.byKey, g.key)
		*g = ecmpGroup{}
		t.free = append(t.free, i)
	}
}
