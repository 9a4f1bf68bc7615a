package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulRestartFRRWithBFD: a closd that stops gracefully next to
// FRR with BFD on the session keeps its routes in FRR. FRR 8.4 takes
// closd's BFD AdminDown for a failure, and one that reaches its bgpd while
// the BGP session is still Established ends the graceful restart with a
// Hard Reset and withdraws closd's routes; closd closes the session first
// and tells BFD only after grAdminDownDelay.
func TestGracefulRestartFRRWithBFD(t *testing.T) {
	l := newLab(t)
	f := startFRRWithBFD(t, l)
	bin := closdBinary(t)
	cfg := writeConf(t, l.dir, "closd.yaml", fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
bgp: {timers: {keepalive: 3, hold: 9}}
networks: [10.1.0.0/24]
neighbors:
  - address: %s
    remote-as: 65002
    bfd: {interval: 100, multiplier: 3}
api: {socket: %s/closd.sock}
`, peerV4, l.dir))
	args := []string{bin, "--config", cfg, "--api-socket", filepath.Join(l.dir, "closd.sock")}
	first, _ := runIn(t, l.us, "closd", "", args...)
	t.Cleanup(func() {
		if t.Failed() {
			_, out := f.json("show bgp neighbors " + usV4 + " json")
			t.Logf("--- FRR's neighbor %s:\n%s", usV4, out)
		}
	})
	// FRR's bgpd re-creates its BFD session when BGP comes up, which can
	// take BGP down once at the start: settle on both up together, past
	// closd's grace for that.
	poll(t, "BGP and BFD up together", func() (bool, string) {
		s, _ := f.state(usV4)
		b, _ := f.bfdPeerStatus(usV4)
		ok, _ := f.hasRoute("ipv4", "10.1.0.0/24")
		return s == "Established" && b == "up" && ok, s + " " + b
	})
	time.Sleep(bgpSettle + time.Second)
	poll(t, "BGP and BFD still up together", func() (bool, string) {
		s, _ := f.state(usV4)
		b, _ := f.bfdPeerStatus(usV4)
		return s == "Established" && b == "up", s + " " + b
	})

	first.Process.Signal(syscall.SIGTERM)
	pollFast(t, "the first closd to exit", func() (bool, string) {
		return syscall.Kill(first.Process.Pid, 0) != nil, ""
	})
	poll(t, "FRR's BFD session to see closd go", func() (bool, string) {
		b, out := f.bfdPeerStatus(usV4)
		return b != "up", b + " " + out
	})
	// FRR's bgpd hears of BFD through zebra: give it time to act on it.
	time.Sleep(time.Second)
	if ok, out := f.hasRoute("ipv4", "10.1.0.0/24"); !ok {
		t.Errorf("FRR dropped closd's 10.1.0.0/24 while closd restarted: %s", out)
	}
	_, out := runIn(t, l.us, "closd (restarted)", "", args...)
	poll(t, "the restarted closd to end its restart phase", func() (bool, string) {
		return strings.Contains(out.String(), "restart phase over"), ""
	})
	poll(t, "BGP and BFD up again", func() (bool, string) {
		s, _ := f.state(usV4)
		b, _ := f.bfdPeerStatus(usV4)
		ok, _ := f.hasRoute("ipv4", "10.1.0.0/24")
		return s == "Established" && b == "up" && ok, s + " " + b
	})
}
