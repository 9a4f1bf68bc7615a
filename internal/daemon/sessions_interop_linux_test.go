package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// TestInteropFRRHoldExpiry: FRR goes silent (its BGP packets dropped by
// nftables in its namespace, the link stays up, so fall-over cannot help)
// and closd drops the session when the hold timer expires: not before a
// few keepalives were missed, and within the 9 s hold.
func TestInteropFRRHoldExpiry(t *testing.T) {
	nft := testenv.RequireTool(t, "nft")
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	closd := l.runClosd(t, l.closdConfig("", false))
	poll(t, "FRR session with "+usV4+" Established", func() (bool, string) {
		s, out := f.state(usV4)
		return s == "Established", s + " " + out
	})
	l.checkClosdKernel(t)
	table := l.pfx + "hold"
	rules := fmt.Sprintf(`table inet %[1]s {
  chain in { type filter hook input priority 0; tcp sport 179 drop; tcp dport 179 drop; }
  chain out { type filter hook output priority 0; tcp sport 179 drop; tcp dport 179 drop; }
}
`, table)
	cmd := exec.Command("ip", "netns", "exec", l.peer, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "exec", l.peer, nft, "delete", "table", "inet", table).Run() })
	silent := time.Now()
	waitGone(t, silent.Add(15*time.Second), 100*time.Millisecond, "closd still has FRR's route 15 s after FRR went silent",
		func() (bool, string) { return l.kernelRoute("10.2.0.0/24") })
	took := time.Since(silent)
	t.Logf("session dropped %v after the peer went silent (hold 9 s)", took)
	// Keepalives every 3 s: the last one may have arrived just before the
	// drop, so expiry comes 6 to 9 s later, plus scheduling, which a
	// loaded machine stretches (the log says it was the hold timer).
	if took < 5*time.Second || took > 15*time.Second {
		t.Errorf("session dropped %v after the peer went silent; want at hold expiry (6..9 s)", took)
	}
	if logs := closd.Stderr.(*lockedBuffer).String(); !strings.Contains(logs, `reason="hold timer expired"`) {
		t.Errorf("closd's log does not show the session dropped by the hold timer:\n%s", logs)
	}
	if s, _ := f.state(usV4); s == "Established" {
		// FRR's own hold timer runs too; ours fired first or together.
		t.Logf("FRR still shows Established (its hold timer runs on its side)")
	}
}

// TestInteropFRRDynamicOutOfRange: a listen-range that does not hold
// FRR's address refuses its connections; nothing comes up.
func TestInteropFRRDynamicOutOfRange(t *testing.T) {
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	l.runClosd(t, `router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.1.0.0/24]
neighbors:
  - listen-range: 10.252.0.0/24
    remote-as: 65000-65100
  - listen-range: "fd00:252::/64"
    remote-as: external
`)
	// FRR retries every second; several tries must all be refused.
	for range 8 {
		time.Sleep(500 * time.Millisecond)
		for _, n := range []string{usV4, usV6} {
			if s, out := f.state(n); s == "Established" || s == "OpenConfirm" {
				t.Fatalf("FRR's session %s reached %s with closd outside the listen-range: %s", n, s, out)
			}
		}
	}
	if ok, out := l.kernelRoute("10.2.0.0/24"); ok {
		t.Fatalf("closd installed FRR's route: %s", out)
	}
}

// TestInteropFRRCapabilities: what FRR shows it negotiated with closd is
// what closd advertises: 4-octet AS, route refresh, and the family of each
// session, advertised and received.
func TestInteropFRRCapabilities(t *testing.T) {
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	l.runClosd(t, l.closdConfig("", false))
	for _, tc := range []struct{ nbr, family string }{{usV4, "ipv4Unicast"}, {usV6, "ipv6Unicast"}} {
		poll(t, "FRR session with "+tc.nbr+" Established", func() (bool, string) {
			s, out := f.state(tc.nbr)
			return s == "Established", s + " " + out
		})
		m, out := f.json("show bgp neighbors " + tc.nbr + " json")
		n, _ := m[tc.nbr].(map[string]any)
		caps, _ := n["neighborCapabilities"].(map[string]any)
		if caps == nil {
			t.Fatalf("%s: no neighborCapabilities in FRR's view: %s", tc.nbr, out)
		}
		for _, k := range []string{"4byteAs", "routeRefresh"} {
			if v := fmt.Sprint(caps[k]); !strings.Contains(v, "advertisedAndReceived") {
				t.Errorf("%s: FRR shows %s = %v, want advertised and received", tc.nbr, k, caps[k])
			}
		}
		mp, _ := caps["multiprotocolExtensions"].(map[string]any)
		fam, _ := mp[tc.family].(map[string]any)
		if fam["advertisedAndReceived"] != true {
			t.Errorf("%s: FRR shows multiprotocol %s = %v, want advertised and received", tc.nbr, tc.family, mp[tc.family])
		}
		// closd advertises no graceful restart and no add-path: FRR must
		// not believe it received them.
		if v := fmt.Sprint(caps["addPath"]); strings.Contains(v, "Received") {
			t.Errorf("%s: FRR shows add-path received from closd: %v", tc.nbr, v)
		}
		if hold, _ := n["bgpTimerHoldTimeMsecs"].(float64); hold != 9000 {
			t.Errorf("%s: FRR negotiated hold %v ms, want 9000 (both sides 9 s)", tc.nbr, n["bgpTimerHoldTimeMsecs"])
		}
		// closd's own view over its API agrees.
		ours := closdNeighbor(t, l, peerOf(tc.nbr))
		want := "ipv4-unicast"
		if tc.family == "ipv6Unicast" {
			want = "ipv6-unicast"
		}
		if ours["as4"] != true || ours["route_refresh"] != true || ours["hold_time_seconds"] != 9.0 ||
			fmt.Sprint(ours["families"]) != "["+want+"]" {
			t.Errorf("%s: closd shows as4=%v route_refresh=%v hold=%v families=%v; want true, true, 9, [%s]",
				tc.nbr, ours["as4"], ours["route_refresh"], ours["hold_time_seconds"], ours["families"], want)
		}
	}
}

