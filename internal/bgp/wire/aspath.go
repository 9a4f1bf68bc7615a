package wire

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// ASPathSegmentType is the type of an AS_PATH segment (RFC 4271 4.3,
// RFC 5065 3).
type ASPathSegmentType uint8

const (
	ASSet            ASPathSegmentType = 1
	ASSequence       ASPathSegmentType = 2
	ASConfedSequence ASPathSegmentType = 3
	ASConfedSet      ASPathSegmentType = 4
)

// asTrans is AS_TRANS (RFC 6793 9) as a logical 4-octet ASN.
const asTrans uint32 = 23456

// maxSegmentASNs is the most ASNs one encoded segment can hold.
const maxSegmentASNs = 255

func (t ASPathSegmentType) isConfed() bool { return t == ASConfedSequence || t == ASConfedSet }

func (t ASPathSegmentType) valid() bool { return t >= ASSet && t <= ASConfedSet }

// ASPathSegment is one segment of an AS path.
type ASPathSegment struct {
	Type ASPathSegmentType
	ASNs []uint32
}

// ASPath is the logical, 4-octet AS path: what AS_PATH means once AS4_PATH
// has been merged in (RFC 6793 4.2.3), independent of how the session
// encodes it. Segments are kept as received (adjacent sequences are not
// joined) so that re-encoding reproduces the message.
type ASPath []ASPathSegment

// Len is the path length used by best-path selection: an AS_SET counts as
// one, confederation segments count as zero (RFC 4271 9.1.2.2 a,
// RFC 5065 5.3).
func (p ASPath) Len() int {
	n := 0
	for _, s := range p {
		switch s.Type {
		case ASSequence:
			n += len(s.ASNs)
		case ASSet:
			n++
		}
	}
	return n
}

// First returns the neighbor AS: the first ASN of the path when the path
// starts with an AS_SEQUENCE (RFC 4271 9.1.2.2 c, MED comparison, and the
// eBGP first-AS check). Confederation segments in front are skipped, as the
// neighbor AS for MED purposes is the first AS outside the confederation.
func (p ASPath) First() (uint32, bool) {
	for _, s := range p {
		if s.Type.isConfed() {
			continue
		}
		if s.Type == ASSequence && len(s.ASNs) > 0 {
			return s.ASNs[0], true
		}
		return 0, false
	}
	return 0, false
}

// Contains counts the occurrences of asn anywhere in the path, sets and
// confederation segments included, for loop detection (RFC 4271 9.1.2,
// allowas-in compares the count).
func (p ASPath) Contains(asn uint32) int {
	n := 0
	for _, s := range p {
		for _, a := range s.ASNs {
			if a == asn {
				n++
			}
		}
	}
	return n
}

// String formats the path as "65001 65002 {65003,65004} (65010) [65011]"
// with sets in braces, confederation sequences in parentheses and
// confederation sets in brackets.
func (p ASPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		open, sep, close := "", " ", ""
		switch s.Type {
		case ASSet:
			open, sep, close = "{", ",", "}"
		case ASConfedSequence:
			open, close = "(", ")"
		case ASConfedSet:
			open, sep, close = "[", ",", "]"
		}
		b.WriteString(open)
		for j, a := range s.ASNs {
			if j > 0 {
				b.WriteString(sep)
			}
			b.WriteString(strconv.FormatUint(uint64(a), 10))
		}
		b.WriteString(close)
	}
	return b.String()
}

// Equal reports whether two paths have the same segments.
func (p ASPath) Equal(q ASPath) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i].Type != q[i].Type || len(p[i].ASNs) != len(q[i].ASNs) {
			return false
		}
		for j := range p[i].ASNs {
			if p[i].ASNs[j] != q[i].ASNs[j] {
				return false
			}
		}
	}
	return true
}

// needsAS4 reports whether some ASN does not fit in 2 octets.
func (p ASPath) needsAS4() bool {
	for _, s := range p {
		for _, a := range s.ASNs {
			if a > 0xffff {
				return true
			}
		}
	}
	return false
}

