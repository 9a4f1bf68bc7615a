package daemon

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/fib"
)

// bfdWakeEvent tells the loop that the BFD server queued state changes.
type bfdWakeEvent struct{}

// peerBFD is a neighbor's BFD session as the loop sees it.
type peerBFD struct {
	key   bfd.PeerKey
	added bool
	state bfd.State
	// wasUp: the session has been Up since it was added; only then does a
	// Down count as a failure, and only then does it hold BGP down.
	wasUp    bool
	lastDown bfd.Diag
	downAt   time.Time
	downs    uint64
	ups      uint64
	// hold keeps BGP from connecting while BFD is Down after having been
	// Up, as FRR does: a session over a path BFD calls dead would only
	// flap.
	hold bool
	// gw is the FIB member taken out of every group on a BFD failure,
	// remembered so that the same one is put back.
	gw     fib.Member
	gwDown bool
	// restartGrace runs while the peer restarted its BFD session (see
	// bfd.StateChange.PeerRestarted): BGP and the FIB are left alone
	// unless the new session is not Up when it fires.
	restartGrace *time.Timer
	graceDown    bfd.StateChange
}

// peerRestartGrace is how long a peer that restarted its BFD session has
// to bring the new one Up before closd treats the Down as a failure. The
// new session needs a slow-start round trip or two (1 s each).
const peerRestartGrace = 4 * time.Second

// bfdEnabled reports whether a neighbor runs BFD.
func bfdEnabled(n config.Neighbor) bool { return n.BFD.Enabled }

func (d *Daemon) anyBFD() bool {
	if len(d.cfg.BFD.Peers) > 0 {
		return true
	}
	for _, n := range d.cfg.Neighbors {
		if bfdEnabled(n) {
			return true
		}
	}
	return false
}

// startBFD opens the BFD server when a neighbor wants one.
func (d *Daemon) startBFD() error {
	if !d.anyBFD() {
		return nil
	}
	srv, err := d.newBFD()
	if err != nil {
		return err
	}
	d.bfd = srv
	d.addStandaloneBFD()
	return nil
}

// bfdChanged runs on the BFD server's goroutine. It must neither block nor
// call the server: the change is queued and the loop woken. When the event
// channel is full the wake is dropped, but the loop drains the queue after
// every batch of events anyway.
func (d *Daemon) bfdChanged(sc bfd.StateChange) {
	d.bfdMu.Lock()
	d.bfdQueue = append(d.bfdQueue, sc)
	d.bfdMu.Unlock()
	select {
	case d.events <- bfdWakeEvent{}:
	default:
	}
}

// drainBFD handles the queued BFD state changes, in order.
func (d *Daemon) drainBFD() {
	d.bfdMu.Lock()
	q := d.bfdQueue
	d.bfdQueue = nil
	d.bfdMu.Unlock()
	for _, sc := range q {
		d.bfdStateChange(sc)
	}
}

// bfdConfig is the BFD session a neighbor asks for. local is our address
// on its BGP session, if known.
func (d *Daemon) bfdConfig(p *peer, local netip.Addr) bfd.PeerConfig {
	n := p.n
	set := d.cfg.ResolveBFD(n.BFD.Profile, n.BFD.Interval, n.BFD.Multiplier, n.BFD.Auth)
	pc := bfd.PeerConfig{
		Peer:          p.remote.Addr().WithZone(""),
		Multihop:      n.Multihop > 0,
		DesiredMinTx:  time.Duration(set.Interval) * time.Millisecond,
		RequiredMinRx: time.Duration(set.Interval) * time.Millisecond,
		DetectMult:    uint8(min(set.Multiplier, 255)),
		Auth:          bfdAuth(set.Auth),
	}
	if la := d.cfg.Listen.Address; la.IsValid() && !la.IsUnspecified() && la.Is4() == pc.Peer.Is4() {
		pc.Local = la
	} else if local.IsValid() {
		pc.Local = local.WithZone("")
	}
	if p.n.Interface != "" {
		unnumberedBFDConfig(p, &pc, local)
	}
	if pc.Multihop {
		// Multihop N lets the peer be N-1 routers away; its packets leave
		// with TTL 255.
		pc.MinTTL = uint8(max(1, min(254, 256-n.Multihop)))
	}
	return pc
}

