package fsm

import (
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

func FuzzParsePeerAS(f *testing.F) {
	for _, s := range []string{"65001", "external", "internal", "1-10,20", "65001-", ",", "4294967295"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeerAS(s)
		if err != nil {
			return
		}
		again, err := ParsePeerAS(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q -> %q does not parse back: %v", s, p.String(), err)
		}
	})
}

// FuzzSession steps a session through arbitrary event sequences, each byte
// choosing an event and a time advance, and checks the invariants the
// daemon relies on.
func FuzzSession(f *testing.F) {
	f.Add([]byte{0, 9, 10, 11, 12})
	f.Add([]byte{0, 9, 10, 11, 12, 13, 14, 3, 3, 3, 7})
	f.Add([]byte{4, 9, 10, 2, 1, 9, 17})
	f.Fuzz(func(t *testing.T, prog []byte) {
		c := Config{
			LocalAS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), PeerAS: PeerASExternal(),
			HoldTime: 9 * time.Second, ConnectRetry: 5 * time.Second,
			Capabilities: wire.Capabilities{AS4: true, RouteRefresh: true},
			Required:     []uint8{wire.CapAS4},
		}
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		now := epoch
		open := &wire.Open{Version: 4, AS: 65001, HoldTime: 3, RouterID: netip.MustParseAddr("10.0.0.2"), Caps: wire.Capabilities{AS4: true}}
		events := []Event{
			ManualStart{}, ManualStop{Message: "m"}, AutomaticStart{}, Tick{}, ManualStart{Passive: true},
			AutomaticStop{Subcode: wire.SubMaxPrefixes}, ConnectRetryTimerExpires{}, HoldTimerExpires{},
			KeepaliveTimerExpires{}, TcpConnectionConfirmed{}, RecvMessage{Msg: open}, RecvMessage{Msg: &wire.Keepalive{}},
			RecvMessage{Msg: &wire.Update{}}, RecvMessage{Msg: &wire.RouteRefresh{Family: wire.IPv4Unicast}},
			TcpConnectionFails{}, OpenCollisionDump{}, IdleHoldTimerExpires{},
			RecvMessage{Msg: &wire.Notification{Code: 6, Subcode: 2}},
			RecvMessage{Err: &wire.Error{Code: 1, Subcode: 1, Action: wire.ActionSessionReset}},
			RecvMessage{Msg: &wire.Update{}, Err: &wire.Error{Code: 3, Subcode: 1, Action: wire.ActionTreatAsWithdraw}},
			TcpConnectionConfirmed{Inbound: true}, ManualStop{Reset: true},
		}
		for _, b := range prog {
			now = now.Add(time.Duration(b>>5) * 700 * time.Millisecond)
			ev := events[int(b&31)%len(events)]
			acts := s.Step(now, ev)
			if s.State() > StateEstablished {
				t.Fatalf("invalid state %d", s.State())
			}
			if _, ok := ev.(Tick); ok {
				if d := s.NextDeadline(); !d.IsZero() && !d.After(now) {
					t.Fatalf("after Tick a timer is still due: %v <= %v", d, now)
				}
			}
			if s.State() < StateOpenConfirm && !s.keepalive.IsZero() {
				t.Fatalf("keepalive timer running in %s", s.State())
			}
			if s.State() == StateIdle && (!s.hold.IsZero() || !s.connectRetry.IsZero()) {
				t.Fatal("connection timers running in Idle")
			}
			if s.State() == StateEstablished && s.Options() == nil {
				t.Fatal("no options in Established")
			}
			closed := false
			for _, a := range acts {
				switch a := a.(type) {
				case Send:
					if closed {
						t.Fatalf("send %v after close", a.Msg.Type())
					}
					if _, err := wire.Append(nil, a.Msg, s.Options()); err != nil {
						t.Fatalf("engine asked to send an unencodable %v: %v", a.Msg.Type(), err)
					}
				case CloseConnection:
					closed = true
				case Established:
					if a.Session.HoldTime != 0 && a.Session.Keepalive*3 != a.Session.HoldTime {
						t.Fatalf("keepalive %v for hold %v", a.Session.Keepalive, a.Session.HoldTime)
					}
				}
			}
		}
	})
}
