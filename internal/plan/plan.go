// Package plan turns an operator's intent (stages, sizes, pools, ASN
// scheme) into a complete RFC 7938 fabric plan: nodes, cabling, addresses,
// ASNs, and from that the configs and drawings clos plan writes. Every
// number is derived from stable ids, so a fabric that grows keeps the
// addresses and ASNs it already had.
package plan

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Roles of nodes.
const (
	RoleLeaf       = "leaf"
	RoleSpine      = "spine"
	RoleSuperSpine = "super-spine"
	RoleBorderLeaf = "border-leaf"
	RoleServer     = "server"
)

// Node is a switch or a server of the plan.
type Node struct {
	Name     string
	Role     string
	Tier     int // RFC 7938 tier: 1 is the middle stage
	Pod      int // 0 when the node belongs to no pod
	Plane    int // 0 when the node belongs to no plane
	ID       int // stable id within the role; names and addresses derive from it
	ASN      uint32
	RouterID netip.Addr
	// Loopbacks are host prefixes (/32, /128) on lo.
	Loopbacks  []netip.Prefix
	Interfaces []Interface
	// ServerSubnets are the leaf's server subnets, one per family.
	ServerSubnets []netip.Prefix
	// AllowASIn is set on leaves whose ASN repeats in other pods.
	AllowASIn int
	// Servers only:
	Leaf     string
	Gateways []netip.Addr
}

// Interface is one port (or the leaf's server bridge) of a node.
type Interface struct {
	Name      string
	Kind      string // fabric, server, bridge
	Addresses []netip.Prefix
	Peer      string // NODE:IFACE at the other end of the cable
	Bridge    string // the bridge this port is a member of
	Members   []string
	MAC       string // set only where the plan fixes it (anycast gateway)
}

// Interface kinds.
const (
	KindFabric = "fabric"
	KindServer = "server"
	KindBridge = "bridge"
)

// End is one side of a link.
type End struct {
	Node, Interface string
	Addresses       []netip.Prefix
}

// String names the end as NODE:IFACE, the way links are named.
func (e End) String() string { return e.Node + ":" + e.Interface }

// Link is a cable. A is the lower tier (leaf, or server), B the upper.
type Link struct {
	Kind    string // fabric, server
	A, B    End
	Subnets []netip.Prefix
}

// Name is "A--B" with both ends as NODE:IFACE.
func (l Link) Name() string { return l.A.String() + "--" + l.B.String() }

// Oversubscription of one tier: downlink over uplink bandwidth of one
// device of that tier.
type Oversubscription struct {
	Tier     string
	DownGbps float64
	UpGbps   float64
	Ratio    float64
}

// Plan is the whole fabric.
type Plan struct {
	Intent           Intent
	Switches         []*Node // leaves, border leaves, spines, super-spines
	Servers          []*Node
	Links            []Link
	Sessions         int // BGP sessions (counting each once)
	Oversubscription []Oversubscription
	Warnings         []string
	Anycast          []Anycast // hosts: bgp services and where they run

	byName map[string]*Node
	backup map[string]bool // switches of the backup site (sites: 2)
}

// Node returns the switch or server called name.
func (p *Plan) Node(name string) *Node { return p.byName[name] }

// Error is one problem with the intent: the field and what would be valid.
type Error struct {
	Field, Msg string
}

func (e Error) Error() string { return e.Field + ": " + e.Msg }

// Errors lists every problem found; Error gives one per line.
type Errors []Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

type builder struct {
	in   Intent
	errs Errors
	p    *Plan

	serverBase   int // server ids start after this (site b of a DCI)
	spinesPerPod int // planes * spines-per-plane
	leafPar      int // links from a leaf to each spine of its pod
	spinePar     int // links from a spine to each super-spine of its plane
	tier1        int // devices a border leaf connects to
}

func (b *builder) errf(field, format string, args ...any) {
	b.errs = append(b.errs, Error{field, fmt.Sprintf(format, args...)})
}

// Build validates the intent (after Defaults) and produces the plan. The
// error, when not nil, is Errors.
func Build(in Intent) (*Plan, error) {
	in.Defaults()
	b := &builder{in: in, p: &Plan{Intent: in, byName: map[string]*Node{}}}
	b.checkIntent()
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	b.p.Intent = b.in // with the derived uplink counts
	b.checkPools()
	b.checkASNs()
	b.checkHostPlan()
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	b.nodes()
	b.hostNodes()
	b.checkNames()
	b.checkASNCollisions()
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	b.links()
	b.hostSessions()
	b.oversubscription()
	if b.in.Sites == 2 {
		if err := b.secondSite(); err != nil {
			return nil, err
		}
	}
	return b.p, nil
}

var (
	namePrefixRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	fabricNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
)

