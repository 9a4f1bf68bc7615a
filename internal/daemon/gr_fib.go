package daemon

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/rib"
)

// Route selection is deferred during the restart phase (RFC 4724 4.1): the
// forwarding state closd kept must not change before every peer has sent
// its End-of-RIB. The RIB learns routes as they come, and its first results
// for a prefix reflect only the peers back so far: writing them would
// shrink an adopted ECMP route to the first spine back, then grow it again.
// So, during the phase, the RIB's changes for prefixes whose route closd
// adopted from the kernel are held, the last one per prefix, and go to the
// FIB at the phase's end, just before the sweep. Prefixes that had no
// route are installed at once (that only adds forwarding), and the FIB's
// fast paths (SetGatewayDown from link, BFD and neighbor events) are not
// held.

// grHoldInit notes the prefixes adopted from the kernel (grStart, phase on).
func (d *Daemon) grHoldInit() {
	k := d.fib.Kernel()
	d.gr.kept = make(map[netip.Prefix]bool, len(k.Routes))
	for p := range k.Routes {
		d.gr.kept[p] = true
	}
	d.gr.heldECMP = map[netip.Prefix]rib.ECMPChange{}
	d.gr.heldDiscard = map[netip.Prefix]rib.DiscardChange{}
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

// grRelease ends the hold (phase over) and writes the RIB's current result
// for every adopted prefix it changed during the phase: the last change
// held for a prefix is its current best (each carries the whole set).
func (d *Daemon) grRelease() {
	ecmp := make([]rib.ECMPChange, 0, len(d.gr.heldECMP))
	for _, c := range d.gr.heldECMP {
		ecmp = append(ecmp, c)
	}
	discard := make([]rib.DiscardChange, 0, len(d.gr.heldDiscard))
	for _, c := range d.gr.heldDiscard {
		discard = append(discard, c)
	}
	d.gr.kept, d.gr.heldECMP, d.gr.heldDiscard = nil, nil, nil
	if len(ecmp) > 0 || len(discard) > 0 {
		d.log.Info("graceful restart: writing the routes selected during the restart phase", "routes", len(ecmp)+len(discard))
		d.program(ecmp, discard)
	}
}
