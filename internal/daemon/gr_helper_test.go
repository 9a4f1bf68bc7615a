package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Helper side of graceful restart beyond the plain TCP close of
// TestGracefulRestartHelper: per family (RFC 4724 4.2), the N bit (RFC
// 8538) and dynamic neighbors. The raw peers send hold time 0, so no
// keepalive timing matters however loaded the machine is.

var (
	grV4a = netip.MustParsePrefix("10.8.1.0/24")
	grV4b = netip.MustParsePrefix("10.8.2.0/24")
	grV6  = netip.MustParsePrefix("2001:db8:8::/48")
)

// grOpen is a raw peer's OPEN: families fams, graceful restart gr (nil:
// no capability), hold time 0.
func grOpen(as uint32, fams []wire.Family, gr *wire.GracefulRestart) *wire.Open {
	return &wire.Open{AS: as, HoldTime: 0, RouterID: netip.MustParseAddr("10.0.0.8"),
		Caps: wire.Capabilities{Multiprotocol: fams, AS4: true, GracefulRestart: gr}}
}

// grCap is a capability with time t, N bit n, and each family with its
// F bit.
func grCap(t uint16, n bool, fams map[wire.Family]bool) *wire.GracefulRestart {
	g := &wire.GracefulRestart{Time: t, Notification: n}
	for _, f := range []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast} {
		if fwd, ok := fams[f]; ok {
			g.Families = append(g.Families, wire.GRFamily{Family: f, ForwardingPreserved: fwd})
		}
	}
	return g
}

// grAnnounce announces ps (IPv4 in NLRI, IPv6 in MP_REACH) from AS as.
func grAnnounce(as uint32, ps ...netip.Prefix) []wire.Message {
	attrs := func() *wire.PathAttrs {
		return &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{as}}}}
	}
	var v4, v6 []wire.NLRI
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, wire.NewNLRI(p, 0))
		} else {
			v6 = append(v6, wire.NewNLRI(p, 0))
		}
	}
	var out []wire.Message
	if len(v4) > 0 {
		a := attrs()
		a.NextHop = netip.MustParseAddr("127.0.0.8")
		out = append(out, &wire.Update{Attrs: a, NLRI: v4})
	}
	if len(v6) > 0 {
		a := attrs()
		a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::8"), NLRI: v6}
		out = append(out, &wire.Update{Attrs: a})
	}
	return out
}

// drain reads and drops what the daemon sends so it never blocks, until
// the connection closes.
func (p *rawPeer) drain() {
	c := p.c
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
}

func fibState(r *running, ps ...netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s=%v", p, kernelHas(r.fake, p.String())))
	}
	return fmt.Sprint(s)
}

