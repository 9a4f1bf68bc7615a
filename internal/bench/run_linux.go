package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/nsrun"
)

func checkPlatform() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("clos bench needs ip (apt-get install iproute2): %v", err)
	}
	return nil
}

// settle is how long sessions stay up before the load starts.
const settle = 3 * time.Second

// cmdTimeout bounds every tool a run calls (ip, a daemon's --version).
const cmdTimeout = 20 * time.Second

func runCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runPrefix is "cb" and six random hex digits: every namespace and link of
// one DUT run carries it, so runs never collide with each other or with
// anything else on the machine.
func runPrefix() string {
	var b [3]byte
	rand.Read(b[:])
	p := "cb" + hex.EncodeToString(b[:])
	if prefixUsed != nil {
		prefixUsed(p)
	}
	return p
}

// prefixUsed, when set (tests), learns every run prefix, so that a check
// for leftovers looks at this process's namespaces only: other runs on
// the machine have their own.
var prefixUsed func(string)

// testbed is one DUT run's namespaces, links, processes and files; close
// removes all of them.
type testbed struct {
	pfx, dutNS, peerNS string
	l                  *layout
	procs              []*dutProc
	madeNS             []string
}

// dutProc is one running process of the DUT.
type dutProc struct {
	name   string
	cmd    *exec.Cmd
	out    string // file with its stdout and stderr
	exited chan struct{}
	err    error // why it exited, once exited is closed
}

func newTestbed(ecmp, fib bool) (*testbed, error) {
	pfx := runPrefix()
	dir, err := os.MkdirTemp("", pfx+"-")
	if err != nil {
		return nil, err
	}
	// FRR's daemons may run as user frr: they must reach the directory.
	os.Chmod(dir, 0o777)
	tb := &testbed{pfx: pfx, dutNS: pfx + "dut", peerNS: pfx + "peer", l: newLayout(dir, ecmp, fib)}
	if err := tb.build(); err != nil {
		tb.close()
		return nil, err
	}
	return tb, nil
}

func (tb *testbed) build() error {
	for _, ns := range []string{tb.dutNS, tb.peerNS} {
		tb.madeNS = append(tb.madeNS, ns)
		if err := runCmd("ip", "netns", "add", ns); err != nil {
			return err
		}
		if err := runCmd("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for i, k := range tb.l.links {
		a, b := fmt.Sprintf("%sd%d", tb.pfx, i), fmt.Sprintf("%sp%d", tb.pfx, i)
		for _, c := range [][]string{
			{"ip", "link", "add", a, "netns", tb.dutNS, "type", "veth", "peer", "name", b, "netns", tb.peerNS},
			{"ip", "-n", tb.dutNS, "addr", "add", k.dut.String() + "/30", "dev", a},
			{"ip", "-n", tb.peerNS, "addr", "add", k.peer.String() + "/30", "dev", b},
			{"ip", "-n", tb.dutNS, "link", "set", a, "up"},
			{"ip", "-n", tb.peerNS, "link", "set", b, "up"},
		} {
			if err := runCmd(c...); err != nil {
				return err
			}
		}
	}
	return nil
}

// close stops the DUT (SIGTERM, then SIGKILL to its whole process group
// after a bound) and deletes the namespaces, with their links, and the
// run's directory.
func (tb *testbed) close() {
	for i := len(tb.procs) - 1; i >= 0; i-- {
		p := tb.procs[i]
		pgid := p.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
		}
		// Whatever the daemon forked and left behind goes too.
		syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	}
	for _, ns := range tb.madeNS {
		runCmd("ip", "netns", "del", ns)
	}
	os.RemoveAll(tb.l.dir)
}

