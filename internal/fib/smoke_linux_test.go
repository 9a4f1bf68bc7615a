//go:build linux

package fib

import (
	"context"
	"net/netip"
	"testing"
)

func TestLinuxSmoke(t *testing.T) {
	requireRoot(t)
	ns := newNS(t, "sm")
	i1, _, _ := ns.veth(t, 1)
	i2, _, _ := ns.veth(t, 2)
	f, _ := newLinuxFIB(t, ns)
	p := netip.MustParsePrefix("192.0.2.0/24")
	if err := f.Set(p, ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2, Weight: 3})); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(netip.MustParsePrefix("2001:db8::/32"), ECMP(Member{Gateway: gw6(1), Ifindex: i1})); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(netip.MustParsePrefix("198.51.100.0/24"), Blackhole()); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Log(ns.ip(t, "nexthop"))
	t.Log(ns.ip(t, "route"))
	t.Log(ns.ip(t, "-6", "route"))
	k := f.Kernel()
	t.Logf("%+v", k.Routes)
}
