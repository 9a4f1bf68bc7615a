package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/fib"
)

// rawPeer is a hand-driven BGP speaker on a listener the daemon dials.
type rawPeer struct {
	t    *testing.T
	ln   *net.TCPListener
	c    net.Conn
	opts wire.Options
}

func newRawPeer(t *testing.T, addr string) *rawPeer {
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &rawPeer{t: t, ln: ln.(*net.TCPListener), opts: wire.Options{AS4: true}}
}

func (p *rawPeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// accept takes the daemon's connection and returns its OPEN.
func (p *rawPeer) accept() *wire.Open {
	p.t.Helper()
	p.ln.SetDeadline(time.Now().Add(15 * time.Second))
	c, err := p.ln.Accept()
	if err != nil {
		p.t.Fatalf("the daemon did not connect: %v", err)
	}
	p.t.Cleanup(func() { c.Close() })
	p.c = c
	m, err := p.read(5 * time.Second)
	if err != nil {
		p.t.Fatalf("reading the daemon's OPEN: %v", err)
	}
	o, ok := m.(*wire.Open)
	if !ok {
		p.t.Fatalf("first message %T, want an OPEN", m)
	}
	return o
}

func (p *rawPeer) send(ms ...wire.Message) {
	p.t.Helper()
	var b []byte
	for _, m := range ms {
		var err error
		if b, err = wire.Append(b, m, &p.opts); err != nil {
			p.t.Fatal(err)
		}
	}
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next message, or an error at EOF or after wait.
func (p *rawPeer) read(wait time.Duration) (wire.Message, error) {
	p.c.SetReadDeadline(time.Now().Add(wait))
	hdr := make([]byte, wire.HeaderLen)
	if _, err := io.ReadFull(p.c, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:]))
	if n < wire.HeaderLen {
		return nil, fmt.Errorf("bad length %d", n)
	}
	b := append(hdr, make([]byte, n-wire.HeaderLen)...)
	if _, err := io.ReadFull(p.c, b[wire.HeaderLen:]); err != nil {
		return nil, err
	}
	return wire.Parse(b, &p.opts)
}

// updates reads for d and returns the UPDATEs seen, keepalives skipped.
func (p *rawPeer) updates(d time.Duration) []*wire.Update {
	var out []*wire.Update
	until := time.Now().Add(d)
	for time.Now().Before(until) {
		m, err := p.read(time.Until(until))
		if err != nil {
			break
		}
		if u, ok := m.(*wire.Update); ok {
			out = append(out, u)
		}
	}
	return out
}

func (p *rawPeer) open(f bool) *wire.Open {
	return &wire.Open{AS: 65008, HoldTime: 9, RouterID: netip.MustParseAddr("10.0.0.8"),
		Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true,
			GracefulRestart: &wire.GracefulRestart{Time: 120, Families: []wire.GRFamily{{Family: wire.IPv4Unicast, ForwardingPreserved: f}}}}}
}

// seedRoute puts a route of ours in the fake kernel, as a previous run
// would have left it.
func seedRoute(t *testing.T, f *fib.Fake, p string) {
	res, err := f.Apply(context.Background(), []fib.Op{{Kind: fib.OpSetRoute, Route: fib.Route{Prefix: netip.MustParsePrefix(p), Blackhole: true}}})
	if err != nil || res[0] != nil {
		t.Fatalf("seeding %s: %v %v", p, err, res)
	}
}

func loFIB(t *testing.T) (*fib.Fake, func(nh, _ netip.Addr) (fib.Member, error)) {
	f := fib.NewFake()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	f.SetLink(fib.Link{Index: lo.Index, Name: "lo", AdminUp: true, OperUp: true})
	return f, func(nh, _ netip.Addr) (fib.Member, error) {
		return fib.Member{Gateway: nh, Ifindex: lo.Index, Ifname: "lo"}, nil
	}
}

