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

// bfdPairConfigs are two daemons on 127.0.0.1 and .2 with BFD at 100 ms x 3
// and a BGP hold time (9 s) far longer than the BFD detection time.
func bfdPairConfigs(t *testing.T) (a, b *config.Config) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	a = parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 3, hold: 9}, bfd: {interval: 100, multiplier: 3}}
networks: [10.1.0.0/24]
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    bfd: true
`, pa, pb))
	b = parse(t, "b.yaml", fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
bgp: {timers: {keepalive: 3, hold: 9}}
networks: [10.2.0.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d
    bfd: {interval: 100, multiplier: 3}
`, pb, pa))
	return a, b
}

func TestBFDDownDropsTheSession(t *testing.T) {
	ca, cb := bfdPairConfigs(t)
	mem := bfd.NewMemNetwork()
	ipA, ipB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	o := Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 200 * time.Millisecond}
	oa, ob := o, o
	oa.BFDTransport, ob.BFDTransport = mem.Endpoint(ipA, 0), mem.Endpoint(ipB, 0)
	a := start(t, "a", ca, oa)
	b := start(t, "b", cb, ob)

	up := func() (bool, string) {
		na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1")
		if na.BFD == nil || nb.BFD == nil {
			return false, "no BFD status"
		}
		return na.State == "Established" && nb.State == "Established" && na.BFD.State == "Up" && nb.BFD.State == "Up" &&
				kernelHas(a.fake, "10.2.0.0/24"),
			fmt.Sprintf("a %s/%s b %s/%s", na.State, na.BFD.State, nb.State, nb.BFD.State)
	}
	waitFor(t, "BGP and BFD up on both", up)
	na := neighbor(t, a.d, "127.0.0.2")
	if na.BFD.TxInterval != 100*time.Millisecond || na.BFD.DetectionTime != 300*time.Millisecond || na.BFD.Multihop {
		t.Errorf("a's BFD status = %+v, want 100 ms tx, 300 ms detection, single hop", na.BFD)
	}
	ps, err := a.d.BFD(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Neighbor != ipB || ps[0].Status.State != bfd.StateUp || ps[0].Key.Multihop {
		t.Fatalf("a's BFD peers = %+v", ps)
	}

	// Lose b's BFD packets to a; BGP on TCP still flows.
	mem.Drop(ipB, ipA, true)
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
	if kernelHas(a.fake, "10.2.0.0/24") {
		t.Errorf("a's kernel still routes 10.2.0.0/24 after BFD Down")
	}
	t.Logf("BGP dropped %v after BFD packets stopped (detection time 300 ms)", took)
	waitFor(t, "b's session down too", func() (bool, string) {
		nb := neighbor(t, b.d, "127.0.0.1")
		return nb.State != "Established", nb.State
	})
	// Held: BGP stays down while BFD is down, well past the idle hold.
	time.Sleep(time.Second)
	if na := neighbor(t, a.d, "127.0.0.2"); na.State == "Established" || na.BFD.State == "Up" {
		t.Errorf("a re-established while BFD packets are lost: %s, BFD %s", na.State, na.BFD.State)
	}

	mem.Drop(ipB, ipA, false)
	waitFor(t, "BGP and BFD back up", up)
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
