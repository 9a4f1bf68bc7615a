// Package bfd implements Bidirectional Forwarding Detection (RFC 5880) for
// closd: the control packet codec with its authentication section, a pure
// per-session state machine driven by events and a caller-supplied clock, and
// a thin UDP runner for single-hop (RFC 5881) and multihop (RFC 5883)
// sessions. BGP and the FIB consume its state changes to withdraw next hops
// in tens of milliseconds instead of waiting for a BGP hold timer.
package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Version is the only BFD protocol version this package speaks.
const Version = 1

// HeaderLen is the length of the mandatory part of a control packet.
const HeaderLen = 24

// MaxPacketLen bounds a control packet: the header plus the longest
// authentication section (meticulous keyed SHA1, 28 bytes).
const MaxPacketLen = HeaderLen + 28

// State is a BFD session state as carried in the Sta field.
type State uint8

const (
	StateAdminDown State = 0
	StateDown      State = 1
	StateInit      State = 2
	StateUp        State = 3
)

func (s State) String() string {
	switch s {
	case StateAdminDown:
		return "AdminDown"
	case StateDown:
		return "Down"
	case StateInit:
		return "Init"
	case StateUp:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is the diagnostic code saying why the local state last changed.
type Diag uint8

const (
	DiagNone                  Diag = 0
	DiagControlDetectExpired  Diag = 1
	DiagEchoFailed            Diag = 2
	DiagNeighborDown          Diag = 3
	DiagForwardingPlaneReset  Diag = 4
	DiagPathDown              Diag = 5
	DiagConcatPathDown        Diag = 6
	DiagAdminDown             Diag = 7
	DiagReverseConcatPathDown Diag = 8
)

var diagNames = [...]string{
	"No Diagnostic",
	"Control Detection Time Expired",
	"Echo Function Failed",
	"Neighbor Signaled Session Down",
	"Forwarding Plane Reset",
	"Path Down",
	"Concatenated Path Down",
	"Administratively Down",
	"Reverse Concatenated Path Down",
}

func (d Diag) String() string {
	if int(d) < len(diagNames) {
		return diagNames[d]
	}
	return fmt.Sprintf("Diag(%d)", uint8(d))
}

// AuthType is the Auth Type field of the authentication section (RFC 5880 4.1).
type AuthType uint8

const (
	AuthNone               AuthType = 0
	AuthSimplePassword     AuthType = 1
	AuthKeyedMD5           AuthType = 2
	AuthMeticulousKeyedMD5 AuthType = 3
	AuthKeyedSHA1          AuthType = 4
	AuthMeticulousSHA1     AuthType = 5
)

func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthSimplePassword:
		return "simple-password"
	case AuthKeyedMD5:
		return "keyed-md5"
	case AuthMeticulousKeyedMD5:
		return "meticulous-keyed-md5"
	case AuthKeyedSHA1:
		return "keyed-sha1"
	case AuthMeticulousSHA1:
		return "meticulous-keyed-sha1"
	}
	return fmt.Sprintf("AuthType(%d)", uint8(a))
}

// digestLen is the length of the digest field for the keyed types, 0 for others.
func (a AuthType) digestLen() int {
	switch a {
	case AuthKeyedMD5, AuthMeticulousKeyedMD5:
		return 16
	case AuthKeyedSHA1, AuthMeticulousSHA1:
		return 20
	}
	return 0
}

func (a AuthType) meticulous() bool {
	return a == AuthMeticulousKeyedMD5 || a == AuthMeticulousSHA1
}

// Auth is the optional authentication section (RFC 5880 4.2-4.4).
type Auth struct {
	Type  AuthType
	KeyID uint8
	// Password is the simple password (1-16 bytes); nil for the keyed types.
	Password []byte
	// Reserved is the byte after the key ID in the keyed types. It is ignored
	// on receipt but kept so that a packet re-encodes byte for byte, which
	// matters because the digest covers it.
	Reserved uint8
	Seq      uint32
	// Digest is the MD5 digest (16 bytes) or SHA1 hash (20 bytes).
	Digest []byte
}

