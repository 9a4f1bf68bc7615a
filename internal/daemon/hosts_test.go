package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/neigh"
)

// hostEnv is one leaf's fake host-route environment.
type hostEnv struct {
	mu       sync.Mutex
	watchers []*FakeHostWatcher
	kernel   *neigh.FakeKernel
	net      *FakeHostNet
}

func newHostEnv() *hostEnv {
	return &hostEnv{kernel: &neigh.FakeKernel{}, net: NewFakeHostNet()}
}

func (e *hostEnv) options(o Options) Options {
	o.HostKernel, o.HostNet = e.kernel, e.net
	o.HostWatch = func([]string) (HostWatcher, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		w := NewFakeHostWatcher(64)
		e.watchers = append(e.watchers, w)
		return w, nil
	}
	return o
}

func (e *hostEnv) watcher(t *testing.T) *FakeHostWatcher {
	t.Helper()
	var w *FakeHostWatcher
	waitFor(t, "a neighbor watcher", func() (bool, string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if n := len(e.watchers); n > 0 && !e.watchers[n-1].Closed() {
			w = e.watchers[n-1]
			return true, ""
		}
		return false, fmt.Sprintf("%d watchers", len(e.watchers))
	})
	return w
}

const hostsYAML = `
hosts:
  interfaces:
    - name: swp3
      allowed: [10.1.0.0/24, "2001:db8:1::/64"]
  probe-interval: 100ms
  probe-retries: 2
  community: "65000:100"
  gateway: {ipv4: 10.1.0.1/24, mac: "02:00:00:00:01:01"}
  aggregate: true
`

// hostPath is a path to prefix in d's RIB: local or from a peer, with its
// mobility sequence and standard communities.
type hostPath struct {
	local  bool
	seq    uint32
	hasSeq bool
	comms  []uint32
	best   bool
}

