package lab

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/plan"
)

// hostsView is the part of closd's /v1/hosts these tests read.
type hostsView struct {
	Hosts []struct {
		IP        netip.Addr `json:"ip"`
		Interface string     `json:"interface"`
		Seq       uint32     `json:"seq"`
		Frozen    bool       `json:"frozen"`
	} `json:"hosts"`
	Frozen []struct {
		IP netip.Addr `json:"ip"`
	} `json:"frozen"`
	Engine struct {
		Rejected  uint64 `json:"rejected"`
		Conflicts uint64 `json:"conflicts"`
		Freezes   uint64 `json:"freezes"`
	} `json:"engine"`
}

func (l *testLab) hosts(leaf string) hostsView {
	l.t.Helper()
	n, ok := l.s.Node(leaf)
	if !ok || n.Socket == "" {
		l.t.Fatalf("%s has no API socket", leaf)
	}
	b, err := api.NewClient(n.Socket).Get(l.ctx, api.HostsPath)
	if err != nil {
		l.t.Fatalf("show hosts on %s: %v", leaf, err)
	}
	var v hostsView
	if err := json.Unmarshal(b, &v); err != nil {
		l.t.Fatalf("show hosts on %s: %v: %s", leaf, err, b)
	}
	return v
}

// route is node's kernel route to addr, as ip prints it.
func (l *testLab) route(node string, addr netip.Addr) string {
	fam := "-4"
	if addr.Is6() {
		fam = "-6"
	}
	out, _ := run(l.ctx, "ip", fam, "-n", Netns(l.s.Prefix, node), "route", "show", addr.String()+"/"+bits(addr))
	return strings.TrimSpace(out)
}

func bits(a netip.Addr) string {
	if a.Is4() {
		return "32"
	}
	return "128"
}