// parseASPath decodes an AS_PATH or AS4_PATH value with asnLen 2 or 4.
// One allocation holds every ASN; segments share it. ok is false for a
// malformed path (RFC 4271 6.3, RFC 7606 7.2): unknown segment type, a
// segment with no ASNs, a segment overrunning the attribute, or a
// confederation segment after an ordinary one. An empty
// value is the valid empty path, returned as nil.
func parseASPath(b []byte, asnLen int, buf *asPathBuf) (ASPath, bool) {
	if len(b) == 0 {
		return nil, true
	}
	nseg, nasn := 0, 0
	ordinary := false
	for i := 0; i < len(b); {
		if len(b)-i < 2 {
			return nil, false
		}
		t, cnt := ASPathSegmentType(b[i]), int(b[i+1])
		if !t.valid() || cnt == 0 {
			return nil, false
		}
		// Confederation segments are added inside a confederation and
		// stripped at its edge (RFC 5065 3), so they only ever lead a
		// path. One behind an ordinary segment cannot have been built by
		// a correct speaker, and the RFC 6793 merge could not carry it.
		if t.isConfed() && ordinary {
			return nil, false
		}
		ordinary = ordinary || !t.isConfed()
		i += 2
		if len(b)-i < cnt*asnLen {
			return nil, false
		}
		i += cnt * asnLen
		nseg++
		nasn += cnt
	}
	segs, asns := buf.get(nseg, nasn)
	for i := 0; i < len(b); {
		t, cnt := ASPathSegmentType(b[i]), int(b[i+1])
		i += 2
		seg := asns[:cnt:cnt]
		asns = asns[cnt:]
		for j := range cnt {
			if asnLen == 2 {
				seg[j] = uint32(binary.BigEndian.Uint16(b[i:]))
			} else {
				seg[j] = binary.BigEndian.Uint32(b[i:])
			}
			i += asnLen
		}
		segs = append(segs, ASPathSegment{Type: t, ASNs: seg})
	}
	return ASPath(segs), true
}

// asPathBuf lets the common short path live in the same allocation as the
// attributes that hold it.
type asPathBuf struct {
	segs [2]ASPathSegment
	asns [8]uint32
}

func (b *asPathBuf) get(nseg, nasn int) ([]ASPathSegment, []uint32) {
	var segs []ASPathSegment
	var asns []uint32
	if b != nil && nseg <= len(b.segs) {
		segs = b.segs[:0:nseg]
	} else {
		segs = make([]ASPathSegment, 0, nseg)
	}
	if b != nil && nasn <= len(b.asns) {
		asns = b.asns[:nasn:nasn]
	} else {
		asns = make([]uint32, nasn)
	}
	return segs, asns
}

// appendASPath encodes p with 2- or 4-octet ASNs; with 2 octets an ASN that
// does not fit becomes AS_TRANS (RFC 6793 4.2.2). Segments longer than 255
// ASNs are split. skipConfed leaves confederation segments out, as AS4_PATH
// must (RFC 6793 3).
func appendASPath(dst []byte, p ASPath, asnLen int, skipConfed bool) []byte {
	for _, s := range p {
		if skipConfed && s.Type.isConfed() {
			continue
		}
		asns := s.ASNs
		for len(asns) > 0 {
			n := min(len(asns), maxSegmentASNs)
			dst = append(dst, byte(s.Type), byte(n))
			for _, a := range asns[:n] {
				if asnLen == 2 {
					if a > 0xffff {
						a = asTrans
					}
					dst = binary.BigEndian.AppendUint16(dst, uint16(a))
				} else {
					dst = binary.BigEndian.AppendUint32(dst, a)
				}
			}
			asns = asns[n:]
		}
	}
	return dst
}

// countASNs counts ASes for the AS4_PATH merge: a set is one, confederation
// segments are not counted (RFC 6793 4.2.3).
func countASNs(p ASPath) int { return p.Len() }

// mergeAS4Path rebuilds the real path from AS_PATH and AS4_PATH
// (RFC 6793 4.2.3): the leading ASes of AS_PATH that AS4_PATH does not
// cover, then AS4_PATH. When AS4_PATH is longer than AS_PATH it is ignored.
// Leading confederation segments of AS_PATH are kept, since AS4_PATH never
// carries them.
func mergeAS4Path(asPath, as4Path ASPath) ASPath {
	need := countASNs(asPath) - countASNs(as4Path)
	if need < 0 {
		return asPath
	}
	out := make(ASPath, 0, len(asPath)+len(as4Path))
	for _, s := range asPath {
		if s.Type.isConfed() {
			out = append(out, s)
			continue
		}
		if need == 0 {
			break
		}
		if s.Type == ASSet {
			out = append(out, s)
			need--
			continue
		}
		take := min(need, len(s.ASNs))
		out = append(out, ASPathSegment{Type: s.Type, ASNs: s.ASNs[:take:take]})
		need -= take
	}
	return append(out, as4Path...)
}
