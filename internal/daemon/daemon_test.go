package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/transport"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/fib"
)

// freePort finds a TCP port nobody listens on at addr.
func freePort(t *testing.T, addr string) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

type logWriter struct {
	mu  sync.Mutex
	t   *testing.T
	off bool
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.off {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

// testLogger logs at info, or at debug with CLOS_TEST_DEBUG set (to chase
// a failure the info log does not explain).
func testLogger(t *testing.T, name string) *slog.Logger {
	w := &logWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.off = true; w.mu.Unlock() })
	level := slog.LevelInfo
	if os.Getenv("CLOS_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("daemon", name)
}

func parse(t *testing.T, name, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse(name, []byte(yaml))
	if err != nil {
		t.Fatalf("config %s: %v\n%s", name, err, yaml)
	}
	return c
}

type running struct {
	d      *Daemon
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with its result in err
	err    error
	fake   *fib.Fake
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
}

func start(t *testing.T, name string, cfg *config.Config, o Options) *running {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t, name)
	}
	r := &running{done: make(chan struct{})}
	if o.FIB == nil {
		r.fake = fib.NewFake()
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			t.Skipf("no loopback interface: %v", err)
		}
		r.fake.SetLink(fib.Link{Index: lo.Index, Name: "lo", AdminUp: true, OperUp: true})
		o.FIB = r.fake
		if o.Resolve == nil {
			// Every 127/8 address is this host's own: pretend the peers
			// are neighbors on lo.
			o.Resolve = func(nh, _ netip.Addr) (fib.Member, error) {
				return fib.Member{Gateway: nh, Ifindex: lo.Index, Ifname: "lo"}, nil
			}
		}
	}
	d, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.err = d.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
	})
	return r
}

func neighbor(t *testing.T, d *Daemon, addr string) NeighborStatus {
	t.Helper()
	ns, err := d.Neighbors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Address == netip.MustParseAddr(addr) {
			return n
		}
	}
	t.Fatalf("no neighbor %s in %+v", addr, ns)
	return NeighborStatus{}
}

func routes(t *testing.T, d *Daemon) map[string]Route {
	t.Helper()
	rs, err := d.Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Route{}
	for _, r := range rs {
		m[r.Prefix.String()] = r
	}
	return m
}

func pairConfigs(t *testing.T) (a, b *config.Config) {
	return pairConfigsWith(t, "")
}

// pairConfigsWith adds extraA (top-level YAML) to a's config. Keepalives go
// every second, but the hold time is 9 s: a loaded machine (-race, 2 cores,
// other packages' tests beside) can stall a daemon for longer than a 3 s
// hold allows.
func pairConfigsWith(t *testing.T, extraA string) (a, b *config.Config) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	a = parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}}
networks: [10.1.0.0/24, 10.1.1.0/24]
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
%s`, pa, pb, extraA))
	b = parse(t, "b.yaml", fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}}
networks: [10.2.0.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d
`, pb, pa))
	return a, b
}

func kernelHas(f *fib.Fake, p string) bool {
	_, ok := f.Snapshot().Routes[netip.MustParsePrefix(p)]
	return ok
}

