//go:build linux

package fib

import (
	"context"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// want is the expected kernel state: prefix -> sorted "gw@dev*weight"
// members, or ["blackhole"].
type want map[string][]string

func mem(gw netip.Addr, dev string, w int) string { return fmt.Sprintf("%s@%s*%d", gw, dev, w) }

// diffKernel compares the namespace's routes and nexthops (read with
// iproute2) with w, and reports leaked nexthop objects.
func diffKernel(t testing.TB, ns *testNS, w want) string {
	routes, nhs := ns.kernelView(t)
	var probs []string
	used := map[uint32]bool{}
	for p, members := range w {
		r, ok := routes[p]
		if !ok {
			probs = append(probs, p+": missing")
			continue
		}
		if slices.Equal(members, []string{"blackhole"}) {
			if r.Type != "blackhole" {
				probs = append(probs, fmt.Sprintf("%s: type %q, want blackhole", p, r.Type))
			}
			continue
		}
		used[r.NhID] = true
		g, ok := nhs[r.NhID]
		if !ok || len(g.Group) == 0 {
			probs = append(probs, fmt.Sprintf("%s: nhid %d is not a group", p, r.NhID))
			continue
		}
		var have []string
		for _, e := range g.Group {
			used[e.ID] = true
			n := nhs[e.ID]
			wt := e.Weight
			if wt == 0 {
				wt = 1
			}
			have = append(have, fmt.Sprintf("%s@%s*%d", n.Gateway, n.Dev, wt))
		}
		sort.Strings(have)
		ms := slices.Clone(members)
		sort.Strings(ms)
		if !slices.Equal(have, ms) {
			probs = append(probs, fmt.Sprintf("%s: members %v, want %v", p, have, ms))
		}
	}
	for p := range routes {
		if _, ok := w[p]; !ok {
			probs = append(probs, p+": not wanted")
		}
	}
	for id := range nhs {
		if !used[id] {
			probs = append(probs, fmt.Sprintf("nexthop %d leaked", id))
		}
	}
	sort.Strings(probs)
	return strings.Join(probs, "; ")
}

func syncOK(t testing.TB, f *FIB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLinuxInstallReplaceWithdraw(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "ir")
	i1, a1, _ := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	f, _ := newLinuxFIB(t, ns)
	set := ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2, Weight: 256})
	must(t, f.Set(pfx("192.0.2.0/24"), set))
	must(t, f.Set(pfx("192.0.2.128/25"), set))
	must(t, f.Set(pfx("0.0.0.0/0"), set))
	must(t, f.Set(pfx("2001:db8::/32"), ECMP(Member{Gateway: gw6(1), Ifindex: i1}, Member{Gateway: gw6(2), Ifindex: i2})))
	must(t, f.Set(pfx("2001:db8:1::1/128"), Blackhole()))
	must(t, f.Set(pfx("198.51.100.0/24"), Blackhole()))
	syncOK(t, f)
	w := want{
		"192.0.2.0/24":      {mem(gw4(1), a1, 1), mem(gw4(2), a2, 256)},
		"192.0.2.128/25":    {mem(gw4(1), a1, 1), mem(gw4(2), a2, 256)},
		"0.0.0.0/0":         {mem(gw4(1), a1, 1), mem(gw4(2), a2, 256)},
		"2001:db8::/32":     {mem(gw6(1), a1, 1), mem(gw6(2), a2, 1)},
		"2001:db8:1::1/128": {"blackhole"},
		"198.51.100.0/24":   {"blackhole"},
	}
	if d := diffKernel(t, ns, w); d != "" {
		t.Fatal(d)
	}
	// Our parser agrees with iproute2, and a second sync writes nothing.
	ops := f.Stats().Ops
	syncOK(t, f)
	if f.Stats().Ops != ops {
		t.Fatal("second sync wrote")
	}
	if k := f.Kernel(); len(k.Routes) != 6 {
		t.Fatalf("mirror: %v", k.Routes)
	}

	// Replace: blackhole -> ECMP, ECMP -> blackhole, set change.
	must(t, f.Set(pfx("198.51.100.0/24"), ECMP(Member{Gateway: gw4(1), Ifindex: i1})))
	must(t, f.Set(pfx("0.0.0.0/0"), Blackhole()))
	must(t, f.Set(pfx("2001:db8::/32"), ECMP(Member{Gateway: gw6(2), Ifindex: i2, Weight: 7})))
	syncOK(t, f)
	w["198.51.100.0/24"] = []string{mem(gw4(1), a1, 1)}
	w["0.0.0.0/0"] = []string{"blackhole"}
	w["2001:db8::/32"] = []string{mem(gw6(2), a2, 7)}
	if d := diffKernel(t, ns, w); d != "" {
		t.Fatal(d)
	}

	// Withdraw everything: nothing of ours is left.
	for p := range w {
		f.Delete(pfx(p))
	}
	syncOK(t, f)
	if d := diffKernel(t, ns, want{}); d != "" {
		t.Fatal(d)
	}
}