// addBFD starts the neighbor's BFD session if it wants one and can have one
// now: a multihop session needs our address, known from the config's
// listen address or from an established BGP session; an unnumbered one
// the peer's link-local address (see unnumbered_bfd.go).
func (d *Daemon) addBFD(p *peer, local netip.Addr) {
	if d.bfd == nil || !bfdEnabled(p.n) || p.n.Shutdown || (p.bfd != nil && p.bfd.added) || waitingForAddress(p) {
		return
	}
	pc := d.bfdConfig(p, local)
	if pc.Multihop && !pc.Local.IsValid() {
		return
	}
	key, err := d.bfd.AddPeer(pc)
	if err != nil {
		p.log.Warn("bfd: adding the session", "err", err)
		return
	}
	if d.bfdByKey[key] != nil {
		// Another neighbor already has this session (cannot happen with
		// distinct addresses); do not steal it.
		return
	}
	if p.bfd == nil {
		p.bfd = &peerBFD{}
	}
	p.bfd.key, p.bfd.added, p.bfd.state = key, true, bfd.StateDown
	d.bfdByKey[key] = p
	p.log.Info("bfd: session added", "multihop", pc.Multihop, "interval", pc.DesiredMinTx, "multiplier", pc.DetectMult, "local", pc.Local)
}

// removeBFD stops the neighbor's BFD session and undoes its FIB effect.
func (d *Daemon) removeBFD(p *peer) {
	b := p.bfd
	if b == nil || !b.added {
		return
	}
	if err := d.bfd.RemovePeer(b.key); err != nil {
		p.log.Warn("bfd: removing the session", "err", err)
	}
	delete(d.bfdByKey, b.key)
	if b.restartGrace != nil {
		b.restartGrace.Stop()
	}
	d.gatewayDown(p, false)
	p.bfd = nil
}

// gatewayDown takes the neighbor's next hop out of the FIB's groups (or
// puts it back) ahead of the RIB: the withdraw that follows the session's
// end costs a best-path run per prefix, this costs one write per group.
func (d *Daemon) gatewayDown(p *peer, down bool) {
	b := p.bfd
	if d.fib == nil || b == nil || b.gwDown == down {
		return
	}
	if !down {
		d.fib.SetGatewayDown(b.gw.Gateway, b.gw.Ifindex, false)
		b.gwDown = false
		return
	}
	var local netip.Addr
	if p.main != nil {
		local = p.main.local
	}
	m, err := d.o.Resolve(p.remote.Addr(), local)
	if err != nil {
		p.log.Debug("bfd: next hop not on a connected subnet, no FIB fast path", "err", err)
		return
	}
	d.fib.SetGatewayDown(m.Gateway, m.Ifindex, true)
	b.gw, b.gwDown = m, true
}

