package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/closnet/clos/internal/testenv"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// TestLabFRR runs seed-003 under FRR through the whole life of a lab: up,
// status, check, a failed uplink that check must route around, restore and
// down, and then nothing with the lab's prefix may remain.
func TestLabFRR(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"ip", "vtysh", "nft", "ping", "sysctl", FRRDir + "/zebra", FRRDir + "/bgpd", FRRDir + "/bfdd"} {
		testenv.RequireTool(t, tool)
	}
	f, path := seed003(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "t" + hex.EncodeToString(rnd[:])
	base := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t.Cleanup(func() {
		if err := Down(context.Background(), base, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	var progress bytes.Buffer
	s, err := Up(ctx, path, Options{Name: name, Base: base, Wait: 40 * time.Second, Out: &progress})
	if err != nil {
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "8/8 session ends established") {
		t.Errorf("up's progress does not report the sessions:\n%s", progress.String())
	}
	if _, err := Up(ctx, path, Options{Name: name, Base: base}); err == nil || !strings.Contains(err.Error(), "already up") {
		t.Errorf("second up of %s: %v; want already up", name, err)
	}
	// A fresh load, as another process would see the lab.
	s, f2, err := Open(base, name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := GetStatus(ctx, s, f2)
	if err != nil {
		t.Fatal(err)
	}
	est := 0
	for _, x := range st.Sessions {
		if x.State == "Established" {
			est++
		}
	}
	if est != 2*f.Summary.BGPSessions || len(st.Sessions) != 2*f.Summary.BGPSessions {
		t.Errorf("status: %d of %d session ends established, want %d (both ends of %d sessions)", est, len(st.Sessions), 2*f.Summary.BGPSessions, f.Summary.BGPSessions)
	}
	var tbl bytes.Buffer
	st.Print(&tbl)
	if !strings.Contains(tbl.String(), "spine3:swp1") || strings.Count(tbl.String(), "Established") != est {
		t.Errorf("status table:\n%s", tbl.String())
	}

	check := func(what string) *CheckResult {
		t.Helper()
		var r *CheckResult
		// Routes move within BFD's detection time; allow a few rounds.
		for try := 0; try < 15; try++ {
			var out bytes.Buffer
			if r, err = Check(ctx, s, f2, &out); err != nil {
				t.Fatalf("check %s: %v", what, err)
			}
			if r.OK() {
				return r
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("check %s: %v", what, r.Missing)
		return nil
	}
	r := check("after up")
	if r.Reached != 12 || len(r.PerLink) != 2 {
		t.Errorf("check after up: %d pairs reached, per-link %v; want 12 and 2 uplinks", r.Reached, r.PerLink)
	}

	// A silent failure is only noticed by BFD (300 ms x 5 in this plan):
	// flows hashed onto the link lose packets until then, 16 flows make
	// sure some are.
	a, err := FailAction(s, f2, "leaf1:swp2", FailOptions{Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Flows = func() ([]FlowEnds, error) { return PairsWith(f2, "server1") }
	m, err := Measure(ctx, s, f2, a, MeasureOptions{Flows: 16, Rate: 100, Duration: 2500 * time.Millisecond}, &progress)
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	t.Logf("measure leaf1:swp2 --silent: %+v", m)
	if m.Sent < 16*300 || m.Lost == 0 || m.FlowsHit == 0 || m.FlowsHit == 16 || m.Unrecovered != 0 ||
		m.MaxGapMS < 100 || m.MaxGapMS > 2500 || m.ReconvergedS <= 0 || m.ReconvergedS > 2.5 {
		t.Errorf("measure of a silent failure: %+v", m)
	}
	if s.Failures != nil && len(s.Failures) != 0 {
		t.Errorf("measure left failures applied: %v", s.Failures)
	}
	if got := operState(ctx, Netns(s.Prefix, "leaf1"), "swp2"); got != "up" {
		t.Errorf("leaf1:swp2 is %s after measure, want up", got)
	}

	if err := Fail(ctx, s, f2, "spine3:swp1", false); err != nil {
		t.Fatal(err)
	}
	if err := Fail(ctx, s, f2, "leaf1:swp1", false); err == nil {
		t.Errorf("failing leaf1:swp1 twice (by its other end) was accepted")
	}
	if got := operState(ctx, Netns(s.Prefix, "leaf1"), "swp1"); got != "down" {
		t.Errorf("leaf1:swp1 is %s after fail, want down", got)
	}
	r = check("with leaf1:swp1 failed")
	if len(r.Excluded) != 1 || r.Reached != 12 {
		t.Errorf("check with a failed uplink: excluded %v, reached %d", r.Excluded, r.Reached)
	}
	if err := Restore(ctx, s, f2, "leaf1:swp1"); err != nil {
		t.Fatal(err)
	}
	if r := check("after restoring leaf1:swp1"); len(r.Excluded) != 0 || len(r.PerLink) != 2 {
		t.Errorf("check after restore: per-link %v, excluded %v; want both uplinks used", r.PerLink, r.Excluded)
	}
	if err := Fail(ctx, s, f2, "leaf2:swp2", true); err != nil {
		t.Fatal(err)
	}
	if out, _ := nsRun(ctx, Netns(s.Prefix, "leaf2"), "nft", "list", "tables"); !strings.Contains(out, nftTable(s.Prefix, "swp2")) {
		t.Errorf("silent fail left no nft table in leaf2: %q", out)
	}
	check("with leaf2:swp2 silently failed")
	if err := Restore(ctx, s, f2, "spine4:swp2"); err != nil {
		t.Fatal(err)
	}
	if err := Restore(ctx, s, f2, "spine4:swp2"); err == nil {
		t.Errorf("restoring a link that is not failed was accepted")
	}

	if err := Down(ctx, base, name); err != nil {
		t.Fatal(err)
	}
	if left := Leftovers(ctx, base, name); len(left) > 0 {
		t.Errorf("after down, lab %s left: %v", name, left)
	}
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

// TestLabClosd runs seed-003 with closd on the leaves and FRR on the spines,
// built from this tree. closd's daemon loop is young: if it cannot run the
// lab, up must fail naming closd and leave nothing behind.
func TestLabClosd(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"ip", "go", "vtysh", "ping", "sysctl", FRRDir + "/zebra", FRRDir + "/bgpd", FRRDir + "/bfdd"} {
		testenv.RequireTool(t, tool)
	}
	_, path := seed003(t)
	closd := t.TempDir() + "/closd"
	if out, err := exec.Command("go", "build", "-o", closd, "github.com/closnet/clos/cmd/closd").CombinedOutput(); err != nil {
		t.Fatalf("building closd: %v\n%s", err, out)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "d" + hex.EncodeToString(rnd[:])
	base := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Cleanup(func() { _ = Down(context.Background(), base, name) })
	var progress bytes.Buffer
	s, err := Up(ctx, path, Options{Name: name, Base: base, Kind: KindFRR, Closd: closd, Wait: 40 * time.Second, Out: &progress,
		NodeKinds: map[string]string{"leaf1": KindClosd, "leaf2": KindClosd}})
	if err != nil {
		if !strings.Contains(err.Error(), "closd") {
			t.Fatalf("up with closd failed without naming closd: %v\n%s", err, progress.String())
		}
		t.Logf("closd cannot run the lab yet: %v", err)
	} else {
		f, err := readFabric(s)
		if err != nil {
			t.Fatal(err)
		}
		var r *CheckResult
		for try := 0; try < 15; try++ {
			if r, err = Check(ctx, s, f, &progress); err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !r.OK() {
			t.Errorf("check with closd leaves: %v", r.Missing)
		}
		if err := Down(ctx, base, name); err != nil {
			t.Fatal(err)
		}
	}
	if left := Leftovers(ctx, base, name); len(left) > 0 {
		t.Errorf("lab %s left: %v", name, left)
	}
}

func readFabric(s *State) (*plan.Fabric, error) { return plan.ReadFabric(s.Fabric) }
