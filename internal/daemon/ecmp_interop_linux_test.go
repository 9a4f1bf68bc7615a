package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Issue 5 acceptance: closd between two FRR spines in different ASNs that
// both announce the same prefixes (RFC 7938 7.3.2: multipath-relax), with
// policies in both directions observed at the peers.

const (
	ecmpV4, ecmpV6 = "10.9.0.0/24", "fd00:9::/64"
	// spine a also announces this one; closd's import route-map denies it.
	ecmpDenied = "10.9.9.0/24"
)

// ecmpLab is closd in "c" with spine "a" (AS 65002) and spine "b" (AS 65003).
type ecmpLab struct {
	*svcLab
	sock   string
	spines map[string]*frr
}

// spineAddr is role's side (2) or closd's side (1) of the link to role.
func spineAddr(role string, v6, ours bool) string {
	n := map[string]int{"a": 1, "b": 2}[role]
	h := 2
	if ours {
		h = 1
	}
	if v6 {
		return fmt.Sprintf("fd00:253:%d::%d", n, h)
	}
	return fmt.Sprintf("10.253.%d.%d", n, h)
}

func spineConf(dir, role string) string {
	asn := map[string]int{"a": 65002, "b": 65003}[role]
	extra := ""
	if role == "a" {
		extra = "  network " + ecmpDenied + "\n"
	}
	c4, c6 := spineAddr(role, false, true), spineAddr(role, true, true)
	return fmt.Sprintf(`frr defaults datacenter
log file %[1]s/bgpd.log debugging
debug bgp neighbor-events
router bgp %[2]d
 bgp router-id 10.0.1.%[3]d
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor %[4]s remote-as 65001
 neighbor %[5]s remote-as 65001
 neighbor %[4]s timers connect 1
 neighbor %[5]s timers connect 1
 address-family ipv4 unicast
  network %[6]s
%[7]s  no neighbor %[5]s activate
 exit-address-family
 address-family ipv6 unicast
  network %[8]s
  neighbor %[5]s activate
 exit-address-family
!
`, dir, asn, asn-65000, c4, c6, ecmpV4, extra, ecmpV6)
}

func newECMPLab(t *testing.T) *ecmpLab {
	t.Helper()
	l := &ecmpLab{svcLab: newSvcLab(t, "c", "a", "b"), spines: map[string]*frr{}}
	l.sock = filepath.Join(l.dir, "closd.sock")
	for _, r := range []string{"a", "b"} {
		l.link(t, "c", r, spineAddr(r, false, true), spineAddr(r, false, false))
		sh(t, "ip", "-n", l.ns["c"], "addr", "add", spineAddr(r, true, true)+"/64", "dev", l.pfx+"c"+r, "nodad")
		sh(t, "ip", "-n", l.ns[r], "addr", "add", spineAddr(r, true, false)+"/64", "dev", l.pfx+r+"c", "nodad")
		dir := filepath.Join(l.dir, r)
		l.spines[r] = l.frrIn(t, r, spineConf(dir, r))
		t.Cleanup(func() {
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(dir, "bgpd.log"))
				t.Logf("--- spine %s bgpd.log:\n%s", r, log)
			}
		})
	}
	return l
}

