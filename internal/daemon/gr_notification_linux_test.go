package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGracefulRestartNotificationFRR: closd and FRR 8.4 both set the N
// bit of RFC 8538; FRR runs graceful restart with its forwarding
// preserved. FRR's `clear bgp` with `no bgp hard-administrative-reset`
// sends a plain Cease/Administrative Reset: closd keeps FRR's routes as
// for a restart, its kernel never loses them, and FRR's End-of-RIB ends
// the hold. closd's full
// stop (SIGINT) sends a Hard Reset: FRR, a helper, drops closd's routes at
// once instead of keeping them for closd's restart time.
func TestGracefulRestartNotificationFRR(t *testing.T) {
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	// FRR as a restarting speaker with its forwarding preserved, so its
	// capability lists its families with F (a helper lists none, and
	// nothing of it would be kept); and its clear as a plain Cease.
	for _, c := range []string{"bgp graceful-restart", "bgp graceful-restart preserve-fw-state", "no bgp hard-administrative-reset"} {
		poll(t, "FRR configured with "+c, func() (bool, string) {
			o, err := shErr(f.vtysh, "--vty_socket", l.dir, "-c", "configure terminal", "-c", "router bgp 65002", "-c", c)
			// vtysh exits non-zero with a reminder to reset the peers
			// (and stops there): none is up yet.
			return err == nil || strings.Contains(o, "reset all peers to take effect"), o
		})
	}
	if o, _ := shErr(f.vtysh, "--vty_socket", l.dir, "-c", "show running-config"); !strings.Contains(o, "bgp graceful-restart preserve-fw-state") ||
		!strings.Contains(o, "no bgp hard-administrative-reset") {
		t.Fatalf("FRR's configuration:\n%s", o)
	}
	bin := closdBinary(t)
	cfg := writeConf(t, l.dir, "closd.yaml", l.closdConfig("", false)+"api: {socket: "+l.dir+"/closd.sock}\n")
	closd, out := runIn(t, l.us, "closd", "", bin, "--config", cfg, "--api-socket", filepath.Join(l.dir, "closd.sock"))
	t.Cleanup(func() {
		if t.Failed() {
			_, o := f.json("show bgp neighbors " + usV4 + " json")
			t.Logf("--- FRR's neighbor %s:\n%s", usV4, o)
		}
	})
	poll(t, "FRR session with "+usV4+" Established", func() (bool, string) {
		s, o := f.state(usV4)
		return s == "Established", s + " " + o
	})
	poll(t, "FRR to receive 10.1.0.0/24", func() (bool, string) { return f.hasRoute("ipv4", "10.1.0.0/24") })
	poll(t, "closd to install 10.2.0.0/24", func() (bool, string) { return l.kernelRoute("10.2.0.0/24") })
	if o, err := shErr(f.vtysh, "--vty_socket", l.dir, "-c", "clear bgp "+usV4); err != nil {
		t.Fatalf("FRR clear: %v: %s", err, o)
	}
	// The kernel route must stay through the reset: watch it until the
	// session is back, the log has the kept routes, and the hold is over.
	lost := false
	poll(t, "closd to keep FRR's routes across the soft reset and resume", func() (bool, string) {
		if ok, _ := l.kernelRoute("10.2.0.0/24"); !ok {
			lost = true
		}
		log := out.String()
		s, _ := f.state(usV4)
		return strings.Contains(log, `received="Cease/Administrative Reset"`) && strings.Contains(log, "peer restarting: keeping its routes") &&
			strings.Contains(log, "graceful restart of the peer complete") && s == "Established", s
	})
	if lost {
		t.Errorf("FRR's 10.2.0.0/24 left closd's kernel during FRR's soft reset")
	}
	if strings.Contains(out.String(), "received-hard-reset=true") {
		t.Errorf("FRR's clear came as a Hard Reset with hard-administrative-reset off")
	}

	// A full stop of closd: Hard Reset, FRR drops closd's routes at once
	// (its helper would otherwise keep them 120 s).
	closd.Process.Signal(os.Interrupt)
	poll(t, "FRR to drop 10.1.0.0/24 at closd's Hard Reset", func() (bool, string) {
		ok, o := f.hasRoute("ipv4", "10.1.0.0/24")
		return !ok, o
	})
	b, _ := os.ReadFile(filepath.Join(l.dir, "bgpd.log"))
	if !strings.Contains(string(b), "NOTIFICATION(Hard Reset): received") {
		t.Errorf("FRR's log lacks the Hard Reset received")
	}
}
