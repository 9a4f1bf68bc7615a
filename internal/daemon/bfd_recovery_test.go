package daemon

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bfd"
)

// pollFor waits (bounded) for cond, failing after limit with its last
// report.
func pollFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not within %v; last: %s", what, limit, last)
}

// TestBFDRecoveryRestartsBGPAtOnce: after a BFD outage BGP comes back as
// soon as BFD is Up, not after the idle hold (20 s here, as after a few
// flaps with the default backoff) or a ConnectRetry begun while held.
func TestBFDRecoveryRestartsBGPAtOnce(t *testing.T) {
	ca, cb := bfdPairConfigs(t)
	mem := bfd.NewMemNetwork()
	ipA, ipB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	o := Options{ConnectRetry: 30 * time.Second, IdleHoldTime: 20 * time.Second, MaxIdleHoldTime: 40 * time.Second}
	oa, ob := o, o
	oa.BFDTransport, ob.BFDTransport = mem.Endpoint(ipA, 0), mem.Endpoint(ipB, 0)
	a := start(t, "a", ca, oa)
	b := start(t, "b", cb, ob)
	up := func() (bool, string) {
		na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1")
		if na.BFD == nil || nb.BFD == nil {
			return false, "no BFD status"
		}
		return na.State == "Established" && nb.State == "Established" && na.BFD.State == "Up" && nb.BFD.State == "Up" &&
				kernelHas(a.fake, "10.2.0.0/24"),
			fmt.Sprintf("a %s/%s b %s/%s", na.State, na.BFD.State, nb.State, nb.BFD.State)
	}
	waitFor(t, "BGP and BFD up on both", up)

	mem.Drop(ipB, ipA, true)
	waitFor(t, "BGP dropped by BFD", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State != "Established" && na.BFD.HoldingBGP, na.State
	})
	mem.Drop(ipB, ipA, false)
	restored := time.Now()
	// BFD needs a slow-start round (1 s) or two to come back; BGP and the
	// route then follow at once. 8 s is far below the 20 s idle hold.
	pollFor(t, "BGP, BFD and the route back", 8*time.Second, up)
	t.Logf("route back %v after BFD packets flowed again", time.Since(restored))
	a.stop(t)
	b.stop(t)
}

// TestBFDPeerRestartKeepsBGP: a peer that restarts its BFD session (FRR's
// bfdd does when bgpd re-registers it as BGP comes up) makes ours go Down
// with PeerRestarted; BGP and the FIB are left alone while the new session
// comes Up, and dropped only if it does not within the grace.
func TestBFDPeerRestartKeepsBGP(t *testing.T) {
	ca, cb := bfdPairConfigs(t)
	mem := bfd.NewMemNetwork()
	ipA, ipB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	o := Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 200 * time.Millisecond}
	oa, ob := o, o
	oa.BFDTransport, ob.BFDTransport = mem.Endpoint(ipA, 0), mem.Endpoint(ipB, 0)
	a := start(t, "a", ca, oa)
	b := start(t, "b", cb, ob)
	waitFor(t, "BGP and BFD up", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established" && na.BFD != nil && na.BFD.State == "Up" && kernelHas(a.fake, "10.2.0.0/24"), na.State
	})
	key := bfdSession(t, a.d, "127.0.0.2")
	k := bfd.PeerKey{Peer: key.Peer, Interface: key.Interface, Local: key.Local, Multihop: key.Multihop}
	resets := neighbor(t, a.d, "127.0.0.2").Resets

	// The engine's report of a restart, then the new session's Up.
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateUp, To: bfd.StateDown, Diag: bfd.DiagNeighborDown, At: time.Now(), PeerRestarted: true})
	time.Sleep(500 * time.Millisecond)
	na := neighbor(t, a.d, "127.0.0.2")
	if na.State != "Established" || na.BFD.GatewayDown || na.BFD.HoldingBGP {
		t.Fatalf("during the grace: %s %+v; want BGP and the FIB left alone", na.State, na.BFD)
	}
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateInit, To: bfd.StateUp, At: time.Now()})
	time.Sleep(peerRestartGrace + 500*time.Millisecond)
	na = neighbor(t, a.d, "127.0.0.2")
	if na.State != "Established" || na.Resets != resets || na.BFD.GatewayDown {
		t.Fatalf("after the new session came up: %s resets %d (was %d) %+v", na.State, na.Resets, resets, na.BFD)
	}

	// A restart whose new session never comes Up is a failure after all.
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateUp, To: bfd.StateDown, Diag: bfd.DiagNeighborDown, At: time.Now(), PeerRestarted: true})
	pollFor(t, "BGP dropped after the grace", peerRestartGrace+3*time.Second, func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State != "Established" && na.BFD.HoldingBGP && na.BFD.GatewayDown, fmt.Sprintf("%s %+v", na.State, na.BFD)
	})
	a.stop(t)
	b.stop(t)
}
