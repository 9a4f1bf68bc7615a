package rib

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// TestSetPolicy changes an established peer's export: the prefix the new
// policy drops is withdrawn from it, the others are sent again with the new
// attributes, no End-of-RIB is repeated, and another peer of the old group
// sees nothing.
func TestSetPolicy(t *testing.T) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	a1, a2 := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")
	src, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64500, Address: mustAddr("10.0.0.2")})
	x, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64600, Address: mustAddr("10.1.0.2"), LocalAddress: mustAddr("10.1.0.1")})
	y, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64700, Address: mustAddr("10.2.0.2"), LocalAddress: mustAddr("10.1.0.1")})
	for _, p := range []PeerID{src, x, y} {
		if err := e.PeerUp(p, mustAddr("3.3.3."+string(rune('1'+p))), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast}); err != nil {
			t.Fatal(err)
		}
	}
	e.Ready(time.Time{})
	a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(64500), NextHop: mustAddr("10.0.0.2")}
	if err := e.ApplyUpdate(src, &wire.Update{Attrs: a, NLRI: []wire.NLRI{wire.NewNLRI(a1, 0), wire.NewNLRI(a2, 0)}}); err != nil {
		t.Fatal(err)
	}
	e.Ready(time.Time{})

	if err := e.SetPolicy(x, nil, prependPolicy{drop: a2}, "drop a2"); err != nil {
		t.Fatal(err)
	}
	o := e.Ready(time.Time{})
	var announced, withdrawn []netip.Prefix
	for _, s := range o.Sends {
		if slices.Contains(s.Peers, y) || slices.Contains(s.Peers, src) {
			t.Errorf("a peer whose policy did not change was sent %d messages", len(s.Msgs))
		}
		for _, b := range s.Msgs {
			m, err := wire.Parse(b, &wire.Options{AS4: true})
			if err != nil {
				t.Fatal(err)
			}
			u, ok := m.(*wire.Update)
			if !ok {
				t.Fatalf("sent %T", m)
			}
			if _, eor := u.EndOfRIB(); eor {
				t.Errorf("End-of-RIB sent again")
			}
			for _, n := range u.NLRI {
				announced = append(announced, n.Prefix())
				if !slices.Contains(u.Attrs.Communities, 65001<<16|99) {
					t.Errorf("%s sent without the new export's community", n.Prefix())
				}
			}
			for _, n := range u.Withdrawn {
				withdrawn = append(withdrawn, n.Prefix())
			}
		}
	}
	if !slices.Equal(announced, []netip.Prefix{a1}) || !slices.Equal(withdrawn, []netip.Prefix{a2}) {
		t.Errorf("announced %v withdrawn %v; want [%s] and [%s]", announced, withdrawn, a1, a2)
	}
	var out []netip.Prefix
	e.AdjRIBOut(x, wire.IPv4Unicast, func(r Route) bool { out = append(out, r.Prefix); return true })
	if !slices.Equal(out, []netip.Prefix{a1}) {
		t.Errorf("Adj-RIB-Out of the changed peer %v", out)
	}
	if err := e.SetPolicy(99, nil, nil, ""); err == nil {
		t.Errorf("SetPolicy of an unknown peer did not fail")
	}
}