// thousands writes n with commas, as people read ASN counts.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (b *builder) checkIntent() {
	in := &b.in
	if !fabricNameRe.MatchString(in.Name) {
		b.errf("name", "%q; want letters, digits, _ and - (up to 63), as containerlab accepts", in.Name)
	}
	if in.Stages != 3 && in.Stages != 5 {
		b.errf("stages", "%d; valid: 3 or 5", in.Stages)
		return
	}
	pos := func(field string, v int) bool {
		if v < 1 {
			b.errf(field, "%d; want 1 or more", v)
			return false
		}
		return true
	}
	nonneg := func(field string, v int) {
		if v < 0 {
			b.errf(field, "%d; want 0 or more", v)
		}
	}
	ok := pos("planes", in.Planes)
	ok = pos("spines-per-plane", in.SpinesPerPlane) && ok
	ok = pos("pods", in.Pods) && ok
	ok = pos("leaves-per-pod", in.LeavesPerPod) && ok
	nonneg("border-leaves", in.BorderLeaves)
	nonneg("servers-per-leaf", in.ServersPerLeaf)
	nonneg("leaf-uplinks", in.LeafUplinks)
	nonneg("spine-uplinks", in.SpineUplinks)
	nonneg("super-spines-per-plane", in.SuperSpinesPerPlane)
	if in.Stages == 3 {
		if in.Pods != 1 {
			b.errf("pods", "%d; a 3-stage fabric has one pod; set stages: 5 for pods, or pods: 1", in.Pods)
		}
		if in.SuperSpinesPerPlane != 0 {
			b.errf("super-spines-per-plane", "%d; super-spines exist only in 5-stage fabrics; set stages: 5 or leave it out", in.SuperSpinesPerPlane)
		}
		if in.SpineUplinks != 0 {
			b.errf("spine-uplinks", "%d; spines have uplinks only in 5-stage fabrics; leave it out", in.SpineUplinks)
		}
	} else {
		ok = pos("super-spines-per-plane", in.SuperSpinesPerPlane) && ok
	}
	const most = 1 << 20 // keeps id and address arithmetic far from overflow
	for _, c := range []struct {
		field string
		v     int
	}{{"planes", in.Planes}, {"spines-per-plane", in.SpinesPerPlane}, {"pods", in.Pods}, {"leaves-per-pod", in.LeavesPerPod},
		{"super-spines-per-plane", in.SuperSpinesPerPlane}, {"border-leaves", in.BorderLeaves}, {"servers-per-leaf", in.ServersPerLeaf},
		{"leaf-uplinks", in.LeafUplinks}, {"spine-uplinks", in.SpineUplinks},
		{"capacity.leaves-per-pod", in.Capacity.LeavesPerPod}, {"capacity.spines-per-pod", in.Capacity.SpinesPerPod},
		{"capacity.super-spines-per-plane", in.Capacity.SuperSpinesPerPlane}, {"capacity.border-leaves", in.Capacity.BorderLeaves},
		{"capacity.uplinks-per-leaf", in.Capacity.UplinksPerLeaf}, {"capacity.uplinks-per-spine", in.Capacity.UplinksPerSpine},
		{"capacity.uplinks-per-border", in.Capacity.UplinksPerBorder}, {"capacity.servers-per-leaf", in.Capacity.ServersPerLeaf}} {
		if c.v > most {
			b.errf(c.field, "%d; want at most %d", c.v, most)
			ok = false
		}
		if strings.HasPrefix(c.field, "capacity.") && c.v < 0 {
			b.errf(c.field, "%d; want 1 or more (0 takes the default)", c.v)
			ok = false
		}
	}
	if !ok || len(b.errs) > 0 {
		return
	}
	b.spinesPerPod = in.Planes * in.SpinesPerPlane
	if in.LeafUplinks == 0 {
		in.LeafUplinks = b.spinesPerPod
	}
	if in.LeafUplinks%b.spinesPerPod != 0 {
		b.errf("leaf-uplinks", "%d uplinks do not divide evenly over %d spines per pod (odd radix); want a multiple of %d such as %d or %d",
			in.LeafUplinks, b.spinesPerPod, b.spinesPerPod, b.spinesPerPod, 2*b.spinesPerPod)
	}
	b.leafPar = max(in.LeafUplinks/b.spinesPerPod, 1)
	b.tier1 = b.spinesPerPod
	if in.Stages == 5 {
		if in.SpineUplinks == 0 {
			in.SpineUplinks = in.SuperSpinesPerPlane
		}
		if in.SpineUplinks%in.SuperSpinesPerPlane != 0 {
			b.errf("spine-uplinks", "%d uplinks do not divide evenly over %d super-spines per plane (odd radix); want a multiple of %d",
				in.SpineUplinks, in.SuperSpinesPerPlane, in.SuperSpinesPerPlane)
		}
		b.spinePar = max(in.SpineUplinks/in.SuperSpinesPerPlane, 1)
		b.tier1 = in.Planes * in.SuperSpinesPerPlane
	}
	switch in.LinkAddressing {
	case LinksIPv4, LinksIPv6, LinksDual, LinksUnnumbered:
	default:
		b.errf("link-addressing", "%q; valid: ipv4 (/31), ipv6 (/127), dual (/31 and /127), unnumbered", in.LinkAddressing)
	}
	b.checkHostMode()
	b.checkHostIntent()
	if in.ASN.Scheme != ASNPrivate2 && in.ASN.Scheme != ASNPrivate4 {
		b.errf("asn.scheme", "%q; valid: private-2 (64512-65534), private-4 (4200000000-4294967294)", in.ASN.Scheme)
	}
	if *in.BFD.Enabled {
		if in.BFD.Interval < 10 || in.BFD.Interval > 60000 {
			b.errf("bfd.interval", "%d ms; want 10..60000", in.BFD.Interval)
		}
		if in.BFD.Multiplier < 2 || in.BFD.Multiplier > 255 {
			b.errf("bfd.multiplier", "%d; want 2..255", in.BFD.Multiplier)
		}
	}
	if in.Speeds.Server < 0 {
		b.errf("speeds.server", "%g; want a positive speed in Gbit/s", in.Speeds.Server)
	}
	if in.Speeds.Fabric < 0 {
		b.errf("speeds.fabric", "%g; want a positive speed in Gbit/s", in.Speeds.Fabric)
	}
	if in.Oversubscription.WarnAbove < 0 {
		b.errf("oversubscription.warn-above", "%g; want a positive ratio such as 3", in.Oversubscription.WarnAbove)
	}
	capChk := func(field string, have int, capField string, capv int) {
		if have > capv {
			b.errf(capField, "%d is less than %s %d; set %s to at least %d (and keep it as the fabric grows: ids and addresses derive from it)",
				capv, field, have, capField, have)
		}
	}
	capChk("leaves-per-pod", in.LeavesPerPod, "capacity.leaves-per-pod", in.Capacity.LeavesPerPod)
	capChk("spines per pod (planes x spines-per-plane)", b.spinesPerPod, "capacity.spines-per-pod", in.Capacity.SpinesPerPod)
	capChk("border-leaves", in.BorderLeaves, "capacity.border-leaves", in.Capacity.BorderLeaves)
	capChk("leaf-uplinks", in.LeafUplinks, "capacity.uplinks-per-leaf", in.Capacity.UplinksPerLeaf)
	capChk("servers-per-leaf", in.ServersPerLeaf, "capacity.servers-per-leaf", in.Capacity.ServersPerLeaf)
	if in.BorderLeaves > 0 {
		capChk("border uplinks (one per tier-1 switch)", b.tier1, "capacity.uplinks-per-border", in.Capacity.UplinksPerBorder)
	}
	if in.Stages == 5 {
		capChk("super-spines-per-plane", in.SuperSpinesPerPlane, "capacity.super-spines-per-plane", in.Capacity.SuperSpinesPerPlane)
		capChk("spine-uplinks", in.SpineUplinks, "capacity.uplinks-per-spine", in.Capacity.UplinksPerSpine)
	}
	for _, nm := range []struct{ field, v string }{
		{"names.leaf", in.Names.Leaf}, {"names.spine", in.Names.Spine}, {"names.super-spine", in.Names.SuperSpine},
		{"names.border-leaf", in.Names.BorderLeaf}, {"names.server", in.Names.Server},
	} {
		if !namePrefixRe.MatchString(nm.v) {
			b.errf(nm.field, "%q; want lower-case letters, digits and -, starting with a letter (up to 31)", nm.v)
		}
	}
	for _, f := range []struct {
		field string
		v     int
	}{{"numbering.leaf-first", in.Numbering.LeafFirst}, {"numbering.spine-first", in.Numbering.SpineFirst},
		{"numbering.super-spine-first", in.Numbering.SuperSpineFirst}, {"numbering.border-leaf-first", in.Numbering.BorderLeafFirst},
		{"numbering.server-first", in.Numbering.ServerFirst}} {
		if f.v < 0 {
			b.errf(f.field, "%d; want 0 or more", f.v)
		}
	}
}