func grStatus(t *testing.T, d *Daemon) GracefulRestartStatus {
	t.Helper()
	st, err := d.GracefulRestart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRestartPhaseWaitsForEndOfRIB: closd starts and finds a route of its
// own in the kernel. It says Restarting with Forwarding preserved, sends
// the peer nothing until the peer's End-of-RIB, keeps the adopted route
// meanwhile, then sends its table and End-of-RIB and sweeps what nobody
// re-learned.
func TestRestartPhaseWaitsForEndOfRIB(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	fk, resolve := loFIB(t)
	seedRoute(t, fk, "10.9.0.0/24")
	cfg := grConfig(t, "networks: [10.1.0.0/24]\ngraceful-restart: {select-defer-time: 1h, restart-time: 30s}", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "gr", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)

	o := peer.accept()
	g := o.Caps.GracefulRestart
	if g == nil || !g.Restarting || g.Time != 30 || len(g.Families) != 1 || g.Families[0].Family != wire.IPv4Unicast || !g.Families[0].ForwardingPreserved {
		t.Fatalf("restarting closd's capability: %+v", g)
	}
	if st := grStatus(t, r.d); st.Mode != "restart" || st.Adopted != 1 || !st.Restarting {
		t.Fatalf("status %+v, want mode restart, 1 adopted, restarting", st)
	}
	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr("127.0.0.8"),
		ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65008}}}}
	learned := netip.MustParsePrefix("10.8.1.0/24")
	peer.send(peer.open(true), &wire.Keepalive{}, &wire.Update{Attrs: attrs, NLRI: []wire.NLRI{wire.NewNLRI(learned, 0)}})
	waitFor(t, "the learned route in the FIB", func() (bool, string) { return kernelHas(fk, learned.String()), "" })
	if us := peer.updates(500 * time.Millisecond); len(us) != 0 {
		t.Fatalf("closd sent %d UPDATEs before the peer's End-of-RIB: %v", len(us), us[0])
	}
	if !kernelHas(fk, "10.9.0.0/24") {
		t.Fatal("the adopted route was swept before the restart phase ended")
	}

	peer.send(wire.EndOfRIB(wire.IPv4Unicast))
	var gotNet, gotEoR bool
	deadline := time.Now().Add(10 * time.Second)
	for !gotEoR && time.Now().Before(deadline) {
		m, err := peer.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for closd's End-of-RIB: %v", err)
		}
		u, ok := m.(*wire.Update)
		if !ok {
			continue
		}
		if _, eor := u.EndOfRIB(); eor {
			gotEoR = true
			continue
		}
		for _, n := range u.NLRI {
			if n.Prefix() == netip.MustParsePrefix("10.1.0.0/24") {
				gotNet = true
			}
		}
	}
	if !gotNet || !gotEoR {
		t.Fatalf("after the peer's End-of-RIB: network announced %v, End-of-RIB %v", gotNet, gotEoR)
	}
	waitFor(t, "the adopted route nobody re-learned swept", func() (bool, string) { return !kernelHas(fk, "10.9.0.0/24"), "" })
	if !kernelHas(fk, learned.String()) {
		t.Error("the re-learned route left the FIB at the sweep")
	}
	if st := grStatus(t, r.d); st.Restarting || st.PhaseTook <= 0 || st.PhaseTook > time.Minute {
		t.Errorf("after every End-of-RIB: %+v, want the phase over and timed", st)
	}
	ms, err := ListenMetrics("127.0.0.1:0", r.d)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close(context.Background())
	body := scrape(t, "http://"+ms.Addr().String()+"/metrics")
	for _, want := range []string{"closd_graceful_restart_restarting 0\n", "closd_graceful_restart_adopted_routes 1\n", "closd_graceful_restart_helping 0\n", "closd_graceful_restart_phase_seconds "} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestRestartPhaseEndsAtSelectDeferTime: a configured neighbor that never
// comes up holds the sweep only until select-defer-time.
func TestRestartPhaseEndsAtSelectDeferTime(t *testing.T) {
	fk, resolve := loFIB(t)
	seedRoute(t, fk, "10.9.0.0/24")
	cfg := grConfig(t, "graceful-restart: {select-defer-time: 1s}", grPeer{"127.0.0.9", int(freePort(t, "127.0.0.9"))})
	began := time.Now()
	r := start(t, "gr", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)
	waitFor(t, "the adopted route swept", func() (bool, string) { return !kernelHas(fk, "10.9.0.0/24"), "" })
	if took := time.Since(began); took < 900*time.Millisecond {
		t.Errorf("swept %v after start, before the 1 s select-defer-time", took)
	}
	if st := grStatus(t, r.d); st.Restarting || st.Adopted != 1 {
		t.Errorf("status %+v", st)
	}
}

