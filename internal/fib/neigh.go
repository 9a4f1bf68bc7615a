package fib

import "net/netip"

// Neighbour states (NUD_* in linux/neighbour.h), part of the ABI.
const (
	nudReachable = 0x02
	nudFailed    = 0x20
	nudNoARP     = 0x40
	nudPermanent = 0x80
)

// neighVerdict says what a neighbour entry tells about a gateway: dead
// (FAILED: the link is up but nobody answers ARP/ND), alive (REACHABLE,
// PERMANENT, NOARP, or the entry is gone, which is no evidence of death and
// lets traffic resolve it again), or nothing (STALE, DELAY, PROBE,
// INCOMPLETE are transitions the kernel is still working on).
func neighVerdict(n Neigh) (dead, alive bool) {
	switch {
	case n.Deleted:
		return false, true
	case n.State&nudFailed != 0:
		return true, false
	case n.State&(nudReachable|nudPermanent|nudNoARP) != 0:
		return false, true
	}
	return false, false
}

// SetNeighFailed takes gw on ifindex out of every group (failed) or puts it
// back. It is kept apart from SetGatewayDown so that BFD and the neighbour
// table do not undo each other: a member is used only when neither says it
// is dead. It reports whether anything changed.
func (d *Desired) SetNeighFailed(gw netip.Addr, ifindex int, failed bool) bool {
	k := nhKey{gw.Unmap().WithZone(""), ifindex}
	if !failed {
		if !d.neighDown[k] {
			return false
		}
		delete(d.neighDown, k)
		return true
	}
	if d.neighDown[k] || !d.hasMember(k) {
		// Neighbours that are no member of ours (servers on a host port)
		// are not recorded, so the map stays as small as the fabric.
		return false
	}
	if d.neighDown == nil {
		d.neighDown = map[nhKey]bool{}
	}
	d.neighDown[k] = true
	return true
}

// NeighFailed lists the members taken out because their neighbour entry
// failed.
func (d *Desired) NeighFailed() []Member {
	out := make([]Member, 0, len(d.neighDown))
	for k := range d.neighDown {
		out = append(out, Member{Gateway: k.gw, Ifindex: k.ifindex})
	}
	return out
}

func (d *Desired) hasMember(k nhKey) bool {
	for _, t := range d.targets {
		for _, m := range t.nh.Members {
			if m.key() == k {
				return true
			}
		}
	}
	return false
}

// memberDown says whether a member is to be left out of its groups.
func (d *Desired) memberDown(k nhKey) bool {
	return d.down[k] || d.neighDown[k]
}

// neighLocked applies a neighbour event: a gateway whose entry failed leaves
// every group at once; it comes back when the entry is reachable again. It
// reports whether groups need the fast path.
func (f *FIB) neighLocked(n Neigh) bool {
	if !n.Addr.IsValid() || n.Ifindex <= 0 {
		return false
	}
	dead, alive := neighVerdict(n)
	if !dead && !alive {
		return false
	}
	if !f.desired.SetNeighFailed(n.Addr, n.Ifindex, dead) {
		return false
	}
	if dead {
		f.log.Warn("fib: next hop unreachable (neighbour entry failed); taken out of every group", "gateway", n.Addr, "ifindex", n.Ifindex)
	} else {
		f.log.Info("fib: next hop reachable again; back in its groups", "gateway", n.Addr, "ifindex", n.Ifindex)
	}
	return true
}

// NeighFailed lists the members out of their groups because their
// neighbour entry failed.
func (f *FIB) NeighFailed() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desired.NeighFailed()
}