// TestGracefulRestartPerFamily: the peer's capability lists IPv4 and IPv6.
// Back with IPv6 without its F bit, its IPv6 routes go at once while IPv4
// waits for its End-of-RIB; back with a capability that lists only IPv4,
// IPv6 goes when the session drops; back without any capability, every
// stale route goes at once.
func TestGracefulRestartPerFamily(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	both := []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast}
	cfg := parse(t, "gr.yaml", fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
neighbors:
  - address: 127.0.0.8
    remote-as: 65008
    port: %d
    families: [ipv4-unicast, ipv6-unicast]
`, freePort(t, "127.0.0.1"), peer.port()))
	r := start(t, "grfam", cfg, Options{ConnectRetry: time.Second, IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)
	all := []netip.Prefix{grV4a, grV4b, grV6}
	has := func(want ...bool) func() (bool, string) {
		return func() (bool, string) {
			for i, p := range all {
				if kernelHas(r.fake, p.String()) != want[i] {
					return false, fibState(r, all...)
				}
			}
			return true, ""
		}
	}
	up := func(gr *wire.GracefulRestart, ms ...wire.Message) {
		t.Helper()
		peer.accept()
		peer.send(append([]wire.Message{grOpen(65008, both, gr), &wire.Keepalive{}}, ms...)...)
		peer.drain()
		waitFor(t, "the session established", func() (bool, string) {
			n := neighbor(t, r.d, "127.0.0.8")
			return n.State == "Established", n.State
		})
	}
	down := func() {
		t.Helper()
		peer.c.Close()
		waitFor(t, "the session down", func() (bool, string) {
			n := neighbor(t, r.d, "127.0.0.8")
			return n.State != "Established", n.State
		})
	}
	fwd := map[wire.Family]bool{wire.IPv4Unicast: true, wire.IPv6Unicast: true}

	up(grCap(120, false, fwd), grAnnounce(65008, all...)...)
	waitFor(t, "every route in the FIB", has(true, true, true))
	down()
	waitFor(t, "every route kept while the peer restarts", has(true, true, true))

	// Back: IPv6 without F goes at once; IPv4 waits for its End-of-RIB.
	up(grCap(120, false, map[wire.Family]bool{wire.IPv4Unicast: true, wire.IPv6Unicast: false}))
	waitFor(t, "IPv6 stale routes gone, IPv4 kept", has(true, true, false))
	if _, n := grShow(t, r.d); !n.WaitingEndOfRIB || !slices.Equal(n.StalePaths, []GRStale{{Family: "ipv4-unicast", Paths: 2}}) {
		t.Fatalf("back before End-of-RIB: %+v", n)
	}
	peer.send(append(grAnnounce(65008, grV4a, grV6), wire.EndOfRIB(wire.IPv4Unicast), wire.EndOfRIB(wire.IPv6Unicast))...)
	waitFor(t, "the IPv4 route not announced again gone at End-of-RIB", has(true, false, true))
	waitFor(t, "the hold over once nothing is stale", func() (bool, string) {
		_, n := grShow(t, r.d)
		return !n.WaitingEndOfRIB && !n.PeerRestarting && len(n.StalePaths) == 0, fmt.Sprintf("%+v", n)
	})

	// A capability that lists only IPv4: IPv6 goes when the session drops.
	down()
	up(grCap(120, false, map[wire.Family]bool{wire.IPv4Unicast: true}), grAnnounce(65008, grV4a, grV6)...)
	waitFor(t, "routes back", has(true, false, true))
	down()
	waitFor(t, "IPv6 gone with the session, IPv4 kept", has(true, false, false))

	// Back without a capability: what is stale goes at once.
	up(nil)
	waitFor(t, "every stale route gone", has(false, false, false))
	if st := grStatus(t, r.d); st.Helping != 0 {
		t.Errorf("still helping %d neighbors", st.Helping)
	}
}

// TestGracefulRestartNotification (RFC 8538): closd sets the N bit; with
// the peer's N, a NOTIFICATION from the peer other than a Hard Reset keeps
// its routes as a TCP close does, a Hard Reset removes them at once, and
// closd's own administrative shutdown goes out as a Hard Reset.
func TestGracefulRestartNotification(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	cfg := grConfig(t, "", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "grn", cfg, Options{ConnectRetry: time.Second, IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)
	v4 := []wire.Family{wire.IPv4Unicast}
	fwd := map[wire.Family]bool{wire.IPv4Unicast: true}
	up := func(n bool, ms ...wire.Message) {
		t.Helper()
		o := peer.accept()
		if g := o.Caps.GracefulRestart; g == nil || !g.Notification {
			t.Fatalf("closd's capability %+v lacks the N bit", g)
		}
		peer.send(append([]wire.Message{grOpen(65008, v4, grCap(120, n, fwd)), &wire.Keepalive{}}, ms...)...)
		waitFor(t, "the session established", func() (bool, string) {
			n := neighbor(t, r.d, "127.0.0.8")
			return n.State == "Established", n.State
		})
	}
	route := func(want bool) func() (bool, string) {
		return func() (bool, string) { return kernelHas(r.fake, grV4a.String()) == want, fibState(r, grV4a) }
	}

	// Without the peer's N, a NOTIFICATION removes the routes.
	up(false, grAnnounce(65008, grV4a)...)
	peer.drain()
	waitFor(t, "the route in the FIB", route(true))
	if _, n := grShow(t, r.d); n.NotificationNegotiated {
		t.Fatalf("N shown negotiated with a peer without it: %+v", n)
	}
	peer.send(wire.ShutdownNotification(wire.SubOtherConfigChange, ""))
	waitFor(t, "the route gone after a NOTIFICATION without N", route(false))

	// With N: the same NOTIFICATION keeps them.
	up(true, grAnnounce(65008, grV4a)...)
	peer.drain()
	waitFor(t, "the route in the FIB", route(true))
	if _, n := grShow(t, r.d); !n.NotificationNegotiated {
		t.Fatalf("N not shown negotiated: %+v", n)
	}
	peer.send(wire.ShutdownNotification(wire.SubOtherConfigChange, ""))
	waitFor(t, "the peer shown restarting after a soft NOTIFICATION", func() (bool, string) {
		_, n := grShow(t, r.d)
		return n.PeerRestarting && kernelHas(r.fake, grV4a.String()), fmt.Sprintf("%+v", n)
	})

	// Back; then a Hard Reset: the routes go at once.
	up(true, append(grAnnounce(65008, grV4a), wire.EndOfRIB(wire.IPv4Unicast))...)
	peer.drain()
	waitFor(t, "the hold over at End-of-RIB", func() (bool, string) {
		_, n := grShow(t, r.d)
		return !n.PeerRestarting && !n.WaitingEndOfRIB && kernelHas(r.fake, grV4a.String()), fmt.Sprintf("%+v", n)
	})
	peer.send(wire.HardResetNotification(wire.ShutdownNotification(wire.SubAdminReset, "")))
	waitFor(t, "the route gone at the peer's Hard Reset", route(false))
	if st := grStatus(t, r.d); st.Helping != 0 {
		t.Errorf("helping %d after a Hard Reset", st.Helping)
	}

	// closd's administrative shutdown of the neighbor: a Hard Reset
	// wrapping Administrative Shutdown.
	up(true)
	if err := r.d.ShutdownNeighbor(context.Background(), netip.MustParseAddr("127.0.0.8"), "bye"); err != nil {
		t.Fatal(err)
	}
	var got *wire.Notification
	for got == nil {
		m, err := peer.read(10 * time.Second)
		if err != nil {
			t.Fatalf("no NOTIFICATION after the shutdown: %v", err)
		}
		got, _ = m.(*wire.Notification)
	}
	inner, ok := got.HardResetCause()
	if !ok || inner.Code != wire.CodeCease || inner.Subcode != wire.SubAdminShutdown {
		t.Fatalf("closd sent %v (data %x); want a Hard Reset wrapping Administrative Shutdown", got, got.Data)
	}
	if msg, _ := inner.ShutdownMessage(); msg != "bye" {
		t.Errorf("shutdown communication %q, want bye", msg)
	}
	if n := neighbor(t, r.d, "127.0.0.8"); n.Session.LastSent == nil || !n.Session.LastSent.HardReset || n.Session.LastSent.Subcode != wire.SubAdminShutdown {
		t.Errorf("last sent %+v", n.Session.LastSent)
	}
}

// TestGracefulRestartDynamicNeighbor: a host on a listen-range restarts
// (TCP close, capability with F): its neighbor is forgotten but its routes
// stay, shown as kept; it comes back from the same address and its End-of-
// RIB sweeps what it did not announce again. A second host of the range
// (limit 1) restarting while the first is kept is not kept: its routes go
// at once. The first, gone again, loses its routes at its restart time.
func TestGracefulRestartDynamicNeighbor(t *testing.T) {
	pa := freePort(t, "127.0.0.1")
	cfg := parse(t, "a.yaml", fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
neighbors:
  - listen-range: 127.0.0.0/29
    remote-as: 65002-65003
    limit: 1
`, pa))
	r := start(t, "grdyn", cfg, Options{})
	defer r.stop(t)
	v4 := []wire.Family{wire.IPv4Unicast}
	dial := func(from string, as uint32, gr *wire.GracefulRestart, ms ...wire.Message) *rawPeer {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		var c net.Conn
		// The daemon may not listen yet: retry, bounded.
		waitFor(t, from+" connected to closd", func() (bool, string) {
			var err error
			c, err = d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pa))
			return err == nil, fmt.Sprint(err)
		})
		t.Cleanup(func() { c.Close() })
		p := &rawPeer{t: t, c: c, opts: wire.Options{AS4: true}}
		p.send(append([]wire.Message{grOpen(as, v4, gr), &wire.Keepalive{}}, ms...)...)
		p.drain()
		waitFor(t, from+" established", func() (bool, string) {
			ns, err := r.d.Neighbors(context.Background())
			if err != nil {
				return false, err.Error()
			}
			i := slices.IndexFunc(ns, func(n NeighborStatus) bool { return n.Address == netip.MustParseAddr(from) })
			return i >= 0 && ns[i].State == "Established", fmt.Sprintf("%+v", ns)
		})
		return p
	}
	gone := func(addr string) {
		t.Helper()
		waitFor(t, addr+" forgotten", func() (bool, string) {
			ns, err := r.d.Neighbors(context.Background())
			if err != nil {
				return false, err.Error()
			}
			return !slices.ContainsFunc(ns, func(n NeighborStatus) bool { return n.Address == netip.MustParseAddr(addr) }), fmt.Sprintf("%+v", ns)
		})
	}
	kept := func() []GRKeptDynamic {
		s, err := r.d.GracefulRestartShow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.KeptDynamic
	}
	fwd := grCap(120, false, map[wire.Family]bool{wire.IPv4Unicast: true})
	h5 := netip.MustParsePrefix("10.5.0.0/24")
	h5b := netip.MustParsePrefix("10.5.1.0/24")
	h6 := netip.MustParsePrefix("10.6.0.0/24")

	p := dial("127.0.0.5", 65002, fwd, grAnnounce(65002, h5, h5b)...)
	waitFor(t, "the host's routes in the FIB", func() (bool, string) {
		return kernelHas(r.fake, h5.String()) && kernelHas(r.fake, h5b.String()), fibState(r, h5, h5b)
	})
	p.c.Close()
	gone("127.0.0.5")
	if !kernelHas(r.fake, h5.String()) || !kernelHas(r.fake, h5b.String()) {
		t.Fatalf("the restarting host's routes left the FIB: %s", fibState(r, h5, h5b))
	}
	k := kept()
	if len(k) != 1 || k[0].Address != netip.MustParseAddr("127.0.0.5") || k[0].ListenRange != netip.MustParsePrefix("127.0.0.0/29") ||
		!slices.Equal(k[0].StalePaths, []GRStale{{Family: "ipv4-unicast", Paths: 2}}) || time.Until(k[0].RestartUntil) < 100*time.Second {
		t.Fatalf("kept dynamic neighbors %+v", k)
	}

	// Another host of the range fits (the kept one holds no session) but
	// is not kept when it restarts: the range's one kept slot is taken.
	q := dial("127.0.0.6", 65003, fwd, grAnnounce(65003, h6)...)
	waitFor(t, "the second host's route in the FIB", func() (bool, string) { return kernelHas(r.fake, h6.String()), "" })
	q.c.Close()
	gone("127.0.0.6")
	waitFor(t, "the second host's route gone at once", func() (bool, string) { return !kernelHas(r.fake, h6.String()), "" })
	if k := kept(); len(k) != 1 {
		t.Fatalf("kept %+v beyond the range's limit", k)
	}
	if st := grStatus(t, r.d); st.KeptDynamic != 1 || st.Helping != 1 {
		t.Errorf("status %+v, want 1 kept dynamic neighbor, helping 1", st)
	}

	// The first host back from its address: matched to its routes.
	p = dial("127.0.0.5", 65002, &wire.GracefulRestart{Time: 1, Restarting: true, Families: fwd.Families}, grAnnounce(65002, h5)...)
	if k := kept(); len(k) != 0 {
		t.Fatalf("still kept after the host came back: %+v", k)
	}
	if _, n := grShowNeighbor(t, r.d, "127.0.0.5"); !n.WaitingEndOfRIB {
		t.Fatalf("the host back, before its End-of-RIB: %+v", n)
	}
	p.send(wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the route not announced again gone at End-of-RIB", func() (bool, string) {
		return kernelHas(r.fake, h5.String()) && !kernelHas(r.fake, h5b.String()), fibState(r, h5, h5b)
	})

	// Gone again and not back: its 1 s restart time ends the hold.
	p.c.Close()
	gone("127.0.0.5")
	waitFor(t, "the route gone at the restart time", func() (bool, string) {
		return !kernelHas(r.fake, h5.String()) && len(kept()) == 0, fibState(r, h5)
	})
}

