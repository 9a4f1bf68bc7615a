package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Helpers that build UPDATE bodies by hand, so tests do not depend on the
// encoder they check.

func rawAttr(flags, typ byte, val ...byte) []byte {
	if flags&AttrFlagExtLen != 0 {
		return append([]byte{flags, typ, byte(len(val) >> 8), byte(len(val))}, val...)
	}
	return append([]byte{flags, typ, byte(len(val))}, val...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func updBody(withdrawn, attrs, nlri []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(withdrawn)))
	b = append(b, withdrawn...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(attrs)))
	b = append(b, attrs...)
	return append(b, nlri...)
}

func pfx(s string) NLRI { return NewNLRI(netip.MustParsePrefix(s), 0) }

func encPrefixes(t *testing.T, ss ...string) []byte {
	t.Helper()
	var b []byte
	for _, s := range ss {
		b = appendNLRI(b, pfx(s), false)
	}
	return b
}

func asPath4(segType byte, asns ...uint32) []byte {
	b := []byte{segType, byte(len(asns))}
	for _, a := range asns {
		b = binary.BigEndian.AppendUint32(b, a)
	}
	return b
}

func asPath2(segType byte, asns ...uint16) []byte {
	b := []byte{segType, byte(len(asns))}
	for _, a := range asns {
		b = binary.BigEndian.AppendUint16(b, a)
	}
	return b
}

var (
	as4Opts    = &Options{AS4: true}
	aOrigin    = rawAttr(0x40, AttrOrigin, 0)
	aPath      = rawAttr(0x40, AttrASPath, asPath4(2, 65001, 65002)...)
	aNextHop   = rawAttr(0x40, AttrNextHop, 192, 0, 2, 1)
	mandatory4 = cat(aOrigin, aPath, aNextHop)
)

// cmpNet compares netip values, whose fields cmp cannot see.
var cmpNet = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func mustParse(t *testing.T, body []byte, opts *Options) *Update {
	t.Helper()
	u, err := ParseUpdate(body, opts)
	if err != nil {
		t.Fatalf("ParseUpdate: %v", err)
	}
	return u
}

func roundTrip(t *testing.T, u *Update, opts *Options) *Update {
	t.Helper()
	b, err := u.AppendBody(nil, opts)
	if err != nil {
		t.Fatalf("AppendBody: %v", err)
	}
	got, err := ParseUpdate(b, opts)
	if err != nil {
		t.Fatalf("ParseUpdate of own encoding: %v", err)
	}
	if d := cmp.Diff(u, got, cmpNet); d != "" {
		t.Fatalf("round trip differs (-want +got):\n%s", d)
	}
	return got
}

