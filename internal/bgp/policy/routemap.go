package policy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

type setOps struct {
	localPref, med, weight          uint32
	hasLocalPref, hasMED, hasWeight bool
	commAdd, commRemove             []uint32
	prepend                         []uint32
	nextHop                         netip.Addr
}

type rmEntry struct {
	seq    int
	permit bool
	plist  *PrefixList
	aspath *ASPathList
	comm   *CommunityList
	nh     netip.Addr
	set    setOps
}

// RouteMap is a compiled route-map.
type RouteMap struct {
	name    string
	entries []rmEntry // seq order
}

// Name is the route-map's name.
func (m *RouteMap) Name() string { return m.name }

func (s *Set) compileRouteMap(rm config.RouteMap) (*RouteMap, error) {
	if len(rm.Entries) == 0 {
		return nil, fmt.Errorf("route-map %q has no entries; it would deny every route, say so with {seq: 10, action: deny}", rm.Name)
	}
	m := &RouteMap{name: rm.Name}
	seqs := map[int]bool{}
	for i, e := range rm.Entries {
		where := fmt.Sprintf("route-map %q entry %d (seq %d)", rm.Name, i, e.Seq)
		if e.Seq <= 0 || seqs[e.Seq] {
			return nil, fmt.Errorf("%s: seq must be positive and unique within the route-map", where)
		}
		seqs[e.Seq] = true
		permit, err := action(e.Action)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		c := rmEntry{seq: e.Seq, permit: permit, nh: e.Match.NextHop}
		if n := e.Match.PrefixList; n != "" {
			if c.plist = s.prefixLists[n]; c.plist == nil {
				return nil, fmt.Errorf("%s: match prefix-list %q is not defined; defined: %s", where, n, names(s.prefixLists))
			}
		}
		if n := e.Match.ASPathList; n != "" {
			if c.aspath = s.asPathLists[n]; c.aspath == nil {
				return nil, fmt.Errorf("%s: match as-path-list %q is not defined; defined: %s", where, n, names(s.asPathLists))
			}
		}
		if n := e.Match.CommunityList; n != "" {
			if c.comm = s.communityLists[n]; c.comm == nil {
				return nil, fmt.Errorf("%s: match community-list %q is not defined; defined: %s", where, n, names(s.communityLists))
			}
		}
		set := e.Set
		if set.LocalPref != nil {
			c.set.localPref, c.set.hasLocalPref = *set.LocalPref, true
		}
		if set.MED != nil {
			c.set.med, c.set.hasMED = *set.MED, true
		}
		if set.Weight != nil {
			c.set.weight, c.set.hasWeight = *set.Weight, true
		}
		for _, cs := range set.CommunityAdd {
			v, err := ParseCommunity(cs)
			if err != nil {
				return nil, fmt.Errorf("%s: set community-add: %w", where, err)
			}
			if !slices.Contains(c.set.commAdd, v) {
				c.set.commAdd = append(c.set.commAdd, v)
			}
		}
		for _, cs := range set.CommunityRemove {
			v, err := ParseCommunity(cs)
			if err != nil {
				return nil, fmt.Errorf("%s: set community-remove: %w", where, err)
			}
			c.set.commRemove = append(c.set.commRemove, v)
		}
		if len(set.Prepend) > 16 {
			return nil, fmt.Errorf("%s: set prepend has %d ASNs; want at most 16", where, len(set.Prepend))
		}
		for _, a := range set.Prepend {
			if a == 0 {
				return nil, fmt.Errorf("%s: set prepend: ASN 0 is reserved (RFC 7607); want 1..4294967295", where)
			}
		}
		c.set.prepend = slices.Clone(set.Prepend)
		c.set.nextHop = set.NextHop
		if !permit && !c.set.empty() {
			return nil, fmt.Errorf("%s: a deny entry drops the route; move the set actions to a permit entry", where)
		}
		m.entries = append(m.entries, c)
	}
	slices.SortStableFunc(m.entries, func(a, b rmEntry) int { return a.seq - b.seq })
	return m, nil
}

func (o *setOps) empty() bool {
	return !o.hasLocalPref && !o.hasMED && !o.hasWeight && len(o.commAdd) == 0 &&
		len(o.commRemove) == 0 && len(o.prepend) == 0 && !o.nextHop.IsValid()
}

// evalCtx carries what several matches of one Apply share, computed on first
// use: the AS path text.
type evalCtx struct {
	buf     *[]byte
	hasText bool
}

func (x *evalCtx) pathText(a *wire.PathAttrs) []byte {
	if !x.hasText {
		x.buf = getBuf()
		*x.buf = AppendASPath((*x.buf)[:0], a.ASPath)
		x.hasText = true
	}
	return *x.buf
}

func (x *evalCtx) release() {
	if x.buf != nil {
		putBuf(x.buf)
	}
}

func (e *rmEntry) matches(p netip.Prefix, a *wire.PathAttrs, x *evalCtx) bool {
	if e.plist != nil {
		if permit, _ := e.plist.Match(p); !permit {
			return false
		}
	}
	if e.nh.IsValid() && !hasNextHop(a, e.nh) {
		return false
	}
	if e.comm != nil {
		if permit, _ := e.comm.Match(a.Communities); !permit {
			return false
		}
	}
	if e.aspath != nil {
		if permit, _ := e.aspath.matchText(x.pathText(a)); !permit {
			return false
		}
	}
	return true
}

