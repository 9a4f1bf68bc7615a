package plan

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/closnet/clos/internal/config"
)

// Policy names used in generated configs.
const (
	policyLocal   = "LOCAL"
	policyLocal6  = "LOCAL6"
	policyToUpper = "TO-FABRIC"
	bfdProfile    = "fabric"
)

// peering is one BGP session as seen from one node.
type peering struct {
	iface    Interface
	peer     *Node
	addr     netip.Addr // zero for unnumbered
	families []string
	extNH    bool // IPv4 over an IPv6 next hop (RFC 8950)
}

func (p *Plan) hasIPv6() bool {
	return p.Intent.Pools.Loopbacks6.IsValid() || p.Intent.Pools.Servers6.IsValid()
}

// peerings lists a switch's sessions in interface order.
func (p *Plan) peerings(n *Node) []peering {
	var out []peering
	mode := p.Intent.LinkAddressing
	for _, ifc := range n.Interfaces {
		if ifc.Kind != KindFabric {
			continue
		}
		peerName, peerIf, _ := strings.Cut(ifc.Peer, ":")
		peer := p.byName[peerName]
		var peerAddrs []netip.Prefix
		for _, pi := range peer.Interfaces {
			if pi.Name == peerIf {
				peerAddrs = pi.Addresses
			}
		}
		switch mode {
		case LinksUnnumbered:
			fams := []string{config.IPv4Unicast}
			if p.hasIPv6() {
				fams = append(fams, config.IPv6Unicast)
			}
			out = append(out, peering{iface: ifc, peer: peer, families: fams, extNH: true})
		case LinksIPv4:
			out = append(out, peering{iface: ifc, peer: peer, addr: peerAddrs[0].Addr(), families: []string{config.IPv4Unicast}})
		case LinksIPv6:
			fams := []string{config.IPv4Unicast, config.IPv6Unicast}
			out = append(out, peering{iface: ifc, peer: peer, addr: peerAddrs[0].Addr(), families: fams, extNH: true})
		case LinksDual:
			out = append(out, peering{iface: ifc, peer: peer, addr: peerAddrs[0].Addr(), families: []string{config.IPv4Unicast}})
			out = append(out, peering{iface: ifc, peer: peer, addr: peerAddrs[1].Addr(), families: []string{config.IPv6Unicast}})
		}
	}
	return out
}

// originated is what a switch announces: its loopbacks and, on a leaf, its
// server subnets (RFC 7938 7.2.3: point-to-point links are not announced).
func originated(n *Node) []netip.Prefix {
	return append(append([]netip.Prefix{}, n.Loopbacks...), n.ServerSubnets...)
}

// filtersUp reports whether the node only announces its own prefixes
// upstream: leaves and border leaves must never become transit.
func filtersUp(n *Node) bool { return n.Role == RoleLeaf || n.Role == RoleBorderLeaf }

// closdBase is the part of node n's closd config that switches and
// servers share: identity, listener, API socket, logging and BGP defaults
// with the fabric's BFD timers.
func (p *Plan) closdBase(n *Node, role string) *config.Config {
	return &config.Config{
		RouterID: n.RouterID, ASN: n.ASN, Role: role,
		Listen: config.Listen{Port: config.DefaultPort},
		// One socket per node, so a lab can run every closd on one box.
		API: config.API{Socket: "/run/closd/" + n.Name + ".sock"},
		Log: config.Log{Level: config.DefaultLogLevel, Format: config.DefaultLogFormat},
		BGP: config.BGP{
			Timers:         config.Timers{Keepalive: config.DefaultKeepalive, Hold: config.DefaultHold},
			MaxPaths:       config.DefaultMaxPaths,
			MultipathRelax: true,
			BFD:            config.BFD{Interval: p.Intent.BFD.Interval, Multiplier: p.Intent.BFD.Multiplier},
		},
	}
}

