package rib

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/neigh"
)

// rpath is a path as the naive reference sees it: everything spelled out,
// nothing interned.
type rpath struct {
	peer   PeerID
	id     uint32
	cfg    PeerConfig
	rid    netip.Addr
	attrs  *wire.PathAttrs
	nextHp netip.Addr
}

func (p rpath) lp() uint32 {
	if p.cfg.Type == EBGP || !p.attrs.HasLocalPref {
		return 100
	}
	return p.attrs.LocalPref
}

func (p rpath) nas() uint32 { a, _ := p.attrs.ASPath.First(); return a }

func (p rpath) med() uint32 {
	if p.attrs.HasMED {
		return p.attrs.MED
	}
	return 0
}

func (p rpath) tieID() netip.Addr {
	if p.attrs.OriginatorID.IsValid() {
		return p.attrs.OriginatorID
	}
	return p.rid
}

// naiveMP is RFC 4271 9.1.2.2 steps up to eBGP over iBGP, written as a list
// of keys.
func naiveMP(a, b rpath, always bool) int {
	as, ast, _ := Mobility(a.attrs)
	bs, bst, _ := Mobility(b.attrs)
	sticky := func(s bool) int64 {
		if s {
			return 0
		}
		return 1
	}
	keys := [][2]int64{
		{sticky(ast), sticky(bst)},
		{-int64(as), -int64(bs)},
		{-int64(a.cfg.Weight), -int64(b.cfg.Weight)},
		{-int64(a.lp()), -int64(b.lp())},
		{int64(a.attrs.ASPath.Len()), int64(b.attrs.ASPath.Len())},
		{int64(a.attrs.Origin), int64(b.attrs.Origin)},
	}
	if always || a.nas() == b.nas() {
		keys = append(keys, [2]int64{int64(a.med()), int64(b.med())})
	}
	keys = append(keys, [2]int64{int64(a.cfg.Type), int64(b.cfg.Type)}) // EBGP=1 < IBGP=2
	for _, k := range keys {
		if c := cmp.Compare(k[0], k[1]); c != 0 {
			return c
		}
	}
	return 0
}

