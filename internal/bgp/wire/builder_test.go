package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func manyPrefixes(n int, v6 bool) []NLRI {
	out := make([]NLRI, n)
	for i := range out {
		if v6 {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i)}
			out[i] = NewNLRI(netip.PrefixFrom(netip.AddrFrom16(a), 56), 0)
		} else {
			out[i] = NewNLRI(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32), 0)
		}
	}
	return out
}

// parseMsgs checks the framing of built messages and decodes them.
func parseMsgs(t *testing.T, msgs [][]byte, opts *Options) []*Update {
	t.Helper()
	var out []*Update
	for _, m := range msgs {
		if len(m) > opts.MaxLen() {
			t.Fatalf("message of %d octets exceeds %d", len(m), opts.MaxLen())
		}
		if int(binary.BigEndian.Uint16(m[16:])) != len(m) || m[18] != byte(TypeUpdate) || m[0] != 0xff {
			t.Fatalf("bad header %x", m[:19])
		}
		out = append(out, mustParse(t, m[HeaderLen:], opts))
	}
	return out
}

func TestBuilderIPv4PacksAndMatchesAppendBody(t *testing.T) {
	attrs := &PathAttrs{HasOrigin: true, HasASPath: true, ASPath: ASPath{{ASSequence, []uint32{65001, 4200000000}}},
		NextHop: netip.MustParseAddr("10.0.0.1"), Communities: []uint32{CommunityNoExport}}
	for _, opts := range []*Options{nil, as4Opts, {AS4: true, ExtendedMessage: true}, {AddPathSend: map[Family]bool{IPv4Unicast: true}, AddPathRecv: map[Family]bool{IPv4Unicast: true}}} {
		nlri := manyPrefixes(5000, false)
		msgs, err := AppendUpdates(nil, IPv4Unicast, attrs, nlri, opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []NLRI
		for i, u := range parseMsgs(t, msgs, opts) {
			got = append(got, u.NLRI...)
			// The builder's bytes are exactly what AppendBody writes.
			b, err := u.AppendBody(nil, opts)
			if err != nil || string(b) != string(msgs[i][HeaderLen:]) {
				t.Fatalf("message %d differs from AppendBody (%v)", i, err)
			}
			if d := cmp.Diff(attrs.Key(), u.Attrs.Key()); d != "" {
				t.Fatalf("attributes changed: %s", d)
			}
		}
		if d := cmp.Diff(nlri, got, cmpNet); d != "" {
			t.Fatal(d)
		}
		// Full packing: every message but the last is too full to take
		// one more prefix.
		for _, m := range msgs[:len(msgs)-1] {
			if len(m)+nlriLen(nlri[0], opts.addPathSend(IPv4Unicast)) <= opts.MaxLen() {
				t.Fatalf("message of %d octets had room for another prefix", len(m))
			}
		}
	}
}

func TestBuilderIPv6(t *testing.T) {
	attrs := &PathAttrs{HasOrigin: true, HasASPath: true, MED: 5, HasMED: true,
		MPReach: &MPReach{Family: IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::1"), LinkLocalNextHop: netip.MustParseAddr("fe80::1")}}
	for _, n := range []int{1, 10, 3000} {
		nlri := manyPrefixes(n, true)
		msgs, err := AppendUpdates(nil, IPv6Unicast, attrs, nlri, as4Opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []NLRI
		for i, u := range parseMsgs(t, msgs, as4Opts) {
			got = append(got, u.Attrs.MPReach.NLRI...)
			b, _ := u.AppendBody(nil, as4Opts)
			if string(b) != string(msgs[i][HeaderLen:]) {
				t.Fatalf("message %d differs from AppendBody", i)
			}
		}
		if d := cmp.Diff(nlri, got, cmpNet); d != "" {
			t.Fatal(d)
		}
	}
}

func TestBuilderWithdrawals(t *testing.T) {
	for _, f := range []Family{IPv4Unicast, IPv6Unicast} {
		nlri := manyPrefixes(4000, f == IPv6Unicast)
		msgs, err := AppendWithdrawals(nil, f, nlri, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []NLRI
		for _, u := range parseMsgs(t, msgs, nil) {
			u.Unreachable(func(g Family, n NLRI) {
				if g != f {
					t.Fatalf("family %s", g)
				}
				got = append(got, n)
			})
		}
		if d := cmp.Diff(nlri, got, cmpNet); d != "" {
			t.Fatalf("%s: %s", f, d)
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	if _, err := AppendUpdates(nil, IPv6Unicast, &PathAttrs{HasOrigin: true}, manyPrefixes(1, true), nil); err == nil {
		t.Error("IPv6 without MP_REACH next hop accepted")
	}
	if _, err := AppendUpdates(nil, IPv4Unicast, &PathAttrs{HasOrigin: true}, manyPrefixes(1, false), nil); err == nil {
		t.Error("IPv4 without NEXT_HOP accepted")
	}
	attrs := &PathAttrs{NextHop: netip.MustParseAddr("10.0.0.1")}
	if _, err := AppendUpdates(nil, IPv4Unicast, attrs, manyPrefixes(1, true), nil); err == nil {
		t.Error("IPv6 prefix in IPv4 family accepted")
	}
	attrs.Communities = make([]uint32, 1100)
	if _, err := AppendUpdates(nil, IPv4Unicast, attrs, manyPrefixes(1, false), nil); err == nil {
		t.Error("attributes larger than a message accepted")
	}
	enh := &PathAttrs{MPReach: &MPReach{Family: IPv4Unicast, NextHop: netip.MustParseAddr("2001:db8::1")}}
	if _, err := AppendUpdates(nil, IPv4Unicast, enh, manyPrefixes(1, false), nil); err == nil {
		t.Error("IPv6 next hop for IPv4 accepted without extended next hop")
	}
}

// benchStream is a stream of UPDATE bodies as a fabric sends them: a
// shared attribute set and many IPv4 /32s per message.
func benchStream(b *testing.B, perMsg int) (bodies [][]byte, prefixes int) {
	attrs := &PathAttrs{HasOrigin: true, HasASPath: true, ASPath: ASPath{{ASSequence, []uint32{65001, 65100, 65200}}},
		NextHop: netip.MustParseAddr("10.0.0.1"), HasMED: true, Communities: []uint32{0xfde80001}}
	for i := 0; i < 100; i++ {
		nlri := manyPrefixes(perMsg, false)
		for j := range nlri {
			nlri[j] = NewNLRI(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), byte(j >> 8), byte(j)}), 32), 0)
		}
		msgs, err := AppendUpdates(nil, IPv4Unicast, attrs, nlri, as4Opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			bodies = append(bodies, m[HeaderLen:])
		}
		prefixes += perMsg
	}
	return bodies, prefixes
}

func BenchmarkParseUpdate(b *testing.B) {
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("prefixes=%d", per), func(b *testing.B) {
			bodies, n := benchStream(b, per)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, body := range bodies {
					if _, err := ParseUpdate(body, as4Opts); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "prefixes/s")
		})
	}
}

func BenchmarkBuildUpdates(b *testing.B) {
	attrs := &PathAttrs{HasOrigin: true, HasASPath: true, ASPath: ASPath{{ASSequence, []uint32{65001}}}, NextHop: netip.MustParseAddr("10.0.0.1")}
	nlri := manyPrefixes(10000, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendUpdates(nil, IPv4Unicast, attrs, nlri, as4Opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(len(nlri))/b.Elapsed().Seconds(), "prefixes/s")
}
