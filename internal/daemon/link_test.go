package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/ra"
)

func linkPair(t *testing.T) (ca, cb string) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	ca = fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 10, hold: 30}}
networks: [10.1.0.0/24]
neighbors:
  - {address: 127.0.0.2, remote-as: 65002, port: %d}
`, pa, pb)
	cb = fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
bgp: {timers: {keepalive: 10, hold: 30}}
networks: [10.2.0.0/24]
neighbors:
  - {address: 127.0.0.1, remote-as: 65001, port: %d}
`, pb, pa)
	return ca, cb
}

// TestFallOverOnLinkDown: the interface a direct eBGP session runs over
// (lo here) goes down and the session drops at once, not at the 30 s hold;
// the peer's routes leave the FIB. When it comes back so does the session.
func TestFallOverOnLinkDown(t *testing.T) {
	ca, cb := linkPair(t)
	links := NewFakeLinks()
	links.Set(LinkState{Name: "lo", Up: true})
	o := Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 100 * time.Millisecond}
	oa := o
	oa.Links = links
	a := start(t, "a", parse(t, "a.yaml", ca), oa)
	b := start(t, "b", parse(t, "b.yaml", cb), o)
	waitFor(t, "the session and b's route at a", func() (bool, string) {
		n := neighbor(t, a.d, "127.0.0.2")
		return n.State == "Established" && kernelHas(a.fake, "10.2.0.0/24"), n.State
	})
	// Another interface going down is none of this session's business.
	links.Set(LinkState{Name: "eth9", Up: true})
	links.Set(LinkState{Name: "eth9", Up: false})
	down := time.Now()
	links.Set(LinkState{Name: "lo", Up: false})
	waitFor(t, "a to drop the session", func() (bool, string) {
		n := neighbor(t, a.d, "127.0.0.2")
		return n.State != "Established" && strings.Contains(n.Session.LastDown, "interface lo went down") && !kernelHas(a.fake, "10.2.0.0/24"),
			n.State + " " + n.Session.LastDown
	})
	// The cause is the link (LastDown above); the bound only tells at
	// once from the hold time.
	if took := time.Since(down); took > 15*time.Second {
		t.Errorf("dropped %v after the link went down; want at once (hold is 30 s)", took)
	}
	links.Set(LinkState{Name: "lo", Up: true})
	waitFor(t, "the session back", func() (bool, string) {
		n := neighbor(t, a.d, "127.0.0.2")
		return n.State == "Established", n.State
	})
	_ = b
}

// TestUnnumberedLearnsFromRA: an interface neighbor advertises closd on
// its link when the link comes up (a solicitation and an advertisement),
// and takes the address of the router advertisement it hears back as the
// peer's.
func TestUnnumberedLearnsFromRA(t *testing.T) {
	cfg := parse(t, "u.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
neighbors:
  - interface: swp1
    remote-as: external
`, freePort(t, "127.0.0.1")))
	mem := ra.NewMemNetwork()
	us := mem.Conn(map[string]netip.Addr{"swp1": netip.MustParseAddr("fe80::1")})
	peer := mem.Conn(map[string]netip.Addr{"eth0": netip.MustParseAddr("fe80::2")})
	mem.Link(us, "swp1", peer, "eth0")
	defer peer.Close()
	links := NewFakeLinks()
	r := start(t, "u", cfg, Options{RA: us, Links: links, ConnectRetry: time.Hour})
	unnumbered := func() NeighborStatus {
		ns, err := r.d.Neighbors(t.Context())
		if err != nil || len(ns) != 1 {
			t.Fatalf("neighbors: %v %+v", err, ns)
		}
		return ns[0]
	}
	if n := unnumbered(); n.Interface != "swp1" || n.Address.IsValid() {
		t.Fatalf("before any RA: %+v", n)
	}
	links.Set(LinkState{Name: "swp1", Up: true, HW: net.HardwareAddr{2, 0, 0, 0, 0, 1}})
	got := map[uint8]bool{}
	buf := make([]byte, 1500)
	for len(got) < 2 {
		n, _, _, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ra.Parse(buf[:n])
		if err != nil {
			t.Fatalf("closd sent an unparseable packet: %v", err)
		}
		if m.Type == ra.TypeRouterAdvertisement && m.Lifetime != 0 {
			t.Errorf("closd advertised router lifetime %d, want 0", m.Lifetime)
		}
		got[m.Type] = true
	}
	if err := peer.WriteTo(ra.Message{Type: ra.TypeRouterAdvertisement}.Marshal(), "eth0", ra.AllNodes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the peer's address learned", func() (bool, string) {
		n := unnumbered()
		return n.Address == netip.MustParseAddr("fe80::2"), n.Address.String()
	})
	links.Set(LinkState{Name: "swp1", Up: false})
	waitFor(t, "the peer's address forgotten with the link", func() (bool, string) {
		n := unnumbered()
		return !n.Address.IsValid(), n.Address.String()
	})
}

// TestLinkBackRestartsAtOnce: a session dropped by fall-over comes back as
// soon as its interface does, not after the idle hold, which after a few
// flaps within a minute grows to minutes (2 here).
func TestLinkBackRestartsAtOnce(t *testing.T) {
	ca, cb := linkPair(t)
	la, lb := NewFakeLinks(), NewFakeLinks()
	la.Set(LinkState{Name: "lo", Up: true})
	lb.Set(LinkState{Name: "lo", Up: true})
	// Only a's address is on an interface here (b's 127.0.0.2 is not an
	// address of lo), so only a sees the link; b restarts quickly and a,
	// which refuses connections while Idle, must start at once by itself.
	oa := Options{ConnectRetry: 120 * time.Second, IdleHoldTime: 120 * time.Second, MaxIdleHoldTime: 240 * time.Second, Links: la}
	ob := Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 100 * time.Millisecond, Links: lb}
	a := start(t, "a", parse(t, "a.yaml", ca), oa)
	b := start(t, "b", parse(t, "b.yaml", cb), ob)
	established := func() (bool, string) {
		na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1")
		return na.State == "Established" && nb.State == "Established" && kernelHas(a.fake, "10.2.0.0/24"), na.State + "/" + nb.State
	}
	waitFor(t, "the session", established)
	la.Set(LinkState{Name: "lo", Up: false})
	lb.Set(LinkState{Name: "lo", Up: false})
	waitFor(t, "both ends to drop the session", func() (bool, string) {
		na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1")
		return na.State != "Established" && nb.State != "Established", na.State + "/" + nb.State
	})
	back := time.Now()
	la.Set(LinkState{Name: "lo", Up: true})
	lb.Set(LinkState{Name: "lo", Up: true})
	// 30 s is generous for a loaded machine and far below the 120 s idle
	// hold and ConnectRetry.
	pollFor(t, "the session back after the link", 30*time.Second, established)
	t.Logf("session and route back %v after the link came up", time.Since(back))
}
