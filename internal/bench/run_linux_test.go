package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

func benchNamespaces(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "cb") {
			m[f[0]] = true
		}
	}
	return m
}

// TestRunClosdAndBIRD runs the whole benchmark with a small table against
// closd and BIRD, with a second feeder (ECMP) and the kernel FIB on, so
// every code path of a run is taken: the sink must have seen every
// prefix with the right path (the run fails otherwise), both daemons must
// have installed every route, and nothing of the runs may be left.
func TestRunClosdAndBIRD(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	testenv.RequireTool(t, "bird")
	goTool := testenv.RequireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "closd")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/closnet/clos/cmd/closd").CombinedOutput(); err != nil {
		t.Fatalf("building closd: %v\n%s", err, out)
	}
	var mu sync.Mutex
	ours := map[string]bool{}
	prefixUsed = func(p string) { mu.Lock(); ours[p] = true; mu.Unlock() }
	defer func() { prefixUsed = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress strings.Builder
	r, err := Run(ctx, Options{
		Daemons: []string{Closd, BIRD}, Prefixes: 2000, ECMP: true, FIB: true,
		Closd: bin, Timeout: 30 * time.Second, Out: &progress,
	})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for ns := range benchNamespaces(t) {
		if ours[ns[:min(len(ns), 8)]] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	if len(ours) == 0 {
		t.Errorf("no run prefix reported")
	}
	mu.Unlock()
	if len(r.Daemons) != 2 {
		t.Fatalf("report of %d daemons", len(r.Daemons))
	}
	for _, d := range r.Daemons {
		if d.Status != StatusOK {
			t.Errorf("%s: %s: %s", d.Daemon, d.Status, d.Reason)
			continue
		}
		if d.Version == "" || !d.FIB || len(d.Runs) != 1 || d.Median == nil || d.Ratio == nil {
			t.Errorf("%s: result %+v", d.Daemon, d)
			continue
		}
		m := d.Runs[0]
		if m.LoadS <= 0 || m.WithdrawS <= 0 || m.PssMiB <= 0 || m.IdlePssMiB <= 0 || m.CPUS < 0 || m.CPUS != m.CPULoadS+m.CPUWithdrawS || m.SinkUpdates < 1 || m.CPUUpS < 0 {
			t.Errorf("%s: metrics %+v", d.Daemon, m)
		}
		if m.FIBS < m.LoadS {
			t.Errorf("%s: the kernel had every route after %v s, before the sink after %v s: FIB time is sampled after the sink's", d.Daemon, m.FIBS, m.LoadS)
		}
		if got := m.PrefixesPerS * m.LoadS; got < 1999 || got > 2001 {
			t.Errorf("%s: prefixes/s x load time = %v, want 2000", d.Daemon, got)
		}
	}
	if r.Daemons[0].Ratio != nil && r.Daemons[0].Ratio.LoadS != 1 {
		t.Errorf("closd's ratio to itself: %+v", r.Daemons[0].Ratio)
	}
}
