package plan

import (
	"fmt"
	"net/netip"

	"github.com/closnet/clos/internal/config"
)

// A DCI fabric (intent sites: 2, preset dci) is two sites built from the
// same intent and joined by an L3 interconnect between their border
// leaves. Both sites share the server subnet (hosts: neighbor), so a VM
// restarted at the other site keeps its address and is reached through
// its host route; site a is the primary and announces the subnet's
// aggregate as is, site b (the backup) announces it with its AS prepended
// dciPrepend times, so the fabric prefers the primary for hosts without a
// host route.
//
// Site b is numbered after site a: names continue (leaf3, spine3, border2,
// server5 in the preset), its loopbacks and links come from the prefixes
// right after site a's pools, its server ids (so its addresses in the
// shared subnet) follow site a's, and its ASNs are distinct: leaves count
// on after capacity.leaves-per-pod, its spines take the ASN below the
// border leaves' range, its border leaves the ids after site a's.

// dciPrepend is how often site b's leaves prepend their ASN to the
// aggregate: the path from site a's leaves through the interconnect is 4
// ASNs long (spine, border, border, spine), so with 4 prepends (5 ASNs)
// even site b's own spines prefer the primary.
const dciPrepend = 4

func (b *builder) checkSites() {
	in := &b.in
	switch in.Sites {
	case 1:
	case 2:
		if in.Hosts != HostsNeighbor {
			b.errf("sites", "2 sites share the server subnet, which needs hosts: neighbor; got hosts: %s", in.Hosts)
		}
		if in.BorderLeaves < 1 {
			b.errf("sites", "2 sites are joined between border leaves; want border-leaves: 1 or more")
		}
		if in.Stages != 3 {
			b.errf("sites", "2 sites are built as 3-stage fabrics; want stages: 3")
		}
	default:
		b.errf("sites", "%d; valid: 1, or 2 (two sites joined by an L3 interconnect, hosts: neighbor)", in.Sites)
	}
}

// nextPrefix is the prefix of the same length right after p.
func nextPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, true
	}
	last, ok := addrAt(p, poolSize(p)-1)
	if !ok || poolSize(p) == 0 || !last.Next().IsValid() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(last.Next(), p.Bits()), true
}

