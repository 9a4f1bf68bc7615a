package rib

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Rejection reasons counted per engine, for `clos show` and tests.
type Rejects struct {
	ASLoop        uint64 // our AS in the path more than AllowASIn times
	FirstAS       uint64 // eBGP path not starting with the peer's AS
	OriginatorID  uint64 // our router ID as ORIGINATOR_ID (RFC 4456 8)
	ClusterLoop   uint64 // our cluster ID in CLUSTER_LIST (RFC 4456 8)
	NoNextHop     uint64 // no usable next hop for the family
	Policy        uint64 // import policy said no
	MaxPrefix     uint64 // over the peer's max-prefix
	OtherFamilies uint64 // families the RIB does not carry
}

// Rejects returns the counters of paths refused at input.
func (e *Engine) Rejects() Rejects { return e.rejects }

// ApplyUpdate applies a received UPDATE from peer: its withdrawals, then its
// announcements (an End-of-RIB marker is EndOfRIB), after loop checks and the import policy. A path refused by
// a check replaces (withdraws) any earlier path from the peer for that
// prefix, as its new attributes make it unusable. Attributes are interned,
// so u is not retained.
func (e *Engine) ApplyUpdate(id PeerID, u *wire.Update) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	if !p.up {
		return fmt.Errorf("rib: UPDATE from peer %v which is not up", p.cfg.Address)
	}
	if u == nil {
		return nil
	}
	if f, ok := u.EndOfRIB(); ok {
		return e.EndOfRIB(id, f)
	}
	u.Unreachable(func(f wire.Family, n wire.NLRI) {
		if s, ok := famSlot(f); ok {
			e.softInForget(p, s, n)
			if e.withdraw(s, n.Prefix(), id, n.PathID) {
				p.prefixes--
			}
		}
	})
	if u.Attrs == nil || (len(u.NLRI) == 0 && (u.Attrs.MPReach == nil || len(u.Attrs.MPReach.NLRI) == 0)) {
		return nil
	}
	attrs := u.Attrs
	ok := e.importCheck(p, attrs)
	if ok && p.cfg.Type == EBGP && attrs.HasLocalPref {
		// LOCAL_PREF from an eBGP peer is ignored (RFC 4271 5.1.5, RFC
		// 7606 7.5).
		attrs = attrs.Clone()
		attrs.HasLocalPref, attrs.LocalPref = false, 0
	}
	info := PathInfo{Peer: id, Type: p.cfg.Type, PeerAS: p.cfg.PeerAS, Address: p.cfg.Address}
	var base, pre uint32
	if ok && isAcceptAll(p.cfg.Import) {
		base = e.intern(attrs)
	}
	u.Reachable(func(f wire.Family, n wire.NLRI) {
		s, known := famSlot(f)
		if !known {
			e.rejects.OtherFamilies++
			return
		}
		if p.in != nil {
			if pre == 0 {
				pre = e.intern(u.Attrs)
			}
			e.softInKeep(p, s, n, pre)
		}
		e.importPath(p, id, info, s, f, n, attrs, ok, base)
	})
	e.unref(base)
	e.unref(pre)
	return nil
}

// importPath puts one received path in the Loc-RIB, or withdraws the
// peer's earlier path to the prefix when the path is refused. ok is the
// result of importCheck; base, when non-zero, is attrs already interned
// because the import policy accepts everything unchanged.
func (e *Engine) importPath(p *peer, id PeerID, info PathInfo, s int, f wire.Family, n wire.NLRI, attrs *wire.PathAttrs, ok bool, base uint32) {
	if !ok {
		if e.withdraw(s, n.Prefix(), id, n.PathID) {
			p.prefixes--
		}
		return
	}
	ai := base
	if base != 0 {
		e.ref(ai)
	} else {
		out, accept := p.cfg.Import.Import(info, f, n.Prefix(), attrs)
		if !accept || out == nil {
			e.rejects.Policy++
			if e.withdraw(s, n.Prefix(), id, n.PathID) {
				p.prefixes--
			}
			return
		}
		ai = e.intern(out)
	}
	if e.attrs.sets[ai].nh[s] == 0 {
		e.rejects.NoNextHop++
		e.unref(ai)
		if e.withdraw(s, n.Prefix(), id, n.PathID) {
			p.prefixes--
		}
		return
	}
	if p.over && !p.cfg.MaxPrefixWarnOnly {
		e.rejects.MaxPrefix++
		e.unref(ai)
		return
	}
	if e.upsert(s, n.Prefix(), id, n.PathID, ai) {
		p.prefixes++
		e.checkMaxPrefix(id, p)
	}
}

// TreatAsWithdraw withdraws the peer's paths to the given prefixes: the RFC
// 7606 answer to an UPDATE with a malformed attribute, whose announced
// prefixes the caller passes (wire.Update.Reachable lists them).
func (e *Engine) TreatAsWithdraw(id PeerID, f wire.Family, nlri []wire.NLRI) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	s, ok := famSlot(f)
	if !ok {
		return nil
	}
	for _, n := range nlri {
		e.softInForget(p, s, n)
		if e.withdraw(s, n.Prefix(), id, n.PathID) {
			p.prefixes--
		}
	}
	return nil
}

