package daemon

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/fib"
)

// Route selection is deferred during the restart phase (RFC 4724 4.1): the
// forwarding state closd kept must not change before every peer has sent
// its End-of-RIB. The RIB learns routes as they come, and its first results
// for a prefix reflect only the peers back so far: writing them would
// shrink an adopted ECMP route to the first spine back, then grow it again.
// So, during the phase, the RIB's changes for prefixes whose route closd
// adopted from the kernel are held, the last one per prefix, and go to the
// FIB at the phase's end, just before the sweep. Prefixes that had no
// route are installed at once (that only adds forwarding).
//
// The adopted routes are claimed as the FIB's desired state, with the
// members they have in the kernel (no write: the FIB adopts groups with
// exactly those members), so the fast path (SetGatewayDown on BFD Down,
// link events) takes a failed next hop out of them at once during the
// phase as it would out of any route.

// grHoldInit claims the adopted routes and starts holding (grStart, phase
// on).
func (d *Daemon) grHoldInit() {
	k := d.fib.Kernel()
	d.gr.kept = make(map[netip.Prefix]bool, len(k.Routes))
	d.gr.heldECMP = map[netip.Prefix]rib.ECMPChange{}
	d.gr.heldDiscard = map[netip.Prefix]rib.DiscardChange{}
	claim := map[netip.Prefix]fib.Nexthops{}
	for p, r := range k.Routes {
		d.gr.kept[p] = true
		if nh, ok := kernelNexthops(k, r); ok {
			claim[p] = nh
		}
	}
	if len(claim) == 0 {
		return
	}
	err := d.fib.Update(func(ds *fib.Desired) error {
		for p, nh := range claim {
			if err := ds.Set(p, nh); err != nil {
				delete(d.gr.kept, p) // not claimed: the RIB writes it at once
			}
		}
		return nil
	})
	if err != nil {
		d.log.Warn("graceful restart: claiming the adopted routes", "err", err)
	}
}

// kernelNexthops is what an adopted route forwards to, as the FIB's
// desired state; false for a shape the FIB does not write (it replaces it).
func kernelNexthops(k *fib.Kernel, r fib.Route) (fib.Nexthops, bool) {
	if r.Blackhole {
		return fib.Blackhole(), true
	}
	n, ok := k.Nexthops[r.NexthopID]
	if !ok || r.NexthopID == 0 {
		return fib.Nexthops{}, false
	}
	member := func(n fib.Nexthop, w uint16) (fib.Member, bool) {
		if n.IsGroup() || !n.Gateway.IsValid() {
			return fib.Member{}, false
		}
		return fib.Member{Gateway: n.Gateway, Ifindex: n.Ifindex, Ifname: k.Links[n.Ifindex].Name, Weight: w}, true
	}
	if !n.IsGroup() {
		m, ok := member(n, 1)
		return fib.ECMP(m), ok
	}
	var ms []fib.Member
	for _, e := range n.Group {
		m, ok := member(k.Nexthops[e.ID], e.Weight)
		if !ok {
			return fib.Nexthops{}, false
		}
		ms = append(ms, m)
	}
	return fib.ECMP(ms...), len(ms) > 0
}

// grHold keeps back, during the restart phase, the changes for adopted
// prefixes and returns the others. It holds until grRelease, not until the
// phase flag drops: the last UPDATEs, flushed as the phase ends, must not
// reach the FIB before the older changes grRelease writes.
func (d *Daemon) grHold(ecmp []rib.ECMPChange, discard []rib.DiscardChange) ([]rib.ECMPChange, []rib.DiscardChange) {
	if len(d.gr.kept) == 0 {
		return ecmp, discard
	}
	var e []rib.ECMPChange
	for _, c := range ecmp {
		if d.gr.kept[c.Prefix] {
			d.gr.heldECMP[c.Prefix] = c
			continue
		}
		e = append(e, c)
	}
	var x []rib.DiscardChange
	for _, c := range discard {
		if d.gr.kept[c.Prefix] {
			d.gr.heldDiscard[c.Prefix] = c
			continue
		}
		x = append(x, c)
	}
	return e, x
}

// grRelease ends the hold (phase over): it writes the RIB's current result
// for every adopted prefix (the last change held for a prefix carries its
// whole set) and withdraws the claimed ones nobody re-learned.
func (d *Daemon) grRelease() {
	var ecmp []rib.ECMPChange
	var discard []rib.DiscardChange
	for p := range d.gr.kept {
		c, ok := d.gr.heldECMP[p]
		x, okx := d.gr.heldDiscard[p]
		if ok || !okx {
			if !ok {
				c = rib.ECMPChange{Prefix: p} // no next hops: deleted
			}
			ecmp = append(ecmp, c)
		}
		if okx {
			discard = append(discard, x)
		}
	}
	held := len(d.gr.heldECMP) + len(d.gr.heldDiscard)
	d.gr.kept, d.gr.heldECMP, d.gr.heldDiscard = nil, nil, nil
	if len(ecmp) > 0 || len(discard) > 0 {
		d.log.Info("graceful restart: writing the routes selected during the restart phase", "routes", held)
		d.program(ecmp, discard)
	}
}