func TestTwoDaemonsExchangeRoutes(t *testing.T) {
	ca, cb := pairConfigs(t)
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})

	waitFor(t, "both sessions Established", func() (bool, string) {
		na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1")
		return na.State == "Established" && nb.State == "Established", na.State + "/" + nb.State
	})
	waitFor(t, "routes both ways", func() (bool, string) {
		ra, rb := routes(t, a.d), routes(t, b.d)
		r2, r1 := ra["10.2.0.0/24"], rb["10.1.0.0/24"]
		return r2.ASPath == "65002" && r1.ASPath == "65001" && rb["10.1.1.0/24"].ASPath == "65001",
			fmt.Sprintf("a: %+v b: %+v", ra, rb)
	})
	ra := routes(t, a.d)
	if r := ra["10.2.0.0/24"]; r.NextHop != netip.MustParseAddr("127.0.0.2") || r.Peer != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("a's route to 10.2.0.0/24 = %+v, want next hop and peer 127.0.0.2", r)
	}
	if r := ra["10.1.0.0/24"]; !r.Local {
		t.Errorf("a's own network = %+v, want Local", r)
	}
	na := neighbor(t, a.d, "127.0.0.2")
	if na.PeerAS != 65002 || na.PeerID != "10.0.0.2" || na.HoldTime != 9 || !na.AS4 || na.Uptime <= 0 {
		t.Errorf("a's neighbor status = %+v", na)
	}
	waitFor(t, "prefix counts", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.PrefixesReceived == 1 && na.PrefixesAccepted == 1 && na.PrefixesAdvertised == 2 && na.PrefixesBest == 1,
			fmt.Sprintf("received %d accepted %d advertised %d best %d", na.PrefixesReceived, na.PrefixesAccepted, na.PrefixesAdvertised, na.PrefixesBest)
	})
	waitFor(t, "a's kernel has 10.2.0.0/24 and b's 10.1.0.0/24", func() (bool, string) {
		return kernelHas(a.fake, "10.2.0.0/24") && kernelHas(b.fake, "10.1.0.0/24") && !kernelHas(a.fake, "10.1.0.0/24"),
			fmt.Sprintf("a: %v b: %v", a.fake.Snapshot().Routes, b.fake.Snapshot().Routes)
	})
	_, nb := waitSettled(t, a, b, "127.0.0.2", "127.0.0.1")

	// A withdraw propagates while the session stays up.
	if err := a.d.SetNetworks(context.Background(), []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "10.1.1.0/24 withdrawn at b", func() (bool, string) {
		rb := routes(t, b.d)
		_, gone := rb["10.1.1.0/24"]
		_, kept := rb["10.1.0.0/24"]
		return !gone && kept && !kernelHas(b.fake, "10.1.1.0/24"), fmt.Sprintf("%+v", rb)
	})
	if nb2 := neighbor(t, b.d, "127.0.0.1"); nb2.State != "Established" || nb2.Resets != nb.Resets {
		t.Errorf("b's session after the withdraw: %s, %d resets (%d before)", nb2.State, nb2.Resets, nb.Resets)
	}

	// Stopping b sends Cease/Administrative Shutdown with the message;
	// a drops b's routes.
	b.stop(t)
	waitFor(t, "a sees b's shutdown", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		lr := na.Session.LastReceived
		if lr == nil {
			return false, na.State
		}
		return lr.Code == wire.CodeCease && lr.Subcode == wire.SubAdminShutdown && lr.Message == ShutdownMessage,
			fmt.Sprintf("%+v", lr)
	})
	waitFor(t, "a forgets b's routes", func() (bool, string) {
		_, ok := routes(t, a.d)["10.2.0.0/24"]
		return !ok && !kernelHas(a.fake, "10.2.0.0/24"), ""
	})
	a.stop(t)
}

func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`
router-id: 10.0.0.1
asn: 65001
neighbors:
  - interface: eth0
    remote-as: external
    password: secret
`, "TCP MD5 on an unnumbered neighbor is not supported"},
	} {
		_, err := New(parse(t, "c.yaml", tc.yaml), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New = %v, want an error containing %q", err, tc.want)
		}
	}
}

// resetPeer is a minimal BGP speaker: every connection it accepts is
// brought to Established and then reset with a Cease NOTIFICATION.
type resetPeer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	sessions int
	errs     []error
}

func (p *resetPeer) serve(as uint16, id netip.Addr) {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		err = p.session(c, as, id)
		c.Close()
		p.mu.Lock()
		if err != nil && len(p.errs) < 5 {
			p.errs = append(p.errs, err)
		} else if err == nil {
			p.sessions++
		}
		p.mu.Unlock()
	}
}

