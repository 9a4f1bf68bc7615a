package rib

import (
	"net/netip"
	"slices"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Route is one path as `clos show` displays it. Attrs is shared and read
// only.
type Route struct {
	Prefix netip.Prefix
	Peer   PeerID // 0 for locally originated
	PathID uint32
	Attrs  *wire.PathAttrs
	// Best and Multipath say whether the path is the best one and whether
	// it is in the ECMP set (the best path is in it too); Stale marks a
	// path kept across a peer's graceful restart.
	Best, Multipath, Stale bool
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// sortedEntries lists the live entries of family slot f in prefix order.
func (e *Engine) sortedEntries(f int) []uint32 {
	t := &e.tables[f]
	idx := make([]uint32, 0, len(t.idx))
	for _, i := range t.idx {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b uint32) int { return comparePrefix(t.ents[a].pfx, t.ents[b].pfx) })
	return idx
}

// LocRIB calls fn for every path of family f in prefix order, with its
// selection state as of the last Ready, until fn returns false. peer
// filters to one peer's Adj-RIB-In when non-zero.
func (e *Engine) LocRIB(f wire.Family, peer PeerID, fn func(Route) bool) error {
	s, ok := famSlot(f)
	if !ok {
		return nil
	}
	if peer != localPeer {
		if _, err := e.peer(peer); err != nil {
			return err
		}
	}
	t := &e.tables[s]
	for _, i := range e.sortedEntries(s) {
		en := &t.ents[i]
		var mp []int
		if b := slices.IndexFunc(en.paths, func(p path) bool {
			return en.best.attr != 0 && p.peerID() == en.best.peerID() && p.id == en.best.id
		}); b >= 0 {
			mp = e.multipath(nil, en.paths, b)
		}
		for k, p := range en.paths {
			if peer != localPeer && p.peerID() != peer {
				continue
			}
			r := Route{Prefix: en.pfx, Peer: p.peerID(), PathID: p.id, Attrs: e.attrs.sets[p.attr].a,
				Best: len(mp) > 0 && mp[0] == k, Multipath: slices.Contains(mp, k), Stale: p.peer&staleBit != 0}
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

// AdjRIBOut calls fn for every path advertised to peer in family f, in
// prefix order, with the attributes as sent to it (its own next hop).
func (e *Engine) AdjRIBOut(id PeerID, f wire.Family, fn func(Route) bool) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	s, ok := famSlot(f)
	if !ok || p.group < 0 {
		return nil
	}
	g := e.groups[p.group]
	pfxs := make([]netip.Prefix, 0, len(g.adv[s]))
	for k := range g.adv[s] {
		pfxs = append(pfxs, k.prefix(s))
	}
	slices.SortFunc(pfxs, comparePrefix)
	for _, pfx := range pfxs {
		for _, o := range g.adv[s][keyOf(pfx)] {
			if o.skip == id {
				continue
			}
			a := e.attrs.sets[o.attr].a
			if o.self && !nextHopMatches(a, p) {
				a = a.Clone()
				if a.MPReach != nil {
					a.MPReach.NextHop, a.MPReach.LinkLocalNextHop = p.cfg.LocalAddress, p.cfg.LocalLinkLocal
				} else {
					a.NextHop = p.cfg.LocalAddress
				}
			}
			if !fn(Route{Prefix: pfx, Peer: id, PathID: o.id, Attrs: a}) {
				return nil
			}
		}
	}
	return nil
}
