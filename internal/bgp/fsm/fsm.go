// Package fsm is the BGP-4 session state machine of RFC 4271 section 8,
// with the OPEN checks and capability negotiation a session needs, as a
// pure engine: no I/O, no clock reads, no goroutines. The daemon feeds it
// events with the current time and carries out the actions it returns,
// then sleeps until NextDeadline and steps a Tick.
//
//	s, err := fsm.New(cfg)
//	actions := s.Step(now, fsm.ManualStart{})
//	actions = s.Step(now, fsm.RecvMessage{Msg: m, Err: err}) // from wire.Parse
//	deadline := s.NextDeadline()
//
// A Session drives one TCP connection. When the peer connects while a
// session already has a connection, the daemon runs a second Session for
// the new connection and uses Collision to decide which one to drop (RFC
// 4271 6.8). See docs/fsm.md for the states, timers and NOTIFICATIONs.
package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Session is one BGP session's state machine.
type Session struct {
	cfg   Config
	state State

	// Timers: a zero time is a stopped timer.
	connectRetry, hold, keepalive, idleHold time.Time

	// stopped is set by ManualStop and cleared by ManualStart: a stopped
	// session never restarts by itself.
	stopped bool
	passive bool
	inbound bool
	// failures counts consecutive failures for DampPeerOscillations.
	failures int
	// connectRetryCounter is RFC 4271's ConnectRetryCounter.
	connectRetryCounter int

	peerOpen  *wire.Open
	neg       Negotiated
	estAt     time.Time
	lastSent  *wire.Notification
	lastRecvN *wire.Notification

	st Status
	// out collects the actions of the current Step.
	out []Action
}

// New returns a session in Idle. It fails when cfg is not usable.
func New(cfg Config) (*Session, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: c, passive: c.Passive}
	return s, nil
}

// State is the current state.
func (s *Session) State() State { return s.state }

// AcceptsConnection reports whether an inbound connection from the peer
// may be accepted: never in Idle (RFC 4271 8.2.2 refuses it there). In
// Connect and Active the connection is this session's; in the later states
// it belongs to a second Session and Collision decides between them.
func (s *Session) AcceptsConnection() bool { return s.state != StateIdle }

// Inbound reports whether the session's connection was accepted rather
// than dialed.
func (s *Session) Inbound() bool { return s.inbound }

// PeerOpen is the OPEN the peer sent on this connection, nil before one
// was accepted.
func (s *Session) PeerOpen() *wire.Open { return s.peerOpen }

// Negotiated is what the OPENs settled; valid from OpenConfirm on.
func (s *Session) Negotiated() Negotiated { return s.neg }

// Options are the wire options to parse the peer's messages with. Before
// the OPEN exchange they are those of a plain RFC 4271 session. The
// pointer is into the session: use it on the goroutine that steps it.
func (s *Session) Options() *wire.Options {
	if s.peerOpen == nil {
		return &wire.Options{}
	}
	return &s.neg.Options
}

