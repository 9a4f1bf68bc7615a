package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/anycast"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// fakeChecks decides every check's outcome from a per-address mode the test
// sets: pass, fail, or hang until the check's deadline.
type fakeChecks struct {
	mu    sync.Mutex
	mode  map[string]string
	calls int
}

func (f *fakeChecks) set(addr, mode string) {
	f.mu.Lock()
	f.mode[addr] = mode
	f.mu.Unlock()
}

func (f *fakeChecks) exec(ctx context.Context, c anycast.CheckSpec) error {
	f.mu.Lock()
	m := f.mode[c.Address]
	f.calls++
	f.mu.Unlock()
	switch m {
	case "pass":
		return nil
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	}
	return errors.New("connection refused")
}

// bestAttrs is the best path's attributes for p in d's RIB, nil if none.
func bestAttrs(t *testing.T, d *Daemon, p string) *wire.PathAttrs {
	t.Helper()
	pfx := netip.MustParsePrefix(p)
	fam := wire.IPv4Unicast
	if pfx.Addr().Is6() {
		fam = wire.IPv6Unicast
	}
	var out *wire.PathAttrs
	err := d.query(context.Background(), func() {
		d.rib.LocRIB(fam, 0, func(r rib.Route) bool {
			if r.Prefix == pfx && r.Best {
				out = r.Attrs.Clone()
				return false
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hasGShut(a *wire.PathAttrs) bool {
	return a != nil && slices.Contains(a.Communities, wire.CommunityGracefulShutdown)
}

// hostAndLeaves starts a closd host with two leaves on 127.0.0.1-3.
func hostAndLeaves(t *testing.T, services string, checks *fakeChecks, lo *FakeLoopback) (h, l1, l2 *running) {
	t.Helper()
	ph, p1, p2 := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2"), freePort(t, "127.0.0.3")
	hc := parse(t, "host.yaml", fmt.Sprintf(`
router-id: 10.0.0.21
asn: 65101
role: host
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}}
neighbors:
  - {address: 127.0.0.2, remote-as: 65001, port: %d}
  - {address: 127.0.0.3, remote-as: 65002, port: %d}
%s`, ph, p1, p2, services))
	leaf := func(name, addr string, asn, port int, net string) *config.Config {
		return parse(t, name+".yaml", fmt.Sprintf(`
router-id: %s
asn: %d
listen: {address: %s, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}}
networks: [%s]
neighbors:
  - {address: 127.0.0.1, remote-as: 65101, port: %d}
`, addr, asn, addr, port, net, ph))
	}
	h = start(t, "host", hc, Options{ConnectRetry: time.Second, CheckExec: checks.exec, Loopback: lo})
	l1 = start(t, "leaf1", leaf("leaf1", "127.0.0.2", 65001, int(p1), "10.1.0.0/24, 10.9.0.0/24"), Options{ConnectRetry: time.Second})
	l2 = start(t, "leaf2", leaf("leaf2", "127.0.0.3", 65002, int(p2), "10.2.0.0/24, 10.9.0.0/24"), Options{ConnectRetry: time.Second})
	return h, l1, l2
}

func TestServicesAnnounceFailDrainUndrain(t *testing.T) {
	checks := &fakeChecks{mode: map[string]string{"127.0.0.1:53": "pass", "127.0.0.1:80": "fail"}}
	lo := NewFakeLoopback()
	h, l1, l2 := hostAndLeaves(t, `
services:
  - name: dns
    addresses: [10.255.0.53/32]
    check: {kind: tcp, address: "127.0.0.1:53"}
    interval: 50ms
    timeout: 30ms
    rise: 2
    fall: 3
    weight: 8000000000
    drain: {prepend: 2, time: 1s}
  - name: web
    addresses: [10.255.0.80/32, "2001:db8:ff::80/128"]
    check: {kind: tcp, address: "127.0.0.1:80"}
    interval: 50ms
    timeout: 30ms
drain: {graceful-shutdown: true, time: 300ms}
`, checks, lo)

	waitFor(t, "the service addresses on the loopback", func() (bool, string) {
		got, want := lo.Addrs(), []netip.Prefix{netip.MustParsePrefix("10.255.0.53/32"), netip.MustParsePrefix("10.255.0.80/32"), netip.MustParsePrefix("2001:db8:ff::80/128")}
		return slices.Equal(got, want), fmt.Sprint(got)
	})
	waitFor(t, "both leaves to see the dns address and the host's loopback", func() (bool, string) {
		r1, r2 := routes(t, l1.d), routes(t, l2.d)
		return r1["10.255.0.53/32"].ASPath == "65101" && r2["10.255.0.53/32"].ASPath == "65101" && r1["10.0.0.21/32"].ASPath == "65101",
			fmt.Sprintf("%v / %v", r1, r2)
	})
	a := bestAttrs(t, l1.d, "10.255.0.53/32")
	if len(a.ExtCommunities) != 1 {
		t.Fatalf("ext communities at the leaf = %v, want the link bandwidth", a.ExtCommunities)
	}
	if as, bw, ok := a.ExtCommunities[0].LinkBandwidth(); !ok || as != 65101 || bw != 1e9 {
		t.Errorf("link bandwidth = %v %v %v, want AS 65101, 1e9 bytes/s", as, bw, ok)
	}
	if hasGShut(a) {
		t.Error("graceful-shutdown community on a healthy service")
	}
	// The failing service is never announced; the host is no transit: a
	// leaf's network does not reach the other leaf through it.
	r1, r2 := routes(t, l1.d), routes(t, l2.d)
	if _, ok := r1["10.255.0.80/32"]; ok {
		t.Error("a service whose check fails is announced")
	}
	if _, ok := r2["10.1.0.0/24"]; ok {
		t.Error("leaf2 learned leaf1's network through the host")
	}
	if r := routes(t, h.d)["10.1.0.0/24"]; r.ASPath != "65001" {
		t.Errorf("the host's route to leaf1's network = %+v", r)
	}
	// What both leaves send is one ECMP route in the host's kernel, though
	// the leaves are in different ASes.
	waitFor(t, "an ECMP route over both leaves in the host's kernel", func() (bool, string) {
		k := h.fake.Snapshot()
		r, ok := k.Routes[netip.MustParsePrefix("10.9.0.0/24")]
		if !ok {
			return false, "no route"
		}
		return len(k.Nexthops[r.NexthopID].Group) == 2, fmt.Sprintf("%+v", k.Nexthops[r.NexthopID])
	})

	// Failing: withdrawn after fall (3) checks, within fall x interval +
	// timeout of the first failed check.
	checks.set("127.0.0.1:53", "fail")
	failed := time.Now()
	waitFor(t, "the dns address withdrawn", func() (bool, string) {
		_, ok1 := routes(t, l1.d)["10.255.0.53/32"]
		_, ok2 := routes(t, l2.d)["10.255.0.53/32"]
		return !ok1 && !ok2, ""
	})
	t.Logf("withdrawn at the leaves %v after the check started failing (50ms x 3)", time.Since(failed))
	st, err := h.d.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dns := st.Services[0]
	if dns.Name != "dns" || dns.Announced || dns.Health != anycast.HealthDown || len(dns.Routes) != 0 || len(dns.History) == 0 || dns.History[len(dns.History)-1].OK {
		t.Errorf("status after failing = %+v", dns)
	}
	if dns.Reason == "" {
		t.Error("no reason for being withdrawn")
	}

	checks.set("127.0.0.1:53", "pass")
	waitFor(t, "the dns address back", func() (bool, string) {
		return routes(t, l1.d)["10.255.0.53/32"].ASPath == "65101", ""
	})

	// A hung check counts as failed at its timeout.
	checks.set("127.0.0.1:53", "hang")
	waitFor(t, "the dns address withdrawn on hung checks", func() (bool, string) {
		_, ok := routes(t, l1.d)["10.255.0.53/32"]
		return !ok, ""
	})
	checks.set("127.0.0.1:53", "pass")
	waitFor(t, "the dns address back after hanging", func() (bool, string) {
		return routes(t, l1.d)["10.255.0.53/32"].ASPath == "65101", ""
	})

	// Drain: the community and the prepend first, the withdrawal after
	// the drain time (1s).
	if err := h.d.DrainServices(context.Background(), "dns"); err != nil {
		t.Fatal(err)
	}
	drained := time.Now()
	waitFor(t, "the drained route at the leaf", func() (bool, string) {
		r := routes(t, l1.d)["10.255.0.53/32"]
		return r.ASPath == "65101 65101 65101" && hasGShut(bestAttrs(t, l1.d, "10.255.0.53/32")), r.ASPath
	})
	// Seen before the withdrawal, as the drain time (1s) orders them; how
	// soon is the machine's business.
	t.Logf("drain attributes at the leaf %v after the drain", time.Since(drained))
	st, _ = h.d.Services(context.Background())
	if d := st.Services[0]; d.Admin != anycast.AdminDraining || len(d.Routes) != 1 || !d.Routes[0].GracefulShutdown || d.Routes[0].Prepend != 2 {
		t.Errorf("status while draining = %+v", d)
	}
	waitFor(t, "the drained route withdrawn", func() (bool, string) {
		_, ok := routes(t, l1.d)["10.255.0.53/32"]
		return !ok, ""
	})
	if since := time.Since(drained); since < 900*time.Millisecond {
		t.Errorf("withdrawn %v after the drain, before the drain time (1s)", since)
	}
	if err := h.d.DrainServices(context.Background(), "nope"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("drain of an unknown service: %v", err)
	}
	if err := h.d.UndrainServices(context.Background(), "dns"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the undrained route back without the community", func() (bool, string) {
		r := routes(t, l1.d)["10.255.0.53/32"]
		return r.ASPath == "65101" && !hasGShut(bestAttrs(t, l1.d, "10.255.0.53/32")), r.ASPath
	})
	if lo := len(lo.Addrs()); lo != 3 {
		t.Errorf("addresses on the loopback after drain/undrain: %d, want 3 (drain keeps them)", lo)
	}

	// Removing a service withdraws it and takes its addresses off the
	// loopback.
	c2 := *h.d.cfg
	c2.Services = c2.Services[:1]
	if err := h.d.ReconfigureServices(context.Background(), &c2); err != nil {
		t.Fatal(err)
	}
	if got := lo.Addrs(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.255.0.53/32")}) {
		t.Errorf("loopback after removing web = %v", got)
	}
	h.stop(t)
	l1.stop(t)
	l2.stop(t)
}

func TestSIGTERMDrainsBeforeStopping(t *testing.T) {
	checks := &fakeChecks{mode: map[string]string{"127.0.0.1:53": "pass"}}
	h, l1, l2 := hostAndLeaves(t, `
services:
  - name: dns
    addresses: [10.255.0.53/32]
    check: {kind: tcp, address: "127.0.0.1:53"}
    interval: 50ms
    timeout: 30ms
drain: {graceful-shutdown: true, time: 500ms, on-sigterm: true}
`, checks, NewFakeLoopback())
	defer l2.stop(t)
	// Run h again under StopAfterDrain: stop the plain one first.
	h.stop(t)
	d, err := New(h.d.cfg, Options{ConnectRetry: time.Second, CheckExec: checks.exec, Loopback: NewFakeLoopback(), Logger: testLogger(t, "host2")})
	if err != nil {
		t.Fatal(err)
	}
	term := make(chan os.Signal, 2)
	done := make(chan error, 1)
	go func() { done <- d.Run(d.StopAfterDrain(context.Background(), term)) }()
	waitFor(t, "the dns address at leaf1", func() (bool, string) {
		return routes(t, l1.d)["10.255.0.53/32"].ASPath == "65101", ""
	})
	term <- syscall.SIGTERM
	sent := time.Now()
	waitFor(t, "the graceful-shutdown community at leaf1", func() (bool, string) {
		return hasGShut(bestAttrs(t, l1.d, "10.255.0.53/32")), ""
	})
	waitFor(t, "the withdrawal at leaf1", func() (bool, string) {
		_, ok := routes(t, l1.d)["10.255.0.53/32"]
		return !ok, ""
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("closd did not stop after the drain")
	}
	if since := time.Since(sent); since < 450*time.Millisecond {
		t.Errorf("stopped %v after SIGTERM, before the drain time", since)
	}
	l1.stop(t)
}

func TestServicesRefusedConfig(t *testing.T) {
	c := parse(t, "x.yaml", `
router-id: 10.0.0.21
asn: 65101
role: host
networks: [10.255.0.53/32]
services:
  - {name: dns, addresses: [10.255.0.53/32], check: {kind: tcp, address: "127.0.0.1:53"}}
`)
	if _, err := New(c, Options{}); err == nil {
		t.Fatal("a service address also in networks is accepted")
	}
}

func TestStripPrepend(t *testing.T) {
	p := wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{7, 7, 9}}}
	if got := stripPrepend(p, 7, 2); len(got) != 1 || !slices.Equal(got[0].ASNs, []uint32{9}) {
		t.Errorf("strip 2 = %v", got)
	}
	if got := stripPrepend(wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{7, 7}}}, 7, 2); len(got) != 0 {
		t.Errorf("strip all = %v", got)
	}
	if got := stripPrepend(p, 8, 2); !slices.Equal(got[0].ASNs, []uint32{7, 7, 9}) {
		t.Errorf("strip another AS = %v", got)
	}
}

func TestServicesFollowAConfigReload(t *testing.T) {
	checks := &fakeChecks{mode: map[string]string{"127.0.0.1:53": "pass", "127.0.0.1:80": "pass"}}
	lo := NewFakeLoopback()
	const dns = `
services:
  - {name: dns, addresses: [10.255.0.53/32], check: {kind: tcp, address: "127.0.0.1:53"}, interval: 50ms, timeout: 30ms}
`
	h, l1, l2 := hostAndLeaves(t, dns, checks, lo)
	waitFor(t, "dns at leaf1", func() (bool, string) { return routes(t, l1.d)["10.255.0.53/32"].ASPath == "65101", "" })
	c2 := *h.d.cfg
	web := parse(t, "web.yaml", "router-id: 10.0.0.21\nasn: 65101\nrole: host\nservices:\n  - {name: web, addresses: [10.255.0.80/32], check: {kind: tcp, address: \"127.0.0.1:80\"}, interval: 50ms, timeout: 30ms}\n")
	c2.Services, c2.Drain = web.Services, web.Drain
	if _, err := h.d.ApplyConfig(context.Background(), &c2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dns withdrawn and web announced at leaf1", func() (bool, string) {
		r := routes(t, l1.d)
		_, dnsThere := r["10.255.0.53/32"]
		return !dnsThere && r["10.255.0.80/32"].ASPath == "65101", fmt.Sprint(r)
	})
	if got := lo.Addrs(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.255.0.80/32")}) {
		t.Errorf("loopback after the reload = %v", got)
	}
	// A service address also in networks is refused as a whole.
	c3 := c2
	c3.Networks = append(slices.Clone(c2.Networks), netip.MustParsePrefix("10.255.0.80/32"))
	if _, err := h.d.ApplyConfig(context.Background(), &c3); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("reload with a service address in networks: %v", err)
	}
	h.stop(t)
	l1.stop(t)
	l2.stop(t)
}

