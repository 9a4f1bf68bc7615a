package plan

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/config"
)

// AnycastIntent places one anycast service (seed 000: a stateless service
// such as DNS on a shared address) on servers; hosts: bgp only. Flag form:
// --anycast NAME=PREFIX[,PREFIX...]:SERVER[,SERVER...].
type AnycastIntent struct {
	Name     string         `yaml:"name"`
	Prefixes []netip.Prefix `yaml:"prefixes"`
	Servers  []string       `yaml:"servers"`
	// Port is the TCP port of the default check (127.0.0.1:PORT); default
	// 53 for a service called dns, 80 otherwise. Ignored when Check is set.
	Port  int        `yaml:"port"`
	Check *HostCheck `yaml:"check"`
}

// HostCheck is a service's health check, in closd's services schema
// (docs/anycast.md): kind tcp, exec, http or dns with that kind's fields.
// It is closd's type, so the intent says exactly what the server's config
// will.
type HostCheck = config.Check

// HostChecks times every service check on the hosts; zero fields take
// closd's defaults (1 s, rise 2, fall 3). Durations are Go durations.
type HostChecks struct {
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
	Rise     int    `yaml:"rise"`
	Fall     int    `yaml:"fall"`
}

// Anycast is a service as placed by the plan.
type Anycast struct {
	Name     string
	Prefixes []netip.Prefix
	Servers  []string
	Check    HostCheck
}

// HostASNBase is the ASN of the server with id 1 in hosts: bgp mode; server
// ids count up from it (RFC 6996 4-byte private range), so each leaf's
// servers hold one contiguous range, the leaf's peer AS range.
const HostASNBase = 4210000000

// HostDrainTime is how long a draining host keeps its routes (with the
// GRACEFUL_SHUTDOWN community) before it withdraws them.
const HostDrainTime = 5 * time.Second

// HostRoutes values: what a server learns from its leaf.
const (
	// HostRoutesDefault: the default route only (the default). The leaf
	// originates it towards its servers, and the server's inbound policy
	// takes nothing else, so a server's RIB and FIB hold one route per
	// family (ECMP over its sessions), whatever the fabric's size.
	HostRoutesDefault = "default"
	// HostRoutesAll: every route the leaf has, plus the default route.
	HostRoutesAll = "all"
)

// Policy names for host sessions.
const (
	policyFromLeaf    = "FROM-FABRIC"
	policyDefault     = "DEFAULT"
	policyDefault6    = "DEFAULT6"
	policyFromServers = "FROM-SERVERS"
	policyHosts       = "HOSTS"
	policyHosts6      = "HOSTS6"
	policyGShut       = "GSHUT"
	peerGroupServers  = "SERVERS"
	peerGroupServers6 = "SERVERS6"
)

var serviceNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (in *Intent) hostDefaults() {
	if in.Hosts != HostsBGP {
		return
	}
	if in.HostRoutes == "" {
		in.HostRoutes = HostRoutesDefault
	}
	if !in.Pools.HostLoopbacks4.IsValid() {
		in.Pools.HostLoopbacks4 = netip.MustParsePrefix("10.3.0.0/16")
	}
	if !in.Pools.HostLoopbacks6.IsValid() && in.Pools.Loopbacks6.IsValid() {
		in.Pools.HostLoopbacks6 = netip.MustParsePrefix("fd00:3::/64")
	}
	for i := range in.Anycast {
		a := &in.Anycast[i]
		if a.Port == 0 {
			a.Port = 80
			if a.Name == "dns" {
				a.Port = 53
			}
		}
	}
}

func (b *builder) bgpHosts() bool { return b.in.Hosts == HostsBGP }

