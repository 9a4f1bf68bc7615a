package rib

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

func seq(asns ...uint32) wire.ASPath {
	return wire.ASPath{{Type: wire.ASSequence, ASNs: asns}}
}

func TestRemovePrivate(t *testing.T) {
	tests := []struct {
		name string
		in   wire.ASPath
		mode RemovePrivateAS
		want wire.ASPath
	}{
		{"keep", seq(64512, 3356), KeepPrivateAS, seq(64512, 3356)},
		{"all private", seq(64512, 65001), RemovePrivateAll, wire.ASPath{}},
		{"mixed", seq(64512, 3356, 65001), RemovePrivateAll, seq(3356)},
		{"replace", seq(64512, 3356, 65001), ReplacePrivateAS, seq(100, 3356, 100)},
		{"4-octet private", seq(4200000001, 174), RemovePrivateAll, seq(174)},
		{"set untouched", wire.ASPath{{Type: wire.ASSet, ASNs: []uint32{64512, 1}}}, RemovePrivateAll,
			wire.ASPath{{Type: wire.ASSet, ASNs: []uint32{64512, 1}}}},
		{"65535 is reserved, not private", seq(65535), RemovePrivateAll, seq(65535)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := removePrivate(tc.in, tc.mode, 100)
			if !got.Equal(tc.want) {
				t.Errorf("removePrivate(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestPrepend(t *testing.T) {
	tests := []struct {
		in   wire.ASPath
		want wire.ASPath
	}{
		{nil, seq(1)},
		{seq(2, 3), seq(1, 2, 3)},
		{wire.ASPath{{Type: wire.ASSet, ASNs: []uint32{2}}}, wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{1}}, {Type: wire.ASSet, ASNs: []uint32{2}}}},
		{seq(make([]uint32, 255)...), append(seq(1), seq(make([]uint32, 255)...)...)},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		if got := prepend(tc.in, 1); !got.Equal(tc.want) {
			t.Errorf("prepend(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !tc.in.Equal(in) {
			t.Errorf("prepend modified its input")
		}
	}
}

// TestBestPathSteps checks each selection step decides on its own.
func TestBestPathSteps(t *testing.T) {
	type pth struct {
		peer int // index into peers
		a    wire.PathAttrs
	}
	base := func() wire.PathAttrs {
		return wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(64601, 65100), NextHop: mustAddr("10.0.0.9")}
	}
	with := func(f func(*wire.PathAttrs)) wire.PathAttrs { a := base(); f(&a); return a }
	peers := []PeerConfig{
		{Type: EBGP, PeerAS: 64601, Address: mustAddr("10.0.0.1")},
		{Type: EBGP, PeerAS: 64601, Address: mustAddr("10.0.0.2")},
		{Type: IBGP, PeerAS: 65000, Address: mustAddr("10.0.0.3")},
		{Type: EBGP, PeerAS: 64601, Address: mustAddr("10.0.0.4"), Weight: 10},
		{Type: EBGP, PeerAS: 64602, Address: mustAddr("10.0.0.5")},
	}
	rids := []string{"1.1.1.9", "1.1.1.8", "1.1.1.7", "1.1.1.6", "1.1.1.5"}
	tests := []struct {
		name string
		a, b pth
		want int // 0: a wins, 1: b wins
	}{
		{"weight", pth{0, base()}, pth{3, with(func(a *wire.PathAttrs) { a.ASPath = seq(64601, 1, 2, 3) })}, 1},
		{"local-pref", pth{2, with(func(a *wire.PathAttrs) { a.ASPath = seq(64601, 1, 2); a.HasLocalPref, a.LocalPref = true, 200 })}, pth{0, base()}, 0},
		{"eBGP local-pref ignored", pth{0, with(func(a *wire.PathAttrs) { a.HasLocalPref, a.LocalPref = true, 50 })}, pth{1, base()}, 1},
		{"as-path length", pth{0, with(func(a *wire.PathAttrs) { a.ASPath = seq(64601, 1, 65100) })}, pth{1, base()}, 1},
		{"as-set counts one", pth{0, with(func(a *wire.PathAttrs) {
			a.ASPath = append(seq(64601), wire.ASPathSegment{Type: wire.ASSet, ASNs: []uint32{1, 2, 3}})
		})}, pth{1, with(func(a *wire.PathAttrs) { a.ASPath = seq(64601, 1, 2) })}, 0},
		{"origin", pth{0, with(func(a *wire.PathAttrs) { a.Origin = wire.OriginIncomplete })}, pth{1, base()}, 1},
		{"med same AS", pth{0, with(func(a *wire.PathAttrs) { a.HasMED, a.MED = true, 20 })}, pth{1, with(func(a *wire.PathAttrs) { a.HasMED, a.MED = true, 10 })}, 1},
		{"med other AS ignored", pth{0, with(func(a *wire.PathAttrs) { a.HasMED, a.MED = true, 20 })},
			pth{4, with(func(a *wire.PathAttrs) { a.ASPath = seq(64602, 65100); a.HasMED, a.MED = true, 10 })}, 1}, // router ID decides
		{"ebgp over ibgp", pth{2, with(func(a *wire.PathAttrs) { a.ASPath = seq(64601, 65100) })}, pth{0, base()}, 1},
		{"router id", pth{0, base()}, pth{1, base()}, 1},
		{"originator id", pth{2, with(func(a *wire.PathAttrs) { a.OriginatorID = mustAddr("1.0.0.1") })},
			pth{2, with(func(a *wire.PathAttrs) { a.OriginatorID = mustAddr("1.0.0.2") })}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(Config{LocalAS: 65000, RouterID: mustAddr("10.255.0.1"), MaxPaths: 1})
			if err != nil {
				t.Fatal(err)
			}
			var ids []PeerID
			for i, pc := range peers {
				id, err := e.AddPeer(pc)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.PeerUp(id, mustAddr(rids[i]), wire.Options{}, []wire.Family{wire.IPv4Unicast}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			pfx := netip.MustParsePrefix("192.0.2.0/24")
			var pathIDs []uint32
			for k, p := range []pth{tc.a, tc.b} {
				a := p.a
				if peers[p.peer].Type == IBGP {
					a.ASPath = a.ASPath[:len(a.ASPath):len(a.ASPath)]
				}
				pid := uint32(k)
				pathIDs = append(pathIDs, pid)
				if err := e.ApplyUpdate(ids[p.peer], &wire.Update{Attrs: &a, NLRI: []wire.NLRI{wire.NewNLRI(pfx, pid)}}); err != nil {
					t.Fatal(err)
				}
			}
			o := e.Ready(time.Time{})
			if len(o.Best) != 1 {
				t.Fatalf("best changes %+v", o.Best)
			}
			winner := []pth{tc.a, tc.b}[tc.want]
			if o.Best[0].Peer != ids[winner.peer] || o.Best[0].PathID != pathIDs[tc.want] {
				t.Errorf("best is peer %d path %d, want peer %d path %d", o.Best[0].Peer, o.Best[0].PathID, ids[winner.peer], pathIDs[tc.want])
			}
		})
	}
}

// TestMemoryReturned checks that interned attributes, next hops and ECMP
// groups go away with the last path that used them.
func TestMemoryReturned(t *testing.T) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1"), MultipathRelax: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []PeerID
	for p := 0; p < 4; p++ {
		id, err := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: uint32(64600 + p), Address: netip.AddrFrom4([4]byte{10, 255, byte(p), 1}),
			LocalAddress: netip.AddrFrom4([4]byte{10, 255, byte(p), 2}), AddPathSend: p == 3})
		if err != nil {
			t.Fatal(err)
		}
		opts := wire.Options{AS4: true}
		if p == 3 {
			opts.AddPathSend = map[wire.Family]bool{wire.IPv4Unicast: true}
		}
		if err := e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, byte(p), 1}), opts, []wire.Family{wire.IPv4Unicast}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := e.AddAggregate(netip.MustParsePrefix("10.0.0.0/8"), true); err != nil {
		t.Fatal(err)
	}
	for p, id := range ids {
		for _, u := range fabricUpdates(p, 3000) {
			if err := e.ApplyUpdate(id, u); err != nil {
				t.Fatal(err)
			}
		}
		e.Ready(time.Time{})
	}
	if len(e.attrs.byKey) == 0 || len(e.ecmp.byKey) == 0 {
		t.Fatal("nothing interned")
	}
	for _, id := range ids {
		if err := e.PeerDown(id, false); err != nil {
			t.Fatal(err)
		}
		e.Ready(time.Time{})
	}
	if err := e.RemoveAggregate(netip.MustParsePrefix("10.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	e.Ready(time.Time{})
	if n := len(e.attrs.byKey); n != 0 {
		t.Errorf("%d attribute sets left", n)
	}
	if n := len(e.nhs.byKey); n != 0 {
		t.Errorf("%d next hops left", n)
	}
	if n := len(e.ecmp.byKey); n != 0 {
		t.Errorf("%d ECMP groups left", n)
	}
	if n := len(e.tables[famV4].idx); n != 0 {
		t.Errorf("%d prefixes left", n)
	}
	for _, g := range e.groups {
		if g != nil {
			t.Errorf("group %+v left with no members", g.key)
		}
	}
}

// TestPatchNextHop checks that a message encoded for one member carries
// another member's next hop after patching, for IPv4 and IPv6.
func TestPatchNextHop(t *testing.T) {
	opts := &wire.Options{AS4: true}
	v4 := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(65000), NextHop: mustAddr("10.0.0.1")}
	v6 := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq(65000),
		MPReach: &wire.MPReach{Family: wire.IPv6Unicast, NextHop: mustAddr("2001:db8::1"), LinkLocalNextHop: mustAddr("fe80::1")}}
	tests := []struct {
		f      wire.Family
		a      *wire.PathAttrs
		pfx    string
		global string
		ll     string
	}{
		{wire.IPv4Unicast, v4, "192.0.2.0/24", "10.0.0.2", ""},
		{wire.IPv6Unicast, v6, "2001:db8:1::/48", "2001:db8::2", "fe80::2"},
	}
	for _, tc := range tests {
		msgs, err := wire.AppendUpdates(nil, tc.f, tc.a, []wire.NLRI{wire.NewNLRI(netip.MustParsePrefix(tc.pfx), 0)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ll netip.Addr
		if tc.ll != "" {
			ll = mustAddr(tc.ll)
		}
		m, err := wire.Parse(patchNextHop(slices.Clone(msgs[0]), mustAddr(tc.global), ll), opts)
		if err != nil {
			t.Fatal(err)
		}
		u := m.(*wire.Update)
		want := tc.a.Clone()
		if tc.f == wire.IPv4Unicast {
			want.NextHop = mustAddr(tc.global)
		} else {
			want.MPReach.NextHop, want.MPReach.LinkLocalNextHop = mustAddr(tc.global), ll
			want.MPReach.NLRI = []wire.NLRI{wire.NewNLRI(netip.MustParsePrefix(tc.pfx), 0)}
		}
		if want.Key() != u.Attrs.Key() {
			t.Errorf("%s: patched attributes differ:\n got %+v\nwant %+v", tc.f, u.Attrs, want)
		}
	}
}

type prependPolicy struct{ drop netip.Prefix }

func (p prependPolicy) Import(_ PathInfo, _ wire.Family, pfx netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	if pfx == p.drop {
		return nil, false
	}
	c := a.Clone()
	c.HasLocalPref, c.LocalPref = true, 300
	return c, true
}

func (p prependPolicy) Export(_ PathInfo, _ wire.Family, pfx netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	c := a.Clone()
	c.Communities = append(c.Communities, 65001<<16|99)
	return c, pfx != p.drop
}

func TestPolicyHook(t *testing.T) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	drop := netip.MustParsePrefix("198.51.100.0/24")
	pol := prependPolicy{drop: drop}
	in, _ := e.AddPeer(PeerConfig{Type: IBGP, PeerAS: 65001, Address: mustAddr("10.0.0.2"), Import: pol})
	out, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64600, Address: mustAddr("10.1.0.2"), LocalAddress: mustAddr("10.1.0.1"), Export: pol, ExportName: "tag"})
	e.PeerUp(in, mustAddr("2.2.2.2"), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast})
	e.PeerUp(out, mustAddr("3.3.3.3"), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast})
	e.Ready(time.Time{})
	a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: mustAddr("10.0.0.2")}
	err = e.ApplyUpdate(in, &wire.Update{Attrs: a, NLRI: []wire.NLRI{
		wire.NewNLRI(netip.MustParsePrefix("192.0.2.0/24"), 0), wire.NewNLRI(drop, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	o := e.Ready(time.Time{})
	if len(o.Best) != 1 || o.Best[0].Attrs.LocalPref != 300 {
		t.Fatalf("import policy not applied: %+v", o.Best)
	}
	if e.Rejects().Policy != 1 {
		t.Errorf("rejects %+v, want one by policy", e.Rejects())
	}
	if len(o.Sends) != 1 || len(o.Sends[0].Msgs) != 1 {
		t.Fatalf("sends %+v", o.Sends)
	}
	m, err := wire.Parse(o.Sends[0].Msgs[0], &wire.Options{AS4: true})
	if err != nil {
		t.Fatal(err)
	}
	u := m.(*wire.Update)
	if !slices.Equal(u.Attrs.Communities, []uint32{65001<<16 | 99}) || u.Attrs.HasLocalPref {
		t.Errorf("export policy or eBGP rules not applied: %+v", u.Attrs)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without LocalAS")
	}
	if _, err := New(Config{LocalAS: 1, RouterID: mustAddr("::1")}); err == nil {
		t.Error("New accepted an IPv6 router ID")
	}
	e, _ := New(Config{LocalAS: 1, RouterID: mustAddr("1.1.1.1")})
	if err := e.ApplyUpdate(7, &wire.Update{}); err == nil {
		t.Error("ApplyUpdate accepted an unknown peer")
	}
	if err := e.PeerDown(0, false); err == nil {
		t.Error("PeerDown accepted the local pseudo-peer")
	}
	if _, err := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 2}); err == nil {
		t.Error("AddPeer accepted a peer without address")
	}
	id, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 2, Address: mustAddr("10.0.0.2")})
	if err := e.ApplyUpdate(id, &wire.Update{}); err == nil {
		t.Error("ApplyUpdate accepted an UPDATE from a peer that is not up")
	}
	if err := e.Originate(netip.Prefix{}, nil); err == nil {
		t.Error("Originate accepted an invalid prefix")
	}
	if err := e.Unoriginate(netip.MustParsePrefix("10.0.0.0/8")); err == nil {
		t.Error("Unoriginate accepted a prefix never originated")
	}
}

