package neigh

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestApplyKernel(t *testing.T) {
	k := &FakeKernel{Fail: map[string]bool{"eth2": true}}
	acts := []Action{
		SetKernelTimers{Interface: "eth1", RetransTime: time.Second, UcastSolicit: 1},
		Probe{Interface: "eth1", IP: netip.MustParseAddr("10.0.0.5"), Attempt: 1},
		Originate{Prefix: netip.MustParsePrefix("10.0.0.5/32")},
		Probe{Interface: "eth2", IP: netip.MustParseAddr("10.0.0.6"), Attempt: 1},
		Probe{Interface: "eth1", IP: netip.MustParseAddr("10.0.0.7"), Attempt: 1},
	}
	err := ApplyKernel(k, acts)
	if err == nil || !strings.Contains(err.Error(), "10.0.0.6 on eth2") {
		t.Fatalf("want the eth2 failure, got %v", err)
	}
	// One failure does not stop the rest.
	if p := k.TakeProbes(); len(p) != 2 || p[0].IP.String() != "10.0.0.5" || p[1].IP.String() != "10.0.0.7" {
		t.Fatalf("probes %v", p)
	}
	if k.Timers["eth1"].UcastSolicit != 1 {
		t.Fatalf("timers %v", k.Timers)
	}
	if len(k.TakeProbes()) != 0 {
		t.Fatal("TakeProbes did not forget")
	}
}