// checkHostIntent checks what hosts: bgp adds to the intent; pools and
// placement are checked later, once they are known.
func (b *builder) checkHostIntent() {
	in := &b.in
	if !b.bgpHosts() {
		if len(in.Anycast) > 0 {
			b.errf("anycast", "services run on hosts that speak BGP; set hosts: bgp (--hosts bgp) or drop anycast")
		}
		if in.Pools.HostLoopbacks4.IsValid() || in.Pools.HostLoopbacks6.IsValid() {
			b.errf("pools.host-loopbacks-ipv4", "server loopbacks exist only with hosts: bgp; set it or drop the host-loopbacks pools")
		}
		if in.HostRoutes != "" {
			b.errf("host-routes", "what servers learn from BGP exists only with hosts: bgp; set it or drop host-routes")
		}
		return
	}
	if in.HostRoutes != HostRoutesDefault && in.HostRoutes != HostRoutesAll {
		b.errf("host-routes", "%q; want %s (the default route only) or %s (every route)", in.HostRoutes, HostRoutesDefault, HostRoutesAll)
	}
	var iv, to time.Duration
	for _, d := range []struct {
		field, v string
		dst      *time.Duration
	}{{"host-checks.interval", in.HostChecks.Interval, &iv}, {"host-checks.timeout", in.HostChecks.Timeout, &to}} {
		if d.v == "" {
			continue
		}
		x, err := time.ParseDuration(d.v)
		if err != nil || x <= 0 {
			b.errf(d.field, "%q; want a positive duration such as 200ms or 1s", d.v)
			continue
		}
		*d.dst = x
	}
	eff := iv
	if eff == 0 {
		eff = time.Second // closd's default interval
	}
	if to > eff {
		b.errf("host-checks.timeout", "%s is longer than the interval (%s); want at most the interval", to, eff)
	}
	if iv > 0 && to == 0 && iv < time.Second {
		// closd's default timeout (1 s) would exceed the interval.
		in.HostChecks.Timeout = in.HostChecks.Interval
	}
	for _, c := range []struct {
		field string
		v     int
	}{{"host-checks.rise", in.HostChecks.Rise}, {"host-checks.fall", in.HostChecks.Fall}} {
		if c.v < 0 || c.v > 1000 {
			b.errf(c.field, "%d; want 1..1000 (0 takes the default)", c.v)
		}
	}
	names := map[string]bool{}
	owner := map[netip.Prefix]string{}
	for i, a := range in.Anycast {
		f := fmt.Sprintf("anycast[%d]", i)
		if !serviceNameRe.MatchString(a.Name) {
			b.errf(f+".name", "%q; want 1..64 of letters, digits, '.', '_' and '-'", a.Name)
		} else if names[a.Name] {
			b.errf(f+".name", "%q is used by two services; names must be unique", a.Name)
		}
		names[a.Name] = true
		if len(a.Prefixes) == 0 {
			b.errf(f+".prefixes", "empty; want at least one host prefix like 10.255.0.53/32")
		}
		for j, p := range a.Prefixes {
			pf := fmt.Sprintf("%s.prefixes[%d]", f, j)
			switch {
			case !p.IsValid():
				b.errf(pf, "missing; want a host prefix like 10.255.0.53/32 or fd00:ff::53/128")
			case p.Bits() != p.Addr().BitLen():
				b.errf(pf, "%s is not a host prefix; want /%d (anycast announces exact host routes)", p, p.Addr().BitLen())
			case p.Addr().Is6() && !in.Pools.Servers6.IsValid():
				b.errf(pf, "%s is IPv6 but servers have no IPv6 sessions; set pools.servers-ipv6 (--servers6) or use an IPv4 address", p)
			case owner[p] != "":
				b.errf(pf, "%s is also an address of service %q; an address belongs to one service", p, owner[p])
			default:
				owner[p] = a.Name
			}
		}
		if len(a.Servers) == 0 {
			b.errf(f+".servers", "empty; want the servers that run %s, like [server1, server3]", a.Name)
		}
		if a.Port < 1 || a.Port > 65535 {
			b.errf(f+".port", "%d; want 1..65535", a.Port)
		}
		if a.Check != nil {
			if msg := checkHostCheck(*a.Check); msg != "" {
				b.errf(f+".check", "%s", msg)
			}
		}
	}
}

func checkHostCheck(c HostCheck) string {
	hostPort := func(s string) bool {
		_, err := netip.ParseAddrPort(s)
		return err == nil
	}
	switch c.Kind {
	case "tcp":
		if !hostPort(c.Address) {
			return fmt.Sprintf("tcp address %q; want IP:PORT like 127.0.0.1:53", c.Address)
		}
	case "dns":
		if !hostPort(c.Address) || c.Name == "" {
			return fmt.Sprintf("dns wants address IP:PORT and name (got %q, %q)", c.Address, c.Name)
		}
		if c.QType != "" && c.QType != "A" && c.QType != "AAAA" {
			return fmt.Sprintf("qtype %q; valid: A, AAAA", c.QType)
		}
	case "exec":
		if len(c.Command) == 0 || !strings.HasPrefix(c.Command[0], "/") {
			return "exec wants command: [/absolute/program, args...]"
		}
	case "http":
		if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			return fmt.Sprintf("http url %q; want http://... or https://...", c.URL)
		}
	default:
		return fmt.Sprintf("kind %q; valid: tcp, exec, http, dns", c.Kind)
	}
	return ""
}

