package daemon

import (
	"fmt"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// Graceful restart, receiving side (RFC 4724 4.2, "helper"): when a peer
// whose capability listed some of the session's families loses its
// session without a NOTIFICATION (or, with the N bit on both sides, RFC
// 8538, with any NOTIFICATION but a Hard Reset), closd keeps the peer's
// routes of those families, marked stale, for the peer's restart time; the
// other families' routes go at once. When the session comes back, a
// family the new OPEN does not list with Forwarding preserved (F) loses
// its stale routes at once, all of them when the OPEN has no capability;
// the others wait for the family's End-of-RIB, and what is still stale
// goes at the stalepath time. A dynamic neighbor's hold outlives the
// neighbor (gr_dynamic.go). The restarting side is in gr_restart.go.

// grHold is a peer's routes kept while it restarts.
type grHold struct {
	id rib.PeerID
	// until is the restart timer while the session is down, then the
	// stale timer once it is back.
	until time.Time
	// back is set once the session is re-established.
	back bool
}

// grKeeps reports whether s's end keeps the peer's routes, for how long
// and in which families: those of the session the peer's capability
// listed. The session must have ended as a restart does (grSoftEnd) and
// not because its link went down.
func grKeeps(s *session, a fsm.Down, linkDown bool) (time.Duration, []wire.Family, bool) {
	g := s.neg.PeerGracefulRestart
	if !a.WasEstablished || linkDown || g == nil || g.Time == 0 || !grSoftEnd(a, s.neg.GracefulNotification) {
		return 0, nil, false
	}
	var keep []wire.Family
	for _, f := range s.neg.Families {
		if slices.ContainsFunc(g.Families, func(gf wire.GRFamily) bool { return gf.Family == f }) {
			keep = append(keep, f)
		}
	}
	return time.Duration(g.Time) * time.Second, keep, len(keep) > 0
}

// grSoftEnd reports whether a session ended the way a restart ends it: a
// TCP close or hold timer without a NOTIFICATION, or, when both sides set
// the N bit (RFC 8538 4), any NOTIFICATION other than a Cease/Hard Reset,
// sent or received.
func grSoftEnd(a fsm.Down, n bool) bool {
	if a.Sent == nil && a.Received == nil {
		return true
	}
	return n && (a.Sent == nil || !a.Sent.HardReset()) && (a.Received == nil || !a.Received.HardReset())
}

// grDown takes a peer's session out of the RIB, keeping its routes stale
// when graceful restart applies. It reports whether it did; when not, the
// caller removes the RIB peer, and a hold on it is dropped here.
func (d *Daemon) grDown(s *session, a fsm.Down, now time.Time) bool {
	p := s.p
	restart, keep, ok := grKeeps(s, a, s.linkDown)
	if ok && d.gr.set.Mode != config.GROff && p.dyn != nil && !d.grDynamicRoom(p) {
		p.log.Warn("not keeping a restarting dynamic neighbor's routes: its listen-range has as many kept as its limit",
			"listen-range", p.dyn.prefix, "limit", p.dyn.limit)
		ok = false
	}
	if !ok || d.gr.set.Mode == config.GROff {
		if g := p.gr; g != nil && g.id == s.ribID {
			p.gr = nil
		}
		return false
	}
	if err := d.rib.PeerDown(s.ribID, true); err != nil {
		p.log.Error("keeping the peer's routes for its restart", "err", err)
		return false
	}
	for _, f := range d.rib.StaleFamilies(s.ribID) {
		if !slices.Contains(keep, f) {
			p.log.Info("peer restarting: dropping the routes of a family its capability does not list", "family", f.String())
			d.rib.DropStale(s.ribID, f)
		}
	}
	if old := p.gr; old != nil && old.id != s.ribID {
		d.grForget(p)
	}
	p.gr = &grHold{id: s.ribID, until: now.Add(restart)}
	p.log.Info("peer restarting: keeping its routes", "restart-time", restart, "families", fmt.Sprint(keep))
	return true
}

// grNotificationAttrs logs a NOTIFICATION under key by what it means: a
// Hard Reset by the one it wraps, with key-hard-reset set.
func grNotificationAttrs(key string, n *wire.Notification) []any {
	if n == nil {
		return nil
	}
	if inner, ok := n.HardResetCause(); ok {
		return []any{key, inner.String(), key + "-hard-reset", true}
	}
	return []any{key, n.String()}
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

// grResumed finishes a resumed session (RFC 4724 4.2): a family the new
// OPEN does not carry with its forwarding preserved loses its stale routes
// at once; the others wait for their End-of-RIB.
func (d *Daemon) grResumed(p *peer, neg fsm.Negotiated) {
	g := p.gr
	if g == nil {
		return
	}
	for _, f := range d.rib.StaleFamilies(g.id) {
		if grPreserved(neg, f) {
			continue
		}
		p.log.Info("peer back without its forwarding preserved: dropping its stale routes", "family", f.String())
		if err := d.rib.DropStale(g.id, f); err != nil {
			p.log.Warn("dropping stale routes", "err", err)
		}
	}
	d.grSettle(p)
}

// grPreserved reports whether the session neg carries f and the peer's
// capability lists it with the F bit.
func grPreserved(neg fsm.Negotiated, f wire.Family) bool {
	c := neg.PeerGracefulRestart
	if c == nil || !slices.Contains(neg.Families, f) {
		return false
	}
	return slices.ContainsFunc(c.Families, func(gf wire.GRFamily) bool { return gf.Family == f && gf.ForwardingPreserved })
}

// grSettle ends the hold of a peer that is back once none of its routes is
// stale any more (End-of-RIB for every family kept).
func (d *Daemon) grSettle(p *peer) {
	if g := p.gr; g != nil && g.back && len(d.rib.StaleFamilies(g.id)) == 0 {
		p.gr = nil
		p.log.Info("graceful restart of the peer complete: no stale routes left")
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
	if k := d.grDynamicDeadline(); !k.IsZero() && (t.IsZero() || k.Before(t)) {
		t = k
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
	d.grDynamicTick(now)
}
