package rib

import "slices"

// Selection deferral of a restarting speaker (RFC 4724 4.1): while closd
// restarts with its forwarding state kept, it sends peers nothing of its
// initial update, not even End-of-RIB, until it has heard End-of-RIB from
// its peers (or a timer ran out), so peers do not replace the routes they
// kept for it with a partial table. Sessions go on learning, and changes
// keep flowing to the FIB; only the initial dumps (and so every update to
// the peers waiting for them) are held.

// DeferInitial holds (on) or releases (off) every peer's initial update
// and End-of-RIB. Released dumps go out at the next Ready, the updates of
// peers that came up together shared as usual.
func (e *Engine) DeferInitial(on bool) {
	e.deferInitial = on
	if !on {
		clear(e.deferExempt)
	}
}

// SendInitialNow releases one peer's initial update and End-of-RIB while
// the others stay held: a peer that says it is restarting too (the R bit)
// waits for our End-of-RIB before it sends its own (RFC 4724 4.1), so
// holding ours until we have its would deadlock. It has kept no routes of
// ours that a partial table could replace. No-op when nothing is held.
func (e *Engine) SendInitialNow(id PeerID) {
	if !e.deferInitial {
		return
	}
	if e.deferExempt == nil {
		e.deferExempt = map[PeerID]bool{}
	}
	e.deferExempt[id] = true
}

// Deferring reports whether initial updates are held.
func (e *Engine) Deferring() bool { return e.deferInitial }

// dumpDeferred serves the dumps that may go while initial updates are
// held: route refreshes of peers that already had their initial update. A
// peer still waiting for it gets everything with it, so its plain refresh
// is dropped; an enhanced one is kept for its BoRR/EoRR markers.
func (e *Engine) dumpDeferred(gi int, g *updateGroup) {
	var now, held []dumpReq
	for _, d := range g.dumps {
		switch {
		case e.deferExempt[d.peer]:
			now = append(now, d)
		case d.eor:
			held = append(held, d)
		case !slices.ContainsFunc(g.dumps, func(o dumpReq) bool { return o.peer == d.peer && o.eor }):
			now = append(now, d)
		case d.enhance:
			held = append(held, d)
		}
	}
	g.dumps = now
	e.dumpAll(gi, g)
	g.dumps = held
}
