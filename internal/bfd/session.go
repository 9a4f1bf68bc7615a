package bfd

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Interval presets. 300 ms x 3 is the default; 100 ms x 3 suits a fabric of
// point-to-point links; 10 ms x 3 is the fastest the runner is tested with.
const (
	DefaultInterval   = 300 * time.Millisecond
	DefaultDetectMult = 3
	FabricInterval    = 100 * time.Millisecond
	// SlowStartTx is the floor on the advertised and used transmit interval
	// while the session is not Up (RFC 5880 6.8.3).
	SlowStartTx = time.Second
)

// SessionConfig is what the operator chooses for one session.
type SessionConfig struct {
	// LocalDiscr is bfd.LocalDiscr: nonzero and unique on this system.
	LocalDiscr uint32
	// DesiredMinTx and RequiredMinRx default to DefaultInterval; DetectMult
	// to DefaultDetectMult.
	DesiredMinTx  time.Duration
	RequiredMinRx time.Duration
	DetectMult    uint8
	// Auth, when set, is required on every received packet and added to
	// every sent one.
	Auth *AuthConfig
	// AdminDown starts the session administratively down.
	AdminDown bool
	// Rand supplies the transmit jitter and the first auth sequence number.
	// Required: the engine never reads a global random source.
	Rand rand.Source
}

// Timers are the runtime-changeable parameters (EventSetTimers).
type Timers struct {
	DesiredMinTx  time.Duration
	RequiredMinRx time.Duration
	DetectMult    uint8
}

func (c *SessionConfig) normalize() error {
	if c.LocalDiscr == 0 {
		return errors.New("bfd: LocalDiscr must be nonzero")
	}
	if c.Rand == nil {
		return errors.New("bfd: SessionConfig.Rand is required (jitter source)")
	}
	t := Timers{c.DesiredMinTx, c.RequiredMinRx, c.DetectMult}
	if err := t.normalize(); err != nil {
		return err
	}
	c.DesiredMinTx, c.RequiredMinRx, c.DetectMult = t.DesiredMinTx, t.RequiredMinRx, t.DetectMult
	return c.Auth.Validate()
}

func (t *Timers) normalize() error {
	if t.DesiredMinTx == 0 {
		t.DesiredMinTx = DefaultInterval
	}
	if t.RequiredMinRx == 0 {
		t.RequiredMinRx = DefaultInterval
	}
	if t.DetectMult == 0 {
		t.DetectMult = DefaultDetectMult
	}
	// The wire carries whole microseconds; a zero Desired Min TX is
	// forbidden (RFC 5880 4.1) and sub-microsecond values would round to it.
	if t.DesiredMinTx < time.Microsecond || t.DesiredMinTx > time.Duration(0xffffffff)*time.Microsecond {
		return fmt.Errorf("bfd: desired min tx %v: want 1µs to 4294s", t.DesiredMinTx)
	}
	if t.RequiredMinRx < 0 || t.RequiredMinRx > time.Duration(0xffffffff)*time.Microsecond {
		return fmt.Errorf("bfd: required min rx %v: want 0 to 4294s", t.RequiredMinRx)
	}
	return nil
}

// EventKind says what happened to a session.
type EventKind uint8

const (
	// EventTick: time passed; call at or after NextDeadline.
	EventTick EventKind = iota
	// EventRecv: a control packet arrived for this session.
	EventRecv
	// EventAdminDown / EventAdminUp: operator disabled / enabled the session.
	EventAdminDown
	EventAdminUp
	// EventSetTimers: change intervals or multiplier (poll sequence follows).
	EventSetTimers
	// EventFrozen: nothing could be received from Since to Until (the host
	// was not running us, see session_freeze.go); that silence is not the
	// peer's.
	EventFrozen
)

// Event is one input to Session.Step.
type Event struct {
	Kind EventKind
	// Packet and Raw are set for EventRecv: the parsed packet and the bytes
	// it was parsed from (needed to check a digest).
	Packet ControlPacket
	Raw    []byte
	// Timers is set for EventSetTimers.
	Timers Timers
	// Since and Until are set for EventFrozen.
	Since, Until time.Time
}

// ActionKind says what the caller must do.
type ActionKind uint8

