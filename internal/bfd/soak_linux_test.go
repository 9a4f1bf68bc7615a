package bfd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// soakPair starts two UDP Servers on loopback with n sessions between
// them at interval x 3: session i runs from 127.0.1.i to 127.0.2.i. It
// returns once every session is Up and past its poll sequence.
func soakPair(t testing.TB, n int, interval time.Duration, onChange func(StateChange)) (sa, sb *Server) {
	pa, pb := freePortTB(t, "127.0.0.1"), freePortTB(t, "127.0.0.1")
	var err error
	var up atomic.Int64
	cb := func(c StateChange) {
		if c.To == StateUp {
			up.Add(1)
		}
		if onChange != nil {
			onChange(c)
		}
	}
	sa, err = NewServer(ServerConfig{Transport: &UDPTransport{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: pa, MultihopPort: -1}, OnStateChange: cb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	sb, err = NewServer(ServerConfig{Transport: &UDPTransport{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: pb, MultihopPort: -1}, OnStateChange: cb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	for i := range n {
		a := netip.AddrFrom4([4]byte{127, 0, 1 + byte(i/250), 1 + byte(i%250)})
		b := netip.AddrFrom4([4]byte{127, 0, 11 + byte(i/250), 1 + byte(i%250)})
		if _, err := sa.AddPeer(PeerConfig{Peer: b, Local: a, Port: uint16(pb), DesiredMinTx: interval, RequiredMinRx: interval, DetectMult: 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.AddPeer(PeerConfig{Peer: a, Local: b, Port: uint16(pa), DesiredMinTx: interval, RequiredMinRx: interval, DetectMult: 3}); err != nil {
			t.Fatal(err)
		}
	}
	// Slow start: a packet a second until Up, then a poll sequence.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if int(up.Load()) >= 2*n && settled(sa, interval) && settled(sb, interval) {
			return sa, sb
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d sessions at %v did not all come up and settle within 20 s (%d Up transitions)", n, interval, up.Load())
	return nil, nil
}

func settled(s *Server, interval time.Duration) bool {
	for _, p := range s.Peers() {
		if p.Status.State != StateUp || p.Status.PollActive || p.Status.DetectionTime != 3*interval {
			return false
		}
	}
	return true
}

func freePortTB(t testing.TB, addr string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Skipf("cannot open UDP on %s: %v", addr, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// hog keeps every P busy until ctx ends: the load a busy switch's other
// daemons put on the Go scheduler.
func hog(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := uint64(1)
			for ctx.Err() == nil {
				for range 10000 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		}()
	}
	return &wg
}

// TestSoak100At10ms runs 100 sessions at 10 ms x 3 (30 ms detection)
// between two in-process Servers over loopback with a CPU hog on every P
// beside them: no session may go Down. It runs only when CLOS_BFD_SOAK
// gives its duration (at most 60s): on the shared 2-core build box it
// fails (see docs/bfd.md, "10 ms under load"), and a test that fails on
// the box every run would only hide other failures. CLOS_BFD_SOAK_HOG=off
// runs it without the hog.
func TestSoak100At10ms(t *testing.T) {
	s := os.Getenv("CLOS_BFD_SOAK")
	if s == "" {
		t.Skip("set CLOS_BFD_SOAK=60s to run the 10 ms soak (see docs/bfd.md)")
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 60*time.Second {
		t.Fatalf("CLOS_BFD_SOAK=%q: want a duration up to 60s", s)
	}
	var mu sync.Mutex
	var downs []string
	armed := atomic.Bool{}
	sa, sb := soakPair(t, 100, 10*time.Millisecond, func(c StateChange) {
		if armed.Load() && c.From == StateUp {
			mu.Lock()
			downs = append(downs, fmt.Sprintf("%s %v: %v -> %v (%v)", c.At.Format("15:04:05.000"), c.Key, c.From, c.To, c.Diag))
			mu.Unlock()
		}
	})
	armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wg := &sync.WaitGroup{}
	if os.Getenv("CLOS_BFD_SOAK_HOG") != "off" {
		wg = hog(ctx)
	}
	<-ctx.Done()
	wg.Wait()
	armed.Store(false)
	mu.Lock()
	defer mu.Unlock()
	var rx uint64
	for _, s := range []*Server{sa, sb} {
		for _, p := range s.Peers() {
			rx += p.Counters.Rx
		}
	}
	t.Logf("%v soak: %d packets received over 200 sessions, %d false Downs", d, rx, len(downs))
	if len(downs) > 0 {
		t.Errorf("%d false Downs under load, first ones:\n%s", len(downs), downs[:min(len(downs), 10)])
	}
	// The sessions really ran at 10 ms: about 100 packets a second each
	// (jitter makes it up to a third more).
	if want := uint64(200 * 75 * d.Seconds()); rx < want {
		t.Errorf("received %d packets, want at least %d at 10 ms intervals", rx, want)
	}
}

// BenchmarkServer1000 runs 1,000 sessions at the fabric preset (100 ms x
// 3) between two Servers over loopback, both in this process, and reports
// the CPU the process uses per second of wall time (user+system, from
// getrusage): the cost of 1,000 sessions on each end. One op is 100 ms.
func BenchmarkServer1000(b *testing.B) {
	const n = 1000
	var downs atomic.Int64
	armed := atomic.Bool{}
	sa, sb := soakPair(b, n, FabricInterval, func(c StateChange) {
		if armed.Load() && c.From == StateUp {
			downs.Add(1)
		}
	})
	armed.Store(true)
	rx0 := rxTotal(sa, sb)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		time.Sleep(100 * time.Millisecond)
	}
	wall := time.Since(start)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu.Milliseconds())/wall.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(rxTotal(sa, sb)-rx0)/wall.Seconds(), "pkts/s")
	b.ReportMetric(float64(downs.Load()), "false-downs")
}

func rxTotal(ss ...*Server) uint64 {
	var rx uint64
	for _, s := range ss {
		for _, p := range s.Peers() {
			rx += p.Counters.Rx
		}
	}
	return rx
}

func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