func hasNextHop(a *wire.PathAttrs, nh netip.Addr) bool {
	if a.NextHop == nh {
		return true
	}
	if m := a.MPReach; m != nil {
		return m.NextHop == nh || m.LinkLocalNextHop == nh
	}
	return false
}

// cow copies the attributes on the first write; untouched slices and the
// MP_REACH NLRI stay shared with the input, which nobody may modify anyway.
type cow struct {
	in, out *wire.PathAttrs
}

func (w *cow) cur() *wire.PathAttrs {
	if w.out != nil {
		return w.out
	}
	return w.in
}

func (w *cow) w() *wire.PathAttrs {
	if w.out == nil {
		c := *w.in
		w.out = &c
	}
	return w.out
}

// apply runs the set clauses: community-remove before community-add so that
// one entry can swap a community for another, then the scalar attributes,
// the prepend and the next hop. It returns nil when nothing changed.
func (o *setOps) apply(p netip.Prefix, in *wire.PathAttrs) *wire.PathAttrs {
	w := cow{in: in}
	if len(o.commRemove) > 0 {
		comms := w.cur().Communities
		n := 0
		for _, c := range comms {
			if !slices.Contains(o.commRemove, c) {
				n++
			}
		}
		if n != len(comms) {
			kept := make([]uint32, 0, n)
			for _, c := range comms {
				if !slices.Contains(o.commRemove, c) {
					kept = append(kept, c)
				}
			}
			if n == 0 {
				kept = nil
			}
			w.w().Communities = kept
		}
	}
	if len(o.commAdd) > 0 {
		comms := w.cur().Communities
		var grown []uint32
		for _, c := range o.commAdd {
			if slices.Contains(comms, c) || slices.Contains(grown, c) {
				continue
			}
			if grown == nil {
				grown = make([]uint32, len(comms), len(comms)+len(o.commAdd))
				copy(grown, comms)
			}
			grown = append(grown, c)
		}
		if grown != nil {
			w.w().Communities = grown
		}
	}
	if o.hasLocalPref {
		if c := w.cur(); !c.HasLocalPref || c.LocalPref != o.localPref {
			c = w.w()
			c.LocalPref, c.HasLocalPref = o.localPref, true
		}
	}
	if o.hasMED {
		if c := w.cur(); !c.HasMED || c.MED != o.med {
			c = w.w()
			c.MED, c.HasMED = o.med, true
		}
	}
	if len(o.prepend) > 0 {
		c := w.w()
		c.ASPath = Prepend(c.ASPath, o.prepend...)
		c.HasASPath = true
	}
	if o.nextHop.IsValid() {
		setNextHop(&w, p, o.nextHop)
	}
	return w.out
}

// Prepend returns a new path with asns in front, in the order given, added
// to the leading AS_SEQUENCE when it has room (255 ASNs per segment, RFC 4271
// 4.3) or as a new one. p is not modified.
func Prepend(p wire.ASPath, asns ...uint32) wire.ASPath {
	if len(asns) == 0 {
		return p
	}
	if len(p) > 0 && p[0].Type == wire.ASSequence && len(p[0].ASNs)+len(asns) <= 255 {
		out := make(wire.ASPath, len(p))
		copy(out, p)
		seg := make([]uint32, 0, len(asns)+len(p[0].ASNs))
		seg = append(append(seg, asns...), p[0].ASNs...)
		out[0] = wire.ASPathSegment{Type: wire.ASSequence, ASNs: seg}
		return out
	}
	out := make(wire.ASPath, 0, len(p)+1+len(asns)/255)
	for len(asns) > 0 {
		n := min(len(asns), 255)
		out = append(out, wire.ASPathSegment{Type: wire.ASSequence, ASNs: slices.Clone(asns[:n])})
		asns = asns[n:]
	}
	return append(out, p...)
}

// setNextHop replaces the next hop of the route's own family, as FRR's "set
// ip next-hop" and "set ipv6 next-hop global|local" do: an IPv4 address goes
// into NEXT_HOP of an IPv4 route; an IPv6 address into MP_REACH_NLRI (for an
// IPv4 route that is the RFC 8950 extended next hop), a link-local one as the
// link-local next hop beside the global one. An IPv4 next hop on an IPv6
// route is left out, as FRR ignores a "set ip next-hop" on IPv6 routes.
func setNextHop(w *cow, p netip.Prefix, nh netip.Addr) {
	v4route := p.Addr().Is4()
	if nh.Is4() {
		if !v4route {
			return
		}
		if c := w.cur(); c.NextHop != nh {
			w.w().NextHop = nh
		}
		if m := w.cur().MPReach; m != nil && m.Family.AFI == wire.AFIIPv4 && (m.NextHop != nh || m.LinkLocalNextHop.IsValid()) {
			cp := *m
			cp.NextHop, cp.LinkLocalNextHop = nh, netip.Addr{}
			w.w().MPReach = &cp
		}
		return
	}
	m := w.cur().MPReach
	var cp wire.MPReach
	if m != nil {
		cp = *m
	} else if v4route {
		cp.Family = wire.IPv4Unicast
	} else {
		cp.Family = wire.IPv6Unicast
	}
	if nh.IsLinkLocalUnicast() {
		cp.LinkLocalNextHop = nh
	} else {
		cp.NextHop, cp.LinkLocalNextHop = nh, netip.Addr{}
	}
	if m == nil || cp.NextHop != m.NextHop || cp.LinkLocalNextHop != m.LinkLocalNextHop {
		w.w().MPReach = &cp
	}
}
