package daemon

import (
	"log/slog"
	"net/netip"
	"time"
)

// Graceful restart helper for dynamic neighbors (listen-range): a dynamic
// neighbor is forgotten when its session ends, but a host that restarts
// (RFC 4724) must find its routes still there when it comes back. So a
// dynamic neighbor whose session ended as a restart keeps its RIB peer,
// stale, in d.gr.dyn under its address, for the restart time of its last
// capability; a connection from the same address, within its range, gets
// a new neighbor that takes the hold over and resumes it as a static
// neighbor's would. A range keeps at most its limit of such holds; past
// that, a restarting neighbor's routes go at once.

// grKept is a forgotten dynamic neighbor's routes kept for its restart.
type grKept struct {
	hold *grHold
	r    *dynRange
	log  *slog.Logger
}

// grDynamicRoom reports whether p's range may keep one more restarting
// neighbor: holds of forgotten neighbors and of live ones still down
// count, p itself not.
func (d *Daemon) grDynamicRoom(p *peer) bool {
	n := 0
	for _, k := range d.gr.dyn {
		if k.r == p.dyn {
			n++
		}
	}
	for _, q := range d.peers {
		if q != p && q.dyn == p.dyn && q.gr != nil && !q.gr.back {
			n++
		}
	}
	return n < p.dyn.limit
}

// grStashDynamic keeps the hold of a dynamic neighbor being forgotten
// (forgetDynamic).
func (d *Daemon) grStashDynamic(p *peer) {
	g := p.gr
	if g == nil {
		return
	}
	if g.back {
		// Its session was up on the held routes: nothing restarts now.
		d.grForget(p)
		return
	}
	p.gr = nil
	d.gr.dyn[p.remote.Addr()] = &grKept{hold: g, r: p.dyn, log: p.log}
	p.log.Info("dynamic neighbor removed; its routes stay for its restart", "until", g.until)
}

// grAdoptDynamic gives a new dynamic neighbor the routes kept for its
// address (dynamicPeer), when its range is the one that kept them.
func (d *Daemon) grAdoptDynamic(p *peer) {
	a := p.remote.Addr()
	k := d.gr.dyn[a]
	if k == nil || k.r != p.dyn {
		return
	}
	delete(d.gr.dyn, a)
	p.gr = k.hold
	p.log.Info("dynamic neighbor back: it finds the routes kept for its restart")
}

// grDynamicRanges follows a reload: holds move to the new range of the
// same prefix; those of a range gone are dropped.
func (d *Daemon) grDynamicRanges() {
	by := map[netip.Prefix]*dynRange{}
	for _, r := range d.ranges {
		by[r.prefix] = r
	}
	for a, k := range d.gr.dyn {
		if r := by[k.r.prefix]; r != nil {
			k.r = r
			continue
		}
		k.log.Info("listen-range removed: dropping the routes kept for a restarting dynamic neighbor")
		d.grDropKept(a, k)
	}
}

func (d *Daemon) grDropKept(a netip.Addr, k *grKept) {
	delete(d.gr.dyn, a)
	if err := d.rib.RemovePeer(k.hold.id); err != nil {
		k.log.Error("removing a restarting dynamic neighbor from the RIB", "err", err)
	}
	delete(d.byRIB, k.hold.id)
}

func (d *Daemon) grDynamicDeadline() time.Time {
	var t time.Time
	for _, k := range d.gr.dyn {
		if t.IsZero() || k.hold.until.Before(t) {
			t = k.hold.until
		}
	}
	return t
}

func (d *Daemon) grDynamicTick(now time.Time) {
	for a, k := range d.gr.dyn {
		if k.hold.until.After(now) {
			continue
		}
		k.log.Info("restart timer expired: dropping the routes of a dynamic neighbor that did not come back")
		d.grDropKept(a, k)
	}
}