// closdConf peers with both spines; spine a's sessions get the import
// route-map FROM-A (prefix-list denying ecmpDenied) and the export
// route-map TO-A (MED, community, prepend).
func (l *ecmpLab) closdConf(relax bool) string {
	return fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
api: {socket: %s}
bgp: {multipath-relax: %v}
networks: [10.1.0.0/24, "fd00:1::/64"]
policy:
  prefix-lists:
    - name: NO-BAD
      entries:
        - {seq: 10, action: deny, prefix: %s}
        - {seq: 20, action: permit, prefix: 0.0.0.0/0, le: 32}
  route-maps:
    - name: FROM-A
      entries:
        - {seq: 10, action: permit, match: {prefix-list: NO-BAD}}
    - name: TO-A
      entries:
        - {seq: 10, action: permit, set: {med: 77, community-add: ["65001:42"], prepend: [65001, 65001]}}
neighbors:
  - address: %s
    remote-as: 65002
    route-map: {in: FROM-A, out: TO-A}
  - address: "%s"
    remote-as: 65002
    route-map: {out: TO-A}
  - address: %s
    remote-as: 65003
  - address: "%s"
    remote-as: 65003
`, l.sock, relax, ecmpDenied,
		spineAddr("a", false, false), spineAddr("a", true, false),
		spineAddr("b", false, false), spineAddr("b", true, false))
}

func (l *ecmpLab) runClosd(t *testing.T, relax bool) {
	t.Helper()
	path := writeConf(t, l.dir, "closd.yaml", l.closdConf(relax))
	l.start(t, "c", "closd", closdBinary(t), "--config", path, "--api-socket", l.sock)
}

// apiGet fetches path from closd's API socket into v.
func (l *ecmpLab) apiGet(path string, v any) error { return apiGet(l.sock, path, v) }

// kernelGateways lists the gateways of closd's (proto 201) route for
// prefix, read from the kernel: through the nexthop object the route
// points at (a group's members) or the route's own next hops.
func (l *ecmpLab) kernelGateways(prefix string) ([]string, string) {
	fam := "-4"
	if strings.Contains(prefix, ":") {
		fam = "-6"
	}
	ns := l.ns["c"]
	out, err := shErr("ip", "-j", fam, "-n", ns, "route", "show", prefix, "proto", "201")
	if err != nil {
		return nil, out
	}
	var rs []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		NHID     int    `json:"nhid"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 1 {
		return nil, out
	}
	r := rs[0]
	var gws []string
	switch {
	case r.NHID != 0:
		type nh struct {
			ID      int    `json:"id"`
			Gateway string `json:"gateway"`
			Group   []struct {
				ID int `json:"id"`
			} `json:"group"`
		}
		get := func(id int) (nh, string) {
			o, err := shErr("ip", "-j", "-n", ns, "nexthop", "show", "id", fmt.Sprint(id))
			var n []nh
			if err != nil || json.Unmarshal([]byte(o), &n) != nil || len(n) != 1 {
				return nh{}, o
			}
			return n[0], o
		}
		top, o := get(r.NHID)
		out += "\n" + o
		if len(top.Group) == 0 {
			gws = append(gws, top.Gateway)
		}
		for _, m := range top.Group {
			mm, o := get(m.ID)
			out += "\n" + o
			gws = append(gws, mm.Gateway)
		}
	case len(r.Nexthops) > 0:
		for _, n := range r.Nexthops {
			gws = append(gws, n.Gateway)
		}
	default:
		gws = append(gws, r.Gateway)
	}
	slices.Sort(gws)
	return gws, out
}

// apiWant is the next hops closd's API says it wants for prefix.
func (l *ecmpLab) apiWant(prefix string) ([]string, string) {
	var st FIBStatus
	if err := l.apiGet("/v1/fib", &st); err != nil {
		return nil, err.Error()
	}
	b, _ := json.Marshal(st)
	for _, r := range st.Routes {
		if r.Prefix.String() == prefix {
			var gws []string
			for _, n := range r.Want {
				gws = append(gws, n.Gateway.String())
			}
			slices.Sort(gws)
			return gws, string(b)
		}
	}
	return nil, string(b)
}

// accepted waits until closd holds every spine session's prefixes: a
// one-path answer then means selection, not a path still on its way.
func (l *ecmpLab) waitAccepted(t *testing.T) {
	t.Helper()
	want := map[string]int{
		spineAddr("a", false, false): 1, // ecmpV4; ecmpDenied is refused
		spineAddr("a", true, false):  1,
		spineAddr("b", false, false): 1,
		spineAddr("b", true, false):  1,
	}
	poll(t, "closd to accept the spines' prefixes", func() (bool, string) {
		var ns struct {
			Neighbors []NeighborStatus `json:"neighbors"`
		}
		if err := l.apiGet("/v1/bgp/neighbors", &ns); err != nil {
			return false, err.Error()
		}
		b, _ := json.Marshal(ns)
		got := 0
		for _, n := range ns.Neighbors {
			w, ok := want[n.Address.String()]
			if !ok || n.State != "Established" {
				continue
			}
			// Received counts what the spine sent: on the v4 session of
			// spine a that is ecmpDenied too (and what closd echoed back
			// is refused by the AS loop check either way).
			if n.PrefixesAccepted >= w {
				got++
			}
		}
		return got == len(want), string(b)
	})
}

