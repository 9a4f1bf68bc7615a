package fib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// rtnetlink wire format. The constants are Linux's ABI; they live here (not
// in x/sys/unix) so the encoders and parsers build and fuzz on any OS.
const (
	nlmsgHdrLen = 16

	nlmsgError = 2
	nlmsgDone  = 3

	nlmFRequest = 0x1
	nlmFMulti   = 0x2
	nlmFAck     = 0x4
	nlmFDump    = 0x300
	nlmFReplace = 0x100
	nlmFCreate  = 0x400

	rtmNewLink     = 16
	rtmDelLink     = 17
	rtmGetLink     = 18
	rtmNewRoute    = 24
	rtmDelRoute    = 25
	rtmGetRoute    = 26
	rtmNewNeigh    = 28
	rtmDelNeigh    = 29
	rtmNewNexthop  = 104
	rtmDelNexthop  = 105
	rtmGetNexthop  = 106
	afUnspec       = 0
	afInet         = 2
	afInet6        = 10
	rtnUnicast     = 1
	rtnBlackhole   = 6
	rtScopeNowhere = 255
	rtmFCloned     = 0x200

	rtaDst       = 1
	rtaOif       = 4
	rtaGateway   = 5
	rtaPriority  = 6
	rtaMultipath = 9
	rtaTable     = 15
	rtaNhID      = 30

	nhaID        = 1
	nhaGroup     = 2
	nhaGroupType = 3
	nhaBlackhole = 4
	nhaOif       = 5
	nhaGateway   = 6

	iflaIfname = 3
	iffUp      = 0x1
	iffRunning = 0x40

	ndaDst = 1

	nlmsgerrAttrMsg = 1
	nlmFAckTlvs     = 0x200
	nlmFCapped      = 0x100
)

var ne = binary.NativeEndian

func align4(n int) int { return (n + 3) &^ 3 }

// appendHdr starts a message; finishMsg fills its length.
func appendHdr(b []byte, typ, flags uint16, seq uint32) ([]byte, int) {
	start := len(b)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	return b, start
}

func finishMsg(b []byte, start int) []byte {
	ne.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = ne.AppendUint16(b, uint16(4+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendAttrU32(b []byte, typ uint16, v uint32) []byte {
	b = ne.AppendUint16(b, 8)
	b = ne.AppendUint16(b, typ)
	return ne.AppendUint32(b, v)
}

// appendAddrAttr appends an address attribute (4 or 16 bytes, so no
// padding) without the allocation a slice of the address would cost per
// route.
func appendAddrAttr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		b = ne.AppendUint16(b, 8)
		b = ne.AppendUint16(b, typ)
		return append(b, v[:]...)
	}
	v := a.As16()
	b = ne.AppendUint16(b, 20)
	b = ne.AppendUint16(b, typ)
	return append(b, v[:]...)
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

// nlConfig is what every message we build carries.
type nlConfig struct {
	proto  uint8
	table  uint32
	metric uint32
}

// appendOp encodes one write as a request, with NLM_F_ACK if ack.
// Without it Linux answers only on failure.
func appendOp(b []byte, op Op, seq uint32, c nlConfig, withAck bool) ([]byte, error) {
	ack := uint16(nlmFRequest)
	if withAck {
		ack |= nlmFAck
	}
	switch op.Kind {
	case OpNewNexthop, OpSetGroup, OpDelNexthop:
		typ, flags := uint16(rtmNewNexthop), ack|nlmFCreate|nlmFReplace
		fam := uint8(afUnspec)
		if op.Kind == OpDelNexthop {
			typ, flags = rtmDelNexthop, ack
		} else if op.Kind == OpNewNexthop {
			if !op.Nexthop.Gateway.IsValid() {
				return b, errors.New("nexthop without gateway")
			}
			fam = family(op.Nexthop.Gateway)
		}
		b, start := appendHdr(b, typ, flags, seq)
		proto := c.proto
		if op.Kind == OpDelNexthop {
			proto = 0 // Linux rejects a delete with header fields set
		}
		b = append(b, fam, 0, proto, 0, 0, 0, 0, 0) // nhmsg
		b = appendAttrU32(b, nhaID, op.Nexthop.ID)
		switch op.Kind {
		case OpNewNexthop:
			b = appendAttrU32(b, nhaOif, uint32(op.Nexthop.Ifindex))
			b = appendAddrAttr(b, nhaGateway, op.Nexthop.Gateway)
		case OpSetGroup:
			g := make([]byte, 0, 8*len(op.Nexthop.Group))
			for _, e := range op.Nexthop.Group {
				if e.Weight < 1 || e.Weight > 256 {
					return b[:start], fmt.Errorf("group %d: weight %d out of 1..256", op.Nexthop.ID, e.Weight)
				}
				g = ne.AppendUint32(g, e.ID)
				g = append(g, uint8(e.Weight-1), 0, 0, 0)
			}
			b = appendAttr(b, nhaGroup, g)
			b = appendAttr(b, nhaGroupType, []byte{0, 0}) // NEXTHOP_GRP_TYPE_MPATH
		}
		return finishMsg(b, start), nil
	case OpSetRoute, OpDelRoute:
		r := op.Route
		if !r.Prefix.IsValid() {
			return b, errors.New("invalid prefix")
		}
		typ, flags := uint16(rtmNewRoute), ack|nlmFCreate|nlmFReplace
		scope, rtype := uint8(0), uint8(rtnUnicast)
		if op.Kind == OpDelRoute {
			typ, flags = rtmDelRoute, ack
			scope, rtype = rtScopeNowhere, 0
		} else if r.Blackhole {
			rtype = rtnBlackhole
		}
		tbl := uint8(0)
		if c.table < 256 {
			tbl = uint8(c.table)
		}
		b, start := appendHdr(b, typ, flags, seq)
		b = append(b, family(r.Prefix.Addr()), uint8(r.Prefix.Bits()), 0, 0, tbl, c.proto, scope, rtype, 0, 0, 0, 0)
		b = appendAddrAttr(b, rtaDst, r.Prefix.Addr())
		b = appendAttrU32(b, rtaTable, c.table)
		b = appendAttrU32(b, rtaPriority, c.metric)
		if op.Kind == OpSetRoute && !r.Blackhole {
			b = appendAttrU32(b, rtaNhID, r.NexthopID)
		}
		return finishMsg(b, start), nil
	}
	return b, fmt.Errorf("unknown op kind %d", op.Kind)
}

// nlMsg is one parsed message: header fields and the payload after them.
type nlMsg struct {
	typ   uint16
	flags uint16
	seq   uint32
	pid   uint32
	data  []byte
}

// splitMessages cuts a buffer into messages.
func splitMessages(b []byte) ([]nlMsg, error) {
	var out []nlMsg
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return out, fmt.Errorf("netlink: message length %d with %d bytes left", l, len(b))
		}
		out = append(out, nlMsg{typ: ne.Uint16(b[4:]), flags: ne.Uint16(b[6:]), seq: ne.Uint32(b[8:]), pid: ne.Uint32(b[12:]), data: b[nlmsgHdrLen:l]})
		n := align4(l)
		if n > len(b) {
			break
		}
		b = b[n:]
	}
	if len(b) != 0 && len(b) < nlmsgHdrLen {
		return out, fmt.Errorf("netlink: %d trailing bytes", len(b))
	}
	return out, nil
}