// waitFor polls cond every 50 ms for at most bound.
func (l *testLab) waitFor(what string, bound time.Duration, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not within %s: %s", what, bound, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heldOn waits until leaf forwards addr out of its own server port iface
// (closd's host route) and no other leaf does.
func (l *testLab) heldOn(addr netip.Addr, leaf, iface string) {
	l.t.Helper()
	l.waitFor(addr.String()+" held on "+leaf+":"+iface, 10*time.Second, func() (bool, string) {
		var state []string
		ok := true
		for _, n := range l.f.Nodes {
			if n.Role != "leaf" {
				continue
			}
			r := l.route(n.Name, addr)
			state = append(state, n.Name+": "+r)
			local := strings.Contains(r, "proto 202")
			if n.Name == leaf {
				ok = ok && local && strings.Contains(r, "dev "+iface+" ")
			} else {
				ok = ok && !local
			}
		}
		return ok, strings.Join(state, "; ")
	})
}

func (l *testLab) move(server, to string, quiet bool) *MoveResult {
	l.t.Helper()
	r, err := Move(l.ctx, l.s, l.f, server, to, MoveOptions{Quiet: quiet})
	if err != nil {
		l.t.Fatalf("move %s --to %s: %v", server, to, err)
	}
	return r
}

// TestNeighborLab runs seed-003 planned with --hosts neighbor under closd:
// every server reaches every other through host routes; a VM moves with
// and without a gratuitous ARP; ping-pong moves end frozen; a spoofing
// server gets nothing originated.
func TestNeighborLab(t *testing.T) {
	requireLabTools(t, false)
	closd := buildClosd(t)
	_, path := neighborFabric(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	l := upLab(t, ctx, path, Options{Kind: KindClosd, Closd: closd})
	l.reachable("neighbor mode")
	s1, s2 := netip.MustParseAddr("10.2.0.2"), netip.MustParseAddr("10.2.0.3")
	s1v6 := netip.MustParseAddr("fd00:2::2")
	l.heldOn(s1, "leaf1", "swp3")
	// The server's first IPv6 packet (to its gateway, once its address is
	// past duplicate address detection) makes leaf1 learn its /128.
	l.waitFor("server1 pings its IPv6 gateway", 10*time.Second, func() (bool, string) {
		out, err := nsRun(ctx, Netns(l.s.Prefix, "server1"), "ping", "-6", "-c", "1", "-W", "1", "fd00:2::1")
		return err == nil, out
	})
	l.heldOn(s1v6, "leaf1", "swp3")
	for _, spine := range []string{"spine3", "spine4"} {
		if r := l.route(spine, s1); !strings.Contains(r, "10.1.0.") {
			t.Errorf("%s has no host route to server1: %q", spine, r)
		}
	}

	// A move with a gratuitous ARP: the new leaf learns at once, the old
	// one probes when it sees the newer sequence and withdraws within its
	// probe time (100 ms x 2), not the ARP cache's time (tens of seconds).
	start := time.Now()
	l.move("server1", "leaf2", false)
	l.heldOn(s1, "leaf2", "swp3")
	learned := time.Since(start)
	l.heldOn(s1v6, "leaf2", "swp3") // from the unsolicited NA
	leaf1, _ := l.s.Node("leaf1")
	var took time.Duration
	l.waitFor("leaf1 logs its withdraw of server1", 10*time.Second, func() (bool, string) {
		var ok bool
		took, ok = withdrawnAfter(leaf1.Log, start, []netip.Addr{s1})
		return ok, tail(leaf1.Log, 3)
	})
	t.Logf("move server1 leaf1 -> leaf2 with gratuitous ARP: leaf2 holds it after %s; leaf1 withdrew it after %s (closd log)", learned.Round(time.Millisecond), took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("leaf1 withdrew after %s: that is ARP-cache time, not probe time", took)
	}
	l.reachable("after moving server1 to leaf2")
	if v := l.hosts("leaf2"); !hasHost(v, s1, "swp3") {
		t.Errorf("show hosts on leaf2 lacks server1 on swp3: %+v", v.Hosts)
	}

	// A quiet move: nobody announces the VM. It is learned when it next
	// ARPs for its gateway, as a VM whose ARP entry expired does on its
	// first packet; the cache is flushed to make that packet come now.
	start = time.Now()
	l.move("server1", "leaf1", true)
	if _, err := nsRun(ctx, Netns(l.s.Prefix, "server1"), "ip", "neigh", "flush", "dev", "eth1"); err != nil {
		t.Fatal(err)
	}
	_, _ = nsRun(ctx, Netns(l.s.Prefix, "server1"), "ping", "-c", "1", "-W", "1", "10.2.0.5")
	l.heldOn(s1, "leaf1", "swp3")
	t.Logf("quiet move of server1 back to leaf1: held there after %s", time.Since(start).Round(time.Millisecond))
	l.reachable("after the quiet move back")

	// Ping-pong: server2 moves back and forth until flap detection (5
	// moves in 180 s) freezes it; show hosts says so.
	frozenOn := ""
	for i := 0; i < 24 && frozenOn == ""; i++ {
		to, port, other := "leaf2", "swp3", "leaf1"
		if i%2 == 1 {
			to, port, other = "leaf1", "swp4", "leaf2"
		}
		l.move("server2", to, false)
		l.waitFor(to+" takes server2 over", 5*time.Second, func() (bool, string) {
			v, o := l.hosts(to), l.hosts(other)
			for _, leaf := range []struct {
				name string
				v    hostsView
			}{{to, v}, {other, o}} {
				if frozen(leaf.v, s2) {
					frozenOn = leaf.name
					return true, ""
				}
			}
			return hasHost(v, s2, port) && !hasHost(o, s2, ""), l.route(to, s2) + " / " + l.route(other, s2)
		})
	}
	if frozenOn == "" {
		t.Fatalf("server2 moved 24 times and no leaf froze it")
	}
	t.Logf("server2 frozen on %s: %+v", frozenOn, l.hosts(frozenOn).Frozen)

	// Spoofing: server4 claims an address outside the allowed subnet, and
	// server3's address (held on another port of leaf2 and answering).
	hv := l.hosts("leaf2")
	srv4 := Netns(l.s.Prefix, "server4")
	spoof, steal := netip.MustParseAddr("10.99.0.5"), netip.MustParseAddr("10.2.0.4")
	for _, a := range []netip.Addr{spoof, steal} {
		if _, err := nsRun(ctx, srv4, "ip", "addr", "add", a.String()+"/32", "dev", "eth1"); err != nil {
			t.Fatal(err)
		}
		if err := announce(srv4, "eth1", []netip.Addr{a}); err != nil {
			t.Fatal(err)
		}
		_, _ = nsRun(ctx, srv4, "ping", "-c", "1", "-W", "1", "-I", a.String(), "10.2.0.1")
	}
	l.waitFor("leaf2 rejects the spoofed address", 5*time.Second, func() (bool, string) {
		v := l.hosts("leaf2")
		return v.Engine.Rejected > hv.Engine.Rejected, "rejected stays " + strconv.FormatUint(v.Engine.Rejected, 10)
	})
	time.Sleep(time.Second) // room for a wrong origination to reach the spines
	v := l.hosts("leaf2")
	for _, h := range v.Hosts {
		if h.IP == spoof {
			t.Errorf("leaf2 learned spoofed %s: %+v", spoof, h)
		}
		if h.IP == steal && h.Interface != "swp3" {
			t.Errorf("server4 stole %s: leaf2 holds it on %s", steal, h.Interface)
		}
	}
	for _, n := range []string{"spine3", "spine4", "leaf1"} {
		if r := l.route(n, spoof); r != "" {
			t.Errorf("%s has a route to spoofed %s: %q", n, spoof, r)
		}
	}
	if r := l.route("leaf2", steal); !strings.Contains(r, "dev swp3 ") {
		t.Errorf("leaf2's route to server3 moved off its port: %q", r)
	}
	t.Logf("spoof guard on leaf2: rejected %d, conflicts %d", v.Engine.Rejected, v.Engine.Conflicts)
}

// TestDualHomedLab: servers with a link to each leaf of the pair and one
// /32 on both stay reachable when either link fails.
func TestDualHomedLab(t *testing.T) {
	requireLabTools(t, false)
	closd := buildClosd(t)
	_, path := neighborFabric(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := upLab(t, ctx, path, Options{Kind: KindClosd, Closd: closd})
	l.reachable("dual-homed")
	s1 := netip.MustParseAddr("10.2.0.2")
	// The server speaks on both links so both leaves learn it (an ECMP
	// default sends a flow one way only; a leaf forgets the hosts of a
	// port that went down, and a server that keeps its gateway's ARP entry
	// would not be learned again until that entry expires): as a
	// dual-homed host does when a link comes up.
	bothLeaves := func(when string) {
		for _, ifc := range []string{"eth1", "eth2"} {
			if err := announce(Netns(l.s.Prefix, "server1"), ifc, []netip.Addr{s1}); err != nil {
				t.Fatal(err)
			}
		}
		l.waitFor("the spines spread server1 over both leaves "+when, 10*time.Second, func() (bool, string) {
			r := l.route("spine3", s1)
			return strings.Count(r, "nexthop via") == 2, r
		})
	}
	bothLeaves("at start")
	for _, end := range []string{"leaf1:swp3", "leaf2:swp5"} {
		if err := Fail(ctx, l.s, l.f, end, false); err != nil {
			t.Fatal(err)
		}
		l.reachable("with " + end + " failed")
		if err := Restore(ctx, l.s, l.f, end); err != nil {
			t.Fatal(err)
		}
		bothLeaves("after restoring " + end)
		l.reachable("after restoring " + end)
	}
}

// TestDCILab: two sites sharing the server subnet, joined between their
// border leaves; a VM restarted at the backup site is reached through its
// host route from the primary, and the primary stays the aggregate's path.
func TestDCILab(t *testing.T) {
	requireLabTools(t, false)
	closd := buildClosd(t)
	in, err := plan.Preset("dci")
	if err != nil {
		t.Fatal(err)
	}
	_, path := writePlan(t, in)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := upLab(t, ctx, path, Options{Kind: KindClosd, Closd: closd})
	l.reachable("dci")
	agg := netip.MustParsePrefix("10.2.0.0/16")
	for _, spine := range []string{"spine1", "spine3"} {
		out, _ := run(ctx, "ip", "-n", Netns(l.s.Prefix, spine), "route", "show", agg.String())
		// Both sites' spines reach the aggregate through site a's leaves
		// (10.1.0.x), never through site b's (10.1.1.x) or the border alone.
		if spine == "spine1" && (!strings.Contains(out, "10.1.0.") || strings.Contains(out, "dev swp3")) {
			t.Errorf("%s routes the aggregate %q; want via site a's leaves", spine, out)
		}
		if spine == "spine3" && !strings.Contains(out, "dev swp3") {
			t.Errorf("%s routes the aggregate %q; want via its border leaf to the primary (prepended backup)", spine, out)
		}
		t.Logf("%s: %s", spine, strings.Join(strings.Fields(out), " "))
	}
	s1 := netip.MustParseAddr("10.2.0.2")
	start := time.Now()
	l.move("server1", "leaf3", false)
	l.heldOn(s1, "leaf3", "swp3")
	l.waitFor("site a reaches server1 through the interconnect", 10*time.Second, func() (bool, string) {
		r := l.route("spine1", s1)
		return strings.Contains(r, "dev swp3"), r // spine1:swp3 faces border1
	})
	t.Logf("server1 restarted at site b (leaf3): held there and routed from site a after %s", time.Since(start).Round(time.Millisecond))
	l.reachable("with server1 at site b")
	l.move("server1", "leaf1", false)
	l.heldOn(s1, "leaf1", "swp3")
	l.reachable("with server1 back at site a")
}

func hasHost(v hostsView, ip netip.Addr, iface string) bool {
	for _, h := range v.Hosts {
		if h.IP == ip && (iface == "" || h.Interface == iface) {
			return true
		}
	}
	return false
}

func frozen(v hostsView, ip netip.Addr) bool {
	for _, f := range v.Frozen {
		if f.IP == ip {
			return true
		}
	}
	for _, h := range v.Hosts {
		if h.IP == ip && h.Frozen {
			return true
		}
	}
	return false
}