// start runs the DUT's processes in its namespace, each the leader of a
// process group so its CPU and memory (and its children's) are found.
func (tb *testbed) start(spec dutSpec) error {
	for name, text := range spec.files {
		if err := os.WriteFile(tb.l.path(name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	for _, pr := range spec.procs {
		outPath := tb.l.path(pr.name + ".out")
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		cmd := exec.Command("ip", append([]string{"netns", "exec", tb.dutNS}, pr.args...)...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			f.Close()
			return fmt.Errorf("starting %s: %v", pr.name, err)
		}
		p := &dutProc{name: pr.name, cmd: cmd, out: outPath, exited: make(chan struct{})}
		tb.procs = append(tb.procs, p)
		go func() {
			p.err = cmd.Wait()
			f.Close()
			close(p.exited)
		}()
		if pr.name == "zebra" {
			// bgpd connects to zebra's socket at start.
			if err := tb.waitFile(tb.l.path("zserv.api"), p, 10*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

func (tb *testbed) waitFile(path string, p *dutProc, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if err := tb.dead(); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not create %s within %v", p.name, path, bound)
}

// dead says which DUT process exited, with the end of its output.
func (tb *testbed) dead() error {
	for _, p := range tb.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, tail(p.out, 5))
		default:
		}
	}
	return nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (tb *testbed) groups() []int {
	var g []int
	for _, p := range tb.procs {
		g = append(g, p.cmd.Process.Pid)
	}
	return g
}

func (tb *testbed) usage(withPss bool) (usage, error) {
	return groupUsage("/proc", tb.groups(), withPss)
}

// waitIdle waits, at most bound, until the DUT has used no more than one
// clock tick of CPU in each of three 100 ms windows: the work the last
// phase caused is done. It returns the DUT's usage then.
func (tb *testbed) waitIdle(ctx context.Context, bound time.Duration) (usage, error) {
	deadline := time.Now().Add(bound)
	last, err := tb.usage(false)
	if err != nil {
		return last, err
	}
	quiet := 0
	for quiet < 3 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := tb.dead(); err != nil {
			return last, err
		}
		u, err := tb.usage(false)
		if err != nil {
			return u, err
		}
		if u.cpuTicks <= last.cpuTicks+1 {
			quiet++
		} else {
			quiet = 0
		}
		last = u
	}
	return last, nil
}

// listenIn opens a TCP listener on addr:179 inside namespace ns. The
// socket stays in ns whichever thread later uses it.
func listenIn(ns string, addr netip.Addr) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(addr, 179).String())
		return err
	})
	return ln, err
}

// inNetns runs fn on a thread switched into the lab namespace ns.
func inNetns(ns string, fn func() error) error { return nsrun.Do(nsrun.Path(ns), fn) }

// fibRoutes counts the announced prefixes in the main routing table of
// the DUT's namespace, and those among them with two or more next hops.
// Routes through a nexthop group are dumped with their next hops too (the
// kernel's nexthop_compat_mode, on by default).
func (tb *testbed) fibRoutes(set Prefixes) (n, multi int, err error) {
	ns, err := netns.GetFromName(tb.dutNS)
	if err != nil {
		return 0, 0, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		p, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		ones, _ := r.Dst.Mask.Size()
		if !ok {
			continue
		}
		if _, in := set.Index(netip.PrefixFrom(p, ones)); in {
			n++
			if len(r.MultiPath) >= 2 {
				multi++
			}
		}
	}
	return n, multi, nil
}

