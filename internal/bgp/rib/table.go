package rib

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// staleBit marks a path kept across a graceful restart (RFC 4724).
const staleBit = 1 << 31

// path is one route to a prefix: 12 bytes, no pointers, so the garbage
// collector never scans the path slices' contents and a prefix with 50
// paths costs 600 bytes.
type path struct {
	peer uint32 // PeerID, staleBit set while stale
	attr uint32 // index into Engine.attrs.sets
	id   uint32 // add-path identifier as received (RFC 7911)
}

func (p path) peerID() PeerID { return PeerID(p.peer &^ staleBit) }

// entry is one prefix of the Loc-RIB with every Adj-RIB-In path to it.
type entry struct {
	pfx   netip.Prefix
	paths []path
	// best and group are what the last Ready reported; best holds a
	// reference on its attribute set so it can be compared after the path
	// itself is gone.
	best  path
	group uint32
	dirty bool
	live  bool
	// force re-decides the advertisement even if selection is unchanged.
	force bool
	// recursive: the ECMP set is resolved through other routes.
	recursive bool
}

// pkey is a prefix as a map key. netip.Prefix holds a pointer (the zone),
// so a map keyed by it is scanned by every garbage collection; pkey has
// none. Tables are per family, so IPv4 and IPv6 keys never meet.
type pkey struct {
	hi, lo uint64
	bits   uint8
}

func keyOf(p netip.Prefix) pkey {
	a := p.Addr().As16()
	return pkey{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), uint8(p.Bits())}
}

// table is one address family's Loc-RIB: a map from prefix to a slot of a
// dense entry slice, so the map holds no pointers and entries are reused.
type table struct {
	idx   map[pkey]uint32
	ents  []entry
	free  []uint32
	dirty []uint32
	// recursive holds the entries whose ECMP set is resolved recursively.
	recursive map[uint32]struct{}
}

func (t *table) init() {
	t.idx = map[pkey]uint32{}
	t.recursive = map[uint32]struct{}{}
}

func (t *table) lookup(p netip.Prefix) (uint32, bool) {
	i, ok := t.idx[keyOf(p)]
	return i, ok
}

func (t *table) getOrCreate(p netip.Prefix) uint32 {
	k := keyOf(p)
	if i, ok := t.idx[k]; ok {
		return i
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		paths := t.ents[i].paths[:0]
		t.ents[i] = entry{pfx: p, paths: paths, live: true}
	} else {
		i = uint32(len(t.ents))
		t.ents = append(t.ents, entry{pfx: p, live: true})
	}
	t.idx[k] = i
	return i
}

func (t *table) markDirty(i uint32) {
	// Ready clears the flag as it decides an entry, so an entry changed
	// again later in the same Ready (an aggregate switching) is queued
	// again.
	en := &t.ents[i]
	if !en.dirty {
		en.dirty = true
		t.dirty = append(t.dirty, i)
	}
}

// release frees an entry that has no paths and nothing advertised.
func (t *table) release(i uint32) {
	en := &t.ents[i]
	delete(t.idx, keyOf(en.pfx))
	delete(t.recursive, i)
	paths := en.paths[:0]
	if cap(paths) > 8 {
		paths = nil
	}
	*en = entry{paths: paths}
	t.free = append(t.free, i)
}

// find returns where the path (peer, id) is in paths, kept sorted by
// (peer, id), or where it would go. Binary search keeps a prefix that many
// peers announce (every spine, every ToR of a pod) from costing a scan of
// all its paths per announcement, quadratic in the number of peers.
func find(paths []path, peer PeerID, id uint32) (int, bool) {
	lo, hi := 0, len(paths)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		q := paths[m]
		if qp := q.peerID(); qp < peer || (qp == peer && q.id < id) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(paths) && paths[lo].peerID() == peer && paths[lo].id == id
}

// upsert adds or replaces the path (peer, id) with attribute set attr,
// taking over one reference on attr. It reports whether the path is new.
func (e *Engine) upsert(f int, pfx netip.Prefix, peer PeerID, id, attr uint32) bool {
	t := &e.tables[f]
	i := t.getOrCreate(pfx)
	en := &t.ents[i]
	k, found := find(en.paths, peer, id)
	if found {
		p := &en.paths[k]
		stale := p.peer&staleBit != 0
		p.peer = uint32(peer)
		if stale {
			e.peers[peer].stale[f]--
		}
		if p.attr == attr {
			e.unref(attr)
			if !stale {
				return false
			}
		} else {
			e.unref(p.attr)
			p.attr = attr
		}
		t.markDirty(i)
		return false
	}
	en.paths = slices.Insert(en.paths, k, path{peer: uint32(peer), attr: attr, id: id})
	t.markDirty(i)
	return true
}

// withdraw removes the path (peer, id) and reports whether there was one.
func (e *Engine) withdraw(f int, pfx netip.Prefix, peer PeerID, id uint32) bool {
	t := &e.tables[f]
	i, ok := t.lookup(pfx)
	if !ok {
		return false
	}
	en := &t.ents[i]
	k, found := find(en.paths, peer, id)
	if !found {
		return false
	}
	p := en.paths[k]
	if p.peer&staleBit != 0 {
		e.peers[peer].stale[f]--
	}
	e.unref(p.attr)
	en.paths = slices.Delete(en.paths, k, k+1)
	t.markDirty(i)
	return true
}

// markStale flags every path of peer and returns how many there are.
func (t *table) markStale(e *Engine, peer PeerID) int {
	n := 0
	for i := range t.ents {
		en := &t.ents[i]
		for k := range en.paths {
			if en.paths[k].peerID() == peer && en.paths[k].peer&staleBit == 0 {
				en.paths[k].peer |= staleBit
				n++
			}
		}
	}
	return n
}

// removePeer drops the peer's paths (only stale ones with onlyStale).
func (t *table) removePeer(e *Engine, peer PeerID, onlyStale bool) {
	p := &e.peers[peer]
	for i := range t.ents {
		en := &t.ents[i]
		if !en.live {
			continue
		}
		n := len(en.paths)
		en.paths = slices.DeleteFunc(en.paths, func(q path) bool {
			if q.peerID() != peer || (onlyStale && q.peer&staleBit == 0) {
				return false
			}
			e.unref(q.attr)
			if p.prefixes > 0 {
				p.prefixes--
			}
			return true
		})
		if len(en.paths) != n {
			t.markDirty(uint32(i))
		}
	}
}

// prefix is the prefix of key k in family slot f.
func (k pkey) prefix(f int) netip.Prefix {
	if f == famV4 {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(k.lo >> 24), byte(k.lo >> 16), byte(k.lo >> 8), byte(k.lo)}), int(k.bits))
	}
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], k.hi)
	binary.BigEndian.PutUint64(a[8:], k.lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), int(k.bits))
}
