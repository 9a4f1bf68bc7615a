package rib

import (
	"cmp"
	"encoding/binary"
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Host routes learned from ARP/ND (internal/neigh) carry a mobility
// sequence number in an extended community laid out like EVPN's MAC
// Mobility community (RFC 7432 7.7): type 0x06, subtype 0x00, flags (0x01
// sticky), a reserved octet, a 4-octet sequence. When a VM moves, the new
// leaf advertises a higher sequence; selection must prefer it before any
// other step, or the fabric keeps sending to the old leaf (a shorter AS
// path, a local origination) until that one gives up. The layout is
// repeated here rather than imported so the RIB stays free of the neigh
// package's netlink side; a test checks both agree.
const (
	mobilityType    = 0x06
	mobilitySubtype = 0x00
	mobilitySticky  = 0x01
)

// Mobility reads the mobility community of a; ok is false without one.
// With several (a malformed or merged route), the highest ranks, as it is
// the newest claim.
func Mobility(a *wire.PathAttrs) (seq uint32, sticky, ok bool) {
	for _, c := range a.ExtCommunities {
		if c[0] != mobilityType || c[1] != mobilitySubtype {
			continue
		}
		s, st := binary.BigEndian.Uint32(c[4:]), c[2]&mobilitySticky != 0
		if !ok || compareMobility(st, s, sticky, seq) < 0 {
			seq, sticky, ok = s, st, true
		}
	}
	return seq, sticky, ok
}

// compareMobility orders two claims, better first (-1 when a wins): sticky
// over not sticky (RFC 7432 15.2), then the higher sequence. A path
// without the community is sequence 0, not sticky, so two ordinary routes
// compare equal and the usual steps decide; equal sequences from two
// leaves (a dual-homed server) stay equal and may share the ECMP set.
func compareMobility(aSticky bool, aSeq uint32, bSticky bool, bSeq uint32) int {
	if aSticky != bSticky {
		if aSticky {
			return -1
		}
		return 1
	}
	return cmp.Compare(bSeq, aSeq)
}

// decodeMobility fills the selection fields of a new attribute set.
func decodeMobility(s *attrSet) {
	s.mobSeq, s.mobSticky, _ = Mobility(s.a)
}

// mobilityStep is step 0 of selection, before weight.
func mobilityStep(sa, sb *attrSet) int {
	return compareMobility(sa.mobSticky, sa.mobSeq, sb.mobSticky, sb.mobSeq)
}

// RemoteHost is the best path other routers advertise for a watched host
// prefix, for the engine that decides whether a host it holds has moved
// away (neigh.RemoteRoute). Present false: no other router advertises it
// any more. Our own originations never count.
type RemoteHost struct {
	Family  wire.Family
	Prefix  netip.Prefix
	Present bool
	Seq     uint32
	Sticky  bool
}

type remoteSeen struct {
	seq    uint32
	sticky bool
}

// mobilityWatch is the state behind WatchRemoteHosts.
type mobilityWatch struct {
	fn   func(netip.Prefix) bool
	seen map[netip.Prefix]remoteSeen
}

// WatchRemoteHosts makes Ready report, in Output.Remote, every change of
// the best peer-learned path (its presence, sequence and sticky flag) for
// the prefixes fn accepts. The best local path may hide it from
// Output.Best (ours wins), yet the host's engine must still hear that
// another leaf claims the address. nil stops watching.
func (e *Engine) WatchRemoteHosts(fn func(netip.Prefix) bool) {
	e.mob.fn = fn
	if e.mob.seen == nil {
		e.mob.seen = map[netip.Prefix]remoteSeen{}
	}
	if fn == nil {
		clear(e.mob.seen)
	}
}

// mobilityNotice runs after a watched entry is decided.
func (e *Engine) mobilityNotice(f int, en *entry) {
	if e.mob.fn == nil || !e.mob.fn(en.pfx) {
		return
	}
	best := -1
	for i, p := range en.paths {
		if p.peerID() == localPeer {
			continue
		}
		if best < 0 || e.compare(p, en.paths[best]) < 0 {
			best = i
		}
	}
	old, had := e.mob.seen[en.pfx]
	if best < 0 {
		if had {
			delete(e.mob.seen, en.pfx)
			e.out.Remote = append(e.out.Remote, RemoteHost{Family: families[f], Prefix: en.pfx})
		}
		return
	}
	s := &e.attrs.sets[en.paths[best].attr]
	now := remoteSeen{seq: s.mobSeq, sticky: s.mobSticky}
	if had && old == now {
		return
	}
	e.mob.seen[en.pfx] = now
	e.out.Remote = append(e.out.Remote, RemoteHost{Family: families[f], Prefix: en.pfx, Present: true, Seq: now.seq, Sticky: now.sticky})
}
