package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// TestGracefulRestartNetns is `systemctl restart closd` on one of two
// closd in two namespaces, each with the kernel FIB, a /32 on its loopback
// announced to the other, and BFD on the session. Traffic between the two
// /32s (one ping every 10 ms, so it crosses a BGP route in each kernel)
// runs while closd a gets SIGTERM, exits and starts again. Nothing may be
// lost: b keeps a's route (helper; BFD AdminDown does not take the next
// hop away), a's kernel keeps b's route (adopted by the new closd), and
// the new closd sweeps what nobody re-learned only after b's End-of-RIB.
func TestGracefulRestartNetns(t *testing.T) {
	t.Run("numbered", func(t *testing.T) { grRestartNetns(t, false) })
	// The fabric's case: `interface:` neighbors, IPv4 over IPv6 link-local
	// next hops (RFC 8950), peers learned by router advertisements.
	t.Run("unnumbered", func(t *testing.T) { grRestartNetns(t, true) })
}

func grRestartNetns(t *testing.T, unnumbered bool) {
	testenv.RequireTool(t, "ping")
	var l *netLab
	var aLo, bLo, aNbr, bNbr string
	if unnumbered {
		l = newUnnumberedLab(t)
		aLo, bLo = "10.0.0.1", "10.0.0.2"
		aNbr, bNbr = "interface: "+l.ifUs+"\n    remote-as: external", "interface: "+l.ifPeer+"\n    remote-as: external"
	} else {
		l = newLab(t)
		aLo, bLo = "10.1.0.1", "10.2.0.1"
		sh(t, "ip", "-n", l.us, "addr", "add", aLo+"/32", "dev", "lo")
		sh(t, "ip", "-n", l.peer, "addr", "add", bLo+"/32", "dev", "lo")
		aNbr, bNbr = "address: "+peerV4+"\n    remote-as: 65002", "address: "+usV4+"\n    remote-as: 65001"
	}
	bin := closdBinary(t)
	conf := func(name, rid, as, lo, nbr string) (cfg, sock string) {
		sock = filepath.Join(l.dir, name+".sock")
		return writeConf(t, l.dir, name+".yaml", fmt.Sprintf(`router-id: %s
asn: %s
log: {level: debug}
networks: [%s/32]
neighbors:
  - %s
    bfd: {interval: 100, multiplier: 3}
api: {socket: %s}
`, rid, as, lo, nbr, sock)), sock
	}
	cfgA, sockA := conf("a", "10.0.0.1", "65001", aLo, aNbr)
	cfgB, sockB := conf("b", "10.0.0.2", "65002", bLo, bNbr)
	// The first closd a is run here rather than by runIn: the test waits
	// for its exit and reads its code.
	a1 := exec.Command("ip", "netns", "exec", l.us, bin, "--config", cfgA, "--api-socket", sockA)
	outA1 := &lockedBuffer{}
	a1.Stdout, a1.Stderr = outA1, outA1
	if err := a1.Start(); err != nil {
		t.Fatal(err)
	}
	a1Done := make(chan error, 1)
	go func() { a1Done <- a1.Wait() }()
	t.Cleanup(func() {
		a1.Process.Signal(os.Interrupt)
		select {
		case <-a1Done:
		case <-time.After(5 * time.Second):
			a1.Process.Kill()
		}
		if t.Failed() {
			t.Logf("--- closd a (stopped) output:\n%s", outA1.String())
		}
	})
	_, outB := runIn(t, l.peer, "closd b", "", bin, "--config", cfgB, "--api-socket", sockB)
	route := func(ns, prefix string) (bool, string) {
		out, err := shErr("ip", "-n", ns, "route", "show", prefix, "proto", "201")
		f := strings.Fields(out)
		// ip prints a host route without its /32.
		return err == nil && len(f) > 0 && (f[0] == prefix || f[0]+"/32" == prefix || f[0] == "blackhole" && len(f) > 1 && f[1] == prefix), out
	}
	poll(t, "a's /32 in b's kernel", func() (bool, string) { return route(l.peer, aLo+"/32") })
	poll(t, "b's /32 in a's kernel", func() (bool, string) { return route(l.us, bLo+"/32") })
	poll(t, "BFD up on both", func() (bool, string) {
		up := regexp.MustCompile(`msg="bfd: state change" neighbor=\S+ from=\S+ to=Up`)
		return up.MatchString(outA1.String()) && up.MatchString(outB.String()), ""
	})
	// A route of ours nobody announces: the new closd must sweep it.
	sh(t, "ip", "-n", l.us, "route", "add", "blackhole", "10.99.0.0/24", "proto", "201", "metric", "20")

	// 400 pings 10 ms apart, from b's /32 to a's: 4 s or more.
	const count = 400
	ping := exec.Command("ip", "netns", "exec", l.peer, "ping", "-n", "-q", "-i", "0.01", "-W", "1", "-c", strconv.Itoa(count), "-I", bLo, aLo)
	pingOut := &lockedBuffer{}
	ping.Stdout, ping.Stderr = pingOut, pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	var perr error
	pinged := make(chan struct{})
	go func() { perr = ping.Wait(); close(pinged) }()
	t.Cleanup(func() {
		ping.Process.Kill()
		<-pinged
	})
	time.Sleep(500 * time.Millisecond)

	// systemctl restart: SIGTERM, wait for the exit, start again.
	stopAt := time.Now()
	a1.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a1Done:
		a1Done <- err // for the cleanup
		if err != nil {
			t.Errorf("closd a after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("closd a did not exit within 10 s of SIGTERM:\n%s", outA1.String())
	}
	downFor := time.Since(stopAt)
	startAt := time.Now()
	_, outA2 := runIn(t, l.us, "closd a (restarted)", "", bin, "--config", cfgA, "--api-socket", sockA)
	pollFast(t, "the restarted closd to end its restart phase", func() (bool, string) {
		return strings.Contains(outA2.String(), "restart phase over"), ""
	})
	phase := time.Since(startAt)

	select {
	case <-pinged:
	case <-time.After(30 * time.Second):
		t.Fatal("ping did not finish")
	}
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pingOut.String())
	if m == nil {
		t.Fatalf("ping: %v\n%s", perr, pingOut.String())
	}
	sent, got := m[1], m[2]
	t.Logf("closd a down for %v (SIGTERM to exit, then start); restart phase %v; ping %s sent, %s received (shared machine: timings are indicative)",
		downFor.Round(time.Millisecond), phase.Round(time.Millisecond), sent, got)
	if sent != strconv.Itoa(count) || got != sent {
		t.Errorf("lost %s of %s pings across the restart:\n%s", sent+"-"+got, sent, pingOut.String())
	}

	a1Log, a2Log, bLog := outA1.String(), outA2.String(), outB.String()
	for _, c := range []struct{ log, want, who string }{
		{a1Log, "graceful stop: closing sessions without a NOTIFICATION", "a (stopping)"},
		{bLog, "peer restarting: keeping its routes", "b"},
		{bLog, "bfd: peer took the session administratively down; BGP is left alone", "b"},
		{a2Log, "graceful restart: kept kernel routes of the previous run", "a (restarted)"},
		{a2Log, `why="every neighbor sent End-of-RIB"`, "a (restarted)"},
	} {
		if !strings.Contains(c.log, c.want) {
			t.Errorf("%s's log lacks %q", c.who, c.want)
		}
	}
	if ok, out := route(l.us, bLo+"/32"); !ok {
		t.Errorf("b's route left a's kernel: %s", out)
	}
	if ok, out := route(l.peer, aLo+"/32"); !ok {
		t.Errorf("a's route left b's kernel: %s", out)
	}
	poll(t, "the route nobody re-learned swept from a's kernel", func() (bool, string) {
		ok, out := route(l.us, "10.99.0.0/24")
		return !ok, out
	})
	t.Logf("checks done %v after the restart", time.Since(startAt).Round(time.Millisecond))
}

