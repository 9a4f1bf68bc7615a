package policy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

var cmpAttrs = cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmpopts.EquateEmpty()}

const clausePolicy = `policy:
  prefix-lists:
    - name: P
      entries:
        - {seq: 10, action: permit, prefix: 10.10.0.0/16, ge: 24, le: 26}
  as-path-lists:
    - name: A
      entries:
        - {action: permit, regex: "^65001_"}
  community-lists:
    - name: C
      entries:
        - {action: permit, community: no-export}
  route-maps:
    - name: M-PREFIX
      entries:
        - {seq: 10, action: permit, match: {prefix-list: P}}
    - name: M-ASPATH
      entries:
        - {seq: 10, action: permit, match: {as-path-list: A}}
    - name: M-COMM
      entries:
        - {seq: 10, action: permit, match: {community-list: C}}
    - name: M-NH
      entries:
        - {seq: 10, action: permit, match: {next-hop: 10.1.0.1}}
    - name: M-NH6
      entries:
        - {seq: 10, action: permit, match: {next-hop: "fe80::1"}}
    - name: M-ALL
      entries:
        - {seq: 10, action: permit, match: {prefix-list: P, as-path-list: A, community-list: C, next-hop: 10.1.0.1}}
    - name: S-LP
      entries:
        - {seq: 10, action: permit, set: {local-pref: 200}}
    - name: S-MED
      entries:
        - {seq: 10, action: permit, set: {med: 0}}
    - name: S-WEIGHT
      entries:
        - {seq: 10, action: permit, set: {weight: 10}}
    - name: S-COMM-ADD
      entries:
        - {seq: 10, action: permit, set: {community-add: ["65000:1", no-export, "65000:1"]}}
    - name: S-COMM-DEL
      entries:
        - {seq: 10, action: permit, set: {community-remove: [no-export, graceful-shutdown]}}
    - name: S-COMM-SWAP
      entries:
        - {seq: 10, action: permit, set: {community-remove: ["65000:1"], community-add: ["65000:2"]}}
    - name: S-PREPEND
      entries:
        - {seq: 10, action: permit, set: {prepend: [65000, 65000]}}
    - name: S-NH
      entries:
        - {seq: 10, action: permit, set: {next-hop: 10.9.9.9}}
    - name: S-NH6
      entries:
        - {seq: 10, action: permit, set: {next-hop: "2001:db8::9"}}
    - name: S-NHLL
      entries:
        - {seq: 10, action: permit, set: {next-hop: "fe80::9"}}
    - name: ORDER
      entries:
        - {seq: 30, action: permit, set: {local-pref: 30}}
        - {seq: 10, action: deny, match: {community-list: C}}
        - {seq: 20, action: permit, match: {prefix-list: P}, set: {local-pref: 20}}
`

func base() *wire.PathAttrs {
	return &wire.PathAttrs{
		Origin: wire.OriginIGP, HasOrigin: true,
		ASPath: seq(65001, 65002), HasASPath: true,
		NextHop:     netip.MustParseAddr("10.1.0.1"),
		Communities: []uint32{wire.CommunityNoExport, 65000<<16 | 1},
	}
}