func TestParseUpdateBasic(t *testing.T) {
	body := updBody(encPrefixes(t, "10.9.0.0/16"),
		cat(mandatory4,
			rawAttr(0x80, AttrMED, 0, 0, 0, 7),
			rawAttr(0x40, AttrLocalPref, 0, 0, 0, 100),
			rawAttr(0x40, AttrAtomicAggregate),
			rawAttr(0xc0, AttrAggregator, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1),
			rawAttr(0xc0, AttrCommunities, 0xff, 0xff, 0xff, 0x01, 0, 1, 0, 2),
			rawAttr(0x80, AttrOriginatorID, 1, 1, 1, 1),
			rawAttr(0x80, AttrClusterList, 0, 0, 0, 1, 0, 0, 0, 2),
			rawAttr(0xc0, AttrExtCommunities, 0x40, 0x04, 0xfd, 0xe9, 0x4e, 0x6e, 0x6b, 0x28),
			rawAttr(0xc0, AttrLargeCommunities, 0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 2),
			rawAttr(0xc0, 99, 1, 2, 3),
		),
		encPrefixes(t, "10.0.0.0/8", "10.1.2.0/24", "0.0.0.0/0", "10.1.2.3/32"))
	u := mustParse(t, body, as4Opts)
	want := &Update{
		Withdrawn: []NLRI{pfx("10.9.0.0/16")},
		NLRI:      []NLRI{pfx("10.0.0.0/8"), pfx("10.1.2.0/24"), pfx("0.0.0.0/0"), pfx("10.1.2.3/32")},
		Attrs: &PathAttrs{
			HasOrigin: true, Origin: OriginIGP,
			HasASPath: true, ASPath: ASPath{{ASSequence, []uint32{65001, 65002}}},
			NextHop: netip.MustParseAddr("192.0.2.1"),
			HasMED:  true, MED: 7, HasLocalPref: true, LocalPref: 100,
			AtomicAggregate: true,
			HasAggregator:   true, Aggregator: Aggregator{AS: 65001, Addr: netip.MustParseAddr("10.0.0.1")},
			Communities:      []uint32{CommunityNoExport, 0x00010002},
			OriginatorID:     netip.MustParseAddr("1.1.1.1"),
			ClusterList:      []uint32{1, 2},
			ExtCommunities:   []ExtCommunity{LinkBandwidth(65001, 1e9)},
			LargeCommunities: []LargeCommunity{{65001, 1, 2}},
			Unknown:          []RawAttr{{Flags: 0xe0, Type: 99, Value: []byte{1, 2, 3}}},
		},
	}
	if d := cmp.Diff(want, u, cmpNet); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	roundTrip(t, u, as4Opts)
	if s := u.Attrs.ASPath.String(); s != "65001 65002" {
		t.Errorf("ASPath.String = %q", s)
	}
}

func TestParseUpdateMasksHostBits(t *testing.T) {
	// RFC 4271 4.3: trailing bits of the last prefix octet are irrelevant.
	body := updBody(nil, mandatory4, []byte{20, 10, 1, 0xff})
	u := mustParse(t, body, as4Opts)
	if got := u.NLRI[0].Prefix(); got != netip.MustParsePrefix("10.1.240.0/20") {
		t.Fatalf("prefix %v", got)
	}
}

func TestMPReachIPv6(t *testing.T) {
	gl := netip.MustParseAddr("2001:db8::1").As16()
	ll := netip.MustParseAddr("fe80::1").As16()
	v := cat([]byte{0, 2, 1, 32}, gl[:], ll[:], []byte{0}, appendNLRI(nil, pfx("2001:db8:1::/48"), false), appendNLRI(nil, pfx("::/0"), false))
	body := updBody(nil, cat(rawAttr(0x90, AttrMPReach, v...), aOrigin, aPath), nil)
	u := mustParse(t, body, as4Opts)
	r := u.Attrs.MPReach
	if r.Family != IPv6Unicast || r.NextHop != netip.AddrFrom16(gl) || r.LinkLocalNextHop != netip.AddrFrom16(ll) {
		t.Fatalf("MPReach %+v", r)
	}
	if d := cmp.Diff([]NLRI{pfx("2001:db8:1::/48"), pfx("::/0")}, r.NLRI, cmpNet); d != "" {
		t.Fatal(d)
	}
	roundTrip(t, u, as4Opts)
}

func TestMPReachExtendedNextHop(t *testing.T) {
	// RFC 8950: IPv4 NLRI with an IPv6 next hop.
	gl := netip.MustParseAddr("2001:db8::1").As16()
	v := cat([]byte{0, 1, 1, 16}, gl[:], []byte{0}, appendNLRI(nil, pfx("10.0.0.0/24"), false))
	body := updBody(nil, cat(rawAttr(0x80, AttrMPReach, v...), aOrigin, aPath), nil)
	enh := &Options{AS4: true, ExtendedNextHop: map[Family]bool{IPv4Unicast: true}}
	u := mustParse(t, body, enh)
	if u.Attrs.MPReach.NextHop != netip.AddrFrom16(gl) || u.Attrs.MPReach.NLRI[0] != pfx("10.0.0.0/24") {
		t.Fatalf("MPReach %+v", u.Attrs.MPReach)
	}
	roundTrip(t, u, enh)
	if _, err := u.AppendBody(nil, as4Opts); err == nil {
		t.Fatal("encoding an IPv6 next hop for IPv4 without the capability should fail")
	}
	// Without the capability the next hop length is inconsistent, and
	// RFC 7606 7.11 makes that a session reset: the NLRI behind the next
	// hop cannot be located reliably.
	u, err := ParseUpdate(body, as4Opts)
	e := wantAction(t, err, ActionSessionReset, SubOptionalAttributeError)
	if u != nil {
		t.Fatalf("session reset returned an Update: %+v", u)
	}
	if !strings.Contains(e.Reason, "next hop length 16 is invalid for") {
		t.Errorf("reason %q does not name the next hop length", e.Reason)
	}
}