func TestTuneHostRuntime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	none := func(string) string { return "" }
	if TuneHostRuntime(&config.Config{Role: "switch"}, none) || runtime.GOMAXPROCS(0) != 2 {
		t.Error("a switch's GOMAXPROCS changed")
	}
	set := func(k string) string {
		if k == "GOMAXPROCS" {
			return "2"
		}
		return ""
	}
	if TuneHostRuntime(&config.Config{Role: "host"}, set) || runtime.GOMAXPROCS(0) != 2 {
		t.Error("GOMAXPROCS from the environment overridden")
	}
	if !TuneHostRuntime(&config.Config{Role: "host"}, none) || runtime.GOMAXPROCS(0) != HostProcs {
		t.Errorf("host: GOMAXPROCS %d, want %d", runtime.GOMAXPROCS(0), HostProcs)
	}
}

func TestNodeDrainCoversTheLoopback(t *testing.T) {
	checks := &fakeChecks{mode: map[string]string{"127.0.0.1:53": "pass"}}
	h, l1, l2 := hostAndLeaves(t, `
services:
  - name: dns
    addresses: [10.255.0.53/32]
    check: {kind: tcp, address: "127.0.0.1:53"}
    interval: 50ms
    timeout: 30ms
drain: {graceful-shutdown: true, prepend: 1, time: 600ms}
`, checks, NewFakeLoopback())
	defer l2.stop(t)
	defer l1.stop(t)
	defer h.stop(t)
	const lo = "10.0.0.21/32"
	waitFor(t, "the loopback and the service at leaf1", func() (bool, string) {
		r := routes(t, l1.d)
		return r[lo].ASPath == "65101" && r["10.255.0.53/32"].ASPath == "65101", fmt.Sprint(r)
	})
	// A service drain leaves the loopback alone.
	if err := h.d.DrainServices(context.Background(), "dns"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service drained", func() (bool, string) {
		return hasGShut(bestAttrs(t, l1.d, "10.255.0.53/32")), ""
	})
	if a := bestAttrs(t, l1.d, lo); hasGShut(a) || routes(t, l1.d)[lo].ASPath != "65101" {
		t.Errorf("a service drain touched the loopback: %s", routes(t, l1.d)[lo].ASPath)
	}
	if err := h.d.UndrainServices(context.Background(), "dns"); err != nil {
		t.Fatal(err)
	}

	// A node drain: the loopback gets the community and the prepend, then
	// goes after the drain time; undrain brings it back plain.
	if err := h.d.DrainServices(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	drained := time.Now()
	waitFor(t, "the drained loopback at leaf1", func() (bool, string) {
		r := routes(t, l1.d)[lo]
		return r.ASPath == "65101 65101" && hasGShut(bestAttrs(t, l1.d, lo)), r.ASPath
	})
	st, err := h.d.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Networks) != 1 || st.Networks[0].Prefix.String() != lo || !st.Networks[0].GracefulShutdown || st.Networks[0].Prepend != 1 || st.Networks[0].Withdrawn {
		t.Errorf("networks while draining = %+v", st.Networks)
	}
	waitFor(t, "the loopback withdrawn at both leaves", func() (bool, string) {
		_, ok1 := routes(t, l1.d)[lo]
		_, ok2 := routes(t, l2.d)[lo]
		return !ok1 && !ok2, ""
	})
	if since := time.Since(drained); since < 550*time.Millisecond {
		t.Errorf("loopback withdrawn %v after the drain, before the drain time (600ms)", since)
	}
	if st, _ := h.d.Services(context.Background()); len(st.Networks) != 1 || !st.Networks[0].Withdrawn {
		t.Errorf("networks after the drain time = %+v", st.Networks)
	}
	if err := h.d.UndrainServices(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the loopback back plain", func() (bool, string) {
		r := routes(t, l1.d)[lo]
		return r.ASPath == "65101" && !hasGShut(bestAttrs(t, l1.d, lo)), r.ASPath
	})
	if st, _ := h.d.Services(context.Background()); len(st.Networks) != 0 || st.DrainAll {
		t.Errorf("after undrain: drain-all %v, networks %+v", st.DrainAll, st.Networks)
	}
}