func TestInteropECMPMultipathRelax(t *testing.T) {
	for _, relax := range []bool{true, false} {
		t.Run(fmt.Sprintf("relax=%v", relax), func(t *testing.T) {
			l := newECMPLab(t)
			l.runClosd(t, relax)
			l.waitAccepted(t)
			cases := []struct{ prefix, a, b string }{
				{ecmpV4, spineAddr("a", false, false), spineAddr("b", false, false)},
				{ecmpV6, spineAddr("a", true, false), spineAddr("b", true, false)},
			}
			for _, c := range cases {
				if relax {
					want := []string{c.a, c.b}
					slices.Sort(want)
					poll(t, c.prefix+" as a 2-way ECMP group in the kernel", func() (bool, string) {
						gws, out := l.kernelGateways(c.prefix)
						return slices.Equal(gws, want), out
					})
					poll(t, c.prefix+" with both spines in closd's API", func() (bool, string) {
						gws, out := l.apiWant(c.prefix)
						return slices.Equal(gws, want), out
					})
					continue
				}
				// Same path length through different neighbor ASes: only
				// one of them without multipath-relax.
				poll(t, c.prefix+" in the kernel", func() (bool, string) {
					gws, out := l.kernelGateways(c.prefix)
					return len(gws) == 1 && (gws[0] == c.a || gws[0] == c.b), out
				})
				// Both paths are in (waitAccepted); give a second path that
				// would wrongly be added the time to reach the kernel.
				for range 5 {
					time.Sleep(200 * time.Millisecond)
					if gws, out := l.kernelGateways(c.prefix); len(gws) != 1 {
						t.Fatalf("%s: want one next hop without multipath-relax, kernel has %v:\n%s", c.prefix, gws, out)
					}
				}
				if gws, out := l.apiWant(c.prefix); len(gws) != 1 {
					t.Fatalf("%s: want one next hop in closd's API without multipath-relax, got %v:\n%s", c.prefix, gws, out)
				}
			}
			if !relax {
				return
			}
			l.checkPolicies(t)
			// Spine a withdraws: the group shrinks to spine b, in the
			// kernel and in the API.
			out, err := shErr(l.spines["a"].vtysh, "--vty_socket", filepath.Join(l.dir, "a"), "-c", "configure terminal",
				"-c", "router bgp 65002", "-c", "address-family ipv4 unicast", "-c", "no network "+ecmpV4)
			if err != nil {
				t.Fatalf("vtysh: %v\n%s", err, out)
			}
			only := []string{spineAddr("b", false, false)}
			poll(t, ecmpV4+" down to spine b in the kernel", func() (bool, string) {
				gws, out := l.kernelGateways(ecmpV4)
				return slices.Equal(gws, only), out
			})
			if gws, out := l.apiWant(ecmpV4); !slices.Equal(gws, only) {
				t.Fatalf("%s: closd's API wants %v after spine a's withdrawal, want %v:\n%s", ecmpV4, gws, only, out)
			}
			if gws, out := l.kernelGateways(ecmpV6); len(gws) != 2 {
				t.Fatalf("%s lost an ECMP member too: %v\n%s", ecmpV6, gws, out)
			}
		})
	}
}

