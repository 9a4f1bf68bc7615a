package rib

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// An update group is the peers that would be sent the same UPDATEs: same
// peer type, export policy, encoding options and rewriting knobs. The group
// decides each prefix once, keeps one Adj-RIB-Out, encodes each batch once
// and hands the same bytes to every member (seed 002 7.4.3). Next-hop-self
// is the one per-peer difference: messages are encoded with the first
// member's address and copied with the next hop patched for members whose
// local address differs, so eBGP peers on different links still share a
// group.
type groupKey struct {
	typ         PeerType
	localAS     uint32
	export      string
	as4, extMsg bool
	addPath     [nFam]bool
	extNH       bool
	nhUnchanged bool
	nhSelf      bool
	removePriv  RemovePrivateAS
	noComm      bool
	defOrig     bool
	mrai        time.Duration
	// nhShape is the form of our next hop: IPv4, IPv6, IPv6 with a
	// link-local beside it; only then can patched messages keep their
	// length.
	nhShape uint8
	fams    [nFam]bool
}

// outPath is one advertised path in a group's Adj-RIB-Out.
type outPath struct {
	attr uint32
	id   uint32
	// skip is the member the path came from; it is not sent to it.
	skip PeerID
	self bool
}

type bundleKind uint8

const (
	bundleAnnounce bundleKind = iota
	bundleWithdraw
)

type bundleKey struct {
	kind         bundleKind
	fam          uint8
	attr         uint32
	self         bool
	except, only PeerID
}

type bundle struct {
	key  bundleKey
	nlri []wire.NLRI
}

type xform struct {
	out  uint32
	self bool
	ok   bool
}

type dumpReq struct {
	peer    PeerID
	fams    [nFam]bool
	eor     bool // PeerUp: End-of-RIB after the dump
	enhance bool // enhanced route refresh: BoRR before, EoRR after
}

type updateGroup struct {
	key      groupKey
	members  []PeerID
	export   Policy
	opts     wire.Options
	adv      [nFam]map[pkey][]outPath
	xform    map[uint64]xform
	builders map[uint64]*wire.UpdateBuilder
	bundles  []bundle
	byKey    map[bundleKey]int
	dumps    []dumpReq
	// held are prefixes whose announcement waits for the MRAI.
	held     map[heldKey]struct{}
	nextSend time.Time
}

func (e *Engine) groupKeyOf(p *peer) groupKey {
	k := groupKey{
		typ: p.cfg.Type, localAS: p.localAS, export: p.cfg.ExportName,
		as4: p.opts.AS4, extMsg: p.opts.ExtendedMessage,
		extNH:       p.opts.ExtendedNextHop[wire.IPv4Unicast],
		nhUnchanged: p.cfg.NextHopUnchanged, nhSelf: p.cfg.NextHopSelf,
		removePriv: p.cfg.RemovePrivateAS, noComm: p.cfg.NoSendCommunity,
		defOrig: p.cfg.DefaultOriginate, fams: p.fams, mrai: p.cfg.MRAI,
	}
	for f, fam := range families {
		k.addPath[f] = p.cfg.AddPathSend && p.opts.AddPathSend[fam]
	}
	switch a := p.cfg.LocalAddress; {
	case a.Is4():
		k.nhShape = 1
	case a.Is6() && p.cfg.LocalLinkLocal.IsValid():
		k.nhShape = 3
	case a.Is6():
		k.nhShape = 2
	}
	return k
}

// joinGroup puts an established peer in its group, making the group if
// needed, and queues the group's Adj-RIB-Out for it.
func (e *Engine) joinGroup(id PeerID) {
	p := &e.peers[id]
	k := e.groupKeyOf(p)
	gi := -1
	for i, g := range e.groups {
		if g != nil && g.key == k {
			gi = i
			break
		}
	}
	if gi < 0 {
		g := &updateGroup{key: k, export: p.cfg.Export, opts: p.opts,
			xform: map[uint64]xform{}, builders: map[uint64]*wire.UpdateBuilder{}, byKey: map[bundleKey]int{},
			held: map[heldKey]struct{}{}}
		for f := range g.adv {
			g.adv[f] = map[pkey][]outPath{}
		}
		gi = slices.Index(e.groups, nil)
		if gi < 0 {
			gi = len(e.groups)
			e.groups = append(e.groups, g)
		} else {
			e.groups[gi] = g
		}
		g.members = append(g.members, id)
		p.group = gi
		e.fillGroup(gi)
	} else {
		e.groups[gi].members = append(e.groups[gi].members, id)
		p.group = gi
	}
	e.groups[gi].dumps = append(e.groups[gi].dumps, dumpReq{peer: id, fams: p.fams, eor: true})
}