func TestLinuxMemberChangeKeepsRoutes(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "mc")
	i1, a1, _ := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	i3, a3, _ := ns.veth(t, 3)
	f, _ := newLinuxFIB(t, ns)
	full := ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2}, Member{Gateway: gw4(3), Ifindex: i3})
	w := want{}
	for i := range 200 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i), 0}), 24)
		must(t, f.Set(p, full))
		w[p.String()] = []string{mem(gw4(1), a1, 1), mem(gw4(2), a2, 1), mem(gw4(3), a3, 1)}
	}
	syncOK(t, f)
	if d := diffKernel(t, ns, w); d != "" {
		t.Fatal(d)
	}
	routesBefore, _ := ns.kernelView(t)
	ops := f.Stats().Ops
	smaller := ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(3), Ifindex: i3})
	must(t, f.Update(func(d *Desired) error {
		for i := range 200 {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i), 0}), 24)
			if err := d.Set(p, smaller); err != nil {
				return err
			}
			w[p.String()] = []string{mem(gw4(1), a1, 1), mem(gw4(3), a3, 1)}
		}
		return nil
	}))
	syncOK(t, f)
	if d := diffKernel(t, ns, w); d != "" {
		t.Fatal(d)
	}
	// One group write and one nexthop removal, whatever the prefix count.
	if n := f.Stats().Ops - ops; n != 2 {
		t.Fatalf("member change took %d writes, want 2", n)
	}
	routesAfter, _ := ns.kernelView(t)
	for p, r := range routesBefore {
		if routesAfter[p].NhID != r.NhID {
			t.Fatalf("%s moved from nhid %d to %d", p, r.NhID, routesAfter[p].NhID)
		}
	}
}

func TestLinuxLinkDownUp(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "ld")
	i1, a1, b1 := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	f, _ := newLinuxFIB(t, ns)
	set := ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2})
	only1 := ECMP(Member{Gateway: gw4(1), Ifindex: i1})
	must(t, f.Set(pfx("192.0.2.0/24"), set))
	must(t, f.Set(pfx("198.51.100.0/24"), only1))
	must(t, f.Set(pfx("2001:db8::/32"), ECMP(Member{Gateway: gw6(1), Ifindex: i1}, Member{Gateway: gw6(2), Ifindex: i2})))
	syncOK(t, f)
	full := want{
		"192.0.2.0/24":    {mem(gw4(1), a1, 1), mem(gw4(2), a2, 1)},
		"198.51.100.0/24": {mem(gw4(1), a1, 1)},
		"2001:db8::/32":   {mem(gw6(1), a1, 1), mem(gw6(2), a2, 1)},
	}
	if d := diffKernel(t, ns, full); d != "" {
		t.Fatal(d)
	}
	down := want{
		"192.0.2.0/24":  {mem(gw4(2), a2, 1)},
		"2001:db8::/32": {mem(gw6(2), a2, 1)},
	}

	// Carrier loss (the peer goes down): Linux keeps the nexthops; we take
	// them out of the groups and drop the route with no member left.
	ns.ip(t, "link", "set", b1, "down")
	eventually(t, "carrier down", func() string { return diffKernel(t, ns, down) })
	ns.ip(t, "link", "set", b1, "up")
	eventually(t, "carrier up", func() string { return diffKernel(t, ns, full) })

	// Admin down: Linux flushes the nexthops itself.
	ns.ip(t, "link", "set", a1, "down")
	eventually(t, "admin down", func() string { return diffKernel(t, ns, down) })
	ns.ip(t, "link", "set", a1, "up")
	eventually(t, "admin up", func() string { return diffKernel(t, ns, full) })
	if fl := f.Failures(); len(fl) != 0 {
		t.Fatalf("failures: %+v", fl)
	}
}

