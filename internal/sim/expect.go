package sim

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/closnet/clos/internal/bgp/policy"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/plan"
)

// Route states, per node and prefix, in Sim's tables: routeNone, routeLocal,
// or routeVia+w for a BGP route over w next hops. The expected table uses
// the same encoding.
const (
	routeNone  = 0
	routeLocal = 1
	routeVia   = 2
)

// transitFree reports whether a node never passes on others' routes
// upwards: leaves and border leaves announce only their own prefixes (and
// their servers') to the spines (the plan's TO-FABRIC policy; RFC 7938
// keeps them from being transit), and servers only their own.
func transitFree(n *node) bool {
	r := n.spec.Role
	return r == plan.RoleLeaf || r == plan.RoleBorderLeaf || r == plan.RoleServer
}

// expectation is the state of one breadth-first search.
type expectation struct {
	s       *Sim
	dist    []int32
	parent  []int32
	queue   []int32
	origin  []bool
	allow   []int
	asns    []uint32
	id      int32
	pfx     netip.Prefix
	v6      bool
	servers bool // the prefix is a server's: run the policies
}

// computeExpect derives from the topology as it is now what every live
// node should end up with for every prefix: a breadth-first search from
// the prefix's originating nodes over usable sessions of its family, that
// passes no transit-free node upwards, and where a node only takes a path
// when its own AS is in it no more often than its allowas-in permits (the
// AS loop check of BGP) and its import policy, where it has one, permits
// it. The expected ECMP width is the number of sessions to neighbors one
// hop nearer over an acceptable path, up to max-paths: the set
// multipath-relax gives when every AS path of equal length ties.
// Prefixes with the same origins and family share one search, except
// servers' (hosts: bgp), whose policies name prefixes one by one.
func (s *Sim) computeExpect() {
	nn := len(s.nodes)
	if s.expect == nil {
		s.expect = make([][]uint16, nn)
		for i := range s.expect {
			s.expect[i] = make([]uint16, len(s.prefixes))
		}
	}
	for _, e := range s.expect {
		clear(e)
	}
	ex := &expectation{s: s, dist: make([]int32, nn), parent: make([]int32, nn), queue: make([]int32, 0, nn),
		origin: make([]bool, nn), allow: make([]int, nn)}
	for i, n := range s.nodes {
		for _, nb := range n.spec.Config.Neighbors {
			ex.allow[i] = max(ex.allow[i], nb.AllowASIn)
		}
	}
	// Origins of each prefix among running nodes; nobody sends to a
	// rebooting switch's own prefixes before it announces them.
	origins := make([][]int32, len(s.prefixes))
	server := make([]bool, len(s.prefixes))
	for o, own := range s.owner {
		n := s.nodes[o]
		if !n.up || n.hung || n.fresh {
			continue
		}
		for _, id := range own {
			origins[id] = append(origins[id], int32(o))
			server[id] = server[id] || n.spec.Role == plan.RoleServer
		}
	}
	groups := map[string][]int32{}
	var keys []string
	for id, os := range origins {
		if len(os) == 0 {
			continue
		}
		k := fmt.Sprint(s.prefixes[id].Addr().Is6(), os)
		if server[id] {
			k += " " + s.prefixes[id].String()
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], int32(id))
	}
	for _, k := range keys {
		ids := groups[k]
		ex.id, ex.pfx = ids[0], s.prefixes[ids[0]]
		ex.v6, ex.servers = ex.pfx.Addr().Is6(), server[ids[0]]
		ex.run(origins[ids[0]], ids)
	}
	s.recountRoutes()
}

// pathOf is the AS_PATH node x received the prefix with: its parents'
// ASNs back to the origin.
func (ex *expectation) pathOf(x int32) []uint32 {
	ex.asns = ex.asns[:0]
	for v := ex.parent[x]; v >= 0; v = ex.parent[v] {
		ex.asns = append(ex.asns, ex.s.nodes[v].spec.Config.ASN)
	}
	return ex.asns
}

func attrsWith(path []uint32) *wire.PathAttrs {
	return &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: slices.Clone(path)}}}
}

