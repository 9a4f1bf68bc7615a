//go:build linux

package neigh

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// requireRoot fails under CI and skips elsewhere when the test cannot make
// network namespaces.
func requireRoot(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root to create network namespaces"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs iproute2 (ip)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type netnsPair struct {
	leaf, srv     string // namespace names
	leafIf, srvIf string
	leafNS        netns.NsHandle
}

func newPair(t *testing.T) *netnsPair {
	requireRoot(t)
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := "cn" + hex.EncodeToString(b)
	n := &netnsPair{leaf: p + "l", srv: p + "s", leafIf: p + "a", srvIf: p + "b"}
	run(t, "ip", "netns", "add", n.leaf)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.leaf).Run() })
	run(t, "ip", "netns", "add", n.srv)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.srv).Run() })
	run(t, "ip", "link", "add", n.leafIf, "netns", n.leaf, "type", "veth", "peer", "name", n.srvIf, "netns", n.srv)
	run(t, "ip", "-n", n.leaf, "addr", "add", "10.77.0.1/24", "dev", n.leafIf)
	run(t, "ip", "-n", n.leaf, "addr", "add", "2001:db8:77::1/64", "dev", n.leafIf, "nodad")
	run(t, "ip", "-n", n.srv, "addr", "add", "10.77.0.2/24", "dev", n.srvIf)
	run(t, "ip", "-n", n.srv, "addr", "add", "2001:db8:77::2/64", "dev", n.srvIf, "nodad")
	run(t, "ip", "-n", n.leaf, "link", "set", n.leafIf, "up")
	run(t, "ip", "-n", n.srv, "link", "set", n.srvIf, "up")
	h, err := netns.GetFromName(n.leaf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n.leafNS = h
	return n
}

// loop is the daemon's loop in miniature: events and deadlines into the
// engine, kernel actions out, routes recorded.
type loop struct {
	t      *testing.T
	e      *Engine
	k      *LinuxKernel
	w      *Watcher
	routes map[netip.Prefix]Originate
	acts   []Action
}

func (l *loop) apply(acts []Action) {
	l.acts = append(l.acts, acts...)
	for _, a := range acts {
		switch a := a.(type) {
		case Originate:
			l.routes[a.Prefix] = a
		case Withdraw:
			delete(l.routes, a.Prefix)
		}
	}
	if err := ApplyKernel(l.k, acts); err != nil {
		l.t.Errorf("kernel: %v", err)
	}
}

// until runs the loop until cond holds or timeout passes.
func (l *loop) until(timeout time.Duration, what string, cond func() bool) {
	l.t.Helper()
	end := time.Now().Add(timeout)
	for !cond() {
		now := time.Now()
		if now.After(end) {
			l.t.Fatalf("timed out after %v waiting for %s; routes %v", timeout, what, l.routes)
		}
		wait := end.Sub(now)
		if dl, ok := l.e.NextDeadline(); ok && dl.Sub(now) < wait {
			wait = max(dl.Sub(now), 0)
		}
		tm := time.NewTimer(wait)
		select {
		case ev, ok := <-l.w.Events():
			if !ok {
				l.t.Fatalf("watcher ended: %v", <-l.w.Errors())
			}
			l.apply(l.e.Step(time.Now(), ev))
		case err := <-l.w.Errors():
			l.t.Fatalf("watcher: %v", err)
		case <-tm.C:
			l.apply(l.e.Step(time.Now(), Tick{}))
		}
		tm.Stop()
	}
}

func TestLinuxLearnProbeWithdraw(t *testing.T) {
	n := newPair(t)
	e, err := New(Config{
		AgingTime:     time.Second,
		ProbeInterval: 300 * time.Millisecond,
		ProbeRetries:  3,
		Interfaces: []InterfaceConfig{{
			Name:    n.leafIf,
			Allowed: []netip.Prefix{netip.MustParsePrefix("10.77.0.0/24"), netip.MustParsePrefix("2001:db8:77::/64")},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewLinuxKernel(&n.leafNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	w, err := Watch(WatchOptions{Interfaces: []string{n.leafIf}, Namespace: &n.leafNS, Links: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	l := &loop{t: t, e: e, k: k, w: w, routes: map[netip.Prefix]Originate{}}
	l.apply(e.Start())

	// The timers landed in the leaf's namespace, not ours.
	var got string
	if err := k.inNS(func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4/neigh", n.leafIf, "retrans_time_ms"))
		got = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got != "300" {
		t.Fatalf("retrans_time_ms in leaf namespace = %q, want 300", got)
	}

	v4 := netip.MustParsePrefix("10.77.0.2/32")
	v6 := netip.MustParsePrefix("2001:db8:77::2/128")
	run(t, "ip", "netns", "exec", n.srv, "ping", "-c", "1", "-W", "2", "10.77.0.1")
	run(t, "ip", "netns", "exec", n.srv, "ping", "-6", "-c", "1", "-W", "2", "2001:db8:77::1")
	l.until(5*time.Second, "originate of the server's /32 and /128", func() bool {
		_, a := l.routes[v4]
		_, b := l.routes[v6]
		return a && b
	})
	for p, o := range l.routes {
		if !p.Addr().IsGlobalUnicast() || o.Interface != n.leafIf {
			t.Fatalf("unexpected route %v", o)
		}
	}

	// The server stays silent past the aging time: the engine probes it
	// through the kernel, the server answers, the routes stay.
	l.acts = nil
	probed := func(p netip.Prefix) bool {
		for _, a := range l.acts {
			if pr, ok := a.(Probe); ok && pr.IP == p.Addr() {
				return true
			}
		}
		return false
	}
	answered := func(p netip.Prefix) bool {
		hs := e.Hosts(time.Now())
		for _, h := range hs {
			if h.IP == p.Addr() && h.State == "active" && probed(p) {
				return true
			}
		}
		return false
	}
	l.until(6*time.Second, "a probe of the silent server answered", func() bool { return answered(v4) && answered(v6) })
	if _, ok := l.routes[v4]; !ok {
		t.Fatal("a host that answers probes lost its route")
	}

	// Now the server's addresses go away: probe, no answer, withdraw.
	run(t, "ip", "-n", n.srv, "addr", "del", "10.77.0.2/24", "dev", n.srvIf)
	run(t, "ip", "-n", n.srv, "addr", "del", "2001:db8:77::2/64", "dev", n.srvIf)
	l.acts = nil
	l.until(8*time.Second, "withdraw of the server's routes", func() bool {
		_, a := l.routes[v4]
		_, b := l.routes[v6]
		return !a && !b
	})
	if !probed(v4) || !probed(v6) {
		t.Fatal("withdrawn without a probe")
	}
}

func TestLinuxWatcherLinkDown(t *testing.T) {
	n := newPair(t)
	w, err := Watch(WatchOptions{Interfaces: []string{n.leafIf}, Namespace: &n.leafNS, Links: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	run(t, "ip", "-n", n.leaf, "link", "set", n.leafIf, "down")
	end := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if le, ok := ev.(LinkEvent); ok && le.Interface == n.leafIf && !le.Up {
				return
			}
		case err := <-w.Errors():
			t.Fatal(err)
		case <-end:
			t.Fatal("no link-down event")
		}
	}
}
