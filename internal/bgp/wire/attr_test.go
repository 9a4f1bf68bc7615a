package wire

import (
	"net/netip"
	"testing"
)

// TestRFC7606 has one case per error rule of RFC 7606 (and the RFCs it
// updates); each name cites the clause. The checks confirm both the action
// and, for treat-as-withdraw and attribute-discard, that a usable Update
// comes back with the right content.
func TestRFC7606(t *testing.T) {
	nlri := encPrefixes(t, "10.0.0.0/8", "10.1.0.0/16")
	withNLRI := func(attrs ...[]byte) []byte { return updBody(nil, cat(attrs...), nlri) }
	mpReach6 := func(nlri []byte) []byte {
		gl := netip.MustParseAddr("2001:db8::1").As16()
		return rawAttr(0x80, AttrMPReach, cat([]byte{0, 2, 1, 16}, gl[:], []byte{0}, nlri)...)
	}
	v6nlri := appendNLRI(nil, pfx("2001:db8::/32"), false)
	hasNLRI := func(t *testing.T, u *Update) {
		if len(u.NLRI) != 2 {
			t.Errorf("NLRI to withdraw not returned: %v", u.NLRI)
		}
	}
	cases := []struct {
		name    string
		opts    *Options
		body    []byte
		action  Action // 0: no error expected
		subcode uint8
		check   func(*testing.T, *Update)
	}{
		{name: "4271-6.1 body shorter than 4 octets", body: []byte{0, 0, 0},
			action: ActionSessionReset, subcode: SubBadMessageLength},
		{name: "4271-6.3/7606-5.3 withdrawn routes length overruns message", body: []byte{0, 9, 0, 0},
			action: ActionSessionReset, subcode: SubMalformedAttributeList},
		{name: "4271-6.3 total attribute length overruns message", body: []byte{0, 0, 0, 9, 1},
			action: ActionSessionReset, subcode: SubMalformedAttributeList},
		{name: "7606-5.3 withdrawn prefix truncated", body: updBody([]byte{24, 10, 0}, nil, nil),
			action: ActionSessionReset, subcode: SubInvalidNetworkField},
		{name: "7606-5.3 NLRI prefix length 33", body: updBody(nil, mandatory4, []byte{33, 1, 2, 3, 4, 5}),
			action: ActionSessionReset, subcode: SubInvalidNetworkField},
		{name: "7606-5.3 add-path NLRI truncated", opts: &Options{AS4: true, AddPathRecv: map[Family]bool{IPv4Unicast: true}},
			body: updBody(nil, mandatory4, []byte{0, 0, 1}), action: ActionSessionReset, subcode: SubInvalidNetworkField},
		{name: "7606-4 attribute length overruns total attribute length",
			body:   withNLRI(aOrigin, aPath, aNextHop, []byte{0xc0, AttrCommunities, 9, 0, 0, 0, 1}),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "7606-4 fewer than three octets remain", body: withNLRI(mandatory4, []byte{0x40, 1}),
			action: ActionTreatAsWithdraw, subcode: SubMalformedAttributeList, check: hasNLRI},
		{name: "7606-4 fewer than four octets remain with extended length", body: withNLRI(mandatory4, []byte{0x50, 1, 0}),
			action: ActionTreatAsWithdraw, subcode: SubMalformedAttributeList, check: hasNLRI},
		{name: "7606-4/5.3 MP_REACH_NLRI overrunning is session reset", body: updBody(nil, []byte{0x80, AttrMPReach, 40, 0, 2, 1}, nil),
			action: ActionSessionReset, subcode: SubAttributeLengthError},
		{name: "7606-3 ORIGIN with Optional bit", body: withNLRI(rawAttr(0xc0, AttrOrigin, 0), aPath, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubAttributeFlagsError, check: hasNLRI},
		{name: "7606-3/4271-4.3 Partial bit on well-known ORIGIN", body: withNLRI(rawAttr(0x60, AttrOrigin, 0), aPath, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubAttributeFlagsError, check: hasNLRI},
		{name: "7606-3 Partial bit on optional transitive COMMUNITIES is fine", body: withNLRI(mandatory4, rawAttr(0xe0, AttrCommunities, 0, 0, 0, 1))},
		{name: "7606-3 MED marked transitive", body: withNLRI(mandatory4, rawAttr(0xc0, AttrMED, 0, 0, 0, 1)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeFlagsError},
		{name: "7606-3/7.7 AGGREGATOR flags error discards it", opts: as4Opts,
			body:   withNLRI(mandatory4, rawAttr(0x40, AttrAggregator, 0, 0, 0, 1, 1, 1, 1, 1)),
			action: ActionAttributeDiscard, subcode: SubAttributeFlagsError,
			check: func(t *testing.T, u *Update) {
				if u.Attrs.HasAggregator {
					t.Error("AGGREGATOR kept")
				}
			}},
		{name: "7606-3/7.11 MP_REACH_NLRI flags error is session reset", body: updBody(nil, rawAttr(0xc0, AttrMPReach, 0, 2, 1, 0, 0), nil),
			action: ActionSessionReset, subcode: SubAttributeFlagsError},
		{name: "7606-3 missing ORIGIN", body: withNLRI(aPath, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMissingWellKnownAttr, check: hasNLRI},
		{name: "7606-3 missing AS_PATH", body: withNLRI(aOrigin, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMissingWellKnownAttr},
		{name: "7606-3 missing NEXT_HOP with classic NLRI", body: withNLRI(aOrigin, aPath),
			action: ActionTreatAsWithdraw, subcode: SubMissingWellKnownAttr},
		{name: "7606-3/4760 NEXT_HOP not needed for MP_REACH only", body: updBody(nil, cat(mpReach6(v6nlri), aOrigin, aPath), nil)},
		{name: "7606-3 missing ORIGIN with MP_REACH NLRI", body: updBody(nil, cat(mpReach6(v6nlri), aPath), nil),
			action: ActionTreatAsWithdraw, subcode: SubMissingWellKnownAttr,
			check: func(t *testing.T, u *Update) {
				if len(u.Attrs.MPReach.NLRI) != 1 {
					t.Error("MP_REACH prefixes to withdraw not returned")
				}
			}},
		{name: "7606-3 nothing is mandatory without NLRI", body: updBody(encPrefixes(t, "10.0.0.0/8"), nil, nil)},
		{name: "7606-3 duplicate MP_REACH_NLRI", body: updBody(nil, cat(mpReach6(v6nlri), mpReach6(nil), aOrigin, aPath), nil),
			action: ActionSessionReset, subcode: SubMalformedAttributeList},
		{name: "7606-3 duplicate MP_UNREACH_NLRI", body: updBody(nil, cat(rawAttr(0x80, AttrMPUnreach, 0, 2, 1), rawAttr(0x80, AttrMPUnreach, 0, 2, 1)), nil),
			action: ActionSessionReset, subcode: SubMalformedAttributeList},
		{name: "7606-3 duplicate attribute keeps the first",
			body:   withNLRI(mandatory4, rawAttr(0x80, AttrMED, 0, 0, 0, 1), rawAttr(0x80, AttrMED, 0, 0, 0, 2)),
			action: ActionAttributeDiscard, subcode: SubMalformedAttributeList,
			check: func(t *testing.T, u *Update) {
				if u.Attrs.MED != 1 || len(u.NLRI) != 2 {
					t.Errorf("MED %d, NLRI %v", u.Attrs.MED, u.NLRI)
				}
			}},
		{name: "7606-3 treat-as-withdraw without NLRI keeps withdrawals",
			body:   updBody(encPrefixes(t, "10.0.0.0/8"), rawAttr(0x40, AttrOrigin, 7), nil),
			action: ActionTreatAsWithdraw, subcode: SubInvalidOriginAttr,
			check: func(t *testing.T, u *Update) {
				if len(u.Withdrawn) != 1 {
					t.Error("withdrawals lost")
				}
			}},
		{name: "7606-3 treat-as-withdraw beats attribute discard",
			body:   withNLRI(rawAttr(0x40, AttrAtomicAggregate, 1), rawAttr(0x40, AttrOrigin, 9), aPath, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubInvalidOriginAttr},
		{name: "7606-3 session reset beats treat-as-withdraw",
			body:   updBody(nil, cat(rawAttr(0x40, AttrOrigin, 9), rawAttr(0x80, AttrMPUnreach, 0, 2)), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "4271-6.3 unrecognized well-known attribute", body: withNLRI(mandatory4, rawAttr(0x40, 250, 1)),
			action: ActionSessionReset, subcode: SubUnrecognizedWellKnownAttr},
		{name: "7606-7.1 ORIGIN length 2", body: withNLRI(rawAttr(0x40, AttrOrigin, 0, 0), aPath, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "7606-7.1 ORIGIN undefined value", body: withNLRI(rawAttr(0x40, AttrOrigin, 3), aPath, aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubInvalidOriginAttr, check: hasNLRI},
		{name: "7606-7.2 AS_PATH unknown segment type", opts: as4Opts, body: withNLRI(aOrigin, rawAttr(0x40, AttrASPath, asPath4(5, 1)...), aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMalformedASPath, check: hasNLRI},
		{name: "7606-7.2 AS_PATH segment overruns", opts: as4Opts, body: withNLRI(aOrigin, rawAttr(0x40, AttrASPath, 2, 2, 0, 0, 0, 1), aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMalformedASPath},
		{name: "7606-7.2 AS_PATH empty segment", opts: as4Opts, body: withNLRI(aOrigin, rawAttr(0x40, AttrASPath, 2, 0), aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMalformedASPath},
		{name: "7606-7.2 RFC 5065 confederation segment behind an ordinary one", opts: as4Opts,
			body:   withNLRI(aOrigin, rawAttr(0x40, AttrASPath, cat(asPath4(2, 65001), asPath4(3, 65002))...), aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMalformedASPath, check: hasNLRI},
		{name: "7606-7.2 2-octet AS_PATH on a 4-octet session", opts: as4Opts, body: withNLRI(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 1, 2, 3)...), aNextHop),
			action: ActionTreatAsWithdraw, subcode: SubMalformedASPath},
		{name: "7606-7.3 NEXT_HOP length 5", body: withNLRI(aOrigin, aPath, rawAttr(0x40, AttrNextHop, 1, 2, 3, 4, 5)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "7606-7.3 bad NEXT_HOP without classic NLRI is only discarded",
			body:   updBody(nil, cat(mpReach6(v6nlri), aOrigin, aPath, rawAttr(0x40, AttrNextHop, 1, 2, 3)), nil),
			action: ActionAttributeDiscard, subcode: SubAttributeLengthError},
		{name: "7606-7.4 MED length 3", body: withNLRI(mandatory4, rawAttr(0x80, AttrMED, 0, 0, 1)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "7606-7.5 LOCAL_PREF length 2", body: withNLRI(mandatory4, rawAttr(0x40, AttrLocalPref, 0, 1)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError},
		{name: "7606-7.6 ATOMIC_AGGREGATE length 1", body: withNLRI(mandatory4, rawAttr(0x40, AttrAtomicAggregate, 1)),
			action: ActionAttributeDiscard, subcode: SubAttributeLengthError,
			check: func(t *testing.T, u *Update) {
				if u.Attrs.AtomicAggregate || len(u.NLRI) != 2 || !u.Attrs.HasOrigin {
					t.Errorf("attribute not discarded cleanly: %+v", u.Attrs)
				}
			}},
		{name: "7606-7.7 AGGREGATOR length 6 on a 4-octet session", opts: as4Opts,
			body:   withNLRI(mandatory4, rawAttr(0xc0, AttrAggregator, 0, 1, 1, 1, 1, 1)),
			action: ActionAttributeDiscard, subcode: SubAttributeLengthError},
		{name: "7606-7.7 AGGREGATOR length 8 on a 2-octet session",
			body:   withNLRI(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 1)...), aNextHop, rawAttr(0xc0, AttrAggregator, 0, 0, 0, 1, 1, 1, 1, 1)),
			action: ActionAttributeDiscard, subcode: SubAttributeLengthError},
		{name: "7606-7.8 COMMUNITIES length 5", body: withNLRI(mandatory4, rawAttr(0xc0, AttrCommunities, 0, 0, 0, 1, 2)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "7606-7.9 ORIGINATOR_ID length 3", body: withNLRI(mandatory4, rawAttr(0x80, AttrOriginatorID, 1, 1, 1)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError},
		{name: "7606-7.10 CLUSTER_LIST length 6", body: withNLRI(mandatory4, rawAttr(0x80, AttrClusterList, 0, 0, 0, 1, 0, 0)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError},
		{name: "7606-7.11 MP_REACH_NLRI shorter than 5 octets", body: updBody(nil, rawAttr(0x80, AttrMPReach, 0, 2, 1, 0), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.11 MP_REACH_NLRI next hop overruns", body: updBody(nil, rawAttr(0x80, AttrMPReach, 0, 2, 1, 16, 0), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.11 MP_REACH_NLRI bad prefix", body: updBody(nil, cat(mpReach6([]byte{129, 0}), aOrigin, aPath), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.11 MP_REACH_NLRI next hop length 12 is a session reset",
			body:   updBody(nil, cat(rawAttr(0x80, AttrMPReach, cat([]byte{0, 2, 1, 12}, make([]byte, 12), []byte{0}, v6nlri)...), aOrigin, aPath), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.11 MP_REACH_NLRI IPv4 next hop length 8 is a session reset",
			body:   updBody(nil, cat(rawAttr(0x80, AttrMPReach, cat([]byte{0, 1, 1, 8}, make([]byte, 8), []byte{0}, nlri)...), aOrigin, aPath), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.12 MP_UNREACH_NLRI shorter than 3 octets", body: updBody(nil, rawAttr(0x80, AttrMPUnreach, 0, 2), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.12 MP_UNREACH_NLRI bad prefix", body: updBody(nil, rawAttr(0x80, AttrMPUnreach, 0, 2, 1, 64, 1), nil),
			action: ActionSessionReset, subcode: SubOptionalAttributeError},
		{name: "7606-7.14 EXTENDED_COMMUNITIES length 9", body: withNLRI(mandatory4, rawAttr(0xc0, AttrExtCommunities, make([]byte, 9)...)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "7606-7.15 IPv6 address specific extended community length 21", body: withNLRI(mandatory4, rawAttr(0xc0, AttrIPv6ExtCommunities, make([]byte, 21)...)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError},
		{name: "7606-7.16 ATTR_SET shorter than 4", body: withNLRI(mandatory4, rawAttr(0xc0, AttrAttrSet, 0, 0, 1)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError},
		// RFC 7606 7.13 tells a speaker that implements the Traffic
		// Engineering attribute (RFC 5543, type 24, optional
		// non-transitive) to treat a malformed one as withdraw. closd does
		// not implement it, so RFC 4271 6.3 applies instead: an
		// unrecognized optional non-transitive attribute is ignored, even
		// malformed, and never passed on.
		{name: "7606-7.13 Traffic Engineering attribute is unrecognized: ignored, not propagated",
			body: withNLRI(mandatory4, rawAttr(0x80, 24, 1, 2, 3)),
			check: func(t *testing.T, u *Update) {
				if len(u.NLRI) != 2 || len(u.Attrs.Unknown) != 0 {
					t.Errorf("NLRI %v, unknown attributes kept %v", u.NLRI, u.Attrs.Unknown)
				}
			}},
		{name: "8092-6 LARGE_COMMUNITY length 13", body: withNLRI(mandatory4, rawAttr(0xc0, AttrLargeCommunities, make([]byte, 13)...)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError, check: hasNLRI},
		{name: "9234-5 OTC length 3", body: withNLRI(mandatory4, rawAttr(0xc0, AttrOnlyToCustomer, 0, 0, 1)),
			action: ActionTreatAsWithdraw, subcode: SubAttributeLengthError},
		{name: "6793-3 AS4_PATH on a 4-octet session is discarded", opts: as4Opts,
			body:   withNLRI(mandatory4, rawAttr(0xc0, AttrAS4Path, asPath4(2, 7)...)),
			action: ActionAttributeDiscard, subcode: SubOptionalAttributeError,
			check: func(t *testing.T, u *Update) {
				if u.Attrs.ASPath.Contains(7) != 0 {
					t.Error("AS4_PATH merged on a 4-octet session")
				}
			}},
		{name: "6793-6 malformed AS4_PATH is discarded",
			body:   withNLRI(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 23456)...), aNextHop, rawAttr(0xc0, AttrAS4Path, 2, 3, 0, 0, 0, 1)),
			action: ActionAttributeDiscard, subcode: SubOptionalAttributeError,
			check: func(t *testing.T, u *Update) {
				if u.Attrs.ASPath.Contains(23456) != 1 {
					t.Errorf("path %v", u.Attrs.ASPath)
				}
			}},
		{name: "6793-6 AS4_PATH with confederation segments is discarded",
			body:   withNLRI(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 23456)...), aNextHop, rawAttr(0xc0, AttrAS4Path, asPath4(3, 70000)...)),
			action: ActionAttributeDiscard, subcode: SubOptionalAttributeError},
		{name: "6793-6 AS4_AGGREGATOR length 6 is discarded",
			body:   withNLRI(aOrigin, rawAttr(0x40, AttrASPath, asPath2(2, 1)...), aNextHop, rawAttr(0xc0, AttrAS4Aggregator, 0, 1, 1, 1, 1, 1)),
			action: ActionAttributeDiscard, subcode: SubAttributeLengthError},
		{name: "4760 MP_REACH_NLRI of an unsupported family is discarded",
			body:   updBody(nil, rawAttr(0x80, AttrMPReach, 0, 1, 128, 4, 1, 1, 1, 1, 0), nil),
			action: ActionAttributeDiscard, subcode: SubOptionalAttributeError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			if opts == nil && c.name[:4] != "6793" && c.name != "7606-7.7 AGGREGATOR length 8 on a 2-octet session" {
				opts = as4Opts
			}
			u, err := ParseUpdate(c.body, opts)
			if c.action == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			e := wantAction(t, err, c.action, c.subcode)
			if c.action == ActionSessionReset {
				if u != nil {
					t.Fatal("session reset returned an Update")
				}
				return
			}
			if u == nil {
				t.Fatalf("%s returned no Update", e.Action)
			}
			if c.check != nil {
				c.check(t, u)
			}
		})
	}
}
