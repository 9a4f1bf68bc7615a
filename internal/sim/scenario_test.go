package sim

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/plan"
	"github.com/closnet/clos/internal/testenv/ddtest"
	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs testdata/*.txt. Commands:
//
//	sim preset=NAME [pods=N leaves=N planes=N spines=N supers=N bfd=off addressing=MODE v6
//	    hosts=MODE host-routes=R anycast=NAME=PREFIX:SERVER,... host-speakers]
//	<one step a line: fail TARGET | fail-silent TARGET | restore [TARGET]>
//	----
//	one line per event: what settled, sessions, and routes against the plan
//
//	routes NODE [prefix=P]
//	----
//	the node's forwarding state: local, via N (ECMP width), or none
//
// Only behaviour is printed, not timings or message counts, so the files
// hold what must stay true whatever the engines' cost.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var s *Sim
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "sim":
				var rep *Report
				var err error
				s, rep, err = scenarioSim(t, d)
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				var b strings.Builder
				for _, e := range rep.Events {
					fmt.Fprintf(&b, "%s: settled=%v sessions=%d/%d no-route-after=%d ecmp-wrong-after=%d hunt-max=%d dead-hop=%v into-hole=%v\n",
						e.Name, e.Settled, e.SessionsUp, e.Sessions, e.BlackholesAfter, e.ECMPViolationsAfter, e.PathHuntingMax,
						e.DeadNextHopPeak > 0, e.ForwardToBlackholePeak > 0)
				}
				return b.String()
			case "routes":
				if s == nil {
					d.Fatalf(t, "routes before sim")
				}
				n, ok := s.byName[d.CmdArgs[0].Key]
				if !ok {
					d.Fatalf(t, "no node %s", d.CmdArgs[0].Key)
				}
				var only string
				if d.HasArg("prefix") {
					d.ScanArgs(t, "prefix", &only)
				}
				var lines []string
				for id, p := range s.prefixes {
					if only != "" && p.String() != only {
						continue
					}
					lines = append(lines, fmt.Sprintf("%s %s", p, routeString(s.nodes[n].route[id])))
				}
				sort.Strings(lines)
				return strings.Join(lines, "\n") + "\n"
			}
			d.Fatalf(t, "unknown command %s", d.Cmd)
			return ""
		})
	})
}

func routeString(r uint16) string {
	switch r {
	case routeNone:
		return "none"
	case routeLocal:
		return "local"
	}
	return fmt.Sprintf("via %d", r-routeVia)
}

func scenarioSim(t *testing.T, d *datadriven.TestData) (*Sim, *Report, error) {
	var preset string
	d.ScanArgs(t, "preset", &preset)
	in, err := plan.Preset(preset)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	speakers := false
	func(in *plan.Intent) {
		for _, a := range d.CmdArgs {
			v := ""
			if len(a.Vals) > 0 {
				v = a.Vals[0]
			}
			switch a.Key {
			case "preset":
			case "pods":
				in.Pods = ddtest.Int(t, d, a.Key, v)
			case "leaves":
				in.LeavesPerPod = ddtest.Int(t, d, a.Key, v)
			case "planes":
				in.Planes = ddtest.Int(t, d, a.Key, v)
			case "spines":
				in.SpinesPerPlane = ddtest.Int(t, d, a.Key, v)
			case "supers":
				in.SuperSpinesPerPlane = ddtest.Int(t, d, a.Key, v)
			case "bfd":
				on := v != "off"
				in.BFD.Enabled = &on
			case "addressing":
				in.LinkAddressing = v
			case "v6":
				in.Pools.Loopbacks6 = netip.MustParsePrefix("fd00::/64")
				in.Pools.Servers6 = netip.MustParsePrefix("fd00:2::/48")
			case "hosts":
				in.Hosts = v
			case "host-routes":
				in.HostRoutes = v
			case "anycast":
				an, err := plan.ParseAnycast(v)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				in.Anycast = append(in.Anycast, an)
			case "host-speakers":
				speakers = true
			default:
				d.Fatalf(t, "unknown argument %s", a.Key)
			}
		}
	}(&in)
	p, err := plan.Build(in)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	topo, err := FromPlan(p, speakers)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	var steps []Step
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, target, _ := strings.Cut(line, " ")
		steps = append(steps, Step{Kind: kind, Target: target})
	}
	s, err := New(topo, Options{})
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	rep, err := s.Run(steps)
	return s, rep, err
}