func TestAddPath(t *testing.T) {
	opts := &Options{AS4: true, AddPathRecv: map[Family]bool{IPv4Unicast: true}, AddPathSend: map[Family]bool{IPv4Unicast: true}}
	nl := cat(appendNLRI(nil, NewNLRI(netip.MustParsePrefix("10.0.0.0/8"), 7), true),
		appendNLRI(nil, NewNLRI(netip.MustParsePrefix("10.0.0.0/8"), 8), true))
	u := mustParse(t, updBody(nil, mandatory4, nl), opts)
	if len(u.NLRI) != 2 || u.NLRI[0].PathID != 7 || u.NLRI[1].PathID != 8 {
		t.Fatalf("NLRI %v", u.NLRI)
	}
	roundTrip(t, u, opts)
}

func TestEndOfRIB(t *testing.T) {
	for _, f := range []Family{IPv4Unicast, IPv6Unicast} {
		b, err := EndOfRIB(f).AppendBody(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		u := mustParse(t, b, nil)
		got, ok := u.EndOfRIB()
		if !ok || got != f {
			t.Errorf("%s: EndOfRIB() = %v, %v", f, got, ok)
		}
	}
	if f, ok := mustParse(t, updBody(nil, mandatory4, encPrefixes(t, "10.0.0.0/8")), as4Opts).EndOfRIB(); ok {
		t.Errorf("announcement taken for End-of-RIB of %s", f)
	}
	withAttr := &Update{Attrs: &PathAttrs{MPUnreach: &MPUnreach{Family: IPv6Unicast}, HasOrigin: true}}
	if _, ok := withAttr.EndOfRIB(); ok {
		t.Error("MP_UNREACH with other attributes taken for End-of-RIB")
	}
}

func TestUnknownAttributes(t *testing.T) {
	// RFC 4271 5: unrecognized optional transitive attributes are passed
	// on with Partial set; optional non-transitive ones are ignored.
	body := updBody(nil, cat(mandatory4, rawAttr(0xc0, 200, 1), rawAttr(0x80, 201, 2)), encPrefixes(t, "10.0.0.0/8"))
	u := mustParse(t, body, as4Opts)
	if d := cmp.Diff([]RawAttr{{Flags: 0xe0, Type: 200, Value: []byte{1}}}, u.Attrs.Unknown, cmpNet); d != "" {
		t.Fatal(d)
	}
	b, _ := u.AppendBody(nil, as4Opts)
	if !containsBytes(b, []byte{0xe0, 200, 1, 1}) {
		t.Fatalf("re-encoded attribute lacks the Partial bit: %x", b)
	}
}

func containsBytes(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return true
		}
	}
	return false
}

func TestExtendedLengthEncoding(t *testing.T) {
	// Accept the extended length bit on a short attribute; encode it only
	// when the value exceeds 255 octets.
	body := updBody(nil, cat(rawAttr(0x50, AttrOrigin, 2), aPath, aNextHop), encPrefixes(t, "10.0.0.0/8"))
	u := mustParse(t, body, as4Opts)
	if u.Attrs.Origin != OriginIncomplete {
		t.Fatal("origin not read through an extended length header")
	}
	b, _ := u.AppendBody(nil, as4Opts)
	if !containsBytes(b, []byte{0x40, AttrOrigin, 1, 2}) {
		t.Fatalf("short attribute encoded with extended length: %x", b)
	}
	u.Attrs.Communities = make([]uint32, 100)
	b, _ = u.AppendBody(nil, as4Opts)
	if !containsBytes(b, []byte{0xd0, AttrCommunities, 1, 144}) {
		t.Fatalf("400-octet attribute not encoded with extended length: %x", b[:40])
	}
	roundTrip(t, u, as4Opts)
}

