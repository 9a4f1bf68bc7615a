package daemon

import (
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// Graceful restart, receiving side (RFC 4724 4.2, "helper"): when a peer
// that listed the session's families in its capability loses its session
// without a NOTIFICATION, closd keeps the peer's routes, marked stale, for
// the peer's restart time. When the session comes back, a family the new
// OPEN does not mark as forwarding-preserved loses its stale routes at
// once; otherwise the peer's End-of-RIB for a family withdraws what is
// still stale, and what it never re-announces goes at the stalepath time.
// The restarting side is in gr_restart.go.

// grHold is a peer's routes kept while it restarts.
type grHold struct {
	id rib.PeerID
	// until is the restart timer while the session is down, then the
	// stale timer once it is back.
	until time.Time
	// back is set once the session is re-established.
	back bool
}

// grKeeps reports whether s's end keeps the peer's routes: the peer's
// capability listed every family of the session (RFC 4724 4.2: the F bit
// of the OPEN that follows decides whether the stale routes then stay;
// grResumed), the session ended without a NOTIFICATION either way and not
// because its link went down.
func grKeeps(s *session, a fsm.Down, linkDown bool) (time.Duration, bool) {
	g := s.neg.PeerGracefulRestart
	if !a.WasEstablished || a.Sent != nil || a.Received != nil || linkDown || g == nil || g.Time == 0 || s.p.dyn != nil {
		return 0, false
	}
	for _, f := range s.neg.Families {
		if !slices.ContainsFunc(g.Families, func(gf wire.GRFamily) bool { return gf.Family == f }) {
			return 0, false
		}
	}
	return time.Duration(g.Time) * time.Second, true
}

// grDown takes a peer's session out of the RIB, keeping its routes stale
// when graceful restart applies. It reports whether it did.
func (d *Daemon) grDown(s *session, a fsm.Down, now time.Time) bool {
	restart, ok := grKeeps(s, a, s.linkDown)
	if !ok || d.gr.set.Mode == config.GROff {
		return false
	}
	if err := d.rib.PeerDown(s.ribID, true); err != nil {
		s.p.log.Error("keeping the peer's routes for its restart", "err", err)
		return false
	}
	if old := s.p.gr; old != nil && old.id != s.ribID {
		d.grForget(s.p)
	}
	s.p.gr = &grHold{id: s.ribID, until: now.Add(restart)}
	s.p.log.Info("peer restarting: keeping its routes", "restart-time", restart)
	return true
}

// grResume returns the RIB peer of routes kept for p, now that its session
// is back, and starts the stale timer.
func (d *Daemon) grResume(p *peer, now time.Time) (rib.PeerID, bool) {
	g := p.gr
	if g == nil || g.back {
		return 0, false
	}
	g.back = true
	g.until = now.Add(d.gr.set.StalepathTime)
	return g.id, true
}

// grResumed finishes a resumed session: a peer that did not keep its
// forwarding this time loses its stale routes at once (RFC 4724 4.2).
func (d *Daemon) grResumed(p *peer, neg fsm.Negotiated) {
	if p.gr == nil {
		return
	}
	kept := neg.PeerGracefulRestart != nil
	if kept {
		for _, f := range neg.Families {
			ok := false
			for _, gf := range neg.PeerGracefulRestart.Families {
				if gf.Family == f && gf.ForwardingPreserved {
					ok = true
				}
			}
			kept = kept && ok
		}
	}
	if !kept {
		if err := d.rib.StaleTimeout(p.gr.id); err != nil {
			p.log.Warn("dropping stale routes", "err", err)
		}
		p.gr = nil
	}
}

// grForget drops what is kept for p, with the peer.
func (d *Daemon) grForget(p *peer) {
	g := p.gr
	if g == nil {
		return
	}
	p.gr = nil
	if s := d.byRIB[g.id]; s != nil && s.inRIB {
		// The session is up on this RIB peer: only its stale paths go.
		d.rib.StaleTimeout(g.id)
		return
	}
	if err := d.rib.RemovePeer(g.id); err != nil {
		p.log.Error("removing a restarting peer from the RIB", "err", err)
	}
	delete(d.byRIB, g.id)
}

func (d *Daemon) grDeadline() time.Time {
	var t time.Time
	for _, p := range d.peers {
		if g := p.gr; g != nil && (t.IsZero() || g.until.Before(t)) {
			t = g.until
		}
	}
	return t
}

func (d *Daemon) grTick(now time.Time) {
	for _, p := range d.peers {
		g := p.gr
		if g == nil || g.until.After(now) {
			continue
		}
		if g.back {
			p.log.Info("stale timer expired: dropping routes the peer did not announce again")
		} else {
			p.log.Info("restart timer expired: dropping the peer's routes")
		}
		d.grForget(p)
	}
}