const (
	// ActionSend: transmit Bytes to the peer.
	ActionSend ActionKind = iota
	// ActionStateChange: the local state moved From -> To for reason Diag.
	ActionStateChange
	// ActionDiscard: a received packet was dropped (Err says why); for
	// counters and logs, nothing to do.
	ActionDiscard
)

// Action is one output of Session.Step.
type Action struct {
	Kind ActionKind
	// Send: the packet and its encoding. Bytes and Packet.Auth are only
	// valid until the next Step on the same session.
	Packet ControlPacket
	Bytes  []byte
	// StateChange.
	From, To State
	Diag     Diag
	// PeerRestarted: an Up session went Down because the peer sent Down
	// from a new discriminator, i.e. the peer started a new session (a
	// restarted daemon, FRR's bfdd re-creating a session for bgpd) while
	// its packets kept arriving: a control-plane event rather than a dead
	// path.
	PeerRestarted bool
	// PeerAdminDown: the session went Down because the peer said
	// AdminDown (RFC 5882 3.2: the path is not known to have failed).
	PeerAdminDown bool
	// Discard.
	Err error
}

func (a Action) String() string {
	switch a.Kind {
	case ActionSend:
		p := &a.Packet
		var fl string
		if p.Poll {
			fl += " P"
		}
		if p.Final {
			fl += " F"
		}
		if p.AuthBit && p.Auth != nil {
			fl += fmt.Sprintf(" A(%v key=%d seq=%d)", p.Auth.Type, p.Auth.KeyID, p.Auth.Seq)
		}
		return fmt.Sprintf("send %v diag=%d my=%d your=%d tx=%v rx=%v mult=%d%s",
			p.State, p.Diag, p.MyDiscr, p.YourDiscr, p.DesiredMinTx, p.RequiredMinRx, p.DetectMult, fl)
	case ActionStateChange:
		if a.PeerRestarted {
			return fmt.Sprintf("state %v -> %v (%v, peer restarted its session)", a.From, a.To, a.Diag)
		}
		return fmt.Sprintf("state %v -> %v (%v)", a.From, a.To, a.Diag)
	case ActionDiscard:
		return fmt.Sprintf("discard: %v", a.Err)
	}
	return fmt.Sprintf("Action(%d)", a.Kind)
}

// Session is one BFD session's state machine (RFC 5880 6.2, 6.8). It does
// no I/O and reads no clock: the caller passes now with every event, sends
// what ActionSend says, and calls Step(now, Event{Kind: EventTick}) at
// NextDeadline. Not safe for concurrent use.
type Session struct {
	cfg SessionConfig

	state       State
	remoteState State
	localDiag   Diag
	remoteDiag  Diag
	remoteDiscr uint32

	// Remote's last advertised parameters.
	remoteMinRx      time.Duration // bfd.RemoteMinRxInterval
	remoteDesiredTx  time.Duration
	remoteDetectMult uint8
	remoteDemand     bool

	// advTx/advRx are what we advertise; effTx/effRx what we currently act
	// on. They differ only while a poll sequence defers a change (6.8.3).
	advTx, advRx time.Duration
	effTx, effRx time.Duration
	pollActive   bool

	nextTx         time.Time
	detectDeadline time.Time
	authReset      time.Time
	// thawed: a freeze already postponed detection since the last packet.
	thawed bool

	rx      authRx
	xmitSeq uint32
	lastHdr [HeaderLen]byte
	sentAny bool

	actions []Action
	out     []byte
}

// NewSession creates a session in Down (or AdminDown) that starts
// transmitting at now.
func NewSession(cfg SessionConfig, now time.Time) (*Session, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &Session{
		cfg:         cfg,
		state:       StateDown,
		remoteState: StateDown,
		remoteMinRx: time.Microsecond, // initial value per RFC 5880 6.8.1
		actions:     make([]Action, 0, 4),
		out:         make([]byte, 0, 4*MaxPacketLen),
	}
	if cfg.AdminDown {
		s.state = StateAdminDown
		s.localDiag = DiagAdminDown
	}
	if cfg.Auth != nil {
		s.xmitSeq = uint32(cfg.Rand.Uint64())
	}
	s.advTx, s.advRx = s.targetTimers()
	s.effTx, s.effRx = s.advTx, s.advRx
	s.nextTx = now
	return s, nil
}