// edge reports whether x's route reaches y over x's session ss: x
// exports it (transit-free nodes only upwards what their policy
// permits, for servers' prefixes), y's AS loop check and import policy
// take it.
func (ex *expectation) edge(x int32, ss *session) bool {
	s := ex.s
	if !s.carries(ss, ex.v6) {
		return false
	}
	ps := s.sessions[ss.peer]
	y := ps.node
	xn, yn := s.nodes[x], s.nodes[y]
	up := yn.spec.Tier < xn.spec.Tier
	switch {
	case !ex.origin[x] && transitFree(xn) && up:
		if !ex.servers || ss.nb.RouteMap.Out == "" {
			return false
		}
		fallthrough
	case ex.servers && ss.nb.RouteMap.Out != "":
		pol := policy.Neighbor{Out: ss.nb.RouteMap.Out, Set: xn.pol}
		if _, ok := pol.Export(ex.pfx, attrsWith(ex.pathOf(x))); !ok {
			return false
		}
	}
	// The AS loop check: y's AS on the path as x sends it.
	a, k := yn.spec.Config.ASN, 0
	for v := x; v >= 0; v = ex.parent[v] {
		if s.nodes[v].spec.Config.ASN == a {
			k++
		}
	}
	if k > ex.allow[y] {
		return false
	}
	if ps.nb.RouteMap.In != "" {
		path := append([]uint32{xn.spec.Config.ASN}, ex.pathOf(x)...)
		pol := policy.Neighbor{In: ps.nb.RouteMap.In, Set: yn.pol}
		if _, ok := pol.Import(ex.pfx, attrsWith(path)); !ok {
			return false
		}
	}
	return true
}

// run is one multi-source search from the origins, filling the expected
// routes of prefixes ids.
func (ex *expectation) run(origins []int32, ids []int32) {
	s := ex.s
	for i := range ex.dist {
		ex.dist[i], ex.parent[i], ex.origin[i] = -1, -1, false
	}
	ex.queue = ex.queue[:0]
	for _, o := range origins {
		ex.dist[o], ex.origin[o] = 0, true
		ex.queue = append(ex.queue, o)
	}
	for qi := 0; qi < len(ex.queue); qi++ {
		x := ex.queue[qi]
		for _, si := range s.nodes[x].sess {
			ss := s.sessions[si]
			if ss.peer < 0 {
				continue
			}
			y := s.sessions[ss.peer].node
			if ex.dist[y] >= 0 || !ex.edge(x, ss) {
				continue
			}
			ex.dist[y], ex.parent[y] = ex.dist[x]+1, x
			ex.queue = append(ex.queue, y)
		}
	}
	for y, n := range s.nodes {
		if !n.up || n.hung || n.fresh {
			// A switch rebooting in this step forwards nothing
			// until it has learned: its empty table is no blackhole.
			continue
		}
		var want uint16
		switch {
		case ex.origin[y]:
			want = routeLocal
		case ex.dist[y] > 0:
			w := 0
			for _, si := range n.sess {
				ps := s.sessions[si]
				if ps.peer < 0 {
					continue
				}
				ss := s.sessions[ps.peer]
				x := ss.node
				if ex.dist[x] == ex.dist[y]-1 && ex.edge(x, ss) {
					w++
				}
			}
			mp := n.spec.Config.BGP.MaxPaths
			if mp == 0 {
				mp = 64 // the RIB's default
			}
			w = min(w, mp)
			if w > 0 {
				want = routeVia + uint16(w)
			}
		}
		for _, id := range ids {
			s.expect[y][id] = want
		}
	}
}

// carries reports whether session ss can carry routes of the family
// (IPv6 when v6): both ends announce it.
func (s *Sim) carries(ss *session, v6 bool) bool {
	if ss.peer < 0 || !s.linkUsable(s.links[ss.link]) {
		return false
	}
	if v6 {
		return ss.v6 && s.sessions[ss.peer].v6
	}
	return ss.v4 && s.sessions[ss.peer].v4
}

func missingOf(want, have uint16) int {
	if want != routeNone && have == routeNone {
		return 1
	}
	return 0
}

func narrowOf(want, have uint16) int {
	if want > routeVia && have >= routeVia && have < want {
		return 1
	}
	return 0
}

// recountRoutes recomputes the blackhole and narrow counts from scratch.
func (s *Sim) recountRoutes() {
	s.missing, s.narrow = 0, 0
	for i, n := range s.nodes {
		e := s.expect[i]
		for id, r := range n.route {
			s.missing += missingOf(e[id], r)
			s.narrow += narrowOf(e[id], r)
		}
	}
	s.st.peaks(s.missing, s.narrow)
}

// setRoute records a node's new forwarding state for a prefix and keeps
// the counts.
func (s *Sim) setRoute(n *node, id int32, r uint16) {
	old := n.route[id]
	if old == r {
		return
	}
	want := s.expect[n.idx][id]
	s.missing += missingOf(want, r) - missingOf(want, old)
	s.narrow += narrowOf(want, r) - narrowOf(want, old)
	n.route[id] = r
	s.st.peaks(s.missing, s.narrow)
	if (old == routeNone) != (r == routeNone) {
		s.routeGone(n, id)
	}
}

// violations counts, after a step, routes that differ from the expected
// ones other than by being missing: wrong width, or a route where none
// should be.
func (s *Sim) violations() (wrong, missing int) {
	for i, n := range s.nodes {
		if !n.up || n.hung {
			continue
		}
		e := s.expect[i]
		for id, r := range n.route {
			switch {
			case r == e[id]:
			case r == routeNone:
				missing++
			default:
				wrong++
			}
		}
	}
	return wrong, missing
}
