//go:build linux

package transport

import (
	"bytes"
	"context"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/wire"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// loop is the smallest daemon around one fsm.Session and one connection:
// what internal/daemon does for every neighbor, here for interop tests.
type loop struct {
	t      *testing.T
	s      *fsm.Session
	peer   netip.AddrPort
	opts   Options
	conn   *Conn
	connID int
	recv   chan recvd
	dialed chan dialResult
	up     chan fsm.Negotiated
	routes chan wire.NLRI
	down   chan fsm.Down

	dialGen    int
	cancelDial context.CancelFunc
}

type recvd struct {
	id  int
	msg []byte
	err error
}

type dialResult struct {
	c   *net.TCPConn
	err error
	gen int
}

func newLoop(t *testing.T, cfg fsm.Config, peer netip.AddrPort, opts Options) *loop {
	s, err := fsm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &loop{
		t: t, s: s, peer: peer, opts: opts,
		recv: make(chan recvd, 64), dialed: make(chan dialResult, 1),
		up: make(chan fsm.Negotiated, 4), routes: make(chan wire.NLRI, 64), down: make(chan fsm.Down, 4),
	}
}

func (l *loop) apply(ctx context.Context, acts []fsm.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case fsm.Connect:
			l.dialGen++
			gen := l.dialGen
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			l.cancelDial = cancel
			go func() {
				defer cancel()
				c, err := Dial(dctx, l.peer, l.opts)
				select {
				case l.dialed <- dialResult{c, err, gen}:
				case <-ctx.Done():
					if c != nil {
						c.Close()
					}
				}
			}()
		case fsm.AbortConnect:
			// The result of the abandoned dial is dropped by generation.
			l.dialGen++
			if l.cancelDial != nil {
				l.cancelDial()
			}
		case fsm.Send:
			b, err := wire.Append(nil, a.Msg, l.s.Options())
			if err != nil {
				l.t.Errorf("encode %v: %v", a.Msg.Type(), err)
				continue
			}
			if l.conn != nil {
				if err := l.conn.Send(b); err != nil {
					l.t.Logf("send: %v", err)
				}
			}
		case fsm.CloseConnection:
			if l.conn != nil {
				l.conn.Close(time.Second)
				l.conn = nil
			}
		case fsm.Established:
			notify(ctx, l.up, a.Session)
		case fsm.Down:
			l.t.Logf("down: %s", a.Reason)
			notify(ctx, l.down, a)
		case fsm.DeliverUpdate:
			a.Update.Reachable(func(_ wire.Family, n wire.NLRI) { notify(ctx, l.routes, n) })
		}
	}
}

// notify never blocks the loop for longer than the test lives.
func notify[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}

func (l *loop) run(ctx context.Context, cmds <-chan fsm.Event) {
	defer func() {
		if l.conn != nil {
			l.conn.Close(time.Second)
		}
	}()
	l.apply(ctx, l.s.Step(time.Now(), fsm.ManualStart{}))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(time.Hour)
		if d := l.s.NextDeadline(); !d.IsZero() {
			timer.Reset(time.Until(d))
		}
		var ev fsm.Event
		select {
		case <-ctx.Done():
			return
		case ev = <-cmds:
		case <-timer.C:
			ev = fsm.Tick{}
		case d := <-l.dialed:
			if d.gen != l.dialGen {
				if d.c != nil {
					d.c.Close()
				}
				continue
			}
			if d.err != nil {
				ev = fsm.TcpConnectionFails{Reason: d.err.Error()}
				break
			}
			l.connID++
			l.conn = NewConn(d.c, frameSplit, 0)
			go l.read(l.conn, l.connID)
			ev = fsm.TcpConnectionConfirmed{}
		case r := <-l.recv:
			if r.id != l.connID || l.conn == nil {
				continue // a message from a connection already closed
			}
			if r.err != nil {
				ev = fsm.TcpConnectionFails{Reason: r.err.Error()}
				break
			}
			m, err := wire.Parse(r.msg, l.s.Options())
			ev = fsm.RecvMessage{Msg: m, Err: err}
		}
		l.apply(ctx, l.s.Step(time.Now(), ev))
	}
}

