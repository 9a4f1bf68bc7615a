package rib

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// FuzzEngine drives the engine with an operation sequence decoded from the
// input and checks after every Ready that each peer's view, rebuilt from the
// messages it was sent, is exactly its group's Adj-RIB-Out, and at the end
// that all memory is returned once every path is gone.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 0, 1, 9, 1, 1, 1, 9, 2, 0, 9, 3, 1, 9})
	f.Add([]byte{0, 1, 2, 0, 2, 2, 9, 4, 1, 9, 5, 1, 0, 1, 9, 6, 9, 7, 0, 9})
	f.Add([]byte{8, 0, 0, 3, 1, 0, 7, 9, 1, 0, 3, 9, 10, 9, 11, 1, 9})
	f.Fuzz(func(t *testing.T, ops []byte) {
		runFuzzOps(t, ops)
	})
}

type fuzzView map[wire.NLRI]bool

func runFuzzOps(t *testing.T, ops []byte) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1"), MultipathRelax: true, MaxPaths: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfgs := []PeerConfig{
		{Type: EBGP, PeerAS: 64601, Address: mustAddr("10.1.0.1"), LocalAddress: mustAddr("10.1.0.2")},
		{Type: EBGP, PeerAS: 64602, Address: mustAddr("10.2.0.1"), LocalAddress: mustAddr("10.2.0.2"), DefaultOriginate: true},
		{Type: IBGP, PeerAS: 65001, Address: mustAddr("10.3.0.1"), LocalAddress: mustAddr("10.3.0.2")},
		{Type: EBGP, PeerAS: 64603, Address: mustAddr("10.4.0.1"), LocalAddress: mustAddr("10.4.0.2"), AddPathSend: true, AllowASIn: 1, ResolveNextHop: true},
	}
	var ids []PeerID
	up := map[PeerID]bool{}
	views := map[PeerID]fuzzView{}
	opts := map[PeerID]*wire.Options{}
	for i, c := range cfgs {
		id, err := e.AddPeer(c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		o := &wire.Options{AS4: true}
		if i == 3 {
			o.AddPathSend = map[wire.Family]bool{wire.IPv4Unicast: true}
		}
		opts[id] = o
	}
	pfxs := []netip.Prefix{
		netip.MustParsePrefix("10.10.1.0/24"), netip.MustParsePrefix("10.10.2.0/24"),
		netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("0.0.0.0/0"),
	}
	agg := netip.MustParsePrefix("10.10.0.0/16")
	hasAgg := false
	next := func() int {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return int(b)
	}
	check := func() {
		o := e.Ready(time.Time{})
		for _, s := range o.Sends {
			for _, p := range s.Peers {
				if !up[p] {
					t.Fatalf("message to peer %d which is down", p)
				}
				ro := *opts[p]
				ro.AddPathRecv, ro.AddPathSend = ro.AddPathSend, nil
				for _, msg := range s.Msgs {
					m, err := wire.Parse(msg, &ro)
					if err != nil {
						t.Fatalf("unparsable message to %d: %v", p, err)
					}
					u, ok := m.(*wire.Update)
					if !ok {
						continue
					}
					u.Unreachable(func(_ wire.Family, n wire.NLRI) { delete(views[p], n) })
					u.Reachable(func(_ wire.Family, n wire.NLRI) { views[p][n] = true })
				}
			}
		}
		for _, id := range ids {
			if !up[id] {
				continue
			}
			g := e.groups[e.peers[id].group]
			want := fuzzView{}
			for k, ops := range g.adv[famV4] {
				for _, op := range ops {
					if op.skip != id {
						want[wire.NewNLRI(k.prefix(famV4), op.id)] = true
					}
				}
			}
			if fmt.Sprint(want) != fmt.Sprint(views[id]) {
				t.Fatalf("peer %d was sent %v, Adj-RIB-Out holds %v", id, views[id], want)
			}
		}
	}
	for len(ops) > 0 {
		op := next() % 12
		id := ids[next()%len(ids)]
		switch op {
		case 0, 1: // announce
			if !up[id] {
				continue
			}
			c := cfgs[slices.Index(ids, id)]
			var asns []uint32
			if c.Type == EBGP {
				asns = append(asns, c.PeerAS)
			}
			for k := next() % 3; k > 0; k-- {
				asns = append(asns, 64600+uint32(next()%4))
			}
			if next()%5 == 0 {
				asns = append(asns, 65001) // our AS: allowed once by peer 3 only
			}
			a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: c.Address, ASPath: seq(asns...)}
			if next()%4 == 0 {
				a.HasMED, a.MED = true, uint32(next()%3)
			}
			if err := e.ApplyUpdate(id, &wire.Update{Attrs: a, NLRI: []wire.NLRI{wire.NewNLRI(pfxs[next()%len(pfxs)], 0)}}); err != nil {
				t.Fatal(err)
			}
		case 2: // withdraw
			if up[id] {
				if err := e.ApplyUpdate(id, &wire.Update{Withdrawn: []wire.NLRI{wire.NewNLRI(pfxs[next()%len(pfxs)], 0)}}); err != nil {
					t.Fatal(err)
				}
			}
		case 3: // up
			if !up[id] {
				if err := e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, 1, byte(id)}), *opts[id], []wire.Family{wire.IPv4Unicast}); err != nil {
					t.Fatal(err)
				}
				up[id] = true
				views[id] = fuzzView{}
			}
		case 4: // down
			if up[id] {
				if err := e.PeerDown(id, next()%2 == 0); err != nil {
					t.Fatal(err)
				}
				up[id] = false
				delete(views, id)
			}
		case 5:
			if err := e.EndOfRIB(id, wire.IPv4Unicast); err != nil {
				t.Fatal(err)
			}
		case 6:
			if err := e.StaleTimeout(id); err != nil {
				t.Fatal(err)
			}
		case 7:
			if err := e.RouteRefresh(id, wire.IPv4Unicast, next()%2 == 0); err != nil {
				t.Fatal(err)
			}
		case 8:
			p := pfxs[next()%len(pfxs)]
			if next()%2 == 0 {
				_ = e.Originate(p, nil)
			} else {
				_ = e.Unoriginate(p)
			}
		case 10:
			if hasAgg {
				if err := e.RemoveAggregate(agg); err != nil {
					t.Fatal(err)
				}
			} else if err := e.AddAggregate(agg, next()%2 == 0); err != nil {
				t.Fatal(err)
			}
			hasAgg = !hasAgg
		default:
			check()
		}
	}
	check()
	for _, id := range ids {
		if err := e.PeerDown(id, false); err != nil {
			t.Fatal(err)
		}
		up[id] = false
	}
	for _, p := range pfxs {
		_ = e.Unoriginate(p)
	}
	if hasAgg {
		if err := e.RemoveAggregate(agg); err != nil {
			t.Fatal(err)
		}
	}
	e.Ready(time.Time{})
	if n := len(e.attrs.byKey) + len(e.nhs.byKey) + len(e.ecmp.byKey) + len(e.tables[famV4].idx); n != 0 {
		t.Fatalf("after every path is gone: %d attribute sets, %d next hops, %d ECMP groups, %d prefixes left",
			len(e.attrs.byKey), len(e.nhs.byKey), len(e.ecmp.byKey), len(e.tables[famV4].idx))
	}
}

