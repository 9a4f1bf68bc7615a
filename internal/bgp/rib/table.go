package rib

import (
	"net/netip"
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

// table is one address family's Loc-RIB: a map from prefix to a slot of a
// dense entry slice, so the map holds no pointers and entries are reused.
type table struct {
	idx   map[netip.Prefix]uint32
	ents  []entry
	free  []uint32
	dirty []uint32
	// recursive holds the entries whose ECMP set is resolved recursively.
	recursive map[uint32]struct{}
}

func (t *table) init() {
	t.idx = map[netip.Prefix]uint32{}
	t.recursive = map[uint32]struct{}{}
}

func (t *table) lookup(p netip.Prefix) (uint32, bool) {
	i, ok := t.idx[p]
	return i, ok
}

func (t *table) getOrCreate(p netip.Prefix) uint32 {
	if i, ok := t.idx[p]; ok {
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
	t.idx[p] = i
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
	delete(t.idx, en.pfx)
	delete(t.recursive, i)
	paths := en.paths[:0]
	if cap(paths) > 8 {
		paths = nil
	}
	*en = entry{paths: paths}
	t.free = append(t.free, i)
}

// upsert adds or replaces the path (peer, id) with attribute set attr,
// taking over one reference on attr. It reports whether the path is new.
func (e *Engine) upsert(f int, pfx netip.Prefix, peer PeerID, id, attr uint32) bool {
	t := &e.tables[f]
	i := t.getOrCreate(pfx)
	en := &t.ents[i]
	for k := range en.paths {
		p := &en.paths[k]
		if p.peerID() == peer && p.id == id {
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
	}
	en.paths = append(en.paths, path{peer: uint32(peer), attr: attr, id: id})
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
	for k := range en.paths {
		p := en.paths[k]
		if p.peerID() == peer && p.id == id {
			if p.peer&staleBit != 0 {
				e.peers[peer].stale[f]--
			}
			e.unref(p.attr)
			last := len(en.paths) - 1
			en.paths[k] = en.paths[last]
			en.paths = en.paths[:last]
			t.markDirty(i)
			return true
		}
	}
	return false
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
		for k := 0; k < len(en.paths); {
			q := en.paths[k]
			if q.peerID() == peer && (!onlyStale || q.peer&staleBit != 0) {
				e.unref(q.attr)
				last := len(en.paths) - 1
				en.paths[k] = en.paths[last]
				en.paths = en.paths[:last]
				if p.prefixes > 0 {
					p.prefixes--
				}
				t.markDirty(uint32(i))
				continue
			}
			k++
		}
	}
}
