package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
	"github.com/closnet/clos/internal/testenv"
)

var (
	closdOnce sync.Once
	closdBin  string
	closdErr  error
)

// TestMain removes the closd buildClosd made once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if closdBin != "" {
		_ = os.RemoveAll(filepath.Dir(closdBin))
	}
	os.Exit(code)
}

// buildClosd builds closd from this tree once per test binary.
func buildClosd(t *testing.T) string {
	t.Helper()
	testenv.RequireTool(t, "go")
	closdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clos-lab-test-")
		if err != nil {
			closdErr = err
			return
		}
		closdBin = filepath.Join(dir, "closd")
		if out, err := exec.Command("go", "build", "-o", closdBin, "github.com/closnet/clos/cmd/closd").CombinedOutput(); err != nil {
			closdErr = fmt.Errorf("building closd: %v\n%s", err, out)
		}
	})
	if closdErr != nil {
		t.Fatal(closdErr)
	}
	return closdBin
}

func requireLabTools(t *testing.T, frr bool) {
	t.Helper()
	testenv.RequireRoot(t)
	tools := []string{"ip", "nft", "ping", "sysctl"}
	if frr {
		tools = append(tools, "vtysh", FRRDir+"/zebra", FRRDir+"/bgpd", FRRDir+"/bfdd")
	}
	for _, tool := range tools {
		testenv.RequireTool(t, tool)
	}
}

func randName(prefix string) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return prefix + hex.EncodeToString(rnd[:])
}

// testLab is a lab brought up for one test, taken down (and checked for
// leftovers) when the test ends.
type testLab struct {
	t          *testing.T
	ctx        context.Context
	s          *State
	f          *plan.Fabric
	base, name string
}