// Stable ids. Leaves and spines are numbered by pod with room for the
// capacity of a pod, so a new leaf in pod 1 never renumbers pod 2.
func (b *builder) leafID(pod, i int) int  { return (pod-1)*b.in.Capacity.LeavesPerPod + i }
func (b *builder) spineID(pod, s int) int { return (pod-1)*b.in.Capacity.SpinesPerPod + s }
func (b *builder) superID(plane, k int) int {
	return (plane-1)*b.in.Capacity.SuperSpinesPerPlane + k
}
func (b *builder) serverID(leafID, j int) int {
	return b.serverBase + (leafID-1)*b.in.Capacity.ServersPerLeaf + j
}

func (b *builder) maxLeafID() int   { return b.leafID(b.in.Pods, b.in.LeavesPerPod) }
func (b *builder) maxSpineID() int  { return b.spineID(b.in.Pods, b.spinesPerPod) }
func (b *builder) maxSuperID() int  { return b.superID(b.in.Planes, b.in.SuperSpinesPerPlane) }
func (b *builder) maxBorderID() int { return b.in.BorderLeaves }

// Shares of each pool per tier.
var (
	loLeaf   = slice{"leaves", 0, 4, 8}
	loSpine  = slice{"spines", 4, 2, 8}
	loBorder = slice{"border leaves", 6, 1, 8}
	loSuper  = slice{"super-spines", 7, 1, 8}
	lnLeaf   = slice{"leaf uplinks", 0, 4, 8}
	lnSpine  = slice{"spine uplinks", 4, 2, 8}
	lnBorder = slice{"border-leaf uplinks", 6, 2, 8}
)

