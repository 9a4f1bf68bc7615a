package daemon

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// startFRRUnnumberedBFD runs zebra (router advertisements), bfdd and bgpd
// in the peer namespace: `neighbor IF interface remote-as external` with
// `neighbor IF bfd` at 100 ms x 3 and a 30 s hold time.
func startFRRUnnumberedBFD(t *testing.T, l *netLab) *frr {
	t.Helper()
	return startFRRDaemons(t, l, frrHead(l.dir)+fmt.Sprintf(` neighbor %[1]s interface remote-as external
 neighbor %[1]s timers 10 30
 neighbor %[1]s timers connect 1
 neighbor %[1]s bfd
 neighbor %[1]s bfd profile fast
 address-family ipv4 unicast
  network 10.0.0.2/32
 exit-address-family
 address-family ipv6 unicast
  network fd00:2::/64
  neighbor %[1]s activate
 exit-address-family
!
`, l.ifPeer), frrFastBFD)
}

// bfdOnInterface is FRR's BFD session on ifname: its status and peer.
func (f *frr) bfdOnInterface(ifname string) (status, peer, out string) {
	out, err := shErr(f.vtysh, "--vty_socket", f.l.dir, "-c", "show bfd peers json")
	if err != nil {
		return "", "", out
	}
	var ps []map[string]any
	if json.Unmarshal([]byte(out), &ps) != nil {
		return "", "", out
	}
	for _, p := range ps {
		if p["interface"] == ifname {
			status, _ = p["status"].(string)
			peer, _ = p["peer"].(string)
			return status, peer, out
		}
	}
	return "", "", out
}

// showBFD runs `clos show bfd --json` against the closd of l.
func (l *netLab) showBFD(t *testing.T, sock string) (BFDReport, string) {
	t.Helper()
	out, err := shErr(svcClos(t), "show", "bfd", "--json", "--socket", sock)
	var r BFDReport
	if err != nil {
		return r, out
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, out
	}
	return r, out
}

// dropLink makes the link silently lose everything in namespace ns (it
// stays up: no carrier loss for fall-over to see) until undo is called.
func dropLink(t *testing.T, ns, table, ifname string) (undo func()) {
	t.Helper()
	testenv.RequireTool(t, "nft")
	nft := func(args ...string) { sh(t, append([]string{"ip", "netns", "exec", ns, "nft"}, args...)...) }
	nft("add", "table", "inet", table)
	done := false
	undo = func() {
		if !done {
			done = true
			exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", table).Run()
		}
	}
	t.Cleanup(undo)
	nft("add", "chain", "inet", table, "in", "{ type filter hook input priority -10 ; policy accept ; }")
	nft("add", "chain", "inet", table, "out", "{ type filter hook output priority -10 ; policy accept ; }")
	nft("add", "rule", "inet", table, "in", "iifname", ifname, "drop")
	nft("add", "rule", "inet", table, "out", "oifname", ifname, "drop")
	return undo
}

var logTime = regexp.MustCompile(`time=(\S+)`)

// logAt is the time of the first line of log after from that contains all
// of want, as closd stamped it.
func logAt(log string, from int, want ...string) (time.Time, bool) {
	for _, line := range strings.Split(log[from:], "\n") {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if !ok {
			continue
		}
		if m := logTime.FindStringSubmatch(line); m != nil {
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				return at, true
			}
		}
	}
	return time.Time{}, false
}