// fillGroup computes a new group's Adj-RIB-Out from the Loc-RIB.
func (e *Engine) fillGroup(gi int) {
	g := e.groups[gi]
	for f := range e.tables {
		if !g.key.fams[f] {
			continue
		}
		if g.key.defOrig {
			e.setDefault(gi, f)
		}
		t := &e.tables[f]
		for i := range t.ents {
			en := &t.ents[i]
			if !en.live || len(en.paths) == 0 || en.best.attr == 0 {
				continue
			}
			b := slices.IndexFunc(en.paths, func(p path) bool {
				return p.peerID() == en.best.peerID() && p.id == en.best.id
			})
			if b < 0 {
				continue
			}
			idx := e.multipath(e.idxBuf[:0], en.paths, b)
			e.advertiseGroup(gi, f, uint32(i), idx, false)
			e.idxBuf = idx[:0]
		}
	}
	// The new member gets all of it through its dump.
	g.bundles = g.bundles[:0]
	clear(g.byKey)
}

func (e *Engine) leaveGroup(id PeerID) {
	p := &e.peers[id]
	if p.group < 0 {
		return
	}
	gi := p.group
	g := e.groups[gi]
	p.group = -1
	first := g.members[0]
	g.members = slices.DeleteFunc(g.members, func(m PeerID) bool { return m == id })
	g.dumps = slices.DeleteFunc(g.dumps, func(d dumpReq) bool { return d.peer == id })
	if len(g.members) == 0 {
		e.dropGroup(gi)
		return
	}
	if first == id {
		// Cached rewrites carry the old first member's next hop.
		e.clearXform(g)
	}
}

func (e *Engine) clearXform(g *updateGroup) {
	for k, x := range g.xform {
		if x.ok && x.out != uint32(k) {
			e.unref(x.out)
		}
	}
	clear(g.xform)
	clear(g.builders)
}

func (e *Engine) dropGroup(gi int) {
	g := e.groups[gi]
	e.groups[gi] = nil
	for f := range g.adv {
		for _, ops := range g.adv[f] {
			for _, o := range ops {
				e.unref(o.attr)
			}
		}
	}
	e.clearXform(g)
}

// forgetAttr drops cached rewrites of attribute set i, which is being
// freed and whose index will be reused.
func (e *Engine) forgetAttr(i uint32) {
	for _, g := range e.groups {
		if g == nil {
			continue
		}
		for f := uint64(0); f < nFam; f++ {
			for local := uint64(0); local < 2; local++ {
				k := f<<33 | local<<32 | uint64(i)
				if x, ok := g.xform[k]; ok {
					delete(g.xform, k)
					if x.ok && x.out != i {
						e.unref(x.out)
					}
				}
			}
		}
		for f := uint64(0); f < nFam; f++ {
			delete(g.builders, f<<32|uint64(i))
		}
	}
}

// advertisePrefix brings every group's Adj-RIB-Out up to date for entry i
// whose selection is idx (best first, empty when unreachable).
func (e *Engine) advertisePrefix(f int, i uint32, idx []int, force bool) {
	for gi, g := range e.groups {
		if g == nil || !g.key.fams[f] {
			continue
		}
		if !force && !g.key.addPath[f] {
			continue
		}
		e.advertiseGroup(gi, f, i, idx, true)
	}
}

