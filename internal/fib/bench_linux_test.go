//go:build linux

package fib

import (
	"bufio"
	"context"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// benchN is the number of prefixes the benchmarks install:
// CLOS_FIB_BENCH_N, default 100,000 (use 1000000 for the full-table
// figure).
func benchN(b *testing.B) int {
	if s := os.Getenv("CLOS_FIB_BENCH_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1<<24 {
			b.Fatalf("CLOS_FIB_BENCH_N=%q: want 1..16777216", s)
		}
		return n
	}
	return 100_000
}

// benchPrefix is the i-th /32 out of 100.64.0.0/10... spread over 10/8
// sized space.
func benchPrefix(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 32)
}

// benchCompat is net.ipv4.nexthop_compat_mode in the benchmark's
// namespace: CLOS_FIB_BENCH_COMPAT, default 0.
func benchCompat() string {
	if os.Getenv("CLOS_FIB_BENCH_COMPAT") == "1" {
		return "1"
	}
	return "0"
}

type benchNet struct {
	ns      *testNS
	members []Member
	devs    []string
}

func newBenchNet(b *testing.B) *benchNet {
	b.Helper()
	ns := newNS(b, "bn")
	// As CheckSysctls asks: with compat mode on, Linux re-announces every
	// route using a group each time the group changes.
	if out, err := exec.Command("ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.nexthop_compat_mode="+benchCompat()).CombinedOutput(); err != nil {
		b.Fatalf("sysctl: %v: %s", err, out)
	}
	bn := &benchNet{ns: ns}
	for i := 1; i <= 4; i++ {
		idx, a, _ := ns.veth(b, i)
		bn.members = append(bn.members, Member{Gateway: gw4(i), Ifindex: idx})
		bn.devs = append(bn.devs, a)
	}
	b.Cleanup(func() { bn.flush(b) })
	return bn
}

// flush removes the namespace's nexthops, and with them its routes, before
// the namespace is deleted: Linux frees a deleted namespace's table in a
// kernel worker, after `ip netns del` returns, and a million routes take
// that worker a second or more of CPU, which the next run of the
// benchmark would share on a 2-core machine. Flushing through the nexthops
// does it inside this (untimed) command instead.
func (bn *benchNet) flush(b *testing.B) {
	if out, err := bn.ns.ipErr("nexthop", "flush"); err != nil && !strings.Contains(out, "Nothing to flush") {
		b.Logf("ip nexthop flush: %v: %s", err, out)
	}
}

func BenchmarkFIBInstall(b *testing.B) {
	testenv.RequireRoot(b)
	n := benchN(b)
	for _, v := range []struct {
		name      string
		c         LinuxConfig
		perPrefix bool
	}{{"clos", LinuxConfig{}, false}, {"clos-set", LinuxConfig{}, true}, {"clos-ackeach", LinuxConfig{AckEach: true}, false}} {
		b.Run(v.name, func(b *testing.B) { benchInstall(b, n, v.c, v.perPrefix) })
	}
	b.Run("iproute2", func(b *testing.B) {
		var total, cpu time.Duration
		for range b.N {
			b.StopTimer()
			bn := newBenchNet(b)
			file := filepath.Join(b.TempDir(), "batch")
			fh, err := os.Create(file)
			must(b, err)
			w := bufio.NewWriter(fh)
			for i, m := range bn.members {
				fmt.Fprintf(w, "nexthop add id %d via %s dev %s proto %d\n", i+1, m.Gateway, bn.devs[i], DefaultProtocol)
			}
			fmt.Fprintf(w, "nexthop add id 10 group 1/2/3/4 proto %d\n", DefaultProtocol)
			for i := range n {
				fmt.Fprintf(w, "route add %s nhid 10 proto %d metric 20\n", benchPrefix(i), DefaultProtocol)
			}
			must(b, w.Flush())
			must(b, fh.Close())
			b.StartTimer()
			start, cpu0 := time.Now(), cpuTime(unix.RUSAGE_CHILDREN)
			if out, err := exec.Command("ip", "-n", bn.ns.name, "-batch", file).CombinedOutput(); err != nil {
				b.Fatalf("ip -batch: %v: %.500s", err, out)
			}
			total += time.Since(start)
			cpu += cpuTime(unix.RUSAGE_CHILDREN) - cpu0
			b.StopTimer()
			bn.flush(b)
		}
		b.ReportMetric(float64(n*b.N)/total.Seconds(), "routes/s")
		b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "routes/cpu-s")
	})
}