// wireLen is the Auth Len field value for this section.
func (a *Auth) wireLen() int {
	if a.Type == AuthSimplePassword {
		return 3 + len(a.Password)
	}
	return 8 + a.Type.digestLen()
}

// ControlPacket is a decoded BFD control packet (RFC 5880 4.1). Intervals are
// carried in microseconds on the wire and as time.Duration here.
type ControlPacket struct {
	Diag       Diag
	State      State
	Poll       bool
	Final      bool
	CPIndep    bool // C: control plane independent
	AuthBit    bool // A: authentication section present
	Demand     bool // D
	Multipoint bool // M: must be zero
	DetectMult uint8
	MyDiscr    uint32
	YourDiscr  uint32

	DesiredMinTx   time.Duration
	RequiredMinRx  time.Duration
	RequiredEchoRx time.Duration
	Auth           *Auth // non-nil exactly when AuthBit is set
}

// Errors returned by ParseControl. Each means the packet MUST be discarded
// (RFC 5880 6.8.6); BFD never answers a malformed packet.
var (
	ErrShort          = errors.New("bfd: packet shorter than its Length field or the 24-byte minimum")
	ErrVersion        = errors.New("bfd: version is not 1")
	ErrLength         = errors.New("bfd: Length field inconsistent with the packet")
	ErrDetectMultZero = errors.New("bfd: Detect Mult is zero")
	ErrMultipoint     = errors.New("bfd: Multipoint bit set")
	ErrMyDiscrZero    = errors.New("bfd: My Discriminator is zero")
	ErrYourDiscrZero  = errors.New("bfd: Your Discriminator is zero in state other than Down or AdminDown")
	ErrAuthFormat     = errors.New("bfd: malformed authentication section")
)

// ParseControl decodes a control packet and applies the packet-level
// reception checks of RFC 5880 6.8.6. b may be longer than the packet
// (the Length field decides); bytes past Length are ignored. The returned
// packet does not alias b.
func ParseControl(b []byte) (ControlPacket, error) {
	var p ControlPacket
	if len(b) < HeaderLen {
		return p, ErrShort
	}
	if b[0]>>5 != Version {
		return p, ErrVersion
	}
	p.Diag = Diag(b[0] & 0x1f)
	flags := b[1]
	p.State = State(flags >> 6)
	p.Poll = flags&0x20 != 0
	p.Final = flags&0x10 != 0
	p.CPIndep = flags&0x08 != 0
	p.AuthBit = flags&0x04 != 0
	p.Demand = flags&0x02 != 0
	p.Multipoint = flags&0x01 != 0
	p.DetectMult = b[2]
	length := int(b[3])
	min := HeaderLen
	if p.AuthBit {
		min = HeaderLen + 2
	}
	if length < min {
		return p, ErrLength
	}
	if length > len(b) {
		return p, ErrShort
	}
	if !p.AuthBit && length != HeaderLen {
		// Nothing may follow the header without an authentication section.
		return p, ErrLength
	}
	if p.DetectMult == 0 {
		return p, ErrDetectMultZero
	}
	if p.Multipoint {
		return p, ErrMultipoint
	}
	p.MyDiscr = binary.BigEndian.Uint32(b[4:])
	p.YourDiscr = binary.BigEndian.Uint32(b[8:])
	if p.MyDiscr == 0 {
		return p, ErrMyDiscrZero
	}
	if p.YourDiscr == 0 && p.State != StateDown && p.State != StateAdminDown {
		return p, ErrYourDiscrZero
	}
	p.DesiredMinTx = usec(binary.BigEndian.Uint32(b[12:]))
	p.RequiredMinRx = usec(binary.BigEndian.Uint32(b[16:]))
	p.RequiredEchoRx = usec(binary.BigEndian.Uint32(b[20:]))
	if p.AuthBit {
		a, err := parseAuth(b[HeaderLen:length])
		if err != nil {
			return p, err
		}
		p.Auth = a
	}
	return p, nil
}

