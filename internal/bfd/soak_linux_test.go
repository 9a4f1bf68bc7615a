package bfd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// soakPair starts two BFD ends on loopback with n sessions between them
// at interval x 3: session i runs from 127.0.1.i to 127.0.11.i. Each end
// is a child process (Client) or, with inProcess, a Server in this
// process. It returns once every session is Up and past its poll
// sequence.
func soakPair(t testing.TB, n int, interval time.Duration, inProcess bool, onChange func(StateChange)) (sa, sb Runner) {
	pa, pb := freePortTB(t, "127.0.0.1"), freePortTB(t, "127.0.0.1")
	var up atomic.Int64
	cb := func(c StateChange) {
		if c.To == StateUp {
			up.Add(1)
		}
		if onChange != nil {
			onChange(c)
		}
	}
	mk := func(port int) Runner {
		var r Runner
		var err error
		if inProcess {
			r, err = NewServer(ServerConfig{Transport: &UDPTransport{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: port, MultihopPort: -1}, OnStateChange: cb})
		} else {
			r, err = NewClient(ClientConfig{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: port, MultihopPort: -1, OnStateChange: cb})
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	sa, sb = mk(pa), mk(pb)
	if !inProcess && os.Getenv("CLOS_BFD_SOAK_PIN") != "off" {
		// Both ends on one CPU, as both ends of a real session each
		// share the fate of their own box: this kernel (PREEMPT_NONE)
		// lets kernel work of other jobs hold a CPU for 20-60 ms, which
		// no priority overrides; on one CPU such a stall stops both ends
		// and the Servers' freeze detection takes it out of detection,
		// while split across two CPUs one end would see real silence
		// from the other. See docs/bfd.md, "Timing under load".
		pinProcess(t, sa.(*Client).ChildPid(), 0)
		pinProcess(t, sb.(*Client).ChildPid(), 0)
	}
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

// pinProcess pins every thread of pid to cpu (threads it starts later
// inherit it).
func pinProcess(t testing.TB, pid, cpu int) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			t.Fatalf("pinning thread %d of %d to CPU %d: %v", tid, pid, cpu, err)
		}
	}
}

func settled(s Runner, interval time.Duration) bool {
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
// between two BFD child processes over loopback, with a CPU hog on every P
// of this process beside them: no session may go Down. The children run
// their own Go scheduler at nice -20, so the hog, which would starve an
// in-process Server (CLOS_BFD_SOAK_INPROC=1 shows it), only competes with
// them for the CPU by weight. CLOS_BFD_SOAK sets the duration (default
// 60s, the issue's), CLOS_BFD_SOAK_HOG=off runs it without the hog.
func TestSoak100At10ms(t *testing.T) {
	d := 60 * time.Second
	if os.Getenv("CLOS_BFD_SOAK") == "" {
		t.Skip("set CLOS_BFD_SOAK=60s to run the 10 ms soak")
	}
	if s := os.Getenv("CLOS_BFD_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 || d > 10*time.Minute {
			t.Fatalf("CLOS_BFD_SOAK=%q: want a duration up to 10m", s)
		}
	}
	inProc := os.Getenv("CLOS_BFD_SOAK_INPROC") == "1"
	var mu sync.Mutex
	var downs []string
	armed := atomic.Bool{}
	sa, sb := soakPair(t, 100, 10*time.Millisecond, inProc, func(c StateChange) {
		if armed.Load() && c.From == StateUp {
			mu.Lock()
			downs = append(downs, fmt.Sprintf("%s %v: %v -> %v (%v)", c.At.Format("15:04:05.000"), c.Key, c.From, c.To, c.Diag))
			mu.Unlock()
		}
	})
	rx0 := rxTotal(sa, sb)
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
	rx := rxTotal(sa, sb) - rx0
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%v soak (in process: %v): %d packets received over 200 sessions, %d false Downs", d, inProc, rx, len(downs))
	if len(downs) > 0 {
		t.Errorf("%d false Downs under load, first ones:\n%s", len(downs), strings.Join(downs[:min(len(downs), 1000)], "\n"))
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
// getrusage), for both ends and per end. One op is 100 ms.
func BenchmarkServer1000(b *testing.B) { bench1000(b, true) }

// BenchmarkClient1000 is BenchmarkServer1000 with each end a BFD child
// process (Client); CPU per end is the children's own (from
// /proc/PID/stat), the parent's the cost of the pipe on closd's side.
func BenchmarkClient1000(b *testing.B) { bench1000(b, false) }

func bench1000(b *testing.B, inProcess bool) {
	const n = 1000
	var downs atomic.Int64
	armed := atomic.Bool{}
	sa, sb := soakPair(b, n, FabricInterval, inProcess, func(c StateChange) {
		if armed.Load() && c.From == StateUp {
			downs.Add(1)
		}
	})
	armed.Store(true)
	rx0 := rxTotal(sa, sb)
	cpu0 := cpuTime(b)
	var child0 [2]time.Duration
	if !inProcess {
		child0 = [2]time.Duration{childCPU(b, sa), childCPU(b, sb)}
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		time.Sleep(100 * time.Millisecond)
	}
	wall := time.Since(start)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	perSec := func(d time.Duration) float64 { return float64(d.Milliseconds()) / wall.Seconds() }
	if inProcess {
		b.ReportMetric(perSec(cpu), "cpu-ms/s")
		b.ReportMetric(perSec(cpu)/2, "cpu-ms/s/end")
	} else {
		ca, cb := childCPU(b, sa)-child0[0], childCPU(b, sb)-child0[1]
		b.ReportMetric(perSec(ca+cb), "cpu-ms/s")
		b.ReportMetric(perSec(ca+cb)/2, "cpu-ms/s/end")
		b.ReportMetric(perSec(cpu), "parent-cpu-ms/s")
	}
	b.ReportMetric(float64(rxTotal(sa, sb)-rx0)/wall.Seconds(), "pkts/s")
	b.ReportMetric(float64(downs.Load()), "false-downs")
}

// childCPU is the user+system time of a Client's child so far.
func childCPU(b *testing.B, r Runner) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.(*Client).ChildPid()))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15, in clock ticks (100 Hz on Linux).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func rxTotal(ss ...Runner) uint64 {
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
