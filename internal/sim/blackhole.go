package sim

// A route can look fine on its own switch and still lose traffic: when an
// ECMP member leads to a neighbor that has no route for the prefix any
// more, the flows hashed to it are dropped there (RFC 7938 7.2's
// transient blackholes while a withdrawal travels). These are counted
// apart from missing routes and from members over dead links, in the
// failure steps only: during the power-on convergence every table is
// filling and the count would say nothing.

// blackOf reports whether node x forwards part of prefix id's traffic to
// a live neighbor without a route for it.
func (s *Sim) blackOf(x *node, id int32) bool {
	if !x.up || x.hung || x.fresh {
		return false
	}
	g := x.ecmp.grp[id]
	if g == 0 {
		return false
	}
	for _, si := range x.ecmp.hops[g] {
		ss := s.sessions[si]
		if ss.peer < 0 || !s.linkUsable(s.links[ss.link]) {
			continue // a dead member is counted as a dead hop
		}
		if s.nodes[s.sessions[ss.peer].node].route[id] == routeNone {
			return true
		}
	}
	return false
}

func (s *Sim) reblack(x *node, id int32) {
	if !s.trackBlack {
		return
	}
	b := s.blackOf(x, id)
	if b == x.black[id] {
		return
	}
	s.accrue()
	if b {
		s.black++
	} else {
		s.black--
	}
	x.black[id] = b
	s.st.blackPeak = max(s.st.blackPeak, s.black)
}

// routeGone tells the neighbors of n that its route for id appeared or
// went.
func (s *Sim) routeGone(n *node, id int32) {
	if !s.trackBlack {
		return
	}
	for _, si := range n.sess {
		if p := s.sessions[si].peer; p >= 0 {
			s.reblack(s.nodes[s.sessions[p].node], id)
		}
	}
}

func (s *Sim) recountBlack() {
	if !s.trackBlack {
		return
	}
	s.accrue()
	s.black = 0
	for _, n := range s.nodes {
		if n.black == nil {
			n.black = make([]bool, len(s.prefixes))
		}
		for id := range n.black {
			b := s.blackOf(n, int32(id))
			n.black[id] = b
			if b {
				s.black++
			}
		}
	}
	s.st.blackPeak = max(s.st.blackPeak, s.black)
}
