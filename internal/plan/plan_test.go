package plan

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func mustBuild(t testing.TB, in Intent) *Plan {
	t.Helper()
	p, err := Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

func preset(t testing.TB, name string) Intent {
	t.Helper()
	in, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestSeed003Lab(t *testing.T) {
	p := mustBuild(t, preset(t, "seed-003"))
	var names []string
	for _, n := range p.Switches {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, " "); got != "leaf1 leaf2 spine3 spine4" {
		t.Errorf("switches = %s", got)
	}
	var fabric, servers []string
	for _, l := range p.Links {
		if l.Kind == KindFabric {
			fabric = append(fabric, l.Name())
		} else {
			servers = append(servers, l.Name())
		}
	}
	// The seed's cabling: net1..net4.
	want := "leaf1:swp1--spine3:swp1 leaf1:swp2--spine4:swp1 leaf2:swp1--spine3:swp2 leaf2:swp2--spine4:swp2"
	if got := strings.Join(fabric, " "); got != want {
		t.Errorf("fabric links = %s\nwant %s", got, want)
	}
	want = "server1:eth1--leaf1:swp3 server2:eth1--leaf1:swp4 server3:eth1--leaf2:swp3 server4:eth1--leaf2:swp4"
	if got := strings.Join(servers, " "); got != want {
		t.Errorf("server links = %s\nwant %s", got, want)
	}
	if p.Node("spine3").ASN != p.Node("spine4").ASN || p.Node("leaf1").ASN == p.Node("leaf2").ASN {
		t.Errorf("ASNs: spines must share one, leaves must differ")
	}
	if p.Sessions != 4 {
		t.Errorf("sessions = %d, want 4", p.Sessions)
	}
	s1 := p.Node("server1")
	if s1.Interfaces[0].Addresses[0].String() != "10.2.0.2/24" || s1.Gateways[0].String() != "10.2.0.1" {
		t.Errorf("server1 = %+v gw %v", s1.Interfaces, s1.Gateways)
	}
}

// randomIntent draws a fabric of modest size; every field is valid.
func randomIntent(r *rand.Rand) Intent {
	in := Intent{Stages: 3, Planes: 1 + r.IntN(2), SpinesPerPlane: 1 + r.IntN(3), LeavesPerPod: 1 + r.IntN(6),
		ServersPerLeaf: r.IntN(4), BorderLeaves: r.IntN(3)}
	if r.IntN(2) == 0 {
		in.Stages = 5
		in.Pods = 1 + r.IntN(3)
		in.SuperSpinesPerPlane = 1 + r.IntN(3)
		in.ASN.ReuseLeafASNs = r.IntN(2) == 0
		if r.IntN(2) == 0 {
			in.SpineUplinks = 2 * in.SuperSpinesPerPlane
		}
	}
	if r.IntN(3) == 0 {
		in.LeafUplinks = 2 * in.Planes * in.SpinesPerPlane
	}
	switch r.IntN(4) {
	case 0:
		in.LinkAddressing = LinksIPv4
	case 1:
		in.LinkAddressing = LinksIPv6
		in.Pools.Loopbacks6 = netip.MustParsePrefix("fd00::/64")
	case 2:
		in.LinkAddressing = LinksDual
		in.Pools.Loopbacks6 = netip.MustParsePrefix("fd00::/64")
		in.Pools.Servers6 = netip.MustParsePrefix("fd00:2::/48")
	case 3:
		in.LinkAddressing = LinksUnnumbered
	}
	if r.IntN(2) == 0 {
		in.ASN.Scheme = ASNPrivate4
	}
	return in
}

func TestPropertiesRandomFabrics(t *testing.T) {
	r := rand.New(rand.NewPCG(7938, 2))
	for i := range 60 {
		in := randomIntent(r)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p := mustBuild(t, in)
			checkPlan(t, p)
		})
	}
}

