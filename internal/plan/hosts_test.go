package plan

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/config"
)

// hostModes are the golden fabrics of the host attachment modes.
func hostModes(t *testing.T) map[string]Intent {
	neighbor := preset(t, "seed-003")
	neighbor.Hosts = HostsNeighbor
	dual := neighbor
	dual.DualHomed = true
	v6 := preset(t, "rfc7938-3stage")
	v6.Hosts = HostsNeighbor
	v6.LinkAddressing = LinksUnnumbered
	v6.Pools.Loopbacks6 = netip.MustParsePrefix("fd00::/64")
	v6.Pools.Servers6 = netip.MustParsePrefix("fd00:2::/64")
	return map[string]Intent{"seed-003-neighbor": neighbor, "seed-003-dual-homed": dual, "rfc7938-3stage-neighbor-v6": v6}
}

func TestGoldenHostModes(t *testing.T) {
	for name, in := range hostModes(t) {
		t.Run(name, func(t *testing.T) {
			files, err := mustBuild(t, in).Files()
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden-hosts", name), files)
		})
	}
}

// TestNeighborMode checks the promises of neighbor mode on the plan itself,
// so a wrong golden file cannot hide them.
func TestNeighborMode(t *testing.T) {
	in := preset(t, "seed-003")
	in.Hosts = HostsNeighbor
	p := mustBuild(t, in)
	f := p.Fabric()
	shared := netip.MustParsePrefix("10.2.0.0/16")
	gw := netip.MustParsePrefix("10.2.0.1/16")
	seen := map[netip.Addr]string{}
	for _, s := range f.Servers {
		if len(s.Interfaces) != 1 || len(s.Interfaces[0].Addresses) != 1 {
			t.Fatalf("%s: interfaces %+v; want one port with one address", s.Name, s.Interfaces)
		}
		a := s.Interfaces[0].Addresses[0]
		if a.Bits() != 32 || !shared.Contains(a.Addr()) || a.Addr() == gw.Addr() {
			t.Errorf("%s: address %s; want a /32 in %s other than the gateway", s.Name, a, shared)
		}
		if o, dup := seen[a.Addr()]; dup {
			t.Errorf("%s and %s share %s", s.Name, o, a.Addr())
		}
		seen[a.Addr()] = s.Name
		if len(s.Routes) != 1 || s.Routes[0].Via != gw.Addr() || !s.Routes[0].Onlink || s.Routes[0].Prefix.Bits() != 0 {
			t.Errorf("%s: routes %+v; want one on-link default via %s", s.Name, s.Routes, gw.Addr())
		}
	}
	for _, n := range p.Switches {
		c := p.Closd(n)
		h := p.Hosts(n)
		if n.Role != RoleLeaf {
			if h != nil {
				t.Errorf("%s: a %s got a hosts section", n.Name, n.Role)
			}
			continue
		}
		if h == nil || len(h.Interfaces) != in.ServersPerLeaf || !h.Aggregate || h.Gateway.IPv4 != gw || h.Gateway.MAC != GatewayMAC {
			t.Fatalf("%s: hosts %+v", n.Name, h)
		}
		for _, hi := range h.Interfaces {
			if len(hi.Allowed) != 1 || hi.Allowed[0] != shared {
				t.Errorf("%s %s: allowed %v; want [%s]", n.Name, hi.Name, hi.Allowed, shared)
			}
		}
		for _, nw := range c.Networks {
			if nw.Bits() != 32 {
				t.Errorf("%s: networks %v; the subnet comes from hosts.aggregate, not networks", n.Name, c.Networks)
			}
		}
		var le32 bool
		for _, e := range c.Policy.PrefixLists[0].Entries {
			le32 = le32 || (e.Prefix == shared && e.LE == 32)
		}
		if !le32 {
			t.Errorf("%s: prefix-list %+v does not let host routes of %s upstream", n.Name, c.Policy.PrefixLists[0].Entries, shared)
		}
		var ports int
		for _, ifc := range n.Interfaces {
			if ifc.Kind == KindBridge {
				t.Errorf("%s: bridge in neighbor mode", n.Name)
			}
			if ifc.Kind == KindServer {
				ports++
				if len(ifc.Addresses) != 1 || ifc.Addresses[0] != gw || ifc.MAC != GatewayMAC {
					t.Errorf("%s %s: %v %s; want the anycast gateway %s %s", n.Name, ifc.Name, ifc.Addresses, ifc.MAC, gw, GatewayMAC)
				}
			}
		}
		if ports != in.ServersPerLeaf {
			t.Errorf("%s: %d server ports", n.Name, ports)
		}
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, fl := range files {
		if fl.Path == "frr/leaf1/frr.conf" || fl.Path == "fabric.clab.yml" {
			t.Errorf("%s written in neighbor mode; leaves need closd", fl.Path)
		}
		if strings.HasPrefix(fl.Path, "closd/") {
			c, err := config.Parse(fl.Path, fl.Data)
			if err != nil {
				t.Fatalf("%s: %v", fl.Path, err)
			}
			if strings.Contains(fl.Path, "leaf") {
				nc, err := c.Hosts.NeighConfig()
				if err != nil || len(nc.Interfaces) != in.ServersPerLeaf {
					t.Errorf("%s: hosts: does not give the engine's config: %+v %v", fl.Path, nc, err)
				}
			}
		}
	}
	back, err := ParseFabric("fabric.yaml", files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Hosts != HostsNeighbor || !back.Servers[0].Routes[0].Onlink || back.Nodes[0].Interfaces[2].MAC != GatewayMAC {
		t.Errorf("fabric.yaml does not read back: %+v", back.Servers[0])
	}
}

func TestDualHomed(t *testing.T) {
	in := preset(t, "seed-003")
	in.Hosts = HostsNeighbor
	in.DualHomed = true
	p := mustBuild(t, in)
	for _, s := range p.Fabric().Servers {
		if len(s.Interfaces) != 2 {
			t.Fatalf("%s: %d ports; want 2", s.Name, len(s.Interfaces))
		}
		a, b := s.Interfaces[0], s.Interfaces[1]
		la, _, _ := strings.Cut(a.Peer, ":")
		lb, _, _ := strings.Cut(b.Peer, ":")
		if la == lb || la != s.Leaf {
			t.Errorf("%s: ports to %s and %s; want its leaf %s and the other leaf of its pair", s.Name, la, lb, s.Leaf)
		}
		if a.Addresses[0] != b.Addresses[0] || a.Addresses[0].Bits() != 32 {
			t.Errorf("%s: %v and %v; want the same /32 on both", s.Name, a.Addresses, b.Addresses)
		}
		if len(s.Routes) != 2 || s.Routes[0].Dev == s.Routes[1].Dev || s.Routes[0].Prefix != s.Routes[1].Prefix {
			t.Errorf("%s: routes %+v; want a default over both ports", s.Name, s.Routes)
		}
	}
	for _, n := range p.Switches {
		if h := p.Hosts(n); n.Role == RoleLeaf && (h == nil || !h.Multihomed || len(h.Interfaces) != 2*in.ServersPerLeaf) {
			t.Errorf("%s: hosts %+v; want multihomed with a port per server of the pair", n.Name, h)
		}
	}
	if got := len(p.Links); got != 4+2*4 {
		t.Errorf("%d links; want 4 fabric + 8 server links", got)
	}
}

func TestHostModeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   Intent
		want string
	}{
		{"dual-homed needs neighbor", Intent{DualHomed: true}, "dual-homed: needs hosts: neighbor"},
		{"dual-homed odd leaves", Intent{Hosts: HostsNeighbor, DualHomed: true, LeavesPerPod: 3}, "dual-homed: servers attach to a pair of leaves, but leaves-per-pod is 3"},
		{"shared pool too small", Intent{Hosts: HostsNeighbor, ServersPerLeaf: 100, Pools: Pools{Servers4: netip.MustParsePrefix("10.2.0.0/24")}},
			"pools.servers-ipv4: 10.2.0.0/24 is the shared server subnet of hosts: neighbor and holds 256 addresses, but server ids reach 400 (4 leaf ids x capacity.servers-per-leaf 100) plus network, gateway and broadcast, 147 short; a /23 or larger fits"},
		{"unknown mode", Intent{Hosts: "l2"}, `hosts: "l2"; valid: subnet`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want %q", err, c.want)
			}
		})
	}
}

