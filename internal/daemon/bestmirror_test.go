package daemon

import (
	"net/netip"
	"testing"
)

func TestBestKeyRoundTrip(t *testing.T) {
	for _, s := range []string{"0.0.0.0/0", "10.1.2.0/24", "255.255.255.255/32", "::/0", "2001:db8::/32",
		"::ffff:10.0.0.0/104", "::ffff:10.0.0.1/128", "fe80::1/128"} {
		p := netip.MustParsePrefix(s)
		if got := bestKeyOf(p).prefix(); got != p {
			t.Errorf("%s: round trip gave %s", p, got)
		}
	}
	if bestKeyOf(netip.MustParsePrefix("10.0.0.0/8")) == bestKeyOf(netip.MustParsePrefix("::ffff:10.0.0.0/8")) {
		t.Error("an IPv4 prefix and its IPv4-mapped IPv6 form share a key")
	}
}

func TestBestPeersCountsAndFrees(t *testing.T) {
	var bp bestPeers
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::1%eth0")
	ia := bp.add(a)
	if bp.add(a) != ia || bp.of(a) != 2 || bp.addr(ia) != a {
		t.Fatalf("a: index %d, count %d, addr %s", ia, bp.of(a), bp.addr(ia))
	}
	ib := bp.add(b)
	if ib == ia || ib == 0 || bp.of(b) != 1 || bp.addr(ib) != b {
		t.Fatalf("b: index %d (a %d), count %d, addr %s", ib, ia, bp.of(b), bp.addr(ib))
	}
	bp.drop(ia)
	bp.drop(ia)
	bp.drop(0)
	if bp.of(a) != 0 || bp.of(b) != 1 {
		t.Fatalf("after dropping a: a %d, b %d", bp.of(a), bp.of(b))
	}
	c := netip.MustParseAddr("10.0.0.3")
	if ic := bp.add(c); ic != ia || bp.addr(ic) != c || bp.of(c) != 1 {
		t.Fatalf("freed slot %d not reused: got %d for %s", ia, ic, bp.addr(ic))
	}
	if bp.addr(0).IsValid() {
		t.Error("index 0 has an address")
	}
}