func TestAS4On2OctetSession(t *testing.T) {
	// RFC 6793 4.2.3: merge AS4_PATH into AS_PATH.
	path2 := cat(asPath2(2, 65001, 23456, 23456))
	body := updBody(nil, cat(aOrigin, rawAttr(0x40, AttrASPath, path2...), aNextHop,
		rawAttr(0xc0, AttrAS4Path, asPath4(2, 4200000001, 4200000002)...)), encPrefixes(t, "10.0.0.0/8"))
	u := mustParse(t, body, nil)
	want := ASPath{{ASSequence, []uint32{65001}}, {ASSequence, []uint32{4200000001, 4200000002}}}
	if d := cmp.Diff(want, u.Attrs.ASPath, cmpNet); d != "" {
		t.Fatal(d)
	}
	if u.Attrs.ASPath.Len() != 3 {
		t.Errorf("Len %d", u.Attrs.ASPath.Len())
	}
	roundTrip(t, u, nil)
	b, _ := u.AppendBody(nil, nil)
	if !containsBytes(b, rawAttr(0x40, AttrASPath, cat(asPath2(2, 65001), asPath2(2, 23456, 23456))...)) {
		t.Fatalf("AS_PATH not encoded with AS_TRANS: %x", b)
	}
}

func TestAS4PathLongerThanASPathIgnored(t *testing.T) {
	// RFC 6793 4.2.3: AS4_PATH with more ASes than AS_PATH is ignored.
	body := updBody(nil, cat(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 23456)...), aNextHop,
		rawAttr(0xc0, AttrAS4Path, asPath4(2, 4200000001, 4200000002)...)), encPrefixes(t, "10.0.0.0/8"))
	u := mustParse(t, body, nil)
	if d := cmp.Diff(ASPath{{ASSequence, []uint32{23456}}}, u.Attrs.ASPath, cmpNet); d != "" {
		t.Fatal(d)
	}
}

func TestAS4AggregatorOnlyWithASTrans(t *testing.T) {
	// RFC 6793 4.2.3: AS4_AGGREGATOR replaces AGGREGATOR only when the
	// latter holds AS_TRANS; otherwise both AS4_* attributes are ignored.
	as4agg := rawAttr(0xc0, AttrAS4Aggregator, 0xfa, 0x56, 0xea, 0x01, 10, 0, 0, 9)
	as4path := rawAttr(0xc0, AttrAS4Path, asPath4(2, 4200000001)...)
	path := rawAttr(0x40, AttrASPath, asPath2(2, 23456)...)
	trans := rawAttr(0xc0, AttrAggregator, 0x5b, 0xa0, 10, 0, 0, 9)
	u := mustParse(t, updBody(nil, cat(aOrigin, path, aNextHop, trans, as4agg, as4path), encPrefixes(t, "10.0.0.0/8")), nil)
	if u.Attrs.Aggregator.AS != 4200000001 || u.Attrs.ASPath.Contains(4200000001) != 1 {
		t.Fatalf("AS_TRANS aggregator: %+v %v", u.Attrs.Aggregator, u.Attrs.ASPath)
	}
	roundTrip(t, u, nil)
	old := rawAttr(0xc0, AttrAggregator, 0, 100, 10, 0, 0, 9)
	u = mustParse(t, updBody(nil, cat(aOrigin, path, aNextHop, old, as4agg, as4path), encPrefixes(t, "10.0.0.0/8")), nil)
	if u.Attrs.Aggregator.AS != 100 || u.Attrs.ASPath.Contains(23456) != 1 {
		t.Fatalf("OLD aggregator: %+v %v", u.Attrs.Aggregator, u.Attrs.ASPath)
	}
}

