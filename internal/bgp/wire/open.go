package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Version is the only BGP version this package speaks (RFC 4271 4.2).
const Version uint8 = 4

// Optional parameter types of the OPEN message.
const (
	// ParamCapabilities carries capabilities (RFC 5492 4).
	ParamCapabilities uint8 = 2
	// paramExtendedLength marks the RFC 9072 extended optional parameters
	// length when it appears as both the length and the first type.
	paramExtendedLength uint8 = 255
)

// Open is the OPEN message (RFC 4271 4.2).
type Open struct {
	// Version is 4; Append sends 4 when it is 0.
	Version uint8
	// AS is the speaker's real AS: the 4-octet AS capability's value when
	// present, else the My Autonomous System field. Append puts AS_TRANS in
	// My Autonomous System when AS does not fit in 2 octets (RFC 6793 4.1),
	// which requires Caps.AS4.
	AS       uint32
	HoldTime uint16
	// RouterID is the BGP Identifier, written as an IPv4 address: any
	// non-zero 4-octet value (RFC 6286 2.2).
	RouterID netip.Addr
	Caps     Capabilities
}

// Type reports TypeOpen.
func (*Open) Type() MessageType { return TypeOpen }

func openError(sub uint8, data []byte, format string, args ...any) *Error {
	return &Error{
		Code: CodeOpenMessage, Subcode: sub, Data: data,
		Action: ActionSessionReset, Reason: fmt.Sprintf(format, args...),
	}
}

