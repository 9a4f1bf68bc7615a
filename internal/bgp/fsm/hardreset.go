package fsm

import "github.com/closnet/clos/internal/bgp/wire"

// hardReset wraps n in a Cease/Hard Reset (RFC 8538 3) when the session
// negotiated the N bit and n's Cease subcode ends the session for good:
// without the wrapper the peer would keep our routes as for a restart.
// The subcodes are RFC 8538 5's "Hard Reset" ones, Administrative Reset
// (FRR's default, `bgp hard-administrative-reset`) and BFD Down (RFC
// 9384, as FRR does): a failed forwarding path must not keep routes
// pointing at it. Other Configuration Change, Out of Resources and the
// protocol errors stay soft: the peer keeps our routes until the session
// is back.
func (s *Session) hardReset(n *wire.Notification) *wire.Notification {
	if !s.neg.GracefulNotification || n.Code != wire.CodeCease {
		return n
	}
	switch n.Subcode {
	case wire.SubMaxPrefixes, wire.SubAdminShutdown, wire.SubPeerDeconfigured, wire.SubAdminReset, wire.SubBFDDown:
		return wire.HardResetNotification(n)
	}
	return n
}
