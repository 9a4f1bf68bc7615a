package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Path attribute flag bits (RFC 4271 4.3). The low four bits are unused:
// sent as zero and ignored on receipt.
const (
	AttrFlagOptional   uint8 = 0x80
	AttrFlagTransitive uint8 = 0x40
	AttrFlagPartial    uint8 = 0x20
	AttrFlagExtLen     uint8 = 0x10
)

// Path attribute type codes.
const (
	AttrOrigin             uint8 = 1   // RFC 4271
	AttrASPath             uint8 = 2   // RFC 4271
	AttrNextHop            uint8 = 3   // RFC 4271
	AttrMED                uint8 = 4   // RFC 4271
	AttrLocalPref          uint8 = 5   // RFC 4271
	AttrAtomicAggregate    uint8 = 6   // RFC 4271
	AttrAggregator         uint8 = 7   // RFC 4271
	AttrCommunities        uint8 = 8   // RFC 1997
	AttrOriginatorID       uint8 = 9   // RFC 4456
	AttrClusterList        uint8 = 10  // RFC 4456
	AttrMPReach            uint8 = 14  // RFC 4760
	AttrMPUnreach          uint8 = 15  // RFC 4760
	AttrExtCommunities     uint8 = 16  // RFC 4360
	AttrAS4Path            uint8 = 17  // RFC 6793
	AttrAS4Aggregator      uint8 = 18  // RFC 6793
	AttrIPv6ExtCommunities uint8 = 25  // RFC 5701
	AttrLargeCommunities   uint8 = 32  // RFC 8092
	AttrOnlyToCustomer     uint8 = 35  // RFC 9234
	AttrAttrSet            uint8 = 128 // RFC 6368
)

// Origin is the ORIGIN attribute value (RFC 4271 5.1.1).
type Origin uint8

const (
	OriginIGP        Origin = 0
	OriginEGP        Origin = 1
	OriginIncomplete Origin = 2
)

func (o Origin) String() string {
	switch o {
	case OriginIGP:
		return "igp"
	case OriginEGP:
		return "egp"
	case OriginIncomplete:
		return "incomplete"
	}
	return fmt.Sprintf("origin(%d)", uint8(o))
}

// Aggregator is the AGGREGATOR attribute with its logical 4-octet AS
// (AS4_AGGREGATOR already merged in, RFC 6793 4.2.3).
type Aggregator struct {
	AS   uint32
	Addr netip.Addr
}

// MPReach is the MP_REACH_NLRI attribute (RFC 4760 3). NextHop is the
// global next hop; LinkLocalNextHop is the optional IPv6 link-local one
// (RFC 2545 3), invalid when absent. An IPv4 family may carry an IPv6 next
// hop when extended next hop was negotiated (RFC 8950).
type MPReach struct {
	Family           Family
	NextHop          netip.Addr
	LinkLocalNextHop netip.Addr
	NLRI             []NLRI
}

// MPUnreach is the MP_UNREACH_NLRI attribute (RFC 4760 4).
type MPUnreach struct {
	Family Family
	NLRI   []NLRI
}

// RawAttr is a path attribute this package does not model. Only optional
// transitive ones are kept: ParseUpdate drops unrecognized optional
// non-transitive attributes, as RFC 4271 5 says to ignore them quietly, so
// everything in Unknown may be propagated. Flags are those to send: the
// Partial bit is set on receipt (RFC 4271 5) and the Extended Length bit
// is chosen by the encoder. Attributes that are known but kept raw
// (IPv6 address-specific extended communities, ATTR_SET) are checked for
// length by the parser and keep their flags as received.
type RawAttr struct {
	Flags uint8
	Type  uint8
	Value []byte
}

