package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sh(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := shErr(args...)
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func shErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

func TestMain(m *testing.M) {
	bfd.MaybeRunChild() // this binary is the BFD child of BFDProcess tests
	code := m.Run()
	if svcBinDir != "" {
		os.RemoveAll(svcBinDir) // services_interop_linux_test.go
	}
	os.Exit(code)
}

// closdBinary is cmd/closd, built once per test binary with cmd/clos.
func closdBinary(t *testing.T) string { return svcClosd(t) }

// netLab is two namespaces joined by a veth: closd in us, the other
// implementation in peer.
type netLab struct {
	pfx, us, peer, ifUs, ifPeer, dir string
}

const (
	usV4, peerV4 = "10.251.0.1", "10.251.0.2"
	usV6, peerV6 = "fd00:251::1", "fd00:251::2"
)

func newLab(t *testing.T) *netLab {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	pfx := runPrefix("ct")
	l := &netLab{pfx: pfx, us: pfx + "us", peer: pfx + "pe", ifUs: pfx + "va", ifPeer: pfx + "vb"}
	addNetns(t, l.us)
	addNetns(t, l.peer)
	sh(t, "ip", "link", "add", l.ifUs, "netns", l.us, "type", "veth", "peer", "name", l.ifPeer, "netns", l.peer)
	for _, c := range [][]string{
		{"-n", l.us, "addr", "add", usV4 + "/30", "dev", l.ifUs},
		{"-n", l.peer, "addr", "add", peerV4 + "/30", "dev", l.ifPeer},
		{"-n", l.us, "addr", "add", usV6 + "/64", "dev", l.ifUs, "nodad"},
		{"-n", l.peer, "addr", "add", peerV6 + "/64", "dev", l.ifPeer, "nodad"},
		{"-n", l.us, "link", "set", l.ifUs, "up"},
		{"-n", l.peer, "link", "set", l.ifPeer, "up"},
		{"-n", l.us, "link", "set", "lo", "up"},
		{"-n", l.peer, "link", "set", "lo", "up"},
	} {
		sh(t, append([]string{"ip"}, c...)...)
	}
	l.dir = labDir(t, pfx)
	return l
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a command in namespace ns until the test ends; on failure its
// output and logFile are printed.
func (l *netLab) start(t *testing.T, ns, name string, logFile string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, _ := runIn(t, ns, name, logFile, args...)
	return cmd
}

// closdConfig is our side: both sessions to the peer, one network per family.
func (l *netLab) closdConfig(password string, gtsm bool) string {
	pw := ""
	if password != "" {
		pw = "\n    password: " + password
	}
	if gtsm {
		pw += "\n    ttl-security: true"
	}
	return fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.1.0.0/24, "fd00:1::/64"]
neighbors:
  - address: %s
    remote-as: 65002%s
  - address: "%s"
    remote-as: 65002%s
`, peerV4, pw, peerV6, pw)
}

// closdDynamicConfig takes the peer's sessions as listen-range neighbors.
func (l *netLab) closdDynamicConfig() string {
	return `router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.1.0.0/24, "fd00:1::/64"]
neighbors:
  - listen-range: 10.251.0.0/30
    remote-as: 65000-65100
  - listen-range: "fd00:251::/64"
    remote-as: external
`
}

func (l *netLab) runClosd(t *testing.T, cfg string) *exec.Cmd {
	t.Helper()
	bin := closdBinary(t)
	path := filepath.Join(l.dir, "closd.yaml")
	if !strings.Contains(cfg, "\napi:") {
		// Not the default socket in /run, which every closd on this
		// machine (other tests, labs) would share.
		cfg += fmt.Sprintf("api: {socket: %s/closd.sock}\n", l.dir)
	}
	writeConf(t, l.dir, "closd.yaml", cfg)
	// Its own API socket: the default one may belong to a closd another
	// test (or package) runs at the same time.
	return l.start(t, l.us, "closd", "", bin, "--config", path, "--api-socket", filepath.Join(l.dir, "closd.sock"))
}

// kernelRoute reports whether closd installed prefix in its namespace.
func (l *netLab) kernelRoute(prefix string) (bool, string) {
	fam := "-4"
	if strings.Contains(prefix, ":") {
		fam = "-6"
	}
	out, err := shErr("ip", fam, "-n", l.us, "route", "show", prefix, "proto", "201")
	if err != nil {
		return false, out
	}
	return strings.Contains(out, prefix), out
}

// checkClosdKernel waits for the peer's prefixes in closd's kernel table:
// closd received them, chose them and installed them.
func (l *netLab) checkClosdKernel(t *testing.T) {
	t.Helper()
	for _, p := range []string{"10.2.0.0/24", "fd00:2::/64"} {
		poll(t, "closd to install "+p, func() (bool, string) { return l.kernelRoute(p) })
	}
}

// --- FRR ---

type frr struct {
	l     *netLab
	vtysh string
}

func startFRR(t *testing.T, l *netLab, password string, gtsm, passive bool) *frr {
	t.Helper()
	bgpd := testenv.RequireTool(t, "/usr/lib/frr/bgpd")
	vtysh := testenv.RequireTool(t, "vtysh")
	pw := ""
	if password != "" {
		pw = fmt.Sprintf(" neighbor %s password %s\n neighbor %s password %s\n", usV4, password, usV6, password)
	}
	if gtsm {
		pw += fmt.Sprintf(" neighbor %s ttl-security hops 1\n neighbor %s ttl-security hops 1\n", usV4, usV6)
	}
	if passive {
		pw += fmt.Sprintf(" neighbor %s passive\n neighbor %s passive\n", usV4, usV6)
	}
	conf := frrHead(l.dir) + fmt.Sprintf(` neighbor %[1]s remote-as 65001
 neighbor %[2]s remote-as 65001
 neighbor %[1]s timers connect 1
 neighbor %[2]s timers connect 1
%[3]s address-family ipv4 unicast
  network 10.2.0.0/24
  no neighbor %[2]s activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:2::/64
  neighbor %[2]s activate
 exit-address-family
!
`, usV4, usV6, pw)
	cf := writeConf(t, l.dir, "bgpd.conf", conf)
	l.start(t, l.peer, "bgpd", filepath.Join(l.dir, "bgpd.log"), bgpd, "-Z", "-S", "-f", cf, "-i", filepath.Join(l.dir, "bgpd.pid"),
		"--vty_socket", l.dir, "-z", filepath.Join(l.dir, "zserv.api"))
	return &frr{l: l, vtysh: vtysh}
}

func (f *frr) json(cmd string) (map[string]any, string) {
	out, err := shErr(f.vtysh, "--vty_socket", f.l.dir, "-c", cmd)
	if err != nil {
		return nil, out
	}
	var m map[string]any
	if json.Unmarshal([]byte(out), &m) != nil {
		return nil, out
	}
	return m, out
}

func (f *frr) state(nbr string) (string, string) {
	m, out := f.json("show bgp neighbors " + nbr + " json")
	n, _ := m[nbr].(map[string]any)
	s, _ := n["bgpState"].(string)
	return s, out
}

// bgpUp is FRR's session state with nbr and how long it has been
// Established.
func (f *frr) bgpUp(nbr string) (string, time.Duration, string) {
	m, out := f.json("show bgp neighbors " + nbr + " json")
	n, _ := m[nbr].(map[string]any)
	s, _ := n["bgpState"].(string)
	up, _ := n["bgpTimerUpMsec"].(float64)
	return s, time.Duration(up) * time.Millisecond, out
}

func (f *frr) hasRoute(fam, prefix string) (bool, string) {
	m, out := f.json("show bgp " + fam + " json")
	rs, _ := m["routes"].(map[string]any)
	_, ok := rs[prefix]
	return ok, out
}

func TestInteropFRR(t *testing.T) {
	for _, tc := range []struct {
		name, ours, theirs string
		up, dynamic        bool
		ourGTSM, theirGTSM bool
		theirPassive       bool
	}{
		{name: "plain", up: true},
		{name: "md5", ours: "s3cret-key", theirs: "s3cret-key", up: true},
		{name: "md5-wrong-key", ours: "s3cret-key", theirs: "other-key"},
		{name: "listen-range", up: true, dynamic: true},
		{name: "ttl-security", up: true, ourGTSM: true, theirGTSM: true},
		// FRR waits for closd, and drops what closd sends with the
		// default TTL: shows closd really sends 255 in the case above.
		{name: "ttl-security-passive", up: true, ourGTSM: true, theirGTSM: true, theirPassive: true},
		{name: "ttl-security-only-frr", theirGTSM: true, theirPassive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t)
			f := startFRR(t, l, tc.theirs, tc.theirGTSM, tc.theirPassive)
			cfg := l.closdConfig(tc.ours, tc.ourGTSM)
			if tc.dynamic {
				cfg = l.closdDynamicConfig()
			}
			closd := l.runClosd(t, cfg)
			if !tc.up {
				// Both sides retry every second or so; a few seconds of
				// tries must not bring either session up.
				for range 8 {
					time.Sleep(500 * time.Millisecond)
					for _, n := range []string{usV4, usV6} {
						if s, out := f.state(n); s == "Established" {
							t.Fatalf("session %s came up: %s", n, out)
						}
					}
				}
				if ok, out := l.kernelRoute("10.2.0.0/24"); ok {
					t.Fatalf("closd installed FRR's route: %s", out)
				}
				return
			}
			for _, n := range []string{usV4, usV6} {
				poll(t, "FRR session with "+n+" Established", func() (bool, string) {
					s, out := f.state(n)
					return s == "Established", s + " " + out
				})
			}
			poll(t, "FRR to receive 10.1.0.0/24", func() (bool, string) { return f.hasRoute("ipv4", "10.1.0.0/24") })
			poll(t, "FRR to receive fd00:1::/64", func() (bool, string) { return f.hasRoute("ipv6", "fd00:1::/64") })
			l.checkClosdKernel(t)
			if tc.name != "plain" {
				return
			}
			// FRR withdraws: closd takes the route out of the kernel.
			out, err := shErr(f.vtysh, "--vty_socket", l.dir, "-c", "configure terminal", "-c", "router bgp 65002",
				"-c", "address-family ipv4 unicast", "-c", "no network 10.2.0.0/24")
			if err != nil {
				t.Fatalf("vtysh: %v\n%s", err, out)
			}
			poll(t, "closd to remove the withdrawn 10.2.0.0/24", func() (bool, string) {
				ok, out := l.kernelRoute("10.2.0.0/24")
				return !ok, out
			})
			if ok, out := l.kernelRoute("fd00:2::/64"); !ok {
				t.Errorf("fd00:2::/64 left the kernel too: %s", out)
			}
			// closd stops on SIGINT with the RFC 9003 message (SIGTERM
			// is a graceful restart's stop, without one).
			closd.Process.Signal(syscall.SIGINT)
			poll(t, "FRR to see closd's shutdown message", func() (bool, string) {
				m, out := f.json("show bgp neighbors " + usV4 + " json")
				n, _ := m[usV4].(map[string]any)
				return n["bgpState"] != "Established" && strings.Contains(out, ShutdownMessage), out
			})
		})
	}
}

// --- BIRD ---

func TestInteropBIRD(t *testing.T) {
	l := newLab(t)
	birdcOut := startBIRD(t, l, `protocol direct { ipv4; ipv6; }
protocol static s4 { ipv4; route 10.2.0.0/24 blackhole; }
protocol static s6 { ipv6; route fd00:2::/64 blackhole; }
`)
	l.runClosd(t, l.closdConfig("", false))
	for _, p := range []string{"c4", "c6"} {
		poll(t, "BIRD protocol "+p+" Established", func() (bool, string) {
			out := birdcOut("show", "protocols", p)
			return strings.Contains(out, "Established"), out
		})
	}
	for _, p := range []string{"10.1.0.0/24", "fd00:1::/64"} {
		poll(t, "BIRD to receive "+p, func() (bool, string) {
			out := birdcOut("show", "route", "for", p, "all")
			return strings.Contains(out, p) && strings.Contains(out, "65001"), out
		})
	}
	l.checkClosdKernel(t)
}

// --- GoBGP ---

func TestInteropGoBGP(t *testing.T) {
	l := newLab(t)
	cli := startGoBGP(t, l)
	for _, a := range [][]string{
		{"global", "rib", "add", "10.2.0.0/24", "-a", "ipv4"},
		{"global", "rib", "add", "fd00:2::/64", "-a", "ipv6"},
	} {
		if out, err := cli(a...); err != nil {
			t.Fatalf("gobgp %v: %v\n%s", a, err, out)
		}
	}
	l.runClosd(t, l.closdConfig("", false))
	for _, n := range []string{usV4, usV6} {
		poll(t, "GoBGP session with "+n+" Established", func() (bool, string) {
			out, _ := cli("neighbor", n)
			return strings.Contains(strings.ToLower(out), "bgp state = established"), out
		})
	}
	for _, c := range []struct{ fam, p string }{{"ipv4", "10.1.0.0/24"}, {"ipv6", "fd00:1::/64"}} {
		poll(t, "GoBGP to receive "+c.p, func() (bool, string) {
			out, _ := cli("global", "rib", "-a", c.fam)
			return strings.Contains(out, c.p) && strings.Contains(out, "65001"), out
		})
	}
	l.checkClosdKernel(t)
}
