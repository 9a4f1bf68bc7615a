package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
	"github.com/closnet/clos/internal/plan"
	"github.com/closnet/clos/internal/testenv"
)

var anycastAddr = netip.MustParseAddr("10.255.0.53")

// bgpFabric plans seed-003 with closd on every server and the DNS service
// on server1 (leaf1) and server3 (leaf2), checked at 200 ms x 3.
func bgpFabric(t *testing.T) string {
	t.Helper()
	in, err := plan.Preset("seed-003")
	if err != nil {
		t.Fatal(err)
	}
	in.BFD.Interval, in.BFD.Multiplier = 300, 5 // steady on a loaded box, as seed003 does
	in.Hosts = plan.HostsBGP
	in.Anycast = []plan.AnycastIntent{{Name: "dns", Prefixes: []netip.Prefix{netip.PrefixFrom(anycastAddr, 32)}, Servers: []string{"server1", "server3"}}}
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		path := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "fabric.yaml")
}

// buildBins builds closd and clos (which serves the service targets).
func buildBins(t *testing.T) (closd, clos string) {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []string{"closd", "clos"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, b), "github.com/closnet/clos/cmd/"+b).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b, err, out)
		}
	}
	return filepath.Join(dir, "closd"), filepath.Join(dir, "clos")
}