// Closd returns the closd config of switch n.
func (p *Plan) Closd(n *Node) *config.Config {
	in := p.Intent
	c := p.closdBase(n, "switch")
	c.Networks = originated(n)
	if !*in.BFD.Enabled {
		// Without BFD a link that fails silently is only seen at hold
		// expiry; with the N bit (RFC 8538) the peer's routes would then
		// be kept for its restart time, through the dead link.
		off := false
		c.GracefulRestart = &config.GracefulRestart{Notification: &off}
	}
	if p.Intent.Hosts == HostsNeighbor && n.Role == RoleLeaf {
		// The shared subnet and host routes come from hosts: (aggregate).
		c.Networks = append([]netip.Prefix{}, n.Loopbacks...)
		c.Hosts = p.Hosts(n)
	}
	for _, pr := range p.peerings(n) {
		nb := config.Neighbor{
			RemoteAS:    config.ASN(pr.peer.ASN),
			Description: pr.peer.Name + ":" + strings.SplitN(pr.iface.Peer, ":", 2)[1],
			Families:    pr.families,
			BFD:         config.NeighborBFD{Enabled: *in.BFD.Enabled},
			TTLSecurity: false,
		}
		if pr.addr.IsValid() {
			nb.Address = pr.addr
		} else {
			nb.Interface = pr.iface.Name
		}
		if pr.peer.Tier < n.Tier {
			nb.AllowASIn = n.AllowASIn
			if filtersUp(n) {
				nb.RouteMap.Out = policyToUpper
			}
		}
		c.Neighbors = append(c.Neighbors, nb)
	}
	if filtersUp(n) {
		pl := config.PrefixList{Name: policyLocal}
		for i, e := range p.localEntries(n) {
			pl.Entries = append(pl.Entries, config.PrefixListEntry{Seq: 10 * (i + 1), Action: "permit", Prefix: e.prefix, LE: e.le})
		}
		c.Policy.PrefixLists = []config.PrefixList{pl}
		c.Policy.RouteMaps = []config.RouteMap{{Name: policyToUpper, Entries: []config.RouteMapEntry{
			{Seq: 10, Action: "permit", Match: config.RouteMapMatch{PrefixList: policyLocal}},
		}}}
		p.backupPrepend(n, c)
	}
	for _, ifc := range n.Interfaces {
		if ifc.Kind == KindBridge {
			c.Interfaces = append(c.Interfaces, config.Interface{Name: ifc.Name, Prefixes: n.ServerSubnets})
		}
	}
	p.leafHostClosd(n, c)
	return c
}

// FRR returns frr.conf of switch n in RFC 7938 style.
func (p *Plan) FRR(n *Node) string {
	in := p.Intent
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("! frr.conf for %s written by clos plan (fabric %s)", n.Name, in.Name)
	frrHead(w, n.Name)
	// A switch routes; new namespaces and containers start with forwarding off.
	w("ip forwarding")
	if p.hasIPv6() {
		w("ipv6 forwarding")
	}
	// Plain multipath routes, not kernel nexthop objects: the kernel drops
	// the objects of a link that goes down and FRR 8.4 does not put them
	// back when it comes up, so a restored uplink would carry no traffic.
	w("no zebra nexthop kernel enable")
	w("!")
	frrLoopback(w, n.Loopbacks)
	for _, ifc := range n.Interfaces {
		if ifc.Kind == KindServer {
			continue
		}
		w("interface %s", ifc.Name)
		if ifc.Peer != "" {
			w(" description %s", ifc.Peer)
		} else if ifc.Kind == KindBridge {
			w(" description servers on %s", strings.Join(ifc.Members, " "))
		}
		for _, a := range ifc.Addresses {
			w(" %s address %s", ipKw(a.Addr()), a)
		}
		if ifc.Kind == KindFabric && in.LinkAddressing == LinksUnnumbered {
			// BGP unnumbered finds the peer through router advertisements.
			w(" ipv6 nd ra-interval 5")
			w(" no ipv6 nd suppress-ra")
		}
		w("exit")
		w("!")
	}
	orig := originated(n)
	if filtersUp(n) {
		frrExportPolicy(w, orig)
		w("!")
	}
	p.frrHostPolicy(w, n)
	peers := p.peerings(n)
	frrRouterBGP(w, n.ASN, n.RouterID)
	for _, pr := range peers {
		id := peerID(pr)
		if pr.addr.IsValid() {
			w(" neighbor %s remote-as %d", id, pr.peer.ASN)
		} else {
			w(" neighbor %s interface remote-as %d", id, pr.peer.ASN)
		}
		w(" neighbor %s description %s", id, pr.iface.Peer)
		if *in.BFD.Enabled {
			w(" neighbor %s bfd profile %s", id, bfdProfile)
		}
		if pr.extNH && pr.addr.IsValid() {
			w(" neighbor %s capability extended-nexthop", id)
		}
	}
	p.frrHostNeighbors(w, n)
	for _, fam := range []string{config.IPv4Unicast, config.IPv6Unicast} {
		var lines []string
		for _, pf := range orig {
			if pf.Addr().Is4() == (fam == config.IPv4Unicast) {
				lines = append(lines, fmt.Sprintf("  network %s", pf))
			}
		}
		active := 0
		for _, pr := range peers {
			if !contains(pr.families, fam) {
				continue
			}
			active++
			id := peerID(pr)
			lines = append(lines, fmt.Sprintf("  neighbor %s activate", id))
			if pr.peer.Tier < n.Tier {
				if n.AllowASIn > 0 {
					lines = append(lines, fmt.Sprintf("  neighbor %s allowas-in %d", id, n.AllowASIn))
				}
				if filtersUp(n) {
					lines = append(lines, fmt.Sprintf("  neighbor %s route-map %s out", id, policyToUpper))
				}
			}
		}
		lines = append(lines, p.frrHostFamily(n, fam)...)
		if active == 0 && len(lines) == 0 {
			continue
		}
		frrFamily(w, strings.Replace(fam, "-", " ", 1), lines)
	}
	w("exit")
	w("!")
	frrBFDProfile(w, in.BFD)
	return b.String()
}

func peerID(pr peering) string {
	if pr.addr.IsValid() {
		return pr.addr.String()
	}
	return pr.iface.Name
}

func ipKw(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ipv6"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
