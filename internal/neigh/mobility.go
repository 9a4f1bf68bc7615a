package neigh

import "encoding/binary"

// The mobility sequence number travels as an extended community laid out
// like the EVPN MAC Mobility community (RFC 7432 7.7): type 0x06, subtype
// 0x00, a flags octet whose low bit is "sticky" (a static host that must
// not be taken over), one reserved octet and a 4-octet sequence number.
const (
	MobilityType       = 0x06
	MobilitySubtype    = 0x00
	mobilityFlagSticky = 0x01
)

// MobilityCommunity builds the 8-octet extended community.
func MobilityCommunity(seq uint32, sticky bool) [8]byte {
	var b [8]byte
	b[0] = MobilityType
	b[1] = MobilitySubtype
	if sticky {
		b[2] = mobilityFlagSticky
	}
	binary.BigEndian.PutUint32(b[4:], seq)
	return b
}

// MobilityCommunityUint64 is MobilityCommunity as a big-endian uint64, the
// form a RIB that stores extended communities as integers uses.
func MobilityCommunityUint64(seq uint32, sticky bool) uint64 {
	b := MobilityCommunity(seq, sticky)
	return binary.BigEndian.Uint64(b[:])
}

// ParseMobilityCommunity reads a mobility community; ok is false when b is
// some other extended community. Unknown flag bits are ignored, as RFC
// 7432 asks of reserved bits.
func ParseMobilityCommunity(b [8]byte) (seq uint32, sticky bool, ok bool) {
	if b[0] != MobilityType || b[1] != MobilitySubtype {
		return 0, false, false
	}
	return binary.BigEndian.Uint32(b[4:]), b[2]&mobilityFlagSticky != 0, true
}

// ParseMobilityCommunityUint64 is ParseMobilityCommunity for the uint64 form.
func ParseMobilityCommunityUint64(v uint64) (seq uint32, sticky bool, ok bool) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return ParseMobilityCommunity(b)
}

// PreferBySeq is the mobility step of best-path selection for host routes,
// to run before the usual BGP tie-breaks: it returns +1 when a route with
// sequence a should win over one with b, -1 when b wins and 0 when the
// sequence does not decide. A route without the community counts as
// sequence 0 (RFC 7432 7.7). Plain numeric order is used, not serial
// arithmetic: the engine saturates at the maximum instead of wrapping, so a
// wrapped number never beats a real one.
func PreferBySeq(a, b uint32) int {
	switch {
	case a > b:
		return 1
	case a < b:
		return -1
	}
	return 0
}

// PreferMobility extends PreferBySeq with the sticky flag: a sticky route
// wins over a non-sticky one whatever the sequence (RFC 7432 15.2).
func PreferMobility(aSeq uint32, aSticky bool, bSeq uint32, bSticky bool) int {
	if aSticky != bSticky {
		if aSticky {
			return 1
		}
		return -1
	}
	return PreferBySeq(aSeq, bSeq)
}
