package bench

import (
	"fmt"
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// MaxPrefixes bounds --prefixes: the generated /24s stay below 127.0.0.0
// and far above what a route-server benchmark of a data-center daemon needs.
const MaxPrefixes = 2_000_000

// prefixBase is the first generated prefix. The links of the benchmark
// are in 10.0.0.0/8, so no generated prefix covers a session's address.
var prefixBase = netip.AddrFrom4([4]byte{11, 0, 0, 0})

// Prefixes is the set a feeder announces: n consecutive /24s from
// 11.0.0.0/24. It is arithmetic so that the sink maps a received prefix
// back to its index without a map of n entries.
type Prefixes struct{ N int }

// NewPrefixes checks n.
func NewPrefixes(n int) (Prefixes, error) {
	if n < 1 || n > MaxPrefixes {
		return Prefixes{}, fmt.Errorf("%d prefixes: want 1..%d", n, MaxPrefixes)
	}
	return Prefixes{N: n}, nil
}

func base() uint32 {
	b := prefixBase.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// At is the i-th prefix.
func (p Prefixes) At(i int) netip.Prefix {
	v := base() + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 24)
}

// Index is the position of q in the set, or false when q is not in it.
func (p Prefixes) Index(q netip.Prefix) (int, bool) {
	if q.Bits() != 24 || !q.Addr().Is4() {
		return 0, false
	}
	a := q.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	if v&0xff != 0 || v < base() {
		return 0, false
	}
	i := int((v - base()) >> 8)
	if i >= p.N {
		return 0, false
	}
	return i, true
}

// NLRI is every prefix as NLRI, in order.
func (p Prefixes) NLRI() []wire.NLRI {
	out := make([]wire.NLRI, p.N)
	for i := range out {
		out[i] = wire.NewNLRI(p.At(i), 0)
	}
	return out
}

// Announcements packs the whole set into UPDATE messages with attrs, at
// most perUpdate prefixes per message (0: as many as fit in the session's
// maximum message), and returns them concatenated, ready to write.
func Announcements(p Prefixes, attrs *wire.PathAttrs, perUpdate int, opts *wire.Options) ([]byte, int, error) {
	b, err := wire.NewUpdateBuilder(wire.IPv4Unicast, attrs, opts)
	if err != nil {
		return nil, 0, err
	}
	return pack(p.NLRI(), perUpdate, b.Append)
}

// Withdrawals packs the withdrawal of the whole set the same way.
func Withdrawals(p Prefixes, perUpdate int, opts *wire.Options) ([]byte, int, error) {
	return pack(p.NLRI(), perUpdate, func(msgs [][]byte, nlri []wire.NLRI) ([][]byte, error) {
		return wire.AppendWithdrawals(msgs, wire.IPv4Unicast, nlri, opts)
	})
}

func pack(nlri []wire.NLRI, perUpdate int, appendFn func([][]byte, []wire.NLRI) ([][]byte, error)) ([]byte, int, error) {
	if perUpdate < 0 {
		return nil, 0, fmt.Errorf("%d prefixes per UPDATE: want 0 (as many as fit) or more", perUpdate)
	}
	chunk := len(nlri)
	if perUpdate > 0 {
		chunk = perUpdate
	}
	var msgs [][]byte
	for i := 0; i < len(nlri); i += chunk {
		var err error
		if msgs, err = appendFn(msgs, nlri[i:min(i+chunk, len(nlri))]); err != nil {
			return nil, 0, err
		}
	}
	size := 0
	for _, m := range msgs {
		size += len(m)
	}
	out := make([]byte, 0, size)
	for _, m := range msgs {
		out = append(out, m...)
	}
	return out, len(msgs), nil
}
