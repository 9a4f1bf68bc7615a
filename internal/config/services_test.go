package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/closnet/clos/internal/anycast"
)

const hostExample = `router-id: 10.0.0.21
asn: 65201
role: host
neighbors:
  - {address: 10.1.0.1, remote-as: external}
  - {address: 10.1.1.1, remote-as: external}
services:
  - name: dns
    addresses: [10.255.0.53/32, "2001:db8:ff::53/128"]    # put on the loopback by closd
    check: {kind: dns, address: "127.0.0.1:53", name: example.org, qtype: A}
    interval: 200ms
    timeout: 150ms
    rise: 2
    fall: 3
    weight: 1000000000
    drain: {graceful-shutdown: true, prepend: 2, time: 5s}
  - name: web
    addresses: [10.255.0.80/32]
    check: {kind: http, url: "http://127.0.0.1/"}
  - name: ssh
    addresses: [10.255.0.22/32]
    check: {kind: tcp, address: "127.0.0.1:22"}
    drain: {prepend: 1}
  - name: custom
    addresses: ["2001:db8:ff::1/128"]
    check: {kind: exec, command: ["/bin/true"]}
drain: {graceful-shutdown: true, prepend: 0, time: 5s, on-sigterm: true}
`

func TestParseServices(t *testing.T) {
	c, err := Parse("host.yaml", []byte(hostExample))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Networks; !cmp.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.0.0.21/32")}, cmpOpts...) {
		t.Errorf("host profile networks = %v, want the router-id /32", got)
	}
	if !c.DrainOnSigterm() {
		t.Error("on-sigterm not read")
	}
	ac := c.ServicesConfig()
	if len(ac.Services) != 4 {
		t.Fatalf("services = %d", len(ac.Services))
	}
	dns := ac.Services[0]
	want := anycast.Service{
		Name:      "dns",
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.255.0.53/32"), netip.MustParsePrefix("2001:db8:ff::53/128")},
		Check:     anycast.CheckSpec{Kind: anycast.CheckDNS, Address: "127.0.0.1:53", Name: "example.org", QType: "A"},
		Interval:  200 * time.Millisecond, Timeout: 150 * time.Millisecond, Rise: 2, Fall: 3, Weight: 1e9,
		Drain: &anycast.DrainSpec{GracefulShutdown: true, Prepend: 2, Time: 5 * time.Second},
	}
	if d := cmp.Diff(want, dns, cmpOpts...); d != "" {
		t.Errorf("dns (-want +got):\n%s", d)
	}
	web := ac.Services[1]
	if web.Interval != time.Second || web.Timeout != 750*time.Millisecond || web.Rise != 2 || web.Fall != 3 || web.Check.ExpectStatus != 200 {
		t.Errorf("web defaults = %+v", web)
	}
	if *web.Drain != (anycast.DrainSpec{GracefulShutdown: true, Time: 5 * time.Second}) {
		t.Errorf("web drain = %+v, want the top-level one", *web.Drain)
	}
	if *ac.Services[2].Drain != (anycast.DrainSpec{GracefulShutdown: true, Prepend: 1, Time: 5 * time.Second}) {
		t.Errorf("ssh drain = %+v, want prepend 1 over the top-level one", *ac.Services[2].Drain)
	}
	if _, err := anycast.New(ac); err != nil {
		t.Errorf("engine refuses the mapped config: %v", err)
	}
}