// runOne is one run of daemon d: a fresh testbed, sessions up, load,
// withdraw. It reports whether the DUT programmed the kernel.
func runOne(ctx context.Context, d string, o *Options) (m Metrics, fib bool, err error) {
	set, err := NewPrefixes(o.Prefixes)
	if err != nil {
		return m, false, err
	}
	tb, err := newTestbed(o.ECMP, o.FIB && daemons[d].canFIB)
	if err != nil {
		return m, false, err
	}
	defer tb.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The speakers listen before the DUT starts, so its first connection
	// attempt succeeds.
	sinkLink := tb.l.sink()
	tab := newTable(set, Expect{ASPath: []uint32{dutAS, feederAS}, NextHop: sinkLink.dut})
	var speakers []*speaker
	var feeders []*speaker
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, k := range tb.l.links {
		var onUpdate func(*wire.Update, bool, time.Time)
		if k.role == "sink" {
			onUpdate = tab.apply
		}
		sp, err := newSpeaker(k.role, speakerConfig(k.peerAS, k.peerID, dutAS), onUpdate)
		if err != nil {
			return m, false, err
		}
		ln, err := listenIn(tb.peerNS, k.peer)
		if err != nil {
			return m, false, fmt.Errorf("%s: listening on %s: %v", k.role, k.peer, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); sp.serve(ctx, ln, k.dut) }()
		speakers = append(speakers, sp)
		if k.role != "sink" {
			feeders = append(feeders, sp)
		}
	}
	spec, err := tb.l.spec(d, o)
	if err != nil {
		return m, false, err
	}
	if err := tb.start(spec); err != nil {
		return m, false, err
	}

	// Phase 1: sessions up.
	upCtx, upCancel := context.WithTimeout(ctx, o.Timeout)
	defer upCancel()
	for _, sp := range speakers {
		if err := sp.waitEstablished(upCtx); err != nil {
			if derr := tb.dead(); derr != nil {
				return m, false, derr
			}
			return m, false, fmt.Errorf("sessions up: %v", err)
		}
	}
	// Steady state, not start-up, is measured: timers a daemon runs when
	// a session comes up (FRR's update-group coalesce time, 1 s and 50 ms
	// per peer) must have run out before the first UPDATE.
	select {
	case <-ctx.Done():
		return m, false, ctx.Err()
	case <-time.After(settle):
	}
	if _, err := tb.waitIdle(ctx, 10*time.Second); err != nil {
		return m, false, err
	}
	idle, err := tb.usage(true)
	if err != nil {
		return m, false, err
	}
	m.IdlePssMiB = float64(idle.pss) / (1 << 20)
	m.CPUUpS = float64(idle.cpuTicks) / clockTicks
	pre := tab.state()
	if pre.announced > 0 {
		return m, false, fmt.Errorf("the DUT sent the sink %d prefixes before the feeder announced any", pre.announced)
	}

	// Phase 2: load.
	var ann [][]byte
	for i, f := range feeders {
		opts := f.options()
		attrs := &wire.PathAttrs{
			Origin: wire.OriginIGP, HasOrigin: true,
			ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{feederAS}}}, HasASPath: true,
			NextHop: tb.l.links[i].peer,
		}
		b, _, err := Announcements(set, attrs, o.PerUpdate, &opts)
		if err != nil {
			return m, false, err
		}
		ann = append(ann, b)
	}
	before, err := tb.usage(false)
	if err != nil {
		return m, false, err
	}
	t0 := time.Now()
	if err := sendAll(feeders, ann); err != nil {
		return m, false, fmt.Errorf("load: %v", err)
	}
	st, err := tb.waitTable(ctx, o.Timeout, tab, speakers, func(s tableState) bool { return !s.fullAt.IsZero() }, set.N, "the sink to hold every prefix")
	if err != nil {
		return m, false, fmt.Errorf("load: %v", err)
	}
	m.LoadS = st.fullAt.Sub(t0).Seconds()
	m.SinkUpdates = float64(st.updates - pre.updates) // less an End-of-RIB sent at start-up
	m.PrefixesPerS = float64(set.N) / m.LoadS
	if spec.fib {
		at, err := tb.waitFIB(ctx, set, o.ECMP, o.Timeout)
		if err != nil {
			return m, false, err
		}
		m.FIBS = at.Sub(t0).Seconds()
	}
	loaded, err := tb.waitIdle(ctx, 15*time.Second)
	if err != nil {
		return m, false, err
	}
	if err := tab.state().verify(set.N); err != nil {
		return m, false, fmt.Errorf("load: %v", err)
	}
	withPss, err := tb.usage(true)
	if err != nil {
		return m, false, err
	}
	m.PssMiB = float64(withPss.pss) / (1 << 20)
	m.CPULoadS = float64(loaded.cpuTicks-before.cpuTicks) / clockTicks

	// Phase 3: withdraw.
	var wd [][]byte
	for _, f := range feeders {
		opts := f.options()
		b, _, err := Withdrawals(set, o.PerUpdate, &opts)
		if err != nil {
			return m, false, err
		}
		wd = append(wd, b)
	}
	before, err = tb.usage(false)
	if err != nil {
		return m, false, err
	}
	t1 := time.Now()
	if err := sendAll(feeders, wd); err != nil {
		return m, false, fmt.Errorf("withdraw: %v", err)
	}
	st, err = tb.waitTable(ctx, o.Timeout, tab, speakers, func(s tableState) bool { return !s.emptyAt.IsZero() }, set.N, "the sink to have every prefix withdrawn")
	if err != nil {
		return m, false, fmt.Errorf("withdraw: %v", err)
	}
	m.WithdrawS = st.emptyAt.Sub(t1).Seconds()
	done, err := tb.waitIdle(ctx, 15*time.Second)
	if err != nil {
		return m, false, err
	}
	m.CPUWithdrawS = float64(done.cpuTicks-before.cpuTicks) / clockTicks
	m.CPUS = m.CPULoadS + m.CPUWithdrawS
	if st := tab.state(); st.unexpected > 0 || st.wrong > 0 || st.count != 0 {
		return m, false, fmt.Errorf("withdraw: sink holds %d prefixes; %d unexpected, %d wrong: %s", st.count, st.unexpected, st.wrong, st.firstBad)
	}
	return m, spec.fib, nil
}