func shareText(s slice) string {
	return fmt.Sprintf("%d/%d", s.len, s.den)
}

func (b *builder) need(field string, p netip.Prefix, s slice, n uint64, why string) {
	_, size := s.bounds(p)
	if n <= size {
		return
	}
	total := (n*s.den + s.len - 1) / s.len
	b.errf(field, "%s gives %s %d addresses (its %s share) but %s need %d, %d short; a /%d or larger fits",
		p, s.name, size, shareText(s), why, n, n-size, fitBits(total, p.Addr().BitLen()))
}

func (b *builder) checkPools() {
	in := &b.in
	type pool struct {
		field string
		p     netip.Prefix
		v6    bool
	}
	all := []pool{
		{"pools.loopbacks-ipv4", in.Pools.Loopbacks4, false}, {"pools.loopbacks-ipv6", in.Pools.Loopbacks6, true},
		{"pools.links-ipv4", in.Pools.Links4, false}, {"pools.links-ipv6", in.Pools.Links6, true},
		{"pools.servers-ipv4", in.Pools.Servers4, false}, {"pools.servers-ipv6", in.Pools.Servers6, true},
		{"pools.host-loopbacks-ipv4", in.Pools.HostLoopbacks4, false}, {"pools.host-loopbacks-ipv6", in.Pools.HostLoopbacks6, true},
	}
	var set []pool
	for _, pl := range all {
		if !pl.p.IsValid() {
			continue
		}
		want := "an IPv4 prefix like 10.0.0.0/16"
		if pl.v6 {
			want = "an IPv6 prefix like fd00::/48"
		}
		if pl.p.Addr().Is6() != pl.v6 || pl.p.Addr().Is4In6() {
			b.errf(pl.field, "%s is the wrong family; want %s", pl.p, want)
			continue
		}
		if pl.p.Masked() != pl.p {
			b.errf(pl.field, "%s has host bits set; want %s", pl.p, pl.p.Masked())
			continue
		}
		for _, o := range set {
			if overlaps(o.p, pl.p) {
				b.errf(pl.field, "%s overlaps %s %s; pools must not share addresses", pl.p, o.field, o.p)
			}
		}
		set = append(set, pl)
	}
	switch in.LinkAddressing {
	case LinksIPv4:
		if in.Pools.Loopbacks6.IsValid() || in.Pools.Servers6.IsValid() || in.Pools.Links6.IsValid() {
			b.errf("link-addressing", "ipv4 links carry only IPv4 but IPv6 pools are set; want dual, ipv6 or unnumbered, or drop the IPv6 pools")
		}
		if !in.Pools.Links4.IsValid() {
			b.errf("pools.links-ipv4", "missing; link-addressing ipv4 needs an IPv4 pool like 10.1.0.0/16")
		}
	case LinksIPv6:
		if !in.Pools.Links6.IsValid() {
			b.errf("pools.links-ipv6", "missing; link-addressing ipv6 needs an IPv6 pool like fd00:1::/64")
		}
		if in.Pools.Links4.IsValid() {
			b.errf("pools.links-ipv4", "%s, but link-addressing ipv6 puts no IPv4 on the links; drop it, or pick dual", in.Pools.Links4)
		}
	case LinksDual:
		if !in.Pools.Links4.IsValid() || !in.Pools.Links6.IsValid() {
			b.errf("link-addressing", "dual needs both pools.links-ipv4 and pools.links-ipv6")
		}
	case LinksUnnumbered:
		if in.Pools.Links4.IsValid() || in.Pools.Links6.IsValid() {
			b.errf("link-addressing", "unnumbered links take no addresses but link pools are set; drop pools.links-ipv4/-ipv6 or pick ipv4, ipv6 or dual")
		}
	}
	if in.Pools.Servers6.IsValid() && !in.Pools.Loopbacks6.IsValid() {
		b.errf("pools.loopbacks-ipv6", "missing; IPv6 server subnets need IPv6 loopbacks too (want a prefix like fd00::/64)")
	}
	if len(b.errs) > 0 {
		return
	}
	maxLeaf, maxSpine, maxBorder := uint64(b.maxLeafID()), uint64(b.maxSpineID()), uint64(b.maxBorderID())
	leafWhy := fmt.Sprintf("leaf ids up to %d (capacity.leaves-per-pod %d x %d pods)", maxLeaf, in.Capacity.LeavesPerPod, in.Pods)
	for _, lp := range []struct {
		field string
		p     netip.Prefix
	}{{"pools.loopbacks-ipv4", in.Pools.Loopbacks4}, {"pools.loopbacks-ipv6", in.Pools.Loopbacks6}} {
		if !lp.p.IsValid() {
			continue
		}
		b.need(lp.field, lp.p, loLeaf, maxLeaf+1, leafWhy)
		b.need(lp.field, lp.p, loSpine, maxSpine+1, fmt.Sprintf("spine ids up to %d", maxSpine))
		b.need(lp.field, lp.p, loBorder, maxBorder+1, fmt.Sprintf("border leaf ids up to %d", maxBorder))
		if in.Stages == 5 {
			b.need(lp.field, lp.p, loSuper, uint64(b.maxSuperID())+1, fmt.Sprintf("super-spine ids up to %d", b.maxSuperID()))
		}
	}
	for _, lp := range []struct {
		field string
		p     netip.Prefix
	}{{"pools.links-ipv4", in.Pools.Links4}, {"pools.links-ipv6", in.Pools.Links6}} {
		if !lp.p.IsValid() {
			continue
		}
		b.need(lp.field, lp.p, lnLeaf, 2*maxLeaf*uint64(in.Capacity.UplinksPerLeaf),
			fmt.Sprintf("%d leaf ids x capacity.uplinks-per-leaf %d links x 2", maxLeaf, in.Capacity.UplinksPerLeaf))
		if in.Stages == 5 {
			b.need(lp.field, lp.p, lnSpine, 2*maxSpine*uint64(in.Capacity.UplinksPerSpine),
				fmt.Sprintf("%d spine ids x capacity.uplinks-per-spine %d links x 2", maxSpine, in.Capacity.UplinksPerSpine))
		}
		b.need(lp.field, lp.p, lnBorder, 2*maxBorder*uint64(in.Capacity.UplinksPerBorder),
			fmt.Sprintf("%d border leaves x capacity.uplinks-per-border %d links x 2", maxBorder, in.Capacity.UplinksPerBorder))
	}
	for _, sp := range []struct {
		field, lenField string
		p               netip.Prefix
		bits            int
	}{{"pools.servers-ipv4", "server-subnet-length.ipv4", in.Pools.Servers4, in.ServerSubnet.IPv4},
		{"pools.servers-ipv6", "server-subnet-length.ipv6", in.Pools.Servers6, in.ServerSubnet.IPv6}} {
		if !sp.p.IsValid() || b.shared() {
			continue
		}
		bitLen := sp.p.Addr().BitLen()
		if sp.bits < sp.p.Bits() || sp.bits > bitLen-2 {
			b.errf(sp.lenField, "%d; want %d..%d (inside %s, room for a gateway and servers)", sp.bits, sp.p.Bits(), bitLen-2, sp.p)
			continue
		}
		if host := bitLen - sp.bits; host < 63 {
			// network, gateway and (IPv4) broadcast are not for servers
			room := int64(1)<<host - 3
			if int64(in.Capacity.ServersPerLeaf) > room {
				b.errf(sp.lenField, "/%d holds %d servers but capacity.servers-per-leaf is %d; want /%d or shorter",
					sp.bits, room, in.Capacity.ServersPerLeaf, fitBits(uint64(in.Capacity.ServersPerLeaf)+3, bitLen))
			}
		}
		if count := sp.bits - sp.p.Bits(); count < 63 && uint64(1)<<count < maxLeaf {
			b.errf(sp.field, "%s holds %d /%d server subnets but leaf ids reach %d (capacity.leaves-per-pod %d x %d pods), %d short; a /%d or larger fits",
				sp.p, uint64(1)<<count, sp.bits, maxLeaf, in.Capacity.LeavesPerPod, in.Pods, maxLeaf-uint64(1)<<count,
				sp.bits-bitsFor(maxLeaf))
		}
	}
	if b.shared() {
		b.checkSharedPools()
	}
}