func peerOf(us string) string {
	if us == usV4 {
		return peerV4
	}
	return peerV6
}

// closdNeighbor reads one neighbor from closd's control API.
func closdNeighbor(t *testing.T, l *netLab, addr string) map[string]any {
	t.Helper()
	sock := filepath.Join(l.dir, "closd.sock")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := c.Get("http://closd/v1/bgp/neighbors")
	if err != nil {
		t.Fatalf("closd API: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var found map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["address"] == addr && found == nil {
				found = v
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("closd API: %v: %s", err, b)
	}
	walk(doc)
	if found == nil {
		t.Fatalf("closd API shows no neighbor %s: %s", addr, b)
	}
	return found
}

// TestInteropFRRGTSMTwoHops: FRR one router away. closd with ttl-security
// (directly connected peers only) drops FRR's segments, which arrive with
// TTL 254, and nothing comes up; the same closd with multihop instead comes
// up over the same path, so it was GTSM that refused.
func TestInteropFRRGTSMTwoHops(t *testing.T) {
	testenv.RequireRoot(t)
	bgpd := testenv.RequireTool(t, "/usr/lib/frr/bgpd")
	vtysh := testenv.RequireTool(t, "vtysh")
	pfx := runPrefix("ct")
	l := &netLab{pfx: pfx, us: pfx + "us", peer: pfx + "pe"}
	router := pfx + "rt"
	for _, ns := range []string{l.us, router, l.peer} {
		addNetns(t, ns)
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "link", "add", pfx+"a", "netns", l.us, "type", "veth", "peer", "name", pfx+"b", "netns", router)
	sh(t, "ip", "link", "add", pfx+"c", "netns", router, "type", "veth", "peer", "name", pfx+"d", "netns", l.peer)
	for _, c := range [][]string{
		{"-n", l.us, "addr", "add", "10.253.1.1/30", "dev", pfx + "a"},
		{"-n", router, "addr", "add", "10.253.1.2/30", "dev", pfx + "b"},
		{"-n", router, "addr", "add", "10.253.2.1/30", "dev", pfx + "c"},
		{"-n", l.peer, "addr", "add", "10.253.2.2/30", "dev", pfx + "d"},
		{"-n", l.us, "link", "set", pfx + "a", "up"},
		{"-n", router, "link", "set", pfx + "b", "up"},
		{"-n", router, "link", "set", pfx + "c", "up"},
		{"-n", l.peer, "link", "set", pfx + "d", "up"},
		{"-n", l.us, "route", "add", "10.253.2.0/30", "via", "10.253.1.2"},
		{"-n", l.peer, "route", "add", "10.253.1.0/30", "via", "10.253.2.1"},
	} {
		sh(t, append([]string{"ip"}, c...)...)
	}
	sh(t, "ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	dir := labDir(t, pfx)
	l.dir = dir

	conf := frrHead(dir) + ` neighbor 10.253.1.1 remote-as 65001
 neighbor 10.253.1.1 ttl-security hops 2
 neighbor 10.253.1.1 timers connect 1
 address-family ipv4 unicast
  network 10.2.0.0/24
 exit-address-family
!
`
	cf := writeConf(t, dir, "bgpd.conf", conf)
	l.start(t, l.peer, "bgpd", filepath.Join(dir, "bgpd.log"), bgpd, "-Z", "-S", "-f", cf, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"))
	f := &frr{l: l, vtysh: vtysh}
	cfg := func(opt, sock string) string {
		return fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.1.0.0/24]
neighbors:
  - address: 10.253.2.2
    remote-as: 65002
    %s
api: {socket: %s/%s}
`, opt, dir, sock)
	}
	closd := l.runClosd(t, cfg("ttl-security: true", "gtsm.sock"))
	for range 8 {
		time.Sleep(500 * time.Millisecond)
		if s, out := f.state("10.253.1.1"); s == "Established" || s == "OpenConfirm" {
			t.Fatalf("FRR one router away reached %s with closd's ttl-security: %s", s, out)
		}
	}
	closd.Process.Signal(syscall.SIGTERM)
	poll(t, "the first closd to stop listening", func() (bool, string) {
		out, _ := shErr("ip", "netns", "exec", l.us, "ss", "-Hltn", "sport", "=", ":179")
		return strings.TrimSpace(out) == "", out
	})
	l.runClosd(t, cfg("multihop: 255", "multihop.sock"))
	poll(t, "FRR session Established with closd's multihop", func() (bool, string) {
		s, out := f.state("10.253.1.1")
		return s == "Established", s + " " + out
	})
}