// desired computes what group gi should advertise for the entry.
func (e *Engine) desired(dst []outPath, gi int, f int, en *entry, idx []int) []outPath {
	g := e.groups[gi]
	if len(idx) == 0 || e.suppressed(f, en.pfx) {
		return dst
	}
	n := 1
	if g.key.addPath[f] {
		n = len(idx)
	}
	for _, k := range idx[:n] {
		p := en.paths[k]
		src := p.peerID()
		sp := &e.peers[src]
		if src != localPeer && sp.cfg.Type == IBGP && g.key.typ == IBGP {
			continue // no route reflection: iBGP paths stay in the AS
		}
		a := e.attrs.sets[p.attr].a
		if a.HasCommunity(wire.CommunityNoAdvertise) ||
			(g.key.typ == EBGP && (a.HasCommunity(wire.CommunityNoExport) || a.HasCommunity(wire.CommunityNoExportSubconfed))) {
			continue
		}
		out, self, ok := e.exportAttrs(g, f, en.pfx, p)
		if !ok {
			continue
		}
		op := outPath{attr: out, self: self}
		if src != localPeer {
			// Never back to the peer it came from, should it be (or
			// become) a member.
			op.skip = src
		}
		if g.key.addPath[f] {
			op.id = uint32(src)<<16 | p.id&0xffff
		}
		dst = append(dst, op)
	}
	return dst
}

// advertiseGroup diffs the desired advertisement with the Adj-RIB-Out and
// queues the difference.
func (e *Engine) advertiseGroup(gi int, f int, i uint32, idx []int, queue bool) {
	g := e.groups[gi]
	en := &e.tables[f].ents[i]
	if g.key.defOrig && en.pfx.Bits() == 0 {
		return // default-originate owns the default route
	}
	want := e.desired(e.outBuf[:0], gi, f, en, idx)
	e.outBuf = want[:0]
	pfx := en.pfx
	pk := keyOf(pfx)
	old := g.adv[f][pk]
	for _, n := range want {
		k := slices.IndexFunc(old, func(o outPath) bool { return o.id == n.id })
		nl := wire.NewNLRI(pfx, n.id)
		switch {
		case k < 0:
			g.queue(bundleKey{kind: bundleAnnounce, fam: uint8(f), attr: n.attr, self: n.self, except: n.skip}, nl)
		case old[k].attr == n.attr && old[k].skip == n.skip:
		case old[k].attr == n.attr:
			if o := old[k].skip; o != 0 {
				g.queue(bundleKey{kind: bundleAnnounce, fam: uint8(f), attr: n.attr, self: n.self, only: o}, nl)
			}
			if n.skip != 0 {
				g.queue(bundleKey{kind: bundleWithdraw, fam: uint8(f), only: n.skip}, nl)
			}
		default:
			g.queue(bundleKey{kind: bundleAnnounce, fam: uint8(f), attr: n.attr, self: n.self, except: n.skip}, nl)
			if n.skip != 0 && n.skip != old[k].skip {
				g.queue(bundleKey{kind: bundleWithdraw, fam: uint8(f), only: n.skip}, nl)
			}
		}
	}
	for _, o := range old {
		if !slices.ContainsFunc(want, func(n outPath) bool { return n.id == o.id }) {
			g.queue(bundleKey{kind: bundleWithdraw, fam: uint8(f), except: o.skip}, wire.NewNLRI(pfx, o.id))
		}
		e.unref(o.attr)
	}
	if len(want) == 0 {
		delete(g.adv[f], pk)
		return
	}
	keep := old[:0]
	if cap(keep) < len(want) {
		keep = make([]outPath, 0, len(want))
	}
	keep = append(keep, want...)
	g.adv[f][pk] = keep
}

func (g *updateGroup) queue(k bundleKey, n wire.NLRI) {
	i, ok := g.byKey[k]
	if !ok {
		i = len(g.bundles)
		g.byKey[k] = i
		if i < cap(g.bundles) {
			g.bundles = g.bundles[:i+1]
			g.bundles[i].key = k
			g.bundles[i].nlri = g.bundles[i].nlri[:0]
		} else {
			g.bundles = append(g.bundles, bundle{key: k})
		}
	}
	g.bundles[i].nlri = append(g.bundles[i].nlri, n)
}

