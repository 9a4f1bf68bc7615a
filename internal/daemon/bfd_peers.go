package daemon

import (
	"cmp"
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/config"
)

// bfdExtra is the loop's BFD state beyond the neighbors' sessions: the
// standalone peers of the config's bfd.peers and the state-change counters.
type bfdExtra struct {
	alone map[bfd.PeerKey]*standaloneBFD
	// ups counts transitions to Up, downs transitions from Up to any other
	// state, over every session since start.
	ups, downs uint64
}

func (x *bfdExtra) count(sc bfd.StateChange) {
	switch {
	case sc.To == bfd.StateUp:
		x.ups++
	case sc.From == bfd.StateUp:
		x.downs++
	}
}

// standaloneBFD is a bfd.peers session: it is run and shown, and nothing
// else depends on it.
type standaloneBFD struct {
	cfg      config.BFDPeer
	key      bfd.PeerKey
	state    bfd.State
	ups      uint64
	downs    uint64
	lastDown bfd.Diag
	downAt   time.Time
	upAt     time.Time
}

// bfdAuth turns the config's authentication into the engine's.
func bfdAuth(a *config.BFDAuth) *bfd.AuthConfig {
	if a == nil {
		return nil
	}
	t := map[string]bfd.AuthType{
		config.BFDAuthSimple:              bfd.AuthSimplePassword,
		config.BFDAuthKeyedMD5:            bfd.AuthKeyedMD5,
		config.BFDAuthMeticulousKeyedMD5:  bfd.AuthMeticulousKeyedMD5,
		config.BFDAuthKeyedSHA1:           bfd.AuthKeyedSHA1,
		config.BFDAuthMeticulousKeyedSHA1: bfd.AuthMeticulousSHA1,
	}[a.Type]
	id := uint8(a.KeyID)
	return &bfd.AuthConfig{Type: t, KeyID: id, Keys: map[uint8][]byte{id: []byte(a.Key)}}
}

// standaloneConfig is the engine's view of a bfd.peers entry.
func (d *Daemon) standaloneConfig(pr config.BFDPeer) bfd.PeerConfig {
	set := d.cfg.ResolveBFD(pr.Profile, pr.Interval, pr.Multiplier, pr.Auth)
	return bfd.PeerConfig{
		Peer:          pr.Address,
		Local:         pr.Local,
		Interface:     pr.Interface,
		Multihop:      pr.Multihop,
		MinTTL:        uint8(pr.MinTTL),
		DesiredMinTx:  time.Duration(set.Interval) * time.Millisecond,
		RequiredMinRx: time.Duration(set.Interval) * time.Millisecond,
		DetectMult:    uint8(min(set.Multiplier, 255)),
		Auth:          bfdAuth(set.Auth),
		AdminDown:     pr.Shutdown,
	}
}

// addStandaloneBFD starts the config's bfd.peers. A peer that cannot start
// (an interface that does not exist yet) is logged and left out; the rest
// run.
func (d *Daemon) addStandaloneBFD() {
	if d.bfdx.alone == nil {
		d.bfdx.alone = map[bfd.PeerKey]*standaloneBFD{}
	}
	for _, pr := range d.cfg.BFD.Peers {
		key, err := d.bfd.AddPeer(d.standaloneConfig(pr))
		if err != nil {
			d.log.Warn("bfd: adding a standalone peer", "peer", pr.Address, "err", err)
			continue
		}
		d.bfdx.alone[key] = &standaloneBFD{cfg: pr, key: key, state: bfd.StateDown}
		d.log.Info("bfd: standalone peer added", "peer", key.String())
	}
}

func (d *Daemon) standaloneChange(sc bfd.StateChange) {
	a := d.bfdx.alone[sc.Key]
	if a == nil {
		return
	}
	d.bfdx.count(sc)
	a.state = sc.To
	lvl := slog.LevelInfo
	switch {
	case sc.To == bfd.StateUp:
		a.ups++
		a.upAt = sc.At
	case sc.From == bfd.StateUp:
		a.downs++
		a.lastDown, a.downAt = sc.Diag, sc.At
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, "bfd: standalone peer state change", "peer", sc.Key.String(),
		"from", sc.From.String(), "to", sc.To.String(), "diag", sc.Diag.String())
}