func hostPaths(t *testing.T, d *Daemon, prefix string) []hostPath {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	var out []hostPath
	err := d.query(context.Background(), func() {
		d.rib.LocRIB(wire.IPv4Unicast, 0, func(r rib.Route) bool {
			if r.Prefix == pfx {
				seq, _, ok := rib.Mobility(r.Attrs)
				out = append(out, hostPath{local: r.Peer == 0, seq: seq, hasSeq: ok, comms: r.Attrs.Communities, best: r.Best})
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func bestPath(ps []hostPath) (hostPath, bool) {
	for _, p := range ps {
		if p.best {
			return p, true
		}
	}
	return hostPath{}, false
}

var (
	vmIP  = netip.MustParseAddr("10.1.0.10")
	vmPfx = netip.MustParsePrefix("10.1.0.10/32")
	vmMAC = neigh.MAC{0x02, 0, 0, 0, 0, 0x0a}
)

// TestHostRoutesLearnMoveWithdraw runs two leaves with fake neighbor
// tables: a learns a host and originates it with the mobility and
// standard communities; the host moves to b, which outbids a; a probes,
// gets no answer and withdraws within the probe time; then b loses it.
func TestHostRoutesLearnMoveWithdraw(t *testing.T) {
	ca, cb := pairConfigsWith(t, hostsYAML)
	cb.Hosts = ca.Hosts
	ea, eb := newHostEnv(), newHostEnv()
	a := start(t, "a", ca, ea.options(Options{ConnectRetry: time.Second}))
	b := start(t, "b", cb, eb.options(Options{ConnectRetry: time.Second}))
	waitFor(t, "session", func() (bool, string) {
		na := neighbor(t, a.d, "127.0.0.2")
		return na.State == "Established", na.State
	})
	if gw := ea.net.Ports["swp3"]; gw.IPv4 != netip.MustParsePrefix("10.1.0.1/24") || gw.MAC != (neigh.MAC{2, 0, 0, 0, 1, 1}) {
		t.Errorf("port setup = %+v", ea.net.Ports)
	}
	if tm, ok := ea.kernel.Timers["swp3"]; !ok || tm.UcastSolicit != 1 {
		t.Errorf("kernel timers = %+v", ea.kernel.Timers)
	}
	// aggregate: true originates the shared subnet on both leaves.
	if ps := hostPaths(t, a.d, "10.1.0.0/24"); len(ps) == 0 || !ps[0].local {
		t.Errorf("aggregate at a: %+v", ps)
	}

	wa := ea.watcher(t)
	wa.Send(neigh.NeighEvent{Interface: "swp3", IP: vmIP, MAC: vmMAC, State: neigh.NUDReachable})
	waitFor(t, "a originates the host, b learns it with seq 0", func() (bool, string) {
		pa, pb := hostPaths(t, a.d, "10.1.0.10/32"), hostPaths(t, b.d, "10.1.0.10/32")
		ba, oka := bestPath(pa)
		bb, okb := bestPath(pb)
		return oka && okb && ba.local && ba.hasSeq && ba.seq == 0 && len(ba.comms) == 1 && ba.comms[0] == 65000<<16|100 &&
			!bb.local && bb.hasSeq && bb.seq == 0, fmt.Sprintf("a %+v b %+v", pa, pb)
	})
	if port, ok := ea.net.Route(vmPfx); !ok || port != "swp3" {
		t.Errorf("a's kernel route to the host: %q %v", port, ok)
	}
	// Non-allowed addresses are never originated.
	wa.Send(neigh.NeighEvent{Interface: "swp3", IP: netip.MustParseAddr("10.9.9.9"), MAC: vmMAC, State: neigh.NUDReachable})

	// The VM moves to b: b's kernel sees it (its gratuitous ARP).
	wb := eb.watcher(t)
	moved := time.Now()
	wb.Send(neigh.NeighEvent{Interface: "swp3", IP: vmIP, MAC: vmMAC, State: neigh.NUDStale})
	waitFor(t, "b originates seq 1, a's best is b's", func() (bool, string) {
		pa, pb := hostPaths(t, a.d, "10.1.0.10/32"), hostPaths(t, b.d, "10.1.0.10/32")
		ba, _ := bestPath(pa)
		bb, _ := bestPath(pb)
		return bb.local && bb.seq == 1 && !ba.local && ba.seq == 1, fmt.Sprintf("a %+v b %+v", pa, pb)
	})
	// a probes the host at once and, without an answer, withdraws it.
	waitFor(t, "a withdraws", func() (bool, string) {
		pa := hostPaths(t, a.d, "10.1.0.10/32")
		for _, p := range pa {
			if p.local {
				return false, fmt.Sprintf("%+v", pa)
			}
		}
		return len(pa) == 1, fmt.Sprintf("%+v", pa)
	})
	took := time.Since(moved)
	t.Logf("a withdrew %v after the move (probe time: 2 probes 100ms apart + 100ms)", took)
	if probes := ea.kernel.TakeProbes(); len(probes) != 2 || probes[0].IP != vmIP || probes[0].MAC != vmMAC {
		t.Errorf("a's probes = %+v, want 2 to the VM", probes)
	}
	if _, ok := ea.net.Route(vmPfx); ok {
		t.Error("a kept its kernel route to the moved host")
	}
	if port, ok := eb.net.Route(vmPfx); !ok || port != "swp3" {
		t.Errorf("b's kernel route to the host: %q %v", port, ok)
	}
	st, err := a.d.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hosts) != 0 || st.Counters.Originated != 1 || st.Counters.Withdrawn != 1 || st.Counters.Probes != 2 || st.Engine.Rejected != 1 {
		t.Errorf("a's host status = %+v", st)
	}
	ms, err := ListenMetrics("127.0.0.1:0", a.d)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close(context.Background())
	text := scrape(t, "http://"+ms.Addr().String()+"/metrics")
	for _, re := range []string{`(?m)^closd_hosts\{interface="swp3"\} 0$`, `(?m)^closd_hosts_events_total\{event="withdrawn"\} 1$`,
		`(?m)^closd_hosts_events_total\{event="probes"\} 2$`, `(?m)^closd_hosts_events_total\{event="rejected"\} 1$`,
		`(?m)^closd_hosts_remote_routes 1$`, `(?m)^closd_hosts_watching 1$`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("a's metrics lack %s", re)
		}
	}
	sb, err := b.d.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.Hosts) != 1 || sb.Hosts[0].Seq != 1 || sb.Hosts[0].Interface != "swp3" || sb.Engine.Moves != 1 {
		t.Errorf("b's host status = %+v", sb)
	}

	// The watcher fails (ENOBUFS): b starts a new one and keeps its hosts.
	wb.Fail(errors.New("netlink receive: no buffer space available"))
	waitFor(t, "b restarts its watcher", func() (bool, string) {
		st, _ := b.d.Hosts(context.Background())
		return st.Counters.WatcherStarts == 2 && st.Watching && wb.Closed(), fmt.Sprintf("%+v", st.Counters)
	})
	wb = eb.watcher(t)

	// The VM is removed at b: the entry fails, b probes and withdraws; a
	// loses its route too.
	wb.Send(neigh.NeighEvent{Interface: "swp3", IP: vmIP, MAC: vmMAC, State: neigh.NUDFailed})
	waitFor(t, "host gone everywhere", func() (bool, string) {
		pa, pb := hostPaths(t, a.d, "10.1.0.10/32"), hostPaths(t, b.d, "10.1.0.10/32")
		return len(pa) == 0 && len(pb) == 0, fmt.Sprintf("a %+v b %+v", pa, pb)
	})
	if _, ok := eb.net.Route(vmPfx); ok {
		t.Error("b kept its kernel route")
	}
	a.stop(t)
	b.stop(t)
	for _, w := range append(ea.watchers, eb.watchers...) {
		if !w.Closed() {
			t.Error("a watcher was left open after Run returned")
		}
	}
}

func TestHostsOffWithoutSection(t *testing.T) {
	ca, _ := pairConfigs(t)
	d, err := New(ca, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Hosts(context.Background()); !errors.Is(err, ErrNoHosts) {
		t.Errorf("Hosts without a section: %v", err)
	}
}

// answeringKernel is a fake kernel behind which the host is still there:
// every probe is answered with a REACHABLE entry, as Linux reports.
type answeringKernel struct {
	neigh.FakeKernel
	env *hostEnv
}

func (k *answeringKernel) Probe(p neigh.Probe) error {
	if err := k.FakeKernel.Probe(p); err != nil {
		return err
	}
	k.env.mu.Lock()
	w := k.env.watchers[len(k.env.watchers)-1]
	k.env.mu.Unlock()
	go w.Send(neigh.NeighEvent{Interface: p.Interface, IP: p.IP, MAC: p.MAC, State: neigh.NUDReachable})
	return nil
}

// TestHostRoutesDualHomed: a server attached to two leaves with one
// address (multihomed: true) is advertised by both with the same
// sequence, and the spine spreads traffic over both.
func TestHostRoutesDualHomed(t *testing.T) {
	ps, pa, pb := freePort(t, "127.0.0.3"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	leafCfg := func(name, addr string, asn, port int) string {
		return fmt.Sprintf(`
router-id: %s
asn: %d
listen: {address: %s, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}}
neighbors:
  - {address: 127.0.0.3, remote-as: 65100, port: %d}
hosts:
  interfaces: [{name: swp3, allowed: [10.1.0.0/24]}]
  probe-interval: 100ms
  probe-retries: 2
  multihomed: true
`, addr, asn, addr, port, ps)
	}
	spine := parse(t, "spine.yaml", fmt.Sprintf(`
router-id: 127.0.0.3
asn: 65100
listen: {address: 127.0.0.3, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}, multipath-relax: true}
neighbors:
  - {address: 127.0.0.1, remote-as: 65001, port: %d}
  - {address: 127.0.0.2, remote-as: 65002, port: %d}
`, ps, pa, pb))
	ea, eb := newHostEnv(), newHostEnv()
	ka, kb := &answeringKernel{env: ea}, &answeringKernel{env: eb}
	oa, ob := ea.options(Options{ConnectRetry: time.Second}), eb.options(Options{ConnectRetry: time.Second})
	oa.HostKernel, ob.HostKernel = ka, kb
	s := start(t, "spine", spine, Options{ConnectRetry: time.Second})
	a := start(t, "a", parse(t, "a.yaml", leafCfg("a", "127.0.0.1", 65001, int(pa))), oa)
	b := start(t, "b", parse(t, "b.yaml", leafCfg("b", "127.0.0.2", 65002, int(pb))), ob)
	waitFor(t, "sessions", func() (bool, string) {
		n1, n2 := neighbor(t, s.d, "127.0.0.1"), neighbor(t, s.d, "127.0.0.2")
		return n1.State == "Established" && n2.State == "Established", n1.State + "/" + n2.State
	})
	ea.watcher(t).Send(neigh.NeighEvent{Interface: "swp3", IP: vmIP, MAC: vmMAC, State: neigh.NUDReachable})
	waitFor(t, "the spine has a's route", func() (bool, string) {
		_, ok := bestPath(hostPaths(t, s.d, "10.1.0.10/32"))
		return ok, ""
	})
	eb.watcher(t).Send(neigh.NeighEvent{Interface: "swp3", IP: vmIP, MAC: vmMAC, State: neigh.NUDReachable})
	var multipath int
	waitFor(t, "both leaves at one sequence, ECMP at the spine", func() (bool, string) {
		sa, _ := a.d.Hosts(context.Background())
		sb, _ := b.d.Hosts(context.Background())
		multipath = 0
		err := s.d.query(context.Background(), func() {
			s.d.rib.LocRIB(wire.IPv4Unicast, 0, func(r rib.Route) bool {
				if r.Prefix == vmPfx && r.Multipath {
					multipath++
				}
				return true
			})
		})
		if err != nil || len(sa.Hosts) != 1 || len(sb.Hosts) != 1 {
			return false, fmt.Sprintf("a %+v b %+v", sa.Hosts, sb.Hosts)
		}
		return sa.Hosts[0].Seq == sb.Hosts[0].Seq && multipath == 2,
			fmt.Sprintf("seq a %d b %d, spine multipath %d", sa.Hosts[0].Seq, sb.Hosts[0].Seq, multipath)
	})
	sa, _ := a.d.Hosts(context.Background())
	if sa.Engine.Freezes != 0 || sa.Engine.Withdrawn != 0 {
		t.Errorf("a shared host was fought over: %+v", sa.Engine)
	}
	// One link fails: only that leaf's route goes; the spine keeps the other.
	ea.watcher(t).Send(neigh.LinkEvent{Interface: "swp3", Up: false})
	waitFor(t, "the spine keeps b's path alone", func() (bool, string) {
		ps := hostPaths(t, s.d, "10.1.0.10/32")
		return len(ps) == 1, fmt.Sprintf("%+v", ps)
	})
}

// TestHostsIPv6Proxy: an IPv6 host held on one port gets proxy ND entries
// on the leaf's other ports of its subnet (not its own); a host another
// leaf advertises gets them on every port; both go with the host.
func TestHostsIPv6Proxy(t *testing.T) {
	cfg := parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
hosts:
  interfaces:
    - {name: swp3, allowed: ["2001:db8:1::/64"]}
    - {name: swp4, allowed: ["2001:db8:1::/64"]}
    - {name: swp5, allowed: [10.1.0.0/24]}
  probe-interval: 50ms
  probe-retries: 1
`, freePort(t, "127.0.0.1")))
	env := newHostEnv()
	a := start(t, "a", cfg, env.options(Options{}))
	w := env.watcher(t)
	local := netip.MustParseAddr("2001:db8:1::10")
	w.Send(neigh.NeighEvent{Interface: "swp3", IP: local, MAC: vmMAC, State: neigh.NUDReachable})
	waitFor(t, "a proxy entry on the other port only", func() (bool, string) {
		got := env.net.ProxyList()
		return slices.Equal(got, []string{"2001:db8:1::10%swp4"}), fmt.Sprint(got)
	})
	remote := netip.MustParsePrefix("2001:db8:1::20/128")
	feed := func(present bool) {
		if err := a.d.query(context.Background(), func() {
			a.d.hostsRemote([]rib.RemoteHost{{Family: wire.IPv6Unicast, Prefix: remote, Present: present, Seq: 3}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	feed(true)
	if got := env.net.ProxyList(); !slices.Equal(got, []string{"2001:db8:1::10%swp4", "2001:db8:1::20%swp3", "2001:db8:1::20%swp4"}) {
		t.Errorf("with a remote host: %v", got)
	}
	feed(false)
	w.Send(neigh.NeighEvent{Interface: "swp3", IP: local, MAC: vmMAC, State: neigh.NUDFailed})
	waitFor(t, "no proxy entries left", func() (bool, string) {
		got := env.net.ProxyList()
		return len(got) == 0, fmt.Sprint(got)
	})
}

// TestHostsPortAppearsLater: a port missing at start (a VM's tap not
// created yet) is set up when the watcher reports it up.
func TestHostsPortAppearsLater(t *testing.T) {
	cfg := parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
hosts:
  interfaces: [{name: tap7, allowed: [10.1.0.0/24]}]
  gateway: {ipv4: 10.1.0.1/24}
`, freePort(t, "127.0.0.1")))
	env := newHostEnv()
	env.net.SetFail("tap7", true)
	env.kernel.Fail = map[string]bool{"tap7": true}
	start(t, "a", cfg, env.options(Options{}))
	w := env.watcher(t)
	if _, ok := env.net.Port("tap7"); ok {
		t.Fatal("a missing port was set up")
	}
	env.net.SetFail("tap7", false)
	w.Send(neigh.LinkEvent{Interface: "tap7", Up: true})
	waitFor(t, "the port set up once it is up", func() (bool, string) {
		gw, ok := env.net.Port("tap7")
		return ok && gw.IPv4 == netip.MustParsePrefix("10.1.0.1/24"), fmt.Sprint(gw, ok)
	})
}

// TestHostsReload: a reload that moves the allowed subnet, adds a port,
// turns on the aggregate and changes the community withdraws the hosts
// now outside, originates the new subnet, sets the new port up, restarts
// the watcher for the new port list and re-originates with the community.
func TestHostsReload(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	conf := func(hosts string) *config.Config {
		return parse(t, "a.yaml", fmt.Sprintf("router-id: 10.0.0.1\nasn: 65001\nlisten: {address: 127.0.0.1, port: %d}\n%s", port, hosts))
	}
	env := newHostEnv()
	a := start(t, "a", conf(`
hosts:
  interfaces: [{name: swp3, allowed: [10.1.0.0/24, 10.3.0.0/24]}]
  probe-interval: 50ms
`), env.options(Options{}))
	w := env.watcher(t)
	w.Send(neigh.NeighEvent{Interface: "swp3", IP: vmIP, MAC: vmMAC, State: neigh.NUDReachable})
	w.Send(neigh.NeighEvent{Interface: "swp3", IP: netip.MustParseAddr("10.3.0.7"), MAC: vmMAC, State: neigh.NUDReachable})
	waitFor(t, "two hosts", func() (bool, string) {
		st, _ := a.d.Hosts(context.Background())
		return len(st.Hosts) == 2, fmt.Sprint(st.Hosts)
	})
	rep, err := a.d.ApplyConfig(context.Background(), conf(`
hosts:
  interfaces:
    - {name: swp3, allowed: [10.3.0.0/24]}
    - {name: swp4, allowed: [10.3.0.0/24]}
  probe-interval: 50ms
  community: "65000:7"
  aggregate: true
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rep.Notes {
		if strings.Contains(n, "other sections") {
			t.Errorf("reload note: %s", n)
		}
	}
	if ps := hostPaths(t, a.d, "10.1.0.10/32"); len(ps) != 0 {
		t.Errorf("host outside the new prefixes kept: %+v", ps)
	}
	if ps := hostPaths(t, a.d, "10.3.0.7/32"); len(ps) != 1 || len(ps[0].comms) != 1 || ps[0].comms[0] != 65000<<16|7 {
		t.Errorf("kept host with the new community: %+v", ps)
	}
	if ps := hostPaths(t, a.d, "10.3.0.0/24"); len(ps) != 1 || !ps[0].local {
		t.Errorf("new aggregate: %+v", ps)
	}
	if _, ok := env.net.Port("swp4"); !ok {
		t.Error("the new port was not set up")
	}
	env.mu.Lock()
	n := len(env.watchers)
	env.mu.Unlock()
	if n != 2 {
		t.Errorf("%d watchers, want a new one for the new port list", n)
	}
}
