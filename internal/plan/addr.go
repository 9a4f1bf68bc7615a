package plan

import (
	"math"
	"math/big"
	"net/netip"
)

// poolSize is the number of addresses in p, saturated at MaxUint64 so IPv6
// pools compare sanely with the counts a fabric needs.
func poolSize(p netip.Prefix) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 64 {
		return math.MaxUint64
	}
	return uint64(1) << host
}

// addrAt is the n-th address of p; ok is false past its end.
func addrAt(p netip.Prefix, n uint64) (netip.Addr, bool) {
	if n >= poolSize(p) {
		return netip.Addr{}, false
	}
	return offsetAddr(p, new(big.Int).SetUint64(n)), true
}

// offsetAddr is the address off after the start of p, in p's family; the
// caller keeps off inside p.
func offsetAddr(p netip.Prefix, off *big.Int) netip.Addr {
	b := p.Masked().Addr().As16()
	x := new(big.Int).SetBytes(b[:])
	x.Add(x, off)
	var out [16]byte
	x.FillBytes(out[:])
	a := netip.AddrFrom16(out)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// subnetAt is the n-th subnet of length bits inside p.
func subnetAt(p netip.Prefix, bits int, n uint64) (netip.Prefix, bool) {
	shift := p.Addr().BitLen() - bits
	if bits < p.Bits() || shift < 0 {
		return netip.Prefix{}, false
	}
	count := bits - p.Bits()
	if count < 64 && n >= uint64(1)<<count {
		return netip.Prefix{}, false
	}
	off := new(big.Int).Lsh(new(big.Int).SetUint64(n), uint(shift))
	return netip.PrefixFrom(offsetAddr(p, off), bits), true
}

// slice is a share of a pool, [num/den, (num+len)/den) of its addresses,
// so each tier owns a fixed part and growing one tier never moves another.
type slice struct {
	name          string
	num, len, den uint64
}

func (s slice) bounds(p netip.Prefix) (start, size uint64) {
	// Shares of at most 2^32 addresses: an IPv6 pool then lays out like an
	// IPv4 one (leaf 1 is pool::1, the spines start at pool::8000:0), which
	// keeps addresses short and the arithmetic in range.
	total := min(poolSize(p), uint64(1)<<32)
	unit := total / s.den
	return unit * s.num, unit * s.len
}

// overlaps reports whether two prefixes share any address.
func overlaps(a, b netip.Prefix) bool {
	return a.Overlaps(b)
}

// fitBits is the longest prefix length that holds n addresses, for
// messages that say which pool would fit.
func fitBits(n uint64, bitLen int) int {
	b := bitLen
	for b > 0 && (bitLen-b >= 64 || uint64(1)<<(bitLen-b) < n) {
		b--
	}
	return b
}