// NextDeadline is the earliest running timer, or the zero time when none
// runs. The daemon steps a Tick at that time.
func (s *Session) NextDeadline() time.Time {
	var d time.Time
	for _, t := range []time.Time{s.connectRetry, s.hold, s.keepalive, s.idleHold} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// Step applies ev at time now and returns the actions to carry out, in
// order. The returned slice is only valid until the next Step.
func (s *Session) Step(now time.Time, ev Event) []Action {
	s.out = s.out[:0]
	if _, ok := ev.(Tick); ok {
		s.fireTimers(now)
	} else {
		s.handle(now, ev)
	}
	return s.out
}

// fireTimers runs every expired timer in deadline order. Each handler
// stops or re-arms its timer in the future, so the loop ends; the bound is
// a guard.
func (s *Session) fireTimers(now time.Time) {
	for range 8 {
		var ev Event
		var at time.Time
		pick := func(t time.Time, e Event) {
			if !t.IsZero() && !t.After(now) && (at.IsZero() || t.Before(at)) {
				at, ev = t, e
			}
		}
		pick(s.idleHold, IdleHoldTimerExpires{})
		pick(s.connectRetry, ConnectRetryTimerExpires{})
		pick(s.hold, HoldTimerExpires{})
		pick(s.keepalive, KeepaliveTimerExpires{})
		if ev == nil {
			return
		}
		s.handle(now, ev)
	}
}

func (s *Session) emit(a Action) {
	if snd, ok := a.(Send); ok {
		s.st.countOut(snd.Msg)
		if n, ok := snd.Msg.(*wire.Notification); ok {
			s.lastSent = n
			s.st.LastSent = notifInfo(n, time.Time{})
		}
	}
	s.out = append(s.out, a)
}

func (s *Session) setState(now time.Time, st State) {
	if st != s.state {
		s.st.Transitions++
	}
	s.state = st
}

// jitter scales d by a factor in [0.75, 1) when a source is configured.
func (s *Session) jitter(d time.Duration) time.Duration {
	if s.cfg.Jitter == nil || d <= 0 {
		return d
	}
	f := s.cfg.Jitter()
	if f < 0 || f >= 1 {
		f = 0
	}
	return d - time.Duration(float64(d)*0.25*f)
}

func (s *Session) startConnectRetry(now time.Time) {
	s.connectRetry = now.Add(s.jitter(s.cfg.ConnectRetry))
}

func (s *Session) stopTimers() {
	s.connectRetry, s.hold, s.keepalive, s.idleHold = time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

func (s *Session) handle(now time.Time, ev Event) {
	// Timers are one-shot: clear the one that fired before handling.
	switch ev.(type) {
	case ConnectRetryTimerExpires:
		s.connectRetry = time.Time{}
	case HoldTimerExpires:
		s.hold = time.Time{}
	case KeepaliveTimerExpires:
		s.keepalive = time.Time{}
	case IdleHoldTimerExpires:
		s.idleHold = time.Time{}
	}
	if m, ok := ev.(RecvMessage); ok {
		s.st.countIn(m.Msg, m.Err)
	}
	switch s.state {
	case StateIdle:
		s.idle(now, ev)
	case StateConnect, StateActive:
		s.connecting(now, ev)
	case StateOpenSent:
		s.openSent(now, ev)
	case StateOpenConfirm:
		s.openConfirm(now, ev)
	case StateEstablished:
		s.established(now, ev)
	}
}

func (s *Session) idle(now time.Time, ev Event) {
	switch e := ev.(type) {
	case ManualStart:
		s.stopped = false
		s.connectRetryCounter = 0
		s.idleHold = time.Time{}
		s.start(now, e.Passive || s.cfg.Passive)
	case AutomaticStart:
		// DampPeerOscillations: an automatic start waits for the idle
		// hold timer, and a stopped session waits for the operator.
		if s.stopped || !s.idleHold.IsZero() {
			return
		}
		s.start(now, e.Passive || s.cfg.Passive)
	case IdleHoldTimerExpires:
		if !s.stopped {
			s.start(now, s.passive)
		}
	case ManualStop:
		// Already down; a pending automatic restart is cancelled.
		s.stopped = true
		s.idleHold = time.Time{}
	}
	// RFC 4271 8.2.2: every other event is ignored in Idle.
}

func (s *Session) start(now time.Time, passive bool) {
	s.passive = passive
	s.startConnectRetry(now)
	if passive {
		s.setState(now, StateActive)
		return
	}
	s.setState(now, StateConnect)
	s.emit(Connect{})
}

// connecting is Connect and Active: no connection yet (or a dial pending).
func (s *Session) connecting(now time.Time, ev Event) {
	switch e := ev.(type) {
	case ManualStart, AutomaticStart:
		// Already started.
	case ManualStop:
		if s.state == StateConnect {
			s.emit(AbortConnect{})
		}
		s.stopped = true
		s.connectRetryCounter = 0
		s.toIdle(now, downInfo{reason: "manual stop"}, false)
	case ConnectRetryTimerExpires:
		s.startConnectRetry(now)
		if s.passive {
			return
		}
		if s.state == StateConnect {
			s.emit(AbortConnect{})
		}
		s.setState(now, StateConnect)
		s.emit(Connect{})
	case TcpConnectionConfirmed:
		if e.Inbound && s.state == StateConnect {
			s.emit(AbortConnect{})
		}
		s.inbound = e.Inbound
		s.connectRetry = time.Time{}
		s.sendOpen()
		s.hold = now.Add(s.cfg.OpenHoldTime)
		s.setState(now, StateOpenSent)
	case AutomaticStop:
		// Event 8 without a connection: nothing to send.
		if s.state == StateConnect {
			s.emit(AbortConnect{})
		}
		if e.Subcode == wire.SubPeerDeconfigured {
			s.stopped = true
		}
		s.connectRetryCounter++
		s.toIdle(now, downInfo{reason: "stopped: " + wire.ShutdownNotification(stopSubcode(e.Subcode), "").String()}, true)
	case TcpConnectionFails:
		// Deviation from RFC 4271 8.2.2 (Connect -> Idle): a peer that is
		// not listening yet is not oscillating, so keep listening in
		// Active and dial again when ConnectRetry expires.
		s.connectRetryCounter++
		s.startConnectRetry(now)
		s.setState(now, StateActive)
	case Tick:
	default:
		// Events 8, 10-11, 13, 19-28: RFC 4271 8.2.2 drops to Idle.
		if s.state == StateConnect {
			s.emit(AbortConnect{})
		}
		if _, ok := ev.(RecvMessage); ok {
			s.emit(CloseConnection{})
		}
		s.connectRetryCounter++
		s.toIdle(now, downInfo{reason: fmt.Sprintf("unexpected %s in %s", eventName(ev), s.state)}, true)
	}
}

func (s *Session) openSent(now time.Time, ev Event) {
	switch e := ev.(type) {
	case ManualStart, AutomaticStart:
	case ManualStop:
		s.manualStop(now, e)
	case AutomaticStop:
		s.automaticStop(now, e)
	case HoldTimerExpires:
		s.fail(now, &wire.Notification{Code: wire.CodeHoldTimerExpired}, "hold timer expired waiting for OPEN")
	case TcpConnectionFails:
		// RFC 4271 8.2.2: OpenSent -> Active, listening again.
		s.emit(CloseConnection{})
		s.hold = time.Time{}
		s.startConnectRetry(now)
		s.toActive(now, "connection failed in OpenSent: "+e.Reason)
	case OpenCollisionDump:
		s.collisionDump(now)
	case TcpConnectionConfirmed:
		s.secondConnection()
	case RecvMessage:
		s.recvInOpenSent(now, e)
	default:
		// Events 9, 11, 13: timers that have no business here.
		s.fsmError(now, wire.SubUnspecific, fmt.Sprintf("%s in OpenSent", eventName(ev)))
	}
}

func (s *Session) recvInOpenSent(now time.Time, e RecvMessage) {
	if s.recvError(now, e) {
		return
	}
	switch m := e.Msg.(type) {
	case *wire.Open:
		if n, reason := s.checkOpen(m); n != nil {
			s.fail(now, n, reason)
			return
		}
		s.acceptOpen(m)
		s.emit(Send{Msg: &wire.Keepalive{}})
		if s.neg.HoldTime > 0 {
			s.hold = now.Add(s.neg.HoldTime)
			s.keepalive = now.Add(s.jitter(s.neg.Keepalive))
		} else {
			s.hold, s.keepalive = time.Time{}, time.Time{}
		}
		s.setState(now, StateOpenConfirm)
	case *wire.Notification:
		s.peerNotification(now, m)
	default:
		s.fsmError(now, wire.SubFSMUnexpectedInOpenSent, fmt.Sprintf("unexpected %s in OpenSent", msgName(e.Msg)))
	}
}

func (s *Session) openConfirm(now time.Time, ev Event) {
	switch e := ev.(type) {
	case ManualStart, AutomaticStart:
	case ManualStop:
		s.manualStop(now, e)
	case AutomaticStop:
		s.automaticStop(now, e)
	case HoldTimerExpires:
		s.fail(now, &wire.Notification{Code: wire.CodeHoldTimerExpired}, "hold timer expired in OpenConfirm")
	case KeepaliveTimerExpires:
		s.sendKeepalive(now)
	case TcpConnectionFails:
		s.lost(now, "connection failed in OpenConfirm: "+e.Reason)
	case OpenCollisionDump:
		s.collisionDump(now)
	case TcpConnectionConfirmed:
		s.secondConnection()
	case RecvMessage:
		if s.recvError(now, e) {
			return
		}
		switch m := e.Msg.(type) {
		case *wire.Keepalive:
			s.restartHold(now)
			s.setState(now, StateEstablished)
			s.estAt = now
			s.st.EstablishedAt = now
			s.st.Established++
			s.emit(Established{Session: s.neg})
		case *wire.Notification:
			s.peerNotification(now, m)
		default:
			s.fsmError(now, wire.SubFSMUnexpectedInOpenConfirm, fmt.Sprintf("unexpected %s in OpenConfirm", msgName(e.Msg)))
		}
	default:
		s.fsmError(now, wire.SubUnspecific, fmt.Sprintf("%s in OpenConfirm", eventName(ev)))
	}
}

func (s *Session) established(now time.Time, ev Event) {
	switch e := ev.(type) {
	case ManualStart, AutomaticStart:
	case ManualStop:
		s.manualStop(now, e)
	case AutomaticStop:
		s.automaticStop(now, e)
	case HoldTimerExpires:
		s.fail(now, &wire.Notification{Code: wire.CodeHoldTimerExpired}, "hold timer expired")
	case KeepaliveTimerExpires:
		s.sendKeepalive(now)
	case TcpConnectionFails:
		s.lost(now, "connection failed: "+e.Reason)
	case OpenCollisionDump:
		s.collisionDump(now)
	case TcpConnectionConfirmed:
		s.secondConnection()
	case RecvMessage:
		s.recvInEstablished(now, e)
	default:
		s.fsmError(now, wire.SubUnspecific, fmt.Sprintf("%s in Established", eventName(ev)))
	}
}

func (s *Session) recvInEstablished(now time.Time, e RecvMessage) {
	var werr *wire.Error
	if u, ok := e.Msg.(*wire.Update); ok && u != nil && errors.As(e.Err, &werr) &&
		(werr.Action == wire.ActionTreatAsWithdraw || werr.Action == wire.ActionAttributeDiscard) {
		// RFC 7606: the session stays up.
		s.restartHold(now)
		s.st.UpdateErrors++
		s.st.LastUpdateError = werr.Reason
		s.emit(DeliverUpdate{Update: u, TreatAsWithdraw: werr.Action == wire.ActionTreatAsWithdraw})
		return
	}
	if s.recvError(now, e) {
		return
	}
	switch m := e.Msg.(type) {
	case *wire.Keepalive:
		s.restartHold(now)
	case *wire.Update:
		s.restartHold(now)
		s.emit(DeliverUpdate{Update: m})
	case *wire.RouteRefresh:
		s.restartHold(now)
		// RFC 2918 4: a family not negotiated is ignored, and so is a
		// refresh the peer may not send.
		if (s.neg.RouteRefresh || s.neg.EnhancedRouteRefresh) && slices.Contains(s.neg.Families, m.Family) {
			s.emit(DeliverRouteRefresh{Refresh: m})
		}
	case *wire.Notification:
		s.peerNotification(now, m)
	default:
		s.fsmError(now, wire.SubFSMUnexpectedInEstablished, fmt.Sprintf("unexpected %s in Established", msgName(e.Msg)))
	}
}

// secondConnection is events 16-17 once this session has a connection.
// RFC 4271 8.2.2 tracks the second connection until its OPEN arrives; that
// is a second Session in the daemon (see Collision), so this one carries on
// untouched.
func (s *Session) secondConnection() { s.st.SecondConnections++ }

// recvError handles a message that failed to parse. It reports whether
// the event was consumed.
func (s *Session) recvError(now time.Time, e RecvMessage) bool {
	if e.Err == nil {
		if e.Msg == nil {
			s.fsmError(now, wire.SubUnspecific, "empty message event")
			return true
		}
		return false
	}
	var werr *wire.Error
	if !errors.As(e.Err, &werr) {
		// Not a protocol error (the daemon's own failure): close without
		// blaming the peer with a NOTIFICATION code it did not earn.
		s.emit(CloseConnection{})
		s.toIdle(now, downInfo{reason: "receive: " + e.Err.Error()}, true)
		return true
	}
	if werr.Action == wire.ActionIgnore {
		s.st.Ignored++
		return true
	}
	// Header errors (21), OPEN errors (22), UPDATE errors that reset (28)
	// and ROUTE-REFRESH length errors all end the session with the
	// NOTIFICATION the parser chose.
	s.fail(now, werr.Notification(), werr.Reason)
	return true
}

func (s *Session) restartHold(now time.Time) {
	if s.neg.HoldTime > 0 {
		s.hold = now.Add(s.neg.HoldTime)
	}
}

func (s *Session) sendKeepalive(now time.Time) {
	s.emit(Send{Msg: &wire.Keepalive{}})
	if s.neg.Keepalive > 0 {
		s.keepalive = now.Add(s.jitter(s.neg.Keepalive))
	}
}

func (s *Session) sendOpen() {
	o := &wire.Open{
		Version:  wire.Version,
		AS:       s.cfg.LocalAS,
		HoldTime: uint16(s.cfg.HoldTime / time.Second),
		RouterID: s.cfg.RouterID,
		Caps:     s.cfg.Capabilities,
	}
	s.emit(Send{Msg: o})
}

// manualStop is event 2 in a connected state.
func (s *Session) manualStop(now time.Time, e ManualStop) {
	sub := wire.SubAdminShutdown
	if e.Reset {
		sub = wire.SubAdminReset
	}
	n := s.hardReset(wire.ShutdownNotification(sub, e.Message))
	s.emit(Send{Msg: n})
	s.emit(CloseConnection{})
	s.connectRetryCounter = 0
	reason := "administrative shutdown"
	if e.Reset {
		reason = "administrative reset"
	} else {
		s.stopped = true
	}
	if e.Message != "" {
		reason += ": " + e.Message
	}
	// An operator's reset is not the peer's fault: no back-off.
	s.toIdle(now, downInfo{reason: reason, sent: n}, false)
}

func (s *Session) automaticStop(now time.Time, e AutomaticStop) {
	sub := stopSubcode(e.Subcode)
	why := wire.ShutdownNotification(sub, e.Message)
	n := s.hardReset(why)
	s.emit(Send{Msg: n})
	s.emit(CloseConnection{})
	if sub == wire.SubPeerDeconfigured {
		s.stopped = true
	}
	s.connectRetryCounter++
	s.toIdle(now, downInfo{reason: "stopped: " + why.String(), sent: n}, true)
}

// stopSubcode is the Cease subcode of an AutomaticStop; 0 means Other
// Configuration Change.
func stopSubcode(sub uint8) uint8 {
	if sub == 0 {
		return wire.SubOtherConfigChange
	}
	return sub
}

// fail sends n, closes, and goes to Idle with back-off.
func (s *Session) fail(now time.Time, n *wire.Notification, reason string) {
	s.emit(Send{Msg: n})
	s.emit(CloseConnection{})
	s.connectRetryCounter++
	s.toIdle(now, downInfo{reason: reason, sent: n}, true)
}

func (s *Session) fsmError(now time.Time, sub uint8, reason string) {
	s.fail(now, &wire.Notification{Code: wire.CodeFSM, Subcode: sub}, reason)
}

func (s *Session) peerNotification(now time.Time, n *wire.Notification) {
	s.lastRecvN = n
	s.st.LastReceived = notifInfo(n, now)
	s.emit(CloseConnection{})
	s.connectRetryCounter++
	reason := "peer sent " + n.String()
	why := n
	if inner, ok := n.HardResetCause(); ok {
		reason += " (" + inner.String() + ")"
		why = inner
	}
	if msg, ok := why.ShutdownMessage(); ok {
		reason += ": " + msg
	}
	// A peer that shut us down administratively is not oscillating, but it
	// asked us to stay away: back off all the same.
	s.toIdle(now, downInfo{reason: reason, recv: n}, true)
}

// lost handles a connection that failed after the OPEN exchange.
func (s *Session) lost(now time.Time, reason string) {
	s.emit(CloseConnection{})
	s.connectRetryCounter++
	s.toIdle(now, downInfo{reason: reason}, true)
}

func (s *Session) collisionDump(now time.Time) {
	n := &wire.Notification{Code: wire.CodeCease, Subcode: wire.SubConnectionCollision}
	s.emit(Send{Msg: n})
	s.emit(CloseConnection{})
	// The other connection carries the session on: this one stops for
	// good rather than dialing again.
	s.stopped = true
	s.toIdle(now, downInfo{reason: "connection collision resolution", sent: n}, false)
}

type downInfo struct {
	reason     string
	sent, recv *wire.Notification
}

// toIdle releases the connection state and goes to Idle. With damp the
// failure counts towards the idle hold back-off; unless the session was
// stopped, it restarts when the idle hold timer expires.
func (s *Session) toIdle(now time.Time, d downInfo, damp bool) {
	was := s.state == StateEstablished
	if was {
		s.st.Flaps++
		if now.Sub(s.estAt) >= s.cfg.StableTime {
			s.failures = 0
		}
	}
	if damp {
		s.failures++
	}
	s.stopTimers()
	prev := s.state
	s.setState(now, StateIdle)
	s.peerOpen = nil
	s.neg = Negotiated{}
	s.estAt = time.Time{}
	s.st.EstablishedAt = time.Time{}
	s.st.LastDown = d.reason
	s.st.LastDownAt = now
	if prev >= StateOpenSent || was {
		s.emit(Down{Reason: d.reason, Sent: d.sent, Received: d.recv, WasEstablished: was})
	}
	if s.stopped {
		return
	}
	s.idleHold = now.Add(s.jitter(s.IdleHoldTime()))
}

// toActive goes back to listening after a connection failed before the
// OPEN exchange finished.
func (s *Session) toActive(now time.Time, reason string) {
	s.peerOpen = nil
	s.neg = Negotiated{}
	s.st.LastDown = reason
	s.st.LastDownAt = now
	s.emit(Down{Reason: reason})
	s.setState(now, StateActive)
}

// ResetDamping forgets the consecutive failures DampPeerOscillations
// counted: the caller knows the path they happened on was broken and is
// back (its link came up, BFD is Up), so they say nothing about the peer,
// and the next failure waits the base idle hold again instead of up to
// MaxIdleHoldTime, refusing the peer's connections all the while.
func (s *Session) ResetDamping() { s.failures = 0 }

// IdleHoldTime is the wait before the next automatic restart: the base
// idle hold time doubled for each consecutive failure after the first,
// bounded by MaxIdleHoldTime.
func (s *Session) IdleHoldTime() time.Duration {
	d := s.cfg.IdleHoldTime
	for i := 1; i < s.failures && d < s.cfg.MaxIdleHoldTime; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxIdleHoldTime)
}

// checkOpen applies the checks that need configuration (RFC 4271 6.2,
// RFC 6286, RFC 5492); wire.Open.Validate covers the rest.
func (s *Session) checkOpen(o *wire.Open) (*wire.Notification, string) {
	if err := o.Validate(); err != nil {
		return err.Notification(), err.Reason
	}
	if !s.cfg.PeerAS.Match(s.cfg.LocalAS, o.AS) {
		return &wire.Notification{Code: wire.CodeOpenMessage, Subcode: wire.SubBadPeerAS},
			fmt.Sprintf("peer AS %d does not match %s", o.AS, s.cfg.PeerAS)
	}
	if o.HoldTime != 0 && s.cfg.MinPeerHoldTime > 0 && time.Duration(o.HoldTime)*time.Second < s.cfg.MinPeerHoldTime {
		return &wire.Notification{Code: wire.CodeOpenMessage, Subcode: wire.SubUnacceptableHoldTime},
			fmt.Sprintf("peer hold time %ds is below the minimum %v", o.HoldTime, s.cfg.MinPeerHoldTime)
	}
	// RFC 6286 2.2: the same identifier as ours is only an error from an
	// internal peer; eBGP peers may share one.
	if o.RouterID == s.cfg.RouterID && o.AS == s.cfg.LocalAS {
		return &wire.Notification{Code: wire.CodeOpenMessage, Subcode: wire.SubBadBGPIdentifier},
			fmt.Sprintf("internal peer uses our BGP identifier %s", o.RouterID)
	}
	if data, missing := s.missingCapabilities(&o.Caps); len(data) > 0 {
		return &wire.Notification{Code: wire.CodeOpenMessage, Subcode: wire.SubUnsupportedCapability, Data: data},
			"peer lacks required capabilities: " + missing
	}
	return nil, ""
}

// missingCapabilities returns, for each required capability the peer did
// not send, the capability as we sent it, which is the data of an
// Unsupported Capability NOTIFICATION (RFC 5492 5).
func (s *Session) missingCapabilities(peer *wire.Capabilities) ([]byte, string) {
	var data []byte
	var names []string
	local := &s.cfg.Capabilities
	add := func(code uint8, val []byte, name string) {
		data = append(data, code, byte(len(val)))
		data = append(data, val...)
		names = append(names, name)
	}
	for _, code := range s.cfg.Required {
		switch code {
		case wire.CapMultiprotocol:
			fams := local.Multiprotocol
			if len(fams) == 0 {
				fams = []wire.Family{wire.IPv4Unicast}
			}
			for _, f := range fams {
				if !peer.Has(f) {
					add(code, mpValue(f), "multiprotocol "+f.String())
				}
			}
		case wire.CapRouteRefresh:
			if !peer.RouteRefresh {
				add(code, nil, "route-refresh")
			}
		case wire.CapEnhancedRouteRefresh:
			if !peer.EnhancedRouteRefresh {
				add(code, nil, "enhanced-route-refresh")
			}
		case wire.CapExtendedMessage:
			if !peer.ExtendedMessage {
				add(code, nil, "extended-message")
			}
		case wire.CapAS4:
			if !peer.AS4 {
				add(code, binary.BigEndian.AppendUint32(nil, s.cfg.LocalAS), "4-octet-as")
			}
		case wire.CapAddPath:
			var val []byte
			for _, a := range local.AddPath {
				if peer.AddPathMode(a.Family)&complement(a.Mode) == 0 {
					val = append(binary.BigEndian.AppendUint16(val, uint16(a.Family.AFI)), byte(a.Family.SAFI), byte(a.Mode))
				}
			}
			if len(val) > 0 || (len(local.AddPath) == 0 && len(peer.AddPath) == 0) {
				add(code, val, "add-path")
			}
		case wire.CapExtendedNextHop:
			var val []byte
			for _, e := range local.ExtendedNextHop {
				if !slices.Contains(peer.ExtendedNextHop, e) {
					val = binary.BigEndian.AppendUint16(val, uint16(e.NLRI.AFI))
					val = binary.BigEndian.AppendUint16(val, uint16(e.NLRI.SAFI))
					val = binary.BigEndian.AppendUint16(val, uint16(e.NextHopAFI))
				}
			}
			if len(val) > 0 || (len(local.ExtendedNextHop) == 0 && len(peer.ExtendedNextHop) == 0) {
				add(code, val, "extended-nexthop")
			}
		case wire.CapGracefulRestart:
			if peer.GracefulRestart == nil {
				var val []byte
				if gr := local.GracefulRestart; gr != nil {
					val = binary.BigEndian.AppendUint16(nil, gr.Time&0x0fff)
				}
				add(code, val, "graceful-restart")
			}
		case wire.CapFQDN:
			if peer.FQDN == nil {
				add(code, nil, "fqdn")
			}
		default:
			if !slices.ContainsFunc(peer.Unknown, func(r wire.RawCapability) bool { return r.Code == code }) {
				add(code, nil, fmt.Sprintf("capability %d", code))
			}
		}
	}
	return data, joinNames(names)
}

// complement is the add-path direction the peer must offer to match ours.
func complement(m wire.AddPathMode) wire.AddPathMode {
	var c wire.AddPathMode
	if m&wire.AddPathReceive != 0 {
		c |= wire.AddPathSend
	}
	if m&wire.AddPathSend != 0 {
		c |= wire.AddPathReceive
	}
	return c
}

func mpValue(f wire.Family) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(f.AFI)), 0, byte(f.SAFI))
}

