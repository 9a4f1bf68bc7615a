package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

func TestBFDDownDropsTheSession(t *testing.T) {
	// b's BFD is a standalone peer: a, which loses b's packets, is the
	// only one to drop BGP (see bfdPairOpts.bStandalone).
	p := startBFDPair(t, bfdPairOpts{interval: 100, multiplier: 3, bStandalone: true},
		Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 200 * time.Millisecond})
	a, b := p.a, p.b
	waitFor(t, "BGP and BFD up on both", p.up(t))
	na := neighbor(t, a.d, "127.0.0.2")
	if na.BFD.TxInterval != 100*time.Millisecond || na.BFD.DetectionTime != 300*time.Millisecond || na.BFD.Multihop {
		t.Errorf("a's BFD status = %+v, want 100 ms tx, 300 ms detection, single hop", na.BFD)
	}
	ps, err := a.d.BFD(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Neighbor != bfdIPB || ps[0].Status.State != bfd.StateUp || ps[0].Key.Multihop {
		t.Fatalf("a's BFD peers = %+v", ps)
	}
	// A BFD Down within bgpSettle of BGP coming up waits out the peer
	// restart grace (TestBFDPeerRestartKeepsBGP); this test is about the
	// failure acted on at once.
	waitFor(t, "BGP up for longer than bgpSettle", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established" && na.Uptime > bgpSettle+100*time.Millisecond, fmt.Sprintf("%s for %v", na.State, na.Uptime)
	})

	p.cutBToA(true)
	dropped := time.Now()
	waitFor(t, "a drops BGP with Cease/BFD Down", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		ls := na.Session.LastSent
		return na.State != "Established" && ls != nil && ls.Code == wire.CodeCease && ls.Subcode == wire.SubBFDDown &&
				na.BFD.State == "Down" && na.BFD.LastDownDiag == bfd.DiagControlDetectExpired.String(),
			fmt.Sprintf("%s %+v %+v", na.State, ls, na.BFD)
	})
	took := time.Since(dropped)
	na = neighbor(t, a.d, "127.0.0.2")
	if !na.BFD.GatewayDown || !na.BFD.HoldingBGP || na.Resets < 1 {
		t.Errorf("after BFD Down: %+v, %d resets; want the gateway down and BGP held", na.BFD, na.Resets)
	}
	t.Logf("BGP dropped %v after BFD packets stopped (detection time 300 ms)", took)
	// The FIB writes the kernel on its own goroutine.
	waitFor(t, "a's kernel to drop 10.2.0.0/24", func() (bool, string) {
		return !kernelHas(a.fake, "10.2.0.0/24"), fmt.Sprintf("%v", a.fake.Snapshot().Routes)
	})
	waitFor(t, "b's session down too", func() (bool, string) {
		nb := neighbor(t, b.d, "127.0.0.1")
		return nb.State != "Established", nb.State
	})
	// Held: BGP stays down while BFD is down, well past the idle hold,
	// though b keeps connecting.
	time.Sleep(time.Second)
	if na := neighbor(t, a.d, "127.0.0.2"); na.State == "Established" || na.BFD.State == "Up" {
		t.Errorf("a re-established while BFD packets are lost: %s, BFD %s", na.State, na.BFD.State)
	}

	p.cutBToA(false)
	waitFor(t, "BGP and BFD back up", p.up(t))
	na = neighbor(t, a.d, "127.0.0.2")
	if na.BFD.GatewayDown || na.BFD.HoldingBGP || na.BFD.Downs < 1 {
		t.Errorf("after recovery: %+v", na.BFD)
	}
	a.stop(t)
	b.stop(t)
}

func TestBFDOffRunsNoServer(t *testing.T) {
	ca, cb := pairConfigs(t)
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	waitFor(t, "Established", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established", na.State
	})
	if na := neighbor(t, a.d, "127.0.0.2"); na.BFD != nil {
		t.Errorf("BFD status without bfd configured: %+v", na.BFD)
	}
	ps, err := a.d.BFD(context.Background())
	if err != nil || len(ps) != 0 {
		t.Errorf("BFD() = %+v, %v; want none", ps, err)
	}
	a.stop(t)
	b.stop(t)
}

func TestBFDConfig(t *testing.T) {
	c := parse(t, "c.yaml", `
router-id: 10.0.0.1
asn: 65001
bgp: {bfd: {interval: 100, multiplier: 4}}
neighbors:
  - address: 192.0.2.1
    remote-as: 65002
    bfd: true
  - address: 192.0.2.2
    remote-as: 65002
    multihop: 3
    bfd: {interval: 50}
  - address: 192.0.2.3
    remote-as: 65002
`)
	d, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p1 := d.bfdConfig(d.peers[0], netip.Addr{})
	if p1.Multihop || p1.DesiredMinTx != 100*time.Millisecond || p1.RequiredMinRx != 100*time.Millisecond || p1.DetectMult != 4 || p1.Local.IsValid() {
		t.Errorf("single hop with bgp defaults: %+v", p1)
	}
	local := netip.MustParseAddr("198.51.100.1")
	p2 := d.bfdConfig(d.peers[1], local)
	if !p2.Multihop || p2.DesiredMinTx != 50*time.Millisecond || p2.DetectMult != 4 || p2.Local != local || p2.MinTTL != 253 {
		t.Errorf("multihop 3 with its own interval: %+v", p2)
	}
	if bfdEnabled(d.peers[2].n) {
		t.Errorf("neighbor without bfd has it enabled")
	}
	c.BGP.BFD = config.BFD{}
	if p := d.bfdConfig(d.peers[0], netip.Addr{}); p.DesiredMinTx != 300*time.Millisecond || p.DetectMult != 3 {
		t.Errorf("built-in defaults: %+v", p)
	}
}
