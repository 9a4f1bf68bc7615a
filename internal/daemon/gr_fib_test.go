package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/fib"
)

// kernelGateways lists the gateways the fake kernel's route for p uses,
// sorted; nil when there is no route.
func kernelGateways(f *fib.Fake, p string) []string {
	k := f.Snapshot()
	r, ok := k.Routes[netip.MustParsePrefix(p)]
	if !ok {
		return nil
	}
	n := k.Nexthops[r.NexthopID]
	ids := []uint32{n.ID}
	if n.IsGroup() {
		ids = ids[:0]
		for _, e := range n.Group {
			ids = append(ids, e.ID)
		}
	}
	gws := []string{}
	for _, id := range ids {
		gws = append(gws, k.Nexthops[id].Gateway.String())
	}
	slices.Sort(gws)
	return gws
}

// TestRestartPhaseHoldsAdoptedRoutes: closd restarts with an ECMP route to
// two peers in the kernel. The first peer comes back and announces the
// prefix: the kernel route keeps both members while the other peer is
// still away (route selection deferred, RFC 4724 4.1), but a prefix that
// had no route is installed at once, and the fast path (BFD Down) still
// acts on the adopted route. Once both have sent End-of-RIB, the
// FIB has the RIB's result and the adopted route nobody re-learned goes.
func TestRestartPhaseHoldsAdoptedRoutes(t *testing.T) {
	p8, p9 := newRawPeer(t, "127.0.0.8"), newRawPeer(t, "127.0.0.9")
	fk, resolve := loFIB(t)
	lo := fk.Snapshot().Links
	var ifindex int
	for i := range lo {
		ifindex = i
	}
	a, b, g := fib.DefaultIDRange.First+1, fib.DefaultIDRange.First+2, fib.DefaultIDRange.First+3
	ops := []fib.Op{
		{Kind: fib.OpNewNexthop, Nexthop: fib.Nexthop{ID: a, Gateway: netip.MustParseAddr("127.0.0.8"), Ifindex: ifindex}},
		{Kind: fib.OpNewNexthop, Nexthop: fib.Nexthop{ID: b, Gateway: netip.MustParseAddr("127.0.0.9"), Ifindex: ifindex}},
		{Kind: fib.OpSetGroup, Nexthop: fib.Nexthop{ID: g, Group: []fib.GroupEntry{{ID: a, Weight: 1}, {ID: b, Weight: 1}}}},
		{Kind: fib.OpSetRoute, Route: fib.Route{Prefix: netip.MustParsePrefix("10.20.0.0/24"), NexthopID: g}},
		{Kind: fib.OpSetRoute, Route: fib.Route{Prefix: netip.MustParsePrefix("10.29.0.0/24"), NexthopID: g}},
	}
	if res, err := fk.Apply(context.Background(), ops); err != nil || slices.ContainsFunc(res, func(e error) bool { return e != nil }) {
		t.Fatalf("seeding the kernel: %v %v", err, res)
	}
	both := []string{"127.0.0.8", "127.0.0.9"}
	if got := kernelGateways(fk, "10.20.0.0/24"); !slices.Equal(got, both) {
		t.Fatalf("seeded route uses %v", got)
	}
	cfg := grConfig(t, "bgp: {multipath-relax: true}\ngraceful-restart: {select-defer-time: 1h}", grPeer{"127.0.0.8", p8.port()}, grPeer{"127.0.0.9", p9.port()})
	r := start(t, "gr", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)

	announce := func(as uint32, nh string, ps ...string) *wire.Update {
		u := &wire.Update{Attrs: &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr(nh),
			ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{as}}}}}
		for _, p := range ps {
			u.NLRI = append(u.NLRI, wire.NewNLRI(netip.MustParsePrefix(p), 0))
		}
		return u
	}
	p8.accept()
	p9.accept()
	// Claiming the adopted routes as desired state writes nothing.
	if err := r.d.fib.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := fk.Ops(); n != len(ops) {
		t.Fatalf("%d kernel writes after the start, want none", n-len(ops))
	}
	p8.send(p8.open(true), &wire.Keepalive{}, announce(65008, "127.0.0.8", "10.20.0.0/24", "10.21.0.0/24"), wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the new prefix installed during the phase", func() (bool, string) {
		return kernelHas(fk, "10.21.0.0/24"), ""
	})
	if n := neighbor(t, r.d, "127.0.0.8"); n.State != "Established" {
		t.Fatalf("first peer %s", n.State)
	}
	// The UPDATE that installed 10.21 carried 10.20 too: held, not written.
	if got := kernelGateways(fk, "10.20.0.0/24"); !slices.Equal(got, both) {
		t.Fatalf("during the restart phase the adopted ECMP route changed to %v; want %v kept", got, both)
	}
	if !kernelHas(fk, "10.29.0.0/24") {
		t.Fatal("an adopted route was swept during the restart phase")
	}
	if st := grStatus(t, r.d); !st.Restarting {
		t.Fatalf("phase over with a peer still away: %+v", st)
	}

	// The fast path (BFD Down) still takes a next hop out of an adopted
	// route during the phase, and puts it back.
	nine := netip.MustParseAddr("127.0.0.9")
	r.d.fib.SetGatewayDown(nine, ifindex, true)
	waitFor(t, "the failed next hop out of the adopted route", func() (bool, string) {
		got := kernelGateways(fk, "10.20.0.0/24")
		return slices.Equal(got, []string{"127.0.0.8"}), fmt.Sprint(got)
	})
	r.d.fib.SetGatewayDown(nine, ifindex, false)
	waitFor(t, "the next hop back in the adopted route", func() (bool, string) {
		got := kernelGateways(fk, "10.20.0.0/24")
		return slices.Equal(got, both), fmt.Sprint(got)
	})

	o9 := p9.open(true)
	o9.AS, o9.RouterID = 65009, netip.MustParseAddr("10.0.0.9")
	p9.send(o9, &wire.Keepalive{}, announce(65009, "127.0.0.9", "10.20.0.0/24"), wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the adopted route nobody re-learned swept", func() (bool, string) {
		return !kernelHas(fk, "10.29.0.0/24"), fmt.Sprint(kernelGateways(fk, "10.29.0.0/24"))
	})
	if st := grStatus(t, r.d); st.Restarting {
		t.Fatalf("phase not over after both End-of-RIBs: %+v", st)
	}
	if got := kernelGateways(fk, "10.20.0.0/24"); !slices.Equal(got, both) {
		t.Errorf("after the phase 10.20.0.0/24 uses %v, want %v", got, both)
	}
	if got := kernelGateways(fk, "10.21.0.0/24"); !slices.Equal(got, []string{"127.0.0.8"}) {
		t.Errorf("after the phase 10.21.0.0/24 uses %v", got)
	}
	if nh, ok := r.d.fib.Get(netip.MustParsePrefix("10.20.0.0/24")); !ok || len(nh.Members) != 2 {
		t.Errorf("10.20.0.0/24 not in the FIB's desired state with 2 members after the phase: %v %v", nh, ok)
	}
}