func (d *Daemon) bfdStateChange(sc bfd.StateChange) {
	p := d.bfdByKey[sc.Key]
	if p == nil || p.bfd == nil {
		d.standaloneChange(sc)
		return
	}
	b := p.bfd
	if sc.From != sc.To { // Down -> Down is the restart grace timer
		b.state = sc.To
	}
	p.log.Info("bfd: state change", "from", sc.From.String(), "to", sc.To.String(), "diag", sc.Diag.String())
	d.bfdx.count(sc)
	switch sc.To {
	case bfd.StateUp:
		b.wasUp = true
		b.ups++
		if b.restartGrace != nil {
			b.restartGrace.Stop()
			b.restartGrace = nil
			p.log.Info("bfd: the peer's new session is up; BGP was left alone")
		}
		d.gatewayDown(p, false)
		// BFD Up proves the path: a session that is not Established
		// starts at once, as FRR's bgpd does, whether BFD held it or
		// the peer dropped it (FRR sends Cease/BFD Down when its bfdd
		// replaces a session just after BGP came up). Waiting out an
		// idle hold that doubled with each flap would refuse the
		// peer's connections for up to MaxIdleHoldTime.
		b.hold = false
		d.bfdKickBGP(p)
	case bfd.StateDown:
		if sc.From == bfd.StateDown && b.restartGrace != nil {
			// The grace timer fired (it queues a Down -> Down change)
			// and the peer's new session is still not Up.
			b.restartGrace = nil
			if b.state == bfd.StateUp {
				return
			}
			p.log.Warn("bfd: the peer restarted its session and the new one did not come up", "grace", peerRestartGrace)
			sc = b.graceDown
		} else if sc.From != bfd.StateUp || !b.wasUp {
			return
		} else if sc.PeerAdminDown {
			// RFC 5882 3.2: the peer took BFD down on purpose (a
			// graceful restart's stop); the path is not known to have
			// failed, whatever comes after.
			b.lastDown, b.downAt = sc.Diag, sc.At
			b.downs++
			p.log.Info("bfd: peer took the session administratively down; BGP is left alone")
			return
		} else if sc.PeerRestarted || d.bgpJustEstablished(p) {
			// RFC 5880 makes the session go Down, but the peer's packets
			// are arriving (a new session), or BGP has just come up, when
			// FRR's bgpd re-registers the session and bfdd replaces it
			// (silently or with a new discriminator): give the peer's new
			// session the time to come Up.
			p.log.Info("bfd: the peer restarted its session, or BGP just came up; waiting for BFD before touching BGP",
				"grace", peerRestartGrace, "peer-restarted", sc.PeerRestarted)
			b.lastDown, b.downAt = sc.Diag, sc.At
			b.downs++
			b.graceDown = sc
			key := b.key
			b.restartGrace = time.AfterFunc(peerRestartGrace, func() {
				d.bfdChanged(bfd.StateChange{Key: key, From: bfd.StateDown, To: bfd.StateDown, Diag: sc.Diag, At: time.Now()})
			})
			if !sc.PeerRestarted && sc.Diag == bfd.DiagControlDetectExpired {
				// Nothing at all came from the peer for a detection
				// time: a replaced session would have been heard (a
				// new discriminator, or Down from the old one), so the
				// path is more likely dead. The FIB stops using it now,
				// which costs one write per group and is undone by Up;
				// BGP still waits for the grace.
				d.gatewayDown(p, true)
			}
			return
		} else {
			b.lastDown, b.downAt = sc.Diag, sc.At
			b.downs++
		}
		if d.remoteAdminDown(b.key) {
			// RFC 5882 3.2: the peer took BFD down on purpose; the path
			// is not known to have failed.
			p.log.Info("bfd: peer took the session administratively down; BGP is left alone")
			return
		}
		d.gatewayDown(p, true)
		b.hold = true
		now := d.now()
		for _, s := range []*session{p.main, p.second} {
			if s == nil {
				continue
			}
			switch s.fsm.State() {
			case fsm.StateIdle, fsm.StateConnect, fsm.StateActive:
				continue
			}
			p.log.Warn("bfd: session down, dropping BGP", "diag", sc.Diag.String())
			d.step(s, fsm.AutomaticStop{Subcode: wire.SubBFDDown}, now)
			if s.conn != nil {
				d.closeConn(s)
			}
		}
		d.forgetDynamic(p)
	}
}

func (d *Daemon) remoteAdminDown(k bfd.PeerKey) bool {
	for _, ps := range d.bfd.Peers() {
		if ps.Key == k {
			return ps.Status.RemoteState == bfd.StateAdminDown
		}
	}
	return false
}

// bgpSettle is how long after BGP reaches Established a BFD Down gets the
// restart grace: FRR's bgpd re-creates its BFD session when BGP comes up.
const bgpSettle = 3 * time.Second

func (d *Daemon) bgpJustEstablished(p *peer) bool {
	s := p.main
	if s == nil || s.fsm.State() != fsm.StateEstablished {
		return false
	}
	return d.now().Sub(s.fsm.Status().EstablishedAt) < bgpSettle
}

// bfdKickBGP restarts the neighbor's BGP at once when BFD is Up again and
// BGP is not Established: the path is proven, so neither the idle hold
// (which doubles with each drop) nor a ConnectRetry started while BFD held
// BGP should add to the outage.
func (d *Daemon) bfdKickBGP(p *peer) {
	s := p.main
	if p.n.Shutdown || s == nil {
		return
	}
	if s.fsm.State() != fsm.StateEstablished {
		s.fsm.ResetDamping()
	}
	now := d.now()
	switch s.fsm.State() {
	case fsm.StateIdle:
		d.step(s, fsm.IdleHoldTimerExpires{}, now)
	case fsm.StateActive:
		if s.conn == nil {
			d.step(s, fsm.ConnectRetryTimerExpires{}, now)
		}
	case fsm.StateConnect:
		// A dial in flight is as fast as a kick: dialing again would
		// cancel it, and a connection it already made would be closed
		// after the peer answered it (both ends' BFD comes Up at once).
		if s.conn == nil && p.dialCancel == nil {
			d.dial(p)
		}
	}
}