func TestMatchClauses(t *testing.T) {
	s := mustCompile(t, clausePolicy)
	v6 := func(a *wire.PathAttrs) {
		a.NextHop = netip.Addr{}
		a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::1"), LinkLocalNextHop: netip.MustParseAddr("fe80::1")}
	}
	cases := []struct {
		rm     string
		prefix string
		mod    func(*wire.PathAttrs)
		permit bool
	}{
		{"M-PREFIX", "10.10.1.0/24", nil, true},
		{"M-PREFIX", "10.10.1.0/27", nil, false},
		{"M-PREFIX", "10.11.1.0/24", nil, false},
		{"M-ASPATH", "10.10.1.0/24", nil, true},
		{"M-ASPATH", "10.10.1.0/24", func(a *wire.PathAttrs) { a.ASPath = seq(65002, 65001) }, false},
		{"M-ASPATH", "10.10.1.0/24", func(a *wire.PathAttrs) { a.ASPath, a.HasASPath = nil, false }, false},
		{"M-COMM", "10.10.1.0/24", nil, true},
		{"M-COMM", "10.10.1.0/24", func(a *wire.PathAttrs) { a.Communities = nil }, false},
		{"M-NH", "10.10.1.0/24", nil, true},
		{"M-NH", "10.10.1.0/24", func(a *wire.PathAttrs) { a.NextHop = netip.MustParseAddr("10.1.0.2") }, false},
		{"M-NH6", "2001:db8:1::/48", v6, true},
		{"M-NH6", "2001:db8:1::/48", nil, false},
		{"M-ALL", "10.10.1.0/24", nil, true},
		{"M-ALL", "10.10.1.0/24", func(a *wire.PathAttrs) { a.Communities = a.Communities[1:] }, false},
		{"M-ALL", "10.10.1.0/28", nil, false},
	}
	for _, c := range cases {
		a := base()
		if c.mod != nil {
			c.mod(a)
		}
		d := s.Apply(c.rm, Route{Prefix: pfx(c.prefix), Attrs: a})
		if d.Permit != c.permit {
			t.Errorf("%s %s: got %+v, want permit=%v", c.rm, c.prefix, d, c.permit)
		}
		if d.Permit && d.Attrs != a {
			t.Errorf("%s %s: a route-map without set clauses returned new attributes", c.rm, c.prefix)
		}
		if !d.Permit && (d.Attrs != nil || d.Reason != NoEntryMatched) {
			t.Errorf("%s %s: deny should carry no attributes and the implicit-deny reason: %+v", c.rm, c.prefix, d)
		}
	}
}

