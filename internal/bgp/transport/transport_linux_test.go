//go:build linux

package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// requireIPv6Loopback skips when ::1 is not configured (some containers).
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("IPv6 loopback unavailable in CI: %v", err)
		}
		t.Skipf("IPv6 loopback unavailable: %v", err)
	}
	l.Close()
}

func listen(t *testing.T, addr netip.Addr) *Listener {
	t.Helper()
	l, err := Listen(context.Background(), netip.AddrPortFrom(addr, 0), ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type accepted struct {
	c   *net.TCPConn
	err error
}

func acceptOne(l *Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	return ch
}

func dial(t *testing.T, to netip.AddrPort, opts Options, timeout time.Duration) (*net.TCPConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Dial(ctx, to, opts)
}

func TestDialAcceptExchange(t *testing.T) {
	for _, addr := range []netip.Addr{lo4, lo6} {
		t.Run(addr.String(), func(t *testing.T) {
			if addr.Is6() {
				requireIPv6Loopback(t)
			}
			l := listen(t, addr)
			acc := acceptOne(l)
			c, err := dial(t, l.Addr(), Options{LocalAddr: addr}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			a := <-acc
			if a.err != nil {
				t.Fatal(a.err)
			}
			if err := Configure(a.c, Options{}); err != nil {
				t.Fatal(err)
			}
			client, server := NewConn(c, testSplit, 0), NewConn(a.c, testSplit, 0)
			defer client.Close(time.Second)
			defer server.Close(time.Second)
			if got := server.RemoteAddr(); got != client.LocalAddr() || got.Addr() != addr {
				t.Fatalf("server sees %v, client is %v", got, client.LocalAddr())
			}
			// Both directions at once, many small messages, as BGP does.
			var sent [][]byte
			for i := range 500 {
				m := testMessage(2, bytes.Repeat([]byte{byte(i)}, i%200))
				sent = append(sent, m)
				if err := client.Send(m); err != nil {
					t.Fatal(err)
				}
				if err := server.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			for _, conn := range []*Conn{server, client} {
				for i, want := range sent {
					got, err := conn.ReadMessage()
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("message %d differs", i)
					}
				}
			}
			nd, err := unixInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY)
			if err != nil || nd == 0 {
				t.Fatalf("TCP_NODELAY = %d, %v", nd, err)
			}
			rb, err := unixInt(c, unix.SOL_SOCKET, unix.SO_RCVBUF)
			if err != nil || rb < 1<<20 {
				// The kernel caps at rmem_max; even capped it is above 1 MiB
				// only if the sysctl allows, so only check it grew from default.
				if err != nil || rb < 128<<10 {
					t.Fatalf("SO_RCVBUF = %d, %v", rb, err)
				}
			}
		})
	}
}

func unixInt(c *net.TCPConn, level, opt int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return 0, err
	}
	return v, gerr
}

func TestMD5(t *testing.T) {
	for _, addr := range []netip.Addr{lo4, lo6} {
		t.Run(addr.String(), func(t *testing.T) {
			if addr.Is6() {
				requireIPv6Loopback(t)
			}
			cases := []struct {
				name      string
				listenKey netip.Prefix
				key       string
				ok        bool
			}{
				{"matching key, host", netip.PrefixFrom(addr, addr.BitLen()), "s3cret", true},
				{"matching key, prefix", netip.PrefixFrom(addr, addr.BitLen()-8).Masked(), "s3cret", true},
				{"wrong key", netip.PrefixFrom(addr, addr.BitLen()), "wrong", false},
				{"no key on dialer", netip.PrefixFrom(addr, addr.BitLen()), "", false},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					l := listen(t, addr)
					if err := l.SetMD5(tc.listenKey, "s3cret"); err != nil {
						t.Fatal(err)
					}
					acc := acceptOne(l)
					c, err := dial(t, l.Addr(), Options{MD5Key: tc.key}, 800*time.Millisecond)
					if tc.ok {
						if err != nil {
							t.Fatalf("dial with the right key failed: %v", err)
						}
						c.Close()
						if a := <-acc; a.err != nil {
							t.Fatal(a.err)
						} else {
							a.c.Close()
						}
						return
					}
					if err == nil {
						c.Close()
						t.Fatal("connection established although the MD5 keys differ")
					}
				})
			}
		})
	}
}

