//go:build linux

package fib

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

type testNS struct {
	name string
	path string
	tag  string
}

// newNS makes a namespace named "cf" + 6 random hex + role, removed when
// the test ends.
func newNS(t testing.TB, role string) *testNS {
	t.Helper()
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	tag := "cf" + hex.EncodeToString(r[:])
	ns := &testNS{name: tag + role, path: "/run/netns/" + tag + role, tag: tag}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	ns.ip(t, "link", "set", "lo", "up")
	// Linux drops global IPv6 addresses on admin down by default; the
	// gateways fd00:N::2 must stay reachable across flaps.
	for _, k := range []string{"all", "default"} {
		if out, err := exec.Command("ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv6.conf."+k+".keep_addr_on_down=1").CombinedOutput(); err != nil {
			t.Fatalf("sysctl in %s: %v: %s", ns.name, err, out)
		}
	}
	return ns
}

func (ns *testNS) ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.ipErr(args...)
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns.name, strings.Join(args, " "), err, out)
	}
	return out
}

func (ns *testNS) ipErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"-n", ns.name}, args...)...).CombinedOutput()
	return string(out), err
}

// veth makes a pair a<->b inside the namespace; a gets 10.<n>.0.1/24 and
// fd00:<n>::1/64, and the test's gateways are .2 and ::2. It returns a's
// ifindex.
func (ns *testNS) veth(t testing.TB, n int) (int, string, string) {
	t.Helper()
	a, b := fmt.Sprintf("%sa", vname(n)), fmt.Sprintf("%sb", vname(n))
	ns.ip(t, "link", "add", a, "type", "veth", "peer", "name", b)
	ns.ip(t, "addr", "add", fmt.Sprintf("10.%d.0.1/24", n), "dev", a)
	ns.ip(t, "addr", "add", fmt.Sprintf("fd00:%d::1/64", n), "dev", a, "nodad")
	ns.ip(t, "link", "set", a, "up")
	ns.ip(t, "link", "set", b, "up")
	return ns.ifindex(t, a), a, b
}

func vname(n int) string { return fmt.Sprintf("v%d", n) }

func (ns *testNS) ifindex(t testing.TB, dev string) int {
	t.Helper()
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	if err := json.Unmarshal([]byte(ns.ip(t, "-j", "link", "show", "dev", dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ifindex of %s: %v", dev, err)
	}
	return links[0].Ifindex
}

func gw4(n int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.%d.0.2", n)) }
func gw6(n int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("fd00:%d::2", n)) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newLinuxFIB starts a FIB on a backend in ns.
func newLinuxFIB(t testing.TB, ns *testNS) (*FIB, *Linux) {
	t.Helper()
	return newLinuxFIBWith(t, ns, LinuxConfig{})
}

func newLinuxFIBWith(t testing.TB, ns *testNS, c LinuxConfig) (*FIB, *Linux) {
	t.Helper()
	c.Netns = ns.path
	be, err := NewLinux(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	f, err := New(be, Options{Logger: quietLogger(), RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, be
}

type ipRoute struct {
	Dst      string `json:"dst"`
	Type     string `json:"type"`
	Protocol string `json:"protocol"`
	NhID     uint32 `json:"nhid"`
	Metric   int    `json:"metric"`
}

type ipNexthop struct {
	ID       uint32 `json:"id"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Protocol string `json:"protocol"`
	Group    []struct {
		ID     uint32 `json:"id"`
		Weight int    `json:"weight"`
	} `json:"group"`
}

// kernelView reads our routes and nexthops with iproute2, as an oracle
// independent of our parser.
func (ns *testNS) kernelView(t testing.TB) (map[string]ipRoute, map[uint32]ipNexthop) {
	t.Helper()
	routes := map[string]ipRoute{}
	for _, fam := range []string{"-4", "-6"} {
		var rs []ipRoute
		if err := json.Unmarshal([]byte(ns.ip(t, "-j", fam, "route", "show", "proto", fmt.Sprint(DefaultProtocol))), &rs); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Dst == "default" {
				r.Dst = map[string]string{"-4": "0.0.0.0/0", "-6": "::/0"}[fam]
			}
			if !strings.Contains(r.Dst, "/") {
				if strings.Contains(r.Dst, ":") {
					r.Dst += "/128"
				} else {
					r.Dst += "/32"
				}
			}
			routes[r.Dst] = r
		}
	}
	nhs := map[uint32]ipNexthop{}
	var ns2 []ipNexthop
	out := ns.ip(t, "-j", "nexthop", "show")
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &ns2); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	for _, n := range ns2 {
		nhs[n.ID] = n
	}
	return routes, nhs
}

// eventually polls cond (bounded) until it returns "".
func eventually(t testing.TB, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}
