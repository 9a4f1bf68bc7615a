package sim

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
)

func presetTopo(t testing.TB, name string, edit func(*plan.Intent)) *Topology {
	t.Helper()
	in, err := plan.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&in)
	}
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := FromPlan(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func runSim(t testing.TB, topo *Topology, opt Options, steps ...Step) (*Sim, *Report) {
	t.Helper()
	s, err := New(topo, opt)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Run(steps)
	if err != nil {
		t.Fatal(err)
	}
	return s, rep
}

// route is a node's forwarding state for a prefix: -1 none, 0 local, or
// the ECMP width.
func route(t *testing.T, s *Sim, node, prefix string) int {
	t.Helper()
	n := s.nodes[s.byName[node]]
	for id, p := range s.prefixes {
		if p.String() == prefix {
			return int(n.route[id]) - routeVia
		}
	}
	t.Fatalf("no prefix %s in the fabric", prefix)
	return 0
}

func clean(t *testing.T, rep *Report) {
	t.Helper()
	for _, e := range rep.Events {
		if !e.Settled || e.BlackholesAfter != 0 || e.ECMPViolationsAfter != 0 || e.SessionsUp != e.Sessions {
			t.Errorf("%s: settled %v, blackholes %d, ecmp violations %d, sessions %d/%d up", e.Name, e.Settled,
				e.BlackholesAfter, e.ECMPViolationsAfter, e.SessionsUp, e.Sessions)
		}
	}
}

func TestSeed003ConvergesWithFullECMP(t *testing.T) {
	s, rep := runSim(t, presetTopo(t, "seed-003", nil), Options{})
	clean(t, rep)
	e := rep.Events[0]
	if e.Sessions != 4 || rep.Fabric.Speakers != 4 || rep.Fabric.Prefixes != 6 {
		t.Errorf("fabric %+v, sessions %d", rep.Fabric, e.Sessions)
	}
	// Each leaf reaches the other's servers over both spines; each spine
	// reaches each leaf directly.
	for _, c := range []struct {
		node, prefix string
		want         int
	}{
		{"leaf1", "10.2.1.0/24", 2}, {"leaf2", "10.2.0.0/24", 2},
		{"spine3", "10.2.0.0/24", 1}, {"spine4", "10.2.1.0/24", 1},
		{"leaf1", "10.2.0.0/24", routeLocal - routeVia},
	} {
		if got := route(t, s, c.node, c.prefix); got != c.want {
			t.Errorf("%s %s: width %d; want %d", c.node, c.prefix, got, c.want)
		}
	}
	if e.Updates == 0 || e.ConvergenceMS <= 0 {
		t.Errorf("initial convergence: %+v", e)
	}
}

func TestSeed003SpineFailAndRestore(t *testing.T) {
	topo := presetTopo(t, "seed-003", nil)
	s, rep := runSim(t, topo, Options{}, Step{Kind: Fail, Target: "spine3"})
	clean(t, rep)
	fail := rep.Events[1]
	// Exactly spine3's paths go: the leaves keep one path via spine4.
	if got := route(t, s, "leaf1", "10.2.1.0/24"); got != 1 {
		t.Errorf("leaf1 after spine3 fails: width %d; want 1", got)
	}
	if got := route(t, s, "spine4", "10.2.1.0/24"); got != 1 {
		t.Errorf("spine4 after spine3 fails: width %d; want 1", got)
	}
	if fail.Sessions != 2 || fail.BlackholesPeak != 0 || fail.NodesChanged != 2 {
		t.Errorf("fail spine3: %+v", fail)
	}
	s, rep = runSim(t, topo, Options{}, Step{Kind: Fail, Target: "spine3"}, Step{Kind: Restore, Target: "spine3"})
	clean(t, rep)
	if got := route(t, s, "leaf1", "10.2.1.0/24"); got != 2 {
		t.Errorf("leaf1 after spine3 is back: width %d; want 2", got)
	}
	if r := rep.Events[2]; r.Updates == 0 || r.Sessions != 4 {
		t.Errorf("restore: %+v", r)
	}
}

func TestLinkFailures(t *testing.T) {
	topo := presetTopo(t, "seed-003", nil)
	s, rep := runSim(t, topo, Options{}, Step{Kind: Fail, Target: "leaf1:swp1"})
	clean(t, rep)
	if got := route(t, s, "leaf1", "10.2.1.0/24"); got != 1 {
		t.Errorf("leaf1 after its swp1 fails: width %d; want 1", got)
	}
	// spine3 lost leaf1: it has no way to leaf1's servers, as leaf2
	// is no transit.
	if got := route(t, s, "spine3", "10.2.0.0/24"); got != -routeVia {
		t.Errorf("spine3 after leaf1:swp1 fails: width %d; want no route", got)
	}
	// A silent failure waits for BFD: 100 ms x 3 in the preset.
	_, rep = runSim(t, topo, Options{}, Step{Kind: FailSilent, Target: "leaf1:swp1--spine3:swp1"})
	clean(t, rep)
	if c := rep.Events[1].ConvergenceMS; c < 300 || c > 301 {
		t.Errorf("silent link failure converged after %v ms; want BFD's 300 ms and a little", c)
	}
	// Without BFD the hold timer (9 s) notices.
	noBFD := presetTopo(t, "seed-003", func(in *plan.Intent) { off := false; in.BFD.Enabled = &off })
	_, rep = runSim(t, noBFD, Options{}, Step{Kind: FailSilent, Target: "spine4"}, Step{Kind: Restore})
	clean(t, rep)
	if c := rep.Events[1].ConvergenceMS; c < 6000 || c > 9001 {
		t.Errorf("hung spine without BFD converged after %v ms; want the hold timer's 9 s less keepalive jitter", c)
	}
	if !strings.Contains(rep.Model.SilentDetection, "hold timer 9s") {
		t.Errorf("model: %+v", rep.Model)
	}
}

func TestSameSeedSameReport(t *testing.T) {
	topo := presetTopo(t, "rfc7938-5stage", nil)
	steps := []Step{{Kind: Fail, Target: "superspine1"}, {Kind: FailSilent, Target: "leaf1:swp1"}, {Kind: Restore}}
	js := func(seed uint64) string {
		_, rep := runSim(t, topo, Options{Seed: seed}, steps...)
		rep.Runtime = Runtime{}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b := js(3), js(3)
	if a != b {
		t.Errorf("two runs with seed 3 differ:\n%s\n%s", a, b)
	}
	if c := js(4); c == a {
		t.Log("seed 4 gave the same report as seed 3 (possible, but unlikely)")
	}
}

func TestCheckNamesWhatIsValid(t *testing.T) {
	s, err := New(presetTopo(t, "seed-003", nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		steps []Step
		want  string
	}{
		{[]Step{{Kind: Fail, Target: "spine9"}}, `step 1 (fail spine9): "spine9" is not a switch, a link end NODE:IFACE or a link of the fabric; switches: leaf1, leaf2, spine3, spine4`},
		{[]Step{{Kind: Restore}}, "step 1 (restore all): nothing has failed before it"},
		{[]Step{{Kind: Fail, Target: "leaf1:swp1"}, {Kind: Restore, Target: "spine3"}}, "spine3 has not failed at that point; failed then: leaf1:swp1--spine3:swp1"},
		{[]Step{{Kind: Fail, Target: "spine3"}, {Kind: FailSilent, Target: "spine3"}}, "spine3 has failed already"},
		{[]Step{{Kind: "explode", Target: "spine3"}}, `unknown kind "explode"; valid: fail, fail-silent, restore`},
		{[]Step{{Kind: Fail, Target: "spine3,spine3"}}, "spine3 is named twice"},
		{[]Step{{Kind: Fail, Target: "spine3,"}}, `"" is not a switch`},
	} {
		err := s.Check(c.steps)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want %q", c.steps, err, c.want)
		}
	}
}

func TestRefusesHostModesItDoesNotModel(t *testing.T) {
	in, _ := plan.Preset("dci")
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromPlan(p, false); err == nil || !strings.Contains(err.Error(), `hosts: "neighbor"`) {
		t.Errorf("dci preset: %v", err)
	}
}

func TestReportText(t *testing.T) {
	_, rep := runSim(t, presetTopo(t, "seed-003", nil), Options{}, Step{Kind: Fail, Target: "spine3"})
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fabric seed-003: 3-stage, 4 speakers", "initial convergence", "fail spine3", "bfd 300ms", "Go heap"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// A few hundred speakers, failures included, in seconds even with -race.
func TestFiveStageHundredsOfSpeakers(t *testing.T) {
	topo := presetTopo(t, "rfc7938-5stage", func(in *plan.Intent) {
		in.Pods, in.LeavesPerPod, in.Planes, in.SuperSpinesPerPlane, in.ServersPerLeaf = 7, 28, 2, 4, 0
	})
	_, rep := runSim(t, topo, Options{},
		Step{Kind: Fail, Target: "superspine1"}, Step{Kind: FailSilent, Target: "spine2"}, Step{Kind: Restore})
	clean(t, rep)
	if rep.Fabric.Speakers < 200 {
		t.Errorf("only %d speakers", rep.Fabric.Speakers)
	}
	// The superspine's sessions drop with carrier: its plane's spines lose
	// one path each, nothing goes missing.
	if e := rep.Events[1]; e.BlackholesPeak != 0 || e.DeadNextHopPeak == 0 || e.PathHuntingMax != 1 {
		t.Errorf("fail superspine1: %+v", e)
	}
	// A hung spine is seen after BFD's 300 ms, with routes pointing at it
	// meanwhile.
	if e := rep.Events[2]; e.ConvergenceMS < 300 || e.DeadNextHopRouteMS < 300 {
		t.Errorf("fail-silent spine2: %+v", e)
	}
}

// Every link addressing converges with full ECMP in both families:
// IPv4 over IPv6 next hops (ipv6, unnumbered) and one session per family
// (dual).
func TestLinkAddressings(t *testing.T) {
	for _, la := range []string{plan.LinksIPv6, plan.LinksDual, plan.LinksUnnumbered} {
		t.Run(la, func(t *testing.T) {
			topo := presetTopo(t, "rfc7938-3stage", func(in *plan.Intent) {
				in.LinkAddressing = la
				in.LeavesPerPod, in.SpinesPerPlane = 3, 2
				in.Pools.Loopbacks6 = netip.MustParsePrefix("fd00::/64")
				in.Pools.Servers6 = netip.MustParsePrefix("fd00:2::/48")
			})
			s, rep := runSim(t, topo, Options{}, Step{Kind: Fail, Target: "leaf1:swp1"}, Step{Kind: Restore})
			clean(t, rep)
			var v6 int
			for _, p := range s.prefixes {
				if p.Addr().Is6() {
					v6++
				}
			}
			if v6 == 0 {
				t.Fatal("no IPv6 prefix in the fabric")
			}
			// leaf2's IPv6 servers, over both spines (dual: the IPv6
			// session of each uplink).
			sub := s.topo.Nodes[s.byName["leaf2"]].Config.Networks
			found := false
			for _, p := range sub {
				if p.Addr().Is6() && p.Bits() == 64 {
					found = true
					if got := route(t, s, "leaf1", p.String()); got != 2 {
						t.Errorf("leaf1 %s: width %d; want 2", p, got)
					}
				}
			}
			if !found {
				t.Errorf("leaf2 originates no IPv6 /64: %v", sub)
			}
		})
	}
}

// MRAI holds announcements back: path hunting at power-on takes rounds of
// it, and the RIB's timer drives the simulation through.
func TestMRAISlowsConvergence(t *testing.T) {
	topo := presetTopo(t, "rfc7938-5stage", nil)
	steps := []Step{{Kind: Fail, Target: "spine1"}, {Kind: Restore}}
	_, fast := runSim(t, topo, Options{}, steps...)
	_, slow := runSim(t, topo, Options{MRAI: time.Second}, steps...)
	clean(t, fast)
	clean(t, slow)
	if f, s := fast.Events[0].ConvergenceMS, slow.Events[0].ConvergenceMS; s < 1000 || f > 500 {
		t.Errorf("power-on converged in %v ms without MRAI, %v ms with 1 s", f, s)
	}
}

// Both spines of seed-003 at once: the leaves lose each other, and get
// each other back with the restore.
func TestCorrelatedFailure(t *testing.T) {
	s, rep := runSim(t, presetTopo(t, "seed-003", nil), Options{}, Step{Kind: Fail, Target: "spine3,spine4"})
	clean(t, rep)
	if e := rep.Events[1]; e.Name != "fail spine3,spine4" || e.Sessions != 0 {
		t.Errorf("%+v", e)
	}
	if got := route(t, s, "leaf1", "10.2.1.0/24"); got != -routeVia {
		t.Errorf("leaf1 with both spines down: width %d; want no route", got)
	}
	s, rep = runSim(t, presetTopo(t, "seed-003", nil), Options{}, Step{Kind: Fail, Target: "spine3,spine4"}, Step{Kind: Restore, Target: "spine4,spine3"})
	clean(t, rep)
	if got := route(t, s, "leaf1", "10.2.1.0/24"); got != 2 {
		t.Errorf("leaf1 with both spines back: width %d; want 2", got)
	}
}

// With hosts: bgp the switches run as planned and the servers' dynamic
// sessions are left out: the fabric still converges with full ECMP.
func TestHostsBGPSwitchesOnly(t *testing.T) {
	topo := presetTopo(t, "seed-003", func(in *plan.Intent) { in.Hosts = plan.HostsBGP })
	s, rep := runSim(t, topo, Options{}, Step{Kind: Fail, Target: "spine4"}, Step{Kind: Restore})
	clean(t, rep)
	if rep.Fabric.Speakers != 4 || rep.Events[0].Sessions != 4 {
		t.Errorf("fabric %+v, sessions %d", rep.Fabric, rep.Events[0].Sessions)
	}
	if got := route(t, s, "leaf1", "10.2.1.0/24"); got != 2 {
		t.Errorf("leaf1: width %d; want 2", got)
	}
}

// Servers as speakers (hosts: bgp): an anycast service on server1 and
// server3 is reached over both leaves; when server1 fails, over leaf2
// only; servers with host-routes all learn the whole fabric over their
// one session.
func TestHostSpeakersAnycast(t *testing.T) {
	for _, routes := range []string{plan.HostRoutesDefault, plan.HostRoutesAll} {
		t.Run(routes, func(t *testing.T) {
			in, _ := plan.Preset("seed-003")
			in.Hosts, in.HostRoutes = plan.HostsBGP, routes
			a, err := plan.ParseAnycast("dns=10.255.0.53/32:server1,server3")
			if err != nil {
				t.Fatal(err)
			}
			in.Anycast = []plan.AnycastIntent{a}
			p, err := plan.Build(in)
			if err != nil {
				t.Fatal(err)
			}
			topo, err := FromPlan(p, true)
			if err != nil {
				t.Fatal(err)
			}
			s, rep := runSim(t, topo, Options{})
			clean(t, rep)
			if rep.Fabric.Speakers != 8 || rep.Events[0].Sessions != 8 {
				t.Fatalf("fabric %+v, sessions %d", rep.Fabric, rep.Events[0].Sessions)
			}
			if got := route(t, s, "spine3", "10.255.0.53/32"); got != 2 {
				t.Errorf("spine3 to the anycast service: width %d; want 2 (both leaves)", got)
			}
			want := -routeVia // default only: no fabric prefix on a server
			if routes == plan.HostRoutesAll {
				want = 1
			}
			if got := route(t, s, "server1", "10.2.1.0/24"); got != want {
				t.Errorf("server1 to leaf2's subnet: width %d; want %d", got, want)
			}
			s, rep = runSim(t, topo, Options{}, Step{Kind: Fail, Target: "server1"})
			clean(t, rep)
			if got := route(t, s, "spine3", "10.255.0.53/32"); got != 1 {
				t.Errorf("spine3 to the anycast service without server1: width %d; want 1", got)
			}
		})
	}
}