// grShowNeighbor is one neighbor of GracefulRestartShow.
func grShowNeighbor(t *testing.T, d *Daemon, addr string) (GRShow, GRNeighbor) {
	t.Helper()
	s, err := d.GracefulRestartShow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Neighbors {
		if n.Address == netip.MustParseAddr(addr) {
			return s, n
		}
	}
	t.Fatalf("no neighbor %s in %+v", addr, s.Neighbors)
	return s, GRNeighbor{}
}

// TestGracefulRestartStalepathTime: a peer back from its restart that never
// sends End-of-RIB loses, at stalepath-time, the stale routes it did not
// announce again; the ones it did stay.
func TestGracefulRestartStalepathTime(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	cfg := grConfig(t, "graceful-restart: {stalepath-time: 1s}", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "grstale", cfg, Options{ConnectRetry: time.Second, IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)
	v4 := []wire.Family{wire.IPv4Unicast}
	gr := grCap(120, false, map[wire.Family]bool{wire.IPv4Unicast: true})
	up := func(ms ...wire.Message) {
		t.Helper()
		peer.accept()
		peer.send(append([]wire.Message{grOpen(65008, v4, gr), &wire.Keepalive{}}, ms...)...)
		peer.drain()
		waitFor(t, "the session established", func() (bool, string) {
			n := neighbor(t, r.d, "127.0.0.8")
			return n.State == "Established", n.State
		})
	}
	up(grAnnounce(65008, grV4a, grV4b)...)
	waitFor(t, "both routes in the FIB", func() (bool, string) {
		return kernelHas(r.fake, grV4a.String()) && kernelHas(r.fake, grV4b.String()), fibState(r, grV4a, grV4b)
	})
	peer.c.Close()
	waitFor(t, "the peer restarting", func() (bool, string) {
		_, n := grShow(t, r.d)
		return n.PeerRestarting, fmt.Sprintf("%+v", n)
	})
	up(grAnnounce(65008, grV4a)...)
	waitFor(t, "the stale route gone at stalepath-time, the fresh one kept", func() (bool, string) {
		return kernelHas(r.fake, grV4a.String()) && !kernelHas(r.fake, grV4b.String()) && grStatus(t, r.d).Helping == 0, fibState(r, grV4a, grV4b)
	})
	if n := neighbor(t, r.d, "127.0.0.8"); n.State != "Established" {
		t.Errorf("the session went down at stalepath-time: %s", n.State)
	}
}

// TestRestartPhaseModeOffWaitsForEndOfRIB: closd in mode off (no
// capability of its own) that adopted kernel routes still keeps them until
// a peer with the capability has sent its End-of-RIB, not only until the
// session is up: the sweep must not run before the peer's UPDATEs.
func TestRestartPhaseModeOffWaitsForEndOfRIB(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	fk, resolve := loFIB(t)
	seedRoute(t, fk, "10.9.0.0/24")
	cfg := grConfig(t, "graceful-restart: {mode: 'off', select-defer-time: 1h}", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "groff", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)
	if o := peer.accept(); o.Caps.GracefulRestart != nil {
		t.Fatalf("mode off sent a capability: %+v", o.Caps.GracefulRestart)
	}
	peer.send(append([]wire.Message{peer.open(true), &wire.Keepalive{}}, grAnnounce(65008, grV4a)...)...)
	peer.drain()
	waitFor(t, "the learned route in the FIB", func() (bool, string) { return kernelHas(fk, grV4a.String()), "" })
	if s, _ := grShow(t, r.d); s.Phase != GRPhaseRunning || !kernelHas(fk, "10.9.0.0/24") {
		t.Fatalf("before the peer's End-of-RIB: phase %s, adopted route kept %v", s.Phase, kernelHas(fk, "10.9.0.0/24"))
	}
	peer.send(wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the phase over and the route nobody re-learned swept", func() (bool, string) {
		s, _ := grShow(t, r.d)
		return s.Phase == GRPhaseDone && !kernelHas(fk, "10.9.0.0/24") && kernelHas(fk, grV4a.String()), s.Phase
	})
}