func upBGPLab(t *testing.T, ctx context.Context, kinds map[string]string, def string) (*State, *plan.Fabric, string) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, tool := range []string{"ip", "go", "nft", "vtysh", "sysctl", FRRDir + "/zebra", FRRDir + "/bgpd", FRRDir + "/bfdd"} {
		testenv.RequireTool(t, tool)
	}
	closd, clos := buildBins(t)
	path := bgpFabric(t)
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	name := "a" + hex.EncodeToString(rnd[:])
	base := t.TempDir()
	t.Cleanup(func() {
		if err := Down(context.Background(), base, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if left := Leftovers(context.Background(), base, name); len(left) > 0 {
			t.Errorf("lab %s left: %v", name, left)
		}
	})
	var progress bytes.Buffer
	s, err := Up(ctx, path, Options{Name: name, Base: base, Kind: def, NodeKinds: kinds, Closd: closd, Clos: clos, Wait: 60 * time.Second, Out: &progress})
	if err != nil {
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	s, f, err := Open(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return s, f, closd
}

// counter sends UDP probes from servers to an address and counts, per
// receiving server, what arrives: which anycast instance gets the flows.
type counter struct {
	mu    sync.Mutex
	got   map[string]int
	sent  int
	stop  chan struct{}
	done  sync.WaitGroup
	conns []*net.UDPConn
}

func startCounter(t *testing.T, s *State, from, receivers []string, to netip.Addr) *counter {
	t.Helper()
	c := &counter{got: map[string]int{}, stop: make(chan struct{})}
	port := 0
	for _, r := range receivers {
		rx, err := listenUDPPort(Netns(s.Prefix, r), port)
		if err != nil {
			t.Fatal(err)
		}
		port = rx.LocalAddr().(*net.UDPAddr).Port
		c.conns = append(c.conns, rx)
		c.done.Add(1)
		go func(r string) {
			defer c.done.Done()
			buf := make([]byte, 64)
			for {
				if _, _, err := rx.ReadFromUDP(buf); err != nil {
					return
				}
				c.mu.Lock()
				c.got[r]++
				c.mu.Unlock()
			}
		}(r)
	}
	var txs []*net.UDPConn
	for _, fr := range from {
		for range 4 { // four source ports each, so ECMP can spread them
			tx, err := listenUDP(Netns(s.Prefix, fr))
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, tx)
			c.conns = append(c.conns, tx)
		}
	}
	dst := &net.UDPAddr{IP: to.AsSlice(), Port: port}
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		buf := make([]byte, 16)
		for seq := uint32(0); ; seq++ {
			select {
			case <-c.stop:
				return
			case <-tk.C:
			}
			binary.BigEndian.PutUint32(buf, seq)
			for _, tx := range txs {
				_, _ = tx.WriteToUDP(buf, dst)
				c.mu.Lock()
				c.sent++
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

func (c *counter) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	for _, x := range c.conns {
		x.Close()
	}
	c.done.Wait()
}

// growth is how many packets each receiver got during d.
func (c *counter) growth(d time.Duration) map[string]int {
	a := c.snapshot()
	time.Sleep(d)
	b := c.snapshot()
	for k := range b {
		b[k] -= a[k]
	}
	return b
}

// waitFor polls cond every 100 ms for at most bound.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hostServices(t *testing.T, s *State, server string) daemon.ServicesStatus {
	t.Helper()
	sock, err := hostSocket(s, server)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := api.NewClient(sock).Get(ctx, api.ServicesPath)
	if err != nil {
		n, _ := s.Node(server)
		t.Fatalf("%v; %s's log: %s", err, server, tail(n.Log, 8))
	}
	var st daemon.ServicesStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func announced(t *testing.T, s *State, server string) bool {
	st := hostServices(t, s, server)
	return len(st.Services) == 1 && st.Services[0].Announced
}

// kernelRoute is the route to p in node's kernel, "" when there is none.
func kernelRoute(t *testing.T, s *State, node string, p netip.Prefix) string {
	t.Helper()
	out, err := run(context.Background(), "ip", "-n", Netns(s.Prefix, node), "route", "show", "exact", p.String())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// TestLabAnycastService: seed-003 with closd on every server (against FRR
// leaves and spines) and DNS anycast on server1 and server3: flows from the
// other servers reach both instances; a failed service is withdrawn and its
// flows move (gap measured); a drain moves them before the withdrawal
// without loss; a server announcing what it may not is refused at the leaf.
func TestLabAnycastService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, f, closd := upBGPLab(t, ctx, nil, KindFRR)
	waitFor(t, 20*time.Second, "both instances announced", func() bool { return announced(t, s, "server1") && announced(t, s, "server3") })
	rx := []string{"server1", "server3"}
	c := startCounter(t, s, []string{"server2", "server4"}, rx, anycastAddr)
	waitFor(t, 10*time.Second, "flows reach both instances", func() bool {
		g := c.growth(300 * time.Millisecond)
		return g["server1"] > 0 && g["server3"] > 0
	})

	// Fail the service on server1: it is withdrawn, and every flow ends at server3.
	if err := FailService(ctx, s, f, "server1:dns"); err != nil {
		t.Fatal(err)
	}
	if err := FailService(ctx, s, f, "server1:dns"); err == nil || !strings.Contains(err.Error(), "already failed") {
		t.Errorf("second fail service: %v", err)
	}
	waitFor(t, 10*time.Second, "server1 withdraws dns", func() bool { return !announced(t, s, "server1") })
	waitFor(t, 10*time.Second, "flows move to server3", func() bool {
		g := c.growth(300 * time.Millisecond)
		return g["server1"] == 0 && g["server3"] > 0
	})
	if err := RestoreService(ctx, s, f, "server1:dns"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "server1 announces dns again", func() bool { return announced(t, s, "server1") })
	waitFor(t, 10*time.Second, "flows return to server1", func() bool { return c.growth(300 * time.Millisecond)["server1"] > 0 })

	// Drain server1: the spines move to leaf2 (server1's path comes up
	// prepended) while server1 still announces; server2's flows, on
	// server1's own leaf, move at the withdrawal, to converged spines.
	if err := Drain(ctx, s, "server1", "dns", true); err != nil {
		t.Fatal(err)
	}
	dns := netip.PrefixFrom(anycastAddr, 32)
	waitFor(t, 4*time.Second, "spines route dns only to leaf2 while server1 still announces it", func() bool {
		for _, sp := range []string{"spine3", "spine4"} {
			r := kernelRoute(t, s, sp, dns)
			if !strings.Contains(r, linkAddr(f, "leaf2", sp).String()+" ") || strings.Contains(r, linkAddr(f, "leaf1", sp).String()+" ") {
				return false
			}
		}
		return announced(t, s, "server1")
	})
	waitFor(t, 10*time.Second, "server1 withdraws dns at the end of the drain", func() bool { return !announced(t, s, "server1") })
	waitFor(t, 5*time.Second, "flows move to server3", func() bool {
		g := c.growth(300 * time.Millisecond)
		return g["server1"] == 0 && g["server3"] > 0
	})
	if err := Drain(ctx, s, "server1", "dns", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "undrained flows return to server1", func() bool { return c.growth(300 * time.Millisecond)["server1"] > 0 })
	c.close()

	// The same two as clos lab measure reports them.
	var out bytes.Buffer
	a, err := ServiceAction(s, f, "server1:dns")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Measure(ctx, s, f, a, MeasureOptions{Duration: 2 * time.Second}, &out)
	if err != nil {
		t.Fatalf("measure fail service: %v\n%s", err, out.String())
	}
	t.Logf("fail service server1:dns: max gap %.0f ms, %d lost, %d/%d flows hit, reconverged %.2f s (sender stalls %.0f ms)",
		m.MaxGapMS, m.Lost, m.FlowsHit, m.Flows, m.ReconvergedS, m.SenderStallMS)
	if m.FlowsHit == 0 || m.Lost == 0 || m.Unrecovered != 0 || m.FlowsHit == m.Flows {
		t.Errorf("fail service: %+v; want server2's flows hit and recovered, server4's untouched", m)
	}
	waitFor(t, 10*time.Second, "server1 announces dns after measure", func() bool { return announced(t, s, "server1") })
	a, err = DrainAction(s, f, "server1:dns")
	if err != nil {
		t.Fatal(err)
	}
	// Held past the drain time (5 s), so the withdrawal happens inside.
	if m, err = Measure(ctx, s, f, a, MeasureOptions{Duration: 6 * time.Second}, &out); err != nil {
		t.Fatalf("measure drain: %v\n%s", err, out.String())
	}
	t.Logf("drain server1:dns: %d of %d lost, max gap %.0f ms; undrain: %d lost", m.Lost, m.Sent, m.MaxGapMS, m.RestoreLost)
	if m.Lost != 0 {
		t.Errorf("drain lost %d packets: %+v", m.Lost, m)
	}
	if n, ok := s.Node("server1"); ok {
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(n.Pids[0]), "status")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "VmRSS") {
					t.Logf("closd in host mode (1 session, 1 service): %s", strings.Join(strings.Fields(l), " "))
				}
			}
		}
	}

	// server2 may announce only its loopback: give it a config that also
	// announces an outside prefix and dns, and the FRR leaf must refuse both.
	bogus := netip.MustParsePrefix("10.99.0.0/24")
	rogue(t, ctx, s, f, "server2", closd, bogus)
	waitFor(t, 20*time.Second, "server2's session back", func() bool {
		for _, x := range hostSessions(ctx, s, f) {
			if x.Node == "server2" && x.State != "Established" {
				return false
			}
		}
		return true
	})
	// The leaf hears the rogue server (its loopback comes back), and has
	// refused the rest of that same update.
	waitFor(t, 30*time.Second, "leaf1 learns server2's loopback from the rogue config", func() bool {
		return strings.Contains(kernelRoute(t, s, "leaf1", netip.MustParsePrefix("10.3.0.2/32")), "10.2.0.3")
	})
	time.Sleep(time.Second)
	if r := kernelRoute(t, s, "leaf1", bogus); r != "" {
		t.Errorf("leaf1 accepted %s from server2: %s", bogus, r)
	}
	if r := kernelRoute(t, s, "leaf1", netip.PrefixFrom(anycastAddr, 32)); strings.Contains(r, "10.2.0.3") {
		t.Errorf("leaf1 accepted dns from server2, which does not run it: %s", r)
	}
}