func TestMD5KeyRemoved(t *testing.T) {
	l := listen(t, lo4)
	p := netip.MustParsePrefix("127.0.0.1/32")
	if err := l.SetMD5(p, "k"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMD5(p, ""); err != nil {
		t.Fatal(err)
	}
	acc := acceptOne(l)
	c, err := dial(t, l.Addr(), Options{}, 2*time.Second)
	if err != nil {
		t.Fatalf("dial without key after the key was removed: %v", err)
	}
	c.Close()
	(<-acc).c.Close()
	if err := l.SetMD5(p, string(make([]byte, 81))); err == nil {
		t.Fatal("an 81-byte key was accepted")
	}
}

func TestGTSMSocketOptions(t *testing.T) {
	for _, addr := range []netip.Addr{lo4, lo6} {
		t.Run(addr.String(), func(t *testing.T) {
			if addr.Is6() {
				requireIPv6Loopback(t)
			}
			l := listen(t, addr)
			acc := acceptOne(l)
			opts := Options{GTSM: true}
			c, err := dial(t, l.Addr(), opts, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			a := <-acc
			if a.err != nil {
				t.Fatal(a.err)
			}
			defer a.c.Close()
			if err := Configure(a.c, opts); err != nil {
				t.Fatal(err)
			}
			level, ttlOpt, minOpt := unix.IPPROTO_IP, unix.IP_TTL, unix.IP_MINTTL
			if addr.Is6() {
				level, ttlOpt, minOpt = unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, unix.IPV6_MINHOPCOUNT
			}
			for name, conn := range map[string]*net.TCPConn{"dialed": c, "accepted": a.c} {
				if v, err := unixInt(conn, level, ttlOpt); err != nil || v != 255 {
					t.Errorf("%s: TTL = %d, %v; want 255", name, v, err)
				}
				if v, err := unixInt(conn, level, minOpt); err != nil || v != DefaultGTSMMinTTL {
					t.Errorf("%s: min TTL = %d, %v; want %d", name, v, err, DefaultGTSMMinTTL)
				}
			}
			// Segments still flow: loopback delivers TTL 255.
			if _, err := c.Write(testMessage(4, nil)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 19)
			_ = a.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := a.c.Read(buf); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMultihopTTL(t *testing.T) {
	l := listen(t, lo4)
	acc := acceptOne(l)
	c, err := dial(t, l.Addr(), Options{TTL: 3}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-acc).c.Close()
	if v, err := unixInt(c, unix.IPPROTO_IP, unix.IP_TTL); err != nil || v != 3 {
		t.Fatalf("TTL = %d, %v; want 3", v, err)
	}
	if v, err := unixInt(c, unix.IPPROTO_IP, unix.IP_MINTTL); err != nil || v != 0 {
		t.Fatalf("min TTL = %d, %v; want 0 without GTSM", v, err)
	}
}

func TestBindToInterface(t *testing.T) {
	l, err := Listen(context.Background(), netip.AddrPortFrom(lo4, 0), ListenOptions{Interface: "lo"})
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("SO_BINDTODEVICE needs CAP_NET_RAW: %v", err)
		}
		t.Fatal(err)
	}
	defer l.Close()
	acc := acceptOne(l)
	c, err := dial(t, l.Addr(), Options{Interface: "lo"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	(<-acc).c.Close()
	if _, err := dial(t, l.Addr(), Options{Interface: "ct-no-such-if"}, time.Second); err == nil {
		t.Fatal("binding to a missing interface succeeded")
	}
	if _, err := dial(t, netip.MustParseAddrPort("[fe80::1]:179"), Options{}, time.Second); err == nil {
		t.Fatal("a link-local peer without an interface was dialed")
	}
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []Options{{MD5Key: string(make([]byte, 81))}, {TTL: 256}, {TTL: -1}, {GTSM: true, GTSMMinTTL: 300}} {
		if _, err := dial(t, netip.MustParseAddrPort("127.0.0.1:1"), o, time.Second); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestConnectCloseCyclesLeakNothing(t *testing.T) {
	l := listen(t, lo4)
	// One warm-up cycle so lazily created runtime state (netpoller) is not
	// counted as a leak.
	cycle := func() {
		acc := acceptOne(l)
		c, err := dial(t, l.Addr(), Options{SendBuffer: -1, RecvBuffer: -1}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		a := <-acc
		if a.err != nil {
			t.Fatal(a.err)
		}
		client, server := NewConn(c, testSplit, 0), NewConn(a.c, testSplit, 0)
		if err := client.Send(testMessage(4, nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := server.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		client.Close(time.Second)
		if _, err := server.ReadMessage(); err == nil {
			t.Fatal("read after the peer closed succeeded")
		}
		server.Close(time.Second)
	}
	cycle()
	fds, gs := countFDs(t), runtime.NumGoroutine()
	for range 1000 {
		cycle()
	}
	// The last cycles' goroutines may take a while to end on a loaded
	// machine: wait (bounded) for them.
	var g int
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if g = runtime.NumGoroutine(); g <= gs || time.Now().After(end) {
			break
		}
	}
	if g > gs {
		t.Errorf("goroutines: %d before, %d after 1000 cycles", gs, g)
	}
	if f := countFDs(t); f > fds {
		t.Errorf("file descriptors: %d before, %d after 1000 cycles", fds, f)
	}
}

// TestGTSMDropsLowTTL shows the kernel enforces the minimum TTL: a listener
// answering with TTL 64 never completes the handshake with a GTSM dialer.
func TestGTSMDropsLowTTL(t *testing.T) {
	l, err := Listen(context.Background(), netip.AddrPortFrom(lo4, 0), ListenOptions{TTL: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if c, err := dial(t, l.Addr(), Options{GTSM: true}, 800*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("handshake completed with a TTL 64 SYN-ACK under GTSM")
	}
	c, err := dial(t, l.Addr(), Options{}, 5*time.Second)
	if err != nil {
		t.Fatalf("without GTSM the same listener is reachable: %v", err)
	}
	c.Close()
}

// TestDualStackListenerIPv4Peer checks the v4-mapped handling: an IPv4
// peer reaching an IPv6 wildcard listener is keyed and configured with the
// IPv4 options.
func TestDualStackListenerIPv4Peer(t *testing.T) {
	requireIPv6Loopback(t)
	l, err := Listen(context.Background(), netip.AddrPortFrom(netip.IPv6Unspecified(), 0), ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.SetMD5(netip.MustParsePrefix("127.0.0.0/8"), "dual"); err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(lo4, l.Addr().Port())
	if c, err := dial(t, to, Options{MD5Key: "other"}, 800*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("wrong key accepted on the dual-stack listener")
	}
	acc := acceptOne(l)
	c, err := dial(t, to, Options{MD5Key: "dual", GTSM: true}, 5*time.Second)
	if err != nil {
		t.Fatalf("right key refused on the dual-stack listener: %v", err)
	}
	defer c.Close()
	a := <-acc
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.c.Close()
	if err := Configure(a.c, Options{GTSM: true}); err != nil {
		t.Fatal(err)
	}
	if v, err := unixInt(a.c, unix.IPPROTO_IP, unix.IP_MINTTL); err != nil || v != DefaultGTSMMinTTL {
		t.Fatalf("IP_MINTTL on the v4-mapped connection = %d, %v", v, err)
	}
	if got := NewConn(a.c, testSplit, 0).RemoteAddr().Addr(); got != lo4 {
		t.Fatalf("remote address %v, want it unmapped to %v", got, lo4)
	}
}

// TestConfigureDefaultTTL: an accepted socket inherits the listener's TTL
// 255; Configure with TTL 0 and no GTSM gives it the system default, as a
// dialed socket has, and a TTL of 1 where one is asked.
func TestConfigureDefaultTTL(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	if err != nil {
		t.Skipf("no ip_default_ttl: %v", err)
	}
	def, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ttl, want int
	}{{0, def}, {1, 1}} {
		l := listen(t, lo4)
		acc := acceptOne(l)
		c, err := dial(t, l.Addr(), Options{}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		a := <-acc
		if a.err != nil {
			t.Fatal(a.err)
		}
		if v, err := unixInt(a.c, unix.IPPROTO_IP, unix.IP_TTL); err != nil || v != 255 {
			t.Fatalf("accepted socket before Configure: TTL %d, %v; want the listener's 255", v, err)
		}
		if err := Configure(a.c, Options{TTL: tc.ttl}); err != nil {
			t.Fatal(err)
		}
		if v, err := unixInt(a.c, unix.IPPROTO_IP, unix.IP_TTL); err != nil || v != tc.want {
			t.Errorf("Configure TTL %d: accepted socket has TTL %d, %v; want %d", tc.ttl, v, err, tc.want)
		}
		if v, err := unixInt(c, unix.IPPROTO_IP, unix.IP_TTL); err != nil || v != def {
			t.Errorf("dialed socket with TTL 0: TTL %d, %v; want %d", v, err, def)
		}
		c.Close()
		a.c.Close()
	}
}

// TestConfigureRefusesLowTTLSYN: data a GTSM peer sends right after the
// handshake is queued before Configure sets the minimum TTL, so Configure
// checks the TTL the SYN arrived with: 254 is refused, 255 accepted.
func TestConfigureRefusesLowTTLSYN(t *testing.T) {
	for _, tc := range []struct {
		ttl int
		ok  bool
	}{{254, false}, {255, true}} {
		l := listen(t, lo4)
		acc := acceptOne(l)
		c, err := dial(t, l.Addr(), Options{TTL: tc.ttl}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		a := <-acc
		if a.err != nil {
			t.Fatal(a.err)
		}
		err = Configure(a.c, Options{GTSM: true, GTSMMinTTL: 255})
		if tc.ok && err != nil {
			t.Errorf("SYN with TTL %d: %v", tc.ttl, err)
		}
		if !tc.ok && !errors.Is(err, ErrGTSMTTL) {
			t.Errorf("SYN with TTL %d: Configure = %v, want ErrGTSMTTL", tc.ttl, err)
		}
		c.Close()
		a.c.Close()
	}
}

func TestSYNTTL(t *testing.T) {
	v4 := make([]byte, 40)
	v4[0], v4[8] = 0x45, 254
	v6 := make([]byte, 60)
	v6[0], v6[7] = 0x60, 255
	for _, tc := range []struct {
		h   []byte
		ttl int
		ok  bool
	}{{v4, 254, true}, {v6, 255, true}, {v4[:10], 0, false}, {[]byte{0x70, 0, 0, 0}, 0, false}, {nil, 0, false}} {
		if ttl, ok := synTTL(tc.h); ttl != tc.ttl || ok != tc.ok {
			t.Errorf("synTTL(%x) = %d, %v; want %d, %v", tc.h, ttl, ok, tc.ttl, tc.ok)
		}
	}
}

func FuzzSYNTTL(f *testing.F) {
	v4 := make([]byte, 40)
	v4[0], v4[8] = 0x45, 254
	v6 := make([]byte, 60)
	v6[0], v6[7] = 0x60, 255
	f.Add(v4)
	f.Add(v6)
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, h []byte) {
		ttl, ok := synTTL(h)
		if ok && (ttl < 0 || ttl > 255 || len(h) < 20) {
			t.Fatalf("synTTL(%x) = %d, %v", h, ttl, ok)
		}
	})
}
