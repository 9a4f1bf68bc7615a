package lab

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// startSh runs a shell script as a child reaped in the background, as
// closd is once started by up.
func startSh(t *testing.T, script string, env ...string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd.Process.Pid
}

func TestReadProc(t *testing.T) {
	pid := startSh(t, "exec sleep 30", "CLOS_RESTART_TEST=yes")
	var pc procCmd
	var err error
	// Until exec, the child is still sh.
	for try := 0; try < 100; try++ {
		if pc, err = readProc(pid); err == nil && len(pc.Args) > 0 && pc.Args[0] == "sleep" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !slices.Equal(pc.Args, []string{"sleep", "30"}) || !slices.Contains(pc.Env, "CLOS_RESTART_TEST=yes") || pc.Dir == "" || pc.Dir == "/" {
		t.Errorf("readProc = %+v, %v", pc, err)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Errorf("readProc of no process succeeded")
	}
}

func TestStopProc(t *testing.T) {
	pid := startSh(t, "exec sleep 30")
	start := time.Now()
	if killed, err := stopProc(pid, "SIGTERM", 5*time.Second); killed || err != nil || alive(pid) {
		t.Errorf("stopping sleep: killed %v, %v, alive %v", killed, err, alive(pid))
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("sleep took %s to stop on SIGTERM", d)
	}
	// A daemon that ignores SIGTERM is killed once the bound is over.
	pid = startSh(t, `trap "" TERM; exec sleep 30`)
	time.Sleep(100 * time.Millisecond)
	if killed, err := stopProc(pid, "SIGTERM", 300*time.Millisecond); !killed || err != nil || alive(pid) {
		t.Errorf("stopping a process ignoring SIGTERM: killed %v, %v, alive %v", killed, err, alive(pid))
	}
	// SIGINT, as FRR's tooling stops its daemons.
	pid = startSh(t, `trap "exit 0" INT; while :; do sleep 0.05; done`)
	time.Sleep(100 * time.Millisecond)
	if killed, err := stopProc(pid, "SIGINT", 5*time.Second); killed || err != nil || alive(pid) {
		t.Errorf("stopping with SIGINT: killed %v, %v, alive %v", killed, err, alive(pid))
	}
	if _, err := stopProc(1<<30, "SIGTERM", time.Second); err == nil {
		t.Errorf("stopping no process succeeded")
	}
	if _, err := stopProc(pid, "SIGHUP", time.Second); err == nil {
		t.Errorf("stopping with SIGHUP accepted")
	}
}

// TestLabRestart restarts leaf1's daemon under measure, with traffic
// between leaf1's servers and leaf2's, on a closd fabric and on an FRR
// one: the daemon really restarted (new pid, the old one gone, the state
// file updated, the other daemons untouched), its sessions came back and
// the fabric passes check. closd must lose no probe; FRR's loss is logged.
func TestLabRestart(t *testing.T) {
	requireLabTools(t, true)
	_, path := seed003(t)
	closd := buildClosd(t)
	for _, kind := range []string{KindClosd, KindFRR} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			l := upLab(t, ctx, path, Options{Kind: kind, Closd: closd})
			n, _ := l.s.Node("leaf1")
			before := slices.Clone(n.Pids)
			logged := 0
			if n.Log != "" {
				b, _ := os.ReadFile(n.Log)
				logged = len(b)
			}
			a, err := RestartAction(l.s, l.f, "leaf1", RestartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := Measure(ctx, l.s, l.f, a, MeasureOptions{Flows: 16, Rate: 200, Duration: 1500 * time.Millisecond}, ioDiscard{})
			if err != nil {
				t.Fatalf("measure -- restart leaf1: %v", err)
			}
			var out strings.Builder
			m.Print(&out)
			t.Logf("%s: measure -- restart leaf1:\n%s", kind, out.String())
			sig := map[string]string{KindClosd: "SIGTERM", KindFRR: "SIGINT"}[kind]
			if m.Pairs != 8 || m.Sent < 16*200*3 || m.Unrecovered != 0 || m.Extra["killed"] != false || m.Extra["established_s"] == nil || m.Extra["signal"] != sig {
				t.Errorf("measure -- restart leaf1: %+v", m)
			}
			// closd restarts gracefully (graceful-restart mode restart, the
			// default with the FIB on): leaf1's kernel routes stay, its
			// peers keep its routes and BFD's AdminDown does not drop them,
			// so not a probe is lost and no other node's FIB moves. leaf1's
			// own FIB does not move either: the new closd adopts its routes
			// and defers route selection until every spine's End-of-RIB
			// (RFC 4724 4.1), so one spine back before the other does not
			// shrink its ECMP routes.
			// FRR 8.4 stops bgpd with a NOTIFICATION and zebra removes its
			// routes: it loses traffic, logged for comparison.
			if kind == KindClosd {
				if m.Lost != 0 || m.FlowsHit != 0 || m.MaxGapMS != 0 {
					t.Errorf("closd restart of leaf1 lost %d probes in %d flows (max gap %.1f ms); want none", m.Lost, m.FlowsHit, m.MaxGapMS)
				}
				for node, c := range m.RoutesChangedByNode {
					if c != 0 {
						t.Errorf("closd restart of leaf1 changed %d kernel routes on %s; want none on any node (%v)", c, node, m.RoutesChangedByNode)
					}
				}
			}

			s, _, err := Open(l.base, l.name)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := s.Node("leaf1")
			_, idx, _ := restartTarget(s, "leaf1")
			if len(after.Pids) != len(before) || m.Extra["old_pid"] != before[idx] || m.Extra["new_pid"] != after.Pids[idx] {
				t.Fatalf("pids %v -> %v in the state; measure reported %v", before, after.Pids, m.Extra)
			}
			for i, p := range after.Pids {
				switch {
				case i == idx && (p == before[i] || alive(before[i]) || !alive(p)):
					t.Errorf("leaf1's %s: pid %d -> %d, old alive %v, new alive %v", daemonName(after), before[i], p, alive(before[i]), alive(p))
				case i != idx && (p != before[i] || !alive(p)):
					t.Errorf("leaf1's daemon %d (%s) was touched: pid %d -> %d, alive %v", i, frrDaemons[i], before[i], p, alive(p))
				}
			}
			if n.Log != "" {
				b, _ := os.ReadFile(n.Log)
				if len(b) <= logged || !strings.Contains(string(b[logged:]), "session established") {
					t.Errorf("the restarted closd logged no session to %s:\n%s", n.Log, b[min(logged, len(b)):])
				}
			}
			l.check("after restarting leaf1")
		})
	}
}