// TestGracefulRestartFRR restarts closd (SIGTERM, start again) next to
// FRR, a graceful restart helper by default: FRR keeps closd's routes while
// it is away, closd's kernel keeps FRR's, and the new closd ends its
// restart phase at FRR's End-of-RIB for both families. On failure FRR's
// view of the graceful restart is printed.
func TestGracefulRestartFRR(t *testing.T) {
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	bin := closdBinary(t)
	cfg := writeConf(t, l.dir, "closd.yaml", l.closdConfig("", false)+fmt.Sprintf("api: {socket: %s/closd.sock}\n", l.dir))
	args := []string{bin, "--config", cfg, "--api-socket", filepath.Join(l.dir, "closd.sock")}
	first, _ := runIn(t, l.us, "closd", "", args...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{usV4, usV6} {
				_, out := f.json("show bgp neighbors " + n + " json")
				t.Logf("--- FRR's neighbor %s:\n%s", n, out)
			}
		}
	})
	for _, n := range []string{usV4, usV6} {
		poll(t, "FRR session with "+n+" Established", func() (bool, string) {
			s, out := f.state(n)
			return s == "Established", s + " " + out
		})
	}
	poll(t, "FRR to receive 10.1.0.0/24", func() (bool, string) { return f.hasRoute("ipv4", "10.1.0.0/24") })
	poll(t, "FRR to receive fd00:1::/64", func() (bool, string) { return f.hasRoute("ipv6", "fd00:1::/64") })
	l.checkClosdKernel(t)

	first.Process.Signal(syscall.SIGTERM)
	pollFast(t, "the first closd to exit", func() (bool, string) {
		return syscall.Kill(first.Process.Pid, 0) != nil, ""
	})
	poll(t, "FRR to see the session go", func() (bool, string) {
		s, out := f.state(usV4)
		return s != "Established", s + " " + out
	})
	for _, p := range []struct{ fam, prefix string }{{"ipv4", "10.1.0.0/24"}, {"ipv6", "fd00:1::/64"}} {
		if ok, out := f.hasRoute(p.fam, p.prefix); !ok {
			t.Errorf("FRR dropped closd's %s while it restarted: %s", p.prefix, out)
		}
	}
	for _, p := range []string{"10.2.0.0/24", "fd00:2::/64"} {
		if ok, out := l.kernelRoute(p); !ok {
			t.Errorf("FRR's %s left the kernel while closd was stopped: %s", p, out)
		}
	}
	_, out := runIn(t, l.us, "closd (restarted)", "", args...)
	poll(t, "the restarted closd to end its restart phase", func() (bool, string) {
		return strings.Contains(out.String(), "restart phase over"), ""
	})
	if !strings.Contains(out.String(), `why="every neighbor sent End-of-RIB"`) {
		t.Errorf("the restart phase did not end at FRR's End-of-RIB")
	}
	for _, n := range []string{usV4, usV6} {
		poll(t, "FRR session with "+n+" Established again", func() (bool, string) {
			s, out := f.state(n)
			return s == "Established", s + " " + out
		})
	}
	for _, p := range []struct{ fam, prefix string }{{"ipv4", "10.1.0.0/24"}, {"ipv6", "fd00:1::/64"}} {
		if ok, out := f.hasRoute(p.fam, p.prefix); !ok {
			t.Errorf("FRR lacks closd's %s after the restart: %s", p.prefix, out)
		}
	}
	l.checkClosdKernel(t)
}
