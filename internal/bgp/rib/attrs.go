package rib

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// attrSet is one interned attribute set and what best-path selection reads
// from it, decoded once so that comparing two paths touches no pointers
// beyond this record.
type attrSet struct {
	a    *wire.PathAttrs
	key  string
	refs uint32
	// Decoded for selection.
	localPref  uint32
	med        uint32
	asLen      uint32
	neighborAS uint32
	clusterLen uint32
	origin     uint8
	hasOrig    bool // ORIGINATOR_ID present
	mobSticky  bool // mobility community (mobility.go)
	mobSeq     uint32
	originator netip.Addr
	// nh is the interned next hop per family slot (0 = none).
	nh [nFam]uint32
}

// attrTable interns attribute sets by their canonical key. Index 0 is never
// used so a zero path is recognisably empty.
type attrTable struct {
	byKey map[string]uint32
	sets  []attrSet
	free  []uint32
}

func (t *attrTable) init() {
	t.byKey = map[string]uint32{}
	t.sets = make([]attrSet, 1)
}

// intern returns the index of a's set with one more reference. a is cloned
// when new, without its NLRI, so the caller's Update is not retained.
func (e *Engine) intern(a *wire.PathAttrs) uint32 {
	t := &e.attrs
	e.keyBuf = a.AppendKey(e.keyBuf[:0])
	if i, ok := t.byKey[string(e.keyBuf)]; ok {
		t.sets[i].refs++
		return i
	}
	c := a.Clone()
	c.MPUnreach = nil
	if c.MPReach != nil {
		c.MPReach.NLRI = nil
	}
	s := attrSet{a: c, key: string(e.keyBuf), refs: 1}
	s.localPref = 100
	if c.HasLocalPref {
		s.localPref = c.LocalPref
	}
	if c.HasMED {
		s.med = c.MED
	}
	s.asLen = uint32(c.ASPath.Len())
	s.neighborAS, _ = c.ASPath.First()
	s.clusterLen = uint32(len(c.ClusterList))
	s.origin = uint8(c.Origin)
	if c.OriginatorID.IsValid() {
		s.hasOrig = true
		s.originator = c.OriginatorID
	}
	decodeMobility(&s)
	bw, hasBW := linkBandwidth(c)
	for f := range families {
		if nh := nextHopOf(c, f); nh.IsValid() {
			s.nh[f] = e.nhs.get(nh, bw, hasBW)
		}
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.sets[i] = s
	} else {
		i = uint32(len(t.sets))
		t.sets = append(t.sets, s)
	}
	t.byKey[s.key] = i
	return i
}

func (e *Engine) ref(i uint32) {
	if i != 0 {
		e.attrs.sets[i].refs++
	}
}

// unref drops a reference and returns the set's memory with the last one.
func (e *Engine) unref(i uint32) {
	if i == 0 {
		return
	}
	t := &e.attrs
	s := &t.sets[i]
	s.refs--
	if s.refs > 0 {
		return
	}
	for _, nh := range s.nh {
		e.nhs.put(nh)
	}
	e.forgetAttr(i)
	delete(t.byKey, s.key)
	*s = attrSet{}
	t.free = append(t.free, i)
}

// nextHopOf is the forwarding next hop of a path of family slot f: the
// MP_REACH next hop when it is for that family (an IPv4 route may carry an
// IPv6 one, RFC 8950), else NEXT_HOP for IPv4. An IPv6 link-local next hop
// is preferred when present, as fabric sessions run over link-local
// addresses and the FIB resolves it on the peer's interface.
func nextHopOf(a *wire.PathAttrs, f int) netip.Addr {
	if mp := a.MPReach; mp != nil && mp.Family == families[f] {
		if mp.LinkLocalNextHop.IsValid() {
			return mp.LinkLocalNextHop
		}
		return mp.NextHop
	}
	if f == famV4 {
		return a.NextHop
	}
	return netip.Addr{}
}

// linkBandwidth returns the first link bandwidth extended community's value
// (draft-ietf-idr-link-bandwidth), used for weighted ECMP (seed 002 7.3.3).
func linkBandwidth(a *wire.PathAttrs) (float32, bool) {
	for _, c := range a.ExtCommunities {
		if _, bw, ok := c.LinkBandwidth(); ok {
			return bw, true
		}
	}
	return 0, false
}

// nhKey identifies a next hop with its bandwidth.
type nhKey struct {
	addr  netip.Addr
	bw    float32
	hasBW bool
}

type nhEntry struct {
	key  nhKey
	refs uint32
}

// nhTable interns next hops so an ECMP set is a short list of integers.
type nhTable struct {
	byKey map[nhKey]uint32
	list  []nhEntry
	free  []uint32
}

func (t *nhTable) init() {
	t.byKey = map[nhKey]uint32{}
	t.list = make([]nhEntry, 1)
}

func (t *nhTable) get(a netip.Addr, bw float32, hasBW bool) uint32 {
	k := nhKey{a, bw, hasBW}
	if i, ok := t.byKey[k]; ok {
		t.list[i].refs++
		return i
	}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = uint32(len(t.list))
		t.list = append(t.list, nhEntry{})
	}
	t.list[i] = nhEntry{key: k, refs: 1}
	t.byKey[k] = i
	return i
}

func (t *nhTable) put(i uint32) {
	if i == 0 {
		return
	}
	n := &t.list[i]
	n.refs--
	if n.refs == 0 {
		delete(t.byKey, n.key)
		*n = nhEntry{}
		t.free = append(t.free, i)
	}
}
