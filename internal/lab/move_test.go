package lab

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// neighborFabric plans seed-003 in a hosts mode and writes it to a dir.
func neighborFabric(t *testing.T, dual bool) (*plan.Fabric, string) {
	t.Helper()
	in, err := plan.Preset("seed-003")
	if err != nil {
		t.Fatal(err)
	}
	in.Hosts, in.DualHomed = plan.HostsNeighbor, dual
	if !dual {
		// Dual stack, so moves announce an IPv6 address too.
		in.LinkAddressing = plan.LinksDual
		in.Pools.Loopbacks6 = netip.MustParsePrefix("fd00::/64")
		in.Pools.Servers6 = netip.MustParsePrefix("fd00:2::/64")
	}
	return writePlan(t, in)
}

// writePlan plans in (BFD slowed for a shared box) and writes it to a dir.
func writePlan(t *testing.T, in plan.Intent) (*plan.Fabric, string) {
	t.Helper()
	// BFD at 100 ms x 3 flaps on a loaded shared 2-core box.
	in.BFD.Interval, in.BFD.Multiplier = 300, 5
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := plan.ReadFabric(filepath.Join(dir, "fabric.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return f, filepath.Join(dir, "fabric.yaml")
}

func TestResolveMove(t *testing.T) {
	f, _ := neighborFabric(t, false)
	s := &State{Name: "x", Prefix: Prefix("x"), dir: t.TempDir()}
	mp, err := resolveMove(s, f, "server1", "leaf2")
	if err != nil {
		t.Fatal(err)
	}
	if mp.port != "server1:eth1" || mp.from != "leaf1:swp3" || mp.to != "leaf2:swp3" || mp.fromLeaf != "leaf1" || mp.toLeaf != "leaf2" {
		t.Errorf("move plan %+v", mp)
	}
	if len(mp.addrs) != 2 || mp.addrs[0] != netip.MustParseAddr("10.2.0.2") || mp.addrs[1] != netip.MustParseAddr("fd00:2::2") {
		t.Errorf("addresses %v; want 10.2.0.2 fd00:2::2", mp.addrs)
	}
	if strings.Join(mp.fromUplinks, ",") != "swp1,swp2" || strings.Join(mp.srvPort, ",") != "swp3" {
		t.Errorf("old leaf uplinks %v, port %v", mp.fromUplinks, mp.srvPort)
	}
	// Once moved, the server is where moves.json says; going home picks
	// its own port back.
	if err := saveMoves(s, map[string]string{"server1:eth1": "leaf2:swp4"}); err != nil {
		t.Fatal(err)
	}
	if at, err := Where(s, f, "server1:eth1"); err != nil || at != "leaf2:swp4" {
		t.Errorf("Where = %q, %v", at, err)
	}
	mp, err = resolveMove(s, f, "server1", "leaf1")
	if err != nil || mp.from != "leaf2:swp4" || mp.to != "leaf1:swp3" || mp.fromLeaf != "leaf2" {
		t.Errorf("move home: %+v, %v", mp, err)
	}
	for _, c := range []struct{ server, to, want string }{
		{"server9", "leaf2", `"server9": no such server; servers: server1, server2, server3, server4`},
		{"server1", "spine3", `--to spine3: no leaf "spine3"; leaves: leaf1, leaf2`},
		{"server1", "leaf2:swp1", "--to leaf2:swp1: not a server port; leaf2's server ports: leaf2:swp3, leaf2:swp4"},
		{"server1", "leaf2:swp4", "server1 is on leaf2:swp4 already"},
	} {
		if _, err := resolveMove(s, f, c.server, c.to); err == nil || err.Error() != c.want {
			t.Errorf("move %s --to %s: %v; want %q", c.server, c.to, err, c.want)
		}
	}
	sub, _ := seed003(t)
	if _, err := resolveMove(s, sub, "server1", "leaf2"); err == nil || !strings.Contains(err.Error(), "--hosts neighbor") {
		t.Errorf("move in a subnet fabric: %v", err)
	}
	dual, _ := neighborFabric(t, true)
	if _, err := resolveMove(s, dual, "server1", "leaf2"); err == nil || !strings.Contains(err.Error(), "dual-homed") {
		t.Errorf("move of a dual-homed server: %v", err)
	}
}

func TestCheckHostKinds(t *testing.T) {
	f, _ := neighborFabric(t, false)
	kinds, err := nodeKinds(f, KindFRR, map[string]string{"leaf1": KindClosd})
	if err != nil {
		t.Fatal(err)
	}
	err = checkHostKinds(f, kinds)
	if err == nil || !strings.Contains(err.Error(), "leaf2 would run FRR; use --kind closd, or --node-kind leaf2=closd") {
		t.Errorf("FRR leaf in neighbor mode: %v", err)
	}
	kinds["leaf2"] = KindClosd
	if err := checkHostKinds(f, kinds); err != nil {
		t.Errorf("closd leaves, FRR spines: %v", err)
	}
}

func TestGratuitousFrames(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0x0a}
	g := garpFrame(mac, netip.MustParseAddr("10.2.0.2"))
	if len(g) != 42 || binary.BigEndian.Uint16(g[12:]) != 0x0806 || binary.BigEndian.Uint16(g[20:]) != 1 {
		t.Fatalf("garp frame % x", g)
	}
	if string(g[22:28]) != string(mac) || !equalBytes(g[28:32], []byte{10, 2, 0, 2}) || !equalBytes(g[38:42], []byte{10, 2, 0, 2}) {
		t.Errorf("garp sender/target: % x", g[22:])
	}
	ip := netip.MustParseAddr("2001:db8::5")
	na := naFrame(mac, ip)
	if len(na) != 14+40+32 || binary.BigEndian.Uint16(na[12:]) != 0x86dd || na[20] != 58 || na[21] != 255 {
		t.Fatalf("na frame % x", na)
	}
	icmp := na[54:]
	if icmp[0] != 136 || icmp[4] != 0x20 || netip.AddrFrom16([16]byte(icmp[8:24])) != ip || icmp[24] != 2 || string(icmp[26:32]) != string(mac) {
		t.Errorf("na message % x", icmp)
	}
	// The checksum over the pseudo-header and message, with the checksum
	// field included, folds to all ones.
	src, dst := [16]byte(na[22:38]), [16]byte(na[38:54])
	if c := icmpv6Checksum(src, dst, icmp); c != 0 {
		t.Errorf("checksum does not verify: %#04x", c)
	}
}

func TestAnnouncement(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0x0a}
	for _, c := range []struct {
		addr  string
		proto uint16
		dst   string
		size  int
	}{{"10.2.0.2", 0x0806, "ff:ff:ff:ff:ff:ff", 42}, {"fd00:2::2", 0x86dd, "33:33:00:00:00:01", 86}} {
		frame, proto, dst := announcement(mac, netip.MustParseAddr(c.addr))
		if proto != c.proto || dst.String() != c.dst || len(frame) != c.size || string(frame[:6]) != string(dst) {
			t.Errorf("%s: %d-byte frame, proto %#x, to %s; want %d, %#x, %s", c.addr, len(frame), proto, dst, c.size, c.proto, c.dst)
		}
	}
}

