//go:build linux

package neigh

import (
	"crypto/rand"
	"encoding/hex"
	"github.com/closnet/clos/internal/testenv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

type netnsPair struct {
	leaf, srv     string // namespace names
	leafIf, srvIf string
	leafNS        netns.NsHandle
}

func newPair(t *testing.T) *netnsPair {
	testenv.RequireRoot(t)
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := "cn" + hex.EncodeToString(b)
	n := &netnsPair{leaf: p + "l", srv: p + "s", leafIf: p + "a", srvIf: p + "b"}
	testenv.Run(t, "ip", "netns", "add", n.leaf)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.leaf).Run() })
	testenv.Run(t, "ip", "netns", "add", n.srv)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.srv).Run() })
	testenv.Run(t, "ip", "link", "add", n.leafIf, "netns", n.leaf, "type", "veth", "peer", "name", n.srvIf, "netns", n.srv)
	testenv.Run(t, "ip", "-n", n.leaf, "addr", "add", "10.77.0.1/24", "dev", n.leafIf)
	testenv.Run(t, "ip", "-n", n.leaf, "addr", "add", "2001:db8:77::1/64", "dev", n.leafIf, "nodad")
	testenv.Run(t, "ip", "-n", n.srv, "addr", "add", "10.77.0.2/24", "dev", n.srvIf)
	testenv.Run(t, "ip", "-n", n.srv, "addr", "add", "2001:db8:77::2/64", "dev", n.srvIf, "nodad")
	testenv.Run(t, "ip", "-n", n.leaf, "link", "set", n.leafIf, "up")
	testenv.Run(t, "ip", "-n", n.srv, "link", "set", n.srvIf, "up")
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
	// The kernel stores jiffies, so 225 ms may read back rounded up to
	// the next tick (228 at HZ=250).
	if ms, err := strconv.Atoi(got); err != nil || ms < 225 || ms > 235 {
		t.Fatalf("retrans_time_ms in leaf namespace = %q, want 225 (rounded to a jiffy)", got)
	}

	v4 := netip.MustParsePrefix("10.77.0.2/32")
	v6 := netip.MustParsePrefix("2001:db8:77::2/128")
	testenv.Run(t, "ip", "netns", "exec", n.srv, "ping", "-c", "1", "-W", "2", "10.77.0.1")
	testenv.Run(t, "ip", "netns", "exec", n.srv, "ping", "-6", "-c", "1", "-W", "2", "2001:db8:77::1")
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
	testenv.Run(t, "ip", "-n", n.srv, "addr", "del", "10.77.0.2/24", "dev", n.srvIf)
	testenv.Run(t, "ip", "-n", n.srv, "addr", "del", "2001:db8:77::2/64", "dev", n.srvIf)
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
	testenv.Run(t, "ip", "-n", n.leaf, "link", "set", n.leafIf, "down")
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

// FuzzConvertNeigh checks our conversion of decoded neighbor updates:
// any family, state, flags, address and link-layer bytes give either no
// event or one the engine can take, and the engine never originates
// outside its prefixes from it. (Raw bytes are not fuzzed here: netlink
// v1.3.1 NeighDeserialize trusts the kernel and panics on short bodies;
// the subscription only accepts messages from the kernel's port.)
func FuzzConvertNeigh(f *testing.F) {
	f.Add(uint8(unix.AF_INET), uint16(0x02), uint8(0), []byte{10, 0, 0, 5}, []byte{2, 0, 0, 0, 0, 5}, false)
	f.Add(uint8(unix.AF_INET6), uint16(0x20), uint8(0), []byte{0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}, []byte{2, 0, 0, 0, 0, 5}, true)
	f.Add(uint8(unix.AF_INET6), uint16(0x04), uint8(0), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 5}, []byte{2, 0, 0, 0, 0, 5}, false)
	f.Add(uint8(unix.AF_BRIDGE), uint16(0x80), uint8(netlink.NTF_PROXY), []byte{10, 0, 0, 5}, []byte{2}, false)
	f.Fuzz(func(t *testing.T, family uint8, state uint16, flags uint8, ip, mac []byte, del bool) {
		typ := uint16(unix.RTM_NEWNEIGH)
		if del {
			typ = unix.RTM_DELNEIGH
		}
		n := netlink.Neigh{LinkIndex: 7, Family: int(family), State: int(state), Flags: int(flags), IP: ip, HardwareAddr: mac}
		names := &ifNames{byIndex: map[int]string{7: "eth1"}}
		ev, ok := convertNeigh(netlink.NeighUpdate{Type: typ, Neigh: n}, names)
		if !ok {
			return
		}
		if ev.Interface != "eth1" || !ev.IP.IsValid() {
			t.Fatalf("bad event %+v from %+v", ev, n)
		}
		if family == unix.AF_INET && !ev.IP.Is4() {
			t.Fatalf("IPv4 neighbor became %v", ev.IP)
		}
		if del && ev.State != NUDDeleted {
			t.Fatalf("delete became %v", ev.State)
		}
		allowed := netip.MustParsePrefix("10.0.0.0/8")
		e, err := New(Config{Interfaces: []InterfaceConfig{{Name: "eth1", Allowed: []netip.Prefix{allowed}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range e.Step(time.Unix(0, 0), ev) {
			if o, ok := a.(Originate); ok && (!allowed.Contains(o.Prefix.Addr()) || o.Prefix.Bits() != 32) {
				t.Fatalf("originated %v", o.Prefix)
			}
		}
	})
}

func TestConvertNeigh(t *testing.T) {
	b := []byte{2, 0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0,
		8, 0, 1, 0, 10, 0, 0, 5,
		10, 0, 2, 0, 2, 0, 0, 0, 0, 5, 0, 0}
	n, err := netlink.NeighDeserialize(b)
	if err != nil {
		t.Fatal(err)
	}
	names := &ifNames{byIndex: map[int]string{7: "eth1"}}
	ev, ok := convertNeigh(netlink.NeighUpdate{Type: unix.RTM_NEWNEIGH, Neigh: *n}, names)
	want := NeighEvent{Interface: "eth1", IP: netip.MustParseAddr("10.0.0.5"), MAC: MAC{2, 0, 0, 0, 0, 5}, State: NUDStale}
	if !ok || ev != want {
		t.Fatalf("got %+v %v, want %+v", ev, ok, want)
	}
	ev, ok = convertNeigh(netlink.NeighUpdate{Type: unix.RTM_DELNEIGH, Neigh: *n}, names)
	if !ok || ev.State != NUDDeleted {
		t.Fatalf("delete: %+v %v", ev, ok)
	}
	n.Flags = netlink.NTF_PROXY
	if _, ok := convertNeigh(netlink.NeighUpdate{Type: unix.RTM_NEWNEIGH, Neigh: *n}, names); ok {
		t.Fatal("proxy entry converted")
	}
	n.Flags, n.Family = 0, unix.AF_BRIDGE
	if _, ok := convertNeigh(netlink.NeighUpdate{Type: unix.RTM_NEWNEIGH, Neigh: *n}, names); ok {
		t.Fatal("bridge FDB entry converted")
	}
	for s, want := range map[int]NUDState{0: NUDNone, 0x01: NUDIncomplete, 0x02: NUDReachable, 0x04: NUDStale, 0x08: NUDDelay, 0x10: NUDProbe, 0x20: NUDFailed, 0x40: NUDNoARP, 0x80: NUDPermanent} {
		if got := nudFromKernel(s); got != want {
			t.Errorf("nudFromKernel(%#x) = %v, want %v", s, got, want)
		}
	}
}