// TestInteropFRRUnnumberedBFD: closd's `interface:` neighbor with bfd
// against FRR's `neighbor IF interface` + `neighbor IF bfd`. The BFD
// session runs single hop over the IPv6 link-local addresses both sides
// learned from router advertisements and comes Up on both; `clos show bfd`
// shows it on its interface. Then the link silently drops everything (nft;
// the carrier stays up, so only BFD can tell): closd's session goes Down
// within its detection time, BGP drops and the RFC 8950 route (`via inet6
// fe80::…`) leaves the kernel, long before the 30 s hold. Once the link
// forwards again everything comes back.
func TestInteropFRRUnnumberedBFD(t *testing.T) {
	l := newUnnumberedLab(t)
	f := startFRRUnnumberedBFD(t, l)
	sock := filepath.Join(l.dir, "closd.sock")
	closd := l.runClosd(t, fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
bgp: {timers: {keepalive: 10, hold: 30}}
networks: [10.0.0.1/32, "fd00:1::/64"]
neighbors:
  - interface: %s
    remote-as: external
    bfd: {interval: 100, multiplier: 3}
`, l.ifUs))
	logs := closd.Stderr.(*lockedBuffer)
	bgpState := func() string { s, _ := f.state(l.ifPeer); return s }
	closdSession := func() (BFDSession, string) {
		r, out := l.showBFD(t, sock)
		for _, s := range r.Sessions {
			if s.Neighbor.IsValid() {
				return s, out
			}
		}
		return BFDSession{}, out
	}
	route := func() (bool, string) {
		out, _ := shErr("ip", "-4", "-n", l.us, "route", "show", "10.0.0.2/32", "proto", "201")
		return strings.Contains(out, "via inet6 fe80:") && strings.Contains(out, l.ifUs), out
	}
	together := func() (bool, string) {
		s, _ := closdSession()
		fs, _, _ := f.bfdOnInterface(l.ifPeer)
		ok, out := route()
		return bgpState() == "Established" && fs == "up" && s.State == "Up" && ok,
			fmt.Sprintf("FRR BGP %s BFD %s, closd BFD %s, route %q", bgpState(), fs, s.State, out)
	}
	poll(t, "BGP and BFD up on both sides, FRR's route via inet6", together)

	s, out := closdSession()
	_, frrPeer, frrOut := f.bfdOnInterface(l.ifPeer)
	if s.Interface != l.ifUs || !s.Peer.IsLinkLocalUnicast() || s.Neighbor != s.Peer || s.Multihop ||
		s.TxIntervalMS != 100 || s.DetectionTimeMS != 300 {
		t.Errorf("clos show bfd: %+v; want a single-hop session to FRR's link-local address on %s, 100 ms, 300 ms detection\n%s", s, l.ifUs, out)
	}
	if !strings.HasPrefix(frrPeer, "fe80:") {
		t.Errorf("FRR's BFD peer is %q, want closd's link-local address\n%s", frrPeer, frrOut)
	}
	if text, err := shErr(svcClos(t), "show", "bfd", l.ifUs, "--socket", sock); err != nil || !strings.Contains(text, l.ifUs) ||
		!strings.Contains(text, s.Peer.String()) {
		t.Errorf("clos show bfd %s does not show the session on it: %v\n%s", l.ifUs, err, text)
	}

	// FRR's bgpd re-creates its BFD session as BGP comes up (which may
	// flap BGP once), and closd gives BFD a grace for bgpSettle then: cut
	// the link only once BGP has been up for longer.
	poll(t, "BGP up for longer than closd's settling time, with BFD", func() (bool, string) {
		_, up, _ := f.bgpUp(l.ifPeer)
		ok, state := together()
		return ok && up > bgpSettle+time.Second, fmt.Sprintf("up %v; %s", up, state)
	})
	mark := len(logs.String())
	undo := dropLink(t, l.us, l.pfx+"t", l.ifUs)
	dropped := time.Now()
	var bgpAfter, routeAfter time.Duration
	for time.Since(dropped) < 10*time.Second && (bgpAfter == 0 || routeAfter == 0) {
		if bgpAfter == 0 && strings.Contains(logs.String()[mark:], "bfd: session down, dropping BGP") {
			bgpAfter = time.Since(dropped)
		}
		if ok, _ := route(); routeAfter == 0 && !ok {
			routeAfter = time.Since(dropped)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if bgpAfter == 0 {
		t.Fatalf("closd did not drop BGP within 10 s of the silent loss (hold 30 s)\n%s", logs.String()[mark:])
	}
	if routeAfter == 0 {
		t.Fatalf("10.0.0.2/32 still in closd's kernel table 10 s after the silent loss")
	}
	detect := "unknown"
	if at, ok := logAt(logs.String(), mark, `msg="bfd: state change"`, "from=Up to=Down", "Control Detection Time Expired"); ok {
		detect = at.Sub(dropped).Round(time.Millisecond).String()
	} else {
		t.Errorf("closd's log shows no Up to Down on detection time expiry\n%s", logs.String()[mark:])
	}
	t.Logf("silent loss: closd's BFD Down after %s (detection time 300 ms), BGP dropped after %v, route gone after %v (polled every 10 ms)",
		detect, bgpAfter.Round(time.Millisecond), routeAfter.Round(time.Millisecond))
	// The link-local gateway left the FIB's groups ahead of the withdraw.
	if s, out := closdSession(); s.State != "Down" || !s.HoldingBGP || !s.GatewayDown || s.Downs < 1 {
		t.Errorf("after the loss: %+v; want Down, holding BGP, the gateway out of the FIB\n%s", s, out)
	}
	if strings.Contains(logs.String()[mark:], "no FIB fast path") {
		t.Errorf("closd found no FIB member for the link-local gateway\n%s", logs.String()[mark:])
	}

	// FRR hears nothing either: its session goes down on its own.
	pollEvery(t, 20*time.Millisecond, "FRR's BFD session down", func() (bool, string) {
		st, _, out := f.bfdOnInterface(l.ifPeer)
		return st == "down", out
	})
	t.Logf("FRR's BFD session down by %v after the loss began", time.Since(dropped).Round(time.Millisecond))

	undo()
	restored := time.Now()
	pollEvery(t, 50*time.Millisecond, "BGP and BFD back after the link forwards again", together)
	t.Logf("BGP, BFD and the route back %v after the loss ended", time.Since(restored).Round(time.Millisecond))
}

// runClosdIn starts a closd named name in namespace ns with cfg; its
// config and API socket live in l.dir under name.
func (l *netLab) runClosdIn(t *testing.T, ns, name, cfg string) (*lockedBuffer, string) {
	t.Helper()
	sock := filepath.Join(l.dir, name+".sock")
	path := writeConf(t, l.dir, name+".yaml", cfg+fmt.Sprintf("api: {socket: %s}\n", sock))
	_, out := runIn(t, ns, name, "", closdBinary(t), "--config", path, "--api-socket", sock)
	return out, sock
}

// TestUnnumberedBFDClosdToClosd: two closd, each with an `interface:`
// neighbor and BFD at 100 ms x 3 towards the other, nothing configured but
// the link's name. Both learn each other by router advertisements, BGP and
// BFD come up over the link-local addresses, and a silent loss (nft in one
// namespace, both directions) takes BFD down on both ends within the
// detection time; each drops BGP and removes the other's route.
func TestUnnumberedBFDClosdToClosd(t *testing.T) {
	l := newUnnumberedLab(t)
	conf := func(id, asn int, ifname string) string {
		return fmt.Sprintf(`router-id: 10.0.0.%[1]d
asn: %[2]d
log: {level: debug}
bgp: {timers: {keepalive: 10, hold: 30}}
networks: [10.0.0.%[1]d/32]
neighbors:
  - interface: %[3]s
    remote-as: external
    bfd: {interval: 100, multiplier: 3}
`, id, asn, ifname)
	}
	logA, sockA := l.runClosdIn(t, l.us, "a", conf(1, 65001, l.ifUs))
	logB, sockB := l.runClosdIn(t, l.peer, "b", conf(2, 65002, l.ifPeer))
	type end struct {
		name, ns, sock, other string
		log                   *lockedBuffer
	}
	ends := []end{{"a", l.us, sockA, "10.0.0.2/32", logA}, {"b", l.peer, sockB, "10.0.0.1/32", logB}}
	session := func(e end) (BFDSession, string) {
		r, out := l.showBFD(t, e.sock)
		if len(r.Sessions) != 1 {
			return BFDSession{}, out
		}
		return r.Sessions[0], out
	}
	route := func(e end) (bool, string) {
		out, _ := shErr("ip", "-4", "-n", e.ns, "route", "show", e.other, "proto", "201")
		return strings.Contains(out, "via inet6 fe80:"), out
	}
	for _, e := range ends {
		poll(t, e.name+"'s BFD session Up at 100 ms and the other's route installed", func() (bool, string) {
			s, out := session(e)
			ok, rt := route(e)
			return s.State == "Up" && s.TxIntervalMS == 100 && s.DetectionTimeMS == 300 && s.Peer.IsLinkLocalUnicast() &&
				s.Interface != "" && ok, out + rt
		})
	}
	// Past the settling time after BGP came up, so that a Down counts: a
	// quiet stretch with both sessions Up and no transition. On a loaded
	// box a session may flap by itself (see docs/bfd.md, "Timing under
	// load"); then wait again, a bounded number of times.
	counts := func() (string, bool) {
		var c []string
		up := true
		for _, e := range ends {
			s, _ := session(e)
			c = append(c, fmt.Sprintf("%s %s %d/%d", e.name, s.State, s.Ups, s.Downs))
			up = up && s.State == "Up"
		}
		return strings.Join(c, ", "), up
	}
	quiet := false
	for try := 0; try < 4 && !quiet; try++ {
		before, up := counts()
		time.Sleep(bgpSettle + time.Second)
		after, _ := counts()
		quiet = up && before == after
		if !quiet {
			t.Logf("not quiet yet: %s -> %s", before, after)
		}
	}
	if !quiet {
		t.Fatalf("the sessions never stayed up for %v", bgpSettle+time.Second)
	}
	marks := []int{len(logA.String()), len(logB.String())}
	undo := dropLink(t, l.us, l.pfx+"t", l.ifUs)
	dropped := time.Now()
	for i, e := range ends {
		waitGone(t, dropped.Add(10*time.Second), 10*time.Millisecond, e.name+" still routes to "+e.other+" 10 s after the loss (hold 30 s)",
			func() (bool, string) { return route(e) })
		gone := time.Since(dropped)
		at, ok := logAt(e.log.String(), marks[i], `msg="bfd: state change"`, "from=Up to=Down")
		if !ok {
			t.Fatalf("%s's log shows no BFD Down\n%s", e.name, e.log.String()[marks[i]:])
		}
		if !strings.Contains(e.log.String()[marks[i]:], "bfd: session down, dropping BGP") {
			t.Errorf("%s did not drop BGP on BFD Down", e.name)
		}
		t.Logf("%s: BFD Down %v after the loss began (detection time 300 ms), route gone by %v", e.name,
			at.Sub(dropped).Round(time.Millisecond), gone.Round(time.Millisecond))
	}
	undo()
	for _, e := range ends {
		poll(t, e.name+"'s session and route back", func() (bool, string) {
			s, out := session(e)
			ok, rt := route(e)
			return s.State == "Up" && ok, out + rt
		})
	}
}
