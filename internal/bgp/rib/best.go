package rib

import (
	"cmp"
	"slices"
)

// Best-path selection (RFC 4271 9.1.2.2 with the customary additions), in
// this order:
//
//  0. host routes' mobility community: sticky, then the higher sequence
//     (mobility.go); absent counts as sequence 0
//  1. peer weight, higher first
//  2. LOCAL_PREF, higher first (absent means 100)
//  3. locally originated first
//  4. AS path length, shorter first (AS_SET counts 1, confederation 0)
//  5. ORIGIN, IGP < EGP < INCOMPLETE
//  6. MED, lower first, only between paths from the same neighbor AS
//     unless AlwaysCompareMED (absent means 0)
//  7. eBGP over iBGP
//     (IGP metric to the next hop: there is no IGP in the fabric, skipped)
//     -- paths equal so far may share the ECMP set --
//  8. BGP identifier, or ORIGINATOR_ID when present, lower first
//  9. CLUSTER_LIST length, shorter first
//  10. peer address, lower first
//  11. add-path identifier as received, lower first
//
// Step 6 is not transitive, so when MEDs differ the paths are grouped by
// neighbor AS, each group's winner is found, and the winners are compared
// (FRR's deterministic-med, always on): the result never depends on the
// order in which paths arrived.

