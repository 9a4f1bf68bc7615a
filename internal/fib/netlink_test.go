package fib

import (
	"net/netip"
	"testing"
)

var testNL = nlConfig{proto: 201, table: 254, metric: 20}

// roundTrip encodes op and parses it back as the kernel's answer would be
// parsed.
func roundTrip(t testing.TB, op Op) {
	b, err := appendOp(nil, op, 7, testNL, true)
	if err != nil {
		return
	}
	msgs, err := splitMessages(b)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%s: split: %v (%d msgs)", op, err, len(msgs))
	}
	m := msgs[0]
	if m.seq != 7 || m.flags&nlmFAck == 0 {
		t.Fatalf("%s: header %+v", op, m)
	}
	switch op.Kind {
	case OpSetRoute, OpDelRoute:
		r, err := parseRoute(m.data)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if r.Prefix != op.Route.Prefix || r.table != 254 || r.proto != 201 || r.metric != 20 {
			t.Fatalf("%s: parsed %+v", op, r)
		}
		if op.Kind == OpSetRoute && (r.Blackhole != op.Route.Blackhole || (!r.Blackhole && r.NexthopID != op.Route.NexthopID)) {
			t.Fatalf("%s: parsed %+v", op, r)
		}
	case OpNewNexthop, OpSetGroup, OpDelNexthop:
		n, err := parseNexthop(m.data)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if n.ID != op.Nexthop.ID {
			t.Fatalf("%s: id %d", op, n.ID)
		}
		if op.Kind == OpNewNexthop && (n.Gateway != op.Nexthop.Gateway || n.Ifindex != op.Nexthop.Ifindex) {
			t.Fatalf("%s: parsed %+v", op, n)
		}
		if op.Kind == OpSetGroup {
			if len(n.Group) != len(op.Nexthop.Group) {
				t.Fatalf("%s: parsed %+v", op, n)
			}
			for i := range n.Group {
				if n.Group[i] != op.Nexthop.Group[i] {
					t.Fatalf("%s: entry %d parsed %+v", op, i, n.Group[i])
				}
			}
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	ops := []Op{
		{Kind: OpSetRoute, Route: Route{Prefix: pfx("192.0.2.0/24"), NexthopID: 0xC1050001}},
		{Kind: OpSetRoute, Route: Route{Prefix: pfx("0.0.0.0/0"), NexthopID: 9}},
		{Kind: OpSetRoute, Route: Route{Prefix: pfx("2001:db8::/32"), Blackhole: true}},
		{Kind: OpDelRoute, Route: Route{Prefix: pfx("::/0")}},
		{Kind: OpNewNexthop, Nexthop: Nexthop{ID: 5, Gateway: netip.MustParseAddr("fe80::1"), Ifindex: 3}},
		{Kind: OpNewNexthop, Nexthop: Nexthop{ID: 6, Gateway: netip.MustParseAddr("10.0.0.1"), Ifindex: 3}},
		{Kind: OpSetGroup, Nexthop: Nexthop{ID: 7, Group: []GroupEntry{{ID: 5, Weight: 1}, {ID: 6, Weight: 256}}}},
		{Kind: OpDelNexthop, Nexthop: Nexthop{ID: 7}},
	}
	for _, op := range ops {
		roundTrip(t, op)
	}
	if _, err := appendOp(nil, Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: 7, Group: []GroupEntry{{ID: 5, Weight: 0}}}}, 1, testNL, true); err == nil {
		t.Fatal("weight 0 encoded")
	}
}

func TestParseAck(t *testing.T) {
	// An error for seq 9 with an extended ack message, as Linux sends with
	// NETLINK_CAP_ACK and NETLINK_EXT_ACK.
	b, start := appendHdr(nil, nlmsgError, nlmFCapped|nlmFAckTlvs, 9)
	b = ne.AppendUint32(b, uint32(0xffffffea)) // -EINVAL
	b, _ = appendHdr(b, rtmNewRoute, nlmFRequest, 9)
	b = appendAttr(b, nlmsgerrAttrMsg, []byte("Nexthop id does not exist\x00"))
	b = finishMsg(b, start)
	msgs, err := splitMessages(b)
	if err != nil || len(msgs) != 1 {
		t.Fatal(err)
	}
	errno, seq, msg, err := parseAck(msgs[0])
	if err != nil || errno != 22 || seq != 9 || msg != "Nexthop id does not exist" {
		t.Fatalf("errno %d seq %d msg %q err %v", errno, seq, msg, err)
	}
}

func FuzzParseMessages(f *testing.F) {
	for _, op := range []Op{
		{Kind: OpSetRoute, Route: Route{Prefix: pfx("192.0.2.0/24"), NexthopID: 3}},
		{Kind: OpSetGroup, Nexthop: Nexthop{ID: 7, Group: []GroupEntry{{ID: 5, Weight: 1}}}},
		{Kind: OpNewNexthop, Nexthop: Nexthop{ID: 5, Gateway: netip.MustParseAddr("fe80::1"), Ifindex: 3}},
	} {
		b, _ := appendOp(nil, op, 1, testNL, true)
		f.Add(b)
	}
	link, s := appendHdr(nil, rtmNewLink, 0, 0)
	link = append(link, make([]byte, 16)...)
	link = appendAttr(link, iflaIfname, []byte("eth0\x00"))
	f.Add(finishMsg(link, s))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _ := splitMessages(b)
		for _, m := range msgs {
			_, _ = parseRoute(m.data)
			_, _ = parseNexthop(m.data)
			_, _ = parseLink(m.data)
			_, _ = parseNeigh(m.data)
			_, _, _, _ = parseAck(m)
		}
	})
}

func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add(uint8(3), []byte{192, 0, 2, 0}, uint8(24), uint32(5), false, uint16(1))
	f.Add(uint8(1), []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint8(0), uint32(9), true, uint16(256))
	f.Fuzz(func(t *testing.T, kind uint8, addr []byte, bits uint8, id uint32, bh bool, w uint16) {
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		p, err := a.Prefix(int(bits) % (a.BitLen() + 1))
		if err != nil {
			return
		}
		var op Op
		switch OpKind(kind%5 + 1) {
		case OpSetRoute:
			op = Op{Kind: OpSetRoute, Route: Route{Prefix: p, NexthopID: id, Blackhole: bh}}
		case OpDelRoute:
			op = Op{Kind: OpDelRoute, Route: Route{Prefix: p}}
		case OpNewNexthop:
			op = Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: id, Gateway: a, Ifindex: int(w) + 1}}
		case OpSetGroup:
			op = Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: id, Group: []GroupEntry{{ID: id ^ 1, Weight: w%256 + 1}, {ID: id ^ 2, Weight: 1}}}}
		case OpDelNexthop:
			op = Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: id}}
		}
		roundTrip(t, op)
	})
}
