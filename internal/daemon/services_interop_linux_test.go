package daemon

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// Routing on the host against FRR, in network namespaces the test makes:
// closd in host mode with two FRR leaves, and a closd leaf filtering an FRR
// host.

var (
	svcBinOnce sync.Once
	svcBinDir  string
	svcBinErr  error
)

// svcBinaries builds cmd/closd and cmd/clos once per test binary (TestMain
// removes them).
func svcBinaries(tb testing.TB) (closd, clos string) {
	tb.Helper()
	svcBinOnce.Do(func() {
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		dir, err := os.MkdirTemp("", "closd-services")
		if err != nil {
			svcBinErr = err
			return
		}
		svcBinDir = dir
		cmd := exec.Command(goTool, "build", "-o", dir+"/", "github.com/closnet/clos/cmd/closd", "github.com/closnet/clos/cmd/clos")
		// As shipped (no cgo): a static binary maps no libc and starts
		// fewer threads, about 1.5 MiB less RSS than the cgo default.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			svcBinErr = fmt.Errorf("go build closd clos: %v\n%s", err, out)
		}
	})
	if svcBinErr != nil {
		tb.Fatal(svcBinErr)
	}
	return filepath.Join(svcBinDir, "closd"), filepath.Join(svcBinDir, "clos")
}

type svcLab struct {
	pfx string
	dir string
	ns  map[string]string // role -> namespace
}

func newSvcLab(t testing.TB, roles ...string) *svcLab {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	l := &svcLab{pfx: runPrefix("cs"), ns: map[string]string{}}
	for _, r := range roles {
		n := l.pfx + r
		addNetns(t, n)
		sh(t, "ip", "-n", n, "link", "set", "lo", "up")
		l.ns[r] = n
	}
	l.dir = labDir(t, l.pfx)
	return l
}

// link joins roles a and b with a veth, a at addrA and b at addrB (/30).
func (l *svcLab) link(t testing.TB, a, b, addrA, addrB string) {
	t.Helper()
	ia, ib := l.pfx+a+b, l.pfx+b+a
	sh(t, "ip", "link", "add", ia, "netns", l.ns[a], "type", "veth", "peer", "name", ib, "netns", l.ns[b])
	sh(t, "ip", "-n", l.ns[a], "addr", "add", addrA+"/30", "dev", ia)
	sh(t, "ip", "-n", l.ns[b], "addr", "add", addrB+"/30", "dev", ib)
	sh(t, "ip", "-n", l.ns[a], "link", "set", ia, "up")
	sh(t, "ip", "-n", l.ns[b], "link", "set", ib, "up")
}

// start runs args in role's namespace until the test ends and returns the
// process and its output.
func (l *svcLab) start(t testing.TB, role, name string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	return runIn(t, l.ns[role], name, "", args...)
}

