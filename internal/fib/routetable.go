package fib

import (
	"iter"
	"net/netip"
)

// routeTable maps prefixes to targets. A full table is a million IPv4
// prefixes, and the desired state is looked up once for every prefix the
// RIB hands over: IPv4 prefixes are keyed by 8 bytes instead of a 32-byte
// netip.Prefix, which makes the map's slots 16 bytes instead of 40 and its
// hash and compare single words (about twice as fast at a million).
type routeTable struct {
	v4 map[uint64]*target
	v6 map[netip.Prefix]*target
}

// newRouteTable sizes the table for n4 IPv4 and n6 IPv6 prefixes.
func newRouteTable(n4, n6 int) routeTable {
	return routeTable{v4: make(map[uint64]*target, n4), v6: make(map[netip.Prefix]*target, n6)}
}

// key4 packs an IPv4 prefix: address in bits 8..39, length in bits 0..7.
func key4(p netip.Prefix) (uint64, bool) {
	a := p.Addr()
	if !a.Is4() || !p.IsValid() {
		return 0, false
	}
	b := a.As4()
	return uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(p.Bits()), true
}

func prefix4(k uint64) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8)}), int(k&0xff))
}

func (rt routeTable) get(p netip.Prefix) (*target, bool) {
	if k, ok := key4(p); ok {
		t, ok := rt.v4[k]
		return t, ok
	}
	t, ok := rt.v6[p]
	return t, ok
}

func (rt routeTable) set(p netip.Prefix, t *target) {
	if k, ok := key4(p); ok {
		rt.v4[k] = t
		return
	}
	rt.v6[p] = t
}

func (rt routeTable) del(p netip.Prefix) {
	if k, ok := key4(p); ok {
		delete(rt.v4, k)
		return
	}
	delete(rt.v6, p)
}

func (rt routeTable) len() int { return len(rt.v4) + len(rt.v6) }

// all yields every prefix and its target, in no particular order.
func (rt routeTable) all() iter.Seq2[netip.Prefix, *target] {
	return func(yield func(netip.Prefix, *target) bool) {
		for k, t := range rt.v4 {
			if !yield(prefix4(k), t) {
				return
			}
		}
		for p, t := range rt.v6 {
			if !yield(p, t) {
				return
			}
		}
	}
}
