package daemon

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
)

// Graceful restart state for operators (`clos show bgp graceful-restart`,
// GET /v1/bgp/graceful-restart): both sides of RFC 4724 as the event loop
// sees them, read inside the loop like every other snapshot.

// Restart phase values of GRShow.Phase.
const (
	GRPhaseNone    = "none"    // this start adopted no kernel routes
	GRPhaseRunning = "running" // waiting for the peers' End-of-RIB
	GRPhaseDone    = "done"    // over; PhaseTookSeconds says how long it ran
)

// GRShow is the graceful restart state of the daemon and its neighbors.
type GRShow struct {
	Mode                   string  `json:"mode"`
	RestartTimeSeconds     float64 `json:"restart_time_seconds"`
	StalepathTimeSeconds   float64 `json:"stalepath_time_seconds"`
	SelectDeferTimeSeconds float64 `json:"select_defer_time_seconds"`
	// FIB is set when closd manages the kernel FIB, the only case where a
	// start can adopt routes and preserve forwarding.
	FIB bool `json:"fib"`
	// AdoptedRoutes counts the kernel routes of a previous run this start
	// found; the restart phase runs only when there were some.
	AdoptedRoutes int `json:"adopted_routes"`
	// Restarting is the R bit we advertise now.
	Restarting bool   `json:"restarting"`
	Phase      string `json:"phase"`
	// PhaseStarted is when the phase began; PhaseSeconds how long it has
	// run (running) or ran (done); DeferUntil when select-defer-time ends
	// it at the latest (running only).
	PhaseStarted time.Time    `json:"phase_started,omitzero"`
	PhaseSeconds float64      `json:"phase_seconds,omitempty"`
	DeferUntil   time.Time    `json:"defer_until,omitzero"`
	Neighbors    []GRNeighbor `json:"neighbors"`
	// KeptDynamic lists the dynamic neighbors (listen-range) gone while
	// restarting whose routes are kept until they come back or their
	// restart time ends, by address.
	KeptDynamic []GRKeptDynamic `json:"kept_dynamic,omitempty"`
}

// GRKeptDynamic is a forgotten dynamic neighbor's routes kept for its
// restart.
type GRKeptDynamic struct {
	Address      netip.Addr   `json:"address"`
	ListenRange  netip.Prefix `json:"listen_range"`
	RestartUntil time.Time    `json:"restart_until"`
	StalePaths   []GRStale    `json:"stale_paths,omitempty"`
}

// GRCapability is one side's Graceful Restart capability.
type GRCapability struct {
	RestartTimeSeconds int  `json:"restart_time_seconds"`
	Restarting         bool `json:"restarting"`
	// Notification is the N bit (RFC 8538).
	Notification bool       `json:"notification"`
	Families     []GRFamily `json:"families"`
}

// GRFamily is a family of the capability with its F bit.
type GRFamily struct {
	Family              string `json:"family"`
	ForwardingPreserved bool   `json:"forwarding_preserved"`
}

// GRStale counts one family's stale paths of a helped peer.
type GRStale struct {
	Family string `json:"family"`
	Paths  int    `json:"paths"`
}

// GRNeighbor is graceful restart as seen with one neighbor.
type GRNeighbor struct {
	Address     netip.Addr `json:"address"`
	Interface   string     `json:"interface,omitempty"`
	Description string     `json:"description,omitempty"`
	State       string     `json:"state"`
	// Sent is the capability our OPENs carry now (nil in mode off);
	// Received the one of the peer's last OPEN (nil when it sent none or
	// no OPEN exchange happened yet).
	Sent     *GRCapability `json:"sent,omitempty"`
	Received *GRCapability `json:"received,omitempty"`
	// NotificationNegotiated is set when both OPENs of the current (or
	// last) session had the N bit (RFC 8538): a NOTIFICATION other than
	// a Hard Reset then keeps the routes as a restart does.
	NotificationNegotiated bool `json:"notification_negotiated,omitempty"`
	// Helper state: PeerRestarting while the session is down and its
	// routes are kept, until RestartUntil (restart time); WaitingEndOfRIB
	// once it is back with stale routes left, until StaleUntil
	// (stalepath-time).
	PeerRestarting  bool      `json:"peer_restarting,omitempty"`
	RestartUntil    time.Time `json:"restart_until,omitzero"`
	WaitingEndOfRIB bool      `json:"waiting_end_of_rib,omitempty"`
	StaleUntil      time.Time `json:"stale_until,omitzero"`
	StalePaths      []GRStale `json:"stale_paths,omitempty"`
	// EndOfRIB lists the families the peer sent End-of-RIB for on the
	// current session.
	EndOfRIB []string `json:"end_of_rib"`
	// HoldsPhase is set while our restart phase waits for this neighbor.
	HoldsPhase bool `json:"holds_phase,omitempty"`
}