func TestAS4EncodeAggregator(t *testing.T) {
	u := &Update{NLRI: []NLRI{pfx("10.0.0.0/8")}, Attrs: &PathAttrs{
		HasOrigin: true, HasASPath: true, ASPath: ASPath{{ASSequence, []uint32{4200000001}}},
		NextHop:       netip.MustParseAddr("10.0.0.1"),
		HasAggregator: true, Aggregator: Aggregator{AS: 4200000001, Addr: netip.MustParseAddr("10.0.0.9")},
	}}
	b, err := u.AppendBody(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !containsBytes(b, rawAttr(0xc0, AttrAggregator, 0x5b, 0xa0, 10, 0, 0, 9)) ||
		!containsBytes(b, rawAttr(0xc0, AttrAS4Aggregator, 0xfa, 0x56, 0xea, 0x01, 10, 0, 0, 9)) {
		t.Fatalf("AGGREGATOR/AS4_AGGREGATOR not as RFC 6793 4.2.2 says: %x", b)
	}
	roundTrip(t, u, nil)
}

func TestASPathHelpers(t *testing.T) {
	p := ASPath{
		{ASConfedSequence, []uint32{64512}},
		{ASSequence, []uint32{65001, 65002, 65001}},
		{ASSet, []uint32{65003, 65004}},
	}
	if p.Len() != 4 {
		t.Errorf("Len = %d, want 4 (set counts 1, confed 0)", p.Len())
	}
	if a, ok := p.First(); !ok || a != 65001 {
		t.Errorf("First = %d %v", a, ok)
	}
	if p.Contains(65001) != 2 || p.Contains(64512) != 1 || p.Contains(1) != 0 {
		t.Error("Contains miscounts")
	}
	if s := p.String(); s != "(64512) 65001 65002 65001 {65003,65004}" {
		t.Errorf("String = %q", s)
	}
	if _, ok := (ASPath{{ASSet, []uint32{1}}}).First(); ok {
		t.Error("a path starting with a set has no neighbor AS")
	}
	long := ASPath{{ASSequence, make([]uint32, 300)}}
	b := appendASPath(nil, long, 4, false)
	got, ok := parseASPath(b, 4, nil)
	if !ok || len(got) != 2 || len(got[0].ASNs) != 255 || got.Len() != 300 {
		t.Fatalf("long segment not split in 255s: %v %d", ok, len(got))
	}
}

func TestCommunityHelpers(t *testing.T) {
	rt := RouteTargetAS4(4200000001, 7)
	if g, l, ok := rt.RouteTarget(); !ok || g != "4200000001" || l != 7 {
		t.Errorf("RouteTarget = %s %d %v", g, l, ok)
	}
	if g, l, ok := RouteTargetIPv4(netip.MustParseAddr("10.0.0.1"), 9).RouteTarget(); !ok || g != "10.0.0.1" || l != 9 {
		t.Errorf("RouteTargetIPv4 = %s %d %v", g, l, ok)
	}
	if g, l, ok := RouteTargetAS2(65001, 100000).RouteTarget(); !ok || g != "65001" || l != 100000 {
		t.Errorf("RouteTargetAS2 = %s %d %v", g, l, ok)
	}
	lb := LinkBandwidth(65001, 1.25e9)
	if as, bw, ok := lb.LinkBandwidth(); !ok || as != 65001 || bw != 1.25e9 || lb.Transitive() {
		t.Errorf("LinkBandwidth = %d %g %v", as, bw, ok)
	}
	if _, _, ok := rt.LinkBandwidth(); ok {
		t.Error("route target read as link bandwidth")
	}
	if FormatCommunity(CommunityGracefulShutdown) != "graceful-shutdown" || FormatCommunity(0x00010002) != "1:2" {
		t.Error("FormatCommunity")
	}
}

func TestKey(t *testing.T) {
	a := &PathAttrs{HasOrigin: true, HasASPath: true, ASPath: ASPath{{ASSequence, []uint32{1}}},
		MPReach: &MPReach{Family: IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::1"), NLRI: []NLRI{pfx("2001:db8::/32")}}}
	b := a.Clone()
	b.MPReach.NLRI = []NLRI{pfx("2001:db8:1::/48")}
	b.MPUnreach = &MPUnreach{Family: IPv6Unicast, NLRI: []NLRI{pfx("2001:db8:2::/48")}}
	if a.Key() != b.Key() {
		t.Error("key depends on NLRI")
	}
	b.MPReach.NextHop = netip.MustParseAddr("2001:db8::2")
	if a.Key() == b.Key() {
		t.Error("key ignores the MP next hop")
	}
	c := a.Clone()
	c.Communities = []uint32{1, 2}
	d := a.Clone()
	d.Communities = []uint32{2, 1}
	if c.Key() == d.Key() {
		t.Error("key sorts communities")
	}
	c.ASPath[0].ASNs[0] = 9
	if a.ASPath[0].ASNs[0] != 1 {
		t.Error("Clone shares the AS path")
	}
}

func wantAction(t *testing.T, err error, action Action, subcode uint8) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not *Error", err)
	}
	if e.Action != action || e.Code != CodeUpdateMessage && e.Code != CodeMessageHeader || e.Subcode != subcode {
		t.Fatalf("got %v (code %d subcode %d), want %s subcode %d", e, e.Code, e.Subcode, action, subcode)
	}
	return e
}

func TestAS4PathOmitsConfedSegments(t *testing.T) {
	// RFC 6793 3: AS4_PATH carries no confederation segments; the merge
	// keeps AS_PATH's leading ones.
	u := &Update{NLRI: []NLRI{pfx("10.0.0.0/8")}, Attrs: &PathAttrs{
		HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr("10.0.0.1"),
		ASPath: ASPath{{ASConfedSequence, []uint32{64512, 64513}}, {ASSequence, []uint32{4200000001, 65001}}},
	}}
	b, err := u.AppendBody(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !containsBytes(b, rawAttr(0xc0, AttrAS4Path, asPath4(2, 4200000001, 65001)...)) {
		t.Fatalf("AS4_PATH wrong: %x", b)
	}
	roundTrip(t, u, nil)
	// Nothing above 65535: no AS4_PATH at all.
	u.Attrs.ASPath = ASPath{{ASSequence, []uint32{65001}}}
	b, _ = u.AppendBody(nil, nil)
	if containsBytes(b, []byte{0xc0, AttrAS4Path}) {
		t.Fatalf("needless AS4_PATH: %x", b)
	}
}

func TestReachableUnreachable(t *testing.T) {
	u := &Update{
		Withdrawn: []NLRI{pfx("10.1.0.0/16")},
		NLRI:      []NLRI{pfx("10.2.0.0/16")},
		Attrs: &PathAttrs{
			MPReach:   &MPReach{Family: IPv6Unicast, NLRI: []NLRI{pfx("2001:db8::/32")}},
			MPUnreach: &MPUnreach{Family: IPv6Unicast, NLRI: []NLRI{pfx("2001:db8:1::/48")}},
		},
	}
	var reach, unreach []string
	u.Reachable(func(f Family, n NLRI) { reach = append(reach, f.String()+" "+n.String()) })
	u.Unreachable(func(f Family, n NLRI) { unreach = append(unreach, f.String()+" "+n.String()) })
	if d := cmp.Diff([]string{"ipv4-unicast 10.2.0.0/16", "ipv6-unicast 2001:db8::/32"}, reach); d != "" {
		t.Error(d)
	}
	if d := cmp.Diff([]string{"ipv4-unicast 10.1.0.0/16", "ipv6-unicast 2001:db8:1::/48"}, unreach); d != "" {
		t.Error(d)
	}
}
