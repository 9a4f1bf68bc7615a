package daemon

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// Graceful restart, restarting side (RFC 4724 4.1). A closd that stops
// gracefully (SIGTERM with graceful-restart mode restart) closes its
// sessions without a NOTIFICATION, tells its BFD peers AdminDown and
// leaves its routes in the kernel. The next closd adopts them (fib.Start)
// and, having found some, runs a restart phase:
//
//   - its capability says Restarting (R) and lists the sessions' families
//     with Forwarding preserved (F), so the peers keep its routes and go on
//     forwarding to it;
//   - it sends no peer its routes or its End-of-RIB (rib.DeferInitial)
//     until every configured peer is established and has sent End-of-RIB
//     for its families (a peer without the capability counts once
//     established; one restarting itself gets ours at once), or until
//     select-defer-time;
//   - then it sends every peer its table and End-of-RIB, and sweeps the
//     adopted kernel routes that nobody re-learned.
//
// F stays set for sessions after the first one with a peer in this run
// (the FIB was kept across the reset); it is clear on a start that found
// nothing in the kernel, so a peer never keeps routes to a closd that
// cannot forward on them.

// grState is the daemon's graceful restart state.
type grState struct {
	set config.GRSettings
	fib bool
	// adopted is what fib.Start found of ours in the kernel.
	adopted int
	// phase is set during the restart phase; restarting too when closd
	// also advertises R and holds its updates (mode restart).
	phase, restarting bool
	deferUntil        time.Time
	// began and took time the restart phase (took is 0 until it ends).
	began time.Time
	took  time.Duration
	// eor records the End-of-RIBs each session sent during the phase.
	eor map[*session]map[wire.Family]bool
	// seen lists neighbors that had a session in this run: their next
	// sessions may claim preserved forwarding.
	seen map[string]bool
	// graceful makes the coming stop graceful (GracefulStop).
	graceful atomic.Bool
	// kept lists the adopted prefixes during the phase; the RIB's changes
	// for them wait in heldECMP and heldDiscard (gr_fib.go).
	kept        map[netip.Prefix]bool
	heldECMP    map[netip.Prefix]rib.ECMPChange
	heldDiscard map[netip.Prefix]rib.DiscardChange
	// dyn holds the routes of forgotten dynamic neighbors that restart
	// (gr_dynamic.go), by address.
	dyn map[netip.Addr]*grKept
}

func (d *Daemon) grInit() {
	d.gr.set = d.cfg.GracefulRestartSettings(d.o.FIB != nil)
	d.gr.fib = d.o.FIB != nil
	d.gr.seen = map[string]bool{}
	d.gr.dyn = map[netip.Addr]*grKept{}
}

// grCapability is the capability of a neighbor (by name) with families
// fams; nil in mode off. A neighbor's sessions share the value (the fsm
// configs hold the pointer), so grRefresh changes it in place for the
// OPENs that follow.
func (d *Daemon) grCapability(name string, fams []wire.Family) *wire.GracefulRestart {
	if d.gr.set.Mode == config.GROff {
		return nil
	}
	// N (RFC 8538): a NOTIFICATION other than a Hard Reset ends the
	// session as a restart would, on both sides.
	g := &wire.GracefulRestart{Time: uint16(d.gr.set.RestartTime / time.Second), Notification: d.gr.set.Notification}
	if d.gr.set.Mode == config.GRRestart {
		for _, f := range fams {
			g.Families = append(g.Families, wire.GRFamily{Family: f})
		}
	}
	d.grFill(name, g)
	return g
}

// grFill sets the R and F bits of a neighbor's capability as they are now.
func (d *Daemon) grFill(name string, g *wire.GracefulRestart) {
	g.Restarting = d.gr.restarting
	fwd := d.gr.fib && (d.gr.adopted > 0 || d.gr.seen[name])
	for i := range g.Families {
		g.Families[i].ForwardingPreserved = fwd
	}
}

func (d *Daemon) grRefresh() {
	for _, p := range d.peers {
		if g := p.fcfg.Capabilities.GracefulRestart; g != nil {
			g.Time = uint16(d.gr.set.RestartTime / time.Second)
			d.grFill(p.name, g)
		}
	}
}

