package rib

import "github.com/closnet/clos/internal/bgp/wire"

// StalePaths counts the paths of peer id in family f still marked stale
// by a graceful PeerDown, waiting for the peer's End-of-RIB or
// StaleTimeout; 0 for an unknown peer or family.
func (e *Engine) StalePaths(id PeerID, f wire.Family) int {
	p, err := e.peer(id)
	if err != nil {
		return 0
	}
	s, ok := famSlot(f)
	if !ok {
		return 0
	}
	return p.stale[s]
}

// StaleFamilies lists the families in which peer id still has stale
// paths, IPv4 first.
func (e *Engine) StaleFamilies(id PeerID) []wire.Family {
	p, err := e.peer(id)
	if err != nil {
		return nil
	}
	var out []wire.Family
	for _, f := range []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast} {
		if s, _ := famSlot(f); p.stale[s] > 0 {
			out = append(out, f)
		}
	}
	return out
}

// DropStale withdraws the stale paths of peer id in family f at once: the
// peer's new OPEN does not preserve that family's forwarding, or did not
// list it in its capability (RFC 4724 4.2), so no End-of-RIB will clear
// them. Fresh paths stay.
func (e *Engine) DropStale(id PeerID, f wire.Family) error {
	return e.EndOfRIB(id, f)
}