// attrs walks the attributes in b, calling fn for each. A malformed
// attribute ends the walk with an error.
func attrs(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) >= 4 {
		l := int(ne.Uint16(b))
		if l < 4 || l > len(b) {
			return fmt.Errorf("netlink: attribute length %d with %d bytes left", l, len(b))
		}
		if err := fn(ne.Uint16(b[2:])&0x3fff, b[4:l]); err != nil {
			return err
		}
		n := align4(l)
		if n >= len(b) {
			return nil
		}
		b = b[n:]
	}
	return nil
}

func u32(v []byte) (uint32, error) {
	if len(v) != 4 {
		return 0, fmt.Errorf("netlink: want 4-byte attribute, got %d", len(v))
	}
	return ne.Uint32(v), nil
}

func parseAddr(fam uint8, v []byte) (netip.Addr, error) {
	switch {
	case len(v) == 4 && (fam == afInet || fam == afUnspec):
		return netip.AddrFrom4([4]byte(v)), nil
	case len(v) == 16:
		return netip.AddrFrom16([16]byte(v)), nil
	}
	return netip.Addr{}, fmt.Errorf("netlink: %d-byte address for family %d", len(v), fam)
}

// parsedNexthop is a nexthop message with the fields we filter on.
type parsedNexthop struct {
	Nexthop
	proto     uint8
	blackhole bool
}

func parseNexthop(data []byte) (parsedNexthop, error) {
	var p parsedNexthop
	if len(data) < 8 {
		return p, fmt.Errorf("netlink: nhmsg of %d bytes", len(data))
	}
	fam := data[0]
	p.proto = data[2]
	err := attrs(data[8:], func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case nhaID:
			p.ID, err = u32(v)
		case nhaOif:
			var x uint32
			x, err = u32(v)
			p.Ifindex = int(x)
		case nhaGateway:
			p.Gateway, err = parseAddr(fam, v)
		case nhaBlackhole:
			p.blackhole = true
		case nhaGroup:
			if len(v)%8 != 0 || len(v) == 0 {
				return fmt.Errorf("netlink: nexthop group of %d bytes", len(v))
			}
			p.Group = make([]GroupEntry, 0, len(v)/8)
			for i := 0; i < len(v); i += 8 {
				w := uint16(v[i+4]) | uint16(v[i+5])<<8 // weight, weight_high
				p.Group = append(p.Group, GroupEntry{ID: ne.Uint32(v[i:]), Weight: w + 1})
			}
		}
		return err
	})
	return p, err
}