// bfdHeld reports whether BGP must wait for BFD before connecting: after
// BFD went Down from Up, or, with bfd strict, whenever a BFD session exists
// and is not Up (a multihop one without a listen address and a dynamic
// neighbor's only exist once BGP is up, so strict cannot hold their first
// session).
func bfdHeld(p *peer) bool {
	b := p.bfd
	if b == nil {
		return false
	}
	return b.hold || (p.n.BFD.Strict && b.added && b.state != bfd.StateUp)
}

// BFDStatus is a neighbor's BFD session for show commands.
type BFDStatus struct {
	State string `json:"state"`
	// Multihop: RFC 5883 on port 4784.
	Multihop bool `json:"multihop,omitempty"`
	// TxInterval is the negotiated transmit interval, DetectionTime how
	// long silence is tolerated (0 until the peer is heard).
	TxInterval    time.Duration `json:"tx_interval"`
	DetectionTime time.Duration `json:"detection_time"`
	LocalDiag     string        `json:"local_diag,omitempty"`
	// LastDownDiag is why the session last went from Up to Down.
	LastDownDiag string    `json:"last_down_diag,omitempty"`
	LastDownAt   time.Time `json:"last_down_at,omitzero"`
	Downs        uint64    `json:"downs"`
	// HoldingBGP: BFD went Down after being Up, and BGP waits for it.
	HoldingBGP bool `json:"holding_bgp,omitempty"`
	// GatewayDown: the neighbor's next hop is out of the FIB's groups.
	GatewayDown bool `json:"gateway_down,omitempty"`
}

// BFDPeer is one session of the daemon's BFD server.
type BFDPeer struct {
	Neighbor netip.Addr   `json:"neighbor"`
	Key      bfd.PeerKey  `json:"key"`
	Status   bfd.Status   `json:"status"`
	Counters bfd.Counters `json:"counters"`
	Summary  BFDStatus    `json:"summary"`
}

func (d *Daemon) bfdStatus(p *peer, all map[bfd.PeerKey]bfd.PeerStatus) *BFDStatus {
	b := p.bfd
	if b == nil || !b.added {
		if bfdEnabled(p.n) {
			return &BFDStatus{State: "not started"}
		}
		return nil
	}
	out := &BFDStatus{
		State:       b.state.String(),
		Multihop:    b.key.Multihop,
		Downs:       b.downs,
		LastDownAt:  b.downAt,
		HoldingBGP:  bfdHeld(p),
		GatewayDown: b.gwDown,
	}
	if b.downs > 0 {
		out.LastDownDiag = b.lastDown.String()
	}
	if ps, ok := all[b.key]; ok {
		out.State = ps.Status.State.String()
		out.TxInterval = ps.Status.TxInterval
		out.DetectionTime = ps.Status.DetectionTime
		if ps.Status.LocalDiag != bfd.DiagNone {
			out.LocalDiag = ps.Status.LocalDiag.String()
		}
	}
	return out
}

func (d *Daemon) bfdPeers() map[bfd.PeerKey]bfd.PeerStatus {
	m := map[bfd.PeerKey]bfd.PeerStatus{}
	if d.bfd == nil {
		return m
	}
	for _, ps := range d.bfd.Peers() {
		m[ps.Key] = ps
	}
	return m
}

// BFD returns every session of the daemon's BFD server, by neighbor
// address. It is empty when no neighbor runs BFD.
func (d *Daemon) BFD(ctx context.Context) ([]BFDPeer, error) {
	var out []BFDPeer
	err := d.query(ctx, func() {
		all := d.bfdPeers()
		for _, p := range d.peers {
			if p.bfd == nil || !p.bfd.added {
				continue
			}
			ps, ok := all[p.bfd.key]
			if !ok {
				continue
			}
			out = append(out, BFDPeer{
				Neighbor: p.remote.Addr(), Key: ps.Key, Status: ps.Status, Counters: ps.Counters,
				Summary: *d.bfdStatus(p, all),
			})
		}
	})
	slices.SortFunc(out, func(a, b BFDPeer) int { return a.Neighbor.Compare(b.Neighbor) })
	return out, err
}