func checkPlan(t *testing.T, p *Plan) {
	t.Helper()
	in := p.Intent
	seenAddr := map[netip.Addr]string{}
	uniqueAddr := func(a netip.Addr, who string) {
		if o, dup := seenAddr[a]; dup {
			t.Errorf("address %s on %s and %s", a, o, who)
		}
		seenAddr[a] = who
	}
	names := map[string]bool{}
	var leaves, spines, supers, borders []*Node
	tier1ASN := map[uint32]bool{}
	podASN := map[int]uint32{}
	leafASN := map[uint32]int{}
	for _, n := range append(append([]*Node{}, p.Switches...), p.Servers...) {
		if names[n.Name] {
			t.Errorf("name %s twice", n.Name)
		}
		names[n.Name] = true
		for _, lo := range n.Loopbacks {
			uniqueAddr(lo.Addr(), n.Name+":lo")
		}
		for _, ifc := range n.Interfaces {
			for _, a := range ifc.Addresses {
				uniqueAddr(a.Addr(), n.Name+":"+ifc.Name)
			}
		}
		switch n.Role {
		case RoleLeaf:
			leaves = append(leaves, n)
			if in.ASN.ReuseLeafASNs {
				if _, dup := leafASN[n.ASN]; dup && leafASN[n.ASN] == n.Pod {
					t.Errorf("leaf ASN %d twice in pod %d", n.ASN, n.Pod)
				}
				leafASN[n.ASN] = n.Pod
			} else {
				if _, dup := leafASN[n.ASN]; dup {
					t.Errorf("leaf ASN %d twice", n.ASN)
				}
				leafASN[n.ASN] = n.Pod
			}
			if in.ASN.ReuseLeafASNs && in.Pods > 1 && n.AllowASIn == 0 {
				t.Errorf("%s reuses its ASN across pods but has no allowas-in", n.Name)
			}
		case RoleSpine:
			spines = append(spines, n)
			if in.Stages == 3 {
				tier1ASN[n.ASN] = true
			} else if a, ok := podASN[n.Pod]; ok && a != n.ASN {
				t.Errorf("pod %d spines have ASNs %d and %d", n.Pod, a, n.ASN)
			} else {
				podASN[n.Pod] = n.ASN
			}
		case RoleSuperSpine:
			supers = append(supers, n)
			tier1ASN[n.ASN] = true
		case RoleBorderLeaf:
			borders = append(borders, n)
		}
		if n.Role != RoleServer {
			lo, hi := uint32(64512), uint32(65534)
			if in.ASN.Scheme == ASNPrivate4 {
				lo, hi = 4200000000, 4294967294
			}
			if n.ASN < lo || n.ASN > hi {
				t.Errorf("%s ASN %d outside %d-%d", n.Name, n.ASN, lo, hi)
			}
		}
	}
	if len(tier1ASN) != 1 {
		t.Errorf("middle stage has %d ASNs, want 1", len(tier1ASN))
	}
	seenPodASN := map[uint32]bool{}
	for _, a := range podASN {
		if seenPodASN[a] || tier1ASN[a] {
			t.Errorf("pod ASN %d reused", a)
		}
		seenPodASN[a] = true
	}
	for a := range leafASN {
		if seenPodASN[a] || tier1ASN[a] {
			t.Errorf("leaf ASN %d collides with a spine ASN", a)
		}
	}
	// Links: both ends in one subnet, upper end on the upper tier.
	adj := map[string][]string{}
	fabricLinks := 0
	for _, l := range p.Links {
		a, b := p.Node(l.A.Node), p.Node(l.B.Node)
		if a == nil || b == nil {
			t.Fatalf("link %s names a missing node", l.Name())
		}
		if l.Kind == KindFabric {
			fabricLinks++
			if len(l.A.Addresses) != len(l.B.Addresses) {
				t.Errorf("link %s: address counts differ", l.Name())
			}
			for i := range l.A.Addresses {
				if l.A.Addresses[i].Masked() != l.B.Addresses[i].Masked() {
					t.Errorf("link %s: %s and %s not in one subnet", l.Name(), l.A.Addresses[i], l.B.Addresses[i])
				}
			}
			if b.Tier >= a.Tier {
				t.Errorf("link %s: B tier %d not above A tier %d", l.Name(), b.Tier, a.Tier)
			}
			adj[a.Name] = append(adj[a.Name], b.Name)
			adj[b.Name] = append(adj[b.Name], a.Name)
		} else {
			srv := a
			leaf := p.Node(srv.Leaf)
			for i, addr := range srv.Interfaces[0].Addresses {
				if !leaf.ServerSubnets[i].Contains(addr.Addr()) || !leaf.ServerSubnets[i].Contains(srv.Gateways[i]) {
					t.Errorf("server %s address %s or gateway %s outside %s", srv.Name, addr, srv.Gateways[i], leaf.ServerSubnets[i])
				}
			}
		}
	}
	// Every leaf reaches every spine of its plane(s).
	for _, leaf := range leaves {
		reach := map[string]bool{leaf.Name: true}
		queue := []string{leaf.Name}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, m := range adj[n] {
				if !reach[m] {
					reach[m] = true
					queue = append(queue, m)
				}
			}
		}
		for _, sp := range spines {
			if !reach[sp.Name] {
				t.Errorf("%s cannot reach %s", leaf.Name, sp.Name)
			}
		}
	}
	// Session count formula.
	leafPar := in.LeafUplinks / (in.Planes * in.SpinesPerPlane)
	wantLinks := len(leaves) * in.Planes * in.SpinesPerPlane * leafPar
	tier1 := len(spines)
	if in.Stages == 5 {
		wantLinks += len(spines) * in.SuperSpinesPerPlane * (in.SpineUplinks / in.SuperSpinesPerPlane)
		tier1 = len(supers)
	}
	wantLinks += len(borders) * tier1
	if fabricLinks != wantLinks {
		t.Errorf("fabric links = %d, want %d", fabricLinks, wantLinks)
	}
	perLink := 1
	if in.LinkAddressing == LinksDual {
		perLink = 2
	}
	if p.Sessions != wantLinks*perLink {
		t.Errorf("sessions = %d, want %d", p.Sessions, wantLinks*perLink)
	}
	// Every session is configured on both ends.
	sessions := 0
	for _, n := range p.Switches {
		sessions += len(p.peerings(n))
	}
	if sessions != 2*p.Sessions {
		t.Errorf("configured session ends = %d, want %d", sessions, 2*p.Sessions)
	}
}

