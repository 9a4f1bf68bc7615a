package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
	"github.com/closnet/clos/internal/fib"
)

// TestShowGracefulRestart: daemon a (no kernel FIB: helper) and daemon b
// (a FIB: mode restart, families in its capability). Established, a shows
// both capabilities; b stops gracefully and a shows it restarting with its
// route kept stale.
func TestShowGracefulRestart(t *testing.T) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	sockA := startDaemon(t, "a", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 1, hold: 3}}
graceful-restart: {restart-time: 90s}
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    description: to-b
`, pa, pb))
	cfgB, err := config.Parse("b.yaml", []byte(peerBConfig(pb, pa)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := daemon.New(cfgB, daemon.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConnectRetry: time.Second, FIB: fib.NewFake()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopB := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("b: Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("b: Run did not return within 10 s")
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stopB()
		}
	})

	// b sets F from its second session with a on (its FIB was kept
	// across the reset): a session that flapped once under load shows 1.
	row := regexp.MustCompile(`(?m)^127\.0\.0\.2 +Established +R=0 no families +120s R=0 N=1 ipv4-unicast:F=[01] +yes +- +ipv4-unicast$`)
	var out string
	waitFor(t, 30*time.Second, "no established neighbor with b's capability and End-of-RIB within 30 s;", func() (bool, string) {
		var code int
		var errs string
		code, out, errs = runShowT(t, "--socket", sockA, "bgp", "graceful-restart")
		return code == 0 && row.MatchString(out), fmt.Sprintf("status %d\nstdout:\n%s\nstderr: %s", code, out, errs)
	})
	t.Logf("clos show bgp graceful-restart, established:\n%s", out)
	for _, want := range []string{
		"Graceful restart mode helper, restart-time 90s, stalepath-time 360s, select-defer-time 60s\n",
		"Kernel FIB not managed by closd: no routes adopted, no restart phase\n",
		"Neighbor  State       Sent            Received                      N   Helper End-of-RIB rcvd\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	b.GracefulStop()
	stopB()
	restarting := regexp.MustCompile(`(?m)^127\.0\.0\.2 +(Idle|Connect|Active) .* restarting, kept until \d\d:\d\d:\d\d UTC +-$`)
	waitFor(t, 15*time.Second, "b not shown restarting within 15 s;", func() (bool, string) {
		var code int
		code, out, _ = runShowT(t, "--socket", sockA, "bgp", "neighbors", "graceful-restart", "127.0.0.2")
		return code == 0 && restarting.MatchString(out) &&
			strings.Contains(out, "127.0.0.2: stale paths ipv4-unicast 1 (kept while it restarts)"), out
	})
	t.Logf("clos show bgp neighbors graceful-restart 127.0.0.2, b restarting:\n%s", out)

	code, out, errs := runShowT(t, "--socket", sockA, "bgp", "graceful-restart", "--json")
	var s daemon.GRShow
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || len(s.Neighbors) != 1 {
		t.Fatalf("--json: status %d %s%s", code, out, errs)
	}
	if n := s.Neighbors[0]; !n.PeerRestarting || n.Received == nil || n.Received.RestartTimeSeconds != 120 || n.Sent == nil || n.Sent.RestartTimeSeconds != 90 {
		t.Errorf("--json neighbor %+v", n)
	}
	code, _, errs = runShowT(t, "--socket", sockA, "bgp", "graceful-restart", "127.0.0.9")
	if code != 1 || !strings.Contains(errs, "no neighbor 127.0.0.9; neighbors: 127.0.0.2 (HTTP 404)") {
		t.Errorf("unknown neighbor: status %d: %s", code, errs)
	}
	code, _, errs = runShowT(t, "--socket", sockA, "bgp", "graceful-restart", "10.0.0.0/8")
	if code != 2 || !strings.Contains(errs, "want an IP address like 10.0.0.1") {
		t.Errorf("bad neighbor: status %d: %s", code, errs)
	}
	code, _, errs = runShowT(t, "--socket", sockA, "bgp", "graceful-restart", "127.0.0.2", "x")
	if code != 2 || !strings.Contains(errs, `unexpected "x"; give at most [NEIGHBOR]`) {
		t.Errorf("extra word: status %d: %s", code, errs)
	}
}
