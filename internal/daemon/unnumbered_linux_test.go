package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// newUnnumberedLab is two namespaces joined by a veth that has no address
// but the kernel's IPv6 link-local ones (DAD off, so they are usable at
// once); each namespace has one loopback address to exchange and reach.
func newUnnumberedLab(t *testing.T) *netLab {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	pfx := runPrefix("ct")
	l := &netLab{pfx: pfx, us: pfx + "us", peer: pfx + "pe", ifUs: pfx + "va", ifPeer: pfx + "vb"}
	for _, ns := range []string{l.us, l.peer} {
		addNetns(t, ns)
		for _, kv := range []string{
			"net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0",
			"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		} {
			sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", kv)
		}
	}
	sh(t, "ip", "link", "add", l.ifUs, "netns", l.us, "type", "veth", "peer", "name", l.ifPeer, "netns", l.peer)
	for _, c := range [][]string{
		{"-n", l.us, "addr", "add", "10.0.0.1/32", "dev", "lo"},
		{"-n", l.peer, "addr", "add", "10.0.0.2/32", "dev", "lo"},
		{"-n", l.us, "link", "set", "lo", "up"},
		{"-n", l.peer, "link", "set", "lo", "up"},
		{"-n", l.us, "link", "set", l.ifUs, "up"},
		{"-n", l.peer, "link", "set", l.ifPeer, "up"},
	} {
		sh(t, append([]string{"ip"}, c...)...)
	}
	l.dir = labDir(t, pfx)
	return l
}

// startFRRUnnumbered runs zebra, which sends and hears the router
// advertisements, and bgpd with `neighbor IF interface remote-as external`.
func startFRRUnnumbered(t *testing.T, l *netLab) *frr {
	t.Helper()
	return startFRRDaemons(t, l, frrHead(l.dir)+fmt.Sprintf(` neighbor %[1]s interface remote-as external
 neighbor %[1]s timers connect 1
 address-family ipv4 unicast
  network 10.0.0.2/32
 exit-address-family
 address-family ipv6 unicast
  network fd00:2::/64
  neighbor %[1]s activate
 exit-address-family
!
`, l.ifPeer), "")
}

// TestInteropFRRUnnumbered: closd's `interface:` neighbor against FRR's
// `neighbor IF interface`, neither side given an address. Each learns the
// other's link-local address from router advertisements, the session runs
// over it, IPv4 routes travel with IPv6 next hops (RFC 8950) both ways and
// are installed `via inet6`, and the two loopbacks reach each other. Then
// the link goes down and the session drops at once, long before hold.
func TestInteropFRRUnnumbered(t *testing.T) {
	l := newUnnumberedLab(t)
	f := startFRRUnnumbered(t, l)
	closd := l.runClosd(t, fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.0.0.1/32, "fd00:1::/64"]
neighbors:
  - interface: %s
    remote-as: external
    timers: {keepalive: 10, hold: 30}
`, l.ifUs))
	state := func() (string, string) {
		m, out := f.json("show bgp neighbors " + l.ifPeer + " json")
		n, _ := m[l.ifPeer].(map[string]any)
		s, _ := n["bgpState"].(string)
		return s, out
	}
	poll(t, "FRR's unnumbered session Established", func() (bool, string) {
		s, out := state()
		return s == "Established", out
	})
	// FRR negotiated the extended next hop with us.
	if _, out := state(); !strings.Contains(out, "extendedNexthop") {
		t.Errorf("FRR shows no extended next hop capability: %s", out)
	}
	poll(t, "FRR to receive 10.0.0.1/32", func() (bool, string) { return f.hasRoute("ipv4", "10.0.0.1/32") })
	poll(t, "FRR to receive fd00:1::/64", func() (bool, string) { return f.hasRoute("ipv6", "fd00:1::/64") })
	poll(t, "closd to install 10.0.0.2/32 via inet6", func() (bool, string) {
		out, _ := shErr("ip", "-4", "-n", l.us, "route", "show", "10.0.0.2/32", "proto", "201")
		return strings.Contains(out, "via inet6 fe80:") && strings.Contains(out, l.ifUs), out
	})
	poll(t, "closd to install fd00:2::/64", func() (bool, string) { return l.kernelRoute("fd00:2::/64") })
	poll(t, "ping from closd's loopback to FRR's", func() (bool, string) {
		out, err := shErr("ip", "netns", "exec", l.us, "ping", "-c", "1", "-W", "1", "-I", "10.0.0.1", "10.0.0.2")
		return err == nil, out
	})
	out, err := shErr("ip", "netns", "exec", l.peer, "ping", "-c", "1", "-W", "1", "-I", "10.0.0.2", "10.0.0.1")
	if err != nil {
		t.Fatalf("ping from FRR's loopback to closd's: %v\n%s", err, out)
	}

	// Fast fall-over: the carrier goes, the session and its routes go at
	// once; the hold time (9 s negotiated with FRR's 9) is not waited for.
	// closd's log names the cause; the bound only detects a failure.
	start := time.Now()
	sh(t, "ip", "-n", l.peer, "link", "set", l.ifPeer, "down")
	waitGone(t, start.Add(15*time.Second), 50*time.Millisecond, "closd still has FRR's route 15 s after the link went down",
		func() (bool, string) { return l.hostRoute("10.0.0.2/32") })
	t.Logf("route withdrawn %v after the link went down", time.Since(start))
	if logs := closd.Stderr.(*lockedBuffer).String(); !strings.Contains(logs, "went down") || strings.Contains(logs, "hold timer expired") {
		t.Errorf("closd did not drop the session for the link going down:\n%s", logs)
	}
	// The link comes back: the session comes back by itself.
	sh(t, "ip", "-n", l.peer, "link", "set", l.ifPeer, "up")
	poll(t, "FRR's unnumbered session Established again", func() (bool, string) {
		s, out := state()
		return s == "Established", out
	})
	poll(t, "closd to install 10.0.0.2/32 again", func() (bool, string) { return l.hostRoute("10.0.0.2/32") })
}

// TestFallOverNumbered: a directly connected eBGP neighbor given by
// address drops the moment its link goes down too.
func TestFallOverNumbered(t *testing.T) {
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	closd := l.runClosd(t, l.closdConfig("", false))
	for _, n := range []string{usV4, usV6} {
		poll(t, "FRR session with "+n+" Established", func() (bool, string) {
			s, out := f.state(n)
			return s == "Established", s + " " + out
		})
	}
	l.checkClosdKernel(t)
	start := time.Now()
	sh(t, "ip", "-n", l.peer, "link", "set", l.ifPeer, "down")
	// closd's log names the cause; the bound only detects a failure.
	deadline := start.Add(15 * time.Second)
	for _, p := range []string{"10.2.0.0/24", "fd00:2::/64"} {
		waitGone(t, deadline, 50*time.Millisecond, "closd still has "+p+" 15 s after the link went down",
			func() (bool, string) { return l.kernelRoute(p) })
	}
	t.Logf("both sessions' routes gone %v after the link went down", time.Since(start))
	logs := closd.Stderr.(*lockedBuffer).String()
	if n := strings.Count(logs, "went down"); n < 2 || strings.Contains(logs, "hold timer expired") {
		t.Errorf("closd did not drop both sessions for the link going down (%d):\n%s", n, logs)
	}
}

// hostRoute reports whether closd installed a /32 (ip prints it without
// the length).
func (l *netLab) hostRoute(prefix string) (bool, string) {
	out, err := shErr("ip", "-4", "-n", l.us, "route", "show", prefix, "proto", "201")
	if err != nil {
		return false, out
	}
	return strings.TrimSpace(out) != "", out
}