// linkAddr is node's address on its link to peer.
func linkAddr(f *plan.Fabric, node, peer string) netip.Addr {
	for _, l := range f.Links {
		if l.A.Node == node && l.B.Node == peer && len(l.A.Addresses) > 0 {
			return l.A.Addresses[0].Addr()
		}
	}
	return netip.Addr{}
}

// rogue restarts server's closd with extra networks and no outbound
// filter: a host announcing what it may not.
func rogue(t *testing.T, ctx context.Context, s *State, f *plan.Fabric, server, closd string, extra netip.Prefix) {
	t.Helper()
	n, _ := s.Node(server)
	h := serverByName(f, server)
	c, err := config.Load(n.Config)
	if err != nil {
		t.Fatal(err)
	}
	c.Networks = append(c.Networks, extra, netip.PrefixFrom(anycastAddr, 32))
	for i := range c.Neighbors {
		c.Neighbors[i].RouteMap.Out = ""
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range n.Pids {
		kill(p)
		waitGone(p)
	}
	// The leaf forgets the server first (BFD), so that when its loopback
	// comes back the rogue update has been heard.
	waitFor(t, 20*time.Second, h.Leaf+" drops "+server+"'s loopback", func() bool {
		return kernelRoute(t, s, h.Leaf, h.Loopbacks[0]) == ""
	})
	if err := os.WriteFile(n.Config, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := startDaemon(ctx, n, closd); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
}

// TestLabAnycastInterop: closd leaves against an FRR host (server1, the
// plan's host frr.conf) and closd hosts; the leaves accept the FRR host's
// loopback and service, and refuse what a host may not announce.
func TestLabAnycastInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, f, closd := upBGPLab(t, ctx, map[string]string{"leaf1": KindClosd, "leaf2": KindClosd, "server1": KindFRR}, KindFRR)
	lo1 := netip.MustParsePrefix("10.3.0.1/32")
	dns := netip.PrefixFrom(anycastAddr, 32)
	waitFor(t, 20*time.Second, "the closd leaf learns the FRR host's loopback and service", func() bool {
		return strings.Contains(kernelRoute(t, s, "leaf1", lo1), "10.2.0.2") && strings.Contains(kernelRoute(t, s, "leaf1", dns), "10.2.0.2")
	})
	waitFor(t, 20*time.Second, "the closd host on leaf2 serves dns too", func() bool { return announced(t, s, "server3") })
	c := startCounter(t, s, []string{"server2", "server4"}, []string{"server1", "server3"}, anycastAddr)
	waitFor(t, 10*time.Second, "flows reach both instances through closd leaves", func() bool {
		g := c.growth(300 * time.Millisecond)
		return g["server1"] > 0 && g["server3"] > 0
	})
	c.close()
	bogus := netip.MustParsePrefix("10.98.0.0/24")
	rogue(t, ctx, s, f, "server4", closd, bogus)
	waitFor(t, 20*time.Second, "server4's session back", func() bool {
		for _, x := range hostSessions(ctx, s, f) {
			if x.Node == "server4" && x.State != "Established" {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "closd leaf2 learns server4's loopback from the rogue config", func() bool {
		return strings.Contains(kernelRoute(t, s, "leaf2", netip.MustParsePrefix("10.3.0.4/32")), "10.2.1.3")
	})
	time.Sleep(time.Second)
	if r := kernelRoute(t, s, "leaf2", bogus); r != "" {
		t.Errorf("closd leaf2 accepted %s from server4: %s", bogus, r)
	}
	if r := kernelRoute(t, s, "leaf2", dns); strings.Contains(r, "10.2.1.3") {
		t.Errorf("closd leaf2 accepted dns from server4, which does not run it: %s", r)
	}
}
