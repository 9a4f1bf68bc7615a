package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
)

// Well-known communities (RFC 1997, RFC 3765, RFC 7999, RFC 8326, and the
// IANA registry for LLGR).
const (
	CommunityGracefulShutdown  uint32 = 0xFFFF0000 // RFC 8326
	CommunityAcceptOwn         uint32 = 0xFFFF0001 // RFC 7611
	CommunityLLGRStale         uint32 = 0xFFFF0006 // RFC 9494
	CommunityNoLLGR            uint32 = 0xFFFF0007 // RFC 9494
	CommunityBlackhole         uint32 = 0xFFFF029A // RFC 7999
	CommunityNoExport          uint32 = 0xFFFFFF01 // RFC 1997
	CommunityNoAdvertise       uint32 = 0xFFFFFF02 // RFC 1997
	CommunityNoExportSubconfed uint32 = 0xFFFFFF03 // RFC 1997
	CommunityNoPeer            uint32 = 0xFFFFFF04 // RFC 3765
)

// FormatCommunity writes a community as its well-known name or "AS:value".
func FormatCommunity(c uint32) string {
	switch c {
	case CommunityGracefulShutdown:
		return "graceful-shutdown"
	case CommunityAcceptOwn:
		return "accept-own"
	case CommunityLLGRStale:
		return "llgr-stale"
	case CommunityNoLLGR:
		return "no-llgr"
	case CommunityBlackhole:
		return "blackhole"
	case CommunityNoExport:
		return "no-export"
	case CommunityNoAdvertise:
		return "no-advertise"
	case CommunityNoExportSubconfed:
		return "no-export-subconfed"
	case CommunityNoPeer:
		return "no-peer"
	}
	return fmt.Sprintf("%d:%d", c>>16, c&0xffff)
}

// ExtCommunity is one extended community (RFC 4360), kept as its 8 octets:
// the RIB compares and copies them, and the helpers below read the few
// kinds a fabric uses.
type ExtCommunity [8]byte

// Extended community type octets (RFC 4360, RFC 5668, RFC 7153).
const (
	ExtTypeTransitiveTwoOctetAS  uint8 = 0x00
	ExtTypeTransitiveIPv4        uint8 = 0x01
	ExtTypeTransitiveFourOctetAS uint8 = 0x02
	ExtTypeNonTransitiveTwoAS    uint8 = 0x40

	ExtSubRouteTarget   uint8 = 0x02
	ExtSubRouteOrigin   uint8 = 0x03
	ExtSubLinkBandwidth uint8 = 0x04
)

// Type returns the type and subtype octets.
func (c ExtCommunity) Type() (typ, sub uint8) { return c[0], c[1] }

// RouteTargetAS2 builds a 2-octet-AS route target (RFC 4360 4).
func RouteTargetAS2(as uint16, local uint32) ExtCommunity {
	var c ExtCommunity
	c[0], c[1] = ExtTypeTransitiveTwoOctetAS, ExtSubRouteTarget
	binary.BigEndian.PutUint16(c[2:], as)
	binary.BigEndian.PutUint32(c[4:], local)
	return c
}

// RouteTargetIPv4 builds an IPv4-address route target (RFC 4360 4).
func RouteTargetIPv4(addr netip.Addr, local uint16) ExtCommunity {
	var c ExtCommunity
	c[0], c[1] = ExtTypeTransitiveIPv4, ExtSubRouteTarget
	a := addr.Unmap().As4()
	copy(c[2:6], a[:])
	binary.BigEndian.PutUint16(c[6:], local)
	return c
}

// RouteTargetAS4 builds a 4-octet-AS route target (RFC 5668 2).
func RouteTargetAS4(as uint32, local uint16) ExtCommunity {
	var c ExtCommunity
	c[0], c[1] = ExtTypeTransitiveFourOctetAS, ExtSubRouteTarget
	binary.BigEndian.PutUint32(c[2:], as)
	binary.BigEndian.PutUint16(c[6:], local)
	return c
}

// RouteTarget decodes any of the three route target kinds into a printable
// global administrator and local value; ok is false for other communities.
func (c ExtCommunity) RouteTarget() (global string, local uint32, ok bool) {
	if c[1] != ExtSubRouteTarget {
		return "", 0, false
	}
	switch c[0] {
	case ExtTypeTransitiveTwoOctetAS:
		return fmt.Sprint(binary.BigEndian.Uint16(c[2:])), binary.BigEndian.Uint32(c[4:]), true
	case ExtTypeTransitiveIPv4:
		return netip.AddrFrom4([4]byte(c[2:6])).String(), uint32(binary.BigEndian.Uint16(c[6:])), true
	case ExtTypeTransitiveFourOctetAS:
		return fmt.Sprint(binary.BigEndian.Uint32(c[2:])), uint32(binary.BigEndian.Uint16(c[6:])), true
	}
	return "", 0, false
}

// LinkBandwidth builds the non-transitive link bandwidth community
// (draft-ietf-idr-link-bandwidth 2): the AS and the bandwidth in bytes per
// second as an IEEE float32. ASNs above 65535 are written as AS_TRANS, as
// the draft's 2-octet AS field requires.
func LinkBandwidth(as uint32, bytesPerSecond float32) ExtCommunity {
	var c ExtCommunity
	c[0], c[1] = ExtTypeNonTransitiveTwoAS, ExtSubLinkBandwidth
	if as > 0xffff {
		as = asTrans
	}
	binary.BigEndian.PutUint16(c[2:], uint16(as))
	binary.BigEndian.PutUint32(c[4:], math.Float32bits(bytesPerSecond))
	return c
}

// LinkBandwidth decodes a link bandwidth community. The transitive variant
// (type 0x00) that some vendors send is accepted too.
func (c ExtCommunity) LinkBandwidth() (as uint16, bytesPerSecond float32, ok bool) {
	if c[1] != ExtSubLinkBandwidth || (c[0] != ExtTypeNonTransitiveTwoAS && c[0] != ExtTypeTransitiveTwoOctetAS) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(c[2:]), math.Float32frombits(binary.BigEndian.Uint32(c[4:])), true
}

// Transitive reports whether the community may cross an AS boundary
// (RFC 4360 2: bit 0x40 of the type octet clear).
func (c ExtCommunity) Transitive() bool { return c[0]&0x40 == 0 }

func (c ExtCommunity) String() string {
	if g, l, ok := c.RouteTarget(); ok {
		return fmt.Sprintf("rt:%s:%d", g, l)
	}
	if as, bw, ok := c.LinkBandwidth(); ok {
		return fmt.Sprintf("lb:%d:%g", as, bw)
	}
	return fmt.Sprintf("0x%x", c[:])
}

// LargeCommunity is one large community (RFC 8092 3).
type LargeCommunity struct {
	Global, Local1, Local2 uint32
}

func (c LargeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", c.Global, c.Local1, c.Local2)
}