func bitsFor(n uint64) int {
	b := 0
	for uint64(1)<<b < n {
		b++
	}
	return b
}

// ASN layout (RFC 7938 7.2.1): the middle stage shares the top ASN of the
// range; border leaves take the ASNs below it, one each, with room for
// capacity.border-leaves; each pod's tier-2 spines share one ASN, counting
// down below those; leaves count up from the bottom of the range, one each,
// or with reuse-leaf-asns the same numbers in every pod (7.2.2).
type asnLayout struct{ lo, hi uint32 }

func (b *builder) layout() asnLayout {
	if b.in.ASN.Scheme == ASNPrivate4 {
		return asnLayout{4200000000, 4294967294}
	}
	return asnLayout{64512, 65534}
}

func (b *builder) tier1ASN() uint32 { return b.layout().hi }
func (b *builder) borderASN(id int) uint32 {
	return b.layout().hi - uint32(id)
}
func (b *builder) podASN(pod int) uint32 {
	return b.layout().hi - uint32(b.in.Capacity.BorderLeaves) - uint32(pod)
}
func (b *builder) leafASN(pod, i int) uint32 {
	if b.in.ASN.ReuseLeafASNs {
		return b.layout().lo + uint32(i) - 1
	}
	return b.layout().lo + uint32(b.leafID(pod, i)) - 1
}

