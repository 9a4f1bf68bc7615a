package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/config"
)

// bfdAuthPair is two daemons on 127.0.0.1 and .2 whose neighbor sessions
// use BFD with keyed SHA1 at 100 ms x 3; keyB is b's key. Each also has a
// standalone peer towards the other's second address (.11 and .12), without
// authentication.
func bfdAuthPair(t *testing.T, keyB string) (a, b *running, ca *config.Config) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	ca = parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 3, hold: 9}}
networks: [10.1.0.0/24]
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    bfd: {profile: fast}
bfd:
  profiles:
    - {name: fast, interval: 100, multiplier: 3, auth: {type: keyed-sha1, key-id: 3, key: right-key}}
  peers:
    - {address: 127.0.0.12, local: 127.0.0.11, interval: 50, description: watched next hop}
`, pa, pb))
	cb := parse(t, "b.yaml", fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
bgp: {timers: {keepalive: 3, hold: 9}}
networks: [10.2.0.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d
    bfd: {interval: 100, auth: {type: keyed-sha1, key-id: 3, key: %q}}
bfd:
  peers:
    - {address: 127.0.0.11, local: 127.0.0.12, interval: 50}
`, pb, pa, keyB))
	// The standalone sessions run between .11 (a) and .12 (b), second
	// addresses of the daemons on the fake network.
	p := newBFDPair()
	p.mem.Alias(netip.MustParseAddr("127.0.0.11"), bfdIPA)
	p.mem.Alias(netip.MustParseAddr("127.0.0.12"), bfdIPB)
	o := Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 200 * time.Millisecond}
	p.start(t, ca, cb, o, o)
	return p.a, p.b, ca
}

func bfdSession(t *testing.T, d *Daemon, peer string) BFDSession {
	t.Helper()
	r, err := d.BFDSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Sessions {
		if s.Peer.String() == peer {
			return s
		}
	}
	t.Fatalf("no BFD session to %s in %+v", peer, r.Sessions)
	return BFDSession{}
}

func TestBFDAuthMatchingKeysComeUp(t *testing.T) {
	a, b, _ := bfdAuthPair(t, "right-key")
	waitFor(t, "BFD up with keyed SHA1 on both", func() (bool, string) {
		sa, sb := bfdSession(t, a.d, "127.0.0.2"), bfdSession(t, b.d, "127.0.0.1")
		na := neighbor(t, a.d, "127.0.0.2")
		return sa.State == "Up" && sb.State == "Up" && na.State == "Established", sa.State + "/" + sb.State + " " + na.State
	})
	sa := bfdSession(t, a.d, "127.0.0.2")
	if sa.Auth != "keyed-sha1" || sa.Neighbor.String() != "127.0.0.2" || sa.TxIntervalMS != 100 || sa.DetectionTimeMS != 300 || sa.Ups != 1 {
		t.Errorf("a's session = %+v", sa)
	}
	// The standalone peers run too, at their own 50 ms, unauthenticated,
	// owned by no neighbor.
	waitFor(t, "standalone peers up", func() (bool, string) {
		s := bfdSession(t, a.d, "127.0.0.12")
		return s.State == "Up" && s.TxIntervalMS == 50, fmt.Sprintf("%+v", s)
	})
	sp := bfdSession(t, a.d, "127.0.0.12")
	if sp.Neighbor.IsValid() || sp.Auth != "" || sp.Description != "watched next hop" {
		t.Errorf("standalone session = %+v", sp)
	}
	r, err := a.d.BFDSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.Sessions != 2 || r.Stats.Up != 2 || r.Stats.UpTransitions < 2 {
		t.Errorf("stats = %+v, want 2 sessions up after at least 2 transitions", r.Stats)
	}
	ms, err := ListenMetrics("127.0.0.1:0", a.d)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close(context.Background())
	text := scrape(t, "http://"+ms.Addr().String()+"/metrics")
	for _, re := range []string{`(?m)^closd_bfd_sessions 2$`, `(?m)^closd_bfd_sessions_up 2$`,
		`(?m)^closd_bfd_state_changes_total\{direction="up"\} [1-9]`, `(?m)^closd_bfd_state_changes_total\{direction="down"\} 0$`,
		`(?m)^closd_bfd_session_up\{owner="bgp",peer="127.0.0.2"\} 1$`, `(?m)^closd_bfd_session_up\{owner="standalone",peer="127.0.0.12"\} 1$`,
		`(?m)^closd_bfd_detection_time_seconds\{peer="127.0.0.2"\} 0.3$`, `(?m)^closd_bfd_packets_total\{kind="rx",peer="127.0.0.2"\} [1-9]`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("metrics lack %s", re)
		}
	}
	a.stop(t)
	b.stop(t)
}

