package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// NLRI is one reachable or withdrawn prefix. PathID is the add-path
// identifier (RFC 7911 3); it is meaningful only when add-path is negotiated
// for the prefix's family in the direction of the message, and is zero
// otherwise.
//
// The prefix is kept as bytes rather than a netip.Prefix, whose zone field
// is a pointer: a []NLRI is then pointer-free, so the garbage collector
// never scans the (often large) lists an UPDATE carries, and an NLRI is 24
// bytes instead of 40. Prefix and NewNLRI convert at the edges.
type NLRI struct {
	addr   [16]byte // an IPv4 address in the first 4 bytes
	bits   uint8
	fam    uint8 // 0 invalid, 4, 6
	PathID uint32
}

// NewNLRI is the NLRI for p with add-path identifier id (0 without
// add-path). An invalid p gives the zero NLRI, whose Prefix is invalid.
func NewNLRI(p netip.Prefix, id uint32) NLRI {
	n := NLRI{PathID: id}
	if !p.IsValid() {
		return n
	}
	a := p.Addr()
	n.bits = uint8(p.Bits())
	if a.Is4() {
		n.fam = 4
		a4 := a.As4()
		copy(n.addr[:4], a4[:])
	} else {
		n.fam = 6
		n.addr = a.As16()
	}
	return n
}

// Prefix is the prefix, as it was given to NewNLRI or decoded.
func (n NLRI) Prefix() netip.Prefix {
	switch n.fam {
	case 4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(n.addr[:4])), int(n.bits))
	case 6:
		return netip.PrefixFrom(netip.AddrFrom16(n.addr), int(n.bits))
	}
	return netip.Prefix{}
}

// Bits is the prefix length, -1 for the zero NLRI.
func (n NLRI) Bits() int {
	if n.fam == 0 {
		return -1
	}
	return int(n.bits)
}

// Equal reports whether n and o are the same prefix and path identifier
// (go-cmp uses it, as the fields are unexported).
func (n NLRI) Equal(o NLRI) bool { return n == o }

func (n NLRI) String() string {
	if n.PathID != 0 {
		return fmt.Sprintf("%s id %d", n.Prefix(), n.PathID)
	}
	return n.Prefix().String()
}

// nlriError is a syntax error in a list of prefixes; the caller turns it
// into the *Error its position calls for (RFC 7606 5.3: session reset).
type nlriError string

func (e nlriError) Error() string { return string(e) }

// addrBits is the prefix length limit of an AFI, 0 for an AFI we cannot parse.
func addrBits(afi AFI) int {
	switch afi {
	case AFIIPv4:
		return 32
	case AFIIPv6:
		return 128
	}
	return 0
}

// countNLRI checks the framing of an encoded prefix list and counts its
// entries, so that the decoder can size its slice once (one allocation per
// list, whatever its length).
func countNLRI(b []byte, afi AFI, addPath bool) (int, error) {
	maxBits := addrBits(afi)
	n := 0
	for i := 0; i < len(b); {
		if addPath {
			if len(b)-i < 5 {
				return 0, nlriError("truncated add-path prefix")
			}
			i += 4
		}
		bits := int(b[i])
		if bits > maxBits {
			return 0, nlriError(fmt.Sprintf("prefix length %d exceeds %d", bits, maxBits))
		}
		i++
		nb := (bits + 7) / 8
		if len(b)-i < nb {
			return 0, nlriError(fmt.Sprintf("prefix of length %d overruns the field", bits))
		}
		i += nb
		n++
	}
	return n, nil
}

// parseNLRI decodes an encoded prefix list (RFC 4271 4.3, RFC 4760 5,
// RFC 7911 3). Bits beyond the prefix length are cleared: RFC 4271 says they
// are irrelevant, and a canonical prefix is what the RIB keys on.
func parseNLRI(b []byte, afi AFI, addPath bool) ([]NLRI, error) {
	n, err := countNLRI(b, afi, addPath)
	if err != nil || n == 0 {
		return nil, err
	}
	return decodeNLRIInto(make([]NLRI, 0, n), b, afi, addPath), nil
}

// decodeNLRIInto decodes a list countNLRI accepted.
func decodeNLRIInto(out []NLRI, b []byte, afi AFI, addPath bool) []NLRI {
	for i := 0; i < len(b); {
		var id uint32
		if addPath {
			id = binary.BigEndian.Uint32(b[i:])
			i += 4
		}
		bits := int(b[i])
		i++
		nb := (bits + 7) / 8
		n := NLRI{bits: uint8(bits), fam: 4, PathID: id}
		if afi != AFIIPv4 {
			n.fam = 6
		}
		copy(n.addr[:nb], b[i:i+nb])
		if r := bits % 8; r != 0 {
			n.addr[nb-1] &= byte(0xff << (8 - r))
		}
		i += nb
		out = append(out, n)
	}
	return out
}

// nlriLen is the encoded size of one prefix.
func nlriLen(n NLRI, addPath bool) int {
	l := 1 + (int(n.bits)+7)/8
	if addPath {
		l += 4
	}
	return l
}

// checkNLRIFamily reports whether n can be encoded in family afi.
func checkNLRIFamily(n NLRI, afi AFI) error {
	if n.fam == 0 {
		return fmt.Errorf("bgp: invalid prefix %v", n.Prefix())
	}
	if (afi == AFIIPv4) != (n.fam == 4) {
		return fmt.Errorf("bgp: prefix %s does not belong to AFI %d", n.Prefix(), afi)
	}
	return nil
}

// appendNLRI encodes one prefix, masking host bits.
func appendNLRI(dst []byte, n NLRI, addPath bool) []byte {
	if addPath {
		dst = binary.BigEndian.AppendUint32(dst, n.PathID)
	}
	bits := int(n.bits)
	nb := (bits + 7) / 8
	dst = append(dst, byte(bits))
	dst = append(dst, n.addr[:nb]...)
	if r := bits % 8; r != 0 {
		dst[len(dst)-1] &= byte(0xff << (8 - r))
	}
	return dst
}

// appendNLRIList encodes a list, checking every prefix belongs to afi.
func appendNLRIList(dst []byte, list []NLRI, afi AFI, addPath bool) ([]byte, error) {
	for _, n := range list {
		if err := checkNLRIFamily(n, afi); err != nil {
			return dst, err
		}
		dst = appendNLRI(dst, n, addPath)
	}
	return dst, nil
}