// frrIn starts bgpd (no zebra) in role's namespace with conf.
func (l *svcLab) frrIn(t testing.TB, role, conf string) *frr {
	t.Helper()
	bgpd := testenv.RequireTool(t, "/usr/lib/frr/bgpd")
	vtysh := testenv.RequireTool(t, "vtysh")
	dir := filepath.Join(l.dir, role)
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	cf := writeConf(t, dir, "bgpd.conf", conf)
	l.start(t, role, "bgpd "+role, bgpd, "-Z", "-S", "-f", cf, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"))
	return &frr{l: &netLab{dir: dir}, vtysh: vtysh}
}

// listenIn opens a TCP listener on 127.0.0.1 in namespace ns that accepts
// and closes every connection: the service a tcp check probes.
func listenIn(t testing.TB, ns string, port int) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func frrLeafConf(dir string, asn int, id, host, network string) string {
	return fmt.Sprintf(`frr defaults datacenter
log file %s/bgpd.log informational
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
 neighbor %s remote-as 65101
 neighbor %s timers 1 3
 neighbor %s timers connect 1
 address-family ipv4 unicast
  network %s
 exit-address-family
!
`, dir, asn, id, host, host, host, network)
}

// routeJSON is FRR's view of one prefix: present, and the raw JSON.
func (f *frr) route(prefix string) (bool, string) {
	m, out := f.json("show bgp ipv4 unicast " + prefix + " json")
	paths, _ := m["paths"].([]any)
	return len(paths) > 0, out
}

// hostLab is closd in host mode (two sessions, four services) between two
// FRR leaves; web's check is a TCP listener the test holds.
type hostLab struct {
	l      *svcLab
	fa, fb *frr
	ln     net.Listener
	port   int
	sock   string
	closd  *exec.Cmd
}

func startHostLab(tb testing.TB) *hostLab {
	tb.Helper()
	l := newSvcLab(tb, "h", "a", "b")
	l.link(tb, "h", "a", "10.252.1.1", "10.252.1.2")
	l.link(tb, "h", "b", "10.252.2.1", "10.252.2.2")
	h := &hostLab{l: l}
	h.fa = l.frrIn(tb, "a", frrLeafConf(filepath.Join(l.dir, "a"), 65001, "10.0.0.1", "10.252.1.1", "10.1.0.0/24"))
	h.fb = l.frrIn(tb, "b", frrLeafConf(filepath.Join(l.dir, "b"), 65002, "10.0.0.2", "10.252.2.1", "10.2.0.0/24"))
	h.ln = listenIn(tb, l.ns["h"], 0)
	h.port = h.ln.Addr().(*net.TCPAddr).Port
	h.sock = filepath.Join(l.dir, "closd.sock")
	cfg := fmt.Sprintf(`router-id: 10.0.0.21
asn: 65101
role: host
api: {socket: %s}
bgp: {timers: {keepalive: 1, hold: 9}}
neighbors:
  - {address: 10.252.1.2, remote-as: 65001}
  - {address: 10.252.2.2, remote-as: 65002}
services:
  - name: web
    addresses: [10.255.0.80/32]
    check: {kind: tcp, address: "127.0.0.1:%d"}
    interval: 200ms
    timeout: 150ms
    rise: 2
    fall: 3
  - name: dns
    addresses: [10.255.0.53/32, "2001:db8:ff::53/128"]
    check: {kind: tcp, address: "127.0.0.1:%d"}
  - name: ntp
    addresses: [10.255.0.123/32]
    check: {kind: exec, command: ["/bin/true"]}
  - name: api
    addresses: [10.255.0.81/32]
    check: {kind: http, url: "http://127.0.0.1:%d/", expect-status: 200}
drain: {graceful-shutdown: true, prepend: 1, time: 2s}
`, h.sock, h.port, h.port, h.port)
	path := filepath.Join(l.dir, "closd.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	h.closd, _ = l.start(tb, "h", "closd", svcClosd(tb), "--config", path)
	for _, f := range []*frr{h.fa, h.fb} {
		pollFast(tb, "the leaf to learn the service address and the host's loopback", func() (bool, string) {
			ok1, out := f.route("10.255.0.80/32")
			ok2, _ := f.route("10.0.0.21/32")
			return ok1 && ok2, out
		})
	}
	return h
}

// failWeb closes web's listener and returns how long until both leaves
// have withdrawn its address; restoreWeb listens again and waits for it.
func (h *hostLab) failWeb(tb testing.TB) time.Duration {
	tb.Helper()
	h.ln.Close()
	killed := time.Now()
	for _, f := range []*frr{h.fa, h.fb} {
		pollFast(tb, "the service address withdrawn at the leaf", func() (bool, string) {
			ok, out := f.route("10.255.0.80/32")
			return !ok, out
		})
	}
	return time.Since(killed)
}

func (h *hostLab) restoreWeb(tb testing.TB) {
	tb.Helper()
	h.ln = listenIn(tb, h.l.ns["h"], h.port)
	pollFast(tb, "the service address back", func() (bool, string) { return h.fa.route("10.255.0.80/32") })
}

func (h *hostLab) rss() (closd, bgpd int) {
	b, _ := os.ReadFile(filepath.Join(h.l.dir, "a", "bgpd.pid"))
	bp, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return rssKiB(h.closd.Process.Pid), rssKiB(bp)
}

func TestInteropHostModeFRRLeaves(t *testing.T) {
	h := startHostLab(t)
	l, fa, fb, sock := h.l, h.fa, h.fb, h.sock
	if ok, out := fb.route("10.1.0.0/24"); ok {
		t.Errorf("leaf b learned leaf a's network through the host:\n%s", out)
	}
	if ok, _ := fa.route("10.255.0.81/32"); ok {
		t.Error("a service whose http check cannot pass is announced")
	}
	if out := sh(t, "ip", "-n", l.ns["h"], "addr", "show", "dev", "lo"); !strings.Contains(out, "10.255.0.80/32") || !strings.Contains(out, "2001:db8:ff::53/128") {
		t.Errorf("service addresses not on the host's loopback:\n%s", out)
	}
	poll(t, "the host to install both leaves' networks", func() (bool, string) {
		out, _ := shErr("ip", "-n", l.ns["h"], "route", "show", "proto", "201")
		return strings.Contains(out, "10.1.0.0/24") && strings.Contains(out, "10.2.0.0/24"), out
	})

	// Killing the listener withdraws within fall x interval (+ timeout).
	t.Logf("withdrawn at both FRR leaves %v after the listener closed (checks 200ms x 3, timeout 150ms)", h.failWeb(t).Round(time.Millisecond))
	h.restoreWeb(t)

	// clos drain: the community and the prepend at FRR, then the
	// withdrawal after the drain time.
	clos := svcClos(t)
	if out, err := shErr(clos, "drain", "--service", "web", "--socket", sock); err != nil {
		t.Fatalf("clos drain: %v\n%s", err, out)
	}
	drained := time.Now()
	pollFast(t, "the graceful-shutdown community at FRR", func() (bool, string) {
		ok, out := fa.route("10.255.0.80/32")
		return ok && strings.Contains(out, "graceful-shutdown") && strings.Contains(out, `"65101 65101"`), out
	})
	seen := time.Since(drained)
	pollFast(t, "the drained address withdrawn", func() (bool, string) {
		ok, out := fa.route("10.255.0.80/32")
		return !ok, out
	})
	t.Logf("drain: community seen at FRR after %v, withdrawn after %v (drain time 2s)", seen.Round(time.Millisecond), time.Since(drained).Round(time.Millisecond))
	if out, err := shErr(clos, "show", "services", "web", "--socket", sock); err != nil || !strings.Contains(out, "drained") {
		t.Errorf("clos show services after the drain: %v\n%s", err, out)
	}
	if out, err := shErr(clos, "undrain", "--socket", sock); err != nil {
		t.Fatalf("clos undrain: %v\n%s", err, out)
	}
	poll(t, "the undrained address back without the community", func() (bool, string) {
		ok, out := fa.route("10.255.0.80/32")
		return ok && !strings.Contains(out, "graceful-shutdown"), out
	})
}

// BenchmarkHostModeFRRLeaves reports the acceptance numbers of routing on
// the host: closd's RSS in host mode with 2 sessions and 4 services, FRR
// bgpd's (no zebra) as a leaf in the same run, and the time from a
// service's death to its withdrawal at both leaves with checks of 200 ms x
// 3 (one failure and restore per iteration). Run it with -benchtime=3x.
func BenchmarkHostModeFRRLeaves(b *testing.B) {
	h := startHostLab(b)
	time.Sleep(2 * time.Second) // settle: every service checked a few times
	c, f := h.rss()
	// Most of closd's RSS is its binary's pages (file-backed, shared
	// between processes); the anonymous part is what it allocated.
	anon, file, threads := -1, -1, -1
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.closd.Process.Pid)); err == nil {
		field := func(name string) int {
			if m := regexp.MustCompile(name + `:\s+(\d+)`).FindSubmatch(st); m != nil {
				n, _ := strconv.Atoi(string(m[1]))
				return n
			}
			return -1
		}
		anon, file, threads = field("RssAnon"), field("RssFile"), field("Threads")
	}
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		total += h.failWeb(b)
		h.restoreWeb(b)
	}
	b.StopTimer()
	b.ReportMetric(float64(c)/1024, "closd-RSS-MiB")
	b.ReportMetric(float64(anon)/1024, "closd-anon-MiB")
	b.ReportMetric(float64(file)/1024, "closd-file-MiB")
	b.ReportMetric(float64(threads), "closd-threads")
	b.ReportMetric(float64(f)/1024, "frr-bgpd-RSS-MiB")
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "withdraw-ms")
	b.ReportMetric(0, "ns/op")
}