func (b *builder) maxServerID() int { return b.serverID(b.maxLeafID(), b.in.Capacity.ServersPerLeaf) }

// checkHostPlan checks the server loopback pools, the anycast prefixes
// against every pool, and that server ASNs fit beside the fabric's.
func (b *builder) checkHostPlan() {
	if !b.bgpHosts() {
		return
	}
	in := b.in
	whole := slice{"servers", 0, 1, 1}
	for _, lp := range []struct {
		field string
		p     netip.Prefix
	}{{"pools.host-loopbacks-ipv4", in.Pools.HostLoopbacks4}, {"pools.host-loopbacks-ipv6", in.Pools.HostLoopbacks6}} {
		if lp.p.IsValid() {
			b.need(lp.field, lp.p, whole, uint64(b.maxServerID())+1,
				fmt.Sprintf("server ids up to %d (%d leaf ids x capacity.servers-per-leaf %d)", b.maxServerID(), b.maxLeafID(), in.Capacity.ServersPerLeaf))
		}
	}
	if in.Pools.Loopbacks6.IsValid() != in.Pools.HostLoopbacks6.IsValid() {
		b.errf("pools.host-loopbacks-ipv6", "want it exactly when pools.loopbacks-ipv6 is set (servers get a /128 like switches)")
	}
	pools := []struct {
		field string
		p     netip.Prefix
	}{{"pools.loopbacks-ipv4", in.Pools.Loopbacks4}, {"pools.loopbacks-ipv6", in.Pools.Loopbacks6},
		{"pools.links-ipv4", in.Pools.Links4}, {"pools.links-ipv6", in.Pools.Links6},
		{"pools.servers-ipv4", in.Pools.Servers4}, {"pools.servers-ipv6", in.Pools.Servers6},
		{"pools.host-loopbacks-ipv4", in.Pools.HostLoopbacks4}, {"pools.host-loopbacks-ipv6", in.Pools.HostLoopbacks6}}
	for i, a := range in.Anycast {
		for j, p := range a.Prefixes {
			for _, pl := range pools {
				if pl.p.IsValid() && p.IsValid() && overlaps(pl.p, p) {
					b.errf(fmt.Sprintf("anycast[%d].prefixes[%d]", i, j), "%s is inside %s %s; want an address outside every pool", p, pl.field, pl.p)
				}
			}
		}
	}
	top := uint64(HostASNBase) + uint64(b.maxServerID()) - 1
	if top > 4294967294 {
		b.errf("capacity.servers-per-leaf", "server ASNs would run from %d to %d, past 4294967294; want fewer leaf ids x servers-per-leaf", HostASNBase, top)
	}
	if in.ASN.Scheme == ASNPrivate4 {
		l := b.layout()
		leafTop := uint64(l.lo) + uint64(b.maxLeafID()) - 1
		bottom := uint64(l.hi) - uint64(in.Capacity.BorderLeaves) - uint64(in.Pods) - 1
		if leafTop >= HostASNBase || top >= bottom {
			b.errf("asn.scheme", "private-4 leaf ASNs (%d-%d) or server ASNs (%d-%d) collide with each other or with the spines' (from %d); want a smaller fabric or capacity",
				l.lo, leafTop, uint64(HostASNBase), top, bottom)
		}
	}
}

// hostNodes gives bgp servers their ASN and loopbacks and resolves where
// each anycast service runs.
func (b *builder) hostNodes() {
	if !b.bgpHosts() {
		return
	}
	in := b.in
	whole := slice{"servers", 0, 1, 1}
	for _, s := range b.p.Servers {
		s.ASN = HostASNBase + uint32(s.ID) - 1
		lo4, _ := loopback(in.Pools.HostLoopbacks4, whole, s.ID)
		s.RouterID = lo4.Addr()
		s.Loopbacks = []netip.Prefix{lo4}
		if in.Pools.HostLoopbacks6.IsValid() {
			lo6, _ := loopback(in.Pools.HostLoopbacks6, whole, s.ID)
			s.Loopbacks = append(s.Loopbacks, lo6)
		}
	}
	for i, a := range in.Anycast {
		c := HostCheck{Kind: "tcp", Address: "127.0.0.1:" + strconv.Itoa(a.Port)}
		if a.Check != nil {
			c = *a.Check
		}
		seen := map[string]bool{}
		for j, name := range a.Servers {
			n := b.p.byName[name]
			switch {
			case n == nil || n.Role != RoleServer:
				b.errf(fmt.Sprintf("anycast[%d].servers[%d]", i, j), "%q is not a server of this fabric; servers are named like %s",
					name, b.name(in.Names.Server, in.Numbering.ServerFirst, 1))
			case seen[name]:
				b.errf(fmt.Sprintf("anycast[%d].servers[%d]", i, j), "%s is listed twice", name)
			}
			seen[name] = true
		}
		b.p.Anycast = append(b.p.Anycast, Anycast{Name: a.Name, Prefixes: a.Prefixes, Servers: a.Servers, Check: c})
	}
}