func TestSetClauses(t *testing.T) {
	s := mustCompile(t, clausePolicy)
	cases := []struct {
		rm     string
		prefix string
		in     func(*wire.PathAttrs)
		want   func(*wire.PathAttrs)
		same   bool
		weight *uint32
	}{
		{rm: "S-LP", want: func(a *wire.PathAttrs) { a.LocalPref, a.HasLocalPref = 200, true }},
		{rm: "S-LP", in: func(a *wire.PathAttrs) { a.LocalPref, a.HasLocalPref = 200, true }, same: true},
		{rm: "S-LP", in: func(a *wire.PathAttrs) { a.LocalPref, a.HasLocalPref = 100, true }, want: func(a *wire.PathAttrs) { a.LocalPref = 200 }},
		{rm: "S-MED", want: func(a *wire.PathAttrs) { a.MED, a.HasMED = 0, true }},
		{rm: "S-MED", in: func(a *wire.PathAttrs) { a.HasMED = true }, same: true},
		{rm: "S-WEIGHT", same: true, weight: new(uint32(10))},
		{rm: "S-COMM-ADD", in: func(a *wire.PathAttrs) { a.Communities = nil }, want: func(a *wire.PathAttrs) { a.Communities = []uint32{65000<<16 | 1, wire.CommunityNoExport} }},
		{rm: "S-COMM-ADD", same: true},
		{rm: "S-COMM-ADD", in: func(a *wire.PathAttrs) { a.Communities = []uint32{7} }, want: func(a *wire.PathAttrs) { a.Communities = []uint32{7, 65000<<16 | 1, wire.CommunityNoExport} }},
		{rm: "S-COMM-DEL", want: func(a *wire.PathAttrs) { a.Communities = []uint32{65000<<16 | 1} }},
		{rm: "S-COMM-DEL", in: func(a *wire.PathAttrs) {
			a.Communities = []uint32{wire.CommunityNoExport, wire.CommunityGracefulShutdown, wire.CommunityNoExport}
		}, want: func(a *wire.PathAttrs) { a.Communities = nil }},
		{rm: "S-COMM-DEL", in: func(a *wire.PathAttrs) { a.Communities = []uint32{5} }, same: true},
		{rm: "S-COMM-SWAP", want: func(a *wire.PathAttrs) { a.Communities = []uint32{wire.CommunityNoExport, 65000<<16 | 2} }},
		{rm: "S-PREPEND", want: func(a *wire.PathAttrs) { a.ASPath = seq(65000, 65000, 65001, 65002) }},
		{rm: "S-PREPEND", in: func(a *wire.PathAttrs) { a.ASPath, a.HasASPath = nil, false }, want: func(a *wire.PathAttrs) { a.ASPath, a.HasASPath = seq(65000, 65000), true }},
		{rm: "S-PREPEND", in: func(a *wire.PathAttrs) { a.ASPath = wire.ASPath{{Type: wire.ASSet, ASNs: []uint32{1, 2}}} },
			want: func(a *wire.PathAttrs) {
				a.ASPath = wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65000, 65000}}, {Type: wire.ASSet, ASNs: []uint32{1, 2}}}
			}},
		{rm: "S-NH", want: func(a *wire.PathAttrs) { a.NextHop = netip.MustParseAddr("10.9.9.9") }},
		{rm: "S-NH", in: func(a *wire.PathAttrs) { a.NextHop = netip.MustParseAddr("10.9.9.9") }, same: true},
		// An IPv4 next hop does not apply to an IPv6 route (FRR's set ip next-hop).
		{rm: "S-NH", prefix: "2001:db8::/32", same: true},
		{rm: "S-NH6", prefix: "2001:db8::/32",
			in: func(a *wire.PathAttrs) {
				a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::1"), LinkLocalNextHop: netip.MustParseAddr("fe80::1")}
			},
			want: func(a *wire.PathAttrs) {
				a.MPReach.NextHop, a.MPReach.LinkLocalNextHop = netip.MustParseAddr("2001:db8::9"), netip.Addr{}
			}},
		{rm: "S-NH6", prefix: "2001:db8::/32",
			want: func(a *wire.PathAttrs) {
				a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::9")}
			}},
		// RFC 8950: an IPv6 next hop for an IPv4 route goes into MP_REACH.
		{rm: "S-NH6", want: func(a *wire.PathAttrs) {
			a.MPReach = &wire.MPReach{Family: wire.IPv4Unicast, NextHop: netip.MustParseAddr("2001:db8::9")}
		}},
		{rm: "S-NHLL", prefix: "2001:db8::/32",
			in: func(a *wire.PathAttrs) {
				a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::1")}
			},
			want: func(a *wire.PathAttrs) { a.MPReach.LinkLocalNextHop = netip.MustParseAddr("fe80::9") }},
	}
	for i, c := range cases {
		prefix := c.prefix
		if prefix == "" {
			prefix = "10.10.1.0/24"
		}
		in := base()
		if c.in != nil {
			c.in(in)
		}
		frozen := in.Clone()
		d := s.Apply(c.rm, Route{Prefix: pfx(prefix), Attrs: in})
		if !d.Permit || d.Reason != Permitted || d.Seq != 10 {
			t.Fatalf("%d %s: %+v", i, c.rm, d)
		}
		if diff := cmp.Diff(frozen, in, cmpAttrs); diff != "" {
			t.Errorf("%d %s mutated its input (-before +after):\n%s", i, c.rm, diff)
		}
		if c.same {
			if d.Attrs != in || d.Changed(in) {
				t.Errorf("%d %s: want the input pointer back when nothing changes", i, c.rm)
			}
		} else {
			want := frozen.Clone()
			c.want(want)
			if d.Attrs == in {
				t.Errorf("%d %s: returned the input pointer although it changed something", i, c.rm)
			}
			if diff := cmp.Diff(want, d.Attrs, cmpAttrs); diff != "" {
				t.Errorf("%d %s (-want +got):\n%s", i, c.rm, diff)
			}
		}
		if c.weight != nil && (!d.HasWeight || d.Weight != *c.weight) {
			t.Errorf("%d %s: weight %v %d, want %d", i, c.rm, d.HasWeight, d.Weight, *c.weight)
		} else if c.weight == nil && d.HasWeight {
			t.Errorf("%d %s: unexpected weight", i, c.rm)
		}
	}
}