func joinNames(n []string) string {
	out := ""
	for i, s := range n {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

// acceptOpen records the peer's OPEN and negotiates the session.
func (s *Session) acceptOpen(o *wire.Open) {
	s.peerOpen = o
	local := &s.cfg.Capabilities
	hold := min(s.cfg.HoldTime, time.Duration(o.HoldTime)*time.Second)
	keepalive := hold / 3
	if s.cfg.Keepalive > 0 && hold > 0 {
		keepalive = min(keepalive, s.cfg.Keepalive)
	}
	s.neg = Negotiated{
		PeerAS:               o.AS,
		PeerID:               o.RouterID,
		Inbound:              s.inbound,
		HoldTime:             hold,
		Keepalive:            keepalive,
		Options:              wire.Negotiate(local, &o.Caps),
		Families:             wire.CommonFamilies(local, &o.Caps),
		RouteRefresh:         local.RouteRefresh && o.Caps.RouteRefresh,
		EnhancedRouteRefresh: local.EnhancedRouteRefresh && o.Caps.EnhancedRouteRefresh,
		PeerGracefulRestart:  o.Caps.GracefulRestart,
		GracefulNotification: local.GracefulRestart != nil && local.GracefulRestart.Notification &&
			o.Caps.GracefulRestart != nil && o.Caps.GracefulRestart.Notification,
		PeerCaps: o.Caps,
	}
	s.st.PeerAS = o.AS
	s.st.PeerID = o.RouterID.String()
}

func eventName(ev Event) string {
	switch e := ev.(type) {
	case RecvMessage:
		return msgName(e.Msg)
	case ManualStart:
		return "ManualStart"
	case ManualStop:
		return "ManualStop"
	case AutomaticStart:
		return "AutomaticStart"
	case AutomaticStop:
		return "AutomaticStop"
	case ConnectRetryTimerExpires:
		return "ConnectRetryTimer_Expires"
	case HoldTimerExpires:
		return "HoldTimer_Expires"
	case KeepaliveTimerExpires:
		return "KeepaliveTimer_Expires"
	case IdleHoldTimerExpires:
		return "IdleHoldTimer_Expires"
	case TcpConnectionConfirmed:
		return "TcpConnectionConfirmed"
	case TcpConnectionFails:
		return "TcpConnectionFails"
	case OpenCollisionDump:
		return "OpenCollisionDump"
	}
	return fmt.Sprintf("%T", ev)
}

func msgName(m wire.Message) string {
	if m == nil {
		return "nil message"
	}
	return m.Type().String()
}