func TestLinuxRouteDeletedByHand(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "rd")
	i1, a1, _ := ns.veth(t, 1)
	f, _ := newLinuxFIB(t, ns)
	must(t, f.Set(pfx("192.0.2.0/24"), ECMP(Member{Gateway: gw4(1), Ifindex: i1})))
	must(t, f.Set(pfx("2001:db8::/32"), ECMP(Member{Gateway: gw6(1), Ifindex: i1})))
	must(t, f.Set(pfx("198.51.100.0/24"), Blackhole()))
	syncOK(t, f)
	w := want{
		"192.0.2.0/24":    {mem(gw4(1), a1, 1)},
		"2001:db8::/32":   {mem(gw6(1), a1, 1)},
		"198.51.100.0/24": {"blackhole"},
	}
	ns.ip(t, "route", "del", "192.0.2.0/24")
	ns.ip(t, "route", "del", "blackhole", "198.51.100.0/24")
	ns.ip(t, "-6", "route", "del", "2001:db8::/32")
	eventually(t, "routes put back", func() string { return diffKernel(t, ns, w) })
	// A group deleted by hand takes its routes with it (silently for IPv4).
	routes, _ := ns.kernelView(t)
	ns.ip(t, "nexthop", "del", "id", fmt.Sprint(routes["192.0.2.0/24"].NhID))
	eventually(t, "group put back", func() string { return diffKernel(t, ns, w) })
	// A route of someone else for the same prefix (other protocol and
	// metric) is left alone.
	ns.ip(t, "route", "add", "192.0.2.0/24", "via", gw4(1).String(), "metric", "100")
	syncOK(t, f)
	if out := ns.ip(t, "route", "show", "192.0.2.0/24", "metric", "100"); !strings.Contains(out, "192.0.2.0/24") {
		t.Fatalf("foreign route touched: %q", out)
	}
}

func TestLinuxRestartAdopts(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "ra")
	i1, a1, _ := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	f1, be1 := newLinuxFIB(t, ns)
	set := ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2})
	for i := range 100 {
		must(t, f1.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 65, byte(i), 0}), 24), set))
	}
	must(t, f1.Set(pfx("198.51.100.0/24"), Blackhole()))
	syncOK(t, f1)
	f1.Close()
	be1.Close()
	routes1, nhs1 := ns.kernelView(t)

	f2, _ := newLinuxFIB(t, ns)
	// Half re-learnt: nothing is written or removed before the sweep.
	for i := range 50 {
		must(t, f2.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 65, byte(i), 0}), 24), set))
	}
	syncOK(t, f2)
	if ops := f2.Stats().Ops; ops != 0 {
		t.Fatalf("restart wrote %d ops", ops)
	}
	routes2, nhs2 := ns.kernelView(t)
	if fmt.Sprint(routes1) != fmt.Sprint(routes2) || fmt.Sprint(nhs1) != fmt.Sprint(nhs2) {
		t.Fatalf("kernel changed on restart:\n%v\n%v", routes1, routes2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, f2.Sweep(ctx))
	w := want{}
	for i := range 50 {
		w[fmt.Sprintf("100.65.%d.0/24", i)] = []string{mem(gw4(1), a1, 1), mem(gw4(2), a2, 1)}
	}
	if d := diffKernel(t, ns, w); d != "" {
		t.Fatal(d)
	}
}

func TestLinuxIPv4OverIPv6LinkLocal(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "ll")
	i1, a1, _ := ns.veth(t, 1)
	f, _ := newLinuxFIB(t, ns)
	ll := netip.MustParseAddr("fe80::2")
	must(t, f.Set(pfx("192.0.2.0/24"), ECMP(Member{Gateway: ll, Ifindex: i1})))
	syncOK(t, f)
	if d := diffKernel(t, ns, want{"192.0.2.0/24": {mem(ll, a1, 1)}}); d != "" {
		t.Fatal(d)
	}
	out := ns.ip(t, "route", "show", "192.0.2.0/24")
	if !strings.Contains(out, "via inet6 fe80::2") {
		t.Fatalf("route does not go via inet6: %q", out)
	}
}