// TestGracefulRestartCapabilityModes: what each mode advertises on a
// fresh start (nothing adopted: F clear, R clear).
func TestGracefulRestartCapabilityModes(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"", "time=120 families=[ipv4-unicast F=false]"},
		{"restart", "time=120 families=[ipv4-unicast F=false]"},
		{"helper", "time=120 families=[]"},
		{"off", "none"},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			peer := newRawPeer(t, "127.0.0.8")
			section := ""
			if tc.mode != "" {
				section = fmt.Sprintf("graceful-restart: {mode: '%s'}\n", tc.mode)
			}
			cfg := grConfig(t, section, grPeer{"127.0.0.8", peer.port()})
			r := start(t, "gr", cfg, Options{ConnectRetry: time.Second})
			defer r.stop(t)
			got := "none"
			if g := peer.accept().Caps.GracefulRestart; g != nil {
				var fs []string
				for _, f := range g.Families {
					fs = append(fs, fmt.Sprintf("%s F=%v", f.Family, f.ForwardingPreserved))
				}
				if g.Restarting {
					t.Errorf("R set on a fresh start")
				}
				got = fmt.Sprintf("time=%d families=[%s]", g.Time, strings.Join(fs, " "))
			}
			if got != tc.want {
				t.Errorf("capability %s, want %s", got, tc.want)
			}
		})
	}
}

// TestGracefulStopSendsNoNotification: GracefulStop then the end of Run
// closes the session with a bare TCP close; without it (or in mode helper)
// the peer gets Cease/Administrative Shutdown.
func TestGracefulStopSendsNoNotification(t *testing.T) {
	for _, tc := range []struct {
		name, section string
		graceful      bool
		wantNotif     bool
	}{
		{"graceful", "", true, false},
		{"full stop", "", false, true},
		{"helper mode", "graceful-restart: {mode: helper}\n", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := newRawPeer(t, "127.0.0.8")
			cfg := grConfig(t, tc.section, grPeer{"127.0.0.8", peer.port()})
			r := start(t, "gr", cfg, Options{ConnectRetry: time.Second})
			peer.accept()
			peer.send(peer.open(true), &wire.Keepalive{})
			waitFor(t, "Established", func() (bool, string) {
				n := neighbor(t, r.d, "127.0.0.8")
				return n.State == "Established", n.State
			})
			if tc.graceful {
				r.d.GracefulStop()
			}
			r.stop(t)
			var notif *wire.Notification
			for {
				m, err := peer.read(5 * time.Second)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("reading until the close: %v", err)
				}
				if n, ok := m.(*wire.Notification); ok {
					notif = n
				}
			}
			if (notif != nil) != tc.wantNotif {
				t.Errorf("NOTIFICATION %v, want one: %v", notif, tc.wantNotif)
			}
			if notif != nil && (notif.Code != wire.CodeCease || notif.Subcode != wire.SubAdminShutdown) {
				t.Errorf("NOTIFICATION %v, want Cease/Administrative Shutdown", notif)
			}
		})
	}
}

// TestGracefulRestartBetweenDaemons: a stops gracefully and a new a starts
// on the same (fake) kernel. b, its helper, never withdraws a's routes;
// a's kernel never loses b's route; the new a adopts it and ends its
// restart phase at b's End-of-RIB, long before select-defer-time.
func TestGracefulRestartBetweenDaemons(t *testing.T) {
	ca, cb := pairConfigsWith(t, "graceful-restart: {select-defer-time: 1h}\n")
	fa, resolve := loFIB(t)
	o := Options{FIB: fa, Resolve: resolve, ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 50 * time.Millisecond}
	a := start(t, "a", ca, o)
	b := start(t, "b", cb, Options{ConnectRetry: time.Second, IdleHoldTime: 50 * time.Millisecond, MaxIdleHoldTime: 50 * time.Millisecond})
	defer b.stop(t)
	waitFor(t, "routes exchanged", func() (bool, string) {
		return kernelHas(fa, "10.2.0.0/24") && kernelHas(b.fake, "10.1.0.0/24") && kernelHas(b.fake, "10.1.1.0/24"), ""
	})
	// Watch both kernels from here on: a gap is a lost packet.
	var gaps atomic.Int32
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if !kernelHas(fa, "10.2.0.0/24") || !kernelHas(b.fake, "10.1.0.0/24") || !kernelHas(b.fake, "10.1.1.0/24") {
				gaps.Add(1)
			}
		}
	}()
	a.d.GracefulStop()
	a.stop(t)
	waitFor(t, "b to see a go", func() (bool, string) {
		n := neighbor(t, b.d, "127.0.0.1")
		return n.State != "Established", n.State
	})
	if st := grStatus(t, b.d); st.Helping != 1 {
		t.Errorf("b's status while a is away: %+v, want helping 1", st)
	}
	a2 := start(t, "a2", ca, o)
	defer a2.stop(t)
	waitFor(t, "a's restart phase to end", func() (bool, string) {
		st := grStatus(t, a2.d)
		return !st.Restarting && st.Adopted > 0, fmt.Sprintf("%+v", st)
	})
	waitFor(t, "b to take a back (its End-of-RIB ends the stale state)", func() (bool, string) {
		stale, fresh := 0, 0
		b.d.query(context.Background(), func() {
			b.d.rib.LocRIB(wire.IPv4Unicast, 0, func(r rib.Route) bool {
				if r.Stale {
					stale++
				} else if r.Prefix.Addr().As4()[1] == 1 {
					fresh++
				}
				return true
			})
		})
		return stale == 0 && fresh == 2, fmt.Sprintf("a's paths at b: %d stale, %d fresh", stale, fresh)
	})
	close(stop)
	<-watched
	if n := gaps.Load(); n > 0 {
		t.Errorf("%d samples found a route missing from a kernel during the restart", n)
	}
	if st := grStatus(t, a2.d); st.Adopted != 1 {
		t.Errorf("a adopted %d routes, want b's one", st.Adopted)
	}
}