// ParseOpen decodes the body of an OPEN message (after the 19-octet
// header) and checks it with Validate. Errors are *Error carrying the
// OPEN Message Error to send (RFC 4271 6.2).
//
// Optional parameters other than Capabilities are refused with
// Unsupported Optional Parameter; the RFC 9072 extended optional
// parameters length is understood. Checks that need configuration (the
// peer's expected AS, our own identifier) belong to the session.
func ParseOpen(body []byte) (*Open, error) {
	if len(body) < minOpenLen-HeaderLen {
		return nil, &Error{
			Code: CodeMessageHeader, Subcode: SubBadMessageLength,
			Data:   binary.BigEndian.AppendUint16(nil, uint16(len(body)+HeaderLen)),
			Action: ActionSessionReset, Reason: fmt.Sprintf("OPEN body of %d octets is shorter than 10", len(body)),
		}
	}
	o := &Open{
		Version:  body[0],
		AS:       uint32(binary.BigEndian.Uint16(body[1:3])),
		HoldTime: binary.BigEndian.Uint16(body[3:5]),
		RouterID: netip.AddrFrom4([4]byte(body[5:9])),
	}
	// The version is checked before the rest is decoded: a future version
	// may lay the rest out differently, and the peer needs our version to
	// retry (RFC 4271 6.2).
	if o.Version != Version {
		return nil, openError(SubUnsupportedVersion, []byte{0, Version}, "unsupported version %d", o.Version)
	}
	optLen := int(body[9])
	params := body[10:]
	extended := false
	// RFC 9072 2: a non-extended length of 255 whose first parameter type is
	// also 255 introduces a 2-octet length, and every parameter then has a
	// 2-octet length too.
	if optLen == 255 && len(params) >= 1 && params[0] == paramExtendedLength {
		if len(params) < 3 {
			return nil, openError(SubUnspecific, nil, "extended optional parameters length truncated")
		}
		optLen = int(binary.BigEndian.Uint16(params[1:3]))
		params = params[3:]
		extended = true
	}
	if optLen != len(params) {
		return nil, openError(SubUnspecific, nil, "optional parameters length %d, but %d octets follow", optLen, len(params))
	}
	var as4 uint32
	hdr := 2
	if extended {
		hdr = 3
	}
	for len(params) > 0 {
		if len(params) < hdr {
			return nil, openError(SubUnspecific, nil, "optional parameter header truncated")
		}
		typ := params[0]
		var l int
		if extended {
			l = int(binary.BigEndian.Uint16(params[1:3]))
		} else {
			l = int(params[1])
		}
		if len(params) < hdr+l {
			return nil, openError(SubUnspecific, nil, "optional parameter %d length %d exceeds the %d octets left", typ, l, len(params)-hdr)
		}
		val := params[hdr : hdr+l]
		params = params[hdr+l:]
		if typ != ParamCapabilities {
			return nil, openError(SubUnsupportedOptionalParam, nil, "unsupported optional parameter type %d", typ)
		}
		if err := o.Caps.parse(val, &as4); err != nil {
			return nil, err
		}
	}
	if o.Caps.AS4 {
		o.AS = as4
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// Validate checks what RFC 4271 6.2 and RFC 7607 require of any OPEN,
// without configuration: version 4, a hold time of 0 or at least 3
// seconds, a non-zero AS, and a non-zero BGP Identifier. RFC 6286 2.2
// replaced RFC 4271's "valid unicast IP host address" with any non-zero
// 4-octet unsigned integer, so multicast and class E values are accepted:
// a speaker with no IPv4 address at all may pick any. The session adds the
// checks that need configuration: Bad Peer AS against the expected AS, an
// identifier equal to ours, a hold time below our minimum.
func (o *Open) Validate() *Error {
	v := o.Version
	if v == 0 {
		v = Version
	}
	if v != Version {
		return openError(SubUnsupportedVersion, []byte{0, Version}, "unsupported version %d", v)
	}
	if o.AS == 0 {
		// RFC 7607 2: AS 0 in My AS or in the 4-octet AS capability.
		return openError(SubBadPeerAS, nil, "peer AS is 0")
	}
	if o.HoldTime == 1 || o.HoldTime == 2 {
		return openError(SubUnacceptableHoldTime, nil, "hold time %d s is below 3 s", o.HoldTime)
	}
	if !validRouterID(o.RouterID) {
		// Only 0.0.0.0 or a non-IPv4 value gets here, for which the
		// wording logs and FSM scenarios already know still holds.
		return openError(SubBadBGPIdentifier, nil, "BGP identifier %s is not a unicast IPv4 address", o.RouterID)
	}
	return nil
}

func validRouterID(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	return a != netip.IPv4Unspecified()
}

// appendBody appends the OPEN body. Capabilities go in one optional
// parameter; when they exceed 255 octets the RFC 9072 extended length is
// used, which a peer that does not know it rejects, but such an OPEN could
// not be sent any other way.
func (o *Open) appendBody(dst []byte) ([]byte, error) {
	start := len(dst)
	v := o.Version
	if v == 0 {
		v = Version
	}
	if !o.RouterID.Is4() {
		return dst, fmt.Errorf("bgp: OPEN router ID %v is not IPv4", o.RouterID)
	}
	myAS := uint16(o.AS)
	if o.AS > 0xffff {
		if !o.Caps.AS4 {
			return dst, fmt.Errorf("bgp: AS %d needs the 4-octet AS capability", o.AS)
		}
		myAS = ASTrans
	}
	dst = append(dst, v)
	dst = binary.BigEndian.AppendUint16(dst, myAS)
	dst = binary.BigEndian.AppendUint16(dst, o.HoldTime)
	id := o.RouterID.As4()
	dst = append(dst, id[:]...)
	lenAt := len(dst)
	// Optional parameters length, then one Capabilities parameter header,
	// both patched once the capabilities' size is known.
	dst = append(dst, 0, ParamCapabilities, 0)
	capsAt := len(dst)
	dst, err := o.Caps.appendCaps(dst, o.AS)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - capsAt
	switch {
	case n == 0:
		dst = dst[:lenAt+1]
	case n+2 <= 255:
		dst[lenAt] = byte(n + 2)
		dst[lenAt+2] = byte(n)
	default:
		// RFC 9072 2: 255, 255, 2-octet length; parameter length is 2 octets.
		if n+3 > 0xffff {
			return dst[:start], errors.New("bgp: OPEN capabilities too long")
		}
		hdr := []byte{255, paramExtendedLength, 0, 0, ParamCapabilities, 0, 0}
		binary.BigEndian.PutUint16(hdr[2:], uint16(n+3))
		binary.BigEndian.PutUint16(hdr[5:], uint16(n))
		dst = append(dst, hdr[:4]...)
		copy(dst[lenAt+len(hdr):], dst[capsAt:capsAt+n])
		copy(dst[lenAt:], hdr)
	}
	return dst, nil
}