// PathAttrs is the path attribute set of an UPDATE. Presence flags
// distinguish an absent attribute from its zero value where the zero value
// is legal; list attributes are absent when empty. LOCAL_PREF received
// from an eBGP peer is kept here: ignoring it (RFC 7606 7.5) is the RIB's
// decision, as only it knows the peer type. Likewise AS_CONFED segments
// from a peer outside the confederation (RFC 7606 7.2) and martian next
// hops are left to the RIB.
type PathAttrs struct {
	Origin    Origin
	HasOrigin bool
	// ASPath is the logical 4-octet path; HasASPath tells an empty path
	// (iBGP-originated) from an absent AS_PATH.
	ASPath    ASPath
	HasASPath bool
	// NextHop is the NEXT_HOP attribute (IPv4), invalid when absent. The
	// next hop of other families is in MPReach.
	NextHop         netip.Addr
	MED             uint32
	HasMED          bool
	LocalPref       uint32
	HasLocalPref    bool
	AtomicAggregate bool
	Aggregator      Aggregator
	HasAggregator   bool
	Communities     []uint32
	ExtCommunities  []ExtCommunity
	// LargeCommunities (RFC 8092).
	LargeCommunities []LargeCommunity
	// OriginatorID is invalid when absent (RFC 4456 8).
	OriginatorID netip.Addr
	// ClusterList holds the 4-octet cluster IDs, nearest first (RFC 4456 8).
	ClusterList []uint32
	// OnlyToCustomer is the OTC attribute of BGP roles (RFC 9234 5).
	OnlyToCustomer uint32
	HasOTC         bool
	MPReach        *MPReach
	MPUnreach      *MPUnreach
	Unknown        []RawAttr
}

// empty reports whether no attribute is present.
func (a *PathAttrs) empty() bool {
	return !a.HasOrigin && !a.HasASPath && !a.NextHop.IsValid() && !a.HasMED && !a.HasLocalPref &&
		!a.AtomicAggregate && !a.HasAggregator && len(a.Communities) == 0 && len(a.ExtCommunities) == 0 &&
		len(a.LargeCommunities) == 0 && !a.OriginatorID.IsValid() && len(a.ClusterList) == 0 && !a.HasOTC &&
		a.MPReach == nil && a.MPUnreach == nil && len(a.Unknown) == 0
}

// Clone returns a deep copy the caller may modify (prepend to the path,
// change the next hop) without touching interned or shared attributes.
func (a *PathAttrs) Clone() *PathAttrs {
	if a == nil {
		return nil
	}
	c := *a
	if a.ASPath != nil {
		c.ASPath = make(ASPath, len(a.ASPath))
		for i, s := range a.ASPath {
			c.ASPath[i] = ASPathSegment{Type: s.Type, ASNs: slices.Clone(s.ASNs)}
		}
	}
	c.Communities = slices.Clone(a.Communities)
	c.ExtCommunities = slices.Clone(a.ExtCommunities)
	c.LargeCommunities = slices.Clone(a.LargeCommunities)
	c.ClusterList = slices.Clone(a.ClusterList)
	if a.MPReach != nil {
		r := *a.MPReach
		r.NLRI = slices.Clone(r.NLRI)
		c.MPReach = &r
	}
	if a.MPUnreach != nil {
		r := *a.MPUnreach
		r.NLRI = slices.Clone(r.NLRI)
		c.MPUnreach = &r
	}
	if a.Unknown != nil {
		c.Unknown = make([]RawAttr, len(a.Unknown))
		for i, r := range a.Unknown {
			c.Unknown[i] = RawAttr{Flags: r.Flags, Type: r.Type, Value: slices.Clone(r.Value)}
		}
	}
	return &c
}

// HasCommunity reports whether the COMMUNITIES attribute carries c.
func (a *PathAttrs) HasCommunity(c uint32) bool { return slices.Contains(a.Communities, c) }

