package plan

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/closnet/clos/internal/config"
)

// Host attachment modes (intent field hosts, clos plan --hosts).
const (
	// HostsSubnet: a subnet per leaf, bridged over its server ports.
	HostsSubnet = "subnet"
	// HostsNeighbor: one shared subnet for the fabric, an anycast gateway
	// on every server port, and host routes learned from ARP/ND by closd
	// (docs/host-routes.md).
	HostsNeighbor = "neighbor"
	// HostsBGP: servers run BGP themselves (issue 12).
	HostsBGP = "bgp"
)

// GatewayMAC is the anycast gateway's virtual MAC on every server port of
// every leaf in neighbor mode: locally administered, so it never collides
// with a vendor MAC, and the same everywhere so a VM that moves keeps its
// ARP entry for the gateway.
const GatewayMAC = "02:c1:05:00:00:01"

// HostCommunity tags every host route closd originates in neighbor mode,
// so operators can match them in policy.
const HostCommunity = "65000:100"

// shared reports whether servers use the fabric-wide subnet of neighbor mode.
func (b *builder) shared() bool { return b.in.Hosts == HostsNeighbor }

// checkHostMode validates the hosts mode and the options that depend on it.
func (b *builder) checkHostMode() {
	in := &b.in
	switch in.Hosts {
	case HostsSubnet, HostsNeighbor, HostsBGP:
	default:
		b.errf("hosts", "%q; valid: subnet (a subnet per leaf), neighbor (shared subnet, host routes from ARP/ND), bgp (closd on every server)", in.Hosts)
	}
	b.checkSites()
	if in.DualHomed {
		if in.Hosts != HostsNeighbor {
			b.errf("dual-homed", "needs hosts: neighbor (both leaves learn the server's one address); got hosts: %s", in.Hosts)
		}
		if in.LeavesPerPod%2 != 0 {
			b.errf("dual-homed", "servers attach to a pair of leaves, but leaves-per-pod is %d; want an even number such as %d", in.LeavesPerPod, in.LeavesPerPod+1)
		}
	}
}

// sharedSubnets are the subnets every server shares in neighbor mode: the
// servers pools themselves, so a server's address depends on its stable id
// alone and never on which leaf it sits behind.
func (b *builder) sharedSubnets() []netip.Prefix {
	out := []netip.Prefix{b.in.Pools.Servers4}
	if b.in.Pools.Servers6.IsValid() {
		out = append(out, b.in.Pools.Servers6)
	}
	return out
}

// checkSharedPools: each servers pool must hold the network address, the
// gateway, every possible server id and (IPv4) the broadcast address.
func (b *builder) checkSharedPools() {
	maxID := uint64(b.serverID(b.maxLeafID(), b.in.Capacity.ServersPerLeaf))
	for _, sp := range []struct {
		field string
		p     netip.Prefix
	}{{"pools.servers-ipv4", b.in.Pools.Servers4}, {"pools.servers-ipv6", b.in.Pools.Servers6}} {
		if !sp.p.IsValid() {
			continue
		}
		need := maxID + 3
		if size := poolSize(sp.p); need > size {
			b.errf(sp.field, "%s is the shared server subnet of hosts: neighbor and holds %d addresses, but server ids reach %d (%d leaf ids x capacity.servers-per-leaf %d) plus network, gateway and broadcast, %d short; a /%d or larger fits",
				sp.p, size, maxID, b.maxLeafID(), b.in.Capacity.ServersPerLeaf, need-size, fitBits(need, sp.p.Addr().BitLen()))
		}
	}
}

// gateways are the anycast gateway addresses with the shared subnets'
// lengths: the first address of each.
func (b *builder) gateways() []netip.Prefix {
	var out []netip.Prefix
	for _, sub := range b.sharedSubnets() {
		gw, _ := addrAt(sub, 1)
		out = append(out, netip.PrefixFrom(gw, sub.Bits()))
	}
	return out
}