// targetTimers is what we want to advertise now: the configured values, with
// the slow-start floor on TX while not Up.
func (s *Session) targetTimers() (tx, rx time.Duration) {
	tx, rx = s.cfg.DesiredMinTx, s.cfg.RequiredMinRx
	if s.state != StateUp && tx < SlowStartTx {
		tx = SlowStartTx
	}
	return tx, rx
}

// State is the local session state.
func (s *Session) State() State { return s.state }

// LocalDiscr is the session's discriminator.
func (s *Session) LocalDiscr() uint32 { return s.cfg.LocalDiscr }

// Status is a snapshot for show commands and tests.
type Status struct {
	LocalDiscr, RemoteDiscr  uint32
	State, RemoteState       State
	LocalDiag, RemoteDiag    Diag
	DetectMult               uint8
	RemoteDetectMult         uint8
	DesiredMinTx             time.Duration // advertised
	RequiredMinRx            time.Duration // advertised
	RemoteDesiredMinTx       time.Duration
	RemoteMinRx              time.Duration
	TxInterval               time.Duration // negotiated, before jitter
	DetectionTime            time.Duration // 0 until a packet is received
	PollActive, RemoteDemand bool
}

// Status returns the session's current variables.
func (s *Session) Status() Status {
	st := Status{
		LocalDiscr: s.cfg.LocalDiscr, RemoteDiscr: s.remoteDiscr,
		State: s.state, RemoteState: s.remoteState,
		LocalDiag: s.localDiag, RemoteDiag: s.remoteDiag,
		DetectMult: s.cfg.DetectMult, RemoteDetectMult: s.remoteDetectMult,
		DesiredMinTx: s.advTx, RequiredMinRx: s.advRx,
		RemoteDesiredMinTx: s.remoteDesiredTx, RemoteMinRx: s.remoteMinRx,
		TxInterval: s.txInterval(),
		PollActive: s.pollActive, RemoteDemand: s.remoteDemand,
	}
	if !s.detectDeadline.IsZero() {
		st.DetectionTime = s.detectTime()
	}
	return st
}

// txInterval is the negotiated transmit interval before jitter (6.8.7).
func (s *Session) txInterval() time.Duration {
	return max(s.effTx, s.remoteMinRx)
}

// detectTime is the asynchronous-mode detection time (6.8.4).
func (s *Session) detectTime() time.Duration {
	return time.Duration(s.remoteDetectMult) * max(s.effRx, s.remoteDesiredTx)
}

// jitter reduces an interval by 0-25%, or by 10-25% when our Detect Mult
// is 1 so a packet always arrives before a one-interval detection time.
func (s *Session) jitter(d time.Duration) time.Duration {
	r := s.cfg.Rand.Uint64()
	var permille uint64
	if s.cfg.DetectMult == 1 {
		permille = 750 + r%151 // 75.0% - 90.0%
	} else {
		permille = 750 + r%251 // 75.0% - 100.0%
	}
	return time.Duration(uint64(d) / 1000 * permille)
}

// periodicAllowed is whether periodic transmission is on (6.8.7).
func (s *Session) periodicAllowed() bool {
	if s.remoteMinRx == 0 {
		return false
	}
	// The peer asked for Demand mode: it does not want our periodic packets
	// while both sides are Up, except to carry a poll sequence.
	if s.remoteDemand && s.state == StateUp && s.remoteState == StateUp && !s.pollActive {
		return false
	}
	return true
}