// compareMP compares steps 1 to 7; 0 means equal for multipath purposes.
func (e *Engine) compareMP(a, b path) int {
	pa, pb := &e.peers[a.peerID()], &e.peers[b.peerID()]
	sa, sb := &e.attrs.sets[a.attr], &e.attrs.sets[b.attr]
	if c := mobilityStep(sa, sb); c != 0 {
		return c
	}
	if c := cmp.Compare(pb.cfg.Weight, pa.cfg.Weight); c != 0 {
		return c
	}
	if c := cmp.Compare(sb.localPref, sa.localPref); c != 0 {
		return c
	}
	la, lb := a.peerID() == localPeer, b.peerID() == localPeer
	if la != lb {
		if la {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(sa.asLen, sb.asLen); c != 0 {
		return c
	}
	if c := cmp.Compare(sa.origin, sb.origin); c != 0 {
		return c
	}
	if e.cfg.AlwaysCompareMED || sa.neighborAS == sb.neighborAS {
		if c := cmp.Compare(sa.med, sb.med); c != 0 {
			return c
		}
	}
	if pa.cfg.Type != pb.cfg.Type {
		if pa.cfg.Type == EBGP {
			return -1
		}
		return 1
	}
	return 0
}

// compareTie compares steps 8 to 11, a total order on distinct paths.
func (e *Engine) compareTie(a, b path) int {
	pa, pb := &e.peers[a.peerID()], &e.peers[b.peerID()]
	sa, sb := &e.attrs.sets[a.attr], &e.attrs.sets[b.attr]
	ida, idb := pa.routerID, pb.routerID
	if sa.hasOrig {
		ida = sa.originator
	}
	if sb.hasOrig {
		idb = sb.originator
	}
	if c := ida.Compare(idb); c != 0 {
		return c
	}
	if c := cmp.Compare(sa.clusterLen, sb.clusterLen); c != 0 {
		return c
	}
	if c := pa.cfg.Address.Compare(pb.cfg.Address); c != 0 {
		return c
	}
	if c := cmp.Compare(a.peerID(), b.peerID()); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

func (e *Engine) compare(a, b path) int {
	if c := e.compareMP(a, b); c != 0 {
		return c
	}
	return e.compareTie(a, b)
}

// selectBest returns the index of the best path, -1 when there is none.
func (e *Engine) selectBest(paths []path) int {
	if len(paths) == 0 {
		return -1
	}
	trivial := e.cfg.AlwaysCompareMED
	if !trivial {
		trivial = true
		m := e.attrs.sets[paths[0].attr].med
		for _, p := range paths[1:] {
			if e.attrs.sets[p.attr].med != m {
				trivial = false
				break
			}
		}
	}
	if trivial {
		best := 0
		for i := 1; i < len(paths); i++ {
			if e.compare(paths[i], paths[best]) < 0 {
				best = i
			}
		}
		return best
	}
	// Deterministic MED: winners per neighbor AS, then among winners.
	type win struct {
		as  uint32
		idx int
	}
	var buf [16]win
	wins := buf[:0]
	for i, p := range paths {
		as := e.attrs.sets[p.attr].neighborAS
		k := slices.IndexFunc(wins, func(w win) bool { return w.as == as })
		if k < 0 {
			wins = append(wins, win{as, i})
		} else if e.compare(p, paths[wins[k].idx]) < 0 {
			wins[k].idx = i
		}
	}
	best := wins[0].idx
	for _, w := range wins[1:] {
		if e.compare(paths[w.idx], paths[best]) < 0 {
			best = w.idx
		}
	}
	return best
}

// multipath appends to dst the indexes of the paths that share the ECMP
// set with paths[best], best first, then in tie-break order, at most
// MaxPaths of them. Without MultipathRelax the neighbor AS must match the
// best path's; eBGP and iBGP paths are never mixed (step 7).
func (e *Engine) multipath(dst []int, paths []path, best int) []int {
	dst = append(dst, best)
	if e.cfg.MaxPaths == 1 {
		return dst
	}
	b := paths[best]
	bas := e.attrs.sets[b.attr].neighborAS
	for i, p := range paths {
		if i == best || e.compareMP(p, b) != 0 {
			continue
		}
		if !e.cfg.MultipathRelax && e.attrs.sets[p.attr].neighborAS != bas {
			continue
		}
		dst = append(dst, i)
	}
	if len(dst) > e.cfg.MaxPaths {
		rest := dst[1:]
		slices.SortFunc(rest, func(x, y int) int { return e.compareTie(paths[x], paths[y]) })
		dst = dst[:e.cfg.MaxPaths]
	}
	return dst
}

// selectSet is selectBest followed by multipath in one pass over the paths,
// for the common case where MEDs do not decide (all equal, or always
// compared): steps 1-7 are then a total preorder, so the paths equal to the
// running best through step 7 are exactly the final best's ECMP candidates.
// Otherwise it falls back to the two-step deterministic-MED selection.
func (e *Engine) selectSet(dst []int, paths []path) (int, []int) {
	if len(paths) == 0 {
		return -1, dst
	}
	sets := e.attrs.sets
	med := sets[paths[0].attr].med
	trivial := true
	best := 0
	dst = append(dst, 0)
	for i := 1; i < len(paths); i++ {
		p := paths[i]
		if sets[p.attr].med != med {
			trivial = false
		}
		c := e.compareMP(p, paths[best])
		switch {
		case c < 0:
			best = i
			dst = append(dst[:0], i)
		case c == 0:
			if e.compareTie(p, paths[best]) < 0 {
				best = i
			}
			dst = append(dst, i)
		}
	}
	if !trivial && !e.cfg.AlwaysCompareMED {
		best = e.selectBest(paths)
		return best, e.multipath(dst[:0], paths, best)
	}
	// Best first, then the others; the filter writes behind where it
	// reads.
	p := slices.Index(dst, best)
	dst[0], dst[p] = dst[p], dst[0]
	bas := sets[paths[best].attr].neighborAS
	out := dst[:1]
	for _, i := range dst[1:] {
		if e.cfg.MultipathRelax || sets[paths[i].attr].neighborAS == bas {
			out = append(out, i)
		}
	}
	if e.cfg.MaxPaths == 1 {
		return best, out[:1]
	}
	if len(out) > e.cfg.MaxPaths {
		rest := out[1:]
		slices.SortFunc(rest, func(x, y int) int { return e.compareTie(paths[x], paths[y]) })
		out = out[:e.cfg.MaxPaths]
	}
	return best, out
}