func TestServicesExplicitNoDrain(t *testing.T) {
	// All-zero drain attributes must stay zero: withdraw at once, no
	// community, rather than falling back to the engine's default.
	c, err := Parse("x.yaml", []byte("router-id: 10.0.0.1\nasn: 1\nrole: host\nservices:\n  - {name: a, addresses: [10.9.0.1/32], check: {kind: tcp, address: '127.0.0.1:1'}, interval: 1s, timeout: 500ms}\n"+
		"drain: {graceful-shutdown: false, time: 0s, on-sigterm: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DrainOnSigterm() {
		t.Error("on-sigterm: false ignored")
	}
	if got := *c.ServicesConfig().Services[0].Drain; got != (anycast.DrainSpec{}) {
		t.Errorf("drain = %+v, want all zero", got)
	}
}

func TestServicesRoundTrip(t *testing.T) {
	c, err := Parse("host.yaml", []byte(hostExample))
	if err != nil {
		t.Fatal(err)
	}
	out := roundTrip(t, c)
	for _, w := range []string{"interval: 200ms", "time: 5s", "on-sigterm: true", "expect-status: 200"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("canonical form lacks %q:\n%s", w, out)
		}
	}
}

func TestSwitchWithoutServicesUnchanged(t *testing.T) {
	c, err := Parse("x.yaml", []byte("router-id: 10.0.0.1\nasn: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Drain != nil || len(c.Networks) != 0 || len(c.ServicesConfig().Services) != 0 {
		t.Errorf("a switch without services got %+v / %v", c.Drain, c.Networks)
	}
	out, _ := c.Marshal()
	if strings.Contains(string(out), "drain") || strings.Contains(string(out), "services") {
		t.Errorf("empty sections written:\n%s", out)
	}
}

func TestServicesErrors(t *testing.T) {
	const base = "router-id: 10.0.0.1\nasn: 65001\nrole: host\nservices:\n"
	svc := func(body string) string { return base + "  - name: s\n" + body }
	const tcp = "    check: {kind: tcp, address: '127.0.0.1:80'}\n"
	const addr = "    addresses: [10.255.0.1/32]\n"
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"not /32", svc("    addresses: [10.255.0.0/24]\n" + tcp), []string{"x.yaml:6: services[0].addresses[0]: 10.255.0.0/24 is not a host prefix; want 10.255.0.0/32"}},
		{"v6 not /128", svc("    addresses: ['2001:db8::/64']\n" + tcp), []string{"services[0].addresses[0]: 2001:db8::/64 is not a host prefix; want 2001:db8::/128"}},
		{"no addresses", svc(tcp), []string{"x.yaml:5: services[0].addresses: missing"}},
		{"loopback addr", svc("    addresses: [127.0.0.2/32]\n" + tcp), []string{"services[0].addresses[0]: 127.0.0.2/32; want a unicast address"}},
		{"dup addr", base + "  - {name: a, addresses: [10.255.0.1/32], check: {kind: tcp, address: 'h:1'}}\n  - {name: b, addresses: [10.255.0.1/32], check: {kind: tcp, address: 'h:1'}}\n",
			[]string{"x.yaml:6: services[1].addresses[0]: 10.255.0.1/32 is also an address of service a"}},
		{"dup name", base + "  - {name: a, addresses: [10.255.0.1/32], check: {kind: tcp, address: 'h:1'}}\n  - {name: a, addresses: [10.255.0.2/32], check: {kind: tcp, address: 'h:1'}}\n",
			[]string{`services[1].name: "a" is already services[0]`}},
		{"bad name", base + "  - {name: 'a b', addresses: [10.255.0.1/32], check: {kind: tcp, address: 'h:1'}}\n", []string{`services[0].name: "a b"; want 1-64 letters`}},
		{"kind", svc(addr + "    check: {kind: icmp}\n"), []string{`x.yaml:7: services[0].check.kind: "icmp"; valid: exec, tcp, http, dns`}},
		{"no kind", svc(addr + "    check: {address: 'h:1'}\n"), []string{`services[0].check.kind: ""; valid: exec, tcp, http, dns`}},
		{"exec no command", svc(addr + "    check: {kind: exec}\n"), []string{"services[0].check.command: missing; want the program"}},
		{"wrong field", svc(addr + "    check: {kind: exec, command: [/bin/true], url: 'http://x/'}\n"), []string{"services[0].check.url: does not apply to kind exec (its fields: command); remove it"}},
		{"tcp no port", svc(addr + "    check: {kind: tcp, address: '127.0.0.1'}\n"), []string{`services[0].check.address: "127.0.0.1": no port; want host:port`}},
		{"tcp v6 brackets", svc(addr + "    check: {kind: tcp, address: '::1:80'}\n"), []string{`services[0].check.address: "::1:80"`}},
		{"http url", svc(addr + "    check: {kind: http, url: 'ftp://x/'}\n"), []string{`services[0].check.url: "ftp://x/"; want an absolute http://`}},
		{"http status", svc(addr + "    check: {kind: http, url: 'http://x/', expect-status: 99}\n"), []string{"services[0].check.expect-status: 99; want an HTTP status 100..599"}},
		{"dns host name", svc(addr + "    check: {kind: dns, address: 'localhost:53', name: a.b}\n"), []string{`services[0].check.address: "localhost:53"; want the resolver's IP address`}},
		{"dns qtype", svc(addr + "    check: {kind: dns, address: '127.0.0.1:53', name: a.b, qtype: MX}\n"), []string{`services[0].check.qtype: "MX"; valid: A, AAAA`}},
		{"dns name", svc(addr + "    check: {kind: dns, address: '127.0.0.1:53'}\n"), []string{"services[0].check.name: missing"}},
		{"duration unit", svc(addr + tcp + "    interval: 200\n"), []string{`x.yaml:8: services[0].interval: "200" has no unit; want a duration such as "200ms"`}},
		{"duration junk", svc(addr + tcp + "    interval: soon\n"), []string{`services[0].interval: "soon"; want a duration`}},
		{"negative interval", svc(addr + tcp + "    interval: -1s\n"), []string{"services[0].interval: -1s; want a positive duration"}},
		{"timeout >= interval", svc(addr + tcp + "    interval: 200ms\n    timeout: 200ms\n"), []string{"x.yaml:9: services[0].timeout: 200ms; want a positive duration shorter than interval (200ms)"}},
		{"rise", svc(addr + tcp + "    rise: -1\n"), []string{"services[0].rise: -1; want 1..1000"}},
		{"fall", svc(addr + tcp + "    fall: 1001\n"), []string{"services[0].fall: 1001; want 1..1000"}},
		{"prepend", svc(addr + tcp + "    drain: {prepend: 17}\n"), []string{"services[0].drain.prepend: 17; want 0..16"}},
		{"service on-sigterm", svc(addr + tcp + "    drain: {on-sigterm: true}\n"), []string{"services[0].drain.on-sigterm: only applies to the top-level drain section"}},
		{"drain time", base[:len(base)-len("services:\n")] + "drain: {time: -5s}\n", []string{"x.yaml:4: drain.time: -5s; want 0s (withdraw at once) up to 1h0m0s"}},
		{"drain unknown", base[:len(base)-len("services:\n")] + "drain: {grace: true}\n", []string{"drain.grace: unknown field"}},
		{"weight", svc(addr + tcp + "    weight: -1\n"), []string{"services[0].weight: got \"-1\"; want an integer"}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantParseErrors(t, "x.yaml", tc.in, tc.want) })
	}
}

func FuzzParseServices(f *testing.F) {
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nrole: host\nservices: [{name: a, addresses: [10.9.0.1/32], check: {kind: tcp, address: 'h:1'}}]\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nservices: [{name: d, addresses: ['2001:db8::1/128'], check: {kind: dns, address: '[::1]:53', name: x.y}, interval: 200ms, timeout: 100ms, drain: {prepend: 2}}]\ndrain: {time: 0s}\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nservices: [{name: e, addresses: [10.9.0.2/32], check: {kind: exec, command: [/bin/true]}, weight: 5}]\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nservices: [{name: h, addresses: [10.9.0.3/32], check: {kind: http, url: 'http://127.0.0.1/'}, rise: 1, fall: 1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if _, err := anycast.New(c.ServicesConfig()); err != nil {
			t.Fatalf("accepted config the engine refuses: %v\n%s", err, data)
		}
		roundTrip(t, c)
	})
}