// BFDSession is one BFD session for `clos show bfd`: addressing, owner,
// negotiated timers, state history and packet counters. Intervals are in
// milliseconds.
type BFDSession struct {
	Peer      netip.Addr `json:"peer"`
	Interface string     `json:"interface,omitempty"`
	Local     netip.Addr `json:"local,omitzero"`
	Multihop  bool       `json:"multihop,omitempty"`
	// Neighbor is the BGP neighbor that owns the session; unset for a
	// standalone peer (bfd.peers).
	Neighbor    netip.Addr `json:"neighbor,omitzero"`
	Description string     `json:"description,omitempty"`
	Auth        string     `json:"auth,omitempty"`

	State       string `json:"state"`
	RemoteState string `json:"remote_state"`
	LocalDiag   string `json:"local_diag"`
	RemoteDiag  string `json:"remote_diag"`
	LocalDiscr  uint32 `json:"local_discriminator"`
	RemoteDiscr uint32 `json:"remote_discriminator"`

	// Advertised by us and by the peer.
	DetectMult         uint8   `json:"detect_mult"`
	DesiredMinTxMS     float64 `json:"desired_min_tx_ms"`
	RequiredMinRxMS    float64 `json:"required_min_rx_ms"`
	RemoteDetectMult   uint8   `json:"remote_detect_mult"`
	RemoteDesiredTxMS  float64 `json:"remote_desired_min_tx_ms"`
	RemoteRequiredRxMS float64 `json:"remote_required_min_rx_ms"`
	// Negotiated: our transmit interval before jitter, and how long we
	// wait for the peer (0 until it is heard).
	TxIntervalMS    float64 `json:"tx_interval_ms"`
	DetectionTimeMS float64 `json:"detection_time_ms"`

	Ups          uint64    `json:"ups"`
	Downs        uint64    `json:"downs"`
	LastDownDiag string    `json:"last_down_reason,omitempty"`
	LastDownAt   time.Time `json:"last_down_at,omitzero"`
	HoldingBGP   bool      `json:"holding_bgp,omitempty"`
	GatewayDown  bool      `json:"gateway_down,omitempty"`

	Rx          uint64 `json:"rx"`
	Tx          uint64 `json:"tx"`
	RxDiscarded uint64 `json:"rx_discarded"`
	TxErrors    uint64 `json:"tx_errors"`
	LastDiscard string `json:"last_discard,omitempty"`
}

// BFDStats are the daemon's BFD totals, for metrics.
type BFDStats struct {
	Sessions int `json:"sessions"`
	Up       int `json:"up"`
	// UpTransitions and DownTransitions count state changes to Up and
	// from Up, over every session since closd started.
	UpTransitions   uint64 `json:"up_transitions"`
	DownTransitions uint64 `json:"down_transitions"`
	// Unmatched counts received packets that matched no session or did
	// not parse.
	Unmatched uint64 `json:"unmatched"`
}