func grCapShow(g *wire.GracefulRestart) *GRCapability {
	if g == nil {
		return nil
	}
	c := &GRCapability{RestartTimeSeconds: int(g.Time), Restarting: g.Restarting, Notification: g.Notification, Families: []GRFamily{}}
	for _, f := range g.Families {
		c.Families = append(c.Families, GRFamily{Family: f.Family.String(), ForwardingPreserved: f.ForwardingPreserved})
	}
	return c
}

// GracefulRestartShow reports both sides of graceful restart, neighbors in
// config order.
func (d *Daemon) GracefulRestartShow(ctx context.Context) (GRShow, error) {
	var out GRShow
	err := d.query(ctx, func() {
		now := d.now()
		g := &d.gr
		out = GRShow{
			Mode:                   g.set.Mode,
			RestartTimeSeconds:     g.set.RestartTime.Seconds(),
			StalepathTimeSeconds:   g.set.StalepathTime.Seconds(),
			SelectDeferTimeSeconds: g.set.SelectDeferTime.Seconds(),
			FIB:                    g.fib,
			AdoptedRoutes:          g.adopted,
			Restarting:             g.restarting,
			Phase:                  GRPhaseNone,
			Neighbors:              []GRNeighbor{},
		}
		switch {
		case g.phase:
			out.Phase, out.PhaseStarted = GRPhaseRunning, g.began
			out.PhaseSeconds, out.DeferUntil = now.Sub(g.began).Seconds(), g.deferUntil
		case !g.began.IsZero():
			out.Phase, out.PhaseStarted, out.PhaseSeconds = GRPhaseDone, g.began, g.took.Seconds()
		}
		for _, p := range d.peers {
			out.Neighbors = append(out.Neighbors, d.grShowNeighbor(p))
		}
		for a, k := range d.gr.dyn {
			out.KeptDynamic = append(out.KeptDynamic, GRKeptDynamic{Address: a, ListenRange: k.r.prefix,
				RestartUntil: k.hold.until, StalePaths: d.grStale(k.hold.id)})
		}
		slices.SortFunc(out.KeptDynamic, func(a, b GRKeptDynamic) int { return a.Address.Compare(b.Address) })
	})
	return out, err
}

func (d *Daemon) grShowNeighbor(p *peer) GRNeighbor {
	n := GRNeighbor{
		Address:     p.remote.Addr(),
		Interface:   p.n.Interface,
		Description: p.n.Description,
		State:       p.main.fsm.State().String(),
		Sent:        grCapShow(p.fcfg.Capabilities.GracefulRestart),
		Received:    grCapShow(p.lastNeg.PeerGracefulRestart),
		EndOfRIB:    []string{},

		NotificationNegotiated: p.lastNeg.GracefulNotification,
	}
	established := p.main.inRIB && p.main.fsm.State() == fsm.StateEstablished
	if established {
		for _, f := range p.main.eorIn {
			n.EndOfRIB = append(n.EndOfRIB, f.String())
		}
	}
	if h := p.gr; h != nil {
		n.StalePaths = d.grStale(h.id)
		// Back, the hold lasts until the stalepath timer, but after the
		// End-of-RIBs nothing is left waiting.
		switch {
		case !h.back:
			n.PeerRestarting, n.RestartUntil = true, h.until
		case len(n.StalePaths) > 0:
			n.WaitingEndOfRIB, n.StaleUntil = true, h.until
		}
	}
	if d.gr.phase && p.dyn == nil && !p.n.Shutdown {
		n.HoldsPhase = !d.grDone(p)
	}
	return n
}

// grStale counts a RIB peer's stale paths per family.
func (d *Daemon) grStale(id rib.PeerID) []GRStale {
	var out []GRStale
	for _, f := range d.rib.StaleFamilies(id) {
		out = append(out, GRStale{Family: f.String(), Paths: d.rib.StalePaths(id, f)})
	}
	return out
}

// grNoteEndOfRIB records a peer's End-of-RIB for show, once per family: a
// peer repeating it must not grow the list.
func grNoteEndOfRIB(s *session, f wire.Family) {
	if !slices.Contains(s.eorIn, f) {
		s.eorIn = append(s.eorIn, f)
	}
}
