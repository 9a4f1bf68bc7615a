package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/ra"
)

func unnumberedBFDTestConfig(t *testing.T, port uint16, withNeighbor bool) *config.Config {
	nb := `
neighbors:
  - interface: swp1
    remote-as: external
    bfd: {interval: 100, multiplier: 3}
`
	if !withNeighbor {
		nb = "\nneighbors: []\n"
	}
	return parse(t, "u.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bfd: {peers: [{address: 10.9.9.9}]}
%s`, port, nb))
}

// neighborBFD returns the daemon's BFD sessions owned by a neighbor.
func neighborBFD(t *testing.T, d *Daemon) []BFDSession {
	t.Helper()
	r, err := d.BFDSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []BFDSession
	for _, s := range r.Sessions {
		if s.Neighbor.IsValid() {
			out = append(out, s)
		}
	}
	return out
}

// linkUp brings swp1 up and, once closd solicits on it (so router
// discovery runs there), answers from the peer.
func linkUp(t *testing.T, links *FakeLinks, peer *ra.MemConn) {
	t.Helper()
	links.Set(LinkState{Name: "swp1", Up: true, HW: net.HardwareAddr{2, 0, 0, 0, 0, 1}})
	buf := make([]byte, 1500)
	for range 16 {
		n, _, _, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := ra.Parse(buf[:n]); err == nil && m.Type == ra.TypeRouterSolicitation {
			if err := peer.WriteTo(ra.Message{Type: ra.TypeRouterAdvertisement}.Marshal(), "eth0", ra.AllNodes); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("closd sent no router solicitation on swp1")
}

// TestUnnumberedBFD: an interface neighbor with bfd gets its single-hop
// session once router discovery teaches the peer's link-local address,
// bound to the neighbor's interface. A silent loss takes it Down and the
// failure path of every neighbor follows (BGP held, the link-local gateway
// out of the FIB's groups); packets flowing again undo both. A new peer
// address re-keys the session, the link going down removes it, and so does
// removing the neighbor.
func TestUnnumberedBFD(t *testing.T) {
	us6, peer6, other6 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2"), netip.MustParseAddr("fe80::3")
	port := freePort(t, "127.0.0.1")
	cfg := unnumberedBFDTestConfig(t, port, true)

	rnet := ra.NewMemNetwork()
	rUs := rnet.Conn(map[string]netip.Addr{"swp1": us6})
	rPeer := rnet.Conn(map[string]netip.Addr{"eth0": peer6})
	rnet.Link(rUs, "swp1", rPeer, "eth0")
	t.Cleanup(func() { rPeer.Close() })

	// Link-local destinations carry the ifindex as zone; the in-memory
	// transport has ifindex 0 everywhere.
	bnet := bfd.NewMemNetwork()
	for _, a := range []netip.Addr{us6, peer6, other6} {
		bnet.Alias(a.WithZone("0"), a)
	}
	peerSrv, err := bfd.NewServer(bfd.ServerConfig{Transport: bnet.Endpoint(peer6, 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peerSrv.Close() })
	if _, err := peerSrv.AddPeer(bfd.PeerConfig{Peer: us6, Interface: "eth0", DesiredMinTx: 100 * time.Millisecond,
		RequiredMinRx: 100 * time.Millisecond, DetectMult: 3}); err != nil {
		t.Fatal(err)
	}

	links := NewFakeLinks()
	r := start(t, "u", cfg, Options{RA: rUs, Links: links, BFDTransport: bnet.Endpoint(us6, 0),
		ConnectRetry: time.Hour, IdleHoldTime: time.Hour, MaxIdleHoldTime: time.Hour})

	if s := neighborBFD(t, r.d); len(s) != 0 {
		t.Fatalf("BFD sessions before the peer's address is known: %+v", s)
	}
	ns, err := r.d.Neighbors(t.Context())
	if err != nil || len(ns) != 1 || ns[0].BFD == nil || ns[0].BFD.State != "not started" {
		t.Fatalf("neighbor before its address is known: %v %+v", err, ns)
	}

	linkUp(t, links, rPeer)
	session := func(want netip.Addr, state string) func() (bool, string) {
		return func() (bool, string) {
			ss := neighborBFD(t, r.d)
			return len(ss) == 1 && ss[0].Peer == want && ss[0].Neighbor == want && ss[0].Interface == "swp1" &&
				!ss[0].Multihop && ss[0].State == state, fmt.Sprintf("%+v", ss)
		}
	}
	waitFor(t, "the session to fe80::2%swp1 Up", session(peer6, "Up"))
	s := neighborBFD(t, r.d)[0]
	if s.DetectionTimeMS != 300 || s.TxIntervalMS != 100 || s.HoldingBGP || s.GatewayDown {
		t.Errorf("session Up: %+v; want 100 ms, 300 ms detection, nothing held", s)
	}

	// Silent loss of the peer's packets.
	bnet.Drop(peer6, us6.WithZone("0"), true)
	lost := time.Now()
	waitFor(t, "the session Down, BGP held and the gateway out of the FIB", func() (bool, string) {
		ss := neighborBFD(t, r.d)
		return len(ss) == 1 && ss[0].State == "Down" && ss[0].HoldingBGP && ss[0].GatewayDown &&
			ss[0].LastDownDiag == bfd.DiagControlDetectExpired.String(), fmt.Sprintf("%+v", ss)
	})
	t.Logf("Down %v after the loss began (detection time 300 ms)", time.Since(lost))
	bnet.Drop(peer6, us6.WithZone("0"), false)
	waitFor(t, "the session Up again, BGP released, the gateway back", func() (bool, string) {
		ss := neighborBFD(t, r.d)
		return len(ss) == 1 && ss[0].State == "Up" && !ss[0].HoldingBGP && !ss[0].GatewayDown && ss[0].Downs == 1,
			fmt.Sprintf("%+v", ss)
	})

	// Another peer on the link (a replaced switch): the session follows
	// its address, and what the old one held is let go.
	bnet.Drop(peer6, us6.WithZone("0"), true)
	waitFor(t, "Down again", func() (bool, string) {
		ss := neighborBFD(t, r.d)
		return len(ss) == 1 && ss[0].HoldingBGP && ss[0].GatewayDown, fmt.Sprintf("%+v", ss)
	})
	rOther := rnet.Conn(map[string]netip.Addr{"eth0": other6})
	t.Cleanup(func() { rOther.Close() })
	rnet.Link(rUs, "swp1", rOther, "eth0")
	if err := rOther.WriteTo(ra.Message{Type: ra.TypeRouterAdvertisement}.Marshal(), "eth0", ra.AllNodes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session re-keyed to fe80::3%swp1", session(other6, "Down"))
	if s := neighborBFD(t, r.d)[0]; s.HoldingBGP || s.GatewayDown || s.Downs != 0 {
		t.Errorf("new session inherits the old one's failure: %+v", s)
	}
	// The old peer hears AdminDown (RFC 5880 6.8.16), not silence.
	bnet.Drop(peer6, us6.WithZone("0"), false)
	waitFor(t, "the old peer to see AdminDown", func() (bool, string) {
		ps := peerSrv.Peers()
		return len(ps) == 1 && ps[0].Status.RemoteState == bfd.StateAdminDown, fmt.Sprintf("%+v", ps)
	})

	// The link goes down: the address is forgotten and the session with it.
	links.Set(LinkState{Name: "swp1", Up: false})
	waitFor(t, "no session once the link is down", func() (bool, string) {
		ss := neighborBFD(t, r.d)
		return len(ss) == 0, fmt.Sprintf("%+v", ss)
	})
	// Back up and heard again: a session again; then the neighbor is
	// removed by a reload and its session goes.
	linkUp(t, links, rOther)
	waitFor(t, "the session back with the link", session(other6, "Down"))
	rep, err := r.d.ApplyConfig(t.Context(), unnumberedBFDTestConfig(t, port, false))
	if err != nil || len(rep.Removed) != 1 {
		t.Fatalf("reload without the neighbor: %v %+v", err, rep)
	}
	if ss := neighborBFD(t, r.d); len(ss) != 0 {
		t.Errorf("BFD sessions after the neighbor was removed: %+v", ss)
	}
	all, err := r.d.BFDSessions(t.Context())
	if err != nil || len(all.Sessions) != 1 || all.Sessions[0].Peer != netip.MustParseAddr("10.9.9.9") {
		t.Errorf("sessions after the reload = %+v, %v; want the standalone peer only", all, err)
	}
}

// TestUnnumberedBFDSource: the session of an interface neighbor is bound to
// its link and sent from our link-local address on it, never from a
// configured (global) listen address.
func TestUnnumberedBFDSource(t *testing.T) {
	p := &peer{n: config.Neighbor{Interface: "swp1"}, remote: netip.MustParseAddrPort("[fe80::2]:179")}
	for _, c := range []struct {
		local, want netip.Addr
	}{
		{netip.Addr{}, netip.Addr{}},
		{netip.MustParseAddr("fe80::1%swp1"), netip.MustParseAddr("fe80::1")},
		{netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::1")},
		{netip.MustParseAddr("fe80::1%swp2"), netip.Addr{}},
		{netip.MustParseAddr("2001:db8::1"), netip.Addr{}},
	} {
		pc := bfd.PeerConfig{Peer: p.remote.Addr(), Local: netip.MustParseAddr("2001:db8::9"), Multihop: true}
		unnumberedBFDConfig(p, &pc, c.local)
		if pc.Interface != "swp1" || pc.Multihop || pc.Local != c.want {
			t.Errorf("local %v: %+v; want interface swp1, single hop, local %v", c.local, pc, c.want)
		}
	}
	d := &Daemon{cfg: parse(t, "l.yaml", `
router-id: 10.0.0.1
asn: 65001
listen: {address: "2001:db8::9"}
neighbors:
  - {interface: swp1, remote-as: external, bfd: true}
`)}
	p.n = d.cfg.Neighbors[0]
	pc := d.bfdConfig(p, netip.Addr{})
	if pc.Local.IsValid() || pc.Interface != "swp1" || pc.Peer != netip.MustParseAddr("fe80::2") || !strings.HasPrefix(pc.Key().String(), "fe80::2%swp1") {
		t.Errorf("bfdConfig = %+v", pc)
	}
}
