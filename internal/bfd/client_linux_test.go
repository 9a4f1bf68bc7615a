package bfd

import (
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
	"golang.org/x/sys/unix"
)

// changeLog collects state changes for a test.
type changeLog struct {
	mu  sync.Mutex
	all []StateChange
}

func (l *changeLog) add(c StateChange) { l.mu.Lock(); l.all = append(l.all, c); l.mu.Unlock() }
func (l *changeLog) find(f func(StateChange) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.all {
		if f(c) {
			return true
		}
	}
	return false
}

func newTestClient(t *testing.T, port int, onChange func(StateChange)) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: port, MultihopPort: -1, OnStateChange: onChange})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func allUp(r Runner, n int) bool {
	ps := r.Peers()
	if len(ps) != n {
		return false
	}
	for _, p := range ps {
		if p.Status.State != StateUp {
			return false
		}
	}
	return true
}

// TestClientSessions: a session between a child process and an in-process
// Server comes Up, is shown, and goes when removed; Close ends the child.
func TestClientSessions(t *testing.T) {
	log := &changeLog{}
	c, srv, key, pb := clientPair(t, log)
	a, b := netip.MustParseAddr("127.0.3.1"), netip.MustParseAddr("127.0.3.2")
	if _, err := c.AddPeer(PeerConfig{Peer: b, Local: a, Port: uint16(pb)}); err == nil {
		t.Error("the same session added twice")
	}
	if _, err := c.AddPeer(PeerConfig{Peer: netip.MustParseAddr("fe80::1")}); err == nil {
		t.Error("a link-local peer without an interface was accepted")
	}
	waitFor(t, "the session Up on both ends", 10*time.Second, func() bool { return allUp(c, 1) && allUp(srv, 1) })
	if !log.find(func(sc StateChange) bool { return sc.Key == key && sc.To == StateUp }) {
		t.Error("no Up state change reached the parent")
	}
	ps := c.Peers()
	if ps[0].Key != key || ps[0].Counters.Rx == 0 || ps[0].Status.DetectionTime != 150*time.Millisecond {
		t.Errorf("peers: %+v", ps)
	}
	if err := c.RemovePeer(key); err != nil {
		t.Fatal(err)
	}
	if err := c.RemovePeer(key); err == nil {
		t.Error("removing a removed session succeeded")
	}
	waitFor(t, "the server to see AdminDown", 5*time.Second, func() bool {
		ps := srv.Peers()
		return len(ps) == 1 && ps[0].Status.RemoteState == StateAdminDown
	})
	pid := c.ChildPid()
	c.Close()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("child %d still runs after Close", pid)
	}
	if _, err := c.AddPeer(PeerConfig{Peer: b}); err != ErrClosed {
		t.Errorf("AddPeer after Close: %v", err)
	}
}

// TestClientRestart: a killed child is replaced, its sessions are reported
// Down (as restarted) and come Up again in the new one.
func TestClientRestart(t *testing.T) {
	log := &changeLog{}
	c, _, key, _ := clientPair(t, log)
	waitFor(t, "the session Up", 10*time.Second, func() bool { return allUp(c, 1) })
	pid := c.ChildPid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a Down marked restarted", 5*time.Second, func() bool {
		return log.find(func(sc StateChange) bool {
			return sc.Key == key && sc.From == StateUp && sc.To == StateDown && sc.PeerRestarted
		})
	})
	waitFor(t, "a new child with the session Up", 15*time.Second, func() bool {
		return c.ChildPid() != 0 && c.ChildPid() != pid && allUp(c, 1)
	})
	if c.Restarts() != 1 {
		t.Errorf("%d restarts, want 1", c.Restarts())
	}
	// SIGTERM (systemd's stop, sent to the whole cgroup) is for closd to
	// act on, not for the child.
	pid = c.ChildPid()
	syscall.Kill(pid, syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if c.ChildPid() != pid || c.Restarts() != 1 {
		t.Errorf("SIGTERM ended the child")
	}
	if st := threadNice(t, pid); st != childNice && os.Geteuid() == 0 {
		t.Errorf("a child thread runs at nice %d, want %d", st, childNice)
	}
	if attr, err := unix.SchedGetAttr(pid, 0); err == nil && os.Geteuid() == 0 && rtThrottled() &&
		(attr.Policy != unix.SCHED_RR || attr.Priority != childRTPriority) {
		t.Errorf("the child runs policy %d priority %d, want SCHED_RR %d", attr.Policy, attr.Priority, childRTPriority)
	}
	if comm, _ := os.ReadFile("/proc/" + itoa(pid) + "/comm"); string(comm) != "closd-bfd\n" {
		t.Errorf("the child is named %q in ps", comm)
	}
}

// threadNice returns the highest nice value among pid's threads.
func threadNice(t *testing.T, pid int) int {
	ents, err := os.ReadDir("/proc/" + itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	worst := -100
	for _, e := range ents {
		var tid int
		for _, ch := range e.Name() {
			tid = tid*10 + int(ch-'0')
		}
		p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			continue
		}
		worst = max(worst, 20-p) // the raw syscall returns 20 - nice
	}
	return worst
}

