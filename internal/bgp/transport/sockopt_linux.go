//go:build linux

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dial opens a BGP connection to peer with the neighbor's socket options.
// The MD5 key and TTLs are set before the SYN leaves, as RFC 2385 and 5082
// need. A link-local peer takes its zone from opts.Interface.
func Dial(ctx context.Context, peer netip.AddrPort, opts Options) (*net.TCPConn, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	addr := peer.Addr()
	if addr.Is6() && addr.IsLinkLocalUnicast() && addr.Zone() == "" {
		if opts.Interface == "" {
			return nil, fmt.Errorf("transport: link-local peer %s needs an interface", addr)
		}
		addr = addr.WithZone(opts.Interface)
	}
	remote := netip.AddrPortFrom(addr, peer.Port())
	d := net.Dialer{
		Control: func(network, address string, rc syscall.RawConn) error {
			return control(rc, func(fd int) error {
				if err := setCommon(fd, opts); err != nil {
					return err
				}
				if opts.MD5Key != "" {
					if err := setMD5(fd, isV6Socket(network), netip.PrefixFrom(peer.Addr().Unmap(), peer.Addr().Unmap().BitLen()), opts.MD5Key); err != nil {
						return err
					}
				}
				return setTTL(fd, peer.Addr(), opts)
			})
		},
	}
	// Go may default to Multipath TCP, whose sockets refuse TCP_MD5SIG
	// (ENOPROTOOPT); BGP wants one plain TCP path.
	d.SetMultipathTCP(false)
	if opts.LocalAddr.IsValid() {
		la := opts.LocalAddr
		if la.Is6() && la.IsLinkLocalUnicast() && la.Zone() == "" && opts.Interface != "" {
			la = la.WithZone(opts.Interface)
		}
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(la, 0))
	}
	c, err := d.DialContext(ctx, "tcp", remote.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// ListenOptions are the settings of a listening socket shared by every
// neighbor on it.
type ListenOptions struct {
	// Interface binds the listener to a device (SO_BINDTODEVICE).
	Interface string
	// SendBuffer and RecvBuffer are inherited by accepted sockets; 0 means
	// DefaultSocketBuffer, negative keeps the kernel default.
	SendBuffer, RecvBuffer int
	// TTL of the SYN-ACK and of accepted sockets until Configure; 0 means
	// 255 so GTSM peers accept it.
	TTL int
}

// Listener accepts BGP connections. MD5 keys are installed on it per peer
// address or prefix so the kernel can check a SYN before it is accepted.
type Listener struct {
	l   *net.TCPListener
	v6  bool
	mu  sync.Mutex
	md5 map[netip.Prefix]bool
}

// Listen opens a listening socket on addr (use port Port, or 0 in tests).
// An unspecified IPv6 address accepts IPv4 peers too.
func Listen(ctx context.Context, addr netip.AddrPort, opts ListenOptions) (*Listener, error) {
	lc := net.ListenConfig{
		Control: func(network, address string, rc syscall.RawConn) error {
			return control(rc, func(fd int) error {
				if err := setCommon(fd, Options{Interface: opts.Interface, SendBuffer: opts.SendBuffer, RecvBuffer: opts.RecvBuffer}); err != nil {
					return err
				}
				// The SYN-ACK leaves from the listening socket before any
				// neighbor's settings apply; a GTSM peer drops it unless
				// its TTL is 255, and no other peer minds a high TTL.
				ttl := opts.TTL
				if ttl == 0 {
					ttl = 255
				}
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl); err != nil {
					return fmt.Errorf("transport: listener IP_TTL %d: %w", ttl, err)
				}
				if network == "tcp6" {
					if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl); err != nil {
						return fmt.Errorf("transport: listener IPV6_UNICAST_HOPS %d: %w", ttl, err)
					}
				}
				// Keep each SYN's headers: the listener cannot drop low
				// TTLs for every peer (multihop ones need them), and data
				// a GTSM peer sent before Configure set the minimum is
				// already queued; Configure checks the SYN's TTL instead.
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_SAVE_SYN, 1); err != nil {
					return fmt.Errorf("transport: listener TCP_SAVE_SYN: %w", err)
				}
				return nil
			})
		},
	}
	lc.SetMultipathTCP(false) // see Dial: MPTCP sockets refuse MD5
	network := "tcp"
	if addr.Addr().Is4() {
		network = "tcp4"
	}
	l, err := lc.Listen(ctx, network, addr.String())
	if err != nil {
		return nil, err
	}
	return &Listener{l: l.(*net.TCPListener), v6: !addr.Addr().Is4(), md5: map[netip.Prefix]bool{}}, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() netip.AddrPort { return l.l.Addr().(*net.TCPAddr).AddrPort() }