// BFDReport is GET /v1/bfd: every session and the totals.
type BFDReport struct {
	Sessions []BFDSession `json:"sessions"`
	Stats    BFDStats     `json:"stats"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newBFDSession(ps bfd.PeerStatus, auth *config.BFDAuth) BFDSession {
	st, c := ps.Status, ps.Counters
	s := BFDSession{
		Peer: ps.Key.Peer, Interface: ps.Key.Interface, Local: ps.Key.Local, Multihop: ps.Key.Multihop,
		State: st.State.String(), RemoteState: st.RemoteState.String(),
		LocalDiag: st.LocalDiag.String(), RemoteDiag: st.RemoteDiag.String(),
		LocalDiscr: st.LocalDiscr, RemoteDiscr: st.RemoteDiscr,
		DetectMult: st.DetectMult, DesiredMinTxMS: ms(st.DesiredMinTx), RequiredMinRxMS: ms(st.RequiredMinRx),
		RemoteDetectMult: st.RemoteDetectMult, RemoteDesiredTxMS: ms(st.RemoteDesiredMinTx), RemoteRequiredRxMS: ms(st.RemoteMinRx),
		TxIntervalMS: ms(st.TxInterval), DetectionTimeMS: ms(st.DetectionTime),
		Rx: c.Rx, Tx: c.Tx, RxDiscarded: c.RxDiscarded, TxErrors: c.TxErrors, LastDiscard: c.LastDiscard,
	}
	if st.RemoteDiscr == 0 {
		// Nothing heard: the engine's 1 µs is RFC 5880's initial value
		// for the peer's Required Min RX, not something the peer said.
		s.RemoteRequiredRxMS = 0
	}
	if auth != nil {
		s.Auth = auth.Type // never the key
	}
	return s
}

// BFDSessions returns every BFD session (neighbors' and standalone) with
// the totals. Empty when BFD is not running.
func (d *Daemon) BFDSessions(ctx context.Context) (BFDReport, error) {
	out := BFDReport{Sessions: []BFDSession{}}
	err := d.query(ctx, func() {
		out.Stats.UpTransitions, out.Stats.DownTransitions = d.bfdx.ups, d.bfdx.downs
		if d.bfd == nil {
			return
		}
		all := d.bfdPeers()
		for _, p := range d.peers {
			b := p.bfd
			if b == nil || !b.added {
				continue
			}
			ps, ok := all[b.key]
			if !ok {
				continue
			}
			set := d.cfg.ResolveBFD(p.n.BFD.Profile, p.n.BFD.Interval, p.n.BFD.Multiplier, p.n.BFD.Auth)
			s := newBFDSession(ps, set.Auth)
			s.Neighbor, s.Description = p.remote.Addr(), p.n.Description
			s.Ups, s.Downs, s.HoldingBGP, s.GatewayDown = b.ups, b.downs, bfdHeld(p), b.gwDown
			if b.downs > 0 {
				s.LastDownDiag, s.LastDownAt = b.lastDown.String(), b.downAt
			}
			out.Sessions = append(out.Sessions, s)
		}
		for k, a := range d.bfdx.alone {
			ps, ok := all[k]
			if !ok {
				continue
			}
			set := d.cfg.ResolveBFD(a.cfg.Profile, a.cfg.Interval, a.cfg.Multiplier, a.cfg.Auth)
			s := newBFDSession(ps, set.Auth)
			s.Description = a.cfg.Description
			s.Ups, s.Downs = a.ups, a.downs
			if a.downs > 0 {
				s.LastDownDiag, s.LastDownAt = a.lastDown.String(), a.downAt
			}
			out.Sessions = append(out.Sessions, s)
		}
		out.Stats.Unmatched = d.bfd.Discarded()
	})
	for _, s := range out.Sessions {
		out.Stats.Sessions++
		if s.State == bfd.StateUp.String() {
			out.Stats.Up++
		}
	}
	slices.SortFunc(out.Sessions, func(a, b BFDSession) int {
		if c := a.Peer.Compare(b.Peer); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Interface, b.Interface), a.Local.Compare(b.Local))
	})
	return out, err
}

// bfdReload applies a reload's BFD changes (d.cfg is already the new
// config): standalone peers are added, removed, or restarted when their
// settings changed; a kept neighbor whose resolved timers or
// authentication changed (through bgp.bfd or its profile) gets a new BFD
// session, which does not touch its BGP session (a session that has not
// been Up never counts as a failure).
func (d *Daemon) bfdReload(old *config.Config) []string {
	var notes []string
	if d.bfd == nil {
		if !d.anyBFD() {
			return nil
		}
		if err := d.startBFD(); err != nil {
			return []string{"bfd: " + err.Error()}
		}
		return nil // startBFD added every standalone peer
	}
	if d.bfdx.alone == nil {
		d.bfdx.alone = map[bfd.PeerKey]*standaloneBFD{}
	}
	want := map[bfd.PeerKey]config.BFDPeer{}
	for _, pr := range d.cfg.BFD.Peers {
		pc := d.standaloneConfig(pr)
		want[pc.Key()] = pr
	}
	for k, a := range d.bfdx.alone {
		pr, keep := want[k]
		if keep && reflect.DeepEqual(d.standaloneConfig(pr), oldStandaloneConfig(old, a.cfg)) {
			a.cfg = pr // description only
			continue
		}
		if err := d.bfd.RemovePeer(k); err != nil {
			d.log.Warn("bfd: removing a standalone peer", "peer", k.String(), "err", err)
		}
		delete(d.bfdx.alone, k)
		if !keep {
			notes = append(notes, "bfd: standalone peer "+k.String()+" removed")
		}
	}
	for k, pr := range want {
		if d.bfdx.alone[k] != nil {
			continue
		}
		key, err := d.bfd.AddPeer(d.standaloneConfig(pr))
		if err != nil {
			notes = append(notes, "bfd: standalone peer "+k.String()+": "+err.Error())
			continue
		}
		d.bfdx.alone[key] = &standaloneBFD{cfg: pr, key: key, state: bfd.StateDown}
		notes = append(notes, "bfd: standalone peer "+key.String()+" (re)started")
	}
	for _, p := range d.peers {
		b := p.bfd
		if b == nil || !b.added {
			continue
		}
		n := p.n
		if old.ResolveBFD(n.BFD.Profile, n.BFD.Interval, n.BFD.Multiplier, n.BFD.Auth) ==
			d.cfg.ResolveBFD(n.BFD.Profile, n.BFD.Interval, n.BFD.Multiplier, n.BFD.Auth) {
			continue
		}
		var local netip.Addr
		if p.main != nil {
			local = p.main.local
		}
		d.removeBFD(p)
		d.addBFD(p, local)
		notes = append(notes, "bfd: neighbor "+p.remote.Addr().String()+" has a new BFD session with the new timers or key")
	}
	slices.Sort(notes)
	return notes
}

// oldStandaloneConfig is what a peer ran with under the old config.
func oldStandaloneConfig(old *config.Config, pr config.BFDPeer) bfd.PeerConfig {
	d := &Daemon{cfg: old}
	return d.standaloneConfig(pr)
}
