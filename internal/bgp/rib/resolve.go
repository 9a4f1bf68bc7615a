package rib

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
)

// Recursive next hops (seed 002 7.5): a controller on a multihop session
// injects a prefix whose next hops are addresses of other switches, which
// the fabric reaches through BGP routes of their own. The FIB needs the
// interfaces, so for paths from peers with ResolveNextHop the ECMP set is
// the union of the ECMP sets of the routes covering each next hop (longest
// match, one level deep: a route that is itself resolved recursively does
// not resolve others). A next hop nothing covers is left out; with none
// left the prefix has no forwarding entry (NextHops nil), though it stays
// the best path and is still advertised.

// needsResolve reports whether any ECMP member came from a peer whose next
// hops must be resolved.
func (e *Engine) needsResolve(paths []path, idx []int) bool {
	for _, i := range idx {
		if e.peers[paths[i].peerID()].cfg.ResolveNextHop {
			return true
		}
	}
	return false
}

// lookupResolver finds the entry whose ECMP set forwards to addr.
func (e *Engine) lookupResolver(addr netip.Addr, self netip.Prefix) (ecmpGroup, bool) {
	if !addr.IsValid() {
		return ecmpGroup{}, false
	}
	addr = addr.Unmap()
	s := famV4
	if addr.Is6() {
		s = famV6
	}
	t := &e.tables[s]
	for bits := addr.BitLen(); bits >= 0; bits-- {
		p, _ := addr.Prefix(bits)
		i, ok := t.lookup(p)
		if !ok || p == self {
			continue
		}
		en := &t.ents[i]
		if en.group == 0 || en.recursive {
			continue
		}
		return e.ecmp.groups[en.group], true
	}
	return ecmpGroup{}, false
}

// resolveGroup interns the resolved ECMP set of entry en, whose selection
// is idx, and returns it with a reference (0 when nothing resolves).
func (e *Engine) resolveGroup(f int, en *entry, idx []int) uint32 {
	type hopKey struct {
		addr netip.Addr
		peer PeerID
	}
	share := map[hopKey]float64{}
	weighted := true
	for _, i := range idx {
		k := e.nhs.list[e.attrs.sets[en.paths[i].attr].nh[f]].key
		if !k.hasBW || !(k.bw > 0) || math.IsInf(float64(k.bw), 0) {
			weighted = false
		}
	}
	for _, i := range idx {
		p := en.paths[i]
		n := e.nhs.list[e.attrs.sets[p.attr].nh[f]].key
		w := 1.0
		if weighted {
			w = float64(n.bw)
		}
		if !e.peers[p.peerID()].cfg.ResolveNextHop {
			share[hopKey{n.addr, p.peerID()}] += w
			continue
		}
		g, ok := e.lookupResolver(n.addr, en.pfx)
		if !ok {
			continue
		}
		var sum float64
		for _, h := range g.hops {
			sum += float64(h.Weight)
		}
		for _, h := range g.hops {
			share[hopKey{h.Addr, h.Peer}] += w * float64(h.Weight) / sum
		}
	}
	if len(share) == 0 {
		return 0
	}
	hops := make([]NextHop, 0, len(share))
	var maxW float64
	for k, w := range share {
		hops = append(hops, NextHop{Addr: k.addr, Peer: k.peer})
		maxW = max(maxW, w)
	}
	slices.SortFunc(hops, func(a, b NextHop) int {
		if a.Peer != b.Peer {
			return int(a.Peer) - int(b.Peer)
		}
		return a.Addr.Compare(b.Addr)
	})
	uniform := true
	for i := range hops {
		w := share[hopKey{hops[i].Addr, hops[i].Peer}]
		hops[i].Weight = max(uint32(math.Round(w/maxW*255)), 1)
		if w != maxW {
			uniform = false
		}
	}
	if uniform {
		for i := range hops {
			hops[i].Weight = 1
		}
	}
	// Keyed by the hops themselves; the leading marker makes the length
	// 1 mod 8, so no key of a plain (peer, next hop) group is equal.
	t := &e.ecmp
	t.buf = append(t.buf[:0], 0xff)
	for _, h := range hops {
		a := h.Addr.As16()
		t.buf = append(t.buf, a[:]...)
		t.buf = binary.LittleEndian.AppendUint32(t.buf, uint32(h.Peer))
		t.buf = binary.LittleEndian.AppendUint32(t.buf, h.Weight)
	}
	if g, ok := t.byKey[string(t.buf)]; ok {
		t.groups[g].refs++
		return g
	}
	return e.addGroup(ecmpGroup{key: string(t.buf), hops: hops, refs: 1})
}

// reresolve recomputes the ECMP set of every recursively resolved entry
// after the routes they resolve through may have changed.
func (e *Engine) reresolve() {
	for f := range e.tables {
		t := &e.tables[f]
		if len(t.recursive) == 0 {
			continue
		}
		idxs := make([]uint32, 0, len(t.recursive))
		for i := range t.recursive {
			idxs = append(idxs, i)
		}
		slices.SortFunc(idxs, func(a, b uint32) int { return comparePrefix(t.ents[a].pfx, t.ents[b].pfx) })
		for _, i := range idxs {
			en := &t.ents[i]
			b := slices.IndexFunc(en.paths, func(p path) bool {
				return en.best.attr != 0 && p.peerID() == en.best.peerID() && p.id == en.best.id
			})
			if b < 0 {
				continue
			}
			idx := e.multipath(e.idxBuf[:0], en.paths, b)
			grp := e.resolveGroup(f, en, idx)
			e.idxBuf = idx[:0]
			if grp == en.group {
				e.putGroup(grp)
				continue
			}
			c := ECMPChange{Family: families[f], Prefix: en.pfx, Group: grp}
			if grp != 0 {
				c.NextHops = e.ecmp.groups[grp].hops
			}
			e.putGroup(en.group)
			en.group = grp
			e.out.ECMP = append(e.out.ECMP, c)
		}
	}
}
