package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestSoftReconfigInbound: a prefix the import policy denies is visible in
// the received routes of a neighbor with soft-reconfiguration-inbound, and
// a reload that relaxes the policy accepts it from the stored copy without
// a ROUTE-REFRESH; a soft clear in does the same. A neighbor without the
// option refuses received-routes and still gets a ROUTE-REFRESH.
func TestSoftReconfigInbound(t *testing.T) {
	ca, cb := pairConfigsWith(t, `policy:
  prefix-lists:
    - name: want
      entries: [{seq: 10, action: permit, prefix: 10.2.0.0/24}]
  route-maps:
    - name: in
      entries: [{seq: 10, action: permit, match: {prefix-list: want}}]
`)
	ca.Neighbors[0].RouteMap.In = "in"
	ca.Neighbors[0].SoftReconfigInbound = true
	denied := netip.MustParsePrefix("10.2.1.0/24")
	cb.Networks = append(cb.Networks, denied)
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	ctx := context.Background()
	waitFor(t, "a to receive both and accept one", func() (bool, string) {
		n := neighbor(t, a.d, "127.0.0.2")
		return n.PrefixesReceived == 2 && n.PrefixesAccepted == 1, fmt.Sprintf("received %d accepted %d", n.PrefixesReceived, n.PrefixesAccepted)
	})
	if _, ok := routes(t, a.d)[denied.String()]; ok {
		t.Fatalf("%s passed the import route-map", denied)
	}
	rr, err := a.d.ReceivedRoutes(ctx, netip.MustParseAddr("127.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	var got []netip.Prefix
	for _, r := range rr.Routes {
		got = append(got, r.Prefix)
		if r.ASPath != "65002" || r.NextHop != netip.MustParseAddr("127.0.0.2") {
			t.Errorf("received route %+v; want AS path 65002 via 127.0.0.2", r)
		}
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), denied}; !rr.Established || !slices.Equal(got, want) {
		t.Errorf("received routes %v (established %v); want %v", got, rr.Established, want)
	}

	refreshesSeenByB := func() uint64 { return neighbor(t, b.d, "127.0.0.1").Session.MessagesIn.RouteRefresh }
	resets := neighbor(t, a.d, "127.0.0.2").Resets

	// Relax the policy by reload: the denied prefix is accepted from the
	// stored copy.
	c1 := parse(t, "a1.yaml", mustMarshal(t, ca))
	c1.Policy.PrefixLists[0].Entries[0].Prefix = netip.MustParsePrefix("10.2.0.0/23")
	c1.Policy.PrefixLists[0].Entries[0].LE = 24
	rep, err := a.d.ApplyConfig(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Refreshed, []string{"127.0.0.2"}) {
		t.Errorf("reload report %+v; want 127.0.0.2 refreshed", rep)
	}
	waitFor(t, "a to accept "+denied.String(), func() (bool, string) {
		_, ok := routes(t, a.d)[denied.String()]
		return ok, fmt.Sprintf("%v", routes(t, a.d))
	})

	// Tighten it again and soft-clear in: the stored copy is used again.
	c2 := parse(t, "a2.yaml", mustMarshal(t, ca))
	if _, err := a.d.ApplyConfig(ctx, c2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to drop "+denied.String(), func() (bool, string) {
		_, ok := routes(t, a.d)[denied.String()]
		return !ok, fmt.Sprintf("%v", routes(t, a.d))
	})
	kas := neighbor(t, b.d, "127.0.0.1").Session.MessagesIn.Keepalive
	done, err := a.d.ClearNeighbors(ctx, netip.MustParseAddr("127.0.0.2"), ClearSoftIn)
	if err != nil || len(done) != 1 {
		t.Errorf("soft clear in: %v %v", done, err)
	}
	// A ROUTE-REFRESH from the clear would reach b before the KEEPALIVEs
	// a sends after it (one a second; the first of two may have been on
	// its way already).
	waitFor(t, "b to receive two more KEEPALIVEs", func() (bool, string) {
		n := neighbor(t, b.d, "127.0.0.1").Session.MessagesIn.Keepalive
		return n >= kas+2, fmt.Sprintf("%d, were %d", n, kas)
	})
	if n := refreshesSeenByB(); n != 0 {
		t.Errorf("b received %d ROUTE-REFRESH from a neighbor with soft-reconfiguration-inbound", n)
	}
	if n := neighbor(t, a.d, "127.0.0.2"); n.Resets != resets || n.State != "Established" {
		t.Errorf("session reset: %d resets (were %d), %s", n.Resets, resets, n.State)
	}

	// b has no soft-reconfiguration-inbound: no received routes, and a
	// soft clear in asks a for a ROUTE-REFRESH.
	if _, err := b.d.ReceivedRoutes(ctx, netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrNoSoftIn) {
		t.Errorf("received routes without the option: %v; want ErrNoSoftIn", err)
	}
	if _, err := a.d.ReceivedRoutes(ctx, netip.MustParseAddr("127.0.0.9")); !errors.Is(err, ErrNoNeighbor) {
		t.Errorf("received routes of an unknown neighbor: %v; want ErrNoNeighbor", err)
	}
	if _, err := b.d.ClearNeighbors(ctx, netip.MustParseAddr("127.0.0.1"), ClearSoftIn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to receive a ROUTE-REFRESH from b", func() (bool, string) {
		n := neighbor(t, a.d, "127.0.0.2").Session.MessagesIn.RouteRefresh
		return n > 0, fmt.Sprint(n)
	})
	a.stop(t)
	b.stop(t)
}
