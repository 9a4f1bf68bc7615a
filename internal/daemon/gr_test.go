package daemon

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// TestGracefulRestartHelper: a peer that keeps its forwarding (F bit)
// loses its TCP session without a NOTIFICATION; closd keeps its routes in
// the FIB while it restarts. Back, the peer announces one of its two
// prefixes again and sends End-of-RIB: the other goes. Then it fails again
// and does not come back: its routes go at its restart time.
func TestGracefulRestartHelper(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.8:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := grConfig(t, "", grPeer{"127.0.0.8", ln.Addr().(*net.TCPAddr).Port})
	r := start(t, "gr", cfg, Options{ConnectRetry: time.Second, IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)
	opts := wire.Options{AS4: true}
	session := func(restarting bool, send ...wire.Message) net.Conn {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("the daemon did not connect: %v", err)
		}
		gr := &wire.GracefulRestart{Restarting: restarting, Time: 2,
			Families: []wire.GRFamily{{Family: wire.IPv4Unicast, ForwardingPreserved: true}}}
		b, _ := wire.Append(nil, &wire.Open{AS: 65008, HoldTime: 9, RouterID: netip.MustParseAddr("10.0.0.8"),
			Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true, GracefulRestart: gr}}, &opts)
		b, _ = wire.Append(b, &wire.Keepalive{}, &opts)
		for _, m := range send {
			b, _ = wire.Append(b, m, &opts)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		// Drain what the daemon sends so it never blocks.
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
		return c
	}
	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr("127.0.0.8"),
		ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65008}}}}
	p1, p2 := netip.MustParsePrefix("10.8.1.0/24"), netip.MustParsePrefix("10.8.2.0/24")
	both := &wire.Update{Attrs: attrs, NLRI: []wire.NLRI{wire.NewNLRI(p1, 0), wire.NewNLRI(p2, 0)}}
	c := session(false, both)
	waitFor(t, "both prefixes in the FIB", func() (bool, string) {
		return kernelHas(r.fake, p1.String()) && kernelHas(r.fake, p2.String()), ""
	})
	c.Close() // no NOTIFICATION: a restart
	waitFor(t, "the session down", func() (bool, string) {
		n := neighbor(t, r.d, "127.0.0.8")
		return n.State != "Established", n.State
	})
	if !kernelHas(r.fake, p1.String()) || !kernelHas(r.fake, p2.String()) {
		t.Fatal("the restarting peer's routes left the FIB")
	}
	one := &wire.Update{Attrs: attrs, NLRI: []wire.NLRI{wire.NewNLRI(p1, 0)}}
	c = session(true, one, wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the prefix not announced again withdrawn at End-of-RIB", func() (bool, string) {
		return kernelHas(r.fake, p1.String()) && !kernelHas(r.fake, p2.String()), ""
	})
	c.Close()
	waitFor(t, "the session down again", func() (bool, string) {
		n := neighbor(t, r.d, "127.0.0.8")
		return n.State != "Established", n.State
	})
	down := time.Now()
	if !kernelHas(r.fake, p1.String()) {
		t.Fatal("the restarting peer's route left the FIB at once")
	}
	// Nobody accepts the daemon's dials now; the 2 s restart time runs out.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Millisecond))
	waitFor(t, "the route withdrawn at the restart time", func() (bool, string) {
		return !kernelHas(r.fake, p1.String()), ""
	})
	if took := time.Since(down); took < 1500*time.Millisecond {
		t.Errorf("withdrawn %v after the session went down; want the 2 s restart time", took)
	}
}