// checkPolicies: spine a sees closd's export route-map applied, spine b
// (no route-map) the route as it is, and closd refused ecmpDenied.
func (l *ecmpLab) checkPolicies(t *testing.T) {
	t.Helper()
	type path struct {
		Metric *int `json:"metric"`
		ASPath struct {
			String string `json:"string"`
		} `json:"aspath"`
		Community struct {
			String string `json:"string"`
		} `json:"community"`
	}
	get := func(f *frr, fam, prefix string) (*path, string) {
		m, out := f.json("show bgp " + fam + " unicast " + prefix + " json")
		ps, _ := m["paths"].([]any)
		for _, p := range ps {
			b, _ := json.Marshal(p)
			var pp path
			if json.Unmarshal(b, &pp) == nil && strings.HasPrefix(pp.ASPath.String, "65001") {
				return &pp, out
			}
		}
		return nil, out
	}
	for _, c := range []struct{ fam, prefix string }{{"ipv4", "10.1.0.0/24"}, {"ipv6", "fd00:1::/64"}} {
		poll(t, "spine a to see "+c.prefix+" with MED 77, 65001:42, prepended twice", func() (bool, string) {
			p, out := get(l.spines["a"], c.fam, c.prefix)
			return p != nil && p.Metric != nil && *p.Metric == 77 && p.Community.String == "65001:42" &&
				p.ASPath.String == "65001 65001 65001", out
		})
		poll(t, "spine b to see "+c.prefix+" without TO-A's changes", func() (bool, string) {
			p, out := get(l.spines["b"], c.fam, c.prefix)
			return p != nil && (p.Metric == nil || *p.Metric == 0) && p.Community.String == "" && p.ASPath.String == "65001", out
		})
	}
	// Spine a sends ecmpDenied (FRR says so), closd keeps it out.
	poll(t, "spine a to advertise "+ecmpDenied, func() (bool, string) {
		m, out := l.spines["a"].json("show bgp ipv4 unicast neighbors " + spineAddr("a", false, true) + " advertised-routes json")
		rs, _ := m["advertisedRoutes"].(map[string]any)
		_, ok := rs[ecmpDenied]
		return ok, out
	})
	var rs struct {
		Routes []Route `json:"routes"`
	}
	if err := l.apiGet("/v1/bgp/routes", &rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Routes {
		if r.Prefix.String() == ecmpDenied {
			t.Fatalf("closd took %s past its import prefix-list: %+v", ecmpDenied, r)
		}
	}
	if gws, out := l.kernelGateways(ecmpDenied); len(gws) != 0 {
		t.Fatalf("closd installed %s, denied on import:\n%s", ecmpDenied, out)
	}
}

// TestInteropBIRDPolicy: closd's export route-map seen in `birdc show
// route all`, and its import prefix-list refusing one of BIRD's routes,
// in both families.
func TestInteropBIRDPolicy(t *testing.T) {
	l := newLab(t)
	birdcOut := startBIRD(t, l, `protocol static s4 { ipv4; route 10.2.0.0/24 blackhole; route 10.2.9.0/24 blackhole; }
protocol static s6 { ipv6; route fd00:2::/64 blackhole; route fd00:2:9::/64 blackhole; }
`)
	l.runClosd(t, fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.1.0.0/24, "fd00:1::/64"]
policy:
  prefix-lists:
    - name: NO-NINE
      entries:
        - {seq: 10, action: deny, prefix: 10.2.9.0/24}
        - {seq: 20, action: deny, prefix: "fd00:2:9::/64"}
        - {seq: 30, action: permit, prefix: 0.0.0.0/0, le: 32}
        - {seq: 40, action: permit, prefix: "::/0", le: 128}
  route-maps:
    - name: FROM-BIRD
      entries:
        - {seq: 10, action: permit, match: {prefix-list: NO-NINE}}
    - name: TO-BIRD
      entries:
        - {seq: 10, action: permit, set: {med: 55, community-add: ["65001:7"], prepend: [65001]}}
neighbors:
  - address: %s
    remote-as: 65002
    route-map: {in: FROM-BIRD, out: TO-BIRD}
  - address: "%s"
    remote-as: 65002
    route-map: {in: FROM-BIRD, out: TO-BIRD}
`, peerV4, peerV6))
	for _, p := range []string{"10.1.0.0/24", "fd00:1::/64"} {
		poll(t, "BIRD to see "+p+" with MED 55, (65001,7), AS path 65001 65001", func() (bool, string) {
			out := birdcOut("show", "route", "for", p, "all")
			return strings.Contains(out, "BGP.as_path: 65001 65001\n") && strings.Contains(out, "BGP.med: 55") &&
				strings.Contains(out, "BGP.community: (65001,7)"), out
		})
	}
	l.checkClosdKernel(t)
	// Both of BIRD's prefixes per family reached closd, one got past the
	// import policy.
	poll(t, "closd to receive 2 prefixes and accept 1 per session", func() (bool, string) {
		var ns struct {
			Neighbors []NeighborStatus `json:"neighbors"`
		}
		if err := apiGet(filepath.Join(l.dir, "closd.sock"), "/v1/bgp/neighbors", &ns); err != nil {
			return false, err.Error()
		}
		b, _ := json.Marshal(ns)
		ok := 0
		for _, n := range ns.Neighbors {
			if n.PrefixesReceived == 2 && n.PrefixesAccepted == 1 {
				ok++
			}
		}
		return ok == 2, string(b)
	})
	for _, p := range []string{"10.2.9.0/24", "fd00:2:9::/64"} {
		if !strings.Contains(birdcOut("show", "route", "export", "c4", "for", p)+birdcOut("show", "route", "export", "c6", "for", p), p) {
			t.Fatalf("BIRD does not export %s to closd: the deny is not exercised", p)
		}
		if ok, out := l.kernelRoute(p); ok {
			t.Fatalf("closd installed %s, denied by its import prefix-list: %s", p, out)
		}
	}
}

// gobgpTwice matches the AS_PATH column of `gobgp global rib` holding
// exactly 65001 65001 (columns are padded with spaces).
var gobgpTwice = regexp.MustCompile(`\s65001 65001\s\s`)

// TestInteropGoBGPPolicy: closd's export route-map seen in GoBGP's RIB, in
// both families.
func TestInteropGoBGPPolicy(t *testing.T) {
	l := newLab(t)
	cli := startGoBGP(t, l)
	l.runClosd(t, fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
log: {level: debug}
networks: [10.1.0.0/24, "fd00:1::/64"]
policy:
  route-maps:
    - name: TO-GOBGP
      entries:
        - {seq: 10, action: permit, set: {med: 33, community-add: ["65001:9"], prepend: [65001]}}
neighbors:
  - address: %s
    remote-as: 65002
    route-map: {out: TO-GOBGP}
  - address: "%s"
    remote-as: 65002
    route-map: {out: TO-GOBGP}
`, peerV4, peerV6))
	for _, c := range []struct{ fam, p string }{{"ipv4", "10.1.0.0/24"}, {"ipv6", "fd00:1::/64"}} {
		poll(t, "GoBGP to see "+c.p+" with MED 33, 65001:9, AS path 65001 65001", func() (bool, string) {
			out, _ := cli("global", "rib", "-a", c.fam, c.p)
			return strings.Contains(out, c.p) && gobgpTwice.MatchString(out) &&
				strings.Contains(out, "{Med: 33}") && strings.Contains(out, "65001:9"), out
		})
	}
}