func itoa(n int) string { return string(appendInt(nil, n)) }
func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// TestClientNetns: started from a thread in another network namespace,
// the child (and the one that replaces it) runs in that namespace: its
// sessions reach a Server there over the namespace's own loopback.
func TestClientNetns(t *testing.T) {
	testenv.RequireRoot(t)
	type result struct {
		c   *Client
		srv *Server
		err error
	}
	ready := make(chan result)
	release := make(chan struct{})
	go func() {
		// This thread is left in the new namespace and dies with the
		// goroutine (never unlocked).
		runtime.LockOSThread()
		r := result{}
		defer func() {
			if r.err != nil {
				ready <- r
			}
		}()
		if r.err = unix.Unshare(unix.CLONE_NEWNET); r.err != nil {
			return
		}
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			r.err = err
			t.Log(string(out))
			return
		}
		r.c, r.err = NewClient(ClientConfig{Port: 3784, MultihopPort: -1})
		if r.err != nil {
			return
		}
		r.srv, r.err = NewServer(ServerConfig{Transport: &UDPTransport{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: 3785, MultihopPort: -1}})
		if r.err != nil {
			r.c.Close()
			return
		}
		a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
		iv := 50 * time.Millisecond
		if _, r.err = r.c.AddPeer(PeerConfig{Peer: b, Local: a, Port: 3785, DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3}); r.err == nil {
			_, r.err = r.srv.AddPeer(PeerConfig{Peer: a, Local: b, Port: 3784, DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3})
		}
		ready <- r
		r.err = nil
		<-release
	}()
	r := <-ready
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer close(release)
	defer r.srv.Close()
	defer r.c.Close()
	// The standard ports in the root namespace belong to whoever; here
	// they are ours, and only the namespace's loopback connects the two.
	waitFor(t, "the session Up inside the namespace", 10*time.Second, func() bool { return allUp(r.c, 1) && allUp(r.srv, 1) })
	self := netnsInode("/proc/thread-self/ns/net")
	child := netnsInode("/proc/" + itoa(r.c.ChildPid()) + "/ns/net")
	if child == self || child == 0 {
		t.Fatalf("child in namespace %d, test thread in %d", child, self)
	}
	pid := r.c.ChildPid()
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the restarted child with the session Up", 15*time.Second, func() bool {
		return r.c.ChildPid() != 0 && r.c.ChildPid() != pid && allUp(r.c, 1)
	})
	if got := netnsInode("/proc/" + itoa(r.c.ChildPid()) + "/ns/net"); got != child {
		t.Errorf("restarted child in namespace %d, want %d", got, child)
	}
}

// TestClientCloseAdminDown: the child tells its peers AdminDown before it
// goes.
func TestClientCloseAdminDown(t *testing.T) {
	pa, pb := freePortTB(t, "127.0.0.1"), freePortTB(t, "127.0.0.1")
	c := newTestClient(t, pa, nil)
	srv, err := NewServer(ServerConfig{Transport: &UDPTransport{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: pb, MultihopPort: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := netip.MustParseAddr("127.0.3.1"), netip.MustParseAddr("127.0.3.2")
	iv := 50 * time.Millisecond
	if _, err := c.AddPeer(PeerConfig{Peer: b, Local: a, Port: uint16(pb), DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3}); err != nil {
		t.Fatal(err)
	}
	srv.AddPeer(PeerConfig{Peer: a, Local: b, Port: uint16(pa), DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3})
	waitFor(t, "the session Up", 10*time.Second, func() bool { return allUp(c, 1) && allUp(srv, 1) })
	if err := c.CloseAdminDown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to hear AdminDown", 5*time.Second, func() bool {
		ps := srv.Peers()
		return len(ps) == 1 && ps[0].Status.State == StateDown && ps[0].Status.RemoteState == StateAdminDown
	})
}

// clientPair starts a Client (a child process) and an in-process Server
// on loopback with one 50 ms x 3 session between them, 127.0.3.1 on the
// child's side; state changes at the child's end go to log. It returns the
// session's key at the child and the Server's port.
func clientPair(t *testing.T, log *changeLog) (c *Client, srv *Server, key PeerKey, pb int) {
	t.Helper()
	pa, pb := freePortTB(t, "127.0.0.1"), freePortTB(t, "127.0.0.1")
	c = newTestClient(t, pa, log.add)
	srv, err := NewServer(ServerConfig{Transport: &UDPTransport{ListenAddrs: []netip.Addr{netip.IPv4Unspecified()}, Port: pb, MultihopPort: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	a, b := netip.MustParseAddr("127.0.3.1"), netip.MustParseAddr("127.0.3.2")
	timers := PeerConfig{DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond, DetectMult: 3}
	at, bt := timers, timers
	at.Peer, at.Local, at.Port = b, a, uint16(pb)
	bt.Peer, bt.Local, bt.Port = a, b, uint16(pa)
	if key, err = c.AddPeer(at); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddPeer(bt); err != nil {
		t.Fatal(err)
	}
	return c, srv, key, pb
}
