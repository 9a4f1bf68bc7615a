package daemon

import (
	"net/netip"

	"github.com/closnet/clos/internal/bfd"
)

// BFD on an unnumbered neighbor is a single-hop session (RFC 5881) to the
// peer's IPv6 link-local address, bound to the neighbor's interface. It
// exists while that address is known: created when router discovery or
// the peer's connection teaches it, re-keyed when it changes, removed when
// it is forgotten (the link went down or away, which also drops BGP by
// fall-over) or the neighbor goes. Down, the BGP drop and the FIB fast
// path are those of every neighbor (bfd.go); the next hop taken out of the
// groups is the link-local gateway on the interface that the neighbor's
// RFC 8950 routes are installed through (`via inet6`).

// unnumberedBFDConfig binds the session to the neighbor's link and picks
// its source: our link-local address of the BGP session when known, else
// the kernel's choice on that link (the same choice it makes for the TCP
// connection we dial). A configured listen address is not a source for a
// link-local peer.
func unnumberedBFDConfig(p *peer, pc *bfd.PeerConfig, local netip.Addr) {
	pc.Interface = p.n.Interface
	pc.Multihop = false
	pc.Local = netip.Addr{}
	if local.Is6() && local.IsLinkLocalUnicast() && (local.Zone() == "" || local.Zone() == p.n.Interface) {
		pc.Local = local.WithZone("")
	}
}

// unnumberedBFDLearned follows a change of the peer's address: a session to
// the old one is removed (with its FIB effect undone: the old gateway is
// gone) and one to the new address starts.
func (d *Daemon) unnumberedBFDLearned(p *peer) {
	if b := p.bfd; b != nil && b.added && b.key.Peer != p.remote.Addr() {
		p.log.Info("bfd: the peer's address changed; new session", "old", b.key.Peer, "new", p.remote.Addr())
		d.removeBFD(p)
	}
	d.addBFD(p, d.unnumberedLocal(p))
}

// unnumberedBFDLost removes the session when the peer's address is
// forgotten. Router discovery forgets it only when the link goes down or
// away, which fall-over already treats as the failure; a session kept on a
// dead link would hold BGP for a peer that comes back on a new address or a
// recreated interface (another ifindex).
func (d *Daemon) unnumberedBFDLost(p *peer) {
	if p.bfd != nil && p.bfd.added {
		p.log.Info("bfd: session removed with the peer's address", "peer", p.bfd.key.String())
		d.removeBFD(p)
	}
}

// unnumberedLocal is our address on the neighbor's established session, if
// any.
func (d *Daemon) unnumberedLocal(p *peer) netip.Addr {
	if p.main != nil && p.main.conn != nil {
		return p.main.local
	}
	return netip.Addr{}
}
