package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/bgp/wire"
)

// benchPolicy has a 100-entry prefix list (a /24 of servers per leaf, some
// loopbacks, a few denies) and a 3-entry route-map, the size of a large
// fabric's leaf-facing filter.
func benchPolicy(b *testing.B) *Set {
	var sb strings.Builder
	sb.WriteString("policy:\n  prefix-lists:\n    - name: FABRIC\n      entries:\n")
	for i := range 90 {
		fmt.Fprintf(&sb, "        - {seq: %d, action: permit, prefix: 10.%d.%d.0/22, ge: 24, le: 26}\n", (i+1)*5, 10+i/60, (i%60)*4)
	}
	for i := range 5 {
		fmt.Fprintf(&sb, "        - {seq: %d, action: deny, prefix: 10.66.%d.0/24, le: 32}\n", 500+i*5, i)
	}
	for i := range 5 {
		fmt.Fprintf(&sb, "        - {seq: %d, action: permit, prefix: 10.0.%d.0/24, ge: 32}\n", 600+i*5, i)
	}
	sb.WriteString(`  as-path-lists:
    - name: SPINES
      entries:
        - {action: permit, regex: "^6510[0-9]_"}
  community-lists:
    - name: BLACKHOLE
      entries:
        - {action: permit, community: blackhole}
  route-maps:
    - name: IN
      entries:
        - {seq: 10, action: deny, match: {community-list: BLACKHOLE}}
        - {seq: 20, action: permit, match: {prefix-list: FABRIC, as-path-list: SPINES}, set: {local-pref: 100}}
        - {seq: 30, action: permit, match: {prefix-list: FABRIC}, set: {local-pref: 50}}
`)
	return mustCompile(b, sb.String())
}

// benchRoutes are prefixes inside the list's ranges, most of them permitted.
func benchRoutes(n int) []netip.Prefix {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Prefix, n)
	for i := range out {
		i3 := r.IntN(90)
		a := netip.AddrFrom4([4]byte{10, byte(10 + i3/60), byte((i3%60)*4 + r.IntN(4)), byte(r.IntN(256))})
		out[i] = netip.PrefixFrom(a, 24+r.IntN(3)).Masked()
	}
	return out
}

// BenchmarkApply runs routes through route-map IN: "unchanged" is the common
// case of a permit whose set clause finds the value already there (no copy,
// no allocation), "changed" rewrites local-pref, "deny" stops at seq 10.
// Run with -benchtime=1000000x for the 1M-route figure.
func BenchmarkApply(b *testing.B) {
	s := benchPolicy(b)
	routes := benchRoutes(1 << 16)
	spine := &wire.PathAttrs{ASPath: seq(65101, 65001), HasASPath: true, NextHop: netip.MustParseAddr("10.1.0.0"),
		LocalPref: 100, HasLocalPref: true, Communities: []uint32{65000<<16 | 1}}
	other := &wire.PathAttrs{ASPath: seq(65200, 65001), HasASPath: true, NextHop: netip.MustParseAddr("10.1.0.0")}
	black := &wire.PathAttrs{ASPath: seq(65101, 65001), HasASPath: true, Communities: []uint32{65000<<16 | 1, wire.CommunityBlackhole}}
	for _, c := range []struct {
		name   string
		attrs  *wire.PathAttrs
		permit bool
	}{{"unchanged", spine, true}, {"changed", other, true}, {"deny", black, false}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			permits := 0
			i := 0
			for b.Loop() {
				if d := s.Apply("IN", Route{Prefix: routes[i&(len(routes)-1)], Attrs: c.attrs}); d.Permit {
					permits++
				}
				i++
			}
			if (permits > 0) != c.permit {
				b.Fatalf("%d permits", permits)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/route")
		})
	}
}

// BenchmarkPrefixList compares the linear scan with the per-length index at
// several list sizes; linearMax sits where the index starts winning.
func BenchmarkPrefixList(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	routes := make([]netip.Prefix, 1024)
	for i := range routes {
		routes[i] = randomRoute(r)
	}
	for _, n := range []int{4, 8, 12, 16, 32, 100, 1000} {
		pl := randomList(r, n)
		for _, mode := range []string{"linear", "indexed"} {
			l, err := compilePrefixList(pl)
			if err != nil {
				b.Fatal(err)
			}
			if mode == "linear" {
				l.v4, l.v6 = nil, nil
			} else {
				l.v4, l.v6 = forceIndex(l, false), forceIndex(l, true)
			}
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				i := 0
				for b.Loop() {
					l.Match(routes[i&1023])
					i++
				}
			})
		}
	}
}

// BenchmarkASPathList measures the regexp on the path text, to judge
// whether a cache keyed by path would pay.
func BenchmarkASPathList(b *testing.B) {
	s := benchPolicy(b)
	l := s.ASPathList("SPINES")
	p := seq(65101, 65001, 4200000001)
	b.ReportAllocs()
	for b.Loop() {
		l.Match(p)
	}
}

// forceIndex builds the index whatever the heuristic says.
func forceIndex(l *PrefixList, v6 bool) *lenIndex {
	x := newLenIndex(v6)
	for i := range l.entries {
		if l.entries[i].v6 == v6 {
			x.add(&l.entries[i], i)
		}
	}
	slices.Sort(x.lens)
	return x
}

// BenchmarkFabricList is a realistic 100-entry list (two distinct lengths)
// with routes it permits and routes no entry matches.
func BenchmarkFabricList(b *testing.B) {
	s := benchPolicy(b)
	hit := benchRoutes(1024)
	miss := make([]netip.Prefix, 1024)
	for i := range miss {
		miss[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 24)
	}
	for _, mode := range []string{"linear", "indexed"} {
		l := *s.PrefixList("FABRIC")
		if mode == "linear" {
			l.v4, l.v6 = nil, nil
		} else if l.v4 == nil {
			b.Fatal("the fabric list was not indexed")
		}
		for _, rs := range []struct {
			name   string
			routes []netip.Prefix
		}{{"hit", hit}, {"miss", miss}} {
			b.Run(mode+"/"+rs.name, func(b *testing.B) {
				i := 0
				for b.Loop() {
					l.Match(rs.routes[i&1023])
					i++
				}
			})
		}
	}
}