// hostSessions counts one session per server and family.
func (b *builder) hostSessions() {
	if !b.bgpHosts() {
		return
	}
	for _, s := range b.p.Servers {
		b.p.Sessions += len(s.Gateways)
	}
}

// services lists the services that run on server s, in plan order.
func (p *Plan) services(s *Node) []Anycast {
	var out []Anycast
	for _, a := range p.Anycast {
		if contains(a.Servers, s.Name) {
			out = append(out, a)
		}
	}
	return out
}

// allowed is what server s may announce: its loopbacks and the addresses
// of the services placed on it.
func (p *Plan) allowed(s *Node) []netip.Prefix {
	out := append([]netip.Prefix{}, s.Loopbacks...)
	for _, a := range p.services(s) {
		out = append(out, a.Prefixes...)
	}
	return out
}

// leafServers lists the servers cabled to leaf n.
func (p *Plan) leafServers(n *Node) []*Node {
	var out []*Node
	for _, s := range p.Servers {
		if s.Leaf == n.Name {
			out = append(out, s)
		}
	}
	return out
}

// hostASRange is the peer AS range of leaf n's servers: every server id
// the leaf can ever have, so adding servers keeps the leaf's config.
func (p *Plan) hostASRange(n *Node) config.ASRange {
	c := uint32(p.Intent.Capacity.ServersPerLeaf)
	lo := HostASNBase + uint32(n.ID-1)*c
	return config.ASRange{Min: lo, Max: lo + c - 1}
}

// maxHostPrefixes is the most a single server of leaf n may announce.
func (p *Plan) maxHostPrefixes(n *Node) int {
	m := 0
	for _, s := range p.leafServers(n) {
		m = max(m, len(p.allowed(s)))
	}
	return m
}

// hostPrefixes is everything leaf n accepts from its servers, deduplicated
// in a stable order: what it passes on to the fabric.
func (p *Plan) hostPrefixes(n *Node) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, s := range p.leafServers(n) {
		for _, pf := range p.allowed(s) {
			if !seen[pf] {
				seen[pf] = true
				out = append(out, pf)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Addr().Is4() && !out[j].Addr().Is4() })
	return out
}

func srvList(s *Node) string { return "SRV-" + s.Name }

// asPathRegex matches a path made only of the server's ASN (with the
// prepends of a drain): a server may not pass on routes of others.
func asPathRegex(asn uint32, sep string) string {
	a := strconv.FormatUint(uint64(asn), 10)
	return "^" + a + "(" + sep + a + ")*$"
}