// secondSite builds site b and joins it to site a (b.p).
func (b *builder) secondSite() error {
	a := b.p
	in := b.in
	roleA := byRole(a.Switches)
	leavesA, spinesA, bordersA := roleA[RoleLeaf], roleA[RoleSpine], roleA[RoleBorderLeaf]
	sb := in
	sb.Sites = 1
	sb.Numbering.LeafFirst += len(leavesA)
	sb.Numbering.SpineFirst += len(spinesA)
	sb.Numbering.BorderLeafFirst += len(bordersA)
	var errs Errors
	for _, pl := range []struct {
		field string
		p     *netip.Prefix
	}{{"pools.loopbacks-ipv4", &sb.Pools.Loopbacks4}, {"pools.loopbacks-ipv6", &sb.Pools.Loopbacks6},
		{"pools.links-ipv4", &sb.Pools.Links4}, {"pools.links-ipv6", &sb.Pools.Links6}} {
		next, ok := nextPrefix(*pl.p)
		if !ok {
			errs = append(errs, Error{pl.field, fmt.Sprintf("%s is the last block of its length; site b takes the next one, so move it down", *pl.p)})
			continue
		}
		for _, o := range []netip.Prefix{in.Pools.Loopbacks4, in.Pools.Loopbacks6, in.Pools.Links4, in.Pools.Links6, in.Pools.Servers4, in.Pools.Servers6} {
			if o.IsValid() && next.IsValid() && overlaps(o, next) {
				errs = append(errs, Error{pl.field, fmt.Sprintf("site b takes %s, the block after %s, but it overlaps %s; leave room after each site a pool", next, *pl.p, o)})
			}
		}
		*pl.p = next
	}
	if len(errs) > 0 {
		return errs
	}
	sb.Defaults()
	bb := &builder{in: sb, p: &Plan{Intent: sb, byName: map[string]*Node{}},
		serverBase: b.serverID(b.maxLeafID(), in.Capacity.ServersPerLeaf)}
	bb.checkIntent()
	if len(bb.errs) == 0 {
		bb.checkPools()
		bb.checkASNs()
	}
	if len(bb.errs) == 0 {
		bb.nodes()
		bb.checkNames()
	}
	if len(bb.errs) > 0 {
		for i := range bb.errs {
			bb.errs[i].Msg = "site b: " + bb.errs[i].Msg
		}
		return bb.errs
	}
	bb.links()
	// Distinct ASNs for site b, so paths across the interconnect carry
	// no loops.
	l := b.layout()
	var bordersB []*Node
	for _, n := range bb.p.Switches {
		switch n.Role {
		case RoleLeaf:
			n.ASN += uint32(in.Capacity.LeavesPerPod * in.Pods)
		case RoleSpine:
			n.ASN = l.hi - uint32(in.Capacity.BorderLeaves) - 1
		case RoleBorderLeaf:
			n.ASN = b.borderASN(len(bordersA) + n.ID)
			bordersB = append(bordersB, n)
		}
	}
	for _, n := range append(append([]*Node{}, bb.p.Switches...), bb.p.Servers...) {
		b.add(n)
	}
	b.checkASNCollisions()
	if len(b.errs) > 0 {
		return b.errs
	}
	b.p.Links = append(b.p.Links, bb.p.Links...)
	b.p.Sessions += bb.p.Sessions
	// The interconnect: border leaf k of site a to border leaf k of site
	// b, on the port after their uplinks, addressed from site a's border
	// uplink share at the next slot.
	for k := 0; k < len(bordersA) && k < len(bordersB); k++ {
		ba, bz := bordersA[k], bordersB[k]
		u := b.tier1
		if u >= in.Capacity.UplinksPerBorder {
			return Errors{{"capacity.uplinks-per-border", fmt.Sprintf("%d leaves no port for the site interconnect after %d uplinks; want %d or more", in.Capacity.UplinksPerBorder, u, u+1)}}
		}
		b.connect(KindFabric, ba, swp(u+1), bz, swp(u+1), lnBorder, uint64(ba.ID-1)*uint64(in.Capacity.UplinksPerBorder)+uint64(u))
		sessions := 1
		if in.LinkAddressing == LinksDual {
			sessions = 2
		}
		b.p.Sessions += sessions
	}
	b.p.backup = map[string]bool{}
	for _, n := range bb.p.Switches {
		b.p.backup[n.Name] = true
	}
	return nil
}

// dciBorder reports whether n is a border leaf of a two-site fabric: it
// carries the shared subnet's host routes between the sites.
func (p *Plan) dciBorder(n *Node) bool { return p.Intent.Sites == 2 && n.Role == RoleBorderLeaf }

// policyAggregate matches the shared subnets exactly.
const policyAggregate = "AGGREGATE"

// backupPrepend makes a backup-site leaf announce the shared subnet's
// aggregate with its ASN prepended dciPrepend times; host routes and its
// loopback go out as they are.
func (p *Plan) backupPrepend(n *Node, c *config.Config) {
	if !p.backup[n.Name] || n.Role != RoleLeaf {
		return
	}
	pl := config.PrefixList{Name: policyAggregate}
	for i, pf := range p.Intent.sharedPools() {
		pl.Entries = append(pl.Entries, config.PrefixListEntry{Seq: 10 * (i + 1), Action: "permit", Prefix: pf})
	}
	c.Policy.PrefixLists = append(c.Policy.PrefixLists, pl)
	prepend := make([]uint32, dciPrepend)
	for i := range prepend {
		prepend[i] = n.ASN
	}
	rm := &c.Policy.RouteMaps[len(c.Policy.RouteMaps)-1]
	rm.Entries = append([]config.RouteMapEntry{{Seq: 5, Action: "permit",
		Match: config.RouteMapMatch{PrefixList: policyAggregate}, Set: config.RouteMapSet{Prepend: prepend}}}, rm.Entries...)
}