func TestRouteMapOrderAndReasons(t *testing.T) {
	s := mustCompile(t, clausePolicy)
	a := base()
	if d := s.Apply("ORDER", Route{Prefix: pfx("10.10.1.0/24"), Attrs: a}); d.Permit || d.Seq != 10 || d.Reason != DeniedByEntry {
		t.Errorf("seq 10 deny should win: %+v", d)
	}
	a.Communities = nil
	if d := s.Apply("ORDER", Route{Prefix: pfx("10.10.1.0/24"), Attrs: a}); !d.Permit || d.Seq != 20 || d.Attrs.LocalPref != 20 {
		t.Errorf("seq 20 should win: %+v", d)
	}
	if d := s.Apply("ORDER", Route{Prefix: pfx("192.0.2.0/24"), Attrs: a}); !d.Permit || d.Seq != 30 || d.Attrs.LocalPref != 30 {
		t.Errorf("seq 30 should win: %+v", d)
	}
	d := s.Apply("NOPE", Route{Prefix: pfx("10.10.1.0/24"), Attrs: a})
	if d.Permit || d.Reason != UnknownRouteMap || d.Explain("NOPE") != `route-map "NOPE": route-map is not defined (deny)` {
		t.Errorf("unknown route-map: %+v %q", d, d.Explain("NOPE"))
	}
	if err := s.CheckRouteMaps("ORDER", "", "NOPE"); err == nil {
		t.Error("CheckRouteMaps accepted NOPE")
	}
	// Nil attributes are read as none and never written.
	if d := s.Apply("S-LP", Route{Prefix: pfx("10.10.1.0/24")}); !d.Permit || d.Attrs == nil || d.Attrs.LocalPref != 200 || noAttrs.HasLocalPref {
		t.Errorf("nil attrs: %+v", d)
	}
	if d := s.Apply("M-PREFIX", Route{Prefix: pfx("10.10.1.0/24")}); !d.Permit || d.Attrs != nil {
		t.Errorf("nil attrs unchanged: %+v", d)
	}
}

func TestNeighborAdapter(t *testing.T) {
	s := mustCompile(t, clausePolicy)
	n := Neighbor{In: "S-LP", Out: "M-COMM", Set: s}
	a := base()
	out, ok := n.Import(pfx("10.10.1.0/24"), a)
	if !ok || out.LocalPref != 200 || a.HasLocalPref {
		t.Errorf("import: %v %+v", ok, out)
	}
	if out, ok := n.Export(pfx("10.10.1.0/24"), a); !ok || out != a {
		t.Errorf("export: %v", ok)
	}
	a.Communities = nil
	if _, ok := n.Export(pfx("10.10.1.0/24"), a); ok {
		t.Error("export without no-export should be denied")
	}
	if d := (Neighbor{}).ImportDecision(pfx("10.0.0.0/8"), a); !d.Permit || d.Attrs != a || d.Reason != NoRouteMap {
		t.Errorf("no route-map: %+v", d)
	}
	if d := (Neighbor{Out: "X"}).ExportDecision(pfx("10.0.0.0/8"), a); d.Permit || d.Reason != UnknownRouteMap {
		t.Errorf("no set: %+v", d)
	}
}

func TestPrependSplitsFullSegment(t *testing.T) {
	full := make([]uint32, 255)
	p := wire.ASPath{{Type: wire.ASSequence, ASNs: full}}
	got := Prepend(p, 1, 2)
	if len(got) != 2 || len(got[0].ASNs) != 2 || got[0].ASNs[0] != 1 || len(got[1].ASNs) != 255 {
		t.Fatalf("got %d segments", len(got))
	}
	if got := Prepend(p); len(got) != 1 {
		t.Fatal("Prepend of nothing changed the path")
	}
}

// naiveMatch is the prefix-list semantics written from FRR's documentation
// with netip only: the reference the compiled lists are checked against.
// The entries must be in seq order.
func naiveMatch(entries []config.PrefixListEntry, p netip.Prefix) (permit, matched bool) {
	p = p.Masked()
	for _, e := range entries {
		if e.Prefix.Addr().Is4() != p.Addr().Is4() {
			continue
		}
		if p.Bits() < e.Prefix.Bits() || !e.Prefix.Contains(p.Addr()) {
			continue
		}
		lo, hi := e.Prefix.Bits(), e.Prefix.Bits()
		if e.GE != 0 || e.LE != 0 {
			lo, hi = e.Prefix.Bits(), p.Addr().BitLen()
			if e.GE != 0 {
				lo = e.GE
			}
			if e.LE != 0 {
				hi = e.LE
			}
		}
		if p.Bits() >= lo && p.Bits() <= hi {
			return e.Action == "permit", true
		}
	}
	return false, false
}