func equalBytes(a, b []byte) bool { return string(a) == string(b) }

func TestOldLeafRules(t *testing.T) {
	got := oldLeafRules("cl0000_move", []netip.Addr{netip.MustParseAddr("10.2.0.2"), netip.MustParseAddr("fd00:2::2")}, []string{"swp1", "swp2"}, []string{"swp3"})
	for _, want := range []string{
		"table inet cl0000_move {",
		`ip daddr 10.2.0.2 iifname { "swp1", "swp2" } counter`,
		`ip daddr 10.2.0.2 oifname { "swp3" } counter`,
		`ip6 daddr fd00:2::2 oifname { "swp3" } counter`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rules lack %q:\n%s", want, got)
		}
	}
	out := "table inet x {\n chain moved {\n  ip daddr 10.2.0.2 iifname { \"swp1\" } counter packets 12 bytes 400\n  ip daddr 10.2.0.2 oifname \"swp3\" counter packets 30 bytes 9\n }\n}\n"
	if n := sumCounters(out); n != 42 {
		t.Errorf("sumCounters = %d; want 42", n)
	}
}

func TestWithdrawnAfter(t *testing.T) {
	since := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	log := filepath.Join(t.TempDir(), "leaf1.log")
	lines := []string{
		`{"time":"2026-01-01T09:59:59Z","msg":"host route withdrawn","prefix":"10.2.0.2/32"}`,
		`not json`,
		`{"time":"2026-01-01T10:00:00.100Z","msg":"host route withdrawn","prefix":"10.2.0.3/32"}`,
		`{"time":"2026-01-01T10:00:00.250Z","msg":"host route withdrawn","prefix":"10.2.0.2/32"}`,
	}
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	d, ok := withdrawnAfter(log, since, []netip.Addr{netip.MustParseAddr("10.2.0.2")})
	if !ok || d != 250*time.Millisecond {
		t.Errorf("withdrawnAfter = %v, %v; want 250ms", d, ok)
	}
	if _, ok := withdrawnAfter(log, since, []netip.Addr{netip.MustParseAddr("10.2.0.9")}); ok {
		t.Error("found a withdraw for a host never withdrawn")
	}
}

// FuzzMoveReaders feeds arbitrary bytes to the two files move reads: a
// closd log (the old leaf's withdraw) and moves.json. Neither panics; a
// withdraw found is never before the move; a moves file that loads
// resolves only to server ports of the fabric or fails.
func FuzzMoveReaders(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T10:00:00.250Z","msg":"host route withdrawn","prefix":"10.2.0.2/32"}`))
	f.Add([]byte(`{"server1:eth1": "leaf2:swp3"}`))
	f.Add([]byte(`{"server1:eth1": "spine3:swp1"}`))
	f.Add([]byte("{\n}\n["))
	in, err := plan.Preset("seed-003")
	if err != nil {
		f.Fatal(err)
	}
	in.Hosts = plan.HostsNeighbor
	p, err := plan.Build(in)
	if err != nil {
		f.Fatal(err)
	}
	fab := p.Fabric()
	since := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		log := filepath.Join(dir, "leaf1.log")
		if err := os.WriteFile(log, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if d, ok := withdrawnAfter(log, since, []netip.Addr{netip.MustParseAddr("10.2.0.2")}); ok && d < 0 {
			t.Errorf("withdraw %s before the move", d)
		}
		if err := os.WriteFile(filepath.Join(dir, movesFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s := &State{Name: "x", Prefix: Prefix("x"), dir: dir}
		mp, err := resolveMove(s, fab, "server1", "leaf2")
		if err == nil && (serverLinkAt(fab, mp.from) < 0 || serverLinkAt(fab, mp.to) < 0) {
			t.Errorf("move resolved to ports outside the fabric: %+v", mp)
		}
	})
}