// frameSplit frames with the extended-message limit: the reader runs on
// its own goroutine and must not read the session's options, which change
// at the OPEN; wire.Parse applies the negotiated limit on the loop's
// goroutine.
func frameSplit(b []byte) (int, error) {
	return wire.Split(b, &wire.Options{ExtendedMessage: true})
}

func (l *loop) read(c *Conn, id int) {
	for {
		m, err := c.ReadMessage()
		if err != nil {
			l.recv <- recvd{id: id, err: err}
			return
		}
		l.recv <- recvd{id: id, msg: bytes.Clone(m)}
	}
}

// start runs the loop until the test returns: cancel stops it, and the
// test waits for it to end. The channel takes commands to the session.
func (l *loop) start(ctx context.Context, cancel context.CancelFunc) chan<- fsm.Event {
	cmds := make(chan fsm.Event)
	done := make(chan struct{})
	go func() { l.run(ctx, cmds); close(done) }()
	l.t.Cleanup(func() { cancel(); <-done })
	return cmds
}

// waitUp waits for the session with peer (a name for messages) to be
// established and returns what was negotiated.
func (l *loop) waitUp(ctx context.Context, peer string) fsm.Negotiated {
	l.t.Helper()
	select {
	case neg := <-l.up:
		return neg
	case <-ctx.Done():
		l.t.Fatalf("session with %s did not come up", peer)
		return fsm.Negotiated{}
	}
}

// waitRoute waits for the first route peer sends, which must be want.
func (l *loop) waitRoute(ctx context.Context, peer string, want netip.Prefix) {
	l.t.Helper()
	select {
	case n := <-l.routes:
		if n.Prefix() != want {
			l.t.Fatalf("received %v from %s, want %v", n.Prefix(), peer, want)
		}
	case <-ctx.Done():
		l.t.Fatalf("no UPDATE from %s", peer)
	}
}

// staysUp fails the test if the session goes down within d: keepalives
// must keep a hold time shorter than d alive on both sides.
func (l *loop) staysUp(d time.Duration) {
	l.t.Helper()
	time.Sleep(d)
	select {
	case down := <-l.down:
		l.t.Fatalf("session went down: %s", down.Reason)
	default:
	}
}

// startDaemon starts cmd, a peer daemon, with its output kept; at the end
// of the test it kills it and, if the test failed, logs the output.
func startDaemon(t *testing.T, cmd *exec.Cmd) *syncBuffer {
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(cmd.Path)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	return logs
}

