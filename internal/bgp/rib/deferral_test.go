package rib

import (
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// TestSetPolicyKeepsADeferredInitialUpdate: a policy change (a reload)
// while a peer's initial update is held does not turn it into a refresh:
// the peer still gets nothing until release, then its table and its
// End-of-RIB.
func TestSetPolicyKeepsADeferredInitialUpdate(t *testing.T) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	e.DeferInitial(true)
	if err := e.Originate(netip.MustParsePrefix("10.1.0.0/24"), nil); err != nil {
		t.Fatal(err)
	}
	x, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64600, Address: mustAddr("10.1.0.2"), LocalAddress: mustAddr("10.1.0.1")})
	if err := e.PeerUp(x, mustAddr("3.3.3.3"), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast}); err != nil {
		t.Fatal(err)
	}
	if o := e.Ready(time.Time{}); len(o.Sends) != 0 {
		t.Fatalf("sent %d while deferring", len(o.Sends))
	}
	if err := e.SetPolicy(x, nil, prependPolicy{}, "other"); err != nil {
		t.Fatal(err)
	}
	if o := e.Ready(time.Time{}); len(o.Sends) != 0 {
		t.Fatalf("sent %d after a policy change while deferring", len(o.Sends))
	}
	e.DeferInitial(false)
	o := e.Ready(time.Time{})
	var routes, eors int
	for _, s := range o.Sends {
		for _, b := range s.Msgs {
			m, err := wire.Parse(b, &wire.Options{AS4: true})
			if err != nil {
				t.Fatal(err)
			}
			u := m.(*wire.Update)
			if _, eor := u.EndOfRIB(); eor {
				eors++
			}
			routes += len(u.NLRI)
		}
	}
	if routes != 1 || eors != 1 {
		t.Errorf("after release: %d prefixes, %d End-of-RIB; want 1 and 1", routes, eors)
	}
}