func (p *resetPeer) session(c net.Conn, as uint16, id netip.Addr) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var opts wire.Options
	r := transport.NewReader(c, func(b []byte) (int, error) { return wire.Split(b, &opts) }, transport.MaxBuffer)
	open := &wire.Open{Version: 4, AS: uint32(as), HoldTime: 9, RouterID: id, Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true}}
	b, err := wire.Append(nil, open, &opts)
	if err != nil {
		return err
	}
	b, _ = wire.Append(b, &wire.Keepalive{}, &opts)
	if _, err := c.Write(b); err != nil {
		return err
	}
	gotOpen, gotKA := false, false
	for !gotOpen || !gotKA {
		m, err := r.ReadMessage()
		if err != nil {
			return err
		}
		switch wire.MessageType(m[18]) {
		case wire.TypeOpen:
			gotOpen = true
		case wire.TypeKeepalive:
			gotKA = gotOpen
		case wire.TypeNotification:
			n, _ := wire.ParseNotification(m[19:])
			return fmt.Errorf("NOTIFICATION from the daemon: %v", n)
		}
	}
	b, _ = wire.Append(nil, wire.ShutdownNotification(wire.SubAdminReset, "reset test"), &opts)
	_, err = c.Write(b)
	return err
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(es)
}

func TestThousandResetsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const resets = 1000
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	peerPort := ln.Addr().(*net.TCPAddr).Port
	p := &resetPeer{ln: ln}
	p.wg.Add(1)
	go p.serve(65009, netip.MustParseAddr("10.0.0.9"))
	defer func() { ln.Close(); p.wg.Wait() }()

	// Let the runtime and the test framework settle before counting.
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	cfg := parse(t, "r.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
networks: [10.1.0.0/24]
neighbors:
  - address: 127.0.0.3
    remote-as: 65009
    port: %d
`, freePort(t, "127.0.0.1"), peerPort))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := start(t, "r", cfg, Options{Logger: logger, ConnectRetry: time.Second, IdleHoldTime: time.Millisecond, MaxIdleHoldTime: time.Millisecond, CloseLinger: 100 * time.Millisecond})
	waitFor(t, fmt.Sprintf("%d sessions reset", resets), func() (bool, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.errs) > 0 {
			t.Fatalf("peer errors: %v", p.errs)
		}
		return p.sessions >= resets, fmt.Sprint(p.sessions)
	})
	n := neighbor(t, r.d, "127.0.0.3")
	if n.Session.Established < resets || n.Resets < resets-1 {
		t.Errorf("daemon counted %d established, %d resets; want >= %d", n.Session.Established, n.Resets, resets)
	}
	// While running: a few goroutines per live connection at most.
	if g := runtime.NumGoroutine(); g > baseG+20 {
		t.Errorf("%d goroutines while running, baseline %d", g, baseG)
	}
	r.stop(t)
	// What the stopped daemon ran may take a while to end on a loaded
	// machine: wait (bounded) for it.
	var g, fds int
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		g, fds = runtime.NumGoroutine(), openFDs(t)
		if g <= baseG && fds <= baseFD || time.Now().After(end) {
			break
		}
	}
	if g > baseG {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after stop, baseline %d:\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if fds > baseFD {
		var links []string
		es, _ := os.ReadDir("/proc/self/fd")
		for _, e := range es {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, e.Name()+"->"+l)
		}
		t.Errorf("%d open fds after stop, baseline %d: %v", fds, baseFD, links)
	}
}

// TestCollisionKeepsTheHigherIdentifiersConnection makes the peer connect
// back while our own connection to it waits for its OPEN: with the peer's
// identifier higher than ours, RFC 4271 6.8 keeps the connection the peer
// opened and closes ours with Cease/Connection Collision Resolution.
func TestCollisionKeepsTheHigherIdentifiersConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ourPort := freePort(t, "127.0.0.1")
	cfg := parse(t, "c.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
neighbors:
  - address: 127.0.0.4
    remote-as: 65009
    port: %d
`, ourPort, ln.Addr().(*net.TCPAddr).Port))
	r := start(t, "c", cfg, Options{ConnectRetry: 10 * time.Second})

	var opts wire.Options
	split := func(b []byte) (int, error) { return wire.Split(b, &opts) }
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c1, err := ln.Accept() // the daemon's own connection
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.SetDeadline(time.Now().Add(10 * time.Second))
	r1 := transport.NewReader(c1, split, transport.MaxBuffer)
	readType := func(r *transport.Reader) (wire.MessageType, []byte) {
		t.Helper()
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return wire.MessageType(m[18]), append([]byte(nil), m...)
	}
	if typ, _ := readType(r1); typ != wire.TypeOpen {
		t.Fatalf("first message on our connection: type %d, want OPEN", typ)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}, Timeout: 5 * time.Second}
	c2, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ourPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	r2 := transport.NewReader(c2, split, transport.MaxBuffer)
	if typ, _ := readType(r2); typ != wire.TypeOpen {
		t.Fatalf("first message on the peer's connection: type %d, want OPEN", typ)
	}
	open, _ := wire.Append(nil, &wire.Open{AS: 65009, HoldTime: 9, RouterID: netip.MustParseAddr("10.0.0.9"),
		Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true}}, &opts)
	c1.Write(open)
	c2.Write(open)
	for {
		typ, m := readType(r1)
		if typ == wire.TypeKeepalive {
			continue
		}
		if typ != wire.TypeNotification {
			t.Fatalf("our connection got type %d, want NOTIFICATION", typ)
		}
		n, err := wire.ParseNotification(m[wire.HeaderLen:])
		if err != nil || n.Code != wire.CodeCease || n.Subcode != wire.SubConnectionCollision {
			t.Fatalf("our connection closed with %v (%v), want Cease/Connection Collision Resolution", n, err)
		}
		break
	}
	ka, _ := wire.Append(nil, &wire.Keepalive{}, &opts)
	c2.Write(ka)
	if typ, _ := readType(r2); typ != wire.TypeKeepalive {
		t.Fatalf("the peer's connection got type %d, want KEEPALIVE", typ)
	}
	waitFor(t, "Established on the peer's connection", func() (bool, string) {
		n := neighbor(t, r.d, "127.0.0.4")
		return n.State == "Established" && n.Remote == c2.LocalAddr().String(), fmt.Sprintf("%s %s", n.State, n.Remote)
	})
	r.stop(t)
}