// leafHostClosd adds to leaf n's closd config what hosts: bgp needs: a
// listen range per server subnet, the inbound policy and the hosts'
// prefixes in the route-map towards the fabric.
func (p *Plan) leafHostClosd(n *Node, c *config.Config) {
	if p.Intent.Hosts != HostsBGP || n.Role != RoleLeaf {
		return
	}
	servers := p.leafServers(n)
	if len(servers) == 0 {
		return
	}
	in := p.Intent
	for _, sub := range n.ServerSubnets {
		fam := config.IPv4Unicast
		if sub.Addr().Is6() {
			fam = config.IPv6Unicast
		}
		c.Neighbors = append(c.Neighbors, config.Neighbor{
			ListenRange: sub,
			Limit:       in.Capacity.ServersPerLeaf,
			RemoteAS:    config.RemoteAS{Kind: config.ASNumbers, Ranges: []config.ASRange{p.hostASRange(n)}},
			Description: "servers on bridge",
			Families:    []string{fam},
			BFD:         config.NeighborBFD{Enabled: *in.BFD.Enabled},
			MaxPrefix:   p.maxHostPrefixes(n),
			RouteMap:    config.RouteMapRefs{In: policyFromServers},
			// Servers route through their leaf: the default route is
			// what they need whatever host-routes says.
			DefaultOriginate: true,
		})
	}
	pol := &c.Policy
	hosts := config.PrefixList{Name: policyHosts}
	for i, pf := range p.hostPrefixes(n) {
		hosts.Entries = append(hosts.Entries, config.PrefixListEntry{Seq: 10 * (i + 1), Action: "permit", Prefix: pf})
	}
	pol.PrefixLists = append(pol.PrefixLists, hosts)
	pol.CommunityLists = append(pol.CommunityLists, config.CommunityList{Name: policyGShut,
		Entries: []config.CommunityEntry{{Action: "permit", Community: "graceful-shutdown"}}})
	from := config.RouteMap{Name: policyFromServers}
	for i, s := range servers {
		pl := config.PrefixList{Name: srvList(s)}
		for j, pf := range p.allowed(s) {
			pl.Entries = append(pl.Entries, config.PrefixListEntry{Seq: 10 * (j + 1), Action: "permit", Prefix: pf})
		}
		pol.PrefixLists = append(pol.PrefixLists, pl)
		pol.ASPathLists = append(pol.ASPathLists, config.ASPathList{Name: srvList(s),
			Entries: []config.RegexpEntry{{Action: "permit", Regex: asPathRegex(s.ASN, " ")}}})
		m := config.RouteMapMatch{PrefixList: srvList(s), ASPathList: srvList(s)}
		gs := m
		gs.CommunityList = policyGShut
		from.Entries = append(from.Entries,
			config.RouteMapEntry{Seq: 100*(i+1) + 10, Action: "permit", Match: gs, Set: drainSet(s)},
			config.RouteMapEntry{Seq: 100*(i+1) + 20, Action: "permit", Match: m})
	}
	pol.RouteMaps = append(pol.RouteMaps, from)
	for i := range pol.RouteMaps {
		if pol.RouteMaps[i].Name == policyToUpper {
			pol.RouteMaps[i].Entries = append(pol.RouteMaps[i].Entries,
				config.RouteMapEntry{Seq: 20, Action: "permit", Match: config.RouteMapMatch{PrefixList: policyHosts}})
		}
	}
}

// drainSet is what a leaf does with a draining server's routes
// (GRACEFUL_SHUTDOWN, RFC 8326): it takes the community off, so the leaf
// itself keeps the server's path (FRR would set local-pref 0 on receipt),
// and prepends the server's AS once, so the rest of the fabric prefers the
// other instances at once. Were the leaf to move its own traffic first,
// it would send it to spines that still list the leaf as an exit, a
// micro-loop until they hear the leaf's withdrawal (60 ms of loss in the
// lab). This way the fabric moves first, and the leaf's own servers move
// at the withdrawal, to a fabric that has already converged.
func drainSet(s *Node) config.RouteMapSet {
	return config.RouteMapSet{Prepend: []uint32{s.ASN}, CommunityRemove: []string{"graceful-shutdown"}}
}