// TestLinuxFlap flaps a link 1,000 times through netlink and checks the
// table ends exactly as desired with no nexthop leaked.
func TestLinuxFlap(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "fl")
	i1, a1, b1 := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	f, _ := newLinuxFIB(t, ns)
	w := want{}
	for i := range 100 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 66, byte(i), 0}), 24)
		switch i % 3 {
		case 0:
			must(t, f.Set(p, ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2})))
			w[p.String()] = []string{mem(gw4(1), a1, 1), mem(gw4(2), a2, 1)}
		case 1:
			must(t, f.Set(p, ECMP(Member{Gateway: gw4(1), Ifindex: i1})))
			w[p.String()] = []string{mem(gw4(1), a1, 1)}
		case 2:
			must(t, f.Set(p, ECMP(Member{Gateway: gw6(1), Ifindex: i1, Weight: 5}, Member{Gateway: gw6(2), Ifindex: i2})))
			w[p.String()] = []string{mem(gw6(1), a1, 5), mem(gw6(2), a2, 1)}
		}
	}
	syncOK(t, f)
	if d := diffKernel(t, ns, w); d != "" {
		t.Fatal(d)
	}
	h, err := netns.GetFromPath(ns.path)
	must(t, err)
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	must(t, err)
	defer nl.Close()
	la, err := nl.LinkByName(a1)
	must(t, err)
	lb, err := nl.LinkByName(b1)
	must(t, err)
	deadline := time.Now().Add(60 * time.Second)
	flaps := 0
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		flaps++
		l := la
		if i%2 == 1 {
			l = lb // alternate admin down and carrier loss
		}
		must(t, nl.LinkSetDown(l))
		must(t, nl.LinkSetUp(l))
	}
	eventually(t, "after flaps", func() string {
		if d := diffKernel(t, ns, w); d != "" {
			return fmt.Sprintf("%s (failures %+v)", d, f.Failures())
		}
		return ""
	})
	if fl := f.Failures(); len(fl) != 0 {
		t.Fatalf("failures: %+v", fl)
	}
	t.Logf("%d flaps; stats after: %+v", flaps, f.Stats())
}

func TestLinuxGatewayDown(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "gd")
	i1, a1, _ := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	f, _ := newLinuxFIB(t, ns)
	w := want{}
	for i := range 50 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 67, byte(i), 0}), 24)
		must(t, f.Set(p, ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2})))
		w[p.String()] = []string{mem(gw4(1), a1, 1), mem(gw4(2), a2, 1)}
	}
	syncOK(t, f)
	ops := f.Stats().Ops
	f.SetGatewayDown(gw4(1), i1, true)
	down := want{}
	for p := range w {
		down[p] = []string{mem(gw4(2), a2, 1)}
	}
	eventually(t, "gateway down", func() string { return diffKernel(t, ns, down) })
	// One group write and the unused member's removal, for 50 prefixes.
	eventually(t, "writes", func() string {
		if n := f.Stats().Ops - ops; n != 2 {
			return fmt.Sprintf("%d writes", n)
		}
		return ""
	})
	f.SetGatewayDown(gw4(1), i1, false)
	eventually(t, "gateway up", func() string { return diffKernel(t, ns, w) })
}

func TestLinuxFailureReported(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "fr")
	i1, a1, _ := ns.veth(t, 1)
	f, _ := newLinuxFIB(t, ns)
	good := pfx("192.0.2.0/24")
	bad := pfx("198.51.100.0/24")
	must(t, f.Set(good, ECMP(Member{Gateway: gw4(1), Ifindex: i1})))
	// 10.99.0.2 is not on v1a's subnet: Linux refuses the nexthop.
	must(t, f.Set(bad, ECMP(Member{Gateway: netip.MustParseAddr("10.99.0.2"), Ifindex: i1})))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.Sync(ctx)
	if err == nil {
		t.Fatal("Sync succeeded with an unreachable gateway")
	}
	fl := f.Failures()
	var sawNexthop, sawRoute bool
	for _, x := range fl {
		if x.Object != "" && x.Op == "new-nexthop" && strings.Contains(x.Err.Error(), "gateway") {
			sawNexthop = true
		}
		if x.Prefix == bad {
			sawRoute = true
		}
		if x.Prefix == good {
			t.Fatalf("good prefix failed: %+v", x)
		}
	}
	if !sawNexthop || !sawRoute {
		t.Fatalf("failures: %+v (sync: %v)", fl, err)
	}
	if d := diffKernel(t, ns, want{good.String(): {mem(gw4(1), a1, 1)}}); d != "" {
		t.Fatal(d)
	}
	f.Delete(bad)
	syncOK(t, f)
	if fl := f.Failures(); len(fl) != 0 {
		t.Fatalf("failures after withdrawing the bad prefix: %+v", fl)
	}
}
