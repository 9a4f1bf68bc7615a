package wire_test

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/closnet/clos/internal/bgp/wire"
)

// The benchmarks parse and build one fabric-sized table (100k IPv4 + 100k
// IPv6 prefixes, see streamgen_test.go) with package wire and with GoBGP.
// Goals: wire parses at least 3x as many prefixes per second as GoBGP and
// allocates at most once per prefix.

var (
	benchOnce   sync.Once
	benchStream *genStream
)

func fabricStream() *genStream {
	benchOnce.Do(func() { benchStream = genFabricStream(42, 100_000, 100_000, wire.MaxMessageLen) })
	return benchStream
}

var benchOpts = &wire.Options{AS4: true}

// measure runs fn b.N times and reports prefixes per second and
// allocations per prefix, prefixes being how many one call handles.
func measure(b *testing.B, prefixes int, fn func()) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		fn()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(prefixes) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "prefixes/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/prefix")
}

func closCount(b *testing.B, msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		msg, err := wire.Parse(m, benchOpts)
		if err != nil {
			b.Fatalf("wire.Parse(%x): %v", m, err)
		}
		msg.(*wire.Update).Reachable(func(wire.Family, wire.NLRI) { n++ })
	}
	return n
}

func gobgpCount(b *testing.B, msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		msg, err := bgp.ParseBGPMessage(m)
		if err != nil {
			b.Fatalf("gobgp: %x: %v", m, err)
		}
		u := msg.Body.(*bgp.BGPUpdate)
		n += len(u.NLRI)
		for _, a := range u.PathAttributes {
			if r, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
				n += len(r.Value)
			}
		}
	}
	return n
}

func BenchmarkParseUpdate(b *testing.B) {
	s := fabricStream()
	b.Run("clos", func(b *testing.B) {
		if n := closCount(b, s.msgs); n != s.prefixes {
			b.Fatalf("wire decoded %d prefixes, the stream has %d", n, s.prefixes)
		}
		measure(b, s.prefixes, func() {
			for _, m := range s.msgs {
				if _, err := wire.Parse(m, benchOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("gobgp", func(b *testing.B) {
		if n := gobgpCount(b, s.msgs); n != s.prefixes {
			b.Fatalf("gobgp decoded %d prefixes, the stream has %d", n, s.prefixes)
		}
		measure(b, s.prefixes, func() {
			for _, m := range s.msgs {
				if _, err := bgp.ParseBGPMessage(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// closContent converts the generated content to wire's types once, so the
// benchmark times encoding only.
type closContent struct {
	family wire.Family
	attrs  *wire.PathAttrs
	nlri   []wire.NLRI
}

func toClos(s *genStream) []closContent {
	conv := map[*genAttrs]*wire.PathAttrs{}
	var out []closContent
	for _, u := range s.updates {
		a := conv[u.attrs]
		if a == nil {
			g := u.attrs
			a = &wire.PathAttrs{
				Origin: wire.Origin(g.origin), HasOrigin: true,
				ASPath:    wire.ASPath{{Type: wire.ASSequence, ASNs: g.asPath}},
				HasASPath: true,
				MED:       g.med, HasMED: g.hasMED,
				Communities: g.communities,
			}
			for _, l := range g.large {
				a.LargeCommunities = append(a.LargeCommunities, wire.LargeCommunity{Global: l[0], Local1: l[1], Local2: l[2]})
			}
			if u.v6 {
				a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: g.nextHop}
			} else {
				a.NextHop = g.nextHop
			}
			conv[u.attrs] = a
		}
		c := closContent{family: wire.IPv4Unicast, attrs: a}
		if u.v6 {
			c.family = wire.IPv6Unicast
		}
		for _, p := range u.prefixes {
			c.nlri = append(c.nlri, wire.NewNLRI(p, 0))
		}
		out = append(out, c)
	}
	return out
}

// gobgpContent is the same content as GoBGP values: the attributes other
// than MP_REACH_NLRI, shared per attribute set, and the prefixes.
type gobgpContent struct {
	v6      bool
	nextHop netip.Addr
	attrs   []bgp.PathAttributeInterface
	nlri    []bgp.PathNLRI
}

func toGoBGP(b *testing.B, s *genStream) []gobgpContent {
	conv := map[*genAttrs][]bgp.PathAttributeInterface{}
	var out []gobgpContent
	for _, u := range s.updates {
		g := u.attrs
		attrs, ok := conv[g]
		if !ok {
			attrs = []bgp.PathAttributeInterface{
				bgp.NewPathAttributeOrigin(g.origin),
				bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, g.asPath)}),
			}
			if !u.v6 {
				nh, err := bgp.NewPathAttributeNextHop(g.nextHop)
				if err != nil {
					b.Fatal(err)
				}
				attrs = append(attrs, nh)
			}
			if g.hasMED {
				attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(g.med))
			}
			attrs = append(attrs, bgp.NewPathAttributeCommunities(g.communities))
			if len(g.large) > 0 {
				var l []*bgp.LargeCommunity
				for _, x := range g.large {
					l = append(l, bgp.NewLargeCommunity(x[0], x[1], x[2]))
				}
				attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(l))
			}
			conv[g] = attrs
		}
		c := gobgpContent{v6: u.v6, nextHop: g.nextHop, attrs: attrs}
		for _, p := range u.prefixes {
			n, err := bgp.NewIPAddrPrefix(p)
			if err != nil {
				b.Fatal(err)
			}
			c.nlri = append(c.nlri, bgp.PathNLRI{NLRI: n})
		}
		out = append(out, c)
	}
	return out
}

func gobgpBuild(c gobgpContent) ([]byte, error) {
	if !c.v6 {
		return bgp.NewBGPUpdateMessage(nil, c.attrs, c.nlri).Serialize()
	}
	mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, c.nlri, c.nextHop)
	if err != nil {
		return nil, err
	}
	attrs := append(c.attrs[:len(c.attrs):len(c.attrs)], mp)
	return bgp.NewBGPUpdateMessage(nil, attrs, nil).Serialize()
}

func BenchmarkBuildUpdate(b *testing.B) {
	s := fabricStream()
	b.Run("clos", func(b *testing.B) {
		content := toClos(s)
		var msgs [][]byte
		build := func() {
			msgs = msgs[:0]
			for _, c := range content {
				var err error
				if msgs, err = wire.AppendUpdates(msgs, c.family, c.attrs, c.nlri, benchOpts); err != nil {
					b.Fatal(err)
				}
			}
		}
		build()
		if n := closCount(b, msgs); n != s.prefixes {
			b.Fatalf("wire built %d prefixes, the stream has %d", n, s.prefixes)
		}
		measure(b, s.prefixes, build)
	})
	b.Run("gobgp", func(b *testing.B) {
		content := toGoBGP(b, s)
		var msgs [][]byte
		build := func() {
			msgs = msgs[:0]
			for _, c := range content {
				m, err := gobgpBuild(c)
				if err != nil {
					b.Fatal(err)
				}
				msgs = append(msgs, m)
			}
		}
		build()
		if n := gobgpCount(b, msgs); n != s.prefixes {
			b.Fatalf("gobgp built %d prefixes, the stream has %d", n, s.prefixes)
		}
		measure(b, s.prefixes, build)
	})
}
