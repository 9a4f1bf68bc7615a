package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/neigh"
	"github.com/google/go-cmp/cmp"
)

func TestHostsParseAndMap(t *testing.T) {
	c, err := Load("testdata/hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := roundTrip(t, c)
	if !strings.Contains(string(out), "aging-time: 5m0s") || !strings.Contains(string(out), "community: 65000:100") {
		t.Errorf("marshalled hosts section:\n%s", out)
	}
	nc, err := c.Hosts.NeighConfig()
	if err != nil {
		t.Fatal(err)
	}
	mac := func(s string) neigh.MAC { m, _ := neigh.ParseMAC(s); return m }
	want := neigh.Config{
		Interfaces: []neigh.InterfaceConfig{
			{Name: "swp3", Allowed: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}, MaxHosts: 256,
				Static: []neigh.StaticBinding{{IP: netip.MustParseAddr("10.1.0.10"), MAC: mac("02:00:00:00:00:0a")}}},
			{Name: "swp4", Allowed: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}},
		},
		AgingTime: 300 * time.Second, ProbeInterval: time.Second, ProbeRetries: 3,
		MoveLimit: 5, MoveWindow: 180 * time.Second, FreezeHold: 600 * time.Second,
		Community: 65000<<16 | 100,
		Gateway: neigh.AnycastGateway{IPv4: netip.MustParsePrefix("10.1.0.1/24"), IPv6: netip.MustParsePrefix("2001:db8:1::1/64"),
			MAC: mac("02:00:00:00:01:01")},
	}
	if d := cmp.Diff(want, nc, cmpOpts...); d != "" {
		t.Errorf("NeighConfig (-want +got):\n%s", d)
	}
	if got := c.Hosts.AllowedPrefixes(); len(got) != 2 {
		t.Errorf("AllowedPrefixes = %v, want the two distinct prefixes", got)
	}
}

func TestHostsMinimalTakesDefaults(t *testing.T) {
	c, err := Parse("m.yaml", []byte("router-id: 10.0.0.1\nasn: 1\nhosts:\n  interfaces: [{name: swp1, allowed: [10.1.0.0/24]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := c.Hosts.NeighConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := neigh.New(nc); err != nil {
		t.Fatalf("engine refuses a validated config: %v", err)
	}
}

func TestHostsErrors(t *testing.T) {
	const base = "router-id: 10.0.0.1\nasn: 65001\nhosts:\n"
	const port = "  interfaces: [{name: swp3, allowed: [10.1.0.0/24]}]\n"
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"no interfaces", base + "  aging-time: 10s\n", []string{"x.yaml:4: hosts.interfaces: missing; want at least one"}},
		{"bad name", base + "  interfaces: [{name: 'a b', allowed: [10.1.0.0/24]}]\n", []string{`x.yaml:4: hosts.interfaces[0].name: "a b"; want a Linux interface name`}},
		{"dup name", base + "  interfaces:\n    - {name: swp3, allowed: [10.1.0.0/24]}\n    - {name: swp3, allowed: [10.2.0.0/24]}\n",
			[]string{`x.yaml:6: hosts.interfaces[1].name: "swp3" listed twice`}},
		{"no allowed", base + "  interfaces: [{name: swp3}]\n", []string{"hosts.interfaces[0].allowed: missing; want the prefixes"}},
		{"host bits", base + "  interfaces: [{name: swp3, allowed: [10.1.0.1/24]}]\n", []string{"x.yaml:4: hosts.interfaces[0].allowed[0]: 10.1.0.1/24 has host bits set; want 10.1.0.0/24"}},
		{"not a prefix", base + "  interfaces: [{name: swp3, allowed: [nope]}]\n", []string{"x.yaml:4: hosts.interfaces[0].allowed[0]: invalid a prefix"}},
		{"mapped", base + "  interfaces: [{name: swp3, allowed: ['::ffff:10.1.0.0/120']}]\n", []string{"is IPv4-mapped IPv6"}},
		{"max-hosts", base + "  interfaces: [{name: swp3, allowed: [10.1.0.0/24], max-hosts: -1}]\n", []string{"hosts.interfaces[0].max-hosts: -1; want 1..65535"}},
		{"static outside", base + "  interfaces: [{name: swp3, allowed: [10.1.0.0/24], static: [{ip: 10.2.0.1, mac: '02:00:00:00:00:01'}]}]\n",
			[]string{"hosts.interfaces[0].static[0].ip: 10.2.0.1 is outside this port's allowed prefixes"}},
		{"static mac", base + "  interfaces: [{name: swp3, allowed: [10.1.0.0/24], static: [{ip: 10.1.0.9, mac: 'zz'}]}]\n",
			[]string{`hosts.interfaces[0].static[0].mac: "zz"; want six hex octets`}},
		{"static mcast mac", base + "  interfaces: [{name: swp3, allowed: [10.1.0.0/24], static: [{ip: 10.1.0.9, mac: '01:00:5e:00:00:01'}]}]\n",
			[]string{"is a multicast MAC"}},
		{"duration number", base + port + "  aging-time: 300\n", []string{`x.yaml:5: hosts.aging-time: "300" has no unit; want a duration`}},
		{"duration garbage", base + port + "  probe-interval: soon\n", []string{`hosts.probe-interval: "soon"; want a duration`}},
		{"duration range", base + port + "  probe-interval: 1ms\n", []string{"x.yaml:5: hosts.probe-interval: 1ms; want 10ms..1m0s"}},
		{"negative", base + port + "  move-window: -5s\n", []string{"hosts.move-window: -5s; want 1s..24h0m0s"}},
		{"retries", base + port + "  probe-retries: 500\n", []string{"hosts.probe-retries: 500; want 1..100"}},
		{"move-limit", base + port + "  move-limit: -2\n", []string{"hosts.move-limit: -2; want 1..1000"}},
		{"community", base + port + "  community: '65000'\n", []string{`x.yaml:5: hosts.community: "65000"; want ASN:VALUE`}},
		{"community range", base + port + "  community: '70000:1'\n", []string{`hosts.community: "70000:1"; want ASN:VALUE`}},
		{"gw v4 family", base + port + "  gateway: {ipv4: '2001:db8::1/64'}\n", []string{"hosts.gateway.ipv4: 2001:db8::1/64; want the gateway address with its subnet length"}},
		{"gw v4 network", base + port + "  gateway: {ipv4: 10.1.0.0/24}\n", []string{"hosts.gateway.ipv4: 10.1.0.0/24; want"}},
		{"gw v6 ll", base + port + "  gateway: {ipv6: 'fe80::1/64'}\n", []string{"hosts.gateway.ipv6: fe80::1/64; want a global IPv6"}},
		{"gw mac", base + port + "  gateway: {mac: '02:00:00:00:01'}\n", []string{"x.yaml:5: hosts.gateway.mac:"}},
		{"unknown", base + port + "  aging_time: 3s\n", []string{"hosts.aging_time: unknown field; did you mean aging-time?"}},
		{"not a map", base + "  - swp3\n", []string{"x.yaml:4: hosts: got a list; want a map"}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantParseErrors(t, "x.yaml", tc.in, tc.want) })
	}
}
