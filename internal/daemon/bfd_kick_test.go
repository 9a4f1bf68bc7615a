package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bfd"
)

// TestBFDUpStartsAnIdleSession: the peer drops BGP while our BFD session
// is in the restart grace (FRR's bgpd sends Cease/BFD Down when its bfdd
// replaces the session just after BGP came up), so BFD never held BGP and
// the session sits in an idle hold that doubled with each earlier flap.
// The new BFD session's Up must start BGP at once, as FRR does: waiting
// out the idle hold refuses the peer's connections the whole time. The
// engine's reports are injected; the real sessions (steadyBFD) stay quiet.
func TestBFDUpStartsAnIdleSession(t *testing.T) {
	ca, cb := bfdPairConfigs(t, steadyBFD)
	p := newBFDPair().start(t, ca, cb,
		Options{ConnectRetry: 30 * time.Second, IdleHoldTime: 120 * time.Second, MaxIdleHoldTime: 240 * time.Second},
		// b retries every second (a refuses it while Idle): with both
		// slow, start-up can lose all its connections to BFD Up
		// re-dialing a dial in flight and wait out ConnectRetry.
		Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 100 * time.Millisecond})
	a, b, ipA := p.a, p.b, bfdIPA
	waitFor(t, "BGP and BFD up", p.up(t))
	key := bfdSession(t, a.d, "127.0.0.2")
	k := bfd.PeerKey{Peer: key.Peer, Interface: key.Interface, Local: key.Local, Multihop: key.Multihop}

	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateUp, To: bfd.StateDown, Diag: bfd.DiagNeighborDown, At: time.Now(), PeerRestarted: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.d.ClearNeighbors(ctx, ipA, ClearHard); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's session dropped by the peer", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State != "Established" && !na.BFD.HoldingBGP, fmt.Sprintf("%s %+v", na.State, na.BFD)
	})
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateInit, To: bfd.StateUp, At: time.Now()})
	// Far below a's 120 s idle hold.
	pollFor(t, "BGP back after BFD Up", 30*time.Second, func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established", na.State
	})
	a.stop(t)
	b.stop(t)
}

// TestBFDSilenceJustAfterBGPUpPullsTheNextHop: a detection-time expiry in
// the seconds after BGP came up gets the grace for BGP (FRR replaces its
// BFD session then), but the peer was not heard at all, so the FIB stops
// using its next hop at once instead of blackholing for the grace; the
// new session's Up puts it back with BGP untouched.
func TestBFDSilenceJustAfterBGPUpPullsTheNextHop(t *testing.T) {
	// The engine's reports are injected; the real sessions (steadyBFD)
	// stay quiet.
	p := startBFDPair(t, steadyBFD, Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 200 * time.Millisecond})
	a, b, ipA := p.a, p.b, bfdIPA
	waitFor(t, "BGP and BFD up", p.up(t))
	key := bfdSession(t, a.d, "127.0.0.2")
	k := bfd.PeerKey{Peer: key.Peer, Interface: key.Interface, Local: key.Local, Multihop: key.Multihop}
	// The grace covers bgpSettle after Established: start from a fresh
	// session (bounded retries for a loaded machine), one that no
	// collision can reset any more.
	var na NeighborStatus
	for try := 0; ; try++ {
		if na, _ = waitSettled(t, a, b, "127.0.0.2", "127.0.0.1"); na.Uptime < time.Second {
			break
		}
		if try == 5 {
			t.Fatalf("could not catch the session within 1 s of coming up")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := b.d.ClearNeighbors(ctx, ipA, ClearHard)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	resets := na.Resets
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateUp, To: bfd.StateDown, Diag: bfd.DiagControlDetectExpired, At: time.Now()})
	waitFor(t, "next hop out of the FIB, BGP kept", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.BFD.GatewayDown && na.State == "Established" && !na.BFD.HoldingBGP, fmt.Sprintf("%s %+v", na.State, na.BFD)
	})
	a.d.bfdChanged(bfd.StateChange{Key: k, From: bfd.StateInit, To: bfd.StateUp, At: time.Now()})
	waitFor(t, "next hop back", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return !na.BFD.GatewayDown && na.State == "Established", fmt.Sprintf("%s %+v", na.State, na.BFD)
	})
	if na := neighbor(t, a.d, "127.0.0.2"); na.Resets != resets {
		t.Errorf("BGP was reset (%d, was %d); the grace should have kept it", na.Resets, resets)
	}
	a.stop(t)
	b.stop(t)
}

// TestBFDStrictHoldsTheFirstSession: with bfd strict (FRR's `neighbor X
// bfd strict`) BGP does not connect until BFD is Up, the first session
// too; without it only a BFD that went Down from Up holds BGP.
func TestBFDStrictHoldsTheFirstSession(t *testing.T) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	ca := parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {bfd: {interval: 100, multiplier: 3}}
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    bfd: {strict: true}
`, pa, pb))
	cb := parse(t, "b.yaml", fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
networks: [10.2.0.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d
    bfd: true
`, pb, pa))
	if !ca.Neighbors[0].BFD.Strict {
		t.Fatalf("bfd: {strict: true} parsed as %+v", ca.Neighbors[0].BFD)
	}
	mem := bfd.NewMemNetwork()
	ipA, ipB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	mem.Drop(ipA, ipB, true)
	mem.Drop(ipB, ipA, true)
	o := Options{ConnectRetry: 200 * time.Millisecond, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 100 * time.Millisecond}
	oa, ob := o, o
	oa.BFDTransport, ob.BFDTransport = mem.Endpoint(ipA, 0), mem.Endpoint(ipB, 0)
	a := start(t, "a", ca, oa)
	b := start(t, "b", cb, ob)
	waitFor(t, "a holding BGP for BFD", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.BFD != nil && na.BFD.HoldingBGP, fmt.Sprintf("%+v", na.BFD)
	})
	// Several connect retries of both sides: without strict they would
	// have brought BGP up long before.
	time.Sleep(1500 * time.Millisecond)
	if na := neighbor(t, a.d, "127.0.0.2"); na.State == "Established" || na.State == "OpenConfirm" {
		t.Fatalf("BGP reached %s with BFD down and strict set", na.State)
	}
	mem.Drop(ipA, ipB, false)
	mem.Drop(ipB, ipA, false)
	waitFor(t, "BGP up once BFD is", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established" && na.BFD.State == "Up" && !na.BFD.HoldingBGP, fmt.Sprintf("%s %+v", na.State, na.BFD)
	})
	a.stop(t)
	b.stop(t)
}
