package rib

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// denyPolicy refuses the listed prefixes on import and accepts the rest
// unchanged.
type denyPolicy struct{ deny []netip.Prefix }

func (d denyPolicy) Import(_ PathInfo, _ wire.Family, pfx netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	return a, !slices.Contains(d.deny, pfx)
}

func (d denyPolicy) Export(_ PathInfo, _ wire.Family, _ netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	return a, true
}

func locPrefixes(t *testing.T, e *Engine, id PeerID) []netip.Prefix {
	t.Helper()
	var got []netip.Prefix
	for _, f := range []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast} {
		if err := e.LocRIB(f, id, func(r Route) bool { got = append(got, r.Prefix); return true }); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func receivedPrefixes(t *testing.T, e *Engine, id PeerID) []netip.Prefix {
	t.Helper()
	var got []netip.Prefix
	for _, f := range []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast} {
		if err := e.ReceivedRoutes(id, f, func(r Route) bool { got = append(got, r.Prefix); return true }); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// TestSoftIn: a peer with soft-reconfiguration inbound keeps what it sent
// before the import policy; a new policy is run over the stored paths,
// withdrawals and the session going down remove them, and a peer without
// the option stores nothing.
func TestSoftIn(t *testing.T) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	a1, a2 := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")
	v6 := netip.MustParsePrefix("2001:db8:5::/48")
	soft, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64500, Address: mustAddr("10.0.0.2"), SoftReconfigInbound: true,
		Import: denyPolicy{deny: []netip.Prefix{a2}}})
	plain, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64600, Address: mustAddr("10.0.0.3"),
		Import: denyPolicy{deny: []netip.Prefix{a2}}})
	fams := []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast}
	for _, p := range []PeerID{soft, plain} {
		if err := e.PeerUp(p, mustAddr("3.3.3."+string(rune('1'+p))), wireOpts(), fams); err != nil {
			t.Fatal(err)
		}
	}
	send := func(id PeerID, as uint32, nh string) {
		t.Helper()
		a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(as), NextHop: mustAddr(nh),
			HasLocalPref: true, LocalPref: 300}
		if err := e.ApplyUpdate(id, &wire.Update{Attrs: a, NLRI: []wire.NLRI{wire.NewNLRI(a1, 0), wire.NewNLRI(a2, 0)}}); err != nil {
			t.Fatal(err)
		}
		a6 := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(as),
			MPReach: &wire.MPReach{Family: wire.IPv6Unicast, NextHop: mustAddr("2001:db8::2"), NLRI: []wire.NLRI{wire.NewNLRI(v6, 0)}}}
		if err := e.ApplyUpdate(id, &wire.Update{Attrs: a6}); err != nil {
			t.Fatal(err)
		}
	}
	send(soft, 64500, "10.0.0.2")
	send(plain, 64600, "10.0.0.3")
	e.Ready(time.Time{})

	if got, want := locPrefixes(t, e, soft), []netip.Prefix{a1, v6}; !slices.Equal(got, want) {
		t.Fatalf("accepted %v; want %v", got, want)
	}
	if got, want := receivedPrefixes(t, e, soft), []netip.Prefix{a1, a2, v6}; !slices.Equal(got, want) {
		t.Fatalf("received %v; want %v", got, want)
	}
	// Pre-policy means as received: the eBGP LOCAL_PREF is still there.
	e.ReceivedRoutes(soft, wire.IPv4Unicast, func(r Route) bool {
		if !r.Attrs.HasLocalPref || r.Attrs.LocalPref != 300 {
			t.Errorf("received %s without its LOCAL_PREF", r.Prefix)
		}
		return true
	})
	if n := e.softInLen(plain); n != 0 {
		t.Errorf("peer without the option stores %d paths", n)
	}
	if err := e.ReceivedRoutes(plain, wire.IPv4Unicast, func(Route) bool { return true }); !errors.Is(err, ErrNoSoftIn) {
		t.Errorf("ReceivedRoutes without the option: %v; want ErrNoSoftIn", err)
	}
	if err := e.SoftReconfigIn(plain); !errors.Is(err, ErrNoSoftIn) {
		t.Errorf("SoftReconfigIn without the option: %v; want ErrNoSoftIn", err)
	}

	// Relaxing the policy accepts a2 from the stored copy; the plain
	// peer's a2 stays out until it is sent again.
	if err := e.SetPolicy(soft, nil, nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.SetPolicy(plain, nil, nil, ""); err != nil {
		t.Fatal(err)
	}
	e.Ready(time.Time{})
	if got, want := locPrefixes(t, e, soft), []netip.Prefix{a1, a2, v6}; !slices.Equal(got, want) {
		t.Errorf("after relaxing, accepted %v; want %v", got, want)
	}
	if got, want := locPrefixes(t, e, plain), []netip.Prefix{a1, v6}; !slices.Equal(got, want) {
		t.Errorf("plain peer after relaxing: %v; want %v", got, want)
	}
	e.LocRIB(wire.IPv4Unicast, soft, func(r Route) bool {
		if r.Attrs.HasLocalPref {
			t.Errorf("%s re-imported with the eBGP LOCAL_PREF", r.Prefix)
		}
		return true
	})
	// Tightening it withdraws a1 and v6 from the Loc-RIB, keeps the copy.
	e.SetPolicy(soft, denyPolicy{deny: []netip.Prefix{a1, v6}}, nil, "")
	e.Ready(time.Time{})
	if got, want := locPrefixes(t, e, soft), []netip.Prefix{a2}; !slices.Equal(got, want) {
		t.Errorf("after tightening, accepted %v; want %v", got, want)
	}
	// A soft clear in with the policy unchanged changes nothing.
	if err := e.SoftReconfigIn(soft); err != nil {
		t.Fatal(err)
	}
	e.Ready(time.Time{})
	if got, want := locPrefixes(t, e, soft), []netip.Prefix{a2}; !slices.Equal(got, want) {
		t.Errorf("after soft clear in, accepted %v; want %v", got, want)
	}

	// A withdrawal removes the stored copy.
	if err := e.ApplyUpdate(soft, &wire.Update{Withdrawn: []wire.NLRI{wire.NewNLRI(a2, 0)}}); err != nil {
		t.Fatal(err)
	}
	e.Ready(time.Time{})
	if got, want := receivedPrefixes(t, e, soft), []netip.Prefix{a1, v6}; !slices.Equal(got, want) {
		t.Errorf("after withdrawing %s, received %v; want %v", a2, got, want)
	}
	if got := locPrefixes(t, e, soft); len(got) != 0 {
		t.Errorf("after withdrawing, accepted %v", got)
	}
	e.SetPolicy(soft, nil, nil, "")
	e.Ready(time.Time{})
	if got, want := locPrefixes(t, e, soft), []netip.Prefix{a1, v6}; !slices.Equal(got, want) {
		t.Errorf("withdrawn path came back: %v; want %v", got, want)
	}

	// Session down clears the copy and, with the other peer gone too,
	// every attribute set is released.
	for _, p := range []PeerID{soft, plain} {
		if err := e.PeerDown(p, false); err != nil {
			t.Fatal(err)
		}
	}
	e.Ready(time.Time{})
	if n := e.softInLen(soft); n != 0 {
		t.Errorf("after session down, %d stored paths", n)
	}
	if n := len(e.attrs.byKey); n != 0 {
		t.Errorf("after both sessions down, %d attribute sets still interned", n)
	}
}

// TestSoftInShares: with an import policy that changes nothing, the
// pre-policy copy shares the Loc-RIB's attribute set, so soft
// reconfiguration costs no attribute copy.
func TestSoftInShares(t *testing.T) {
	e, _ := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1")})
	id, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64500, Address: mustAddr("10.0.0.2"), SoftReconfigInbound: true})
	e.PeerUp(id, mustAddr("3.3.3.3"), wireOpts(), []wire.Family{wire.IPv4Unicast})
	a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(64500), NextHop: mustAddr("10.0.0.2")}
	var nlri []wire.NLRI
	for i := range 100 {
		nlri = append(nlri, wire.NewNLRI(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16), 0))
	}
	e.ApplyUpdate(id, &wire.Update{Attrs: a, NLRI: nlri})
	e.Ready(time.Time{})
	if n := e.softInLen(id); n != 100 {
		t.Fatalf("%d stored paths; want 100", n)
	}
	if n := len(e.attrs.byKey); n != 1 {
		t.Errorf("%d attribute sets; want 1 shared by Loc-RIB and the stored copy", n)
	}
}