// partner is the other leaf of a dual-homed pair: leaves 1 and 2 of a pod
// form a pair, 3 and 4, and so on.
func (b *builder) partner(leaves []*Node, li int) *Node {
	if li%2 == 0 {
		return leaves[li+1]
	}
	return leaves[li-1]
}

// neighborServers wires servers in neighbor mode: every server port of a
// leaf is its own routed link carrying the anycast gateway (no bridge);
// a server has its host address (/32, /128) from the shared subnet at
// offset id+1 and a default route via the gateway. Dual-homed servers have
// a second port (eth2) to the partner leaf with the same address, and an
// ECMP default over both.
func (b *builder) neighborServers(leaves []*Node) {
	in := b.in
	byLeaf := map[string][]*Node{}
	for _, s := range b.p.Servers {
		byLeaf[s.Leaf] = append(byLeaf[s.Leaf], s)
	}
	gws := b.gateways()
	hostAddrs := func(s *Node) []netip.Prefix {
		var out []netip.Prefix
		for _, sub := range b.sharedSubnets() {
			a, _ := addrAt(sub, uint64(s.ID)+1)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
		return out
	}
	attach := func(leaf *Node, port string, s *Node, srvPort string) {
		addrs := hostAddrs(s)
		s.Interfaces = append(s.Interfaces, Interface{Name: srvPort, Kind: KindServer, Addresses: addrs, Peer: leaf.Name + ":" + port})
		leaf.Interfaces = append(leaf.Interfaces, Interface{Name: port, Kind: KindServer, Addresses: gws, Peer: s.Name + ":" + srvPort, MAC: GatewayMAC})
		b.p.Links = append(b.p.Links, Link{Kind: KindServer, A: End{s.Name, srvPort, addrs}, B: End{leaf.Name, port, gws}, Subnets: leaf.ServerSubnets})
	}
	for _, s := range b.p.Servers {
		for _, gw := range gws {
			s.Gateways = append(s.Gateways, gw.Addr())
		}
	}
	for _, leaf := range leaves {
		for j, s := range byLeaf[leaf.Name] {
			attach(leaf, swp(in.LeafUplinks+j+1), s, serverPort)
		}
	}
	if !in.DualHomed {
		return
	}
	// Second links after every first one, so each server's eth1 goes to
	// its own leaf and a leaf's partner ports follow its own.
	for li, leaf := range leaves {
		for j, s := range byLeaf[b.partner(leaves, li).Name] {
			attach(leaf, swp(in.LeafUplinks+in.ServersPerLeaf+j+1), s, serverPort2)
		}
	}
}

// serverPortsPerLeaf counts a leaf's server ports: a dual-homed pair's
// leaves each have a port for every server of the pair.
func (b *builder) serverPortsPerLeaf() int {
	if b.in.DualHomed {
		return 2 * b.in.ServersPerLeaf
	}
	return b.in.ServersPerLeaf
}

// serverPort2 is a dual-homed server's port to its second leaf.
const serverPort2 = "eth2"

// serverRoutes are a server's static routes in fabric.yaml. In subnet mode
// a default via each gateway on the server's port; in neighbor mode the
// server's addresses are host prefixes, so the gateway is reached on-link,
// over every port at once when the server is dual-homed (ECMP).
func (p *Plan) serverRoutes(s *Node) []FabricRoute {
	out := []FabricRoute{}
	for _, gw := range s.Gateways {
		def := netip.MustParsePrefix("0.0.0.0/0")
		if gw.Is6() {
			def = netip.MustParsePrefix("::/0")
		}
		if p.Intent.Hosts != HostsNeighbor {
			out = append(out, FabricRoute{Prefix: def, Via: gw, Dev: s.Interfaces[0].Name})
			continue
		}
		for _, ifc := range s.Interfaces {
			out = append(out, FabricRoute{Prefix: def, Via: gw, Dev: ifc.Name, Onlink: true})
		}
	}
	return out
}

// Probe timers of the hosts: section. A leaf that sees another leaf claim
// one of its hosts with a newer sequence keeps forwarding to its own port
// until its probes go unanswered, so the probe time bounds the data-plane
// gap of a move for traffic entering at the old leaf. A live host answers
// an ARP or NS in well under a millisecond, so 100 ms x 2 loses nothing
// and bounds the gap near 200 ms (the engine's default is 1 s x 3).
const (
	hostProbeInterval = 100 * time.Millisecond
	hostProbeRetries  = 2
)

// Hosts returns closd's hosts: section for leaf n in neighbor mode, nil
// otherwise. The other timers are the engine's defaults, written out so
// the file says what runs.
func (p *Plan) Hosts(n *Node) *config.Hosts {
	if p.Intent.Hosts != HostsNeighbor || n.Role != RoleLeaf {
		return nil
	}
	h := &config.Hosts{
		AgingTime: config.Duration(300 * time.Second), ProbeInterval: config.Duration(hostProbeInterval), ProbeRetries: hostProbeRetries,
		MoveLimit: 5, MoveWindow: config.Duration(180 * time.Second), FreezeHold: config.Duration(600 * time.Second),
		Multihomed: p.Intent.DualHomed, Community: HostCommunity,
		Gateway: config.HostGateway{MAC: GatewayMAC}, Aggregate: true,
	}
	for _, ifc := range n.Interfaces {
		if ifc.Kind != KindServer {
			continue
		}
		h.Interfaces = append(h.Interfaces, config.HostInterface{Name: ifc.Name, Allowed: append([]netip.Prefix{}, n.ServerSubnets...)})
		for _, a := range ifc.Addresses {
			if a.Addr().Is4() {
				h.Gateway.IPv4 = a
			} else {
				h.Gateway.IPv6 = a
			}
		}
	}
	if len(h.Interfaces) == 0 {
		return nil
	}
	return h
}

// writesFRR reports whether switch n gets an frr.conf: FRR has no way to
// learn hosts from ARP/ND and originate them with a mobility sequence, so
// in neighbor mode leaves run closd only.
func (p *Plan) writesFRR(n *Node) bool {
	return (p.Intent.Hosts != HostsNeighbor || n.Role != RoleLeaf) && !p.dciBorder(n)
}

// localEntries is what a leaf may announce upstream: its loopbacks and
// its server subnets; in neighbor mode the shared subnets with every host
// route inside them.
func (p *Plan) localEntries(n *Node) []hostEntry {
	var out []hostEntry
	for _, pf := range n.Loopbacks {
		out = append(out, hostEntry{pf, 0})
	}
	for _, pf := range n.ServerSubnets {
		le := 0
		if p.Intent.Hosts == HostsNeighbor {
			le = pf.Addr().BitLen()
		}
		out = append(out, hostEntry{pf, le})
	}
	if p.dciBorder(n) {
		// Host routes and aggregates of the other site pass through.
		for _, pf := range p.Intent.sharedPools() {
			out = append(out, hostEntry{pf, pf.Addr().BitLen()})
		}
	}
	return out
}

type hostEntry struct {
	prefix netip.Prefix
	le     int
}

// HostsNote is the line clos plan prints about the hosts mode, empty in
// subnet mode.
func (p *Plan) HostsNote() string {
	if p.Intent.Hosts != HostsNeighbor {
		return ""
	}
	var gws []string
	for _, s := range p.Servers {
		for _, g := range s.Gateways {
			gws = append(gws, g.String())
		}
		break
	}
	return fmt.Sprintf("hosts: neighbor: shared subnet %s, anycast gateway %s (MAC %s); leaves run closd (no frr.conf for leaves)",
		prefixes(p.Intent.sharedPools()), strings.Join(gws, " "), GatewayMAC)
}

func (in Intent) sharedPools() []netip.Prefix {
	out := []netip.Prefix{in.Pools.Servers4}
	if in.Pools.Servers6.IsValid() {
		out = append(out, in.Pools.Servers6)
	}
	return out
}
