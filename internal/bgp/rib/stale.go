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