func TestAggregateSummaryOnlyWithDiscard(t *testing.T) {
	ca, cb := pairConfigsWith(t, "aggregates: [{prefix: 10.1.0.0/16, summary-only: true, discard: true}]\n")
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	waitFor(t, "b to get the aggregate only", func() (bool, string) {
		rb := routes(t, b.d)
		_, agg := rb["10.1.0.0/16"]
		_, more := rb["10.1.0.0/24"]
		return agg && !more, fmt.Sprintf("%+v", rb)
	})
	waitFor(t, "a's discard route for the aggregate", func() (bool, string) {
		k := a.fake.Snapshot()
		r, ok := k.Routes[netip.MustParsePrefix("10.1.0.0/16")]
		return ok && r.Blackhole, fmt.Sprintf("%+v", k.Routes)
	})
	a.stop(t)
	b.stop(t)
}

func TestResolveConnected(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil || lo.Flags&net.FlagUp == 0 {
		t.Skip("no loopback interface up")
	}
	m, err := resolveConnected(netip.MustParseAddr("127.0.0.5"), netip.Addr{})
	if err != nil || m.Ifindex != lo.Index || m.Gateway != netip.MustParseAddr("127.0.0.5") {
		t.Errorf("127.0.0.5: %+v, %v; want a member on lo", m, err)
	}
	if _, err := resolveConnected(netip.MustParseAddr("127.0.0.1"), netip.Addr{}); err == nil {
		t.Error("our own address resolved as a next hop")
	}
	far := netip.MustParseAddr("203.0.113.77")
	onLink := false
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok && n.Contains(far.AsSlice()) {
				onLink = true
			}
		}
	}
	if _, err := resolveConnected(far, netip.Addr{}); err == nil && !onLink {
		t.Errorf("%s, on no link here, resolved", far)
	}
	// A link-local next hop is on the interface of the session's address.
	if addrs, _ := lo.Addrs(); strings.Contains(fmt.Sprint(addrs), "::1/128") {
		m, err = resolveConnected(netip.MustParseAddr("fe80::99"), netip.MustParseAddr("::1"))
		if err != nil || m.Ifindex != lo.Index || m.Gateway != netip.MustParseAddr("fe80::99") {
			t.Errorf("fe80::99 via ::1: %+v, %v; want a member on lo", m, err)
		}
	}
	if _, err := resolveConnected(netip.MustParseAddr("fe80::99"), netip.Addr{}); err == nil {
		t.Error("a link-local next hop resolved without knowing the session's interface")
	}
}