// exportAttrs returns the attribute set to send for path p to group g, with
// a reference, and whether its next hop is ours.
func (e *Engine) exportAttrs(g *updateGroup, f int, pfx netip.Prefix, p path) (uint32, bool, bool) {
	local := p.peerID() == localPeer
	fast := isAcceptAll(g.export)
	var ck uint64
	if fast {
		l := uint64(0)
		if local {
			l = 1
		}
		ck = uint64(f)<<33 | l<<32 | uint64(p.attr)
		if x, ok := g.xform[ck]; ok {
			if x.ok {
				e.ref(x.out)
			}
			return x.out, x.self, x.ok
		}
	}
	a, self := e.rewrite(g, f, e.attrs.sets[p.attr].a, local)
	if a != nil && !fast {
		sp := &e.peers[p.peerID()]
		info := PathInfo{Peer: p.peerID(), Type: sp.cfg.Type, PeerAS: sp.cfg.PeerAS, Address: sp.cfg.Address}
		out, ok := g.export.Export(info, families[f], pfx, a)
		if !ok {
			out = nil
		}
		a = out
	}
	if a == nil {
		if fast {
			g.xform[ck] = xform{}
		}
		return 0, false, false
	}
	out := e.intern(a)
	if fast {
		if out != p.attr {
			e.ref(out) // the cache's own reference
		}
		g.xform[ck] = xform{out: out, self: self, ok: true}
	}
	return out, self, true
}

// rewrite applies the outbound rules of the group's peer type to src.
func (e *Engine) rewrite(g *updateGroup, f int, src *wire.PathAttrs, local bool) (*wire.PathAttrs, bool) {
	a := src.Clone()
	a.MPReach, a.MPUnreach = nil, nil
	self := local
	if g.key.typ == EBGP {
		a.HasLocalPref, a.LocalPref = false, 0
		if !local {
			// MED is not passed on to another AS (RFC 4271 5.1.4).
			a.HasMED, a.MED = false, 0
		}
		a.OriginatorID, a.ClusterList = netip.Addr{}, nil
		a.ExtCommunities = slices.DeleteFunc(a.ExtCommunities, func(c wire.ExtCommunity) bool { return !c.Transitive() })
		if len(a.ExtCommunities) == 0 {
			a.ExtCommunities = nil
		}
		a.ASPath = removePrivate(a.ASPath, g.key.removePriv, g.key.localAS)
		a.ASPath = prepend(a.ASPath, g.key.localAS)
		a.HasASPath = true
		self = self || !g.key.nhUnchanged
	} else {
		if !a.HasLocalPref {
			a.HasLocalPref, a.LocalPref = true, 100
		}
		a.HasASPath = true
		self = self || g.key.nhSelf
	}
	if g.key.noComm {
		a.Communities, a.ExtCommunities, a.LargeCommunities = nil, nil, nil
	}
	if !a.HasOrigin {
		a.HasOrigin = true
	}
	if self {
		rep := &e.peers[g.members[0]]
		la := rep.cfg.LocalAddress
		a.NextHop = netip.Addr{}
		switch {
		case f == famV4 && la.Is4():
			a.NextHop = la
		case la.Is6() && (f == famV6 || g.key.extNH):
			a.MPReach = &wire.MPReach{Family: families[f], NextHop: la, LinkLocalNextHop: rep.cfg.LocalLinkLocal}
		default:
			return nil, false
		}
		return a, true
	}
	if mp := src.MPReach; mp != nil && mp.Family == families[f] {
		a.NextHop = netip.Addr{}
		a.MPReach = &wire.MPReach{Family: mp.Family, NextHop: mp.NextHop, LinkLocalNextHop: mp.LinkLocalNextHop}
		if f == famV4 && !g.key.extNH && mp.NextHop.Is6() {
			return nil, false
		}
	} else if f == famV6 {
		return nil, false
	}
	if f == famV6 {
		a.NextHop = netip.Addr{}
	}
	return a, false
}

func isPrivateAS(as uint32) bool {
	return (as >= 64512 && as <= 65534) || (as >= 4200000000 && as <= 4294967294)
}

// removePrivate implements remove-private-AS at the border (seed 002
// 7.2.4). Sets and confederation segments are left alone.
func removePrivate(p wire.ASPath, mode RemovePrivateAS, local uint32) wire.ASPath {
	if mode == KeepPrivateAS {
		return p
	}
	out := make(wire.ASPath, 0, len(p))
	for _, s := range p {
		if s.Type != wire.ASSequence {
			out = append(out, s)
			continue
		}
		asns := make([]uint32, 0, len(s.ASNs))
		for _, as := range s.ASNs {
			switch {
			case !isPrivateAS(as):
				asns = append(asns, as)
			case mode == ReplacePrivateAS:
				asns = append(asns, local)
			}
		}
		if len(asns) > 0 {
			out = append(out, wire.ASPathSegment{Type: wire.ASSequence, ASNs: asns})
		}
	}
	return out
}