// key identifies a fabric link by its nodes and the lower end's port,
// which stay the same as a fabric grows.
func linkKeys(p *Plan) map[string][]netip.Prefix {
	m := map[string][]netip.Prefix{}
	for _, l := range p.Links {
		m[l.A.String()+">"+l.B.Node] = append(append([]netip.Prefix{}, l.A.Addresses...), l.B.Addresses...)
	}
	return m
}

func TestGrowthKeepsAddressesAndASNs(t *testing.T) {
	for _, tc := range []struct {
		name        string
		base, grown Intent
	}{
		{"3-stage more leaves",
			Intent{Stages: 3, SpinesPerPlane: 4, LeavesPerPod: 4, ServersPerLeaf: 2, Capacity: Capacity{ServersPerLeaf: 8}},
			Intent{Stages: 3, SpinesPerPlane: 4, LeavesPerPod: 9, ServersPerLeaf: 3, BorderLeaves: 2, Capacity: Capacity{ServersPerLeaf: 8}}},
		{"5-stage more leaves and pods",
			Intent{Stages: 5, Planes: 2, SpinesPerPlane: 1, Pods: 2, LeavesPerPod: 3, SuperSpinesPerPlane: 2, ServersPerLeaf: 1},
			Intent{Stages: 5, Planes: 2, SpinesPerPlane: 1, Pods: 4, LeavesPerPod: 5, SuperSpinesPerPlane: 3, ServersPerLeaf: 1, BorderLeaves: 1}},
		{"5-stage reuse dual-stack",
			Intent{Stages: 5, Planes: 2, SpinesPerPlane: 2, Pods: 1, LeavesPerPod: 2, SuperSpinesPerPlane: 1, ASN: ASNIntent{ReuseLeafASNs: true},
				LinkAddressing: LinksDual, Pools: Pools{Loopbacks6: netip.MustParsePrefix("fd00::/64"), Servers6: netip.MustParsePrefix("fd00:2::/48")}},
			Intent{Stages: 5, Planes: 2, SpinesPerPlane: 2, Pods: 3, LeavesPerPod: 6, SuperSpinesPerPlane: 1, ASN: ASNIntent{ReuseLeafASNs: true},
				LinkAddressing: LinksDual, Pools: Pools{Loopbacks6: netip.MustParsePrefix("fd00::/64"), Servers6: netip.MustParsePrefix("fd00:2::/48")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := mustBuild(t, tc.base), mustBuild(t, tc.grown)
			if len(b.Switches) <= len(a.Switches) {
				t.Fatal("grown fabric is not larger")
			}
			for _, n := range append(append([]*Node{}, a.Switches...), a.Servers...) {
				m := b.Node(n.Name)
				if m == nil {
					t.Errorf("%s disappeared", n.Name)
					continue
				}
				if m.ASN != n.ASN || fmt.Sprint(m.Loopbacks) != fmt.Sprint(n.Loopbacks) || fmt.Sprint(m.ServerSubnets) != fmt.Sprint(n.ServerSubnets) {
					t.Errorf("%s changed: ASN %d->%d loopbacks %v->%v subnets %v->%v", n.Name, n.ASN, m.ASN, n.Loopbacks, m.Loopbacks, n.ServerSubnets, m.ServerSubnets)
				}
				if n.Role == RoleServer && fmt.Sprint(n.Interfaces[0].Addresses) != fmt.Sprint(m.Interfaces[0].Addresses) {
					t.Errorf("%s address changed: %v -> %v", n.Name, n.Interfaces[0].Addresses, m.Interfaces[0].Addresses)
				}
			}
			ka, kb := linkKeys(a), linkKeys(b)
			for k, addrs := range ka {
				if got, ok := kb[k]; !ok {
					t.Errorf("link %s disappeared", k)
				} else if fmt.Sprint(got) != fmt.Sprint(addrs) {
					t.Errorf("link %s addresses %v -> %v", k, addrs, got)
				}
			}
			checkPlan(t, b)
		})
	}
}

func TestBadIntent(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Intent
		want []string
	}{
		{"negative", Intent{ServersPerLeaf: -1, LeavesPerPod: -2}, []string{"leaves-per-pod: -2; want 1 or more", "servers-per-leaf: -1; want 0 or more"}},
		{"stages", Intent{Stages: 4}, []string{"stages: 4; valid: 3 or 5"}},
		{"pods in 3-stage", Intent{Pods: 2}, []string{"pods: 2; a 3-stage fabric has one pod"}},
		{"odd radix", Intent{SpinesPerPlane: 4, LeafUplinks: 6}, []string{"leaf-uplinks: 6 uplinks do not divide evenly over 4 spines per pod (odd radix); want a multiple of 4"}},
		{"odd spine radix", Intent{Stages: 5, SuperSpinesPerPlane: 3, SpineUplinks: 4}, []string{"spine-uplinks: 4 uplinks do not divide evenly over 3 super-spines"}},
		{"pool too small", Intent{LeavesPerPod: 40, Pools: Pools{Loopbacks4: netip.MustParsePrefix("10.0.0.0/27")}},
			[]string{"pools.loopbacks-ipv4: 10.0.0.0/27 gives leaves 16 addresses (its 4/8 share) but leaf ids up to 40", "need 41, 25 short; a /25 or larger fits"}},
		{"links too small", Intent{LeavesPerPod: 10, Pools: Pools{Links4: netip.MustParsePrefix("10.1.0.0/24")}},
			[]string{"pools.links-ipv4: 10.1.0.0/24 gives leaf uplinks 128 addresses", "need 320, 192 short; a /22 or larger fits"}},
		{"servers pool", Intent{Pools: Pools{Servers4: netip.MustParsePrefix("10.128.0.0/25")}},
			[]string{"pools.servers-ipv4: 10.128.0.0/25 holds 2 /26 server subnets but leaf ids reach 4"}},
		{"overlap", Intent{Pools: Pools{Links4: netip.MustParsePrefix("10.0.0.0/17")}}, []string{"pools.links-ipv4: 10.0.0.0/17 overlaps pools.loopbacks-ipv4 10.0.0.0/16"}},
		{"family", Intent{Pools: Pools{Loopbacks4: netip.MustParsePrefix("fd00::/64")}}, []string{"pools.loopbacks-ipv4: fd00::/64 is the wrong family"}},
		{"asn exhaustion 3-stage", Intent{LeavesPerPod: 1100, Capacity: Capacity{LeavesPerPod: 1100},
			Pools: Pools{Loopbacks4: netip.MustParsePrefix("10.0.0.0/16"), Links4: netip.MustParsePrefix("10.64.0.0/12")}},
			[]string{"asn.scheme: private-2 holds 1,023 ASNs (64512-65534) but this fabric needs 1,117", "use asn.scheme: private-4"}},
		{"asn exhaustion 5-stage", Intent{Stages: 5, Pods: 20, LeavesPerPod: 60, Pools: Pools{Links4: netip.MustParsePrefix("10.64.0.0/12")}},
			[]string{"asn.scheme: private-2 holds 1,023 ASNs", "set asn.reuse-leaf-asns: true"}},
		{"anycast without bgp hosts", Intent{Anycast: []AnycastIntent{{Name: "dns"}}}, []string{`anycast: services run on hosts that speak BGP`}},
		{"links mode", Intent{LinkAddressing: "/30"}, []string{`link-addressing: "/30"; valid: ipv4 (/31), ipv6 (/127), dual`}},
		{"ipv6 pools with ipv4 links", Intent{Pools: Pools{Loopbacks6: netip.MustParsePrefix("fd00::/64")}}, []string{"link-addressing: ipv4 links carry only IPv4"}},
		{"names collide", Intent{BorderLeaves: 1, Names: Names{BorderLeaf: "leaf"}}, []string{"names.border-leaf: border-leaf leaf1 has the same name as leaf leaf1"}},
		{"capacity", Intent{Stages: 5, LeavesPerPod: 70}, []string{"capacity.leaves-per-pod: 64 is less than leaves-per-pod 70; set capacity.leaves-per-pod to at least 70"}},
		{"server subnet too small", Intent{ServersPerLeaf: 20, ServerSubnet: SubnetLengths{IPv4: 28}}, []string{"server-subnet-length.ipv4: /28 holds 13 servers but capacity.servers-per-leaf is 20; want /27 or shorter"}},
		{"bfd", Intent{BFD: BFDIntent{Interval: 5}}, []string{"bfd.interval: 5 ms; want 10..60000"}},
		{"fabric name", Intent{Name: "my fabric"}, []string{`name: "my fabric"; want letters, digits, _ and -`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks\n%s", err, w)
				}
			}
		})
	}
}

func TestOversubscriptionWarning(t *testing.T) {
	p := mustBuild(t, Intent{SpinesPerPlane: 2, ServersPerLeaf: 40, Capacity: Capacity{ServersPerLeaf: 40}, Oversubscription: Oversub{WarnAbove: 2}})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "oversubscription: leaf 5.00:1 (1000 Gbit/s down, 200 up) is above oversubscription.warn-above 2") {
		t.Errorf("warnings = %q", p.Warnings)
	}
	if mustBuild(t, preset(t, "seed-003")).Warnings != nil {
		t.Error("seed-003 should not warn")
	}
}