// NextDeadline is when the session next needs an EventTick. It is zero only
// when nothing is scheduled at all (the peer asked for no packets and no
// detection timer runs).
func (s *Session) NextDeadline() time.Time {
	d := s.nextTx
	for _, t := range [...]time.Time{s.detectDeadline, s.authReset} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// Step feeds one event and returns what to do. The returned slice and the
// Bytes in it are reused by the next Step.
func (s *Session) Step(now time.Time, ev Event) []Action {
	s.actions = s.actions[:0]
	s.out = s.out[:0]
	switch ev.Kind {
	case EventTick:
		s.tick(now)
	case EventRecv:
		s.recv(now, &ev.Packet, ev.Raw)
	case EventAdminDown:
		if s.state != StateAdminDown {
			s.pollActive = false
			s.setState(now, StateAdminDown, DiagAdminDown)
		}
	case EventAdminUp:
		if s.state == StateAdminDown {
			s.setState(now, StateDown, DiagNone)
		}
	case EventSetTimers:
		t := ev.Timers
		if err := t.normalize(); err != nil {
			s.actions = append(s.actions, Action{Kind: ActionDiscard, Err: err})
			break
		}
		s.cfg.DesiredMinTx, s.cfg.RequiredMinRx, s.cfg.DetectMult = t.DesiredMinTx, t.RequiredMinRx, t.DetectMult
		s.retime(now)
	case EventFrozen:
		s.frozen(now, ev.Since, ev.Until)
	}
	s.schedule(now)
	return s.actions
}

func (s *Session) discard(err error) {
	s.actions = append(s.actions, Action{Kind: ActionDiscard, Err: err})
}

// recv is the reception procedure of RFC 5880 6.8.6 after the packet-level
// checks ParseControl already made.
func (s *Session) recv(now time.Time, p *ControlPacket, raw []byte) {
	if p.YourDiscr != 0 && p.YourDiscr != s.cfg.LocalDiscr {
		s.discard(fmt.Errorf("bfd: your discriminator %d is not ours (%d)", p.YourDiscr, s.cfg.LocalDiscr))
		return
	}
	if err := s.cfg.Auth.verify(raw, p, &s.rx); err != nil {
		s.discard(err)
		return
	}
	prevMinRx := s.remoteMinRx
	restarted := s.remoteDiscr != 0 && p.MyDiscr != s.remoteDiscr
	s.remoteDiscr = p.MyDiscr
	s.remoteState = p.State
	s.remoteDiag = p.Diag
	s.remoteDemand = p.Demand
	s.remoteMinRx = p.RequiredMinRx
	s.remoteDesiredTx = p.DesiredMinTx
	s.remoteDetectMult = p.DetectMult

	if p.Final && s.pollActive {
		s.pollActive = false
		s.effTx, s.effRx = s.advTx, s.advRx
	}

	dt := s.detectTime()
	s.detectDeadline = now.Add(dt)
	s.thawed = false
	if s.cfg.Auth != nil {
		s.authReset = now.Add(2 * dt)
	}
	if s.remoteMinRx != prevMinRx && !s.nextTx.IsZero() {
		// A faster peer should not wait out our old, longer interval.
		if n := now.Add(s.jitter(s.txInterval())); n.Before(s.nextTx) {
			s.nextTx = n
		}
	}

	if s.state == StateAdminDown {
		return
	}
	if p.State == StateAdminDown {
		if s.state != StateDown {
			i := len(s.actions)
			s.setState(now, StateDown, DiagNeighborDown)
			s.actions[i].PeerAdminDown = true
		}
	} else {
		switch s.state {
		case StateDown:
			switch p.State {
			case StateDown:
				s.setState(now, StateInit, DiagNone)
			case StateInit:
				s.setState(now, StateUp, DiagNone)
			}
		case StateInit:
			if p.State == StateInit || p.State == StateUp {
				s.setState(now, StateUp, DiagNone)
			}
		case StateUp:
			if p.State == StateDown {
				s.setState(now, StateDown, DiagNeighborDown)
				if restarted {
					for i := range s.actions {
						if s.actions[i].Kind == ActionStateChange && s.actions[i].To == StateDown {
							s.actions[i].PeerRestarted = true
						}
					}
				}
			}
		}
	}
	if p.Poll {
		// Answer at once, whatever the timers, state or demand mode say.
		s.send(false, true)
	}
}

func (s *Session) tick(now time.Time) {
	if !s.detectDeadline.IsZero() && !now.Before(s.detectDeadline) {
		s.detectDeadline = time.Time{}
		if s.state == StateInit || s.state == StateUp {
			s.setState(now, StateDown, DiagControlDetectExpired)
		}
		// Forget the peer (6.8.1): the next session starts from scratch.
		s.remoteDiscr = 0
		s.remoteState = StateDown
		s.remoteDemand = false
		s.remoteMinRx = time.Microsecond
		s.remoteDesiredTx = 0
		s.remoteDetectMult = 0
	}
	if !s.authReset.IsZero() && !now.Before(s.authReset) {
		s.authReset = time.Time{}
		s.rx.known = false
	}
	if !s.nextTx.IsZero() && !now.Before(s.nextTx) && s.periodicAllowed() {
		s.send(s.pollActive, false)
		s.nextTx = now.Add(s.jitter(s.txInterval()))
	}
}

// schedule keeps nextTx consistent with whether periodic sending is on.
func (s *Session) schedule(now time.Time) {
	if !s.periodicAllowed() {
		s.nextTx = time.Time{}
		return
	}
	if s.nextTx.IsZero() {
		s.nextTx = now.Add(s.jitter(s.txInterval()))
	}
}

func (s *Session) setState(now time.Time, to State, diag Diag) {
	from := s.state
	s.state = to
	s.localDiag = diag
	s.actions = append(s.actions, Action{Kind: ActionStateChange, From: from, To: to, Diag: diag})
	s.retime(now)
	// Tell the peer at once rather than at the next (possibly 1 s)
	// interval, unless it asked for no periodic packets.
	if s.periodicAllowed() {
		s.send(s.pollActive, false)
		s.nextTx = now.Add(s.jitter(s.txInterval()))
	}
}

// retime applies a change of the target timers (config or slow start).
func (s *Session) retime(now time.Time) {
	tx, rx := s.targetTimers()
	if s.state != StateUp {
		// Nobody relies on our timers outside Up: no poll needed, and a
		// poll begun while Up ends with it.
		s.advTx, s.advRx = tx, rx
		s.pollActive = false
		s.effTx, s.effRx = tx, rx
		return
	}
	if tx == s.advTx && rx == s.advRx {
		return
	}
	s.advTx, s.advRx = tx, rx
	// 6.8.3: a faster TX and a slower RX are safe at once; a slower TX
	// waits until the peer has acknowledged it with Final, as does a
	// faster RX (so the peer really sends faster before we expect it).
	if tx < s.effTx {
		s.effTx = tx
	}
	if rx > s.effRx {
		s.effRx = rx
	}
	if !s.detectDeadline.IsZero() && s.remoteDetectMult != 0 {
		s.detectDeadline = now.Add(s.detectTime())
	}
	s.pollActive = true
}

// send appends a control packet built per RFC 5880 6.8.7.
func (s *Session) send(poll, final bool) {
	p := ControlPacket{
		Diag:          s.localDiag,
		State:         s.state,
		Poll:          poll && !final,
		Final:         final,
		DetectMult:    s.cfg.DetectMult,
		MyDiscr:       s.cfg.LocalDiscr,
		YourDiscr:     s.remoteDiscr,
		DesiredMinTx:  s.advTx,
		RequiredMinRx: s.advRx,
		// Echo is not supported: 0 tells the peer not to send echoes.
		RequiredEchoRx: 0,
	}
	if a := s.cfg.Auth; a != nil {
		p.AuthBit = true
		pa := &Auth{Type: a.Type, KeyID: a.KeyID}
		if a.Type == AuthSimplePassword {
			pa.Password = a.Keys[a.KeyID]
		} else {
			pa.Seq = s.nextSeq(&p)
		}
		p.Auth = pa
	}
	start := len(s.out)
	out, err := p.Append(s.out)
	if err != nil {
		// Unreachable with a validated config; surface it instead of
		// sending garbage.
		s.discard(err)
		return
	}
	s.out = out
	b := s.out[start:len(s.out):len(s.out)]
	s.cfg.Auth.sign(b)
	if p.Auth != nil && p.Auth.Type != AuthSimplePassword {
		p.Auth.Digest = b[len(b)-p.Auth.Type.digestLen():]
	}
	s.actions = append(s.actions, Action{Kind: ActionSend, Packet: p, Bytes: b})
}

// nextSeq picks bfd.XmitAuthSeq for a packet: meticulous types advance on
// every packet, keyed types only when the packet's content changes (6.7.3).
func (s *Session) nextSeq(p *ControlPacket) uint32 {
	var hdr [HeaderLen]byte
	q := *p
	q.AuthBit, q.Auth = false, nil
	q.Append(hdr[:0])
	if s.cfg.Auth.Type.meticulous() || (s.sentAny && !bytes.Equal(hdr[:], s.lastHdr[:])) {
		s.xmitSeq++
	}
	s.lastHdr = hdr
	s.sentAny = true
	return s.xmitSeq
}