func upLab(t *testing.T, ctx context.Context, path string, o Options) *testLab {
	t.Helper()
	o.Name, o.Base = randName("t"), t.TempDir()
	if o.Wait == 0 {
		o.Wait = 45 * time.Second
	}
	t.Cleanup(func() {
		if t.Failed() {
			diagnose(t, o.Base, o.Name)
		}
		if err := Down(context.Background(), o.Base, o.Name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if left := Leftovers(context.Background(), o.Base, o.Name); len(left) > 0 {
			t.Errorf("after down, lab %s left: %v", o.Name, left)
		}
	})
	var progress bytes.Buffer
	o.Out = &progress
	if _, err := Up(ctx, path, o); err != nil {
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	// A fresh load, as another process would see the lab.
	s, f, err := Open(o.Base, o.Name)
	if err != nil {
		t.Fatal(err)
	}
	return &testLab{t: t, ctx: ctx, s: s, f: f, base: o.Base, name: o.Name}
}

// diagnose logs what each routing daemon of a failed test's lab knows of
// its sessions, so that a failure seen once in CI can be explained: the
// tail of closd's log, FRR's BGP and BFD summaries.
func diagnose(t *testing.T, base, name string) {
	s, _, err := Open(base, name)
	if err != nil {
		t.Logf("diagnose: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range s.Nodes {
		switch n.Kind {
		case KindClosd:
			data, err := os.ReadFile(n.Log)
			if err != nil {
				t.Logf("diagnose %s: %v", n.Name, err)
				continue
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			t.Logf("diagnose %s: last lines of %s:\n%s", n.Name, n.Log, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		case KindFRR:
			for _, cmd := range []string{"show bgp summary", "show bfd peers brief"} {
				out, _ := nsRun(ctx, n.Netns, "vtysh", "-N", n.Netns, "-c", cmd)
				t.Logf("diagnose %s: %s:\n%s", n.Name, cmd, out)
			}
		}
	}
}

// check runs Check until it passes (routes move within BFD's detection
// time and sessions take a connect retry to come back), at most ~15 s.
func (l *testLab) check(what string) *CheckResult {
	l.t.Helper()
	if err := waitConverged(l.ctx, l.s, l.f, 30*time.Second, ioDiscard{}); err != nil {
		l.t.Fatalf("check %s: %v", what, err)
	}
	var r *CheckResult
	var err error
	for try := 0; try < 15; try++ {
		var out bytes.Buffer
		if r, err = Check(l.ctx, l.s, l.f, &out); err != nil {
			l.t.Fatalf("check %s: %v", what, err)
		}
		if r.OK() {
			return r
		}
		time.Sleep(time.Second)
	}
	l.t.Fatalf("check %s: %v", what, r.Missing)
	return nil
}

// reachable pings every server pair until all answer, at most ~15 s.
func (l *testLab) reachable(what string) {
	l.t.Helper()
	var r *CheckResult
	var err error
	for try := 0; try < 15; try++ {
		if r, err = Check(l.ctx, l.s, l.f, ioDiscard{}); err != nil {
			l.t.Fatalf("%s: %v", what, err)
		}
		if r.Reached == r.Pairs {
			return
		}
		time.Sleep(time.Second)
	}
	l.t.Fatalf("%s: %d of %d server pairs reached: %v", what, r.Reached, r.Pairs, r.Missing)
}

type ioDiscard struct{}

func (ioDiscard) Write(b []byte) (int, error) { return len(b), nil }

func (l *testLab) sessionsUp() {
	l.t.Helper()
	st, err := GetStatus(l.ctx, l.s, l.f)
	if err != nil {
		l.t.Fatal(err)
	}
	est := 0
	for _, x := range st.Sessions {
		if x.State == "Established" {
			est++
			if x.Prefixes <= 0 {
				l.t.Errorf("status: session %s has received %d prefixes", x, x.Prefixes)
			}
		}
	}
	if want := 2 * l.f.Summary.BGPSessions; est != want || len(st.Sessions) != want {
		l.t.Errorf("status: %d of %d session ends established, want %d", est, len(st.Sessions), want)
	}
	for _, n := range st.Nodes {
		if n.Kind != "" && (!n.Running || n.Prefixes <= 0) {
			l.t.Errorf("status: %s (%s) running %v with %d BGP prefixes (%s)", n.Name, n.Kind, n.Running, n.Prefixes, n.Error)
		}
	}
	var tbl bytes.Buffer
	st.Print(&tbl)
	if !strings.Contains(tbl.String(), "BGP-PREFIXES") || strings.Count(tbl.String(), "Established") != est {
		l.t.Errorf("status table:\n%s", tbl.String())
	}
}

// everyLink fails each link in turn, checks that the servers still reach
// each other when the link is between switches, restores it and checks
// the whole fabric again.
func (l *testLab) everyLink() {
	l.t.Helper()
	for _, ln := range l.f.Links {
		end := endName(ln.A)
		if err := Fail(l.ctx, l.s, l.f, end, false); err != nil {
			l.t.Fatal(err)
		}
		if got := operState(l.ctx, Netns(l.s.Prefix, ln.B.Node), ln.B.Interface); got != "down" {
			l.t.Errorf("%s is %s after fail %s, want down", endName(ln.B), got, end)
		}
		if ln.Kind == plan.KindFabric {
			l.reachable("with " + ln.Name + " failed")
		}
		if err := Restore(l.ctx, l.s, l.f, endName(ln.B)); err != nil {
			l.t.Fatal(err)
		}
		if r := l.check("after restoring " + ln.Name); len(r.Excluded) != 0 {
			l.t.Errorf("check after restoring %s excluded %v", ln.Name, r.Excluded)
		}
	}
}

// TestLabKinds runs seed-003 with closd everywhere, FRR everywhere and
// mixed (FRR spines, closd leaves) through the life of a lab: up, status,
// check, fail and restore of every link with a check after each, the other
// failure modes, down, and nothing left behind.
func TestLabKinds(t *testing.T) {
	requireLabTools(t, true)
	_, path := seed003(t)
	closd := buildClosd(t)
	for _, tc := range []struct {
		name  string
		kind  string
		nodes map[string]string
	}{
		{"closd", KindClosd, nil},
		{"frr", KindFRR, nil},
		{"mixed", KindFRR, map[string]string{"leaf1": KindClosd, "leaf2": KindClosd}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			l := upLab(t, ctx, path, Options{Kind: tc.kind, NodeKinds: tc.nodes, Closd: closd})
			if _, err := Up(ctx, path, Options{Name: l.name, Base: l.base}); err == nil || !strings.Contains(err.Error(), "already up") {
				t.Errorf("second up of %s: %v; want already up", l.name, err)
			}
			l.sessionsUp()
			r := l.check("after up")
			if r.Reached != 12 || len(r.PerLink) != 2 {
				t.Errorf("check after up: %d pairs reached, per-link %v; want 12 and 2 uplinks", r.Reached, r.PerLink)
			}
			l.everyLink()
			l.otherModes()
			if err := Down(ctx, l.base, l.name); err != nil {
				t.Fatal(err)
			}
			if left := Leftovers(ctx, l.base, l.name); len(left) > 0 {
				t.Errorf("after down, lab %s left: %v", l.name, left)
			}
		})
	}
}

// otherModes: a silent link failure (measured: only BFD can see it), a
// crashed spine and an isolated spine, each restored and checked.
func (l *testLab) otherModes() {
	t := l.t
	t.Helper()
	a, err := FailAction(l.s, l.f, "leaf1:swp2", FailOptions{Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Flows = func() ([]FlowEnds, error) { return PairsWith(l.f, "server1") }
	m, err := Measure(l.ctx, l.s, l.f, a, MeasureOptions{Flows: 16, Rate: 100, Duration: 2500 * time.Millisecond}, ioDiscard{})
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	t.Logf("measure leaf1:swp2 --silent: %+v", m)
	// BFD in this plan detects in 300 ms x 5: flows hashed onto the link
	// lose packets until then, 16 flows make sure some are.
	if m.Pairs != 6 || m.Sent < 16*300 || m.Lost == 0 || m.FlowsHit == 0 || m.FlowsHit == 16 || m.Unrecovered != 0 ||
		m.MaxGapMS < 100 || m.MaxGapMS > 2500 || m.ReconvergedS <= 0 || m.ReconvergedS > 2.5 {
		t.Errorf("measure of a silent failure: %+v", m)
	}
	// Once BFD saw it, leaf1 and spine2 route around the link; after the
	// restore every FIB is as before.
	if m.RoutesChanged == 0 || m.RoutesChangedByNode["leaf1"] == 0 || m.ECMPRestoredS == nil || m.FIBError != "" {
		t.Errorf("routes in the measure of a silent failure: changed %d by node %v, ECMP back after %v (%d still different), FIB error %q",
			m.RoutesChanged, m.RoutesChangedByNode, m.ECMPRestoredS, m.FIBNotRestored, m.FIBError)
	} else {
		t.Logf("routes changed %d %v, ECMP back %.3f s after the undo", m.RoutesChanged, m.RoutesChangedByNode, *m.ECMPRestoredS)
	}
	if len(l.s.Failures) != 0 {
		t.Errorf("measure left failures applied: %v", l.s.Failures)
	}
	if out, _ := nsRun(l.ctx, Netns(l.s.Prefix, "leaf1"), "nft", "list", "tables"); strings.Contains(out, nftTable(l.s.Prefix, "swp2")) {
		t.Errorf("restore left the nft table in leaf1: %q", out)
	}

	// A crashed spine: its daemons die, BFD on the leaves notices.
	spine, _ := l.s.Node("spine3")
	pids := append([]int(nil), spine.Pids...)
	if err := Fail(l.ctx, l.s, l.f, "spine3", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		for try := 0; try < 20 && alive(p); try++ {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(p) {
			t.Errorf("spine3's daemon %d survived fail spine3", p)
		}
	}
	l.reachable("with spine3 crashed")
	if r := l.check("with spine3 crashed"); len(r.Excluded) != 1 {
		t.Errorf("check with spine3 crashed excluded %v, want leaf1:swp1", r.Excluded)
	}
	if err := Restore(l.ctx, l.s, l.f, "spine3"); err != nil {
		t.Fatal(err)
	}
	if spine, _ = l.s.Node("spine3"); len(spine.Pids) == 0 || !alive(spine.Pids[0]) {
		t.Errorf("spine3 not restarted: %v", spine.Pids)
	}
	l.check("after restarting spine3")

	// An isolated spine: its links lose carrier, its daemon runs on.
	if err := FailWith(l.ctx, l.s, l.f, "spine4", FailOptions{Isolate: true}); err != nil {
		t.Fatal(err)
	}
	if err := Fail(l.ctx, l.s, l.f, "leaf2:swp2", false); err == nil {
		t.Errorf("failing a link of isolated spine4 was accepted")
	}
	if got := operState(l.ctx, Netns(l.s.Prefix, "leaf1"), "swp2"); got != "down" {
		t.Errorf("leaf1:swp2 is %s with spine4 isolated, want down", got)
	}
	l.reachable("with spine4 isolated")
	if err := Restore(l.ctx, l.s, l.f, "spine4"); err != nil {
		t.Fatal(err)
	}
	if err := Restore(l.ctx, l.s, l.f, "spine4"); err == nil {
		t.Errorf("restoring spine4 twice was accepted")
	}
	l.check("after restoring spine4")
}

// TestLab2x8 runs a fabric of 2 spines and 8 leaves with closd: check
// passes, and with a spine isolated every server still reaches every other.
func TestLab2x8(t *testing.T) {
	requireLabTools(t, false)
	_, path := planned(t, func(in *plan.Intent) {
		in.Name, in.LeavesPerPod, in.ServersPerLeaf = "lab-2x8", 8, 1
		in.Capacity.ServersPerLeaf = 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := upLab(t, ctx, path, Options{Kind: KindClosd, Closd: buildClosd(t), Wait: 60 * time.Second})
	if len(l.f.Nodes) != 10 || len(l.f.Servers) != 8 {
		t.Fatalf("2x8 plan has %d switches and %d servers", len(l.f.Nodes), len(l.f.Servers))
	}
	if r := l.check("after up"); r.Reached != 56 {
		t.Errorf("check: %d of 56 pairs reached", r.Reached)
	}
	spine := l.f.Nodes[0].Name
	for _, n := range l.f.Nodes {
		if n.Role == plan.RoleSpine {
			spine = n.Name
			break
		}
	}
	if err := FailWith(ctx, l.s, l.f, spine, FailOptions{Isolate: true}); err != nil {
		t.Fatal(err)
	}
	l.reachable("with " + spine + " isolated")
	if err := Restore(ctx, l.s, l.f, spine); err != nil {
		t.Fatal(err)
	}
	l.check("after restoring " + spine)
}

// TestDownCleansHalfMadeLab leaves namespaces and a root veth with a lab's
// prefix but no state, as a crashed up would, and down must remove them.
func TestDownCleansHalfMadeLab(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "h" + hex.EncodeToString(rnd[:])
	p := Prefix(name)
	base := t.TempDir()
	ctx := context.Background()
	t.Cleanup(func() { _ = Down(ctx, base, name) })
	for _, args := range [][]string{
		{"ip", "netns", "add", Netns(p, "leaf1")},
		{"ip", "link", "add", vethName(p, 0, 'a'), "type", "veth", "peer", "name", vethName(p, 0, 'b')},
	} {
		if _, err := run(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	sleeper := exec.Command("ip", "netns", "exec", Netns(p, "leaf1"), "sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	if left := Leftovers(ctx, base, name); len(left) != 3 {
		t.Errorf("leftovers before down: %v; want the netns and both veth ends", left)
	}
	if err := Down(ctx, base, name); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("a process in the lab's namespace survived down")
		_ = sleeper.Process.Kill()
	}
	if left := Leftovers(ctx, base, name); len(left) > 0 {
		t.Errorf("after down: %v", left)
	}
}

// TestDownAllAfterCrash kills an up half way (the process dies, the
// daemons it started live on), removes the state dir as a reboot of /run
// would, and down --all must still find the lab by its markers and leave
// nothing behind.
func TestDownAllAfterCrash(t *testing.T) {
	if os.Getenv("CLOS_LAB_CRASH_UP") != "" {
		// The child: bring the lab up until the parent kills it.
		_, _ = Up(context.Background(), os.Getenv("CLOS_LAB_CRASH_UP"), Options{Name: os.Getenv("CLOS_LAB_CRASH_NAME"),
			Base: os.Getenv("CLOS_LAB_DIR"), Kind: KindClosd, Closd: os.Getenv("CLOS_LAB_CRASH_CLOSD"), Wait: time.Minute})
		os.Exit(0)
	}
	requireLabTools(t, false)
	_, path := seed003(t)
	closd := buildClosd(t)
	name, base := randName("c"), t.TempDir()
	ctx := context.Background()
	t.Cleanup(func() { _ = Down(ctx, base, name) })
	child := exec.Command(os.Args[0], "-test.run=^TestDownAllAfterCrash$")
	child.Env = append(os.Environ(), "CLOS_LAB_CRASH_UP="+path, "CLOS_LAB_CRASH_NAME="+name, "CLOS_LAB_DIR="+base, "CLOS_LAB_CRASH_CLOSD="+closd)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once the first daemon runs: namespaces, veths and a closd
	// exist, the lab is not up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := Load(base, name)
		if err == nil && len(s.Nodes) > 0 && len(s.Nodes[0].Pids) > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = child.Process.Kill()
			_ = child.Wait()
			t.Fatalf("up started no daemon in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if left := Leftovers(ctx, base, name); len(left) < 9 {
		t.Fatalf("a killed up left only %v; want namespaces and the state dir", left)
	}
	if err := os.RemoveAll(filepath.Join(base, name)); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if ns, err := Found(ctx, other); err != nil || len(ns) != 0 {
		t.Errorf("another lab dir finds %v, %v; want nothing", ns, err)
	}
	ns, err := Found(ctx, base)
	if err != nil || len(ns) != 1 || ns[0] != name {
		t.Fatalf("Found(%s) = %v, %v; want [%s] by its markers", base, ns, err, name)
	}
	if err := Down(ctx, base, ns[0]); err != nil {
		t.Fatal(err)
	}
	if left := Leftovers(ctx, base, name); len(left) > 0 {
		t.Errorf("after down: %v", left)
	}
	if out, _ := run(ctx, "ip", "netns", "list"); strings.Contains(out, Prefix(name)+"-") {
		t.Errorf("namespaces left: %s", out)
	}
}

func readFabric(s *State) (*plan.Fabric, error) { return plan.ReadFabric(s.Fabric) }