func TestDCI(t *testing.T) {
	p := mustBuild(t, preset(t, "dci"))
	f := p.Fabric()
	asns := map[uint32]string{}
	var dci int
	for _, n := range f.Nodes {
		if o, dup := asns[n.ASN]; dup && n.Role != RoleSpine {
			t.Errorf("%s and %s share ASN %d", o, n.Name, n.ASN)
		}
		asns[n.ASN] = n.Name
		if n.Role == RoleBorderLeaf && n.FRR != "" {
			t.Errorf("%s: border leaf of a DCI got an frr.conf", n.Name)
		}
	}
	for _, l := range f.Links {
		if l.A.Node == "border1" && l.B.Node == "border2" {
			dci++
		}
	}
	if dci != 1 || len(f.Nodes) != 10 || len(f.Servers) != 8 {
		t.Fatalf("%d interconnects, %d switches, %d servers; want 1, 10, 8", dci, len(f.Nodes), len(f.Servers))
	}
	seen := map[netip.Prefix]string{}
	for _, s := range f.Servers {
		a := s.Interfaces[0].Addresses[0]
		if o, dup := seen[a]; dup {
			t.Errorf("%s and %s share %s", o, s.Name, a)
		}
		seen[a] = s.Name
	}
	if got := f.Servers[4]; got.Name != "server5" || got.Leaf != "leaf3" || got.Interfaces[0].Addresses[0] != netip.MustParsePrefix("10.2.0.6/32") {
		t.Errorf("site b's first server: %+v", got)
	}
	backup := p.Closd(p.Node("leaf3"))
	primary := p.Closd(p.Node("leaf1"))
	rm := backup.Policy.RouteMaps[0].Entries[0]
	if rm.Match.PrefixList != policyAggregate || len(rm.Set.Prepend) != dciPrepend || len(primary.Policy.RouteMaps[0].Entries) != 1 {
		t.Errorf("backup leaf route-map %+v, primary %+v", backup.Policy.RouteMaps, primary.Policy.RouteMaps)
	}
	var transit bool
	for _, e := range p.Closd(p.Node("border1")).Policy.PrefixLists[0].Entries {
		transit = transit || (e.Prefix == netip.MustParsePrefix("10.2.0.0/16") && e.LE == 32)
	}
	if !transit {
		t.Error("border1 does not pass the shared subnet's host routes")
	}
	for _, c := range []struct {
		in   Intent
		want string
	}{
		{Intent{Sites: 2, BorderLeaves: 1}, "sites: 2 sites share the server subnet, which needs hosts: neighbor"},
		{Intent{Sites: 2, Hosts: HostsNeighbor}, "want border-leaves: 1 or more"},
		{Intent{Sites: 3}, "sites: 3; valid: 1, or 2"},
	} {
		if _, err := Build(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.in, err, c.want)
		}
	}
}