// BenchmarkFIBMemberChange measures one ECMP member leaving a group shared
// by N prefixes, until the kernel's group shows the new set: "gateway" by
// SetGatewayDown (the BFD fail-over path: one group write), "link" by carrier
// loss (Linux flushes the member itself; this times the kernel), "set" by
// the daemon moving every prefix to the smaller set (the BGP path).
func BenchmarkFIBMemberChange(b *testing.B) {
	testenv.RequireRoot(b)
	n := benchN(b)
	bn := newBenchNet(b)
	f, _ := newLinuxFIB(b, bn.ns)
	// A socket of its own for polling, so the poll does not queue behind
	// the FIB's writes on the backend's lock.
	be, err := NewLinux(LinuxConfig{Netns: bn.ns.path})
	must(b, err)
	defer be.Close()
	full := ECMP(bn.members...)
	smaller := ECMP(bn.members[1:]...)
	all := make([]netip.Prefix, n)
	for i := range all {
		all[i] = benchPrefix(i)
	}
	setAll := func(nh Nexthops) {
		must(b, f.Update(func(d *Desired) error { return d.SetMany(all, nh) }))
	}
	setAll(full)
	syncOK(b, f)
	gid := f.Kernel().Routes[benchPrefix(0)].NexthopID
	waitMembers := func(b *testing.B, want int) {
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; time.Now().Before(deadline) && i < 10_000_000; i++ {
			g, err := be.getNexthop(gid)
			if err == nil && len(g.Group) == want {
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
		g, err := be.getNexthop(gid)
		b.Fatalf("group %d never reached %d members: now %+v (%v); failures %+v; mirror links %+v", gid, want, g, err, f.Failures(), f.Kernel().Links)
	}
	b.Run("gateway", func(b *testing.B) {
		m := bn.members[0]
		var total time.Duration
		for range b.N {
			start := time.Now()
			f.SetGatewayDown(m.Gateway, m.Ifindex, true)
			waitMembers(b, 3)
			total += time.Since(start)
			b.StopTimer()
			f.SetGatewayDown(m.Gateway, m.Ifindex, false)
			waitMembers(b, 4)
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/change")
	})
	b.Run("link", func(b *testing.B) {
		h, err := netns.GetFromPath(bn.ns.path)
		must(b, err)
		defer h.Close()
		nl, err := netlink.NewHandleAt(h)
		must(b, err)
		defer nl.Close()
		peer, err := nl.LinkByName(vname(1) + "b")
		must(b, err)
		var total time.Duration
		for range b.N {
			start := time.Now()
			must(b, nl.LinkSetDown(peer))
			waitMembers(b, 3)
			total += time.Since(start)
			b.StopTimer()
			must(b, nl.LinkSetUp(peer))
			waitMembers(b, 4)
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/change")
	})
	// set-each: the same move as the daemon makes it, one Set per prefix.
	setEach := func(nh Nexthops) {
		must(b, f.Update(func(d *Desired) error {
			for _, p := range all {
				if err := d.Set(p, nh); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for _, v := range []struct {
		name string
		set  func(Nexthops)
	}{{"set", setAll}, {"set-each", setEach}} {
		b.Run(v.name, func(b *testing.B) { benchSetMove(b, f, v.set, full, smaller, waitMembers) })
	}
}

// benchSetMove times moving every prefix from full to smaller with set,
// until the kernel's group has the smaller set.
func benchSetMove(b *testing.B, f *FIB, setAll func(Nexthops), full, smaller Nexthops, waitMembers func(*testing.B, int)) {
	var total time.Duration
	for range b.N {
		start := time.Now()
		setAll(smaller)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		must(b, f.Sync(ctx))
		cancel()
		waitMembers(b, 3)
		total += time.Since(start)
		b.StopTimer()
		setAll(full)
		syncOK(b, f)
		waitMembers(b, 4)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/change")
}

// cpuTime is the user and system CPU time of who (RUSAGE_SELF: this
// process, all threads; RUSAGE_CHILDREN: waited-for children). The kernel
// does a route write inside the writer's sendmsg, so system time counts it:
// routes per CPU second is the figure a loaded machine does not distort,
// where routes/s measures the share of the CPUs the run got.
func cpuTime(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchInstall installs n prefixes with SetMany, or with perPrefix one Set
// per prefix as the daemon hands a RIB table over.
func benchInstall(b *testing.B, n int, c LinuxConfig, perPrefix bool) {
	// CLOS_FIB_BENCH_BATCH: messages per sendmsg (default the backend's).
	if s := os.Getenv("CLOS_FIB_BENCH_BATCH"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("CLOS_FIB_BENCH_BATCH=%q: want a positive number", s)
		}
		c.BatchMessages = v
	}
	var total, cpu time.Duration
	for range b.N {
		b.StopTimer()
		bn := newBenchNet(b)
		f, _ := newLinuxFIBWith(b, bn.ns, c)
		set := ECMP(bn.members...)
		all := make([]netip.Prefix, n)
		for i := range all {
			all[i] = benchPrefix(i)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime(unix.RUSAGE_SELF)
		must(b, f.Update(func(d *Desired) error {
			if !perPrefix {
				return d.SetMany(all, set)
			}
			for _, p := range all {
				if err := d.Set(p, set); err != nil {
					return err
				}
			}
			return nil
		}))
		syncOK(b, f)
		total += time.Since(start)
		cpu += cpuTime(unix.RUSAGE_SELF) - cpu0
		b.StopTimer()
		if got := len(f.Kernel().Routes); got != n {
			b.Fatalf("installed %d of %d", got, n)
		}
		f.Close()
		bn.flush(b)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "routes/s")
	b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "routes/cpu-s")
}