func (b *builder) checkASNs() {
	l := b.layout()
	in := b.in
	size := uint64(l.hi-l.lo) + 1
	top := uint64(1 + in.Capacity.BorderLeaves) // tier-1 and border leaves
	if in.Stages == 5 {
		top += uint64(in.Pods)
	}
	leaves := uint64(b.maxLeafID())
	reuseLeaves := uint64(in.LeavesPerPod)
	if in.ASN.ReuseLeafASNs {
		leaves = reuseLeaves
	}
	if top+leaves <= size {
		return
	}
	var fits string
	switch {
	case in.ASN.Scheme == ASNPrivate2 && !in.ASN.ReuseLeafASNs && in.Stages == 5 && top+reuseLeaves <= size:
		fits = "set asn.reuse-leaf-asns: true (RFC 7938 7.2.2: leaf ASNs repeat per pod, with allowas-in) or asn.scheme: private-4"
	case in.ASN.Scheme == ASNPrivate2:
		fits = "use asn.scheme: private-4 (4200000000-4294967294)"
	default:
		fits = "shrink the fabric or capacity.leaves-per-pod"
	}
	b.errf("asn.scheme", "%s holds %s ASNs (%d-%d) but this fabric needs %s (%d for the middle stage, border leaves and pods, %s for leaves); %s",
		in.ASN.Scheme, thousands(size), l.lo, l.hi, thousands(top+leaves), top, thousands(leaves), fits)
}

func (b *builder) name(prefix string, first, id int) string {
	return prefix + strconv.Itoa(first-1+id)
}

func (b *builder) add(n *Node) {
	if n.Role == RoleServer {
		b.p.Servers = append(b.p.Servers, n)
	} else {
		b.p.Switches = append(b.p.Switches, n)
	}
	if o, dup := b.p.byName[n.Name]; dup {
		b.errf(namesField(n.Role), "%s %s has the same name as %s %s; want prefixes or numbering that keep roles apart", n.Role, n.Name, o.Role, o.Name)
		return
	}
	b.p.byName[n.Name] = n
}

func namesField(role string) string {
	switch role {
	case RoleSuperSpine:
		return "names.super-spine"
	case RoleBorderLeaf:
		return "names.border-leaf"
	}
	return "names." + role
}

func loopback(p netip.Prefix, s slice, id int) (netip.Prefix, bool) {
	start, _ := s.bounds(p)
	a, ok := addrAt(p, start+uint64(id))
	return netip.PrefixFrom(a, a.BitLen()), ok
}

func (b *builder) loopbacks(n *Node, s slice) {
	lo4, _ := loopback(b.in.Pools.Loopbacks4, s, n.ID)
	n.RouterID = lo4.Addr()
	n.Loopbacks = []netip.Prefix{lo4}
	if b.in.Pools.Loopbacks6.IsValid() {
		lo6, _ := loopback(b.in.Pools.Loopbacks6, s, n.ID)
		n.Loopbacks = append(n.Loopbacks, lo6)
	}
}

func (b *builder) nodes() {
	in := b.in
	leafTier, spineTier := 2, 1
	if in.Stages == 5 {
		leafTier, spineTier = 3, 2
	}
	for pod := 1; pod <= in.Pods; pod++ {
		for i := 1; i <= in.LeavesPerPod; i++ {
			id := b.leafID(pod, i)
			n := &Node{Name: b.name(in.Names.Leaf, in.Numbering.LeafFirst, id), Role: RoleLeaf, Tier: leafTier, Pod: pod, ID: id, ASN: b.leafASN(pod, i)}
			if in.Stages == 3 {
				n.Pod = 0
			}
			if in.ASN.ReuseLeafASNs && in.Pods > 1 {
				n.AllowASIn = 1
			}
			b.loopbacks(n, loLeaf)
			sub4, _ := subnetAt(in.Pools.Servers4, in.ServerSubnet.IPv4, uint64(id-1))
			n.ServerSubnets = []netip.Prefix{sub4}
			if in.Pools.Servers6.IsValid() {
				sub6, _ := subnetAt(in.Pools.Servers6, in.ServerSubnet.IPv6, uint64(id-1))
				n.ServerSubnets = append(n.ServerSubnets, sub6)
			}
			if b.shared() {
				n.ServerSubnets = b.sharedSubnets()
			}
			b.add(n)
		}
	}
	for i := 1; i <= in.BorderLeaves; i++ {
		n := &Node{Name: b.name(in.Names.BorderLeaf, in.Numbering.BorderLeafFirst, i), Role: RoleBorderLeaf, Tier: spineTier + 1, ID: i, ASN: b.borderASN(i)}
		if in.Stages == 5 {
			// RFC 7938 7.2.5: border routers hang off the middle stage.
			n.Tier = 2
		}
		b.loopbacks(n, loBorder)
		b.add(n)
	}
	for pod := 1; pod <= in.Pods; pod++ {
		for s := 1; s <= b.spinesPerPod; s++ {
			id := b.spineID(pod, s)
			n := &Node{Name: b.name(in.Names.Spine, in.Numbering.SpineFirst, id), Role: RoleSpine, Tier: spineTier, ID: id, Plane: (s-1)/in.SpinesPerPlane + 1}
			if in.Stages == 5 {
				n.Pod = pod
				n.ASN = b.podASN(pod)
			} else {
				n.ASN = b.tier1ASN()
			}
			b.loopbacks(n, loSpine)
			b.add(n)
		}
	}
	if in.Stages == 5 {
		for plane := 1; plane <= in.Planes; plane++ {
			for k := 1; k <= in.SuperSpinesPerPlane; k++ {
				id := b.superID(plane, k)
				n := &Node{Name: b.name(in.Names.SuperSpine, in.Numbering.SuperSpineFirst, id), Role: RoleSuperSpine, Tier: 1, ID: id, Plane: plane, ASN: b.tier1ASN()}
				b.loopbacks(n, loSuper)
				b.add(n)
			}
		}
	}
	for _, leaf := range b.p.Switches {
		if leaf.Role != RoleLeaf {
			continue
		}
		for j := 1; j <= in.ServersPerLeaf; j++ {
			id := b.serverID(leaf.ID, j)
			s := &Node{Name: b.name(in.Names.Server, in.Numbering.ServerFirst, id), Role: RoleServer, ID: id, Pod: leaf.Pod, Leaf: leaf.Name}
			b.add(s)
		}
	}
}