func TestDynamicNeighbors(t *testing.T) {
	pa := freePort(t, "127.0.0.1")
	a := start(t, "a", parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
networks: [10.1.0.0/24]
neighbors:
  - listen-range: 127.0.0.0/29
    remote-as: 65002-65003
    limit: 1
`, pa)), Options{})
	peerCfg := func(name, addr string, as int) *config.Config {
		return parse(t, name+".yaml", fmt.Sprintf(`
router-id: %[1]s
asn: %[2]d
listen: {address: %[1]s, port: %[3]d}
networks: [10.%[5]d.0.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %[4]d
`, addr, as, freePort(t, addr), pa, as-65000))
	}
	b := start(t, "b", peerCfg("b", "127.0.0.2", 65002), Options{ConnectRetry: time.Second})
	waitFor(t, "a to learn b's prefix from the dynamic neighbor and b a's", func() (bool, string) {
		r, ok := routes(t, a.d)["10.2.0.0/24"]
		rb := routes(t, b.d)["10.1.0.0/24"]
		return ok && r.Peer == netip.MustParseAddr("127.0.0.2") && rb.ASPath == "65001", fmt.Sprintf("a: %+v b: %+v", r, rb)
	})
	// The range's limit is 1: a second peer from it is refused.
	c := start(t, "c", peerCfg("c", "127.0.0.3", 65003), Options{ConnectRetry: time.Second})
	time.Sleep(300 * time.Millisecond)
	if n := neighbor(t, c.d, "127.0.0.1"); n.State == "Established" {
		t.Errorf("a second dynamic neighbor came up beyond the limit")
	}
	// b leaves: a forgets it, and c now fits.
	b.stop(t)
	waitFor(t, "a to accept c once b is gone", func() (bool, string) {
		ns, err := a.d.Neighbors(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return len(ns) == 1 && ns[0].Address == netip.MustParseAddr("127.0.0.3") && ns[0].State == "Established", fmt.Sprintf("%+v", ns)
	})
	c.stop(t)
	a.stop(t)
}

func TestPrepend(t *testing.T) {
	ca, cb := pairConfigs(t)
	ca.Neighbors[0].Prepend = 2
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	waitFor(t, "b to see a's path prepended twice", func() (bool, string) {
		r := routes(t, b.d)["10.1.0.0/24"]
		return r.ASPath == "65001 65001 65001", r.ASPath
	})
	if r := routes(t, a.d)["10.2.0.0/24"]; r.ASPath != "65002" {
		t.Errorf("a's route from b: %q, want 65002 (prepend is outbound only)", r.ASPath)
	}
	a.stop(t)
	b.stop(t)
}

func TestImportRouteMap(t *testing.T) {
	ca, cb := pairConfigsWith(t, `policy:
  prefix-lists:
    - name: want
      entries: [{seq: 10, action: permit, prefix: 10.2.0.0/24}]
  route-maps:
    - name: in
      entries: [{seq: 10, action: permit, match: {prefix-list: want}, set: {local-pref: 300}}]
`)
	ca.Neighbors[0].RouteMap.In = "in"
	cb.Networks = append(cb.Networks, netip.MustParsePrefix("10.2.1.0/24"))
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	waitFor(t, "a to receive both and accept one", func() (bool, string) {
		n := neighbor(t, a.d, "127.0.0.2")
		return n.PrefixesReceived == 2 && n.PrefixesAccepted == 1, fmt.Sprintf("received %d accepted %d", n.PrefixesReceived, n.PrefixesAccepted)
	})
	ra := routes(t, a.d)
	if _, ok := ra["10.2.1.0/24"]; ok {
		t.Errorf("10.2.1.0/24 passed the import route-map: %+v", ra)
	}
	if _, ok := ra["10.2.0.0/24"]; !ok {
		t.Errorf("10.2.0.0/24 missing: %+v", ra)
	}
	a.stop(t)
	b.stop(t)
}

func TestMaxPrefixClosesTheSession(t *testing.T) {
	ca, cb := pairConfigs(t)
	ca.Neighbors[0].MaxPrefix = 1
	cb.Networks = append(cb.Networks, netip.MustParsePrefix("10.2.1.0/24"))
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	waitFor(t, "b to get Cease/Maximum Number of Prefixes Reached", func() (bool, string) {
		n := neighbor(t, b.d, "127.0.0.1")
		lr := n.Session.LastReceived
		return lr != nil && lr.Code == wire.CodeCease && lr.Subcode == wire.SubMaxPrefixes, fmt.Sprintf("%s %+v", n.State, lr)
	})
	a.stop(t)
	b.stop(t)
}

func TestRunFailsWhenThePortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := parse(t, "p.yaml", fmt.Sprintf("router-id: 10.0.0.1\nasn: 65001\nlisten: {address: 127.0.0.1, port: %d}\n", l.Addr().(*net.TCPAddr).Port))
	d, err := New(cfg, Options{Logger: testLogger(t, "p")})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:") {
		t.Fatalf("Run = %v, want a listen error", err)
	}
	if _, err := d.Neighbors(context.Background()); err != ErrNotRunning {
		t.Errorf("Neighbors after a failed Run = %v, want ErrNotRunning", err)
	}
	if err := d.Run(context.Background()); err == nil {
		t.Error("second Run did not fail")
	}
}

// TestBadHeaderGetsNotification: a stream whose marker is broken is
// answered with Message Header Error/Connection Not Synchronized (RFC 4271
// 6.1) and the session drops; the daemon goes on.
func TestBadHeaderGetsNotification(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := parse(t, "h.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
neighbors:
  - address: 127.0.0.5
    remote-as: 65009
    port: %d
`, freePort(t, "127.0.0.1"), ln.Addr().(*net.TCPAddr).Port))
	r := start(t, "h", cfg, Options{ConnectRetry: 10 * time.Second})
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var opts wire.Options
	rd := transport.NewReader(c, func(b []byte) (int, error) { return wire.Split(b, &opts) }, transport.MaxBuffer)
	open, _ := wire.Append(nil, &wire.Open{AS: 65009, HoldTime: 9, RouterID: netip.MustParseAddr("10.0.0.9"),
		Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true}}, &opts)
	open, _ = wire.Append(open, &wire.Keepalive{}, &opts)
	c.Write(open)
	waitFor(t, "Established", func() (bool, string) {
		n := neighbor(t, r.d, "127.0.0.5")
		return n.State == "Established", n.State
	})
	bad := make([]byte, wire.HeaderLen)
	bad[16], bad[17], bad[18] = 0, wire.HeaderLen, byte(wire.TypeKeepalive)
	c.Write(bad)
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			t.Fatalf("no NOTIFICATION before the connection closed: %v", err)
		}
		if wire.MessageType(m[18]) != wire.TypeNotification {
			continue
		}
		n, err := wire.ParseNotification(m[wire.HeaderLen:])
		if err != nil || n.Code != wire.CodeMessageHeader || n.Subcode != wire.SubConnectionNotSynchronized {
			t.Fatalf("got %v (%v), want Message Header Error/Connection Not Synchronized", n, err)
		}
		break
	}
	n := neighbor(t, r.d, "127.0.0.5")
	if n.State == "Established" || n.Session.LastSent == nil || n.Session.LastSent.Code != wire.CodeMessageHeader {
		t.Errorf("after the bad header: %s, last sent %+v", n.State, n.Session.LastSent)
	}
	r.stop(t)
}
