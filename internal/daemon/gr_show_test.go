package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

func grShow(t *testing.T, d *Daemon) (GRShow, GRNeighbor) {
	t.Helper()
	s, err := d.GracefulRestartShow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Neighbors) != 1 {
		t.Fatalf("neighbors %+v, want one", s.Neighbors)
	}
	return s, s.Neighbors[0]
}

// TestGracefulRestartShow follows one neighbor through both sides of RFC
// 4724 as GracefulRestartShow reports them: our restart phase waiting for
// its End-of-RIB, the capabilities both ways, then the peer restarting
// (routes kept stale), back with stale paths waiting for its End-of-RIB,
// and done.
func TestGracefulRestartShow(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	fk, resolve := loFIB(t)
	seedRoute(t, fk, "10.9.0.0/24")
	cfg := grConfig(t, "graceful-restart: {select-defer-time: 1h, restart-time: 30s, stalepath-time: 90s}", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "grshow", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second,
		IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)

	peer.accept()
	s, n := grShow(t, r.d)
	if s.Mode != "restart" || s.RestartTimeSeconds != 30 || s.StalepathTimeSeconds != 90 || s.SelectDeferTimeSeconds != 3600 ||
		!s.FIB || s.AdoptedRoutes != 1 || !s.Restarting || s.Phase != GRPhaseRunning || s.DeferUntil.Sub(s.PhaseStarted) != time.Hour {
		t.Fatalf("our side at start: %+v", s)
	}
	want := &GRCapability{RestartTimeSeconds: 30, Restarting: true, Notification: true, Families: []GRFamily{{Family: "ipv4-unicast", ForwardingPreserved: true}}}
	if n.Address != netip.MustParseAddr("127.0.0.8") || !equalCap(n.Sent, want) || n.Received != nil || !n.HoldsPhase {
		t.Fatalf("neighbor before its OPEN: %+v sent %+v", n, n.Sent)
	}

	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr("127.0.0.8"),
		ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65008}}}}
	p1, p2 := netip.MustParsePrefix("10.8.1.0/24"), netip.MustParsePrefix("10.8.2.0/24")
	open := peer.open(true)
	open.Caps.GracefulRestart.Notification = true
	peer.send(open, &wire.Keepalive{}, &wire.Update{Attrs: attrs, NLRI: []wire.NLRI{wire.NewNLRI(p1, 0), wire.NewNLRI(p2, 0)}})
	waitFor(t, "both routes in the FIB", func() (bool, string) { return kernelHas(fk, p1.String()) && kernelHas(fk, p2.String()), "" })
	_, n = grShow(t, r.d)
	got := &GRCapability{RestartTimeSeconds: 120, Notification: true, Families: []GRFamily{{Family: "ipv4-unicast", ForwardingPreserved: true}}}
	if n.State != "Established" || !equalCap(n.Received, got) || !n.HoldsPhase || len(n.EndOfRIB) != 0 {
		t.Fatalf("established, before End-of-RIB: %+v received %+v", n, n.Received)
	}

	peer.send(wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the restart phase over", func() (bool, string) {
		s, n := grShow(t, r.d)
		return s.Phase == GRPhaseDone && !s.Restarting && !n.HoldsPhase && slices.Equal(n.EndOfRIB, []string{"ipv4-unicast"}),
			fmt.Sprintf("%+v", s)
	})
	if s, n = grShow(t, r.d); s.PhaseSeconds <= 0 || s.PhaseSeconds > 60 || n.Sent.Restarting || !n.Sent.Families[0].ForwardingPreserved {
		t.Fatalf("after the phase: %+v sent %+v", s, n.Sent)
	}

	// The peer restarts: TCP close, no NOTIFICATION.
	peer.c.Close()
	down := time.Now()
	waitFor(t, "the peer shown restarting", func() (bool, string) {
		_, n := grShow(t, r.d)
		return n.PeerRestarting, fmt.Sprintf("%+v", n)
	})
	_, n = grShow(t, r.d)
	if d := n.RestartUntil.Sub(down); d < 119*time.Second || d > 121*time.Second {
		t.Errorf("kept until %v, %v after the close; want the peer's 120 s restart time", n.RestartUntil, d)
	}
	if !slices.Equal(n.StalePaths, []GRStale{{Family: "ipv4-unicast", Paths: 2}}) || n.WaitingEndOfRIB || len(n.EndOfRIB) != 0 || n.State == "Established" {
		t.Fatalf("peer restarting: %+v", n)
	}

	// Back, with one route so far: the other waits for its End-of-RIB.
	peer.accept()
	back := peer.open(true)
	back.Caps.GracefulRestart.Restarting = true
	peer.send(back, &wire.Keepalive{}, &wire.Update{Attrs: attrs, NLRI: []wire.NLRI{wire.NewNLRI(p1, 0)}})
	waitFor(t, "the peer shown back with stale paths", func() (bool, string) {
		_, n := grShow(t, r.d)
		return n.State == "Established" && n.WaitingEndOfRIB && slices.Equal(n.StalePaths, []GRStale{{Family: "ipv4-unicast", Paths: 1}}),
			fmt.Sprintf("%+v", n)
	})
	if _, n = grShow(t, r.d); n.PeerRestarting || !n.Received.Restarting || n.Received.Notification || len(n.EndOfRIB) != 0 ||
		n.StaleUntil.Before(time.Now().Add(80*time.Second)) {
		t.Fatalf("back, before End-of-RIB: %+v received %+v", n, n.Received)
	}
	peer.send(wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "helping over at the End-of-RIB", func() (bool, string) {
		_, n := grShow(t, r.d)
		return !n.WaitingEndOfRIB && !n.PeerRestarting && len(n.StalePaths) == 0 && slices.Equal(n.EndOfRIB, []string{"ipv4-unicast"}),
			fmt.Sprintf("%+v", n)
	})
	if kernelHas(fk, p2.String()) {
		t.Error("the route not announced again stayed after the End-of-RIB")
	}
}

func equalCap(a, b *GRCapability) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.RestartTimeSeconds == b.RestartTimeSeconds && a.Restarting == b.Restarting &&
		a.Notification == b.Notification && slices.Equal(a.Families, b.Families)
}