// parsedRoute is a route message with the fields we filter on.
type parsedRoute struct {
	Route
	proto, rtype uint8
	table        uint32
	metric       uint32
	cloned       bool
	inline       bool // RTA_GATEWAY/RTA_OIF/RTA_MULTIPATH instead of RTA_NH_ID
}

func parseRoute(data []byte) (parsedRoute, error) {
	var p parsedRoute
	if len(data) < 12 {
		return p, fmt.Errorf("netlink: rtmsg of %d bytes", len(data))
	}
	fam, dstLen := data[0], int(data[1])
	p.table = uint32(data[4])
	p.proto, p.rtype = data[5], data[7]
	p.cloned = ne.Uint32(data[8:])&rtmFCloned != 0
	var dst netip.Addr
	err := attrs(data[12:], func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case rtaDst:
			dst, err = parseAddr(fam, v)
		case rtaTable:
			p.table, err = u32(v)
		case rtaPriority:
			p.metric, err = u32(v)
		case rtaNhID:
			p.NexthopID, err = u32(v)
		case rtaGateway, rtaOif, rtaMultipath:
			p.inline = true
		}
		return err
	})
	if err != nil {
		return p, err
	}
	if !dst.IsValid() {
		switch fam {
		case afInet:
			dst = netip.IPv4Unspecified()
		case afInet6:
			dst = netip.IPv6Unspecified()
		default:
			return p, fmt.Errorf("netlink: route of family %d", fam)
		}
	}
	if fam == afInet && dst.Is6() || fam == afInet6 && dst.Is4() {
		return p, fmt.Errorf("netlink: route family %d with address %s", fam, dst)
	}
	pfx, err := dst.Prefix(dstLen)
	if err != nil || dstLen > dst.BitLen() {
		return p, fmt.Errorf("netlink: prefix length %d for %s", dstLen, dst)
	}
	p.Prefix = pfx
	// With nexthop_compat_mode=1 Linux also spells out the group's members
	// in RTA_MULTIPATH; RTA_NH_ID is what counts.
	p.inline = p.inline && p.NexthopID == 0
	p.Blackhole = p.rtype == rtnBlackhole
	if p.Blackhole {
		p.NexthopID = 0
	}
	return p, nil
}

func parseLink(data []byte) (Link, error) {
	if len(data) < 16 {
		return Link{}, fmt.Errorf("netlink: ifinfomsg of %d bytes", len(data))
	}
	l := Link{Index: int(int32(ne.Uint32(data[4:])))}
	flags := ne.Uint32(data[8:])
	l.AdminUp = flags&iffUp != 0
	l.OperUp = flags&iffRunning != 0
	err := attrs(data[16:], func(typ uint16, v []byte) error {
		if typ == iflaIfname {
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			l.Name = string(v)
		}
		return nil
	})
	return l, err
}

func parseNeigh(data []byte) (Neigh, error) {
	if len(data) < 12 {
		return Neigh{}, fmt.Errorf("netlink: ndmsg of %d bytes", len(data))
	}
	fam := data[0]
	n := Neigh{Ifindex: int(int32(ne.Uint32(data[4:]))), State: ne.Uint16(data[8:])}
	err := attrs(data[12:], func(typ uint16, v []byte) error {
		if typ == ndaDst {
			a, err := parseAddr(fam, v)
			n.Addr = a
			return err
		}
		return nil
	})
	return n, err
}

// parseAck returns the errno of an NLMSG_ERROR message (0 for an ack), the
// sequence number of the request it answers, and the kernel's extended ack
// message if any.
func parseAck(m nlMsg) (errno int32, seq uint32, msg string, err error) {
	if len(m.data) < 4+nlmsgHdrLen {
		return 0, 0, "", fmt.Errorf("netlink: error message of %d bytes", len(m.data))
	}
	errno = -int32(ne.Uint32(m.data))
	seq = ne.Uint32(m.data[4+8:])
	rest := m.data[4+nlmsgHdrLen:]
	if m.flags&nlmFCapped == 0 {
		l := int(ne.Uint32(m.data[4:]))
		if l < nlmsgHdrLen || l > len(m.data)-4 {
			return errno, seq, "", nil
		}
		rest = m.data[min(4+align4(l), len(m.data)):]
	}
	if m.flags&nlmFAckTlvs != 0 {
		_ = attrs(rest, func(typ uint16, v []byte) error {
			if typ == nlmsgerrAttrMsg {
				for i, c := range v {
					if c == 0 {
						v = v[:i]
						break
					}
				}
				msg = string(v)
			}
			return nil
		})
	}
	return errno, seq, msg, nil
}