// randomList builds a prefix list around a few base prefixes so that random
// routes near them hit entries often.
func randomList(r *rand.Rand, n int) config.PrefixList {
	pl := config.PrefixList{Name: "R"}
	for i := range n {
		v6 := r.IntN(4) == 0
		bits := 32
		var a netip.Addr
		if v6 {
			bits = 128
			var b [16]byte
			b[0], b[1], b[2] = 0xfd, byte(r.IntN(2)), byte(r.IntN(4))
			a = netip.AddrFrom16(b)
		} else {
			a = netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(256))})
		}
		plen := r.IntN(bits/2 + 1)
		if !v6 {
			plen = r.IntN(33)
		}
		e := config.PrefixListEntry{Seq: (i + 1) * 5, Action: []string{"permit", "deny"}[r.IntN(2)], Prefix: netip.PrefixFrom(a, plen).Masked()}
		if plen < bits {
			switch r.IntN(4) {
			case 1:
				e.LE = plen + 1 + r.IntN(bits-plen)
			case 2:
				e.GE = plen + 1 + r.IntN(bits-plen)
			case 3:
				e.GE = plen + 1 + r.IntN(bits-plen)
				e.LE = e.GE + r.IntN(bits-e.GE+1)
			}
		}
		pl.Entries = append(pl.Entries, e)
	}
	r.Shuffle(len(pl.Entries), func(i, j int) { pl.Entries[i], pl.Entries[j] = pl.Entries[j], pl.Entries[i] })
	return pl
}

func randomRoute(r *rand.Rand) netip.Prefix {
	if r.IntN(4) == 0 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0xfd, byte(r.IntN(2)), byte(r.IntN(4)), byte(r.IntN(256))
		return netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(129)).Masked()
	}
	a := netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(256))})
	if r.IntN(10) == 0 {
		a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 0, 0})
	}
	return netip.PrefixFrom(a, r.IntN(33)).Masked()
}

func TestPrefixListAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7938, 1))
	hits := 0
	for _, n := range []int{1, 3, linearMax, linearMax + 1, 40, 100, 300} {
		for range 20 {
			pl := randomList(r, n)
			l, err := compilePrefixList(pl)
			if err != nil {
				t.Fatal(err)
			}
			if n > linearMax && r.IntN(2) == 0 {
				// Check the index even where the heuristic would scan.
				l.v4, l.v6 = forceIndex(l, false), forceIndex(l, true)
			}
			sorted := slices.SortedFunc(slices.Values(pl.Entries), func(a, b config.PrefixListEntry) int { return a.Seq - b.Seq })
			for range 500 {
				p := randomRoute(r)
				gp, gm := l.Match(p)
				wp, wm := naiveMatch(sorted, p)
				if gp != wp || gm != wm {
					t.Fatalf("list of %d, route %s: got %v %v, naive %v %v\n%+v", n, p, gp, gm, wp, wm, pl.Entries)
				}
				if wm {
					hits++
				}
			}
		}
	}
	if hits < 1000 {
		t.Fatalf("only %d of the random routes matched an entry; the comparison proves little", hits)
	}
}

// TestConcurrentApply runs one Set from several goroutines, as the RIB may,
// so that -race checks the AS-path cache and the buffer pool.
func TestConcurrentApply(t *testing.T) {
	s := mustCompile(t, clausePolicy)
	done := make(chan bool)
	for g := range 4 {
		go func() {
			ok := true
			for i := range 2000 {
				a := base()
				a.ASPath = seq(65001, uint32(65000+(g*2000+i)%5000))
				d := s.Apply("M-ASPATH", Route{Prefix: pfx("10.10.1.0/24"), Attrs: a})
				ok = ok && d.Permit
				a.ASPath = seq(65002, uint32(i))
				ok = ok && !s.Apply("M-ASPATH", Route{Prefix: pfx("10.10.1.0/24"), Attrs: a}).Permit
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("a concurrent Apply gave a wrong verdict")
		}
	}
}
