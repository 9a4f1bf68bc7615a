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
type NLRI struct {
	Prefix netip.Prefix
	PathID uint32
}

func (n NLRI) String() string {
	if n.PathID != 0 {
		return fmt.Sprintf("%s id %d", n.Prefix, n.PathID)
	}
	return n.Prefix.String()
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
		var p netip.Prefix
		if afi == AFIIPv4 {
			var a [4]byte
			copy(a[:], b[i:i+nb])
			if r := bits % 8; r != 0 {
				a[nb-1] &= byte(0xff << (8 - r))
			}
			p = netip.PrefixFrom(netip.AddrFrom4(a), bits)
		} else {
			var a [16]byte
			copy(a[:], b[i:i+nb])
			if r := bits % 8; r != 0 {
				a[nb-1] &= byte(0xff << (8 - r))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(a), bits)
		}
		i += nb
		out = append(out, NLRI{Prefix: p, PathID: id})
	}
	return out
}

// nlriLen is the encoded size of one prefix.
func nlriLen(n NLRI, addPath bool) int {
	l := 1 + (n.Prefix.Bits()+7)/8
	if addPath {
		l += 4
	}
	return l
}

// checkNLRIFamily reports whether n can be encoded in family afi.
func checkNLRIFamily(n NLRI, afi AFI) error {
	if !n.Prefix.IsValid() {
		return fmt.Errorf("bgp: invalid prefix %v", n.Prefix)
	}
	a := n.Prefix.Addr()
	if (afi == AFIIPv4) != a.Is4() || a.Zone() != "" {
		return fmt.Errorf("bgp: prefix %s does not belong to AFI %d", n.Prefix, afi)
	}
	return nil
}

// appendNLRI encodes one prefix, masking host bits.
func appendNLRI(dst []byte, n NLRI, addPath bool) []byte {
	if addPath {
		dst = binary.BigEndian.AppendUint32(dst, n.PathID)
	}
	bits := n.Prefix.Bits()
	nb := (bits + 7) / 8
	dst = append(dst, byte(bits))
	a := n.Prefix.Addr()
	if a.Is4() {
		b := a.As4()
		dst = append(dst, b[:nb]...)
	} else {
		b := a.As16()
		dst = append(dst, b[:nb]...)
	}
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