func TestShow(t *testing.T) {
	e, err := New(Config{LocalAS: 65001, RouterID: mustAddr("10.0.0.1"), MultipathRelax: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []PeerID
	for p := 0; p < 3; p++ {
		id, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: uint32(64600 + p), Address: netip.AddrFrom4([4]byte{10, 255, byte(p), 1}),
			LocalAddress: netip.AddrFrom4([4]byte{10, 255, byte(p), 2})})
		e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, byte(p), 1}), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast})
		ids = append(ids, id)
	}
	for p, id := range ids[:2] {
		for _, u := range fabricUpdates(p, 1000) {
			e.ApplyUpdate(id, u)
		}
	}
	e.Ready(time.Time{})
	var n, best, mp int
	var last netip.Prefix
	e.LocRIB(wire.IPv4Unicast, 0, func(r Route) bool {
		if last.IsValid() && comparePrefix(last, r.Prefix) > 0 {
			t.Fatalf("%v after %v", r.Prefix, last)
		}
		last = r.Prefix
		n++
		if r.Best {
			best++
		}
		if r.Multipath {
			mp++
		}
		return true
	})
	if n != 2000 || best != 1000 || mp != 2000 {
		t.Errorf("Loc-RIB: %d paths, %d best, %d multipath; want 2000, 1000, 2000", n, best, mp)
	}
	in := 0
	e.LocRIB(wire.IPv4Unicast, ids[1], func(r Route) bool { in++; return r.Peer == ids[1] })
	if in != 1000 {
		t.Errorf("Adj-RIB-In of peer 2: %d paths, want 1000", in)
	}
	out := 0
	e.AdjRIBOut(ids[2], wire.IPv4Unicast, func(r Route) bool {
		out++
		if r.Attrs.NextHop != mustAddr("10.255.2.2") {
			t.Fatalf("Adj-RIB-Out next hop %v, want the peer's own local address", r.Attrs.NextHop)
		}
		return true
	})
	if out != 1000 {
		t.Errorf("Adj-RIB-Out of peer 3: %d, want 1000", out)
	}
	// Peer 1 sent the best paths: split horizon keeps them from it.
	out = 0
	e.AdjRIBOut(ids[0], wire.IPv4Unicast, func(Route) bool { out++; return true })
	if out != 0 {
		t.Errorf("Adj-RIB-Out of the source peer: %d, want 0", out)
	}
}
