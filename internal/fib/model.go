package fib

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Member is one ECMP path: a gateway reached through an interface, with a
// weight. The gateway may be an IPv6 link-local address for an IPv4 prefix
// (RFC 8950); the kernel needs the interface either way.
type Member struct {
	Gateway netip.Addr
	Ifindex int
	// Ifname is informational (for `clos show fib`); identity is Ifindex.
	Ifname string
	// Weight is 1..256; 0 means 1.
	Weight uint16
}

// Nexthops is what a prefix forwards to: a set of members, or a discard.
type Nexthops struct {
	Blackhole bool
	Members   []Member
}

// Blackhole is the discard target.
func Blackhole() Nexthops { return Nexthops{Blackhole: true} }

// ECMP builds a target from members.
func ECMP(ms ...Member) Nexthops { return Nexthops{Members: ms} }

func (m Member) weight() uint16 {
	if m.Weight == 0 {
		return 1
	}
	return m.Weight
}

// nhKey identifies a kernel nexthop object: weight lives in the group entry,
// not in the object, so it is not part of the key.
type nhKey struct {
	gw      netip.Addr
	ifindex int
}

func (m Member) key() nhKey { return nhKey{m.Gateway.Unmap(), m.Ifindex} }

// validate checks a target for prefix p, naming what would be valid.
func (n Nexthops) validate(p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("fib: invalid prefix")
	}
	if p != p.Masked() {
		return fmt.Errorf("fib: prefix %s has host bits set (want %s)", p, p.Masked())
	}
	if n.Blackhole {
		if len(n.Members) > 0 {
			return fmt.Errorf("fib: %s: a blackhole has no members", p)
		}
		return nil
	}
	if len(n.Members) == 0 {
		return fmt.Errorf("fib: %s: no members (use Blackhole() to discard)", p)
	}
	seen := make(map[nhKey]bool, len(n.Members))
	for _, m := range n.Members {
		gw := m.Gateway.Unmap()
		switch {
		case !gw.IsValid():
			return fmt.Errorf("fib: %s: member without gateway", p)
		case m.Ifindex <= 0:
			return fmt.Errorf("fib: %s: member %s: interface index %d, want > 0", p, gw, m.Ifindex)
		case m.Weight > 256:
			return fmt.Errorf("fib: %s: member %s: weight %d, want 1..256", p, gw, m.Weight)
		case p.Addr().Is6() && gw.Is4():
			return fmt.Errorf("fib: %s: IPv6 prefix cannot use IPv4 gateway %s", p, gw)
		case gw.Zone() != "":
			return fmt.Errorf("fib: %s: gateway %s: give the interface as Ifindex, not as a zone", p, m.Gateway)
		}
		if seen[m.key()] {
			return fmt.Errorf("fib: %s: member %s dev %d listed twice", p, gw, m.Ifindex)
		}
		seen[m.key()] = true
	}
	return nil
}

// canonical returns the members sorted with weights filled in, so equal sets
// compare equal.
func (n Nexthops) canonical() Nexthops {
	if n.Blackhole {
		return Nexthops{Blackhole: true}
	}
	ms := make([]Member, len(n.Members))
	for i, m := range n.Members {
		ms[i] = Member{Gateway: m.Gateway.Unmap(), Ifindex: m.Ifindex, Ifname: m.Ifname, Weight: m.weight()}
	}
	slices.SortFunc(ms, func(a, b Member) int {
		if c := a.Gateway.Compare(b.Gateway); c != 0 {
			return c
		}
		return cmp.Compare(a.Ifindex, b.Ifindex)
	})
	return Nexthops{Members: ms}
}

// groupKey is the value identity of a canonical target: same members and
// weights => same key => same kernel group.
type groupKey string

const blackholeKey groupKey = "blackhole"

func (n Nexthops) key() groupKey {
	if n.Blackhole {
		return blackholeKey
	}
	var b []byte
	for _, m := range n.Members {
		a := m.Gateway.As16()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(m.Ifindex))
		b = binary.BigEndian.AppendUint16(b, m.Weight)
	}
	return groupKey(b)
}

func (n Nexthops) String() string {
	if n.Blackhole {
		return "blackhole"
	}
	var sb strings.Builder
	for i, m := range n.Members {
		if i > 0 {
			sb.WriteString(" ")
		}
		dev := m.Ifname
		if dev == "" {
			dev = fmt.Sprintf("if%d", m.Ifindex)
		}
		fmt.Fprintf(&sb, "via %s dev %s weight %d", m.Gateway, dev, m.weight())
	}
	return sb.String()
}