func TestInteropGoBGP(t *testing.T) {
	gobgpd := testenv.RequireTool(t, "gobgpd")
	gobgp := testenv.RequireTool(t, "gobgp")
	dir := t.TempDir()
	bgpPort, apiPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`
[global.config]
  as = 65001
  router-id = "10.0.0.2"
  port = %d
  local-address-list = ["127.0.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.2"
    peer-as = 65000
    auth-password = "s3cret"
  [neighbors.timers.config]
    hold-time = 3
    keepalive-interval = 1
    # A first connection that races gobgpd's start-up (its MD5 key not
    # yet on the listener) is reset; without this gobgpd then refuses
    # every connection for 30 s.
    idle-hold-time-after-reset = 1
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`, bgpPort)
	path := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startDaemon(t, exec.CommandContext(ctx, gobgpd, "-f", path, "-p", "--api-hosts", fmt.Sprintf("127.0.0.1:%d", apiPort), "--pprof-disable"))
	cli := func(args ...string) string {
		out, err := exec.CommandContext(ctx, gobgp, append([]string{"-p", fmt.Sprint(apiPort)}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gobgp %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	cfg := fsm.Config{
		LocalAS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), PeerAS: fsm.PeerASNumber(65001),
		HoldTime: 9 * time.Second, ConnectRetry: time.Second, IdleHoldTime: 500 * time.Millisecond,
		Capabilities: wire.Capabilities{AS4: true, RouteRefresh: true, Multiprotocol: []wire.Family{wire.IPv4Unicast}},
		Required:     []uint8{wire.CapAS4},
	}
	l := newLoop(t, cfg, netip.AddrPortFrom(lo4, uint16(bgpPort)),
		Options{LocalAddr: netip.MustParseAddr("127.0.0.2"), MD5Key: "s3cret", GTSM: false})
	cmds := l.start(ctx, cancel)

	neg := l.waitUp(ctx, "gobgpd")
	if neg.PeerAS != 65001 || neg.HoldTime != 3*time.Second || neg.Keepalive != time.Second || !neg.Options.AS4 {
		t.Fatalf("negotiated %s", neg)
	}
	cli("global", "rib", "add", "10.99.0.0/24", "-a", "ipv4")
	l.waitRoute(ctx, "gobgpd", netip.MustParsePrefix("10.99.0.0/24"))
	l.staysUp(4 * time.Second)
	if out := cli("neighbor", "127.0.0.2"); !strings.Contains(strings.ToLower(out), "bgp state = established") {
		t.Fatalf("gobgpd does not see the session established:\n%s", out)
	}
	cmds <- fsm.ManualStop{Message: "interop test done"}
	select {
	case d := <-l.down:
		if d.Sent == nil || d.Sent.Subcode != wire.SubAdminShutdown {
			t.Fatalf("down without our shutdown: %+v", d)
		}
	case <-ctx.Done():
		t.Fatal("no Down after ManualStop")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := cli("neighbor", "127.0.0.2")
		if !strings.Contains(strings.ToLower(out), "bgp state = established") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gobgpd still established after our NOTIFICATION:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestInteropFRR runs a session against FRR's bgpd with TCP MD5 and GTSM
// on both sides (FRR "ttl-security hops 1" drops anything below TTL 255).
func TestInteropFRR(t *testing.T) {
	bgpd := "/usr/lib/frr/bgpd"
	if _, err := os.Stat(bgpd); err != nil {
		bgpd = testenv.RequireTool(t, "bgpd")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("FRR interop needs root in CI")
		}
		t.Skip("FRR interop needs root")
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := `frr defaults datacenter
hostname ctfrr
!
router bgp 65001
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 127.0.0.2 remote-as 65000
 neighbor 127.0.0.2 password s3cret
 neighbor 127.0.0.2 ttl-security hops 1
 neighbor 127.0.0.2 passive
 neighbor 127.0.0.2 timers 1 3
 address-family ipv4 unicast
  network 10.98.0.0/24
 exit-address-family
`
	path := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := startDaemon(t, exec.CommandContext(ctx, bgpd, "-f", path, "-p", fmt.Sprint(port), "-l", "127.0.0.1", "-Z", "-S",
		"-i", filepath.Join(dir, "bgpd.pid"), "--vty_socket", dir, "-P", "0", "-z", filepath.Join(dir, "zserv.api"), "--log", "stdout"))

	cfg := fsm.Config{
		LocalAS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), PeerAS: fsm.PeerASExternal(),
		HoldTime: 9 * time.Second, ConnectRetry: time.Second, IdleHoldTime: 500 * time.Millisecond,
		Capabilities: wire.Capabilities{AS4: true, RouteRefresh: true, EnhancedRouteRefresh: true,
			Multiprotocol: []wire.Family{wire.IPv4Unicast}, ExtendedMessage: true},
		Required: []uint8{wire.CapAS4, wire.CapRouteRefresh},
	}
	l := newLoop(t, cfg, netip.AddrPortFrom(lo4, uint16(port)),
		Options{LocalAddr: netip.MustParseAddr("127.0.0.2"), MD5Key: "s3cret", GTSM: true})
	cmds := l.start(ctx, cancel)

	neg := l.waitUp(ctx, "FRR")
	if neg.PeerAS != 65001 || neg.HoldTime != 3*time.Second || !neg.Options.AS4 || !neg.Options.ExtendedMessage || !neg.EnhancedRouteRefresh {
		t.Fatalf("negotiated %s", neg)
	}
	l.waitRoute(ctx, "FRR", netip.MustParsePrefix("10.98.0.0/24"))
	l.staysUp(4 * time.Second)
	cmds <- fsm.ManualStop{Message: "frr interop done"}
	select {
	case <-l.down:
	case <-ctx.Done():
		t.Fatal("no Down after ManualStop")
	}
	// FRR logs the RFC 9003 message it received.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "frr interop done") {
		if time.Now().After(deadline) {
			t.Fatal("FRR did not report our shutdown communication")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer a child process writes to while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