// AppendKey appends the canonical encoding that identifies the attribute
// set for interning: every attribute in 4-octet form, MP_REACH_NLRI reduced
// to its family and next hops, MP_UNREACH_NLRI left out. Two sets are equal
// iff their keys are equal; nothing is sorted, so communities in another
// order make another set. A map lookup m[string(key)] with a reused buffer
// does not allocate, which is why this is offered beside Key.
func (a *PathAttrs) AppendKey(dst []byte) []byte {
	out, err := a.appendAttrs(dst, nil, encodeKey)
	if err != nil {
		// Only an attribute too long to encode fails; key it by its
		// error so it still interns consistently and distinctly.
		return append(dst, err.Error()...)
	}
	return out
}

// Key is AppendKey as a string, for use as a map key. There is
// deliberately no Equal method: go-cmp would use it, and tests comparing
// Updates would then miss differences in the MP NLRI lists the key leaves
// out. A key rather than Hash+Equal because the encoding is both the
// identity and cheap to compare, and Go maps hash strings well.
func (a *PathAttrs) Key() string { return string(a.AppendKey(nil)) }

// encodeMode says what appendAttrs writes.
type encodeMode uint8

const (
	encodeWire encodeMode = iota // the whole set, MP attributes with NLRI
	encodeNoMP                   // everything but MP_REACH/MP_UNREACH (builder)
	encodeKey                    // canonical key: 4-octet, MP_REACH without NLRI
)

var errAttrTooLong = errors.New("bgp: path attribute longer than 65535 octets")

// beginAttr writes an attribute header with a 2-octet length placeholder;
// endAttr fills it in, shrinking to 1 octet when the value fits (extended
// length only above 255, so encodings are canonical).
func beginAttr(dst []byte, flags, typ uint8) ([]byte, int) {
	dst = append(dst, flags&0xe0|AttrFlagExtLen, typ, 0, 0)
	return dst, len(dst)
}

func endAttr(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start
	if n > 0xffff {
		return dst, errAttrTooLong
	}
	if n <= 0xff {
		dst[start-4] &^= AttrFlagExtLen
		dst[start-2] = byte(n)
		copy(dst[start-1:], dst[start:])
		return dst[:len(dst)-1], nil
	}
	binary.BigEndian.PutUint16(dst[start-2:], uint16(n))
	return dst, nil
}

const (
	flagsWellKnown   = AttrFlagTransitive
	flagsOptTrans    = AttrFlagOptional | AttrFlagTransitive
	flagsOptNonTrans = AttrFlagOptional
)

