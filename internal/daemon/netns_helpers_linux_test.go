package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/closnet/clos/internal/testenv"
)

// Start-up, waiting and clean-up shared by the tests that run closd, FRR,
// BIRD or GoBGP in network namespaces.

// runPrefix is kind and six random hex digits: the per-run prefix every
// namespace, link and directory of one lab carries.
func runPrefix(kind string) string {
	var rb [3]byte
	rand.Read(rb[:])
	return kind + hex.EncodeToString(rb[:])
}

// addNetns creates namespace ns, deleted when the test ends.
func addNetns(tb testing.TB, ns string) {
	tb.Helper()
	sh(tb, "ip", "netns", "add", ns)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
}

// labDir makes the lab's directory, removed when the test ends. Daemons
// that drop privileges (FRR) must reach it.
func labDir(tb testing.TB, pfx string) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", pfx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	return dir
}

// writeConf writes a daemon's config file name in dir and returns its path.
func writeConf(tb testing.TB, dir, name, text string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// runIn runs args in namespace ns until the test ends; on failure its
// output and, when logFile is set, logFile are printed.
func runIn(tb testing.TB, ns, name, logFile string, args ...string) (*exec.Cmd, *lockedBuffer) {
	tb.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	tb.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
		if !tb.Failed() {
			return
		}
		if logFile == "" {
			tb.Logf("--- %s output:\n%s", name, out.String())
			return
		}
		log, _ := os.ReadFile(logFile)
		tb.Logf("--- %s output:\n%s\n--- %s log:\n%s", name, out.String(), name, log)
	})
	return cmd, out
}

// inNetns runs f on a thread switched into namespace ns.
func inNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// This thread is in the wrong namespace: never reuse it.
		panic(err)
	}
	return ferr
}

// waitGone retries cond every interval until it is false and fails with
// failure and cond's last output once deadline has passed.
func waitGone(t *testing.T, deadline time.Time, interval time.Duration, failure string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, out := cond()
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", failure, out)
		}
		time.Sleep(interval)
	}
}

// startGoBGP runs gobgpd in l's peer namespace (AS 65002, one session per
// family to closd) and returns a gobgp CLI bound to it, once it answers.
func startGoBGP(t *testing.T, l *netLab) func(args ...string) (string, error) {
	t.Helper()
	gobgpd := testenv.RequireTool(t, "gobgpd")
	gobgp := testenv.RequireTool(t, "gobgp")
	conf := `[global.config]
  as = 65002
  router-id = "10.0.0.2"
  port = 179
`
	for _, n := range []struct{ addr, afiSafi string }{{usV4, "ipv4-unicast"}, {usV6, "ipv6-unicast"}} {
		conf += fmt.Sprintf(`[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
    idle-hold-time-after-reset = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "%s"
`, n.addr, n.afiSafi)
	}
	cf := writeConf(t, l.dir, "gobgpd.toml", conf)
	l.start(t, l.peer, "gobgpd", "", gobgpd, "-f", cf, "--api-hosts", "127.0.0.1:50051", "-l", "info")
	cli := func(args ...string) (string, error) {
		return shErr(append([]string{"ip", "netns", "exec", l.peer, gobgp, "-u", "127.0.0.1", "-p", "50051"}, args...)...)
	}
	poll(t, "gobgpd's API", func() (bool, string) {
		out, err := cli("global")
		return err == nil, out
	})
	return cli
}

// frrHead is the start of bgpd's config for the peer (AS 65002, router-id
// 10.0.0.2) logging to dir/bgpd.log.
func frrHead(dir string) string {
	return `frr defaults datacenter
log file ` + dir + `/bgpd.log debugging
debug bgp neighbor-events
router bgp 65002
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
`
}

// startBIRD runs bird in l's peer namespace (AS 65002, one session per
// family to closd, c4 and c6, exporting its static routes) with protocols
// (its routes) added, and returns birdc bound to it.
func startBIRD(t *testing.T, l *netLab, protocols string) func(args ...string) string {
	t.Helper()
	bird := testenv.RequireTool(t, "bird")
	birdc := testenv.RequireTool(t, "birdc")
	conf := fmt.Sprintf(`router id 10.0.0.2;
log "%[1]s/bird.log" all;
protocol device {}
%[6]sprotocol bgp c4 {
  local %[2]s as 65002;
  neighbor %[3]s as 65001;
  connect delay time 1;
  start delay time 1;
  ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp c6 {
  local %[4]s as 65002;
  neighbor %[5]s as 65001;
  connect delay time 1;
  start delay time 1;
  ipv6 { import all; export where source = RTS_STATIC; };
}
`, l.dir, peerV4, usV4, peerV6, usV6, protocols)
	cf := writeConf(t, l.dir, "bird.conf", conf)
	sock := filepath.Join(l.dir, "bird.ctl")
	l.start(t, l.peer, "bird", filepath.Join(l.dir, "bird.log"), bird, "-f", "-c", cf, "-s", sock, "-P", filepath.Join(l.dir, "bird.pid"))
	return func(args ...string) string {
		out, _ := shErr(append([]string{birdc, "-s", sock}, args...)...)
		return out
	}
}

// frrFastBFD is bfdd's config with the profile "fast": 100 ms x 3.
const frrFastBFD = `bfd
 profile fast
  detect-multiplier 3
  receive-interval 100
  transmit-interval 100
 !
!
`

// startFRRDaemons runs FRR in l's peer namespace: zebra (bfdd and bgpd talk
// to it; it sends the router advertisements an unnumbered session needs),
// bfdd with bfdConf unless that is empty, and bgpd with bgpConf. Configs,
// sockets and logs live in l.dir.
func startFRRDaemons(t *testing.T, l *netLab, bgpConf, bfdConf string) *frr {
	t.Helper()
	zebra := testenv.RequireTool(t, "/usr/lib/frr/zebra")
	bgpd := testenv.RequireTool(t, "/usr/lib/frr/bgpd")
	vtysh := testenv.RequireTool(t, "vtysh")
	bfdd := ""
	if bfdConf != "" {
		bfdd = testenv.RequireTool(t, "/usr/lib/frr/bfdd")
	}
	file := func(name string) string { return filepath.Join(l.dir, name) }
	zsock := file("zserv.api")
	common := []string{"--vty_socket", l.dir, "-z", zsock}
	zconf := writeConf(t, l.dir, "zebra.conf", fmt.Sprintf("log file %s debugging\ndebug zebra events\n", file("zebra.log")))
	l.start(t, l.peer, "zebra", file("zebra.log"), append([]string{zebra, "-f", zconf, "-i", file("zebra.pid")}, common...)...)
	// bfdd and bgpd retry a failed zebra connection only after seconds.
	pollFast(t, "zebra's socket", func() (bool, string) {
		_, err := os.Stat(zsock)
		return err == nil, fmt.Sprint(err)
	})
	if bfdd != "" {
		bconf := writeConf(t, l.dir, "bfdd.conf", bfdConf)
		l.start(t, l.peer, "bfdd", file("bfdd.log"), append([]string{bfdd, "-f", bconf, "-i", file("bfdd.pid"),
			"--bfdctl", file("bfdd.sock"), "--log", "file:" + file("bfdd.log")}, common...)...)
	}
	gconf := writeConf(t, l.dir, "bgpd.conf", bgpConf)
	l.start(t, l.peer, "bgpd", file("bgpd.log"), append([]string{bgpd, "-S", "-f", gconf, "-i", file("bgpd.pid")}, common...)...)
	return &frr{l: l, vtysh: vtysh}
}
