package policy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/closnet/clos/internal/config"
)

// linearMax is the longest prefix list scanned entry by entry. Longer lists
// get a per-length hash index when they have few distinct entry lengths (at
// most one per indexMinPerLen entries), which real filters do: the index
// costs a map lookup per distinct length, a linear scan a compare per entry.
// BenchmarkPrefixList and BenchmarkFabricList measure both sides.
const (
	linearMax      = 12
	indexMinPerLen = 4
)

// prefixEntry is one compiled prefix-list line. The prefix is held as two
// 64-bit halves so matching is a mask and a compare, with IPv4 in the top 32
// bits of hi.
type prefixEntry struct {
	permit   bool
	v6       bool
	plen     uint8
	min, max uint8 // accepted route prefix lengths, inclusive
	hi, lo   uint64
	seq      int
}

type prefixKey struct {
	hi, lo uint64
	bits   uint8
}

// lenIndex finds candidate entries by exact entry prefix: for every distinct
// entry length L no longer than the route, the route masked to L is looked up.
type lenIndex struct {
	lens []uint8
	// Entry indices, ascending (seq order), by entry prefix. IPv4 keys fit
	// one word (address in the top 32 bits, length in the low byte), which
	// Go's maps hash several times faster than a struct.
	m4 map[uint64][]int32
	m6 map[prefixKey][]int32
}

func newLenIndex(v6 bool) *lenIndex {
	if v6 {
		return &lenIndex{m6: map[prefixKey][]int32{}}
	}
	return &lenIndex{m4: map[uint64][]int32{}}
}

func (x *lenIndex) add(e *prefixEntry, i int) {
	if x.m4 != nil {
		k := e.hi | uint64(e.plen)
		x.m4[k] = append(x.m4[k], int32(i))
	} else {
		k := prefixKey{e.hi, e.lo, e.plen}
		x.m6[k] = append(x.m6[k], int32(i))
	}
	if !slices.Contains(x.lens, e.plen) {
		x.lens = append(x.lens, e.plen)
	}
}

func (x *lenIndex) get(hi, lo uint64, bits uint8) []int32 {
	if x.m4 != nil {
		return x.m4[hi|uint64(bits)]
	}
	return x.m6[prefixKey{hi, lo, bits}]
}

// PrefixList is a compiled prefix list.
type PrefixList struct {
	name    string
	entries []prefixEntry // seq order
	v4, v6  *lenIndex     // nil: scan linearly
}

// Name is the list's name.
func (l *PrefixList) Name() string { return l.name }

func halves(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32, 0
	}
	b := a.As16()
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func mask(hi, lo uint64, bits uint8) (uint64, uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits <= 64:
		return hi & (^uint64(0) << (64 - bits)), 0
	default:
		return hi, lo & (^uint64(0) << (128 - bits))
	}
}

func compilePrefixList(pl config.PrefixList) (*PrefixList, error) {
	if len(pl.Entries) == 0 {
		// FRR permits everything through a list with no lines, which is
		// never what an empty list in a generated config means.
		return nil, fmt.Errorf("prefix-list %q has no entries; add at least one permit or deny line", pl.Name)
	}
	l := &PrefixList{name: pl.Name}
	seqs := map[int]bool{}
	for i, e := range pl.Entries {
		where := fmt.Sprintf("prefix-list %q entry %d (seq %d)", pl.Name, i, e.Seq)
		if e.Seq <= 0 || seqs[e.Seq] {
			return nil, fmt.Errorf("%s: seq must be positive and unique within the list", where)
		}
		seqs[e.Seq] = true
		permit, err := action(e.Action)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if !e.Prefix.IsValid() {
			return nil, fmt.Errorf("%s: missing prefix; want one like 10.0.0.0/8", where)
		}
		p := e.Prefix.Masked()
		bits := p.Addr().BitLen()
		plen := p.Bits()
		lo, hi := plen, plen
		if e.GE != 0 || e.LE != 0 {
			lo, hi = plen, bits
			if e.GE != 0 {
				lo = e.GE
			}
			if e.LE != 0 {
				hi = e.LE
			}
			if lo <= plen && e.GE != 0 || lo > bits || hi < lo || hi > bits || hi <= plen {
				return nil, fmt.Errorf("%s: ge %d le %d; want %d < ge <= le <= %d", where, e.GE, e.LE, plen, bits)
			}
		}
		h, w := halves(p.Addr())
		l.entries = append(l.entries, prefixEntry{
			permit: permit, v6: p.Addr().Is6(), plen: uint8(plen),
			min: uint8(lo), max: uint8(hi), hi: h, lo: w, seq: e.Seq,
		})
	}
	slices.SortStableFunc(l.entries, func(a, b prefixEntry) int { return a.seq - b.seq })
	if len(l.entries) > linearMax {
		l.v4 = l.index(false)
		l.v6 = l.index(true)
	}
	return l, nil
}

func (l *PrefixList) index(v6 bool) *lenIndex {
	x := newLenIndex(v6)
	n := 0
	for i := range l.entries {
		if l.entries[i].v6 == v6 {
			n++
			x.add(&l.entries[i], i)
		}
	}
	if len(x.lens) == 0 || len(x.lens)*indexMinPerLen > n {
		return nil
	}
	slices.Sort(x.lens)
	return x
}

// Match reports the decision of the first entry, in seq order, that matches
// p, and whether any entry did; a prefix no entry matches is denied (FRR's
// implicit deny). A route prefix with host bits set is matched as its masked
// form.
func (l *PrefixList) Match(p netip.Prefix) (permit, matched bool) {
	i := l.lookup(p)
	if i < 0 {
		return false, false
	}
	return l.entries[i].permit, true
}

func (l *PrefixList) lookup(p netip.Prefix) int {
	if !p.IsValid() {
		return -1
	}
	a := p.Addr()
	v6 := a.Is6()
	if a.Is4In6() {
		// ::ffff:a.b.c.d/n is an IPv6 prefix, never an IPv4 one.
		v6 = true
	}
	bits := uint8(p.Bits())
	hi, lo := halves(a)
	hi, lo = mask(hi, lo, bits)
	x := l.v4
	if v6 {
		x = l.v6
	}
	if x == nil {
		for i := range l.entries {
			e := &l.entries[i]
			if e.v6 != v6 || bits < e.min || bits > e.max {
				continue
			}
			if h, w := mask(hi, lo, e.plen); h == e.hi && w == e.lo {
				return i
			}
		}
		return -1
	}
	best := -1
	for _, L := range x.lens {
		if L > bits {
			break
		}
		h, w := mask(hi, lo, L)
		for _, i := range x.get(h, w, L) {
			if best >= 0 && int(i) >= best {
				break
			}
			if e := &l.entries[i]; bits >= e.min && bits <= e.max {
				best = int(i)
				break
			}
		}
	}
	return best
}

func action(a string) (bool, error) {
	switch a {
	case "permit":
		return true, nil
	case "deny":
		return false, nil
	}
	return false, fmt.Errorf("action %q; valid: permit, deny", a)
}