func parseAuth(b []byte) (*Auth, error) {
	if len(b) < 3 {
		return nil, ErrAuthFormat
	}
	a := &Auth{Type: AuthType(b[0]), KeyID: b[2]}
	alen := int(b[1])
	if alen != len(b) {
		return nil, ErrAuthFormat
	}
	switch a.Type {
	case AuthSimplePassword:
		if alen < 4 || alen > 19 {
			return nil, ErrAuthFormat
		}
		a.Password = append([]byte(nil), b[3:alen]...)
	case AuthKeyedMD5, AuthMeticulousKeyedMD5, AuthKeyedSHA1, AuthMeticulousSHA1:
		if alen != 8+a.Type.digestLen() {
			return nil, ErrAuthFormat
		}
		a.Reserved = b[3]
		a.Seq = binary.BigEndian.Uint32(b[4:])
		a.Digest = append([]byte(nil), b[8:alen]...)
	default:
		return nil, ErrAuthFormat
	}
	return a, nil
}

// usec converts a wire interval to a Duration.
func usec(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

// toUsec converts a Duration to a wire interval, saturating instead of
// wrapping so that a huge configured value still means "very slow".
func toUsec(d time.Duration) uint32 {
	u := d / time.Microsecond
	if u < 0 {
		return 0
	}
	if u > 0xffffffff {
		return 0xffffffff
	}
	return uint32(u)
}

// Len is the encoded length of p.
func (p *ControlPacket) Len() int {
	if p.AuthBit && p.Auth != nil {
		return HeaderLen + p.Auth.wireLen()
	}
	return HeaderLen
}

// Append encodes p after dst. It does not compute digests (see signPacket);
// the Digest field is written as it is, zero-padded. It fails if the
// authentication section cannot be encoded.
func (p *ControlPacket) Append(dst []byte) ([]byte, error) {
	if p.AuthBit != (p.Auth != nil) {
		return dst, errors.New("bfd: A bit and authentication section disagree")
	}
	if p.Auth != nil {
		switch p.Auth.Type {
		case AuthSimplePassword:
			if n := len(p.Auth.Password); n < 1 || n > 16 {
				return dst, fmt.Errorf("bfd: simple password length %d, want 1-16", n)
			}
		case AuthKeyedMD5, AuthMeticulousKeyedMD5, AuthKeyedSHA1, AuthMeticulousSHA1:
			if len(p.Auth.Digest) > p.Auth.Type.digestLen() {
				return dst, fmt.Errorf("bfd: %v digest is %d bytes, want %d", p.Auth.Type, len(p.Auth.Digest), p.Auth.Type.digestLen())
			}
		default:
			return dst, fmt.Errorf("bfd: cannot encode auth type %d", p.Auth.Type)
		}
	}
	var flags byte
	flags = byte(p.State&3) << 6
	if p.Poll {
		flags |= 0x20
	}
	if p.Final {
		flags |= 0x10
	}
	if p.CPIndep {
		flags |= 0x08
	}
	if p.AuthBit {
		flags |= 0x04
	}
	if p.Demand {
		flags |= 0x02
	}
	if p.Multipoint {
		flags |= 0x01
	}
	n := p.Len()
	dst = append(dst, Version<<5|byte(p.Diag&0x1f), flags, p.DetectMult, byte(n))
	dst = binary.BigEndian.AppendUint32(dst, p.MyDiscr)
	dst = binary.BigEndian.AppendUint32(dst, p.YourDiscr)
	dst = binary.BigEndian.AppendUint32(dst, toUsec(p.DesiredMinTx))
	dst = binary.BigEndian.AppendUint32(dst, toUsec(p.RequiredMinRx))
	dst = binary.BigEndian.AppendUint32(dst, toUsec(p.RequiredEchoRx))
	if a := p.Auth; a != nil {
		dst = append(dst, byte(a.Type), byte(a.wireLen()), a.KeyID)
		if a.Type == AuthSimplePassword {
			dst = append(dst, a.Password...)
		} else {
			dst = append(dst, a.Reserved)
			dst = binary.BigEndian.AppendUint32(dst, a.Seq)
			dst = append(dst, a.Digest...)
			for i := len(a.Digest); i < a.Type.digestLen(); i++ {
				dst = append(dst, 0)
			}
		}
	}
	return dst, nil
}

// Marshal encodes p into a new slice.
func (p *ControlPacket) Marshal() ([]byte, error) {
	return p.Append(make([]byte, 0, p.Len()))
}
