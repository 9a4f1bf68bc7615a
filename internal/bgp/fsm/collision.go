package fsm

// Collision decides which of two sessions to the same peer gives way when
// both have a connection (RFC 4271 6.8). It returns the session the daemon
// steps with OpenCollisionDump, or nil when no decision is due yet: the
// peer's BGP identifier is only known once one of them received an OPEN.
//
//   - A session already Established keeps its connection; the other is
//     dumped.
//   - Otherwise, once either is in OpenConfirm, the BGP identifiers are
//     compared as unsigned integers: when ours is lower, the connection we
//     dialed is dumped, else the one we accepted. Equal identifiers (eBGP
//     peers may share one, RFC 6286 2.3) are ordered by AS number instead.
func Collision(a, b *Session) *Session {
	if a == nil || b == nil || a == b || a.state < StateOpenSent || b.state < StateOpenSent {
		return nil
	}
	switch {
	case a.state == StateEstablished && b.state == StateEstablished:
		// Cannot happen with one peer; keep the older session.
		return b
	case a.state == StateEstablished:
		return b
	case b.state == StateEstablished:
		return a
	}
	var open *Session
	if a.state == StateOpenConfirm {
		open = a
	} else if b.state == StateOpenConfirm {
		open = b
	} else {
		return nil
	}
	if a.inbound == b.inbound {
		// Two connections of the same direction are not a collision the
		// RFC resolves; keep the one further along.
		if open == a {
			return b
		}
		return a
	}
	local := a.cfg.RouterID.As4()
	remote := open.peerOpen.RouterID.As4()
	l := uint32(local[0])<<24 | uint32(local[1])<<16 | uint32(local[2])<<8 | uint32(local[3])
	r := uint32(remote[0])<<24 | uint32(remote[1])<<16 | uint32(remote[2])<<8 | uint32(remote[3])
	keepInbound := l < r
	if l == r {
		keepInbound = a.cfg.LocalAS < open.peerOpen.AS
	}
	if keepInbound == a.inbound {
		return b
	}
	return a
}