// grReload applies a reloaded graceful-restart section to the sessions
// established from now on; a new mode waits for the next start, since it
// decides what closd kept of its previous run.
func (d *Daemon) grReload(cfg *config.Config) []string {
	set := cfg.GracefulRestartSettings(d.gr.fib)
	if set == d.gr.set {
		return nil
	}
	var notes []string
	if set.Mode != d.gr.set.Mode {
		notes = append(notes, "graceful-restart.mode changed: takes effect at the next start of closd")
		set.Mode = d.gr.set.Mode
	}
	if set != d.gr.set {
		notes = append(notes, "graceful-restart timers changed: sessions established from now on use them")
	}
	d.gr.set = set
	// Neighbors the reload adds were built with the old values and join
	// d.peers later in the reload: refresh once it is done.
	d.later = append(d.later, d.grRefresh)
	return notes
}

// grStart begins the restart phase when the FIB adopted routes of a
// previous run (Run, after fib.Start).
func (d *Daemon) grStart(now time.Time) {
	if d.fib == nil {
		return
	}
	d.gr.adopted = d.fib.KernelRoutes()
	if d.gr.adopted > 0 && d.o.SweepAfter == 0 {
		d.gr.phase = true
		d.gr.began = now
		d.gr.restarting = d.gr.set.Mode == config.GRRestart
		d.gr.deferUntil = now.Add(d.gr.set.SelectDeferTime)
		d.gr.eor = map[*session]map[wire.Family]bool{}
		d.rib.DeferInitial(d.gr.restarting)
		d.grHoldInit()
		d.log.Info("graceful restart: kept kernel routes of the previous run; waiting for the peers' End-of-RIB",
			"routes", d.gr.adopted, "mode", d.gr.set.Mode, "select-defer-time", d.gr.set.SelectDeferTime)
	}
	d.grRefresh()
}

// grEstablished notes a neighbor's session: its later sessions keep F.
func (d *Daemon) grEstablished(p *peer) {
	if !d.gr.seen[p.name] {
		d.gr.seen[p.name] = true
		if g := p.fcfg.Capabilities.GracefulRestart; g != nil {
			d.grFill(p.name, g)
		}
	}
}

// grEndOfRIB records a peer's End-of-RIB during the restart phase.
func (d *Daemon) grEndOfRIB(s *session, f wire.Family) {
	d.grSettle(s.p)
	if !d.gr.phase {
		return
	}
	m := d.gr.eor[s]
	if m == nil {
		m = map[wire.Family]bool{}
		d.gr.eor[s] = m
	}
	m[f] = true
}

// grDone reports whether p no longer holds the restart phase: its session
// is up and has sent End-of-RIB for every family, or is up and the peer has
// no capability (no End-of-RIB is then promised). A peer that restarts
// too (R; FRR also sets it for restart-time after bgpd starts) waits for
// our End-of-RIB before sending its own (RFC 4724 4.1): it gets our table
// and End-of-RIB at once, and we still wait for its End-of-RIB. Counting
// it done on Established instead wrote the FIB before its routes came and
// dropped traffic for FRR's update delay.
func (d *Daemon) grDone(p *peer) bool {
	s := p.main
	if s == nil || !s.inRIB || s.fsm.State() != fsm.StateEstablished {
		return false
	}
	// A peer with the capability sends End-of-RIB after its initial
	// update even when we sent none (mode off): FRR, BIRD and GoBGP do,
	// and select-defer-time bounds the wait for one that would not.
	// Without its End-of-RIB the phase would end on Established and sweep
	// the adopted routes before the peer's UPDATEs came.
	g := s.neg.PeerGracefulRestart
	if g == nil {
		return true
	}
	if g.Restarting {
		d.rib.SendInitialNow(s.ribID)
	}
	for _, f := range s.neg.Families {
		if !d.gr.eor[s][f] {
			return false
		}
	}
	return true
}