func (b *builder) checkNames() {
	// add already reported duplicates; this catches names too long for
	// Linux network namespaces and containerlab.
	for _, n := range append(append([]*Node{}, b.p.Switches...), b.p.Servers...) {
		if len(n.Name) > 40 {
			b.errf(namesField(n.Role), "%s is %d characters; want names of at most 40", n.Name, len(n.Name))
			return
		}
	}
}

func swp(n int) string { return "swp" + strconv.Itoa(n) }

// linkAddrs returns the /31 and /127 of link index idx in share s:
// the upper tier takes the even address.
func (b *builder) linkAddrs(s slice, idx uint64) (upper, lower, subnets []netip.Prefix) {
	for _, p := range []netip.Prefix{b.in.Pools.Links4, b.in.Pools.Links6} {
		if !p.IsValid() {
			continue
		}
		start, _ := s.bounds(p)
		a0, _ := addrAt(p, start+2*idx)
		a1, _ := addrAt(p, start+2*idx+1)
		bits := a0.BitLen() - 1
		upper = append(upper, netip.PrefixFrom(a0, bits))
		lower = append(lower, netip.PrefixFrom(a1, bits))
		subnets = append(subnets, netip.PrefixFrom(a0, bits))
	}
	return
}

func (b *builder) connect(kind string, lo *Node, loIf string, hi *Node, hiIf string, s slice, idx uint64) {
	var up, down, subs []netip.Prefix
	if kind == KindFabric {
		up, down, subs = b.linkAddrs(s, idx)
	}
	lo.Interfaces = append(lo.Interfaces, Interface{Name: loIf, Kind: kind, Addresses: down, Peer: hi.Name + ":" + hiIf})
	hi.Interfaces = append(hi.Interfaces, Interface{Name: hiIf, Kind: kind, Addresses: up, Peer: lo.Name + ":" + loIf})
	b.p.Links = append(b.p.Links, Link{Kind: kind, A: End{lo.Name, loIf, down}, B: End{hi.Name, hiIf, up}, Subnets: subs})
}

// byRole groups switches by role, each group in the order of switches.
func byRole(switches []*Node) map[string][]*Node {
	out := map[string][]*Node{}
	for _, n := range switches {
		out[n.Role] = append(out[n.Role], n)
	}
	return out
}