// FuzzPatchNextHop feeds arbitrary bytes to the next-hop patcher, which
// walks an UPDATE's attributes: it must never panic, never change the
// length, and leave a message that does not parse no worse than it was.
func FuzzPatchNextHop(f *testing.F) {
	opts := &wire.Options{AS4: true}
	for _, a := range []*wire.PathAttrs{
		{HasOrigin: true, HasASPath: true, ASPath: seq(65000), NextHop: mustAddr("10.0.0.1")},
		{HasOrigin: true, HasASPath: true, MPReach: &wire.MPReach{Family: wire.IPv6Unicast, NextHop: mustAddr("2001:db8::1"), LinkLocalNextHop: mustAddr("fe80::1")}},
	} {
		fam := wire.IPv4Unicast
		pfx := netip.MustParsePrefix("192.0.2.0/24")
		if a.MPReach != nil {
			fam, pfx = wire.IPv6Unicast, netip.MustParsePrefix("2001:db8:1::/48")
		}
		msgs, err := wire.AppendUpdates(nil, fam, a, []wire.NLRI{wire.NewNLRI(pfx, 0)}, opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msgs[0])
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, errBefore := wire.Parse(msg, opts)
		out := patchNextHop(slices.Clone(msg), mustAddr("2001:db8::9"), mustAddr("fe80::9"))
		out = patchNextHop(out, mustAddr("10.9.9.9"), netip.Addr{})
		if len(out) != len(msg) {
			t.Fatalf("length changed from %d to %d", len(msg), len(out))
		}
		if _, errAfter := wire.Parse(out, opts); errBefore == nil && errAfter != nil {
			t.Fatalf("patching broke a valid message: %v", errAfter)
		}
	})
}