// grPhaseCheck ends the restart phase once no configured neighbor holds
// it or select-defer-time has passed. Dynamic neighbors do not count:
// nobody knows whether they will come.
func (d *Daemon) grPhaseCheck(now time.Time) {
	if !d.gr.phase {
		return
	}
	reason := "select-defer-time expired"
	if now.Before(d.gr.deferUntil) {
		for _, p := range d.peers {
			if p.dyn != nil || p.n.Shutdown {
				continue
			}
			if !d.grDone(p) {
				return
			}
		}
		reason = "every neighbor sent End-of-RIB"
	}
	d.gr.phase, d.gr.restarting = false, false
	d.gr.took = now.Sub(d.gr.began)
	d.gr.eor = nil
	d.grRefresh()
	d.rib.DeferInitial(false)
	d.log.Info("graceful restart: restart phase over: sending End-of-RIB and removing kernel routes nobody re-learned", "why", reason)
	// Every held table and End-of-RIB goes, and what the last UPDATEs
	// changed reaches the FIB before the sweep looks at it: a route they
	// brought back must not be swept and installed again.
	// Route selection deferred during the phase reaches the FIB here.
	d.flush()
	d.grRelease()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.fib.Sweep(ctx); err != nil {
		d.log.Warn("fib: sweeping routes of a previous run", "err", err)
	}
}

func (d *Daemon) grPhaseDeadline() time.Time {
	if !d.gr.phase {
		return time.Time{}
	}
	return d.gr.deferUntil
}

// GracefulStop makes the stop that ends Run (its context) graceful when
// graceful-restart mode is restart: sessions are closed without a
// NOTIFICATION, BFD sessions told AdminDown, kernel routes left for the
// next closd to adopt. closd calls it on SIGTERM; other stops send every
// peer Cease/Administrative Shutdown.
func (d *Daemon) GracefulStop() { d.gr.graceful.Store(true) }

func (d *Daemon) gracefulStopping() bool {
	return d.gr.graceful.Load() && d.gr.set.Mode == config.GRRestart
}

// GracefulRestartStatus is the restart side's state, for tests and show.
type GracefulRestartStatus struct {
	Mode string
	// Adopted counts the kernel routes of a previous run found at start.
	Adopted int
	// Restarting is true during the restart phase; PhaseTook is how long
	// it lasted once over.
	Restarting bool
	PhaseTook  time.Duration
	// Helping counts neighbors whose routes closd keeps while they
	// restart or until their End-of-RIB (helper side); KeptDynamic those
	// of them that are forgotten dynamic neighbors.
	Helping, KeptDynamic int
}

// GracefulRestart reports the restart side's state.
func (d *Daemon) GracefulRestart(ctx context.Context) (GracefulRestartStatus, error) {
	var st GracefulRestartStatus
	err := d.query(ctx, func() {
		st = GracefulRestartStatus{Mode: d.gr.set.Mode, Adopted: d.gr.adopted, Restarting: d.gr.phase, PhaseTook: d.gr.took}
		for _, p := range d.peers {
			if p.gr != nil {
				st.Helping++
			}
		}
		st.KeptDynamic = len(d.gr.dyn)
		st.Helping += st.KeptDynamic
	})
	return st, err
}

// grCloseSessions closes every connection without a NOTIFICATION: what
// is queued still goes, then the TCP close tells the peers closd is
// restarting (RFC 4724 4.2).
// grAdminDownDelay is how long a graceful stop keeps BFD Up after closing
// the BGP connections, so that peers see the TCP close before AdminDown
// (FRR 8.4 ends a graceful restart at a BFD Down that finds its session
// still Established). Forwarding does not stop meanwhile: the kernel
// routes stay, and the peers keep ours.
const grAdminDownDelay = 500 * time.Millisecond

func (d *Daemon) grCloseSessions() {
	d.log.Info("graceful stop: closing sessions without a NOTIFICATION; kernel routes stay for the next closd")
	for _, p := range d.peers {
		d.abortDial(p)
		for _, s := range []*session{p.main, p.second} {
			if s != nil && s.conn != nil {
				d.closeConn(s)
			}
		}
	}
}
