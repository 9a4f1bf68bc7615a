package rib

import (
	"net/netip"
	"testing"
)

func TestPkeyPrefixRoundTrip(t *testing.T) {
	for _, c := range []struct {
		f int
		p string
	}{{famV4, "0.0.0.0/0"}, {famV4, "10.1.2.0/24"}, {famV4, "255.255.255.255/32"}, {famV4, "192.0.2.128/25"},
		{famV6, "::/0"}, {famV6, "2001:db8::/32"}, {famV6, "2001:db8:ffff:1:2:3:4:5/128"}, {famV6, "::ffff:10.0.0.0/104"}} {
		p := netip.MustParsePrefix(c.p)
		if got := keyOf(p).prefix(c.f); got != p {
			t.Errorf("%s: round trip gave %s", p, got)
		}
	}
}