// appendAttrs encodes the attributes: MP_UNREACH and MP_REACH first
// (RFC 7606 5.1), then the others by type code, then Unknown in order.
func (a *PathAttrs) appendAttrs(dst []byte, opts *Options, mode encodeMode) ([]byte, error) {
	start := len(dst)
	var err error
	fail := func(e error) ([]byte, error) { return dst[:start], e }
	as4 := mode == encodeKey || opts.as4()
	var s int
	if mode == encodeWire && a.MPUnreach != nil {
		dst, s = beginAttr(dst, flagsOptNonTrans, AttrMPUnreach)
		dst = binary.BigEndian.AppendUint16(dst, uint16(a.MPUnreach.Family.AFI))
		dst = append(dst, byte(a.MPUnreach.Family.SAFI))
		if dst, err = appendMPNLRI(dst, a.MPUnreach.Family, a.MPUnreach.NLRI, opts); err != nil {
			return fail(err)
		}
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if mode != encodeNoMP && a.MPReach != nil {
		dst, s = beginAttr(dst, flagsOptNonTrans, AttrMPReach)
		if dst, err = appendMPReachHead(dst, a.MPReach, opts, mode == encodeKey); err != nil {
			return fail(err)
		}
		if mode == encodeWire {
			if dst, err = appendMPNLRI(dst, a.MPReach.Family, a.MPReach.NLRI, opts); err != nil {
				return fail(err)
			}
		}
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if a.HasOrigin {
		dst = append(dst, flagsWellKnown, AttrOrigin, 1, byte(a.Origin))
	}
	asnLen := 2
	if as4 {
		asnLen = 4
	}
	if a.HasASPath {
		dst, s = beginAttr(dst, flagsWellKnown, AttrASPath)
		dst = appendASPath(dst, a.ASPath, asnLen, false)
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if a.NextHop.IsValid() {
		if !a.NextHop.Is4() {
			return fail(fmt.Errorf("bgp: NEXT_HOP %s is not an IPv4 address", a.NextHop))
		}
		b := a.NextHop.As4()
		dst = append(dst, flagsWellKnown, AttrNextHop, 4, b[0], b[1], b[2], b[3])
	}
	if a.HasMED {
		dst = append(dst, flagsOptNonTrans, AttrMED, 4)
		dst = binary.BigEndian.AppendUint32(dst, a.MED)
	}
	if a.HasLocalPref {
		dst = append(dst, flagsWellKnown, AttrLocalPref, 4)
		dst = binary.BigEndian.AppendUint32(dst, a.LocalPref)
	}
	if a.AtomicAggregate {
		dst = append(dst, flagsWellKnown, AttrAtomicAggregate, 0)
	}
	if a.HasAggregator {
		if !a.Aggregator.Addr.Is4() {
			return fail(fmt.Errorf("bgp: AGGREGATOR address %s is not IPv4", a.Aggregator.Addr))
		}
		ip := a.Aggregator.Addr.As4()
		if as4 {
			dst = append(dst, flagsOptTrans, AttrAggregator, 8)
			dst = binary.BigEndian.AppendUint32(dst, a.Aggregator.AS)
		} else {
			as := a.Aggregator.AS
			if aggregatorNeedsAS4(a) {
				as = asTrans
			}
			dst = append(dst, flagsOptTrans, AttrAggregator, 6)
			dst = binary.BigEndian.AppendUint16(dst, uint16(as))
		}
		dst = append(dst, ip[:]...)
	}
	if len(a.Communities) > 0 {
		dst, s = beginAttr(dst, flagsOptTrans, AttrCommunities)
		for _, c := range a.Communities {
			dst = binary.BigEndian.AppendUint32(dst, c)
		}
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if a.OriginatorID.IsValid() {
		if !a.OriginatorID.Is4() {
			return fail(fmt.Errorf("bgp: ORIGINATOR_ID %s is not IPv4", a.OriginatorID))
		}
		b := a.OriginatorID.As4()
		dst = append(dst, flagsOptNonTrans, AttrOriginatorID, 4, b[0], b[1], b[2], b[3])
	}
	if len(a.ClusterList) > 0 {
		dst, s = beginAttr(dst, flagsOptNonTrans, AttrClusterList)
		for _, c := range a.ClusterList {
			dst = binary.BigEndian.AppendUint32(dst, c)
		}
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if len(a.ExtCommunities) > 0 {
		dst, s = beginAttr(dst, flagsOptTrans, AttrExtCommunities)
		for _, c := range a.ExtCommunities {
			dst = append(dst, c[:]...)
		}
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if !as4 {
		// RFC 6793 4.2.2: a NEW speaker talking to an OLD one carries the
		// real path and aggregator in AS4_PATH and AS4_AGGREGATOR when
		// they do not fit in 2 octets.
		if a.HasASPath && as4PathNeeded(a.ASPath) {
			dst, s = beginAttr(dst, flagsOptTrans, AttrAS4Path)
			dst = appendASPath(dst, a.ASPath, 4, true)
			if dst, err = endAttr(dst, s); err != nil {
				return fail(err)
			}
		}
		if a.HasAggregator && aggregatorNeedsAS4(a) {
			ip := a.Aggregator.Addr.As4()
			dst = append(dst, flagsOptTrans, AttrAS4Aggregator, 8)
			dst = binary.BigEndian.AppendUint32(dst, a.Aggregator.AS)
			dst = append(dst, ip[:]...)
		}
	}
	if len(a.LargeCommunities) > 0 {
		dst, s = beginAttr(dst, flagsOptTrans, AttrLargeCommunities)
		for _, c := range a.LargeCommunities {
			dst = binary.BigEndian.AppendUint32(dst, c.Global)
			dst = binary.BigEndian.AppendUint32(dst, c.Local1)
			dst = binary.BigEndian.AppendUint32(dst, c.Local2)
		}
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	if a.HasOTC {
		dst = append(dst, flagsOptTrans, AttrOnlyToCustomer, 4)
		dst = binary.BigEndian.AppendUint32(dst, a.OnlyToCustomer)
	}
	for _, r := range a.Unknown {
		dst, s = beginAttr(dst, r.Flags, r.Type)
		dst = append(dst, r.Value...)
		if dst, err = endAttr(dst, s); err != nil {
			return fail(err)
		}
	}
	return dst, nil
}

// as4PathNeeded reports whether AS4_PATH must accompany a 2-octet AS_PATH:
// some ASN outside confederation segments exceeds 2 octets.
func as4PathNeeded(p ASPath) bool {
	for _, s := range p {
		if s.Type.isConfed() {
			continue
		}
		for _, a := range s.ASNs {
			if a > 0xffff {
				return true
			}
		}
	}
	return false
}

// appendMPReachHead writes AFI, SAFI, next hop and the reserved octet.
func appendMPReachHead(dst []byte, r *MPReach, opts *Options, lenient bool) ([]byte, error) {
	f := r.Family
	if f != IPv4Unicast && f != IPv6Unicast {
		return dst, fmt.Errorf("bgp: cannot encode MP_REACH_NLRI for %s", f)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.AFI))
	dst = append(dst, byte(f.SAFI))
	nh := r.NextHop
	switch {
	case !nh.IsValid():
		return dst, fmt.Errorf("bgp: MP_REACH_NLRI for %s has no next hop", f)
	case nh.Is4():
		if f != IPv4Unicast || r.LinkLocalNextHop.IsValid() {
			return dst, fmt.Errorf("bgp: IPv4 next hop %s cannot carry %s routes", nh, f)
		}
		b := nh.As4()
		dst = append(dst, 4, b[0], b[1], b[2], b[3])
	default:
		if f == IPv4Unicast && !lenient && (opts == nil || !opts.ExtendedNextHop[IPv4Unicast]) {
			return dst, fmt.Errorf("bgp: IPv6 next hop %s for IPv4 routes needs the extended next hop capability (RFC 8950)", nh)
		}
		b := nh.As16()
		if r.LinkLocalNextHop.IsValid() {
			if r.LinkLocalNextHop.Is4() {
				return dst, fmt.Errorf("bgp: link-local next hop %s is not IPv6", r.LinkLocalNextHop)
			}
			ll := r.LinkLocalNextHop.As16()
			dst = append(dst, 32)
			dst = append(dst, b[:]...)
			dst = append(dst, ll[:]...)
		} else {
			dst = append(dst, 16)
			dst = append(dst, b[:]...)
		}
	}
	return append(dst, 0), nil
}

func appendMPNLRI(dst []byte, f Family, list []NLRI, opts *Options) ([]byte, error) {
	if f != IPv4Unicast && f != IPv6Unicast {
		return dst, fmt.Errorf("bgp: cannot encode NLRI of %s", f)
	}
	return appendNLRIList(dst, list, f.AFI, opts.addPathSend(f))
}

// aggregatorNeedsAS4 says whether a 2-octet session must carry the
// aggregator as AS_TRANS plus AS4_AGGREGATOR. Beyond RFC 6793 4.2.2's case
// (a 4-octet aggregating AS) it does so whenever AS4_PATH is sent: a receiver
// ignores AS4_PATH when AGGREGATOR holds anything but AS_TRANS (4.2.3), so a
// mappable aggregator AS written plainly would lose the real path.
func aggregatorNeedsAS4(a *PathAttrs) bool {
	return a.Aggregator.AS > 0xffff || (a.HasASPath && as4PathNeeded(a.ASPath))
}