func TestBFDAuthMismatchKeepsTheSessionDown(t *testing.T) {
	a, b, _ := bfdAuthPair(t, "wrong-key")
	// The standalone (unauthenticated) sessions prove the packets flow.
	waitFor(t, "standalone peers up", func() (bool, string) {
		s := bfdSession(t, a.d, "127.0.0.12")
		return s.State == "Up", s.State
	})
	// Slow start sends one packet a second: three of b's, discarded.
	waitFor(t, "a to discard three of b's packets for their digest", func() (bool, string) {
		sa := bfdSession(t, a.d, "127.0.0.2")
		return sa.RxDiscarded >= 3 && strings.Contains(sa.LastDiscard, "digest"), fmt.Sprintf("%d discarded, last %q", sa.RxDiscarded, sa.LastDiscard)
	})
	sa, sb := bfdSession(t, a.d, "127.0.0.2"), bfdSession(t, b.d, "127.0.0.1")
	if sa.State == "Up" || sb.State == "Up" || sa.Ups != 0 {
		t.Errorf("BFD came up with different keys: a %+v b %+v", sa, sb)
	}
	// BFD that never came Up does not hold BGP (RFC 5882: not available
	// is not down).
	waitFor(t, "BGP Established without BFD", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established", na.State
	})
	a.stop(t)
	b.stop(t)
}

func TestBFDReload(t *testing.T) {
	a, b, ca := bfdAuthPair(t, "right-key")
	waitFor(t, "BFD and BGP up", func() (bool, string) {
		s := bfdSession(t, a.d, "127.0.0.2")
		na := neighbor(t, a.d, "127.0.0.2")
		return s.State == "Up" && na.State == "Established", s.State + " " + na.State
	})
	na, _ := waitSettled(t, a, b, "127.0.0.2", "127.0.0.1")
	resets := na.Resets
	// The profile's timers change and the standalone peer goes.
	cfg := *ca
	cfg.BFD = config.BFDSection{Profiles: []config.BFDProfile{{Name: "fast", Interval: 200, Multiplier: 3,
		Auth: &config.BFDAuth{Type: config.BFDAuthKeyedSHA1, KeyID: 3, Key: "right-key"}}}}
	rep, err := a.d.ApplyConfig(context.Background(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reload notes: %q", rep.Notes)
	waitFor(t, "the neighbor's new BFD session up at 200 ms", func() (bool, string) {
		s := bfdSession(t, a.d, "127.0.0.2")
		return s.State == "Up" && s.DesiredMinTxMS == 200, fmt.Sprintf("%+v", s)
	})
	r, err := a.d.BFDSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sessions) != 1 {
		t.Errorf("sessions after reload = %+v; want only the neighbor's", r.Sessions)
	}
	if na := neighbor(t, a.d, "127.0.0.2"); na.State != "Established" || na.Resets != resets {
		t.Errorf("BGP after the BFD reload: %s, resets %d (was %d)", na.State, na.Resets, resets)
	}
	a.stop(t)
	b.stop(t)
}
