package sim

import "encoding/binary"

// countUpdate counts the prefixes an encoded UPDATE announces and
// withdraws, without building it: the withdrawn routes, the NLRI, and the
// NLRI of MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4271 4.3, RFC 4760). It
// reads sessions without add-path only; ok is false for anything it
// cannot walk, and the caller then parses the message in full.
func countUpdate(msg []byte) (n int, ok bool) {
	const header = 19
	if len(msg) < header+4 {
		return 0, false
	}
	b := msg[header:]
	wl := int(binary.BigEndian.Uint16(b))
	if 2+wl+2 > len(b) {
		return 0, false
	}
	k, ok := countPrefixes(b[2 : 2+wl])
	if !ok {
		return 0, false
	}
	n += k
	b = b[2+wl:]
	al := int(binary.BigEndian.Uint16(b))
	if 2+al > len(b) {
		return 0, false
	}
	attrs, nlri := b[2:2+al], b[2+al:]
	if k, ok = countPrefixes(nlri); !ok {
		return 0, false
	}
	n += k
	for len(attrs) > 0 {
		if len(attrs) < 3 {
			return 0, false
		}
		flags, typ := attrs[0], attrs[1]
		hl, vl := 3, int(attrs[2])
		if flags&0x10 != 0 { // extended length
			if len(attrs) < 4 {
				return 0, false
			}
			hl, vl = 4, int(binary.BigEndian.Uint16(attrs[2:]))
		}
		if hl+vl > len(attrs) {
			return 0, false
		}
		v := attrs[hl : hl+vl]
		attrs = attrs[hl+vl:]
		switch typ {
		case 14: // MP_REACH_NLRI: AFI, SAFI, next hop, reserved, NLRI
			if len(v) < 4 || 4+int(v[3])+1 > len(v) {
				return 0, false
			}
			k, ok = countPrefixes(v[4+int(v[3])+1:])
		case 15: // MP_UNREACH_NLRI: AFI, SAFI, withdrawn
			if len(v) < 3 {
				return 0, false
			}
			k, ok = countPrefixes(v[3:])
		default:
			continue
		}
		if !ok {
			return 0, false
		}
		n += k
	}
	return n, true
}

// countPrefixes counts length-prefixed NLRI entries.
func countPrefixes(b []byte) (int, bool) {
	n := 0
	for len(b) > 0 {
		bits := int(b[0])
		if bits > 128 {
			return 0, false
		}
		l := 1 + (bits+7)/8
		if l > len(b) {
			return 0, false
		}
		b = b[l:]
		n++
	}
	return n, true
}
