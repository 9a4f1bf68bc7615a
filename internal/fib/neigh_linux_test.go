//go:build linux

package fib

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// A gateway nobody answers for (link up, ARP fails) leaves the group; it
// comes back when its neighbour entry is reachable again.
func TestLinuxNeighFailedMember(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "nf")
	i1, a1, _ := ns.veth(t, 1)
	i2, a2, _ := ns.veth(t, 2)
	// Fail resolution in about 0.3 s instead of 3 s.
	if out, err := exec.Command("ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.neigh."+a1+".retrans_time_ms=100").CombinedOutput(); err != nil {
		t.Fatalf("sysctl: %v: %s", err, out)
	}
	f, _ := newLinuxFIB(t, ns)
	p := pfx("192.0.2.0/24")
	must(t, f.Set(p, ECMP(Member{Gateway: gw4(1), Ifindex: i1}, Member{Gateway: gw4(2), Ifindex: i2})))
	syncOK(t, f)
	both := want{p.String(): {mem(gw4(1), a1, 1), mem(gw4(2), a2, 1)}}
	eventually(t, "installed", func() string { return diffKernel(t, ns, both) })

	// Traffic to the gateway starts resolution; nothing answers on the
	// peer, so the entry goes INCOMPLETE then FAILED.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, "ip", "netns", "exec", ns.name, "ping", "-n", "-c", "1", "-W", "1", gw4(1).String()).Run()
	one := want{p.String(): {mem(gw4(2), a2, 1)}}
	eventually(t, "member out after FAILED", func() string { return diffKernel(t, ns, one) })
	if nf := f.NeighFailed(); len(nf) != 1 || nf[0].Gateway != gw4(1) {
		t.Fatalf("NeighFailed: %+v", nf)
	}

	ns.ip(t, "neigh", "replace", gw4(1).String(), "dev", a1, "lladdr", "02:00:00:00:01:02", "nud", "reachable")
	eventually(t, "member back after REACHABLE", func() string { return diffKernel(t, ns, both) })
}

// CheckSysctls on the backend reads the settings of its own namespace.
func TestLinuxCheckSysctlsInNetns(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, "sc")
	be, err := NewLinux(LinuxConfig{Netns: ns.path})
	must(t, err)
	defer be.Close()
	set := func(v string) {
		if out, err := exec.Command("ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy="+v).CombinedOutput(); err != nil {
			t.Fatalf("sysctl: %v: %s", err, out)
		}
	}
	has := func() bool {
		for _, w := range be.CheckSysctls() {
			if w.Key == "net.ipv4.fib_multipath_hash_policy" {
				if !strings.Contains(w.Fix, "sysctl -w net.ipv4.fib_multipath_hash_policy=1") {
					t.Fatalf("fix: %q", w.Fix)
				}
				return true
			}
		}
		return false
	}
	set("0")
	if !has() {
		t.Fatal("policy 0 in the namespace: no warning")
	}
	set("1")
	if has() {
		t.Fatal("policy 1 in the namespace: still a warning")
	}
}
