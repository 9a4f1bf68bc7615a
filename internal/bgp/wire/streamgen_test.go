package wire_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// A generated routing table shaped like what a leaf receives in an L3 fabric:
// many prefixes, few distinct attribute sets, short AS paths of private
// 4-octet ASNs. It is encoded here, independently of package wire, so that
// benchmarks and fuzz seeds do not depend on the encoder under test.

type genAttrs struct {
	origin      uint8
	asPath      []uint32 // one AS_SEQUENCE
	nextHop     netip.Addr
	med         uint32
	hasMED      bool
	communities []uint32
	large       [][3]uint32
}

// genUpdate is the content of one UPDATE: one attribute set and the prefixes
// that use it, all of one family.
type genUpdate struct {
	attrs    *genAttrs
	v6       bool
	prefixes []netip.Prefix
}

type genStream struct {
	updates  []genUpdate
	msgs     [][]byte // whole messages, header included, 4-octet AS encoding
	prefixes int
}

const genPerSet = 100

// genFabricStream builds n4 IPv4 and n6 IPv6 prefixes with one attribute set
// per about genPerSet prefixes, packed into UPDATEs of at most maxLen bytes.
func genFabricStream(seed uint64, n4, n6, maxLen int) *genStream {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &genStream{}
	for _, v6 := range []bool{false, true} {
		n := n4
		if v6 {
			n = n6
		}
		for i := 0; i < n; {
			a := genRandAttrs(r, v6)
			k := genPerSet/2 + r.IntN(genPerSet+1)
			if k > n-i {
				k = n - i
			}
			var ps []netip.Prefix
			for j := 0; j < k; j++ {
				ps = append(ps, genPrefix(r, v6, i+j))
			}
			i += k
			for len(ps) > 0 {
				u := genUpdate{attrs: a, v6: v6}
				msg, used := genEncode(a, v6, ps, maxLen)
				u.prefixes = ps[:used]
				ps = ps[used:]
				s.updates = append(s.updates, u)
				s.msgs = append(s.msgs, msg)
				s.prefixes += used
			}
		}
	}
	return s
}

func genRandAttrs(r *rand.Rand, v6 bool) *genAttrs {
	a := &genAttrs{origin: uint8(r.IntN(3))}
	hops := 2 + r.IntN(3)
	for range hops {
		// Private 4-octet ASNs (RFC 6996): 4200000000-4294967294.
		a.asPath = append(a.asPath, 4200000000+uint32(r.IntN(1000)))
	}
	if v6 {
		a.nextHop = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, byte(r.IntN(256)), 15: byte(1 + r.IntN(250))})
	} else {
		a.nextHop = netip.AddrFrom4([4]byte{10, 254, byte(r.IntN(256)), byte(1 + r.IntN(250))})
	}
	if r.IntN(2) == 0 {
		a.hasMED, a.med = true, uint32(r.IntN(1000))
	}
	for range 1 + r.IntN(3) {
		a.communities = append(a.communities, 65000<<16|uint32(r.IntN(1000)))
	}
	if r.IntN(3) == 0 {
		a.large = append(a.large, [3]uint32{a.asPath[0], 1, uint32(r.IntN(100))})
	}
	return a
}

// genPrefix returns the i-th prefix of a family: distinct, with lengths a
// fabric carries (server subnets, loopbacks, point-to-point links).
func genPrefix(r *rand.Rand, v6 bool, i int) netip.Prefix {
	if v6 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		binary.BigEndian.PutUint32(b[4:], uint32(i))
		bits := []int{48, 56, 64, 64, 64, 128}[r.IntN(6)]
		if bits == 128 {
			b[15] = 1
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), bits)
	}
	// 10.0.0.0/8 has room for 65536 /24s; beyond that use 100.64.0.0/10 and
	// 172.16.0.0/12 style blocks through the top octet.
	top := []byte{10, 11, 12, 13}[i>>16]
	bits := []int{24, 24, 24, 26, 32}[r.IntN(5)]
	a := netip.AddrFrom4([4]byte{top, byte(i >> 8), byte(i), 0})
	return netip.PrefixFrom(a, bits)
}

func genAppendPrefix(b []byte, p netip.Prefix) []byte {
	b = append(b, byte(p.Bits()))
	return append(b, p.Addr().AsSlice()[:(p.Bits()+7)/8]...)
}

func genAppendAttr(b []byte, flags, typ uint8, v []byte) []byte {
	if len(v) > 255 {
		b = append(b, flags|0x10, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	} else {
		b = append(b, flags, typ, byte(len(v)))
	}
	return append(b, v...)
}

// genEncode writes one UPDATE with as many of ps as fit in maxLen and says
// how many it used.
func genEncode(a *genAttrs, v6 bool, ps []netip.Prefix, maxLen int) ([]byte, int) {
	var attrs []byte
	attrs = genAppendAttr(attrs, 0x40, 1, []byte{a.origin})
	asp := []byte{2, byte(len(a.asPath))}
	for _, as := range a.asPath {
		asp = binary.BigEndian.AppendUint32(asp, as)
	}
	attrs = genAppendAttr(attrs, 0x40, 2, asp)
	if !v6 {
		attrs = genAppendAttr(attrs, 0x40, 3, a.nextHop.AsSlice())
	}
	if a.hasMED {
		attrs = genAppendAttr(attrs, 0x80, 4, binary.BigEndian.AppendUint32(nil, a.med))
	}
	var c []byte
	for _, x := range a.communities {
		c = binary.BigEndian.AppendUint32(c, x)
	}
	attrs = genAppendAttr(attrs, 0xc0, 8, c)
	if len(a.large) > 0 {
		var l []byte
		for _, x := range a.large {
			l = binary.BigEndian.AppendUint32(l, x[0])
			l = binary.BigEndian.AppendUint32(l, x[1])
			l = binary.BigEndian.AppendUint32(l, x[2])
		}
		attrs = genAppendAttr(attrs, 0xc0, 32, l)
	}
	// header 19 + withdrawn len 2 + attr len 2
	room := maxLen - 23 - len(attrs)
	var nlri []byte
	used := 0
	if v6 {
		room -= 4 + 5 + 16 // MP_REACH header (extended length), AFI/SAFI, NH len, NH, reserved
		for _, p := range ps {
			n := 1 + (p.Bits()+7)/8
			if len(nlri)+n > room {
				break
			}
			nlri = genAppendPrefix(nlri, p)
			used++
		}
		mp := []byte{0, 2, 1, 16}
		mp = append(mp, a.nextHop.AsSlice()...)
		mp = append(mp, 0)
		mp = append(mp, nlri...)
		// Always the extended length form, as room was counted for it.
		attrs = append(attrs, 0x90, 14)
		attrs = binary.BigEndian.AppendUint16(attrs, uint16(len(mp)))
		attrs = append(attrs, mp...)
		nlri = nil
	} else {
		for _, p := range ps {
			n := 1 + (p.Bits()+7)/8
			if len(nlri)+n > room {
				break
			}
			nlri = genAppendPrefix(nlri, p)
			used++
		}
	}
	msg := make([]byte, 16, 23+len(attrs)+len(nlri))
	for i := range msg {
		msg[i] = 0xff
	}
	msg = binary.BigEndian.AppendUint16(msg, uint16(23+len(attrs)+len(nlri)))
	msg = append(msg, 2, 0, 0)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(attrs)))
	msg = append(msg, attrs...)
	msg = append(msg, nlri...)
	return msg, used
}
