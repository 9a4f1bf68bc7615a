// Package ra finds the IPv6 link-local address of the BGP speaker at the
// other end of an unnumbered link, and tells it ours, with router
// advertisements (RFC 4861 4.2) as FRR does for `neighbor swp1 interface`.
//
// The Engine is pure: interfaces come and go, packets arrive, time passes;
// it answers with packets to send and with the peer address it learned or
// lost per interface. Conn carries packets: a raw ICMPv6 socket on Linux
// (raw_linux.go) and MemNetwork in tests.
package ra

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// ICMPv6 types of router discovery (RFC 4861 4.1, 4.2).
const (
	TypeRouterSolicitation  = 133
	TypeRouterAdvertisement = 134
)

// HopLimit is the only hop limit a router discovery packet may arrive with
// (RFC 4861 6.1): anything else was forwarded and is dropped.
const HopLimit = 255

const optSourceLinkLayer = 1

// Message is a router solicitation or advertisement.
type Message struct {
	// Type is TypeRouterSolicitation or TypeRouterAdvertisement.
	Type uint8
	// CurHopLimit, Lifetime, ReachableTime and RetransTimer are the RA's
	// fields (zero in an RS). Lifetime 0 says "not a default router":
	// closd advertises itself for BGP, not as anyone's gateway.
	CurHopLimit   uint8
	Managed       bool
	Other         bool
	Lifetime      uint16
	ReachableTime uint32
	RetransTimer  uint32
	// SourceLinkLayer is the sender's link-layer address option, if any.
	SourceLinkLayer net.HardwareAddr
}

// ErrMalformed wraps every reason Parse refuses a packet.
var ErrMalformed = errors.New("ra: malformed router discovery packet")

func malformed(f string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(f, a...))
}

// Parse decodes an ICMPv6 router solicitation or advertisement (the ICMPv6
// header first; the kernel has checked the checksum). It applies the
// validity checks of RFC 4861 6.1 that need only the packet: code 0,
// minimum length, every option with a non-zero length inside the packet.
func Parse(b []byte) (Message, error) {
	if len(b) < 8 {
		return Message{}, malformed("%d bytes, shorter than an ICMPv6 header", len(b))
	}
	m := Message{Type: b[0]}
	if b[1] != 0 {
		return Message{}, malformed("code %d, want 0", b[1])
	}
	var opts []byte
	switch m.Type {
	case TypeRouterSolicitation:
		opts = b[8:]
	case TypeRouterAdvertisement:
		if len(b) < 16 {
			return Message{}, malformed("router advertisement of %d bytes, want at least 16", len(b))
		}
		m.CurHopLimit = b[4]
		m.Managed = b[5]&0x80 != 0
		m.Other = b[5]&0x40 != 0
		m.Lifetime = binary.BigEndian.Uint16(b[6:])
		m.ReachableTime = binary.BigEndian.Uint32(b[8:])
		m.RetransTimer = binary.BigEndian.Uint32(b[12:])
		opts = b[16:]
	default:
		return Message{}, malformed("ICMPv6 type %d is not router discovery", m.Type)
	}
	for len(opts) > 0 {
		if len(opts) < 2 {
			return Message{}, malformed("option header truncated")
		}
		n := int(opts[1]) * 8
		if n == 0 {
			return Message{}, malformed("option %d has length 0", opts[0])
		}
		if n > len(opts) {
			return Message{}, malformed("option %d of %d bytes, %d left", opts[0], n, len(opts))
		}
		if opts[0] == optSourceLinkLayer && m.SourceLinkLayer == nil && n >= 8 {
			m.SourceLinkLayer = append(net.HardwareAddr(nil), opts[2:n]...)
			// Ethernet pads its 6 bytes to 8 with zeros; keep the address.
			if n == 8 {
				m.SourceLinkLayer = m.SourceLinkLayer[:6]
			}
		}
		opts = opts[n:]
	}
	return m, nil
}

// Marshal encodes m with a zero checksum: the kernel computes it for raw
// ICMPv6 sockets (RFC 3542 3.1).
func (m Message) Marshal() []byte {
	var b []byte
	switch m.Type {
	case TypeRouterSolicitation:
		b = make([]byte, 8)
	default:
		b = make([]byte, 16)
		b[4] = m.CurHopLimit
		if m.Managed {
			b[5] |= 0x80
		}
		if m.Other {
			b[5] |= 0x40
		}
		binary.BigEndian.PutUint16(b[6:], m.Lifetime)
		binary.BigEndian.PutUint32(b[8:], m.ReachableTime)
		binary.BigEndian.PutUint32(b[12:], m.RetransTimer)
	}
	b[0] = m.Type
	if len(m.SourceLinkLayer) > 0 && len(m.SourceLinkLayer) <= 253*8-2 {
		n := (len(m.SourceLinkLayer) + 2 + 7) / 8 * 8
		o := make([]byte, n)
		o[0], o[1] = optSourceLinkLayer, byte(n/8)
		copy(o[2:], m.SourceLinkLayer)
		b = append(b, o...)
	}
	return b
}
