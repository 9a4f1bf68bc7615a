//go:build linux

package ra

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// RawConn is a raw ICMPv6 socket that sees only router solicitations and
// advertisements, on every interface.
type RawConn struct {
	f   *os.File
	mu  sync.Mutex
	idx map[int]string
}

// Listen opens the socket (needs CAP_NET_RAW). Our own multicasts are not
// looped back, and the hop limit of what arrives is reported so forwarded
// packets can be dropped (RFC 4861 6.1).
func Listen() (*RawConn, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_ICMPV6)
	if err != nil {
		return nil, fmt.Errorf("ra: raw ICMPv6 socket: %w", err)
	}
	var filt unix.ICMPv6Filter
	for i := range filt.Data {
		filt.Data[i] = 0xffffffff // block all
	}
	for _, t := range []uint8{TypeRouterSolicitation, TypeRouterAdvertisement} {
		filt.Data[t>>5] &^= 1 << (t & 31)
	}
	for _, o := range []struct {
		level, opt, v int
		name          string
	}{
		{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"},
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, HopLimit, "IPV6_MULTICAST_HOPS"},
		{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, HopLimit, "IPV6_UNICAST_HOPS"},
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP"},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("ra: %s: %w", o.name, err)
		}
	}
	if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &filt); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ra: ICMPV6_FILTER: %w", err)
	}
	return &RawConn{f: os.NewFile(uintptr(fd), "ra"), idx: map[int]string{}}, nil
}

// Join adds ifname to the all-routers group, so solicitations sent there
// reach us even where forwarding is off and the kernel has not joined it.
func (c *RawConn) Join(ifname string) error {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	mreq := &unix.IPv6Mreq{Multiaddr: AllRouters.As16(), Interface: uint32(ifc.Index)}
	return c.control(func(fd int) error {
		err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
		if err == unix.EADDRINUSE {
			return nil
		}
		return err
	})
}

func (c *RawConn) control(f func(fd int) error) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// WriteTo sends b on ifname to dst.
func (c *RawConn) WriteTo(b []byte, ifname string, dst netip.Addr) error {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	sa := &unix.SockaddrInet6{Addr: dst.As16(), ZoneId: uint32(ifc.Index)}
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, sa)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("ra: send on %s to %s: %w", ifname, dst, serr)
	}
	return nil
}

// ReadFrom waits for the next packet.
func (c *RawConn) ReadFrom(b []byte) (int, string, netip.Addr, int, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, "", netip.Addr{}, 0, err
	}
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		var (
			n, oobn int
			from    unix.Sockaddr
			rerr    error
		)
		err = rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), b, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return 0, "", netip.Addr{}, 0, err
		}
		if rerr != nil {
			return 0, "", netip.Addr{}, 0, rerr
		}
		sa, ok := from.(*unix.SockaddrInet6)
		if !ok {
			continue
		}
		name := c.ifname(int(sa.ZoneId))
		if name == "" {
			continue
		}
		hops := -1
		if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range cms {
				if cm.Header.Level == unix.IPPROTO_IPV6 && cm.Header.Type == unix.IPV6_HOPLIMIT && len(cm.Data) >= 4 {
					hops = int(int32(binary.NativeEndian.Uint32(cm.Data)))
				}
			}
		}
		return n, name, netip.AddrFrom16(sa.Addr), hops, nil
	}
}

func (c *RawConn) ifname(idx int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.idx[idx]; ok {
		return n
	}
	ifc, err := net.InterfaceByIndex(idx)
	if err != nil {
		return ""
	}
	c.idx[idx] = ifc.Name
	return ifc.Name
}

// Forget drops the cached name of ifindex idx, after the interface was
// removed or renamed.
func (c *RawConn) Forget() {
	c.mu.Lock()
	clear(c.idx)
	c.mu.Unlock()
}

// Close unblocks ReadFrom.
func (c *RawConn) Close() error { return c.f.Close() }
