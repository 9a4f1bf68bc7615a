package fib

import (
	"net/netip"
	"testing"
)

// target is the target of p, nil if none (for tests).
func (d *Desired) target(p netip.Prefix) *target {
	t, _ := d.routes.get(p)
	return t
}

// IPv4 prefixes go through the packed key and back unchanged, IPv6 ones
// (IPv4-mapped included) through the netip map; all sees each once.
func TestRouteTable(t *testing.T) {
	rt := newRouteTable(0, 0)
	ps := []netip.Prefix{
		pfx("0.0.0.0/0"), pfx("255.255.255.255/32"), pfx("10.0.0.0/8"), pfx("10.0.0.0/9"), pfx("192.0.2.128/25"),
		pfx("::/0"), pfx("2001:db8::/32"), pfx("::ffff:10.0.0.0/104"), pfx("::ffff:10.0.0.0/128"),
	}
	ts := make([]*target, len(ps))
	for i, p := range ps {
		ts[i] = &target{refs: i}
		rt.set(p, ts[i])
	}
	if rt.len() != len(ps) || len(rt.v4) != 5 {
		t.Fatalf("len %d, %d IPv4", rt.len(), len(rt.v4))
	}
	seen := map[netip.Prefix]bool{}
	for p, tg := range rt.all() {
		if seen[p] {
			t.Fatalf("%s twice", p)
		}
		seen[p] = true
		if got, ok := rt.get(p); !ok || got != tg {
			t.Fatalf("%s: get %v, all %v", p, got, tg)
		}
	}
	for i, p := range ps {
		if !seen[p] {
			t.Fatalf("%s not seen", p)
		}
		if got, _ := rt.get(p); got != ts[i] {
			t.Fatalf("%s: %v, want %v", p, got, ts[i])
		}
	}
	if _, ok := rt.get(netip.Prefix{}); ok {
		t.Fatal("zero prefix found")
	}
	for _, p := range ps {
		rt.del(p)
	}
	if rt.len() != 0 {
		t.Fatalf("%d left", rt.len())
	}
}

// Encoding a route write allocates nothing once the buffer has room.
func TestAppendOpNoAlloc(t *testing.T) {
	c := nlConfig{proto: DefaultProtocol, table: 254, metric: 20}
	buf := make([]byte, 0, 4096)
	for _, op := range []Op{
		{Kind: OpSetRoute, Route: Route{Prefix: pfx("192.0.2.0/24"), NexthopID: 7}},
		{Kind: OpSetRoute, Route: Route{Prefix: pfx("2001:db8::/64"), NexthopID: 7}},
		{Kind: OpNewNexthop, Nexthop: Nexthop{ID: 7, Gateway: netip.MustParseAddr("fe80::1"), Ifindex: 3}},
	} {
		if n := testing.AllocsPerRun(100, func() { _, _ = appendOp(buf[:0], op, 1, c, false) }); n != 0 {
			t.Errorf("%s: %v allocations", op, n)
		}
	}
}