func naiveTie(a, b rpath) int {
	if c := a.tieID().Compare(b.tieID()); c != 0 {
		return c
	}
	if c := cmp.Compare(len(a.attrs.ClusterList), len(b.attrs.ClusterList)); c != 0 {
		return c
	}
	if c := a.cfg.Address.Compare(b.cfg.Address); c != 0 {
		return c
	}
	if c := cmp.Compare(a.peer, b.peer); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

func naiveBetter(a, b rpath, always bool) bool {
	if c := naiveMP(a, b, always); c != 0 {
		return c < 0
	}
	return naiveTie(a, b) < 0
}

// naiveDominant returns the path no other path of ps beats, by exhaustive
// pairwise comparison.
func naiveDominant(t *testing.T, ps []rpath, always bool) rpath {
	for _, p := range ps {
		ok := true
		for _, q := range ps {
			if naiveBetter(q, p, always) {
				ok = false
				break
			}
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no dominant path among %d", len(ps))
	return rpath{}
}

func naiveSelect(t *testing.T, ps []rpath, c Config) (rpath, []string) {
	groups := map[uint32][]rpath{}
	for _, p := range ps {
		k := p.nas()
		if c.AlwaysCompareMED {
			k = 0
		}
		groups[k] = append(groups[k], p)
	}
	var winners []rpath
	for _, g := range groups {
		winners = append(winners, naiveDominant(t, g, c.AlwaysCompareMED))
	}
	best := naiveDominant(t, winners, c.AlwaysCompareMED)
	var mp []rpath
	for _, p := range ps {
		if p.peer == best.peer && p.id == best.id {
			continue
		}
		if naiveMP(p, best, c.AlwaysCompareMED) == 0 && (c.MultipathRelax || p.nas() == best.nas()) {
			mp = append(mp, p)
		}
	}
	slices.SortFunc(mp, naiveTie)
	mp = append([]rpath{best}, mp...)
	max := c.MaxPaths
	if max == 0 {
		max = 64
	}
	if len(mp) > max {
		mp = mp[:max]
	}
	var set []string
	for _, p := range mp {
		set = append(set, fmt.Sprintf("%d/%s", p.peer, p.nextHp))
	}
	slices.Sort(set)
	return best, slices.Compact(set)
}

func TestBestPathAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7938, 4271))
	cases := 3000
	if testing.Short() {
		cases = 300
	}
	for n := 0; n < cases; n++ {
		c := Config{LocalAS: 65000, RouterID: mustAddr("10.255.0.1"),
			MultipathRelax: r.IntN(2) == 0, AlwaysCompareMED: r.IntN(4) == 0}
		if r.IntN(3) == 0 {
			c.MaxPaths = 1 + r.IntN(3)
		}
		e, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		type pinfo struct {
			cfg PeerConfig
			rid netip.Addr
		}
		peers := map[PeerID]pinfo{}
		var ids []PeerID
		for i := 0; i < 1+r.IntN(8); i++ {
			pc := PeerConfig{Type: EBGP, PeerAS: 64600 + uint32(r.IntN(4)),
				Address: netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(i + 1)}), Weight: uint32(r.IntN(5) / 4)}
			if r.IntN(3) == 0 {
				pc.Type, pc.PeerAS = IBGP, 65000
			}
			id, err := e.AddPeer(pc)
			if err != nil {
				t.Fatal(err)
			}
			rid := netip.AddrFrom4([4]byte{1, 1, 1, byte(1 + r.IntN(4))})
			if err := e.PeerUp(id, rid, wire.Options{}, []wire.Family{wire.IPv4Unicast}); err != nil {
				t.Fatal(err)
			}
			peers[id] = pinfo{pc, rid}
			ids = append(ids, id)
		}
		pfxs := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")}
		// state is what the naive reference believes, per prefix.
		state := map[netip.Prefix]map[[2]uint32]rpath{}
		for _, p := range pfxs {
			state[p] = map[[2]uint32]rpath{}
		}
		rounds := 1 + r.IntN(3)
		for round := 0; round < rounds; round++ {
			for k := 0; k < 1+r.IntN(12); k++ {
				id := ids[r.IntN(len(ids))]
				pi := peers[id]
				pfx := pfxs[r.IntN(len(pfxs))]
				pid := uint32(r.IntN(2))
				if r.IntN(5) == 0 {
					if err := e.ApplyUpdate(id, &wire.Update{Withdrawn: []wire.NLRI{wire.NewNLRI(pfx, pid)}}); err != nil {
						t.Fatal(err)
					}
					delete(state[pfx], [2]uint32{uint32(id), pid})
					continue
				}
				a := &wire.PathAttrs{HasOrigin: true, Origin: wire.Origin(r.IntN(3)), HasASPath: true,
					NextHop: netip.AddrFrom4([4]byte{10, 9, byte(id), byte(r.IntN(2))})}
				var asns []uint32
				if pi.cfg.Type == EBGP {
					asns = append(asns, pi.cfg.PeerAS)
				}
				for j := 0; j < r.IntN(3); j++ {
					asns = append(asns, 64600+uint32(r.IntN(6)))
				}
				if len(asns) > 0 {
					a.ASPath = wire.ASPath{{Type: wire.ASSequence, ASNs: asns}}
				}
				if r.IntN(2) == 0 {
					a.HasMED, a.MED = true, uint32(r.IntN(3))
				}
				if r.IntN(3) == 0 {
					a.HasLocalPref, a.LocalPref = true, uint32(90+10*r.IntN(3))
				}
				if r.IntN(3) == 0 {
					// A host route: the mobility step comes first.
					a.ExtCommunities = []wire.ExtCommunity{wire.ExtCommunity(neigh.MobilityCommunity(uint32(r.IntN(3)), r.IntN(8) == 0))}
				}
				if pi.cfg.Type == IBGP && r.IntN(4) == 0 {
					a.OriginatorID = netip.AddrFrom4([4]byte{1, 1, 1, byte(1 + r.IntN(4))})
					a.ClusterList = make([]uint32, r.IntN(3))
				}
				if err := e.ApplyUpdate(id, &wire.Update{Attrs: a, NLRI: []wire.NLRI{wire.NewNLRI(pfx, pid)}}); err != nil {
					t.Fatal(err)
				}
				state[pfx][[2]uint32{uint32(id), pid}] = rpath{peer: id, id: pid, cfg: pi.cfg, rid: pi.rid, attrs: a, nextHp: a.NextHop}
			}
			if r.IntN(6) == 0 {
				// A peer goes down.
				id := ids[r.IntN(len(ids))]
				if err := e.PeerDown(id, false); err != nil {
					t.Fatal(err)
				}
				for _, p := range pfxs {
					for k := range state[p] {
						if k[0] == uint32(id) {
							delete(state[p], k)
						}
					}
				}
				if err := e.PeerUp(id, peers[id].rid, wire.Options{}, []wire.Family{wire.IPv4Unicast}); err != nil {
					t.Fatal(err)
				}
			}
			e.Ready(time.Time{})
			for _, pfx := range pfxs {
				var ps []rpath
				for _, p := range state[pfx] {
					ps = append(ps, p)
				}
				i, ok := e.tables[famV4].lookup(pfx)
				if len(ps) == 0 {
					if ok && e.tables[famV4].ents[i].best.attr != 0 {
						t.Fatalf("case %d: %v has a best path, reference has none", n, pfx)
					}
					continue
				}
				if !ok {
					t.Fatalf("case %d: %v missing", n, pfx)
				}
				en := &e.tables[famV4].ents[i]
				best, set := naiveSelect(t, ps, c)
				if en.best.peerID() != best.peer || en.best.id != best.id {
					t.Fatalf("case %d %v (cfg %+v): best is %d#%d, reference %d#%d", n, pfx, c, en.best.peerID(), en.best.id, best.peer, best.id)
				}
				var got []string
				for _, h := range e.ecmp.groups[en.group].hops {
					got = append(got, fmt.Sprintf("%d/%s", h.Peer, h.Addr))
				}
				if !slices.Equal(got, set) {
					t.Fatalf("case %d %v (cfg %+v): ECMP %v, reference %v", n, pfx, c, got, set)
				}
			}
		}
	}
}
