package daemon

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/closnet/clos/internal/neigh"
	"github.com/closnet/clos/internal/testenv"
)

// sendGARP sends a gratuitous ARP request for ip from mac out of ifname in
// namespace ns, as a hypervisor does for a VM it just moved.
func sendGARP(t *testing.T, ns, ifname string, ip netip.Addr, mac neigh.MAC) {
	t.Helper()
	var fd int
	if err := inNetns(ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifi, err := func() (*net.Interface, error) {
		out, err := shErr("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+ifname+"/ifindex")
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
		var idx int
		fmt.Sscan(out, &idx)
		return &net.Interface{Index: idx}, nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	f := make([]byte, 0, 42)
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	f = append(f, mac[:]...)
	f = binary.BigEndian.AppendUint16(f, 0x0806)
	f = binary.BigEndian.AppendUint16(f, 1)      // Ethernet
	f = binary.BigEndian.AppendUint16(f, 0x0800) // IPv4
	f = append(f, 6, 4)
	f = binary.BigEndian.AppendUint16(f, 1) // request
	a4 := ip.As4()
	f = append(f, mac[:]...)
	f = append(f, a4[:]...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	f = append(f, a4[:]...)
	sa := &unix.SockaddrLinklayer{Protocol: 0x0608, Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err := unix.Sendto(fd, f, 0, sa); err != nil {
		t.Fatalf("sending a gratuitous ARP: %v", err)
	}
}

// TestLinuxHostMove runs two closd leaves sharing 10.1.0.0/24 with the
// anycast gateway on their server ports, and a VM (10.1.0.10, one MAC)
// that starts behind leaf A and moves to leaf B: its address leaves A's
// host namespace (A's port stays up, as on a hypervisor with other VMs)
// and appears behind B, which hears a gratuitous ARP. B must originate
// the host with a higher sequence; A must withdraw it because its probes
// go unanswered (aging is 300 s, so nothing else can withdraw it within
// the test), and the fabric's best path must be B's.
func TestLinuxHostMove(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	pfx := runPrefix("ct")
	la, lb, h1, h2 := pfx+"la", pfx+"lb", pfx+"h1", pfx+"h2"
	for _, ns := range []string{la, lb, h1, h2} {
		addNetns(t, ns)
	}
	sa, sb := pfx+"sa", pfx+"sb"
	const vmMACs, gwMAC = "02:00:00:00:00:0a", "02:00:00:00:01:01"
	for _, c := range [][]string{
		{"link", "add", pfx + "ab", "netns", la, "type", "veth", "peer", "name", pfx + "ba", "netns", lb},
		{"link", "add", sa, "netns", la, "type", "veth", "peer", "name", pfx + "ha", "netns", h1},
		{"link", "add", sb, "netns", lb, "type", "veth", "peer", "name", pfx + "hb", "netns", h2},
		{"-n", la, "addr", "add", "10.250.0.1/30", "dev", pfx + "ab"},
		{"-n", lb, "addr", "add", "10.250.0.2/30", "dev", pfx + "ba"},
		{"-n", h1, "link", "set", pfx + "ha", "address", vmMACs},
		{"-n", h2, "link", "set", pfx + "hb", "address", vmMACs},
		{"-n", h1, "addr", "add", "10.1.0.10/24", "dev", pfx + "ha"},
	} {
		sh(t, append([]string{"ip"}, c...)...)
	}
	for ns, ifs := range map[string][]string{la: {pfx + "ab", sa}, lb: {pfx + "ba", sb}, h1: {pfx + "ha"}, h2: {pfx + "hb"}} {
		for _, i := range append(ifs, "lo") {
			sh(t, "ip", "-n", ns, "link", "set", i, "up")
		}
	}
	for _, ns := range []string{la, lb} {
		sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	sh(t, "ip", "-n", h1, "route", "add", "default", "via", "10.1.0.1")

	dir := t.TempDir()
	lab := &netLab{dir: dir}
	bin := closdBinary(t)
	leaf := func(name, ns, id, self, peer, port string, as, peerAS int) (string, *lockedBuffer) {
		sock := filepath.Join(dir, name+".sock")
		cfg := fmt.Sprintf(`router-id: %s
asn: %d
listen: {address: %s}
bgp: {timers: {keepalive: 1, hold: 9}}
neighbors:
  - {address: %s, remote-as: %d}
hosts:
  interfaces: [{name: %s, allowed: [10.1.0.0/24]}]
  aging-time: 300s
  probe-interval: 200ms
  probe-retries: 2
  community: "65000:100"
  gateway: {ipv4: 10.1.0.1/24, mac: "%s"}
  aggregate: true
`, id, as, self, peer, peerAS, port, gwMAC)
		path := writeConf(t, dir, name+".yaml", cfg)
		cmd := lab.start(t, ns, name, "", bin, "--config", path, "--api-socket", sock)
		return sock, cmd.Stdout.(*lockedBuffer)
	}
	sockA, logA := leaf("leafA", la, "10.0.0.1", "10.250.0.1", "10.250.0.2", sa, 65001, 65002)
	sockB, logB := leaf("leafB", lb, "10.0.0.2", "10.250.0.2", "10.250.0.1", sb, 65002, 65001)
	t.Cleanup(func() {
		for _, l := range []struct {
			name string
			b    *lockedBuffer
		}{{"leaf A", logA}, {"leaf B", logB}} {
			var keep []string
			for _, line := range strings.Split(l.b.String(), "\n") {
				if strings.Contains(line, "component=hosts") || strings.Contains(line, "session established") {
					keep = append(keep, line)
				}
			}
			t.Logf("--- %s, host-route log:\n%s", l.name, strings.Join(keep, "\n"))
		}
	})

	hosts := func(sock string) HostsStatus {
		var st HostsStatus
		apiGet(sock, "/v1/hosts", &st)
		return st
	}
	route := func(sock, prefix string) (Route, bool) {
		var rs struct{ Routes []Route }
		if apiGet(sock, "/v1/bgp/routes", &rs) != nil {
			return Route{}, false
		}
		for _, r := range rs.Routes {
			if r.Prefix.String() == prefix {
				return r, true
			}
		}
		return Route{}, false
	}

	// The gateway answers the VM (its MAC and address are on A's port),
	// and A learns the VM from that exchange.
	poll(t, "leaf A's server port has the anycast gateway", func() (bool, string) {
		out, _ := shErr("ip", "-n", la, "addr", "show", sa)
		return strings.Contains(out, "10.1.0.1/24") && strings.Contains(out, gwMAC), out
	})
	sh(t, "ip", "netns", "exec", h1, "ping", "-c1", "-W2", "10.1.0.1")
	poll(t, "A learns the VM and B has A's route", func() (bool, string) {
		st := hosts(sockA)
		r, ok := route(sockB, "10.1.0.10/32")
		return len(st.Hosts) == 1 && st.Hosts[0].Seq == 0 && ok && r.Peer == netip.MustParseAddr("10.250.0.1"),
			fmt.Sprintf("A hosts %+v; B route %+v %v", st.Hosts, r, ok)
	})
	if out := sh(t, "ip", "-n", la, "route", "show", "10.1.0.10/32", "proto", "202"); !strings.Contains(out, sa) {
		t.Errorf("A's kernel route to the VM: %q", out)
	}
	// Data plane: B reaches the VM through A's host route.
	poll(t, "B's kernel has the VM via A", func() (bool, string) {
		out, _ := shErr("ip", "-n", lb, "route", "show", "10.1.0.10/32", "proto", "201")
		return strings.Contains(out, "10.250.0.1"), out
	})
	sh(t, "ip", "netns", "exec", lb, "ping", "-c1", "-W2", "10.1.0.10")

	// Move: the VM's address leaves h1 (its link stays up) and comes up
	// behind B with the same MAC, announced by a gratuitous ARP.
	sh(t, "ip", "-n", h1, "addr", "del", "10.1.0.10/24", "dev", pfx+"ha")
	sh(t, "ip", "-n", h2, "addr", "add", "10.1.0.10/24", "dev", pfx+"hb")
	sh(t, "ip", "-n", h2, "route", "add", "default", "via", "10.1.0.1")
	moved := time.Now()
	t.Logf("%s: gratuitous ARP from the VM behind leaf B", moved.UTC().Format("15:04:05.000"))
	sendGARP(t, h2, pfx+"hb", netip.MustParseAddr("10.1.0.10"), neigh.MAC{2, 0, 0, 0, 0, 0x0a})

	poll(t, "B originates the VM with seq 1", func() (bool, string) {
		st := hosts(sockB)
		return len(st.Hosts) == 1 && st.Hosts[0].Seq == 1 && st.Hosts[0].Interface == sb, fmt.Sprintf("%+v", st.Hosts)
	})
	learned := time.Since(moved)
	poll(t, "A withdraws the VM after unanswered probes; A's best is B's", func() (bool, string) {
		st := hosts(sockA)
		r, ok := route(sockA, "10.1.0.10/32")
		return len(st.Hosts) == 0 && st.Engine.Withdrawn == 1 && st.Counters.Probes >= 2 && ok && !r.Local && r.Peer == netip.MustParseAddr("10.250.0.2"),
			fmt.Sprintf("A hosts %+v counters %+v; route %+v", st.Hosts, st.Counters, r)
	})
	withdrawn := time.Since(moved)
	t.Logf("B learned the VM %v after the gratuitous ARP; A withdrew it %v after (probe time 2 x 200ms + 200ms; ARP aging 300s)",
		learned.Round(time.Millisecond), withdrawn.Round(time.Millisecond))
	if !strings.Contains(logA.String(), "no answer to probes") {
		t.Error("A's log does not say the withdrawal came from unanswered probes")
	}
	if out, _ := shErr("ip", "-n", la, "route", "show", "10.1.0.10/32", "proto", "202"); strings.TrimSpace(out) != "" {
		t.Errorf("A kept its kernel route to the VM: %q", out)
	}
	// Traffic follows the VM: A reaches it through B now, and the VM
	// reaches its gateway (B's copy of the anycast address) unchanged.
	poll(t, "A's kernel has the VM via B", func() (bool, string) {
		out, _ := shErr("ip", "-n", la, "route", "show", "10.1.0.10/32")
		return strings.Contains(out, "10.250.0.2") && !strings.Contains(out, sa), out
	})
	sh(t, "ip", "netns", "exec", la, "ping", "-c1", "-W2", "10.1.0.10")
	sh(t, "ip", "netns", "exec", h2, "ping", "-c1", "-W2", "10.1.0.1")
	if out := sh(t, "ip", "-n", lb, "route", "show", "10.1.0.10/32", "proto", "202"); !strings.Contains(out, sb) {
		t.Errorf("B's kernel route to the VM: %q", out)
	}
}

// apiGet reads a closd's control API (the api package imports this one,
// so the test speaks HTTP itself).
func apiGet(sock, path string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := c.Get("http://closd" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// TestLinuxHostNet runs LinuxHostNet in a fresh namespace: the gateway
// (both families, virtual MAC) and sysctls on a port, a host route, an
// IPv6 proxy entry, and their removal.
func TestLinuxHostNet(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	pfx := runPrefix("ct")
	ns, port := pfx+"hn", pfx+"p"
	addNetns(t, ns)
	sh(t, "ip", "-n", ns, "link", "add", port, "type", "veth", "peer", "name", pfx+"q")
	sh(t, "ip", "-n", ns, "link", "set", port, "up")
	sh(t, "ip", "-n", ns, "link", "set", pfx+"q", "up")

	inNS := func(f func() error) error { return inNetns(ns, f) }
	var hn LinuxHostNet
	gw := neigh.AnycastGateway{IPv4: netip.MustParsePrefix("10.1.0.1/24"), IPv6: netip.MustParsePrefix("2001:db8:1::1/64"), MAC: neigh.MAC{2, 0, 0, 0, 1, 1}}
	host := netip.MustParsePrefix("10.1.0.10/32")
	proxy := netip.MustParseAddr("2001:db8:1::20")
	if err := inNS(func() error { return hn.SetupPort(port, gw) }); err != nil {
		t.Fatal(err)
	}
	// A second setup (closd restarting) changes nothing and fails nothing.
	if err := inNS(func() error { return hn.SetupPort(port, gw) }); err != nil {
		t.Fatal(err)
	}
	out := sh(t, "ip", "-n", ns, "addr", "show", port)
	for _, want := range []string{"02:00:00:00:01:01", "inet 10.1.0.1/24", "inet6 2001:db8:1::1/64"} {
		if !strings.Contains(out, want) {
			t.Errorf("port lacks %q:\n%s", want, out)
		}
	}
	for _, s := range []string{"net.ipv4.conf." + port + ".proxy_arp", "net.ipv4.conf." + port + ".arp_accept"} {
		if v := strings.TrimSpace(sh(t, "ip", "netns", "exec", ns, "sysctl", "-n", s)); v != "1" {
			t.Errorf("%s = %s", s, v)
		}
	}
	if err := inNS(func() error {
		if err := hn.AddHostRoute(host, port); err != nil {
			return err
		}
		return hn.SetProxy(proxy, port, true)
	}); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "ip", "-n", ns, "route", "show", "10.1.0.10/32"); !strings.Contains(out, "dev "+port) || !strings.Contains(out, "proto 202") || !strings.Contains(out, "metric 10") {
		t.Errorf("host route: %q", out)
	}
	if out := sh(t, "ip", "-n", ns, "-6", "neigh", "show", "proxy"); !strings.Contains(out, "2001:db8:1::20 dev "+port) {
		t.Errorf("proxy entries: %q", out)
	}
	if err := inNS(func() error {
		if err := hn.DelHostRoute(host, port); err != nil {
			return err
		}
		if err := hn.DelHostRoute(host, port); err != nil { // gone already: fine
			return err
		}
		return hn.SetProxy(proxy, port, false)
	}); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "ip", "-n", ns, "route", "show", "10.1.0.10/32"); strings.TrimSpace(out) != "" {
		t.Errorf("host route left: %q", out)
	}
	if out := sh(t, "ip", "-n", ns, "-6", "neigh", "show", "proxy"); strings.Contains(out, "2001:db8:1::20") {
		t.Errorf("proxy entry left: %q", out)
	}
}