// HostConfig is server s's closd config (role: host): its loopbacks
// announced, one session per family to its leaf's gateway, the services
// placed on it with their checks, and drain behaviour.
func (p *Plan) HostConfig(s *Node) *config.Config {
	in := p.Intent
	leaf := p.byName[s.Leaf]
	c := p.closdBase(s, "host")
	c.Networks = append([]netip.Prefix{}, s.Loopbacks...)
	for _, gw := range s.Gateways {
		fam := config.IPv4Unicast
		if gw.Is6() {
			fam = config.IPv6Unicast
		}
		nb := config.Neighbor{
			Address: gw, RemoteAS: config.ASN(leaf.ASN), Description: leaf.Name + ":bridge",
			Families: []string{fam}, BFD: config.NeighborBFD{Enabled: *in.BFD.Enabled},
			RouteMap: config.RouteMapRefs{Out: policyToUpper},
		}
		if in.HostRoutes == HostRoutesDefault {
			nb.RouteMap.In = policyFromLeaf
		}
		c.Neighbors = append(c.Neighbors, nb)
	}
	// A host is never transit: it announces only its own prefixes.
	pl := config.PrefixList{Name: policyLocal}
	for i, pf := range p.allowed(s) {
		pl.Entries = append(pl.Entries, config.PrefixListEntry{Seq: 10 * (i + 1), Action: "permit", Prefix: pf})
	}
	c.Policy.PrefixLists = []config.PrefixList{pl}
	c.Policy.RouteMaps = []config.RouteMap{{Name: policyToUpper, Entries: []config.RouteMapEntry{
		{Seq: 10, Action: "permit", Match: config.RouteMapMatch{PrefixList: policyLocal}},
	}}}
	if in.HostRoutes == HostRoutesDefault {
		// Only the default route, from every leaf session: one ECMP
		// route per family (multipath-relax covers leaves in other ASes).
		def := config.PrefixList{Name: policyDefault}
		for i, pf := range defaultRoutes(s) {
			def.Entries = append(def.Entries, config.PrefixListEntry{Seq: 10 * (i + 1), Action: "permit", Prefix: pf})
		}
		c.Policy.PrefixLists = append(c.Policy.PrefixLists, def)
		c.Policy.RouteMaps = append(c.Policy.RouteMaps, config.RouteMap{Name: policyFromLeaf, Entries: []config.RouteMapEntry{
			{Seq: 10, Action: "permit", Match: config.RouteMapMatch{PrefixList: policyDefault}},
		}})
	}
	hc := p.Intent.HostChecks
	iv, _ := time.ParseDuration(hc.Interval) // checked by Build
	to, _ := time.ParseDuration(hc.Timeout)
	for _, a := range p.services(s) {
		c.Services = append(c.Services, config.Service{
			Name: a.Name, Addresses: a.Prefixes, Check: a.Check,
			Interval: config.Duration(iv), Timeout: config.Duration(to), Rise: hc.Rise, Fall: hc.Fall,
		})
	}
	on, prepend, drain := true, 0, config.Duration(HostDrainTime)
	c.Drain = &config.Drain{GracefulShutdown: &on, Prepend: &prepend, Time: &drain, OnSigterm: &on}
	return c
}

// defaultRoutes are the default routes of the families s has sessions in.
func defaultRoutes(s *Node) []netip.Prefix {
	var v4, v6 bool
	for _, gw := range s.Gateways {
		v4, v6 = v4 || gw.Is4(), v6 || gw.Is6()
	}
	var out []netip.Prefix
	if v4 {
		out = append(out, netip.MustParsePrefix("0.0.0.0/0"))
	}
	if v6 {
		out = append(out, netip.MustParsePrefix("::/0"))
	}
	return out
}

// HostClosd renders server s's closd config.
func (p *Plan) HostClosd(s *Node) ([]byte, error) { return p.HostConfig(s).Marshal() }

// frrHostPolicy writes leaf n's prefix lists, AS-path lists and
// route-maps for its servers' sessions.
func (p *Plan) frrHostPolicy(w func(string, ...any), n *Node) {
	if p.Intent.Hosts != HostsBGP || n.Role != RoleLeaf || len(p.leafServers(n)) == 0 {
		return
	}
	hosts6 := frrPrefixLists(w, policyHosts, policyHosts6, p.hostPrefixes(n))
	for _, s := range p.leafServers(n) {
		frrPrefixLists(w, srvList(s), srvList(s)+"-6", p.allowed(s))
		w("bgp as-path access-list %s seq 10 permit %s", srvList(s), asPathRegex(s.ASN, "_"))
	}
	w("bgp community-list standard %s seq 10 permit graceful-shutdown", policyGShut)
	w("!")
	for i, s := range p.leafServers(n) {
		for _, v6 := range []bool{false, true} {
			kw, list, base := "ip", srvList(s), 100*(i+1)
			if v6 {
				kw, list, base = "ipv6", srvList(s)+"-6", base+50
				if !hasFamily(p.allowed(s), true) {
					continue
				}
			}
			// A draining server: see drainSet.
			w("route-map %s permit %d", policyFromServers, base+10)
			w(" match as-path %s", srvList(s))
			w(" match %s address prefix-list %s", kw, list)
			w(" match community %s", policyGShut)
			w(" set as-path prepend %d", s.ASN)
			w(" set comm-list %s delete", policyGShut)
			w("exit")
			w("route-map %s permit %d", policyFromServers, base+20)
			w(" match as-path %s", srvList(s))
			w(" match %s address prefix-list %s", kw, list)
			w("exit")
		}
	}
	w("route-map %s permit 30", policyToUpper)
	w(" match ip address prefix-list %s", policyHosts)
	w("exit")
	if hosts6 {
		w("route-map %s permit 40", policyToUpper)
		w(" match ipv6 address prefix-list %s", policyHosts6)
		w("exit")
	}
	w("!")
}

func hasFamily(ps []netip.Prefix, v6 bool) bool {
	for _, p := range ps {
		if p.Addr().Is6() == v6 {
			return true
		}
	}
	return false
}