// sendAll writes each feeder's messages, all feeders at once.
func sendAll(feeders []*speaker, msgs [][]byte) error {
	errs := make([]error, len(feeders))
	var wg sync.WaitGroup
	for i, f := range feeders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.writeRaw(msgs[i])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitTable polls the sink's table until cond holds, a session or the DUT
// fails, or bound passes.
func (tb *testbed) waitTable(ctx context.Context, bound time.Duration, tab *table, speakers []*speaker, cond func(tableState) bool, n int, what string) (tableState, error) {
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var probe int
	for {
		s := tab.state()
		if cond(s) {
			return s, nil
		}
		if s.unexpected > 0 || s.wrong > 0 {
			return s, fmt.Errorf("sink got %d prefixes never announced and %d with the wrong AS path or next hop; first: %s", s.unexpected, s.wrong, s.firstBad)
		}
		probe++
		if probe%10 == 0 {
			if err := tb.dead(); err != nil {
				return s, err
			}
			for _, sp := range speakers {
				if err := sp.err(); err != nil {
					return s, err
				}
			}
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("timed out after %v waiting for %s: it holds %d of %d prefixes", bound, what, s.count, n)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitFIB waits, at most bound, until the kernel of the DUT's namespace
// holds a route for every announced prefix, through both feeders when
// ecmp.
func (tb *testbed) waitFIB(ctx context.Context, set Prefixes, ecmp bool, bound time.Duration) (time.Time, error) {
	deadline := time.Now().Add(bound)
	for {
		n, multi, err := tb.fibRoutes(set)
		if err != nil {
			return time.Time{}, fmt.Errorf("reading the DUT's routing table: %v", err)
		}
		if n == set.N && (!ecmp || multi == set.N) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			if ecmp {
				return time.Time{}, fmt.Errorf("timed out after %v waiting for the DUT to install the routes: the kernel has %d of %d, %d with two next hops", bound, n, set.N, multi)
			}
			return time.Time{}, fmt.Errorf("timed out after %v waiting for the DUT to install the routes: the kernel has %d of %d", bound, n, set.N)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
