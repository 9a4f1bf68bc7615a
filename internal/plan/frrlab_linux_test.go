package plan

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPlansConvergeUnderFRR runs plans as labs of network namespaces
// with FRR's zebra, bgpd and bfdd per switch, and checks what the configs
// promise: BFD up on every session, ECMP from the first leaf to the last
// leaf's server subnet over every uplink, and the first server reaching the
// last. The 5-stage preset reuses leaf ASNs across pods, so it only
// converges with allowas-in; the unnumbered fabric needs the RA settings.
// All traffic stays inside the namespaces each run creates.
func TestPlansConvergeUnderFRR(t *testing.T) {
	testenv.RequireRoot(t)
	for _, name := range []string{"seed-003", "rfc7938-5stage", "unnumbered"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // mostly waiting for sessions; the labs share nothing
			in := Intent{Name: "unnumbered", SpinesPerPlane: 2, LeavesPerPod: 2, ServersPerLeaf: 1, LinkAddressing: LinksUnnumbered}
			if name != "unnumbered" {
				in = preset(t, name)
			}
			labUnderFRR(t, mustBuild(t, in))
		})
	}
}

func labUnderFRR(t *testing.T, p *Plan) {
	vtysh := testenv.RequireTool(t, "vtysh")
	testenv.RequireTool(t, "ip")
	for _, d := range []string{"zebra", "bgpd", "bfdd"} {
		if _, err := os.Stat("/usr/lib/frr/" + d); err != nil {
			msg := "/usr/lib/frr/" + d + " missing (Debian package frr)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	frrUser, err := user.Lookup("frr")
	if err != nil {
		t.Skip("no frr user: " + err.Error())
	}
	uid, _ := strconv.Atoi(frrUser.Uid)
	gid, _ := strconv.Atoi(frrUser.Gid)

	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	prefix := "cp" + hex.EncodeToString(rnd[:])
	ns := func(node string) string { return prefix + node }

	for _, n := range append(append([]*Node{}, p.Switches...), p.Servers...) {
		testenv.Run(t, "ip", "netns", "add", ns(n.Name))
		name := ns(n.Name)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		testenv.Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	}
	for i, l := range p.Links {
		a, b := fmt.Sprintf("%sa%d", prefix, i), fmt.Sprintf("%sb%d", prefix, i)
		testenv.Run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
		for _, e := range []struct{ tmp, node, ifc string }{{a, l.A.Node, l.A.Interface}, {b, l.B.Node, l.B.Interface}} {
			testenv.Run(t, "ip", "link", "set", e.tmp, "netns", ns(e.node))
			testenv.Run(t, "ip", "-n", ns(e.node), "link", "set", e.tmp, "name", e.ifc)
			testenv.Run(t, "ip", "-n", ns(e.node), "link", "set", e.ifc, "up")
		}
	}
	for _, n := range p.Switches {
		for _, ifc := range n.Interfaces {
			if ifc.Kind != KindBridge {
				continue
			}
			testenv.Run(t, "ip", "-n", ns(n.Name), "link", "add", ifc.Name, "type", "bridge")
			for _, m := range ifc.Members {
				testenv.Run(t, "ip", "-n", ns(n.Name), "link", "set", m, "master", ifc.Name)
			}
			testenv.Run(t, "ip", "-n", ns(n.Name), "link", "set", ifc.Name, "up")
		}
	}
	for _, s := range p.Servers {
		for _, a := range s.Interfaces[0].Addresses {
			testenv.Run(t, "ip", "-n", ns(s.Name), "addr", "add", a.String(), "dev", s.Interfaces[0].Name)
		}
		for _, gw := range s.Gateways {
			testenv.Run(t, "ip", "-n", ns(s.Name), "route", "add", "default", "via", gw.String())
		}
	}
	dir := t.TempDir()
	for _, n := range p.Switches {
		space := ns(n.Name)
		rundir := filepath.Join("/var/run/frr", space)
		if err := os.MkdirAll(rundir, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Chown(rundir, uid, gid)
		t.Cleanup(func() {
			for _, d := range []string{"bfdd", "bgpd", "zebra"} {
				if b, err := os.ReadFile(filepath.Join(rundir, d+".pid")); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
						if proc, err := os.FindProcess(pid); err == nil {
							_ = proc.Kill()
						}
					}
				}
			}
			_ = os.RemoveAll(rundir)
		})
		for _, d := range []string{"zebra", "bgpd", "bfdd"} {
			testenv.Run(t, "ip", "netns", "exec", space, "/usr/lib/frr/"+d, "-d", "-N", space, "-i", filepath.Join(rundir, d+".pid"))
		}
	}
	for _, n := range p.Switches {
		conf := filepath.Join(dir, n.Name+".conf")
		if err := os.WriteFile(conf, []byte(p.FRR(n)), 0o644); err != nil {
			t.Fatal(err)
		}
		// vtysh complains about the missing per-pathspace vtysh.conf; the
		// config itself must apply.
		var out []byte
		for try := 0; try < 20; try++ { // the daemons' sockets appear shortly after start
			out, err = exec.Command("ip", "netns", "exec", ns(n.Name), vtysh, "-N", ns(n.Name), "-f", conf).CombinedOutput()
			if err == nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("applying %s's frr.conf: %v\n%s", n.Name, err, out)
		}
	}

	show := func(node string, cmds ...string) string {
		args := []string{"netns", "exec", ns(node), vtysh, "-N", ns(node)}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		out, _ := exec.Command("ip", args...).CombinedOutput()
		return string(out)
	}
	bfdUp := func() bool {
		for _, n := range p.Switches {
			if strings.Count(show(n.Name, "show bfd peers brief"), " up ") != len(p.peerings(n)) {
				return false
			}
		}
		return true
	}
	var leaves []*Node
	for _, n := range p.Switches {
		if n.Role == RoleLeaf {
			leaves = append(leaves, n)
		}
	}
	// Count the next hops zebra installed in the kernel, from FRR's own
	// view: the kernel may hold them as a nexthop group object.
	dst := leaves[len(leaves)-1].ServerSubnets[0].String()
	fibHops := func() (int, string) {
		raw := show(leaves[0].Name, "show ip route "+dst+" json")
		var routes map[string][]struct {
			Selected bool `json:"selected"`
			Nexthops []struct {
				FIB bool `json:"fib"`
			} `json:"nexthops"`
		}
		i := strings.Index(raw, "{")
		if i < 0 || json.Unmarshal([]byte(raw[i:]), &routes) != nil {
			return 0, raw
		}
		n := 0
		for _, r := range routes[dst] {
			if r.Selected {
				for _, nh := range r.Nexthops {
					if nh.FIB {
						n++
					}
				}
			}
		}
		return n, raw
	}
	first, last := p.Servers[0], p.Servers[len(p.Servers)-1]
	target := last.Interfaces[0].Addresses[0].Addr().String()
	ping := func() bool {
		return exec.Command("ip", "netns", "exec", ns(first.Name), "ping", "-c", "1", "-W", "1", target).Run() == nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		hops, _ := fibHops()
		if ping() && bfdUp() && hops == p.Intent.LeafUplinks {
			return
		}
		if i >= 120 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !ping() {
		t.Errorf("%s cannot reach %s (%s)", first.Name, last.Name, target)
	}
	if !bfdUp() {
		t.Errorf("BFD is not up on every session")
	}
	if hops, raw := fibHops(); hops != p.Intent.LeafUplinks {
		t.Errorf("%s's route to %s's servers has %d next hops in the FIB, want %d (ECMP over every uplink):\n%s",
			leaves[0].Name, leaves[len(leaves)-1].Name, hops, p.Intent.LeafUplinks, raw)
	}
	t.Fatalf("%s did not converge within a minute\n%s:\n%s", p.Intent.Name, leaves[0].Name,
		show(leaves[0].Name, "show bgp summary", "show ip route", "show bfd peers brief"))
}