// frrHostNeighbors writes the peer-groups and listen ranges of leaf n's
// server sessions inside router bgp.
func (p *Plan) frrHostNeighbors(w func(string, ...any), n *Node) {
	if p.Intent.Hosts != HostsBGP || n.Role != RoleLeaf || len(p.leafServers(n)) == 0 {
		return
	}
	for _, sub := range n.ServerSubnets {
		pg := peerGroupServers
		if sub.Addr().Is6() {
			pg = peerGroupServers6
		}
		r := p.hostASRange(n)
		w(" neighbor %s peer-group", pg)
		// FRR takes no AS range: the as-path lists of FROM-SERVERS pin
		// each server's ASN (%d-%d) instead.
		w(" neighbor %s remote-as external", pg)
		w(" neighbor %s description servers on bridge, AS %d-%d", pg, r.Min, r.Max)
		if *p.Intent.BFD.Enabled {
			w(" neighbor %s bfd profile %s", pg, bfdProfile)
		}
		w(" bgp listen range %s peer-group %s", sub, pg)
	}
	w(" bgp listen limit %d", p.Intent.Capacity.ServersPerLeaf*len(n.ServerSubnets))
}

// frrHostFamily returns the address-family lines of leaf n's server
// peer-group for fam.
func (p *Plan) frrHostFamily(n *Node, fam string) []string {
	if p.Intent.Hosts != HostsBGP || n.Role != RoleLeaf || len(p.leafServers(n)) == 0 {
		return nil
	}
	for _, sub := range n.ServerSubnets {
		if sub.Addr().Is4() != (fam == config.IPv4Unicast) {
			continue
		}
		pg := peerGroupServers
		if sub.Addr().Is6() {
			pg = peerGroupServers6
		}
		return []string{
			"  neighbor " + pg + " activate",
			"  neighbor " + pg + " default-originate",
			"  neighbor " + pg + " route-map " + policyFromServers + " in",
			"  neighbor " + pg + " maximum-prefix " + strconv.Itoa(p.maxHostPrefixes(n)),
		}
	}
	return nil
}

// HostFRR renders frr.conf for server s: the same sessions and loopbacks
// as its closd config, with its services' addresses as plain networks.
// FRR has no health checks, so they stay announced while bgpd runs: this
// config is for interop labs, not for production anycast.
func (p *Plan) HostFRR(s *Node) string {
	in := p.Intent
	leaf := p.byName[s.Leaf]
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("! frr.conf for host %s written by clos plan (fabric %s)", s.Name, in.Name)
	w("! services are announced unconditionally: FRR has no health checks")
	frrHead(w, s.Name)
	w("!")
	// The loopbacks and the service addresses: what the server announces.
	allowed := p.allowed(s)
	frrLoopback(w, allowed)
	frrExportPolicy(w, allowed)
	if in.HostRoutes == HostRoutesDefault {
		w("!")
		for _, pf := range defaultRoutes(s) {
			if pf.Addr().Is4() {
				w("ip prefix-list %s seq 10 permit %s", policyDefault, pf)
			} else {
				w("ipv6 prefix-list %s seq 10 permit %s", policyDefault6, pf)
			}
		}
		w("!")
		for i, pf := range defaultRoutes(s) {
			w("route-map %s permit %d", policyFromLeaf, 10*(i+1))
			if pf.Addr().Is4() {
				w(" match ip address prefix-list %s", policyDefault)
			} else {
				w(" match ipv6 address prefix-list %s", policyDefault6)
			}
			w("exit")
		}
	}
	w("!")
	frrRouterBGP(w, s.ASN, s.RouterID)
	for _, gw := range s.Gateways {
		w(" neighbor %s remote-as %d", gw, leaf.ASN)
		w(" neighbor %s description %s:bridge", gw, leaf.Name)
		if *in.BFD.Enabled {
			w(" neighbor %s bfd profile %s", gw, bfdProfile)
		}
	}
	for _, v6 := range []bool{false, true} {
		var gws []netip.Addr
		for _, gw := range s.Gateways {
			if gw.Is6() == v6 {
				gws = append(gws, gw)
			}
		}
		if len(gws) == 0 {
			continue
		}
		fam := "ipv4 unicast"
		if v6 {
			fam = "ipv6 unicast"
		}
		var lines []string
		for _, pf := range allowed {
			if pf.Addr().Is6() == v6 {
				lines = append(lines, fmt.Sprintf("  network %s", pf))
			}
		}
		for _, gw := range gws {
			lines = append(lines, fmt.Sprintf("  neighbor %s activate", gw), fmt.Sprintf("  neighbor %s route-map %s out", gw, policyToUpper))
			if in.HostRoutes == HostRoutesDefault {
				lines = append(lines, fmt.Sprintf("  neighbor %s route-map %s in", gw, policyFromLeaf))
			}
		}
		frrFamily(w, fam, lines)
	}
	w("exit")
	w("!")
	frrBFDProfile(w, in.BFD)
	return b.String()
}