func TestInteropLeafFiltersFRRHost(t *testing.T) {
	l := newSvcLab(t, "l", "s")
	l.link(t, "l", "s", "10.253.0.1", "10.253.0.2")
	sdir := filepath.Join(l.dir, "s")
	l.frrIn(t, "s", fmt.Sprintf(`frr defaults datacenter
log file %s/bgpd.log informational
router bgp 65150
 bgp router-id 10.0.0.21
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 10.253.0.1 remote-as 65001
 neighbor 10.253.0.1 timers 1 3
 neighbor 10.253.0.1 timers connect 1
 address-family ipv4 unicast
  network 10.0.0.21/32
  network 10.255.0.53/32
  network 10.255.0.0/24
  network 10.99.0.0/24
 exit-address-family
!
`, sdir))
	sock := filepath.Join(l.dir, "closd.sock")
	cfg := fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
api: {socket: %s}
bgp: {timers: {keepalive: 1, hold: 9}}
neighbors:
  - listen-range: 10.253.0.0/30
    remote-as: 65100-65199
    max-prefix: 10
    route-map: {in: FROM-HOST}
policy:
  prefix-lists:
    - name: HOST
      entries:
        - {seq: 5, action: permit, prefix: 10.0.0.21/32}
        - {seq: 10, action: permit, prefix: 10.255.0.53/32}
  route-maps:
    - name: FROM-HOST
      entries:
        - {seq: 10, action: permit, match: {prefix-list: HOST}}
`, sock)
	path := filepath.Join(l.dir, "closd.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	_, logs := l.start(t, "l", "closd", svcClosd(t), "--config", path, "--fib=false")
	clos := svcClos(t)
	poll(t, "closd to accept the host's loopback and service", func() (bool, string) {
		out, _ := shErr(clos, "show", "bgp", "routes", "--socket", sock)
		return strings.Contains(out, "10.0.0.21/32") && strings.Contains(out, "10.255.0.53/32"), out
	})
	poll(t, "the refusals in closd's log", func() (bool, string) {
		s := logs.String()
		return strings.Contains(s, "route refused by the import policy") && strings.Contains(s, "prefix=10.99.0.0/24") &&
			strings.Contains(s, "prefix=10.255.0.0/24"), s
	})
	out, _ := shErr(clos, "show", "bgp", "routes", "--socket", sock)
	if strings.Contains(out, "10.99.0.0/24") || strings.Contains(out, "10.255.0.0/24") {
		t.Errorf("closd accepted a prefix the host may not announce:\n%s", out)
	}
}

func svcClosd(tb testing.TB) string { c, _ := svcBinaries(tb); return c }

func svcClos(tb testing.TB) string { _, c := svcBinaries(tb); return c }