// Accept waits for the next connection.
func (l *Listener) Accept() (*net.TCPConn, error) { return l.l.AcceptTCP() }

// Close stops listening.
func (l *Listener) Close() error { return l.l.Close() }

// SetMD5 installs key for connections from peers inside prefix (a single
// address is a /32 or /128); an empty key removes it. Prefixes other than a
// host route use TCP_MD5SIG_EXT (Linux 4.13), for dynamic neighbors.
func (l *Listener) SetMD5(prefix netip.Prefix, key string) error {
	if len(key) > 80 {
		return fmt.Errorf("transport: MD5 key for %s is %d bytes, at most 80 are allowed", prefix, len(key))
	}
	if !prefix.IsValid() {
		return fmt.Errorf("transport: MD5 prefix %v is not valid", prefix)
	}
	prefix = prefix.Masked()
	if key == "" {
		l.mu.Lock()
		installed := l.md5[prefix]
		l.mu.Unlock()
		if !installed {
			return nil
		}
	}
	rc, err := l.l.SyscallConn()
	if err != nil {
		return err
	}
	if err := control(rc, func(fd int) error { return setMD5(fd, l.v6, prefix, key) }); err != nil {
		return err
	}
	l.mu.Lock()
	if key == "" {
		delete(l.md5, prefix)
	} else {
		l.md5[prefix] = true
	}
	l.mu.Unlock()
	return nil
}

// Configure applies a neighbor's TTL, GTSM and buffer settings to an
// accepted connection. MD5 is not set here: it is checked by the listener.
// TTL 0 without GTSM means the system default, not the 255 the accepted
// socket inherits from the listener.
func Configure(c *net.TCPConn, opts Options) error {
	if err := opts.validate(); err != nil {
		return err
	}
	peer := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return control(rc, func(fd int) error {
		if err := setBuffers(fd, opts); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("transport: TCP_NODELAY: %w", err)
		}
		if opts.GTSM {
			if err := checkSYNTTL(fd, opts.minTTL()); err != nil {
				return err
			}
		}
		if opts.TTL == 0 && !opts.GTSM {
			// The socket inherited the listener's TTL 255, which only
			// GTSM wants: back to the kernel's default, as a dialed
			// socket with TTL 0 has.
			if err := resetTTL(fd, peer); err != nil {
				return err
			}
		}
		return setTTL(fd, peer, opts)
	})
}

// ErrGTSMTTL is returned by Configure when a GTSM neighbor's SYN arrived
// with a TTL below the minimum: the peer is further away than allowed, and
// the connection must be closed.
var ErrGTSMTTL = errors.New("transport: GTSM: the connection's SYN arrived with too low a TTL")

// checkSYNTTL reads the SYN the listener saved (TCP_SAVE_SYN) and refuses
// one whose TTL or hop limit is below min. A socket without a saved SYN (a
// listener not made by Listen) is not checked.
func checkSYNTTL(fd, min int) error {
	// Raw getsockopt: the headers hold zero bytes, which the string
	// helpers of x/sys cut at.
	buf := make([]byte, 512)
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_SAVED_SYN,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 || n == 0 || int(n) > len(buf) {
		return nil
	}
	ttl, ok := synTTL(buf[:n])
	if !ok {
		return nil
	}
	if ttl < min {
		return fmt.Errorf("%w: %d, minimum %d", ErrGTSMTTL, ttl, min)
	}
	return nil
}

// synTTL is the TTL (IPv4) or hop limit (IPv6) of saved IP headers.
func synTTL(h []byte) (int, bool) {
	switch {
	case len(h) >= 20 && h[0]>>4 == 4:
		return int(h[8]), true
	case len(h) >= 40 && h[0]>>4 == 6:
		return int(h[7]), true
	}
	return 0, false
}

