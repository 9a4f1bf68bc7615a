package plan

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "needs root to create network namespaces"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestSeed003ConvergesUnderFRR runs the seed-003 plan as a lab of network
// namespaces with FRR's zebra, bgpd and bfdd per switch, and checks what
// the configs promise: BFD up on every session, ECMP to the other leaf's
// server subnet, and server1 reaching server3. All traffic stays inside the
// namespaces this test creates.
func TestSeed003ConvergesUnderFRR(t *testing.T) {
	requireRoot(t)
	vtysh := requireTool(t, "vtysh")
	requireTool(t, "ip")
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

	p := mustBuild(t, preset(t, "seed-003"))
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	prefix := "cp" + hex.EncodeToString(rnd[:])
	ns := func(node string) string { return prefix + node }

	for _, n := range append(append([]*Node{}, p.Switches...), p.Servers...) {
		run(t, "ip", "netns", "add", ns(n.Name))
		name := ns(n.Name)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		run(t, "ip", "-n", name, "link", "set", "lo", "up")
	}
	for i, l := range p.Links {
		a, b := fmt.Sprintf("%sa%d", prefix, i), fmt.Sprintf("%sb%d", prefix, i)
		run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
		for _, e := range []struct{ tmp, node, ifc string }{{a, l.A.Node, l.A.Interface}, {b, l.B.Node, l.B.Interface}} {
			run(t, "ip", "link", "set", e.tmp, "netns", ns(e.node))
			run(t, "ip", "-n", ns(e.node), "link", "set", e.tmp, "name", e.ifc)
			run(t, "ip", "-n", ns(e.node), "link", "set", e.ifc, "up")
		}
	}
	for _, n := range p.Switches {
		for _, ifc := range n.Interfaces {
			if ifc.Kind != KindBridge {
				continue
			}
			run(t, "ip", "-n", ns(n.Name), "link", "add", ifc.Name, "type", "bridge")
			for _, m := range ifc.Members {
				run(t, "ip", "-n", ns(n.Name), "link", "set", m, "master", ifc.Name)
			}
			run(t, "ip", "-n", ns(n.Name), "link", "set", ifc.Name, "up")
		}
	}
	for _, s := range p.Servers {
		for _, a := range s.Interfaces[0].Addresses {
			run(t, "ip", "-n", ns(s.Name), "addr", "add", a.String(), "dev", s.Interfaces[0].Name)
		}
		for _, gw := range s.Gateways {
			run(t, "ip", "-n", ns(s.Name), "route", "add", "default", "via", gw.String())
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
			run(t, "ip", "netns", "exec", space, "/usr/lib/frr/"+d, "-d", "-N", space, "-i", filepath.Join(rundir, d+".pid"))
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
			if strings.Count(show(n.Name, "show bfd peers brief"), " up ") != 2 {
				return false
			}
		}
		return true
	}
	s1, s3 := p.Node("server1"), p.Node("server3")
	target := s3.Interfaces[0].Addresses[0].Addr().String()
	deadline := time.Now().Add(40 * time.Second)
	var ok bool
	for i := 0; i < 80 && time.Now().Before(deadline); i++ {
		if exec.Command("ip", "netns", "exec", ns(s1.Name), "ping", "-c", "1", "-W", "1", target).Run() == nil && bfdUp() {
			ok = true
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("server1 cannot reach server3 (%s) or BFD is not up everywhere\nleaf1:\n%s", target, show("leaf1", "show bgp summary", "show ip route", "show bfd peers brief"))
	}
	route := run(t, "ip", "-n", ns("leaf1"), "route", "show", p.Node("leaf2").ServerSubnets[0].String())
	if strings.Count(route, "nexthop") != 2 {
		t.Errorf("leaf1's route to leaf2's servers is not ECMP over both spines:\n%s", route)
	}
	for _, n := range p.Switches {
		bfd := show(n.Name, "show bfd peers brief")
		if up := strings.Count(bfd, " up "); up != 2 {
			t.Errorf("%s: %d BFD sessions up, want 2:\n%s", n.Name, up, bfd)
		}
	}
}