func (b *builder) links() {
	in := b.in
	sessionsPerLink := 1
	if in.LinkAddressing == LinksDual {
		sessionsPerLink = 2
	}
	role := byRole(b.p.Switches)
	leaves, borders, spines, supers := role[RoleLeaf], role[RoleBorderLeaf], role[RoleSpine], role[RoleSuperSpine]
	spinesOfPod := func(pod int) []*Node {
		return spines[(pod-1)*b.spinesPerPod : pod*b.spinesPerPod]
	}
	fabricLinks := 0
	spineDown := 0 // ports before a spine's downlinks
	if in.Stages == 5 {
		spineDown = in.SpineUplinks
	}
	// Leaves to the spines of their pod.
	for li, leaf := range leaves {
		pod := max(leaf.Pod, 1)
		idxInPod := li%in.LeavesPerPod + 1
		for s, sp := range spinesOfPod(pod) {
			for m := 1; m <= b.leafPar; m++ {
				u := s*b.leafPar + m - 1
				b.connect(KindFabric, leaf, swp(u+1), sp, swp(spineDown+(idxInPod-1)*b.leafPar+m), lnLeaf,
					uint64(leaf.ID-1)*uint64(in.Capacity.UplinksPerLeaf)+uint64(u))
				fabricLinks++
			}
		}
	}
	// Spines to the super-spines of their plane.
	if in.Stages == 5 {
		for si, sp := range spines {
			pod := sp.Pod
			inPlane := (si%b.spinesPerPod)%in.SpinesPerPlane + 1
			plane := supers[(sp.Plane-1)*in.SuperSpinesPerPlane : sp.Plane*in.SuperSpinesPerPlane]
			for k, ss := range plane {
				for m := 1; m <= b.spinePar; m++ {
					u := k*b.spinePar + m - 1
					// Uplinks first, as on leaves, so growing a pod keeps them.
					upPort := ((pod-1)*in.SpinesPerPlane+inPlane-1)*b.spinePar + m
					b.connect(KindFabric, sp, swp(u+1), ss, swp(upPort), lnSpine,
						uint64(sp.ID-1)*uint64(in.Capacity.UplinksPerSpine)+uint64(u))
					fabricLinks++
				}
			}
		}
	}
	// Border leaves to every tier-1 switch (RFC 7938 7.2.4-7.2.5).
	tier1 := spines
	tier1Base := spineDown + in.LeavesPerPod*b.leafPar
	if in.Stages == 5 {
		tier1 = supers
		tier1Base = in.Pods * in.SpinesPerPlane * b.spinePar
	}
	for _, bl := range borders {
		for u, t := range tier1 {
			b.connect(KindFabric, bl, swp(u+1), t, swp(tier1Base+bl.ID), lnBorder,
				uint64(bl.ID-1)*uint64(in.Capacity.UplinksPerBorder)+uint64(u))
			fabricLinks++
		}
	}
	b.p.Sessions = fabricLinks * sessionsPerLink
	if b.shared() {
		b.neighborServers(leaves)
		return
	}
	// Servers: one port each on their leaf, bridged into the leaf's subnet.
	byLeaf := map[string][]*Node{}
	for _, s := range b.p.Servers {
		byLeaf[s.Leaf] = append(byLeaf[s.Leaf], s)
	}
	for _, leaf := range leaves {
		srv := byLeaf[leaf.Name]
		if len(srv) == 0 {
			continue
		}
		br := Interface{Name: "bridge", Kind: KindBridge}
		for j, s := range srv {
			port := swp(in.LeafUplinks + j + 1)
			var addrs []netip.Prefix
			for _, sub := range leaf.ServerSubnets {
				gw, _ := addrAt(sub, 1)
				a, _ := addrAt(sub, uint64(2+j))
				addrs = append(addrs, netip.PrefixFrom(a, sub.Bits()))
				s.Gateways = append(s.Gateways, gw)
			}
			s.Interfaces = append(s.Interfaces, Interface{Name: serverPort, Kind: KindServer, Addresses: addrs, Peer: leaf.Name + ":" + port})
			leaf.Interfaces = append(leaf.Interfaces, Interface{Name: port, Kind: KindServer, Peer: s.Name + ":" + serverPort, Bridge: br.Name})
			b.p.Links = append(b.p.Links, Link{Kind: KindServer, A: End{s.Name, serverPort, addrs}, B: End{leaf.Name, port, nil}, Subnets: leaf.ServerSubnets})
			br.Members = append(br.Members, port)
		}
		for _, sub := range leaf.ServerSubnets {
			gw, _ := addrAt(sub, 1)
			br.Addresses = append(br.Addresses, netip.PrefixFrom(gw, sub.Bits()))
		}
		leaf.Interfaces = append(leaf.Interfaces, br)
	}
	b.p.Sessions = fabricLinks * sessionsPerLink
}

func (b *builder) oversubscription() {
	in := b.in
	add := func(tier string, down, up float64) {
		if up == 0 {
			return
		}
		o := Oversubscription{Tier: tier, DownGbps: down, UpGbps: up, Ratio: down / up}
		b.p.Oversubscription = append(b.p.Oversubscription, o)
		if o.Ratio > in.Oversubscription.WarnAbove {
			b.p.Warnings = append(b.p.Warnings, fmt.Sprintf("oversubscription: %s %.2f:1 (%g Gbit/s down, %g up) is above oversubscription.warn-above %g",
				tier, o.Ratio, down, up, in.Oversubscription.WarnAbove))
		}
	}
	add(RoleLeaf, float64(b.serverPortsPerLeaf())*in.Speeds.Server, float64(in.LeafUplinks)*in.Speeds.Fabric)
	if in.Stages == 5 {
		add(RoleSpine, float64(in.LeavesPerPod*b.leafPar)*in.Speeds.Fabric, float64(in.SpineUplinks)*in.Speeds.Fabric)
	}
}

// serverPort is a server's data port; eth0 stays the management port, as
// on the seed's switches and in containerlab.
const serverPort = "eth1"

// checkASNCollisions verifies the layout's promise on the built nodes:
// the ranges of the tiers never meet, leaf ASNs repeat only across pods
// (with reuse), border leaves and pods each own theirs.
func (b *builder) checkASNCollisions() {
	type owner struct {
		name, role string
		pod        int
	}
	seen := map[uint32]owner{}
	for _, n := range b.p.Switches {
		o, dup := seen[n.ASN]
		seen[n.ASN] = owner{n.Name, n.Role, n.Pod}
		if !dup {
			continue
		}
		shared := o.role == n.Role && (n.Role == RoleSuperSpine ||
			(n.Role == RoleSpine && o.pod == n.Pod) ||
			(n.Role == RoleLeaf && b.in.ASN.ReuseLeafASNs && o.pod != n.Pod))
		if !shared {
			b.errf("asn.scheme", "%s %s and %s %s would share ASN %d; want a larger ASN range (asn.scheme: private-4) or smaller capacities",
				o.role, o.name, n.Role, n.Name, n.ASN)
			return
		}
	}
}
