package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bfd"
)

// TestBFDRecoveryRestartsBGPAtOnce: after a BFD outage BGP comes back as
// soon as BFD is Up, not after the idle hold (120 s here, as after a few
// flaps with the default backoff) or a ConnectRetry begun while held.
func TestBFDRecoveryRestartsBGPAtOnce(t *testing.T) {
	// Both have the long timers: only BFD's Up can bring BGP back in
	// time. Both ends' BFD comes Up together at start-up too, and a kick
	// must not re-dial a dial in flight (see bfdKickBGP).
	ca, cb := bfdPairConfigs(t, bfdPairOpts{interval: 100, multiplier: 3})
	slow := Options{ConnectRetry: 120 * time.Second, IdleHoldTime: 120 * time.Second, MaxIdleHoldTime: 240 * time.Second}
	p := newBFDPair().start(t, ca, cb, slow, slow)
	a, b := p.a, p.b
	waitFor(t, "BGP and BFD up on both", p.up(t))

	p.cutBToA(true)
	waitFor(t, "BGP dropped by BFD", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State != "Established" && na.BFD.HoldingBGP, na.State
	})
	p.cutBToA(false)
	restored := time.Now()
	// BFD needs a slow-start round (1 s) or two to come back; BGP and the
	// route then follow at once. The bound, generous for a loaded machine,
	// is still far below the idle hold and ConnectRetry.
	pollFor(t, "BGP, BFD and the route back", 30*time.Second, p.up(t))
	t.Logf("route back %v after BFD packets flowed again", time.Since(restored))
	a.stop(t)
	b.stop(t)
}

// TestBFDPeerRestartKeepsBGP: a peer that restarts its BFD session (FRR's
// bfdd does when bgpd re-registers it as BGP comes up) makes ours go Down
// with PeerRestarted; BGP and the FIB are left alone while the new session
// comes Up, and dropped only if it does not within the grace. The engine's
// reports are injected; the real sessions run at a detection time (3 s) a
// loaded machine does not reach, so they stay Up and quiet.
func TestBFDPeerRestartKeepsBGP(t *testing.T) {
	p := startBFDPair(t, steadyBFD, Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 200 * time.Millisecond})
	a, b := p.a, p.b
	waitFor(t, "BGP and BFD up", p.up(t))
	key := bfdSession(t, a.d, "127.0.0.2")
	k := bfd.PeerKey{Peer: key.Peer, Interface: key.Interface, Local: key.Local, Multihop: key.Multihop}
	before, _ := waitSettled(t, a, b, "127.0.0.2", "127.0.0.1")
	beforeS := bfdSession(t, a.d, "127.0.0.2")

	// The engine's report of a restart, then the new session's Up.
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateUp, To: bfd.StateDown, Diag: bfd.DiagNeighborDown, At: time.Now(), PeerRestarted: true})
	// The status's State is the engine's, still Up: the loop's counters
	// show the injected changes taken.
	waitFor(t, "a to take the restart", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.BFD.Downs == before.BFD.Downs+1, fmt.Sprintf("%+v", na.BFD)
	})
	na := neighbor(t, a.d, "127.0.0.2")
	if na.State != "Established" || na.BFD.GatewayDown || na.BFD.HoldingBGP {
		t.Fatalf("during the grace: %s %+v; want BGP and the FIB left alone", na.State, na.BFD)
	}
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateInit, To: bfd.StateUp, At: time.Now()})
	waitFor(t, "a to take the new session's Up", func() (bool, string) {
		s := bfdSession(t, a.d, "127.0.0.2")
		return s.Ups == beforeS.Ups+1, fmt.Sprintf("%+v", s)
	})
	// Past the grace: it was called off.
	time.Sleep(peerRestartGrace + 500*time.Millisecond)
	na = neighbor(t, a.d, "127.0.0.2")
	if na.State != "Established" || na.Resets != before.Resets || na.BFD.GatewayDown {
		t.Fatalf("after the new session came up: %s resets %d (was %d) %+v", na.State, na.Resets, before.Resets, na.BFD)
	}

	// A restart whose new session never comes Up is a failure after all.
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateUp, To: bfd.StateDown, Diag: bfd.DiagNeighborDown, At: time.Now(), PeerRestarted: true})
	waitFor(t, "BGP dropped after the grace", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State != "Established" && na.BFD.HoldingBGP && na.BFD.GatewayDown, fmt.Sprintf("%s %+v", na.State, na.BFD)
	})
	a.stop(t)
	b.stop(t)
}
