package bfd

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// freePort finds a UDP port free on addr right now; the tests use it
// instead of 3784/4784 so they never collide with a daemon on the host.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Skipf("cannot open UDP on %s: %v", addr, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func udpPair(t *testing.T, multihop bool, addrA, addrB string, sameAddr bool) {
	a, b := netip.MustParseAddr(addrA), netip.MustParseAddr(addrB)
	pa := freePort(t, addrA)
	pb := pa
	if sameAddr {
		pb = freePort(t, addrB)
	}
	ta := &UDPTransport{ListenAddrs: []netip.Addr{a}, Port: pa, MultihopPort: -1}
	tb := &UDPTransport{ListenAddrs: []netip.Addr{b}, Port: pb, MultihopPort: -1}
	if multihop {
		ta.Port, ta.MultihopPort = -1, pa
		tb.Port, tb.MultihopPort = -1, pb
	}
	wa, wb := newWatcher(t), newWatcher(t)
	sa := mustServer(t, ta, wa)
	sb := mustServer(t, tb, wb)
	tm := 100 * time.Millisecond
	ka := mustAdd(t, sa, PeerConfig{Peer: b, Local: a, Port: uint16(pb), Multihop: multihop, DesiredMinTx: tm, RequiredMinRx: tm})
	kb := mustAdd(t, sb, PeerConfig{Peer: a, Local: b, Port: uint16(pa), Multihop: multihop, DesiredMinTx: tm, RequiredMinRx: tm})
	wa.wait(ka, StateUp, 10*time.Second)
	wb.wait(kb, StateUp, 10*time.Second)
	// The poll sequence that ends slow start follows Up closely.
	for i := 0; i < 100; i++ {
		pa, pb := sa.Peers()[0].Status, sb.Peers()[0].Status
		if !pa.PollActive && !pb.PollActive && pa.DetectionTime == 3*tm && pb.DetectionTime == 3*tm {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range []*Server{sa, sb} {
		for _, p := range s.Peers() {
			if p.Status.DetectionTime != 3*tm || p.Counters.Rx == 0 || p.Counters.RxDiscarded != 0 {
				t.Errorf("%v: %+v", p.Key, p)
			}
		}
	}
	sb.Close()
	if c := wa.wait(ka, StateDown, 10*time.Second); c.Diag != DiagControlDetectExpired {
		t.Errorf("a after b stopped: %v", c.Diag)
	}
}

func TestUDPLoopback4(t *testing.T) { udpPair(t, false, "127.0.0.1", "127.0.0.2", false) }
func TestUDPLoopback6(t *testing.T) { udpPair(t, false, "::1", "::1", true) }
func TestUDPMultihop4(t *testing.T) { udpPair(t, true, "127.0.0.1", "127.0.0.2", false) }
func TestUDPMultihop6(t *testing.T) { udpPair(t, true, "::1", "::1", true) }

// TestUDPLoopbackFast runs 10 ms x 3 over loopback: the sessions come Up
// and negotiate 30 ms detection. It asserts no absence of flaps, which a
// loaded machine may cause at this rate.
func TestUDPLoopbackFast(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	port := freePort(t, "127.0.0.1")
	wa, wb := newWatcher(t), newWatcher(t)
	sa := mustServer(t, &UDPTransport{ListenAddrs: []netip.Addr{a}, Port: port, MultihopPort: -1}, wa)
	sb := mustServer(t, &UDPTransport{ListenAddrs: []netip.Addr{b}, Port: port, MultihopPort: -1}, wb)
	tm := 10 * time.Millisecond
	ka := mustAdd(t, sa, PeerConfig{Peer: b, Local: a, Port: uint16(port), DesiredMinTx: tm, RequiredMinRx: tm})
	mustAdd(t, sb, PeerConfig{Peer: a, Local: b, Port: uint16(port), DesiredMinTx: tm, RequiredMinRx: tm})
	wa.wait(ka, StateUp, 10*time.Second)
	var st PeerStatus
	for i := 0; i < 500; i++ {
		st = sa.Peers()[0]
		if st.Status.DetectionTime == 3*tm && st.Status.TxInterval == tm && st.Counters.Rx >= 100 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("10 ms session did not settle: %+v", st)
}

// TestUDPTTLCheck sends a well-formed packet with TTL 64 to a single-hop
// listener: it must be discarded, not reach the session.
func TestUDPTTLCheck(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.1")
	pa := freePort(t, "127.0.0.1")
	w := newWatcher(t)
	s := mustServer(t, &UDPTransport{ListenAddrs: []netip.Addr{a}, Port: pa, MultihopPort: -1}, w)
	k := mustAdd(t, s, PeerConfig{Peer: netip.MustParseAddr("127.0.0.3"), Local: a, Port: uint16(freePort(t, "127.0.0.3"))})
	_ = k
	c, err := net.ListenPacket("udp4", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := ControlPacket{State: StateDown, DetectMult: 3, MyDiscr: 99, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
	b, _ := pkt.Marshal()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: pa}
	// Default TTL (64): discarded.
	for i := 0; i < 3; i++ {
		if _, err := c.WriteTo(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	var ps []PeerStatus
	for i := 0; i < 100; i++ {
		ps = s.Peers()
		if ps[0].Counters.RxDiscarded >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ps[0].Counters.RxDiscarded < 3 || ps[0].Counters.Rx != 0 || ps[0].Status.State != StateDown {
		t.Fatalf("TTL 64 packets: %+v", ps[0])
	}
	// Now with TTL 255: accepted, session goes Init.
	if err := setTTL(c, 255); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(b, dst); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		ps = s.Peers()
		if ps[0].Counters.Rx >= 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ps[0].Counters.Rx != 1 || ps[0].Status.State != StateInit || ps[0].Status.RemoteDiscr != 99 {
		t.Fatalf("TTL 255 packet: %+v", ps[0])
	}
}

func setTTL(c net.PacketConn, ttl int) error {
	rc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
	}); err != nil {
		return err
	}
	return serr
}