// importCheck applies the loop checks every path must pass.
func (e *Engine) importCheck(p *peer, a *wire.PathAttrs) bool {
	if a.ASPath.Contains(p.localAS) > p.cfg.AllowASIn {
		e.rejects.ASLoop++
		return false
	}
	if p.localAS != e.cfg.LocalAS && a.ASPath.Contains(e.cfg.LocalAS) > p.cfg.AllowASIn {
		e.rejects.ASLoop++
		return false
	}
	if p.cfg.Type == EBGP {
		if !e.cfg.DisableEnforceFirstAS {
			if first, ok := a.ASPath.First(); !ok || first != p.cfg.PeerAS {
				e.rejects.FirstAS++
				return false
			}
		}
		return true
	}
	if a.OriginatorID.IsValid() && a.OriginatorID == e.cfg.RouterID {
		e.rejects.OriginatorID++
		return false
	}
	for _, c := range a.ClusterList {
		if c == e.cfg.ClusterID {
			e.rejects.ClusterLoop++
			return false
		}
	}
	return true
}

// PeerEventKind says what happened to a peer's prefix count.
type PeerEventKind uint8

const (
	// MaxPrefixWarning: the warning threshold was crossed.
	MaxPrefixWarning PeerEventKind = iota + 1
	// MaxPrefixExceeded: the limit was crossed; the daemon closes the
	// session with Cease/Maximum Number of Prefixes Reached (RFC 4486) and,
	// when Restart is non-zero, may reopen it after that delay.
	MaxPrefixExceeded
)

func (k PeerEventKind) String() string {
	switch k {
	case MaxPrefixWarning:
		return "max-prefix-warning"
	case MaxPrefixExceeded:
		return "max-prefix-exceeded"
	}
	return fmt.Sprintf("PeerEventKind(%d)", uint8(k))
}

// PeerEvent is something the daemon must act on for one peer.
type PeerEvent struct {
	Peer     PeerID
	Kind     PeerEventKind
	Prefixes uint32
	Limit    uint32
	Restart  time.Duration
}

func (e *Engine) checkMaxPrefix(id PeerID, p *peer) {
	lim := p.cfg.MaxPrefix
	if lim == 0 {
		return
	}
	pct := uint64(p.cfg.MaxPrefixWarnPct)
	if pct == 0 {
		pct = 75
	}
	if !p.warned && uint64(p.prefixes)*100 >= uint64(lim)*pct {
		p.warned = true
		e.pending.Peers = append(e.pending.Peers, PeerEvent{Peer: id, Kind: MaxPrefixWarning, Prefixes: p.prefixes, Limit: lim})
	}
	if !p.over && p.prefixes > lim {
		p.over = true
		if !p.cfg.MaxPrefixWarnOnly {
			e.pending.Peers = append(e.pending.Peers, PeerEvent{Peer: id, Kind: MaxPrefixExceeded, Prefixes: p.prefixes, Limit: lim, Restart: p.cfg.MaxPrefixRestart})
		}
	}
}

// Originate puts a locally originated prefix (a static network or a
// redistributed connected prefix) in the Loc-RIB with attrs, or replaces
// it. attrs may be nil: ORIGIN IGP, empty AS path. Next hops of local
// routes are set per peer when advertised.
func (e *Engine) Originate(prefix netip.Prefix, attrs *wire.PathAttrs) error {
	f, err := prefixFamily(prefix)
	if err != nil {
		return err
	}
	if attrs == nil {
		attrs = &wire.PathAttrs{HasOrigin: true, Origin: wire.OriginIGP, HasASPath: true}
	}
	a := attrs.Clone()
	a.NextHop = netip.Addr{}
	a.MPReach, a.MPUnreach = nil, nil
	prefix = prefix.Masked()
	e.orig[f][prefix] = a
	e.upsert(f, prefix, localPeer, 0, e.intern(a))
	return nil
}

// Unoriginate removes a locally originated prefix.
func (e *Engine) Unoriginate(prefix netip.Prefix) error {
	f, err := prefixFamily(prefix)
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	if _, ok := e.orig[f][prefix]; !ok {
		return fmt.Errorf("rib: %v is not originated here", prefix)
	}
	delete(e.orig[f], prefix)
	e.withdraw(f, prefix, localPeer, 0)
	return nil
}

func prefixFamily(p netip.Prefix) (int, error) {
	if !p.IsValid() {
		return 0, fmt.Errorf("rib: invalid prefix %v", p)
	}
	if p.Addr().Is4() {
		return famV4, nil
	}
	if p.Addr().Is4In6() {
		return 0, fmt.Errorf("rib: prefix %v: use the IPv4 form", p)
	}
	return famV6, nil
}
