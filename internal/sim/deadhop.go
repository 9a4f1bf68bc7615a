package sim

import (
	"time"

	"github.com/closnet/clos/internal/bgp/rib"
)

// A route whose ECMP set still holds a next hop over a link that no
// longer carries traffic blackholes the flows hashed to that member: after
// a silent failure until BFD or the hold timer notices, after a cut until
// the RIB has run. These routes are tracked apart from missing ones.

// ecmpState is a node's view of its RIB's ECMP groups.
type ecmpState struct {
	grp  []uint32           // prefix id -> ECMP group, 0 none
	hops map[uint32][]int32 // group -> sessions of its members
	dead map[uint32]bool    // group -> a member is over an unusable link
}

func (e *ecmpState) init(prefixes int) {
	e.grp = make([]uint32, prefixes)
	e.hops = map[uint32][]int32{}
	e.dead = map[uint32]bool{}
}

func (s *Sim) anyDead(hops []int32) bool {
	for _, si := range hops {
		if !s.linkUsable(s.links[s.sessions[si].link]) {
			return true
		}
	}
	return false
}

// noteGroup records group g's members as the RIB reported them.
func (s *Sim) noteGroup(n *node, g uint32, nhs []rib.NextHop) {
	if g == 0 {
		return
	}
	old := n.ecmp.hops[g]
	same := len(old) == len(nhs)
	for i := 0; same && i < len(nhs); i++ {
		same = old[i] == n.byRIB[nhs[i].Peer]
	}
	if same && old != nil {
		return
	}
	hops := make([]int32, 0, len(nhs))
	for _, nh := range nhs {
		if si, ok := n.byRIB[nh.Peer]; ok {
			hops = append(hops, si)
		}
	}
	n.ecmp.hops[g] = hops
	n.ecmp.dead[g] = s.anyDead(hops)
}

// setGroup moves a node's prefix to ECMP group g and keeps the count.
func (s *Sim) setGroup(n *node, id int32, g uint32) {
	old := n.ecmp.grp[id]
	if old == g {
		return
	}
	s.accrue()
	if old != 0 && n.ecmp.dead[old] {
		s.deadHop--
	}
	if g != 0 && n.ecmp.dead[g] {
		s.deadHop++
	}
	n.ecmp.grp[id] = g
	s.st.deadHopPeak = max(s.st.deadHopPeak, s.deadHop)
	s.reblack(n, id)
}

// recountDead re-derives which groups are dead after a topology change.
func (s *Sim) recountDead() {
	s.accrue()
	s.deadHop = 0
	for _, n := range s.nodes {
		if n.ecmp.grp == nil {
			continue
		}
		for g, hops := range n.ecmp.hops {
			n.ecmp.dead[g] = s.anyDead(hops)
		}
		if !n.up || n.hung {
			continue
		}
		for _, g := range n.ecmp.grp {
			if g != 0 && n.ecmp.dead[g] {
				s.deadHop++
			}
		}
	}
	s.st.deadHopPeak = max(s.st.deadHopPeak, s.deadHop)
}

// accrue adds the dead-next-hop and blackholing routes' time since the
// last change to the step's totals.
func (s *Sim) accrue() {
	now := s.sched.Now()
	if now > s.deadSince {
		s.st.deadHopTime += time.Duration(s.deadHop) * (now - s.deadSince)
		s.st.blackTime += time.Duration(s.black) * (now - s.deadSince)
	}
	s.deadSince = now
}
