package daemon

import (
	"encoding/json"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startFRRWithBFD runs zebra, bfdd and bgpd in the peer namespace: one
// IPv4 session to closd with BFD at 100 ms x 3 and a 30 s hold time, which
// leaves no doubt that BFD, not the hold timer, took a session down.
func startFRRWithBFD(t *testing.T, l *netLab) *frr {
	t.Helper()
	return startFRRDaemons(t, l, fmt.Sprintf(`frr defaults datacenter
log file %[1]s/bgpd.log debugging
debug bgp neighbor-events
debug bgp bfd
router bgp 65002
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor %[2]s remote-as 65001
 neighbor %[2]s timers 10 30
 neighbor %[2]s update-source %[3]s
 neighbor %[2]s timers connect 1
 neighbor %[2]s bfd
 neighbor %[2]s bfd profile fast
 address-family ipv4 unicast
  network 10.2.0.0/24
 exit-address-family
!
`, l.dir, usV4, peerV4), frrFastBFD)
}

// bfdPeerStatus is FRR's view of its BFD session with closd.
func (f *frr) bfdPeerStatus(peer string) (string, string) {
	out, err := shErr(f.vtysh, "--vty_socket", f.l.dir, "-c", "show bfd peers json")
	if err != nil {
		return "", out
	}
	var ps []map[string]any
	if json.Unmarshal([]byte(out), &ps) != nil {
		return "", out
	}
	for _, p := range ps {
		if p["peer"] == peer {
			s, _ := p["status"].(string)
			return s, out
		}
	}
	return "", out
}

// bfdDrops sorts the BGP drops for BFD in closd's log. startup are those
// that FRR re-creating its session as BGP comes up caused: closd waited for
// the new session and it did not come up, or closd did not wait (the BFD
// Down came within bgpSettle of BGP coming up). other are detection times
// that ran out later: on a loaded machine one side's BFD may be starved for
// longer than 300 ms, which is no start-up effect.
func bfdDrops(log string) (startup, other []string) {
	var established time.Time
	for _, line := range strings.Split(log, "\n") {
		at, _ := logAt(line, 0, "time=")
		switch {
		case strings.Contains(line, `msg="session established"`):
			established = at
		case strings.Contains(line, "the new one did not come up"):
			startup = append(startup, line)
		case strings.Contains(line, "bfd: session down, dropping BGP"):
			if at.Sub(established) < bgpSettle {
				startup = append(startup, line)
			} else {
				other = append(other, line)
			}
		}
	}
	return startup, other
}

// lastLine is the last line of log that contains want.
func lastLine(log, want string) string {
	i := strings.LastIndex(log, want)
	if i < 0 {
		return ""
	}
	start := strings.LastIndexByte(log[:i], '\n') + 1
	end := strings.IndexByte(log[i:], '\n')
	if end < 0 {
		return log[start:]
	}
	return log[start : i+end]
}

func TestInteropFRRBFD(t *testing.T) {
	l := newLab(t)
	testenv.RequireTool(t, "nft")
	f := startFRRWithBFD(t, l)
	closd := l.runClosd(t, fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
bgp: {timers: {keepalive: 10, hold: 30}}
networks: [10.1.0.0/24]
neighbors:
  - address: %s
    remote-as: 65002
    bfd: {interval: 100, multiplier: 3}
`, peerV4))
	logs := closd.Stderr.(*lockedBuffer)

	poll(t, "FRR session Established", func() (bool, string) {
		s, out := f.state(usV4)
		return s == "Established", s + " " + out
	})
	poll(t, "FRR's BFD session with closd up", func() (bool, string) {
		s, out := f.bfdPeerStatus(usV4)
		return s == "up", out
	})
	poll(t, "closd's BFD session Up", func() (bool, string) {
		return strings.Contains(logs.String(), `msg="bfd: state change" neighbor=`+peerV4+` from=Init to=Up`) ||
			strings.Contains(logs.String(), `msg="bfd: state change" neighbor=`+peerV4+` from=Down to=Up`), ""
	})
	poll(t, "closd to install 10.2.0.0/24", func() (bool, string) { return l.kernelRoute("10.2.0.0/24") })
	// closd runs BFD in its child process (bfd.Client), in closd's
	// namespace: the sessions above are the child's.
	if !strings.Contains(logs.String(), `msg="bfd: BFD child running"`) {
		t.Error("closd did not run BFD in a child process")
	}
	// FRR's bgpd re-creates its BFD session when BGP comes up (new source
	// and interface), which can take BGP down once more at the start (see
	// docs/closd.md), and closd gives BFD a grace for bgpSettle after BGP
	// comes up: cut BFD only once BGP has been up for longer, with BFD
	// Up on both sides. mark is taken first: a Down of closd's BFD after
	// the check is in the log after it.
	var mark int
	poll(t, "BGP up for longer than closd's settling time, with BFD", func() (bool, string) {
		mark = len(logs.String())
		ours := lastLine(logs.String(), `msg="bfd: state change"`)
		s, up, _ := f.bgpUp(usV4)
		b, _ := f.bfdPeerStatus(usV4)
		ok, _ := l.kernelRoute("10.2.0.0/24")
		return s == "Established" && up > bgpSettle+time.Second && b == "up" && strings.Contains(ours, "to=Up") && ok,
			fmt.Sprintf("FRR: %s for %v, BFD %s; closd: %s", s, up, b, ours)
	})
	// FRR re-created its BFD session as BGP came up; closd must have
	// waited for the new one instead of dropping BGP (the startup flap).
	if startup, other := bfdDrops(logs.String()[:mark]); len(startup) > 0 {
		t.Errorf("closd dropped BGP at startup because of FRR's re-created BFD session:\n%s", strings.Join(startup, "\n"))
	} else if len(other) > 0 {
		t.Logf("BFD went down before the cut, long after BGP came up (a loaded machine starving a BFD daemon):\n%s", strings.Join(other, "\n"))
	}
	if strings.Contains(logs.String()[:mark], "waiting for BFD before touching BGP") {
		t.Logf("FRR restarted its BFD session at startup; closd kept BGP")
	}
	// Lose BFD arriving at closd; BGP on TCP still flows.
	tbl := l.pfx + "t"
	sh(t, "ip", "netns", "exec", l.us, "nft", "add", "table", "inet", tbl)
	t.Cleanup(func() { exec.Command("ip", "netns", "exec", l.us, "nft", "delete", "table", "inet", tbl).Run() })
	sh(t, "ip", "netns", "exec", l.us, "nft", "add", "chain", "inet", tbl, "in",
		"{ type filter hook input priority 0 ; policy accept ; }")
	sh(t, "ip", "netns", "exec", l.us, "nft", "add", "rule", "inet", tbl, "in", "udp", "dport", "3784", "drop")
	dropped := time.Now()

	// closd's BFD goes Down on the detection time and tells FRR in its
	// packets (which still flow), and each side drops BGP with Cease/BFD
	// Down: closd's own drop usually comes first, but on a loaded machine
	// FRR's NOTIFICATION can reach closd's loop before its BFD child's
	// report does. Either way BFD took the session down. (That closd drops
	// BGP by itself TestBFDDownDropsTheSession and the unnumbered FRR test,
	// which loses the whole link, show.)
	// Polled every 20 ms for at most 10 s: a third of the hold time, and
	// far more than BFD needs (the bound only detects a failure).
	var dropAfter, routeAfter time.Duration
	for time.Since(dropped) < 10*time.Second && (dropAfter == 0 || routeAfter == 0) {
		since := logs.String()[mark:]
		if dropAfter == 0 && (strings.Contains(since, "bfd: session down, dropping BGP") || strings.Contains(since, `received="Cease/BFD Down"`)) {
			dropAfter = time.Since(dropped)
		}
		if ok, _ := l.kernelRoute("10.2.0.0/24"); routeAfter == 0 && !ok {
			routeAfter = time.Since(dropped)
		}
		time.Sleep(20 * time.Millisecond)
	}
	since := logs.String()[mark:]
	if dropAfter == 0 {
		t.Fatalf("BGP not dropped for BFD within 10 s of closd losing BFD (hold time 30 s); closd's log since:\n%s", since)
	}
	if routeAfter == 0 {
		t.Fatalf("10.2.0.0/24 still in closd's kernel table 10 s after losing BFD")
	}
	pollFast(t, "closd's BFD Down on its detection time", func() (bool, string) {
		down := lastLine(logs.String()[mark:], "from=Up to=Down")
		return strings.Contains(down, "Control Detection Time Expired"), logs.String()[mark:]
	})
	switch since := logs.String()[mark:]; {
	case strings.Contains(since, `sent="Cease/BFD Down"`):
		t.Logf("closd dropped BGP %v and removed FRR's route %v after BFD packets stopped (detection time 300 ms)", dropAfter, routeAfter)
	case strings.Contains(since, `received="Cease/BFD Down"`):
		t.Logf("FRR, told by closd's BFD, dropped BGP first: %v; FRR's route gone from closd's kernel %v after BFD packets stopped", dropAfter, routeAfter)
	default:
		t.Errorf("closd's log shows no Cease/BFD Down NOTIFICATION, sent or received:\n%s", since)
	}
	poll(t, "closd to hold BGP while BFD is down", func() (bool, string) {
		return strings.Contains(logs.String()[mark:], "while BFD is down"), ""
	})
	poll(t, "FRR session down", func() (bool, string) {
		s, _ := f.state(usV4)
		return s != "Established", s
	})

	// Recovery: BFD packets flow again; BFD comes Up, BGP re-establishes
	// and FRR's route is back in the kernel.
	sh(t, "ip", "netns", "exec", l.us, "nft", "delete", "table", "inet", tbl)
	restored := time.Now()
	var back time.Duration
	for time.Since(restored) < 30*time.Second {
		if ok, _ := l.kernelRoute("10.2.0.0/24"); ok {
			back = time.Since(restored)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if back == 0 {
		s, _ := f.state(usV4)
		b, _ := f.bfdPeerStatus(usV4)
		t.Fatalf("10.2.0.0/24 not back in closd's kernel table 30 s after BFD packets flowed again (FRR: BGP %s, BFD %s)", s, b)
	}
	t.Logf("FRR's route back in the kernel %v after the drop was removed", back)
}
