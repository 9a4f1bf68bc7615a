package fsm

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

func TestParsePeerAS(t *testing.T) {
	cases := []struct {
		in          string
		match, miss []uint32
		err         string
	}{
		{in: "65001", match: []uint32{65001}, miss: []uint32{65000, 65002}},
		{in: "external", match: []uint32{1, 65001, 4200000000}, miss: []uint32{65000}},
		{in: "internal", match: []uint32{65000}, miss: []uint32{65001}},
		{in: "65100-65199, 4200000000", match: []uint32{65100, 65150, 65199, 4200000000}, miss: []uint32{65099, 65200, 65000}},
		{in: "", err: "not an AS number"},
		{in: "0", err: "not an AS number"},
		{in: "4294967296", err: "not an AS number"},
		{in: "65200-65100", err: "is empty"},
		{in: "65001-", err: "not an AS number"},
		{in: "ebgp", err: `want a number 1..4294967295, a range a-b, a list of those, "external" or "internal"`},
	}
	for _, c := range cases {
		p, err := ParsePeerAS(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		for _, as := range c.match {
			if !p.Match(65000, as) {
				t.Errorf("%q does not match %d", c.in, as)
			}
		}
		for _, as := range c.miss {
			if p.Match(65000, as) {
				t.Errorf("%q matches %d", c.in, as)
			}
		}
		if again, err := ParsePeerAS(p.String()); err != nil || again.String() != p.String() {
			t.Errorf("%q: String %q does not parse back (%v)", c.in, p.String(), err)
		}
	}
}

func baseConfig() Config {
	return Config{LocalAS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), PeerAS: PeerASNumber(65001)}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]func(*Config){
		"router ID":              func(c *Config) { c.RouterID = netip.Addr{} },
		"router ID 0.0.0.0":      func(c *Config) { c.RouterID = netip.MustParseAddr("0.0.0.0") },
		"router ID IPv6":         func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") },
		"local AS 0":             func(c *Config) { c.LocalAS = 0 },
		"4-octet AS":             func(c *Config) { c.LocalAS = 4200000000 },
		"peer AS is not set":     func(c *Config) { c.PeerAS = PeerAS{} },
		"hold time 1s":           func(c *Config) { c.HoldTime = time.Second },
		"whole number":           func(c *Config) { c.HoldTime = 4500 * time.Millisecond },
		"negative":               func(c *Config) { c.ConnectRetry = -time.Second },
		"below the idle hold":    func(c *Config) { c.IdleHoldTime = time.Minute; c.MaxIdleHoldTime = time.Second },
		"hold time 65536s above": func(c *Config) { c.HoldTime = 65536 * time.Second },
	}
	for name, mod := range cases {
		c := baseConfig()
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: config accepted", name)
		}
	}
	c := baseConfig()
	c.LocalAS, c.Capabilities.AS4 = 4200000000, true
	if _, err := New(c); err != nil {
		t.Errorf("4-octet AS with the capability: %v", err)
	}
}

func TestIdleHoldBounded(t *testing.T) {
	c := baseConfig()
	c.IdleHoldTime, c.MaxIdleHoldTime = time.Second, 120*time.Second
	s, _ := New(c)
	want := []time.Duration{1, 1, 2, 4, 8, 16, 32, 64, 120, 120}
	for i, w := range want {
		s.failures = i
		if got := s.IdleHoldTime(); got != w*time.Second {
			t.Errorf("after %d failures: %v, want %v", i, got, w*time.Second)
		}
	}
	s.failures = 1 << 30 // no overflow however many
	if got := s.IdleHoldTime(); got != 120*time.Second {
		t.Errorf("after many failures: %v", got)
	}
	s.ResetDamping()
	if got := s.IdleHoldTime(); got != time.Second {
		t.Errorf("after ResetDamping: %v, want the base 1s", got)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, f := range []float64{0, 0.25, 0.999, -1, 1, 7} {
		c := baseConfig()
		c.Jitter = func() float64 { return f }
		s, _ := New(c)
		d := s.jitter(100 * time.Second)
		if d < 75*time.Second || d > 100*time.Second {
			t.Errorf("jitter source %v gives %v, outside 75..100s", f, d)
		}
	}
}

// establish brings a session to Established and returns the clock.
func establish(t testing.TB, s *Session) time.Time {
	t.Helper()
	now := epoch
	s.Step(now, ManualStart{})
	s.Step(now, TcpConnectionConfirmed{})
	s.Step(now, RecvMessage{Msg: openFrom(65001)})
	s.Step(now, RecvMessage{Msg: &wire.Keepalive{}})
	if s.State() != StateEstablished {
		t.Fatalf("state %s", s.State())
	}
	return now
}

func openFrom(as uint32) *wire.Open {
	return &wire.Open{Version: 4, AS: as, HoldTime: 9, RouterID: netip.MustParseAddr("10.0.0.2")}
}

func TestStatusJSON(t *testing.T) {
	s, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := establish(t, s)
	s.Step(now.Add(time.Second), ManualStop{Message: "bye"})
	b, err := json.Marshal(s.Status())
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"state", "peer_as", "flaps", "messages_in", "messages_out", "last_notification_sent", "last_down_reason"} {
		if _, ok := back[key]; !ok {
			t.Errorf("status JSON lacks %q: %s", key, b)
		}
	}
	if got := back["last_notification_sent"].(map[string]any)["message"]; got != "bye" {
		t.Errorf("shutdown message %v, want bye", got)
	}
	// The snapshot is a copy.
	st := s.Status()
	st.LastSent.Name = "changed"
	if s.Status().LastSent.Name == "changed" {
		t.Error("Status shares its notification with the session")
	}
}

func TestTickLeavesNoExpiredTimer(t *testing.T) {
	s, _ := New(baseConfig())
	now := establish(t, s)
	// A daemon that slept through many keepalive intervals.
	later := now.Add(8 * time.Second)
	s.Step(later, RecvMessage{Msg: &wire.Keepalive{}})
	acts := s.Step(later.Add(5*time.Second), Tick{})
	if d := s.NextDeadline(); !d.After(later.Add(5 * time.Second)) {
		t.Errorf("deadline %v not in the future after Tick", d)
	}
	var keepalives int
	for _, a := range acts {
		if snd, ok := a.(Send); ok && snd.Msg.Type() == wire.TypeKeepalive {
			keepalives++
		}
	}
	if keepalives != 1 {
		t.Errorf("%d keepalives after a long sleep, want 1 (no burst)", keepalives)
	}
}

func TestNonWireErrorClosesWithoutNotification(t *testing.T) {
	s, _ := New(baseConfig())
	now := establish(t, s)
	acts := s.Step(now, RecvMessage{Err: errTest{}})
	for _, a := range acts {
		if snd, ok := a.(Send); ok {
			t.Errorf("sent %v for a local error", snd.Msg.Type())
		}
	}
	if s.State() != StateIdle {
		t.Errorf("state %s", s.State())
	}
}

type errTest struct{}

func (errTest) Error() string { return "read buffer exhausted" }

func TestAcceptsConnection(t *testing.T) {
	s, _ := New(baseConfig())
	if s.AcceptsConnection() {
		t.Error("Idle accepts a connection")
	}
	now := establish(t, s)
	if !s.AcceptsConnection() {
		t.Error("Established refuses the connection Collision needs to see")
	}
	s.Step(now, ManualStop{})
	if s.AcceptsConnection() {
		t.Error("a stopped session accepts a connection")
	}
}
