package wire

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzOptions derives session options from one fuzz byte so every
// combination of AS4, add-path per family, extended message and extended
// next hop is explored.
func fuzzOptions(bits byte) *Options {
	o := &Options{
		AS4:             bits&1 != 0,
		ExtendedMessage: bits&8 != 0,
		AddPathRecv:     map[Family]bool{IPv4Unicast: bits&2 != 0, IPv6Unicast: bits&4 != 0},
		ExtendedNextHop: map[Family]bool{IPv4Unicast: bits&16 != 0},
	}
	o.AddPathSend = o.AddPathRecv
	return o
}

func seedUpdates(f *testing.F) {
	gl := netip.MustParseAddr("2001:db8::1").As16()
	v6 := rawAttr(0x80, AttrMPReach, cat([]byte{0, 2, 1, 16}, gl[:], []byte{0}, appendNLRI(nil, pfx("2001:db8::/32"), false))...)
	nl := appendNLRI(appendNLRI(nil, pfx("10.0.0.0/8"), false), pfx("10.1.2.0/24"), false)
	f.Add(byte(1), updBody(nil, cat(mandatory4, rawAttr(0xc0, AttrCommunities, 0xff, 0xff, 0xff, 1)), nl))
	f.Add(byte(1), updBody(nil, cat(v6, aOrigin, aPath), nil))
	f.Add(byte(0), updBody(nil, cat(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 1, 23456)...), aNextHop,
		rawAttr(0xc0, AttrAS4Path, asPath4(2, 70000)...), rawAttr(0xc0, AttrAggregator, 0x5b, 0xa0, 1, 1, 1, 1),
		rawAttr(0xc0, AttrAS4Aggregator, 0, 1, 0x11, 0x70, 1, 1, 1, 1)), nl))
	f.Add(byte(3), updBody(nil, mandatory4, cat([]byte{0, 0, 0, 1}, appendNLRI(nil, pfx("10.0.0.0/8"), false))))
	f.Add(byte(1), updBody(nl, nil, nil))
	f.Add(byte(1), updBody(nil, rawAttr(0x80, AttrMPUnreach, 0, 2, 1), nil))
	f.Add(byte(17), updBody(nil, cat(rawAttr(0x80, AttrMPReach, cat([]byte{0, 1, 1, 16}, gl[:], []byte{0}, nl)...), aOrigin, aPath,
		rawAttr(0xc0, AttrLargeCommunities, make([]byte, 12)...), rawAttr(0xc0, AttrExtCommunities, make([]byte, 8)...)), nil))
	f.Add(byte(1), updBody(nil, cat(mandatory4, rawAttr(0x80, AttrMED, 0, 0, 0, 1), rawAttr(0x40, AttrLocalPref, 0, 0, 0, 1),
		rawAttr(0x40, AttrAtomicAggregate), rawAttr(0x80, AttrOriginatorID, 1, 2, 3, 4), rawAttr(0x80, AttrClusterList, 1, 2, 3, 4),
		rawAttr(0xc0, 99, 1), rawAttr(0xc0, AttrOnlyToCustomer, 0, 0, 0, 5)), nl))
}

// FuzzParseUpdate: ParseUpdate never panics, and whatever it accepts
// without error re-encodes to bytes that parse back to the same Update.
func FuzzParseUpdate(f *testing.F) {
	seedUpdates(f)
	f.Fuzz(func(t *testing.T, bits byte, body []byte) {
		opts := fuzzOptions(bits)
		u, err := ParseUpdate(body, opts)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			if (e.Action == ActionSessionReset) != (u == nil) {
				t.Fatalf("action %s with Update %v", e.Action, u != nil)
			}
			return
		}
		b, err := u.AppendBody(nil, opts)
		if err != nil {
			t.Fatalf("AppendBody of a parsed Update: %v", err)
		}
		got, err := ParseUpdate(b, opts)
		if err != nil {
			t.Fatalf("re-parse: %v\n%x", err, b)
		}
		if d := cmp.Diff(u, got, cmpNet); d != "" {
			t.Fatalf("round trip differs (-first +second):\n%s", d)
		}
		if u.Attrs != nil && u.Attrs.Key() != got.Attrs.Key() {
			t.Fatal("equal attributes with different keys")
		}
	})
}

// FuzzPathAttrs drives the attribute section alone (with classic NLRI so
// every mandatory-attribute rule applies) and checks the attribute-level
// round trip and that Key and Clone agree with the decoded set.
func FuzzPathAttrs(f *testing.F) {
	f.Add(byte(1), mandatory4)
	f.Add(byte(0), cat(aOrigin, rawAttr(0x40, AttrASPath, cat(asPath2(3, 1), asPath2(2, 23456), asPath2(1, 5, 6))...), aNextHop,
		rawAttr(0xc0, AttrAS4Path, cat(asPath4(2, 70000), asPath4(1, 5, 6))...)))
	f.Add(byte(1), cat(mandatory4, rawAttr(0xd0, AttrCommunities, make([]byte, 400)...)))
	f.Fuzz(func(t *testing.T, bits byte, attrs []byte) {
		if len(attrs) > 0xffff {
			return
		}
		opts := fuzzOptions(bits)
		u, err := ParseUpdate(updBody(nil, attrs, []byte{8, 10}), opts)
		if err != nil || u.Attrs == nil {
			return
		}
		enc, err := u.Attrs.appendAttrs(nil, opts, encodeWire)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := ParseUpdate(updBody(nil, enc, []byte{8, 10}), opts)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if d := cmp.Diff(u.Attrs, again.Attrs, cmpNet); d != "" {
			t.Fatalf("attributes differ:\n%s", d)
		}
		c := u.Attrs.Clone()
		if d := cmp.Diff(u.Attrs, c, cmpNet); d != "" || c.Key() != u.Attrs.Key() {
			t.Fatalf("Clone differs:\n%s", d)
		}
	})
}
