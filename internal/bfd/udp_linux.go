package bfd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// UDPTransport is the Linux BFD transport: receiving sockets on the
// single-hop and multihop ports that report TTL, destination and interface
// per packet, and per-session sending sockets with TTL 255 and a source
// port from 49152-65535 (RFC 5881 4, 5).
type UDPTransport struct {
	// ListenAddrs are the local addresses to receive on; empty means
	// 0.0.0.0 and ::.
	ListenAddrs []netip.Addr
	// Port and MultihopPort override 3784 and 4784 (tests). A negative
	// MultihopPort disables multihop reception.
	Port, MultihopPort int
}

func (t *UDPTransport) ports() (single, multi int) {
	single, multi = PortSingleHop, PortMultihop
	if t.Port != 0 {
		single = t.Port
	}
	if t.MultihopPort != 0 {
		multi = t.MultihopPort
	}
	return single, multi
}

// Listen opens the receiving sockets.
func (t *UDPTransport) Listen() ([]Conn, error) {
	addrs := t.ListenAddrs
	if len(addrs) == 0 {
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	single, multi := t.ports()
	var conns []Conn
	fail := func(err error) ([]Conn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	for _, a := range addrs {
		for _, port := range []int{single, multi} {
			if port < 0 {
				continue
			}
			c, err := listenUDP(netip.AddrPortFrom(a, uint16(port)), "", true)
			if err != nil {
				return fail(fmt.Errorf("bfd: listen %v: %w", netip.AddrPortFrom(a, uint16(port)), err))
			}
			conns = append(conns, &udpConn{c: c, v6: a.Is6() && !a.Is4In6(), multihop: port == multi})
		}
	}
	return conns, nil
}

// Ifindex resolves an interface name in the caller's network namespace.
func (t *UDPTransport) Ifindex(name string) (int, error) {
	if name == "" {
		return 0, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("bfd: interface %q: %w", name, err)
	}
	return ifi.Index, nil
}

// Sender opens the session's socket: bound to the local address (if any)
// and a random port in 49152-65535, bound to the interface for single hop,
// sending with TTL / hop limit 255.
func (t *UDPTransport) Sender(p *PeerConfig) (Sender, error) {
	local := p.Local
	if !local.IsValid() {
		if p.Peer.Is4() {
			local = netip.IPv4Unspecified()
		} else {
			local = netip.IPv6Unspecified()
		}
	}
	if local.Is6() && local.IsLinkLocalUnicast() && local.Zone() == "" && p.Interface != "" {
		local = local.WithZone(p.Interface)
	}
	dev := ""
	if !p.Multihop {
		dev = p.Interface
	}
	var lastErr error
	for range 64 {
		port := 49152 + mrand.IntN(65536-49152)
		c, err := listenUDP(netip.AddrPortFrom(local, uint16(port)), dev, false)
		if err == nil {
			return &udpSender{c: c}, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("bfd: open sender for %v: %w", p.Peer, lastErr)
}

// recvBuffer is the receive buffer of the listening sockets: about 4,000
// packets, 400 ms of 1,000 sessions at 100 ms.
const recvBuffer = 4 << 20

// listenUDP opens a UDP socket with the BFD options set before bind.
func listenUDP(ap netip.AddrPort, dev string, recv bool) (*net.UDPConn, error) {
	v6 := ap.Addr().Is6() && !ap.Addr().Is4In6()
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			set := func(level, opt, v int) {
				if serr == nil {
					if err := unix.SetsockoptInt(int(fd), level, opt, v); err != nil {
						serr = fmt.Errorf("setsockopt %d/%d: %w", level, opt, err)
					}
				}
			}
			if dev != "" && serr == nil {
				if err := unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev); err != nil {
					serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", dev, err)
				}
			}
			if v6 {
				set(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
				set(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255)
				if recv {
					set(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
					set(unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
				}
			} else {
				set(unix.IPPROTO_IP, unix.IP_TTL, 255)
				if recv {
					set(unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
					set(unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
				}
			}
			if recv {
				set(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
				// Every session's packets share this socket: the default
				// buffer (about 200 KB) holds ~25 ms of 100 sessions at
				// 10 ms, so a short stall of the reader became real loss.
				// FORCE needs CAP_NET_ADMIN; else rmem_max caps it.
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBuffer) != nil {
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, recvBuffer)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, ap.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

type udpConn struct {
	c        *net.UDPConn
	v6       bool
	multihop bool
	// dup is opened on the first TryRecv and closed by Close; mu orders
	// the two (the loop and Close run on different goroutines).
	mu     sync.Mutex
	dupped bool
	dup    int
}

func (u *udpConn) Recv(buf []byte) (int, RecvMeta, error) {
	var oob [256]byte
	n, oobn, _, src, err := u.c.ReadMsgUDPAddrPort(buf, oob[:])
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, RecvMeta{}, ErrClosed
		}
		return 0, RecvMeta{}, err
	}
	read := time.Now()
	m := RecvMeta{Src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), TTL: -1, Multihop: u.multihop}
	m.At = stamp(read, parseOOB(oob[:oobn], &m))
	return n, m, nil
}

// stamp turns the kernel's receive timestamp (wall clock, Unix ns) into a
// time with the monotonic reading of read, when it was read. An absent or
// implausible one (clock step) gives the read time.
func stamp(read time.Time, ts int64) time.Time {
	if ts <= 0 {
		return read
	}
	if age := time.Duration(read.UnixNano() - ts); age >= 0 && age < time.Second {
		return read.Add(-age)
	}
	return read
}

// TryRecv reads a datagram the kernel already holds, without waiting. It
// reads through a duplicate of the socket so that it never waits behind
// the reader blocked in Recv (which holds the socket's read lock).
func (u *udpConn) TryRecv(buf []byte) (int, RecvMeta, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.dupped {
		u.dupped, u.dup = true, -1
		if rc, err := u.c.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				if d, err := unix.Dup(int(fd)); err == nil {
					u.dup = d
				}
			})
		}
	}
	if u.dup < 0 {
		return 0, RecvMeta{}, false
	}
	var oob [256]byte
	n, oobn, _, from, err := unix.Recvmsg(u.dup, buf, oob[:], unix.MSG_DONTWAIT)
	if err != nil {
		return 0, RecvMeta{}, false
	}
	read := time.Now()
	m := RecvMeta{TTL: -1, Multihop: u.multihop}
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		m.Src = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		m.Src = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	default:
		return 0, RecvMeta{}, false
	}
	m.At = stamp(read, parseOOB(oob[:oobn], &m))
	return n, m, true
}

// parseOOB reads TTL/hop limit, destination and interface from the control
// messages requested in listenUDP, and returns the kernel's receive
// timestamp in Unix nanoseconds (0 if absent).
func parseOOB(b []byte, m *RecvMeta) (ts int64) {
	msgs, err := unix.ParseSocketControlMessage(b)
	if err != nil {
		return 0
	}
	for _, c := range msgs {
		switch {
		case c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_TTL && len(c.Data) >= 4:
			m.TTL = int(int32(binary.NativeEndian.Uint32(c.Data)))
		case c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_HOPLIMIT && len(c.Data) >= 4:
			m.TTL = int(int32(binary.NativeEndian.Uint32(c.Data)))
		case c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_PKTINFO && len(c.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			m.Ifindex = int(int32(binary.NativeEndian.Uint32(c.Data)))
			m.Dst = netip.AddrFrom4([4]byte(c.Data[8:12]))
		case c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_PKTINFO && len(c.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr addr; unsigned int ifindex; }
			m.Dst = netip.AddrFrom16([16]byte(c.Data[:16])).Unmap()
			m.Ifindex = int(int32(binary.NativeEndian.Uint32(c.Data[16:])))
		case c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SCM_TIMESTAMPNS && len(c.Data) >= 16:
			// struct timespec { long tv_sec; long tv_nsec; } on 64-bit
			sec := int64(binary.NativeEndian.Uint64(c.Data))
			nsec := int64(binary.NativeEndian.Uint64(c.Data[8:]))
			ts = sec*1e9 + nsec
		}
	}
	return ts
}

func (u *udpConn) Close() error {
	u.mu.Lock()
	if u.dupped && u.dup >= 0 {
		unix.Close(u.dup)
	}
	u.dupped, u.dup = true, -1
	u.mu.Unlock()
	return u.c.Close()
}

type udpSender struct{ c *net.UDPConn }

func (s *udpSender) Send(b []byte, dst netip.AddrPort) error {
	_, err := s.c.WriteToUDPAddrPort(b, dst)
	return err
}

func (s *udpSender) Close() error { return s.c.Close() }