// prepend puts as in front of the path (RFC 4271 5.1.2), starting a new
// sequence when the path is empty, starts with a set, or the first
// sequence is full.
func prepend(p wire.ASPath, as uint32) wire.ASPath {
	if len(p) > 0 && p[0].Type == wire.ASSequence && len(p[0].ASNs) < 255 {
		out := slices.Clone(p)
		out[0] = wire.ASPathSegment{Type: wire.ASSequence, ASNs: append([]uint32{as}, p[0].ASNs...)}
		return out
	}
	return append(wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{as}}}, p...)
}

// setDefault puts the default route in group gi's Adj-RIB-Out for
// default-originate.
func (e *Engine) setDefault(gi int, f int) {
	g := e.groups[gi]
	pfx := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if f == famV6 {
		pfx = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if _, ok := g.adv[f][keyOf(pfx)]; ok {
		return
	}
	src := &wire.PathAttrs{HasOrigin: true, Origin: wire.OriginIGP, HasASPath: true}
	a, self := e.rewrite(g, f, src, true)
	if a == nil {
		return
	}
	g.adv[f][keyOf(pfx)] = []outPath{{attr: e.intern(a), self: self}}
}

// RouteRefresh re-sends the Adj-RIB-Out of the peer's group to that peer
// for family f (RFC 2918), between BoRR and EoRR markers when enhanced
// (RFC 7313).
func (e *Engine) RouteRefresh(id PeerID, f wire.Family, enhanced bool) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	s, ok := famSlot(f)
	if !ok || !p.up || p.group < 0 || !p.fams[s] {
		return nil
	}
	d := dumpReq{peer: id, enhance: enhanced}
	d.fams[s] = true
	g := e.groups[p.group]
	g.dumps = append(g.dumps, d)
	return nil
}

// flushGroups encodes the queued bundles of every group.
//
// With an MRAI (RFC 4271 9.2.1.1) announcements wait until the group's
// interval has passed since its last announcement; their prefixes are
// remembered and, when due, announced as the Adj-RIB-Out then has them, so
// a prefix that changed several times in between is sent once. Withdrawals
// never wait (seed 002 7.4.2).
func (e *Engine) flushGroups(now time.Time) {
	for gi, g := range e.groups {
		if g == nil {
			continue
		}
		hold := g.key.mrai > 0 && now.Before(g.nextSend)
		announced := false
		for bi := range g.bundles {
			b := &g.bundles[bi]
			if b.key.kind == bundleAnnounce && g.key.mrai > 0 {
				if hold {
					for _, n := range b.nlri {
						g.held[heldKey{b.key.fam, n.Prefix()}] = struct{}{}
					}
					continue
				}
				announced = true
			}
			e.emitBundle(gi, g, b.key, b.nlri, g.recipients(b.key))
		}
		if !hold && len(g.held) > 0 {
			e.releaseHeld(gi, g)
			announced = true
		}
		if announced {
			g.nextSend = now.Add(g.key.mrai)
		}
		for bi := range g.bundles {
			g.bundles[bi].nlri = reuse(g.bundles[bi].nlri)
		}
		g.bundles = g.bundles[:0]
		clear(g.byKey)
		if e.deferInitial {
			e.dumpDeferred(gi, g)
			continue
		}
		e.dumpAll(gi, g)
		g.dumps = g.dumps[:0]
	}
}

type heldKey struct {
	fam uint8
	pfx netip.Prefix
}

// releaseHeld announces the prefixes an MRAI held back, as they are now.
func (e *Engine) releaseHeld(gi int, g *updateGroup) {
	keys := make([]heldKey, 0, len(g.held))
	for k := range g.held {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b heldKey) int {
		if a.fam != b.fam {
			return int(a.fam) - int(b.fam)
		}
		if c := a.pfx.Addr().Compare(b.pfx.Addr()); c != 0 {
			return c
		}
		return a.pfx.Bits() - b.pfx.Bits()
	})
	clear(g.held)
	for _, k := range keys {
		for _, o := range g.adv[k.fam][keyOf(k.pfx)] {
			g.queue(bundleKey{kind: bundleAnnounce, fam: k.fam, attr: o.attr, self: o.self, except: o.skip}, wire.NewNLRI(k.pfx, o.id))
		}
	}
	for bi := range g.bundles {
		b := &g.bundles[bi]
		if b.key.kind == bundleAnnounce {
			e.emitBundle(gi, g, b.key, b.nlri, g.recipients(b.key))
		}
	}
}

