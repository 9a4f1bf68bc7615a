package sim

import "github.com/closnet/clos/internal/plan"

// Route states, per node and prefix, in Sim's tables: routeNone, routeLocal,
// or routeVia+w for a BGP route over w next hops. The expected table uses
// the same encoding.
const (
	routeNone  = 0
	routeLocal = 1
	routeVia   = 2
)

// transitFree reports whether a node never passes on others' routes: leaves
// and border leaves announce only their own prefixes (the plan's TO-FABRIC
// policy, RFC 7938 keeps them from being transit).
func transitFree(n *node) bool {
	return n.spec.Role == plan.RoleLeaf || n.spec.Role == plan.RoleBorderLeaf
}

// computeExpect derives from the topology as it is now what every live
// node should end up with for every prefix: a breadth-first search from
// each originating node over usable links, that does not pass through
// transit-free nodes and that a node only accepts a path from when its own
// AS is in it no more often than its allowas-in permits (the AS loop check
// of BGP). The expected ECMP width is the number of usable sessions to
// neighbors one hop nearer over an acceptable path, up to max-paths: the
// set multipath-relax gives when every AS path of equal length ties.
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
	alive := func(n *node) bool { return n.up && !n.hung }
	dist := make([]int32, nn)
	parent := make([]int32, nn)
	queue := make([]int32, 0, nn)
	asn := func(i int32) uint32 { return s.nodes[i].spec.Config.ASN }
	allow := make([]int, nn)
	for i, n := range s.nodes {
		for _, nb := range n.spec.Config.Neighbors {
			allow[i] = max(allow[i], nb.AllowASIn)
		}
	}
	// accepts: would node y take the path x advertises (x's best path
	// back to the origin, through its parents)?
	accepts := func(y, x int32) bool {
		a, k := asn(y), 0
		for v := x; v >= 0; v = parent[v] {
			if asn(v) == a {
				k++
			}
		}
		return k <= allow[y]
	}
	var byFam [2][]int32
	for o, all := range s.owner {
		if len(all) == 0 || !alive(s.nodes[o]) || s.nodes[o].fresh {
			// Nobody sends to a rebooting switch's own prefixes
			// before it announces them.
			continue
		}
		byFam[0], byFam[1] = byFam[0][:0], byFam[1][:0]
		for _, id := range all {
			if s.prefixes[id].Addr().Is4() {
				byFam[0] = append(byFam[0], id)
			} else {
				byFam[1] = append(byFam[1], id)
			}
		}
		for fam, own := range byFam {
			if len(own) > 0 {
				s.expectFrom(o, fam == 1, own, dist, parent, queue, accepts)
			}
		}
	}
	s.recountRoutes()
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

// expectFrom fills the expected routes to prefixes own of origin o, of
// one family.
func (s *Sim) expectFrom(o int, v6 bool, own []int32, dist, parent, queue []int32, accepts func(y, x int32) bool) {
	alive := func(n *node) bool { return n.up && !n.hung }
	{
		for i := range dist {
			dist[i], parent[i] = -1, -1
		}
		dist[o] = 0
		queue = append(queue[:0], int32(o))
		for qi := 0; qi < len(queue); qi++ {
			x := queue[qi]
			if x != int32(o) && transitFree(s.nodes[x]) {
				continue
			}
			for _, si := range s.nodes[x].sess {
				ss := s.sessions[si]
				if !s.carries(ss, v6) {
					continue
				}
				y := s.sessions[ss.peer].node
				if dist[y] >= 0 || !accepts(y, x) {
					continue
				}
				dist[y], parent[y] = dist[x]+1, x
				queue = append(queue, y)
			}
		}
		for y, n := range s.nodes {
			if !alive(n) || n.fresh {
				// A switch rebooting in this step forwards nothing
				// until it has learned: its empty table is no
				// blackhole.
				continue
			}
			var want uint16
			switch {
			case y == o:
				want = routeLocal
			case dist[y] > 0:
				w := 0
				for _, si := range n.sess {
					ss := s.sessions[si]
					if !s.carries(ss, v6) {
						continue
					}
					x := s.sessions[ss.peer].node
					if dist[x] == dist[y]-1 && (x == int32(o) || !transitFree(s.nodes[x])) && accepts(int32(y), x) {
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
			for _, id := range own {
				if y == o || s.expect[y][id] == routeNone {
					s.expect[y][id] = want
				}
			}
		}
	}
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