// TestGracefulRestartReload: a reload keeps the session and changes the
// restart time the next OPEN advertises; a new mode waits for the next
// start and says so.
func TestGracefulRestartReload(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	port := freePort(t, "127.0.0.1")
	cfg := func(section string) string {
		return fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
%sneighbors:
  - address: 127.0.0.8
    remote-as: 65008
    port: %d
`, port, section, peer.port())
	}
	r := start(t, "gr", parse(t, "gr.yaml", cfg("")), Options{ConnectRetry: time.Second, IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)
	if g := peer.accept().Caps.GracefulRestart; g == nil || g.Time != 120 {
		t.Fatalf("first OPEN's capability %+v", g)
	}
	peer.send(peer.open(true), &wire.Keepalive{})
	waitFor(t, "Established", func() (bool, string) {
		n := neighbor(t, r.d, "127.0.0.8")
		return n.State == "Established", n.State
	})
	rep, err := r.d.ApplyConfig(context.Background(), parse(t, "gr.yaml", cfg("graceful-restart: {mode: helper, restart-time: 30s}\n")))
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(rep.Notes, "\n")
	if len(rep.Reset) != 0 || !strings.Contains(notes, "graceful-restart.mode changed: takes effect at the next start") ||
		!strings.Contains(notes, "graceful-restart timers changed") {
		t.Errorf("reload report %+v", rep)
	}
	peer.c.Close()
	g := peer.accept().Caps.GracefulRestart
	if g == nil || g.Time != 30 || len(g.Families) != 1 {
		t.Errorf("OPEN after the reload: %+v, want restart time 30 and still mode restart's families", g)
	}
}

// TestRestartPhaseDoesNotWaitForARestartingPeer: a peer that restarts too
// (R bit) waits for closd's End-of-RIB before sending its own, so closd
// must not hold its own for it (RFC 4724 4.1); but the restart phase, and
// the adopted routes with it, still wait for the peer's End-of-RIB: FRR
// sets R for restart-time after bgpd starts and sends its routes only
// after its update delay.
func TestRestartPhaseDoesNotWaitForARestartingPeer(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	fk, resolve := loFIB(t)
	seedRoute(t, fk, "10.9.0.0/24")
	cfg := grConfig(t, "networks: [10.1.0.0/24]\ngraceful-restart: {select-defer-time: 1h}", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "gr", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)
	peer.accept()
	o := peer.open(true)
	o.Caps.GracefulRestart.Restarting = true
	peer.send(o, &wire.Keepalive{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := peer.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("closd did not send End-of-RIB to a restarting peer that has sent none: %v", err)
		}
		if u, ok := m.(*wire.Update); ok {
			if _, eor := u.EndOfRIB(); eor {
				break
			}
		}
	}
	if st := grStatus(t, r.d); !st.Restarting || !kernelHas(fk, "10.9.0.0/24") {
		t.Fatalf("the restart phase ended before the restarting peer's End-of-RIB: %+v", st)
	}
	peer.send(wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the adopted route swept", func() (bool, string) { return !kernelHas(fk, "10.9.0.0/24"), "" })
}

// TestRestartPhaseSweepSparesTheLastUpdate: the peer re-announces an
// adopted route in the same write as its End-of-RIB; the sweep at the end
// of the phase must see it and never delete it from the kernel.
func TestRestartPhaseSweepSparesTheLastUpdate(t *testing.T) {
	peer := newRawPeer(t, "127.0.0.8")
	fk, resolve := loFIB(t)
	kept := netip.MustParsePrefix("10.8.1.0/24")
	seedRoute(t, fk, kept.String())
	seedRoute(t, fk, "10.9.0.0/24")
	var deleted atomic.Int32
	fk.SetFault(func(op fib.Op) error {
		if op.Kind == fib.OpDelRoute && op.Route.Prefix == kept {
			deleted.Add(1)
		}
		return nil
	})
	cfg := grConfig(t, "graceful-restart: {select-defer-time: 1h}", grPeer{"127.0.0.8", peer.port()})
	r := start(t, "gr", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)
	peer.accept()
	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr("127.0.0.8"),
		ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65008}}}}
	peer.send(peer.open(true), &wire.Keepalive{}, &wire.Update{Attrs: attrs, NLRI: []wire.NLRI{wire.NewNLRI(kept, 0)}}, wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the sweep", func() (bool, string) { return !kernelHas(fk, "10.9.0.0/24"), "" })
	if !kernelHas(fk, kept.String()) || deleted.Load() != 0 {
		t.Errorf("the re-announced route: in the kernel %v, deleted %d times", kernelHas(fk, kept.String()), deleted.Load())
	}
}

// TestRestartPhaseEndOfRIBIsPerSession: a peer that sent End-of-RIB, then
// lost its session during the restart phase, holds the phase again until
// its new session sends End-of-RIB: the session struct is reused across
// reconnects, and the old End-of-RIB must not count for the new one.
func TestRestartPhaseEndOfRIBIsPerSession(t *testing.T) {
	p8, p9 := newRawPeer(t, "127.0.0.8"), newRawPeer(t, "127.0.0.9")
	fk, resolve := loFIB(t)
	seedRoute(t, fk, "10.9.0.0/24")
	cfg := grConfig(t, "graceful-restart: {select-defer-time: 1h}", grPeer{"127.0.0.8", p8.port()}, grPeer{"127.0.0.9", p9.port()})
	r := start(t, "gr", cfg, Options{FIB: fk, Resolve: resolve, ConnectRetry: time.Second})
	defer r.stop(t)

	p8.accept()
	p8.send(p8.open(true), &wire.Keepalive{}, wire.EndOfRIB(wire.IPv4Unicast))
	p8.updates(300 * time.Millisecond)
	// The session ends without a NOTIFICATION and comes back.
	p8.c.Close()
	p8.accept()
	p8.send(p8.open(true), &wire.Keepalive{})
	p8.updates(300 * time.Millisecond)

	o9 := p9.accept()
	if o9 == nil {
		t.Fatal("no OPEN from closd to .9")
	}
	open9 := p9.open(true)
	open9.AS, open9.RouterID = 65009, netip.MustParseAddr("10.0.0.9")
	p9.send(open9, &wire.Keepalive{}, wire.EndOfRIB(wire.IPv4Unicast))
	p9.updates(500 * time.Millisecond)
	if st := grStatus(t, r.d); !st.Restarting {
		t.Fatalf("the restart phase ended on .8's End-of-RIB from its previous session: %+v", st)
	}
	if !kernelHas(fk, "10.9.0.0/24") {
		t.Fatal("the adopted route was swept while .8's new session owes its End-of-RIB")
	}

	p8.send(wire.EndOfRIB(wire.IPv4Unicast))
	waitFor(t, "the restart phase over after .8's new End-of-RIB", func() (bool, string) {
		st := grStatus(t, r.d)
		return !st.Restarting, fmt.Sprintf("%+v", st)
	})
}

// grPeer is a neighbor of grConfig: its address, and the port closd dials.
type grPeer struct {
	addr string
	port int
}

// grConfig is the config of a closd listening on 127.0.0.1 with body (its
// graceful-restart, networks and bgp lines) and the neighbors ps; a
// neighbor 127.0.0.N is in AS 65000+N.
func grConfig(t *testing.T, body string, ps ...grPeer) *config.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "router-id: 10.0.0.1\nasn: 65001\nlisten: {address: 127.0.0.1, port: %d}\n%s\nneighbors:\n", freePort(t, "127.0.0.1"), body)
	for _, p := range ps {
		a := netip.MustParseAddr(p.addr)
		fmt.Fprintf(&b, "  - address: %s\n    remote-as: %d\n    port: %d\n", a, 65000+int(a.As4()[3]), p.port)
	}
	return parse(t, "gr.yaml", b.String())
}
