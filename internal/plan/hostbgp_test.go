package plan

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/anycast"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/testenv"
)

func bgpSeed(t testing.TB) Intent {
	t.Helper()
	in := preset(t, "seed-003")
	in.Hosts = HostsBGP
	in.Anycast = []AnycastIntent{{Name: "dns", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.53/32")}, Servers: []string{"server1", "server3"}}}
	return in
}

// bgpVariants: seed-003 with a service on two leaves, and a dual-stack
// fabric with an IPv4+IPv6 service, an exec check and a second service.
func bgpVariants(t testing.TB) map[string]Intent {
	dual := Intent{SpinesPerPlane: 2, LeavesPerPod: 2, ServersPerLeaf: 2, LinkAddressing: LinksDual, Hosts: HostsBGP,
		Pools: Pools{Loopbacks6: netip.MustParsePrefix("fd00::/64"), Servers6: netip.MustParsePrefix("fd00:2::/48")},
		Anycast: []AnycastIntent{
			{Name: "dns", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.53/32"), netip.MustParsePrefix("2001:db8:53::53/128")}, Servers: []string{"server1", "server4"}},
			{Name: "web", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.80/32")}, Servers: []string{"server2"},
				Check: &HostCheck{Kind: "exec", Command: []string{"/usr/bin/test", "-e", "/run/web.up"}}},
		}}
	return map[string]Intent{"seed-003-bgp": bgpSeed(t), "dual-bgp": dual}
}

func TestGoldenHostsBGP(t *testing.T) {
	name := "seed-003-bgp"
	files, err := mustBuild(t, bgpSeed(t)).Files()
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join("testdata", "golden", name), files)
}

func TestHostsBGPPlan(t *testing.T) {
	p := mustBuild(t, bgpSeed(t))
	s1, s3 := p.Node("server1"), p.Node("server3")
	if s1.ASN != HostASNBase || s3.ASN != HostASNBase+2 || s1.Loopbacks[0].String() != "10.3.0.1/32" || s3.RouterID.String() != "10.3.0.3" {
		t.Errorf("server1 AS%d %v, server3 AS%d %v", s1.ASN, s1.Loopbacks, s3.ASN, s3.Loopbacks)
	}
	if p.Sessions != 8 {
		t.Errorf("sessions = %d, want 4 fabric + 4 host", p.Sessions)
	}
	if r := p.hostASRange(p.Node("leaf2")); r.Min != HostASNBase+2 || r.Max != HostASNBase+3 {
		t.Errorf("leaf2's server AS range = %v", r)
	}
	// Growing the fabric (more leaves) keeps every server's ASN and loopback.
	in := bgpSeed(t)
	in.LeavesPerPod = 3
	q := mustBuild(t, in)
	for _, s := range p.Servers {
		o := q.Node(s.Name)
		if o.ASN != s.ASN || o.Loopbacks[0] != s.Loopbacks[0] || o.Leaf != s.Leaf {
			t.Errorf("%s moved: AS%d %v -> AS%d %v", s.Name, s.ASN, s.Loopbacks, o.ASN, o.Loopbacks)
		}
	}
	f := p.Fabric()
	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseFabric("fabric.yaml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if again, _ := back.Marshal(); !bytes.Equal(again, data) {
		t.Errorf("fabric.yaml does not round-trip:\n%s", firstDiff(string(data), string(again)))
	}
	for _, h := range back.Servers {
		if len(h.Routes) != 0 || h.Closd == "" {
			t.Errorf("%s: routes %v closd %q; bgp hosts learn routes from closd", h.Name, h.Routes, h.Closd)
		}
		want := 0
		if h.Name == "server1" || h.Name == "server3" {
			want = 1
		}
		if len(h.Services) != want {
			t.Errorf("%s: services %v", h.Name, h.Services)
		}
	}
}

func TestHostsBGPClosdConfigs(t *testing.T) {
	for name, in := range bgpVariants(t) {
		p := mustBuild(t, in)
		for _, n := range p.Switches {
			data, err := p.Closd(n).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse(name+"/"+n.Name+".yaml", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if n.Role != RoleLeaf {
				continue
			}
			ranges := 0
			for _, nb := range c.Neighbors {
				if nb.ListenRange.IsValid() {
					ranges++
					if nb.RouteMap.In != policyFromServers || nb.MaxPrefix < 1 || nb.Limit != p.Intent.Capacity.ServersPerLeaf {
						t.Errorf("%s/%s: range neighbor %+v", name, n.Name, nb)
					}
				}
			}
			if ranges != len(n.ServerSubnets) {
				t.Errorf("%s/%s: %d listen ranges, want one per server subnet (%d)", name, n.Name, ranges, len(n.ServerSubnets))
			}
		}
		for _, s := range p.Servers {
			data, err := p.HostClosd(s)
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse(name+"/"+s.Name+".yaml", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if c.Role != "host" || len(c.Neighbors) != len(s.Gateways) || c.Neighbors[0].RemoteAS.Kind != config.ASNumbers {
				t.Errorf("%s/%s: %+v", name, s.Name, c)
			}
			if !c.DrainOnSigterm() || c.Drain.Time.D() != HostDrainTime || !*c.Drain.GracefulShutdown {
				t.Errorf("%s/%s: drain %+v", name, s.Name, c.Drain)
			}
			// The services must be a valid anycast engine config.
			ac := c.ServicesConfig()
			if err := anycast.Validate(anycast.Normalize(ac)); err != nil {
				t.Errorf("%s/%s: services: %v", name, s.Name, err)
			}
			if len(ac.Services) != len(p.services(s)) {
				t.Errorf("%s/%s: %d services written, %d placed", name, s.Name, len(ac.Services), len(p.services(s)))
			}
		}
	}
	// The lab preset checks at 200 ms x 3.
	p := mustBuild(t, bgpSeed(t))
	data, _ := p.HostClosd(p.Node("server1"))
	for _, want := range []string{"interval: 200ms", "fall: 3", "kind: tcp", "address: 127.0.0.1:53"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("server1's config lacks %q:\n%s", want, data)
		}
	}
}

func TestHostsBGPFRRDryrun(t *testing.T) {
	vtysh := testenv.RequireTool(t, "vtysh")
	dir := t.TempDir()
	for name, in := range bgpVariants(t) {
		p := mustBuild(t, in)
		confs := map[string]string{}
		for _, n := range p.Switches {
			confs[n.Name] = p.FRR(n)
		}
		for _, s := range p.Servers {
			confs[s.Name] = p.HostFRR(s)
		}
		for node, conf := range confs {
			path := filepath.Join(dir, name+"-"+node+".conf")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(vtysh, "--dryrun", "-f", path).CombinedOutput()
			if err != nil {
				t.Errorf("%s/%s: vtysh --dryrun: %v\n%s\n%s", name, node, err, out, conf)
			}
		}
		leaf := confs["leaf1"]
		for _, must := range []string{"bgp listen range", "route-map FROM-SERVERS in", "maximum-prefix", "set as-path prepend 4210000000", "bgp as-path access-list SRV-server1"} {
			if !strings.Contains(leaf, must) {
				t.Errorf("%s/leaf1: frr.conf lacks %q", name, must)
			}
		}
	}
}

func TestHostsBGPBadIntent(t *testing.T) {
	pf := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		mod  func(*Intent)
		want string
	}{
		{"unknown server", func(in *Intent) { in.Anycast[0].Servers = []string{"server9"} }, `anycast[0].servers[0]: "server9" is not a server`},
		{"switch as server", func(in *Intent) { in.Anycast[0].Servers = []string{"leaf1"} }, `"leaf1" is not a server`},
		{"not a host prefix", func(in *Intent) { in.Anycast[0].Prefixes = []netip.Prefix{pf("10.255.0.0/24")} }, "is not a host prefix; want /32"},
		{"inside a pool", func(in *Intent) { in.Anycast[0].Prefixes = []netip.Prefix{pf("10.2.0.53/32")} }, "is inside pools.servers-ipv4"},
		{"ipv6 without ipv6 servers", func(in *Intent) { in.Anycast[0].Prefixes = []netip.Prefix{pf("2001:db8::53/128")} }, "servers have no IPv6 sessions"},
		{"bad name", func(in *Intent) { in.Anycast[0].Name = "a b" }, `anycast[0].name: "a b"`},
		{"duplicate", func(in *Intent) { in.Anycast = append(in.Anycast, in.Anycast[0]) }, "used by two services"},
		{"bad check", func(in *Intent) { in.Anycast[0].Check = &HostCheck{Kind: "ping"} }, `kind "ping"; valid: tcp, exec, http, dns`},
		{"relative exec", func(in *Intent) { in.Anycast[0].Check = &HostCheck{Kind: "exec", Command: []string{"true"}} }, "/absolute/program"},
		{"bad interval", func(in *Intent) { in.HostChecks.Interval = "fast" }, `host-checks.interval: "fast"`},
		{"timeout over interval", func(in *Intent) { in.HostChecks.Timeout = "1s" }, "host-checks.timeout: 1s is longer than the interval (200ms)"},
		{"host pool overlaps", func(in *Intent) { in.Pools.HostLoopbacks4 = pf("10.2.0.0/24") }, "overlaps"},
		{"host pool too small", func(in *Intent) { in.Pools.HostLoopbacks4 = pf("10.3.0.0/30") }, "pools.host-loopbacks-ipv4: 10.3.0.0/30 gives servers 4 addresses"},
		{"host pool without bgp", func(in *Intent) {
			in.Hosts = HostsSubnet
			in.Anycast = nil
			in.Pools.HostLoopbacks4 = pf("10.3.0.0/24")
		}, "server loopbacks exist only with hosts: bgp"},
		{"neighbor mode", func(in *Intent) { in.Hosts = HostsNeighbor }, "anycast: services run on hosts that speak BGP"},
		{"dual-homed", func(in *Intent) { in.DualHomed = true }, "dual-homed: needs hosts: neighbor"},
		{"bad host-routes", func(in *Intent) { in.HostRoutes = "some" }, `host-routes: "some"; want default (the default route only) or all`},
		{"host-routes without bgp", func(in *Intent) {
			in.Hosts = HostsSubnet
			in.Anycast = nil
			in.HostRoutes = HostRoutesAll
		}, "host-routes: what servers learn from BGP exists only with hosts: bgp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := bgpSeed(t)
			tc.mod(&in)
			_, err := Build(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestHostsBGPIntentFile(t *testing.T) {
	in, err := ParseIntent("i.yaml", []byte("hosts: bgp\nanycast:\n  - name: dns\n    prefixes: [10.255.0.53/32]\n    servers: [server1, server3]\n    check: {kind: exec, command: [/bin/true]}\n"), preset(t, "seed-003"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustBuild(t, in)
	if len(p.Anycast) != 1 || p.Anycast[0].Check.Kind != "exec" || len(p.services(p.Node("server3"))) != 1 {
		t.Errorf("anycast = %+v", p.Anycast)
	}
	_, err = ParseIntent("i.yaml", []byte("anycast:\n  - name: dns\n    prefix: [10.255.0.53/32]\n"), Intent{})
	if err == nil || !strings.Contains(err.Error(), "i.yaml:3: anycast[0].prefix: unknown field") {
		t.Errorf("unknown field in a list item: %v", err)
	}
}

func TestParseAnycast(t *testing.T) {
	a, err := ParseAnycast("dns=10.255.0.53/32,2001:db8::53/128:server1,server3")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "dns" || len(a.Prefixes) != 2 || a.Prefixes[1].String() != "2001:db8::53/128" || strings.Join(a.Servers, " ") != "server1 server3" {
		t.Errorf("got %+v", a)
	}
	for _, bad := range []string{"", "dns", "=10.0.0.1/32:s1", "dns=10.0.0.1/32", "dns=10.0.0.1:s1", "dns=10.0.0.1/32:", "dns=10.0.0.1/32:s1,"} {
		if _, err := ParseAnycast(bad); err == nil {
			t.Errorf("ParseAnycast(%q) accepted", bad)
		}
	}
}

func FuzzParseAnycast(f *testing.F) {
	for _, s := range []string{"dns=10.255.0.53/32:server1,server3", "x=2001:db8::1/128:a", "a=:b", "=::", "dns=10.0.0.0/8,fd00::/8:s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAnycast(s)
		if err != nil {
			return
		}
		if a.Name == "" || len(a.Prefixes) == 0 || len(a.Servers) == 0 {
			t.Fatalf("%q parsed to an incomplete %+v", s, a)
		}
		for _, sv := range a.Servers {
			if sv == "" || strings.Contains(sv, ":") {
				t.Fatalf("%q: server %q", s, sv)
			}
		}
		// The parse is stable: writing it back in flag form reads the same.
		again, err := ParseAnycast(a.Name + "=" + strings.Join(prefixStrings(a.Prefixes), ",") + ":" + strings.Join(a.Servers, ","))
		if err != nil || again.Name != a.Name || len(again.Prefixes) != len(a.Prefixes) || len(again.Servers) != len(a.Servers) {
			t.Fatalf("%q: round trip %+v, %v", s, again, err)
		}
	})
}

func TestHostsBGPHostRoutes(t *testing.T) {
	for _, mode := range []string{"", HostRoutesDefault, HostRoutesAll} {
		in := bgpSeed(t)
		in.HostRoutes = mode
		p := mustBuild(t, in)
		s := p.Node("server1")
		data, err := p.HostClosd(s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse("server1.yaml", data)
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		var def []netip.Prefix
		for _, pl := range c.Policy.PrefixLists {
			if pl.Name == policyDefault {
				for _, e := range pl.Entries {
					def = append(def, e.Prefix)
				}
			}
		}
		frr := p.HostFRR(s)
		if mode == HostRoutesAll {
			if c.Neighbors[0].RouteMap.In != "" || def != nil || strings.Contains(frr, policyFromLeaf) {
				t.Errorf("host-routes all: inbound %q, default list %v", c.Neighbors[0].RouteMap.In, def)
			}
		} else {
			if c.Neighbors[0].RouteMap.In != policyFromLeaf || len(def) != 1 || def[0] != netip.MustParsePrefix("0.0.0.0/0") {
				t.Errorf("host-routes %q: inbound %q, default list %v", mode, c.Neighbors[0].RouteMap.In, def)
			}
			if !strings.Contains(frr, "route-map FROM-FABRIC in") || !strings.Contains(frr, "ip prefix-list DEFAULT seq 10 permit 0.0.0.0/0") {
				t.Errorf("host-routes %q: host frr.conf lacks the inbound filter:\n%s", mode, frr)
			}
		}
		if !c.BGP.MultipathRelax || c.BGP.MaxPaths < 2 {
			t.Errorf("host-routes %q: no ECMP over the leaves: %+v", mode, c.BGP)
		}
		leaf, err := config.Parse("leaf1.yaml", mustMarshal(t, p.Closd(p.Node("leaf1"))))
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range leaf.Neighbors {
			if nb.ListenRange.IsValid() && !nb.DefaultOriginate {
				t.Errorf("host-routes %q: leaf1 does not send its servers the default route", mode)
			}
		}
		if !strings.Contains(p.FRR(p.Node("leaf1")), "neighbor SERVERS default-originate") {
			t.Errorf("host-routes %q: leaf1's frr.conf does not send the default route", mode)
		}
	}
}

func mustMarshal(t *testing.T, c *config.Config) []byte {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