// hostFiles renders the servers' closd and FRR configs in hosts: bgp mode.
func (p *Plan) hostFiles() ([]File, error) {
	if p.Intent.Hosts != HostsBGP {
		return nil, nil
	}
	var out []File
	for _, s := range p.Servers {
		c, err := p.HostClosd(s)
		if err != nil {
			return nil, fmt.Errorf("closd config of %s: %w", s.Name, err)
		}
		out = append(out, File{"closd/" + s.Name + ".yaml", c})
	}
	for _, s := range p.Servers {
		out = append(out, File{"frr/" + s.Name + "/frr.conf", []byte(p.HostFRR(s))})
	}
	return out, nil
}

// ParseAnycast reads the flag form NAME=PREFIX[,PREFIX...]:SERVER[,SERVER...],
// e.g. dns=10.255.0.53/32:server1,server3. The servers follow the last
// colon, so IPv6 prefixes need no quoting.
func ParseAnycast(s string) (AnycastIntent, error) {
	const want = "want NAME=PREFIX[,PREFIX...]:SERVER[,SERVER...] like dns=10.255.0.53/32:server1,server3"
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return AnycastIntent{}, fmt.Errorf("%q: %s", s, want)
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return AnycastIntent{}, fmt.Errorf("%q: no servers; %s", s, want)
	}
	a := AnycastIntent{Name: name}
	for _, ps := range strings.Split(rest[:i], ",") {
		pf, err := netip.ParsePrefix(strings.TrimSpace(ps))
		if err != nil {
			return AnycastIntent{}, fmt.Errorf("%q: %q is not a prefix; %s", s, ps, want)
		}
		a.Prefixes = append(a.Prefixes, pf)
	}
	for _, sv := range strings.Split(rest[i+1:], ",") {
		if sv = strings.TrimSpace(sv); sv == "" {
			return AnycastIntent{}, fmt.Errorf("%q: empty server name; %s", s, want)
		}
		a.Servers = append(a.Servers, sv)
	}
	return a, nil
}

// fabricHost fills the hosts: bgp part of server s's fabric.yaml entry:
// no static routes (closd learns them from the leaf).
func (p *Plan) fabricHost(s *Node, h *FabricHost) {
	h.ASN = s.ASN
	h.Loopbacks = s.Loopbacks
	h.Closd = "closd/" + s.Name + ".yaml"
	h.FRR = "frr/" + s.Name + "/frr.conf"
	for _, a := range p.services(s) {
		h.Services = append(h.Services, FabricService{Name: a.Name, Addresses: a.Prefixes, Check: a.Check})
	}
}

// hostBGP writes the hosts: bgp fields that follow a server's routes.
func (e emitter) hostBGP(h FabricHost) {
	if len(h.Services) > 0 {
		e.key(4, false, "services")
		for _, s := range h.Services {
			e.kv(8, true, "name", scalar(s.Name))
			e.list(8, "addresses", prefixStrings(s.Addresses))
			e.key(8, false, "check")
			c := s.Check
			e.kv(10, false, "kind", scalar(c.Kind))
			if c.Address != "" {
				e.kv(10, false, "address", scalar(c.Address))
			}
			if len(c.Command) > 0 {
				e.list(10, "command", c.Command)
			}
			if c.URL != "" {
				e.kv(10, false, "url", scalar(c.URL))
			}
			if c.ExpectStatus != 0 {
				e.kv(10, false, "expect-status", strconv.Itoa(c.ExpectStatus))
			}
			if c.Name != "" {
				e.kv(10, false, "name", scalar(c.Name))
			}
			if c.QType != "" {
				e.kv(10, false, "qtype", scalar(c.QType))
			}
		}
	}
	if h.Closd != "" {
		e.kv(4, false, "closd", scalar(h.Closd))
	}
	if h.FRR != "" {
		e.kv(4, false, "frr", scalar(h.FRR))
	}
}