// resetTTL returns the outgoing TTL or hop limit to the system default
// (-1 means that to both options).
func resetTTL(fd int, peer netip.Addr) error {
	level, opt, name := unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"
	if peer.Unmap().Is4() {
		level, opt, name = unix.IPPROTO_IP, unix.IP_TTL, "IP_TTL"
	}
	if err := unix.SetsockoptInt(fd, level, opt, -1); err != nil {
		return fmt.Errorf("transport: %s back to the default: %w", name, err)
	}
	return nil
}

func isV6Socket(network string) bool { return network == "tcp6" }

func control(rc syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func setCommon(fd int, opts Options) error {
	if opts.Interface != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, opts.Interface); err != nil {
			return fmt.Errorf("transport: bind to interface %q (SO_BINDTODEVICE): %w", opts.Interface, err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("transport: TCP_NODELAY: %w", err)
	}
	return setBuffers(fd, opts)
}

func setBuffers(fd int, opts Options) error {
	if n := bufSize(opts.SendBuffer); n > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n); err != nil {
			return fmt.Errorf("transport: SO_SNDBUF %d: %w", n, err)
		}
	}
	if n := bufSize(opts.RecvBuffer); n > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n); err != nil {
			return fmt.Errorf("transport: SO_RCVBUF %d: %w", n, err)
		}
	}
	return nil
}

// setTTL sets the outgoing TTL and, under GTSM, the minimum incoming TTL.
// An IPv4 peer on an IPv6 socket (v4-mapped) is reached with IPv4 packets,
// so the IPv4 options apply to it.
func setTTL(fd int, peer netip.Addr, opts Options) error {
	ttl := opts.TTL
	if opts.GTSM {
		ttl = 255
	}
	v4 := peer.Unmap().Is4()
	if ttl > 0 {
		level, opt, name := unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"
		if v4 {
			level, opt, name = unix.IPPROTO_IP, unix.IP_TTL, "IP_TTL"
		}
		if err := unix.SetsockoptInt(fd, level, opt, ttl); err != nil {
			return fmt.Errorf("transport: %s %d: %w", name, ttl, err)
		}
	}
	if opts.GTSM {
		min := opts.minTTL()
		level, opt, name := unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT, "IPV6_MINHOPCOUNT"
		if v4 {
			level, opt, name = unix.IPPROTO_IP, unix.IP_MINTTL, "IP_MINTTL"
		}
		if err := unix.SetsockoptInt(fd, level, opt, min); err != nil {
			return fmt.Errorf("transport: GTSM %s %d: %w", name, min, err)
		}
	}
	return nil
}

// setMD5 installs or (with an empty key) removes the RFC 2385 key for a
// peer prefix. An IPv6 socket sees IPv4 peers as v4-mapped addresses, so
// their key is given in that form, but with the IPv4 prefix length: the
// kernel stores it as an IPv4 key (tcp_v6_parse_md5_keys).
func setMD5(fd int, v6Socket bool, prefix netip.Prefix, key string) error {
	addr := prefix.Addr().Unmap()
	bits := prefix.Bits()
	if prefix.Addr().Is4In6() {
		bits -= 96
	}
	hostBits := addr.BitLen()
	if v6Socket && addr.Is4() {
		addr = netip.AddrFrom16(addr.As16())
	}
	var sig unix.TCPMD5Sig
	if addr.Is4() {
		sig.Addr.Family = unix.AF_INET
		a := addr.As4()
		copy(sig.Addr.Data[2:6], a[:])
	} else {
		sig.Addr.Family = unix.AF_INET6
		a := addr.As16()
		copy(sig.Addr.Data[6:22], a[:])
	}
	sig.Keylen = uint16(copy(sig.Key[:], key))
	opt := unix.TCP_MD5SIG
	if bits != hostBits {
		opt = unix.TCP_MD5SIG_EXT
		sig.Flags = unix.TCP_MD5SIG_FLAG_PREFIX
		sig.Prefixlen = uint8(bits)
	}
	err := unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, opt, &sig)
	if err != nil {
		if key == "" && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("transport: TCP MD5 key for %s: %w", prefix, err)
	}
	return nil
}