// NextDeadline is when Ready must next be called for announcements an MRAI
// holds back; ok is false when nothing is held.
func (e *Engine) NextDeadline() (t time.Time, ok bool) {
	for _, g := range e.groups {
		if g != nil && len(g.held) > 0 && (!ok || g.nextSend.Before(t)) {
			t, ok = g.nextSend, true
		}
	}
	return t, ok
}

// recipients lists the members a bundle goes to; members still waiting
// for their dump get the final state from it instead.
func (g *updateGroup) recipients(k bundleKey) []PeerID {
	var out []PeerID
	for _, m := range g.members {
		if (k.only != 0 && m != k.only) || m == k.except {
			continue
		}
		if slices.ContainsFunc(g.dumps, func(d dumpReq) bool { return d.peer == m && d.eor }) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (e *Engine) emitBundle(gi int, g *updateGroup, k bundleKey, nlri []wire.NLRI, to []PeerID) {
	if len(to) == 0 || len(nlri) == 0 {
		return
	}
	fam := families[k.fam]
	if k.kind == bundleWithdraw {
		msgs, err := wire.AppendWithdrawals(nil, fam, nlri, &g.opts)
		e.encodes += uint64(len(msgs))
		if err != nil {
			e.out.Errors = append(e.out.Errors, err)
			return
		}
		e.out.Sends = append(e.out.Sends, Send{Group: gi, Peers: to, Msgs: msgs})
		return
	}
	bk := uint64(k.fam)<<32 | uint64(k.attr)
	b := g.builders[bk]
	if b == nil {
		var err error
		b, err = wire.NewUpdateBuilder(fam, e.attrs.sets[k.attr].a, &g.opts)
		if err != nil {
			e.out.Errors = append(e.out.Errors, err)
			return
		}
		g.builders[bk] = b
	}
	msgs, err := b.Append(nil, nlri)
	e.encodes += uint64(len(msgs))
	if err != nil {
		e.out.Errors = append(e.out.Errors, err)
		return
	}
	if !k.self {
		e.out.Sends = append(e.out.Sends, Send{Group: gi, Peers: to, Msgs: msgs})
		return
	}
	// Members whose next hop is the encoded one share the bytes; others
	// get a copy with their own next hop.
	a := e.attrs.sets[k.attr].a
	var same []PeerID
	for _, m := range to {
		mp := &e.peers[m]
		if nextHopMatches(a, mp) {
			same = append(same, m)
			continue
		}
		e.copies += uint64(len(msgs))
		cp := make([][]byte, len(msgs))
		for i, msg := range msgs {
			cp[i] = patchNextHop(slices.Clone(msg), mp.cfg.LocalAddress, mp.cfg.LocalLinkLocal)
		}
		e.out.Sends = append(e.out.Sends, Send{Group: gi, Peers: []PeerID{m}, Msgs: cp})
	}
	if len(same) > 0 {
		e.out.Sends = append(e.out.Sends, Send{Group: gi, Peers: same, Msgs: msgs})
	}
}

func nextHopMatches(a *wire.PathAttrs, p *peer) bool {
	if a.MPReach != nil {
		return a.MPReach.NextHop == p.cfg.LocalAddress && a.MPReach.LinkLocalNextHop == p.cfg.LocalLinkLocal
	}
	return a.NextHop == p.cfg.LocalAddress
}

// patchNextHop overwrites the next hop of an encoded UPDATE in place: the
// NEXT_HOP attribute, or the next hop field of MP_REACH_NLRI. Group
// members have next hops of the same shape, so lengths never change.
func patchNextHop(msg []byte, global, ll netip.Addr) []byte {
	if len(msg) < wire.HeaderLen+4 {
		return msg
	}
	b := msg[wire.HeaderLen:]
	wl := int(binary.BigEndian.Uint16(b))
	if 2+wl+2 > len(b) {
		return msg
	}
	al := int(binary.BigEndian.Uint16(b[2+wl:]))
	attrs := b[4+wl:]
	if al > len(attrs) {
		return msg
	}
	attrs = attrs[:al]
	for len(attrs) >= 3 {
		flags, typ := attrs[0], attrs[1]
		hl, vl := 3, int(attrs[2])
		if flags&wire.AttrFlagExtLen != 0 {
			if len(attrs) < 4 {
				return msg
			}
			hl, vl = 4, int(binary.BigEndian.Uint16(attrs[2:]))
		}
		if hl+vl > len(attrs) {
			return msg
		}
		v := attrs[hl : hl+vl]
		switch typ {
		case wire.AttrNextHop:
			if len(v) == 4 && global.Is4() {
				a := global.As4()
				copy(v, a[:])
			}
		case wire.AttrMPReach:
			if len(v) >= 4 {
				nl := int(v[3])
				nh := v[4:]
				if nl <= len(nh) {
					switch {
					case nl == 16 && global.Is6():
						a := global.As16()
						copy(nh, a[:])
					case nl == 32 && global.Is6() && ll.Is6():
						a, l := global.As16(), ll.As16()
						copy(nh, a[:])
						copy(nh[16:], l[:])
					}
				}
			}
		}
		attrs = attrs[hl+vl:]
	}
	return msg
}

// dumpAll serves the queued dumps. Peers that joined together (PeerUp in
// the same batch, the usual case when a switch boots) share one encoding.
func (e *Engine) dumpAll(gi int, g *updateGroup) {
	var fresh []PeerID
	var fams [nFam]bool
	for _, d := range g.dumps {
		if d.eor && d.fams == g.key.fams {
			fresh = append(fresh, d.peer)
			fams = d.fams
			continue
		}
		e.dump(gi, g, []PeerID{d.peer}, d)
	}
	if len(fresh) > 0 {
		e.dump(gi, g, fresh, dumpReq{fams: fams, eor: true})
	}
}

// dump sends a group's whole Adj-RIB-Out to some members.
func (e *Engine) dump(gi int, g *updateGroup, to []PeerID, d dumpReq) {
	for f := range g.adv {
		if !d.fams[f] || !g.key.fams[f] {
			continue
		}
		fam := families[f]
		if d.enhance {
			e.sendMsg(gi, g, to, &wire.RouteRefresh{Family: fam, Subtype: wire.RefreshBoRR})
		}
		pfxs := make([]netip.Prefix, 0, len(g.adv[f]))
		for k := range g.adv[f] {
			pfxs = append(pfxs, k.prefix(f))
		}
		slices.SortFunc(pfxs, func(a, b netip.Prefix) int {
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		type bk struct {
			attr   uint32
			self   bool
			except PeerID
		}
		order := []bk{}
		byAttr := map[bk][]wire.NLRI{}
		for _, p := range pfxs {
			for _, o := range g.adv[f][keyOf(p)] {
				k := bk{o.attr, o.self, 0}
				if slices.Contains(to, o.skip) {
					k.except = o.skip
				}
				if _, ok := byAttr[k]; !ok {
					order = append(order, k)
				}
				byAttr[k] = append(byAttr[k], wire.NewNLRI(p, o.id))
			}
		}
		for _, k := range order {
			rcpt := slices.DeleteFunc(slices.Clone(to), func(m PeerID) bool { return m == k.except })
			e.emitBundle(gi, g, bundleKey{kind: bundleAnnounce, fam: uint8(f), attr: k.attr, self: k.self}, byAttr[k], rcpt)
		}
		if d.enhance {
			e.sendMsg(gi, g, to, &wire.RouteRefresh{Family: fam, Subtype: wire.RefreshEoRR})
		}
		if d.eor {
			e.sendMsg(gi, g, to, wire.EndOfRIB(fam))
		}
	}
}

func (e *Engine) sendMsg(gi int, g *updateGroup, to []PeerID, m wire.Message) {
	msg, err := wire.Append(nil, m, &g.opts)
	if err != nil {
		e.out.Errors = append(e.out.Errors, err)
		return
	}
	e.out.Sends = append(e.out.Sends, Send{Group: gi, Peers: to, Msgs: [][]byte{msg}})
}

// Encodes counts UPDATE messages built by the encoder, and Copies those
// produced by copying an encoded message with another next hop patched in;
// together they measure what update groups share.
func (e *Engine) Encodes() uint64 { return e.encodes }

// Copies: see Encodes.
func (e *Engine) Copies() uint64 { return e.copies }
