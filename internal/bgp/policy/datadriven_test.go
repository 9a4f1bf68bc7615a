package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// TestScenarios runs testdata/*.txt. Commands:
//
//	policy            the input is the policy: section of a closd.yaml,
//	                  parsed with config.Parse and compiled
//	apply map=NAME prefix=P [path=(A,B,{C,D})] [comm=(X,Y)] [nh=ADDR]
//	      [nh6=ADDR] [ll=ADDR] [lp=N] [med=N]
//	                  prints the decision and the resulting attributes
//	neighbor [in=NAME] [out=NAME]
//	import|export ... (arguments as apply, without map)
//	remove-private-as mode=M local=ASN path=(...)
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var set *Set
		var nb Neighbor
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "policy":
				c, err := config.Parse("scenario.yaml", []byte("router-id: 10.0.0.1\nasn: 65000\nrole: switch\n"+d.Input))
				if err != nil {
					return "config error: " + err.Error() + "\n"
				}
				s, err := Compile(&c.Policy)
				if err != nil {
					return "compile error: " + err.Error() + "\n"
				}
				set = s
				nb.Set = s
				return "ok\n"
			case "neighbor":
				nb = Neighbor{Set: set}
				d.MaybeScanArgs(t, "in", &nb.In)
				d.MaybeScanArgs(t, "out", &nb.Out)
				return "ok\n"
			case "apply", "import", "export":
				p, attrs := scenarioRoute(t, d)
				frozen := attrs.Clone()
				var dec Decision
				name := ""
				switch d.Cmd {
				case "apply":
					d.ScanArgs(t, "map", &name)
					dec = set.Apply(name, Route{Prefix: p, Attrs: attrs})
				case "import":
					name = nb.In
					dec = nb.ImportDecision(p, attrs)
				case "export":
					name = nb.Out
					dec = nb.ExportDecision(p, attrs)
				}
				if diff := cmp.Diff(frozen, attrs, cmpAttrs); diff != "" {
					t.Fatalf("%s: input attributes modified:\n%s", d.Pos, diff)
				}
				return formatDecision(name, dec, attrs)
			case "remove-private-as":
				var mode string
				var local uint64
				d.ScanArgs(t, "mode", &mode)
				d.MaybeScanArgs(t, "local", &local)
				in := scenarioPath(t, d)
				out, err := RemovePrivateAS(in, mode, uint32(local))
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				return fmt.Sprintf("%q\n", out.String())
			}
			t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			return ""
		})
	})
}

func scenarioPath(t *testing.T, d *datadriven.TestData) wire.ASPath {
	var p wire.ASPath
	for _, arg := range d.CmdArgs {
		if arg.Key != "path" {
			continue
		}
		// Vals are split at commas, so a set {C,D} arrives as "{C" ... "D}".
		var set []uint32
		inSet := false
		for _, v := range arg.Vals {
			v = strings.TrimSpace(v)
			open := strings.HasPrefix(v, "{")
			close := strings.HasSuffix(v, "}")
			n, err := strconv.ParseUint(strings.Trim(v, "{}"), 10, 32)
			if err != nil {
				t.Fatalf("%s: path element %q: %v", d.Pos, v, err)
			}
			switch {
			case open || inSet:
				inSet = !close
				set = append(set, uint32(n))
				if close {
					p = append(p, wire.ASPathSegment{Type: wire.ASSet, ASNs: set})
					set = nil
				}
			case len(p) > 0 && p[len(p)-1].Type == wire.ASSequence:
				p[len(p)-1].ASNs = append(p[len(p)-1].ASNs, uint32(n))
			default:
				p = append(p, wire.ASPathSegment{Type: wire.ASSequence, ASNs: []uint32{uint32(n)}})
			}
		}
	}
	return p
}

func scenarioRoute(t *testing.T, d *datadriven.TestData) (netip.Prefix, *wire.PathAttrs) {
	var ps string
	d.ScanArgs(t, "prefix", &ps)
	p, err := netip.ParsePrefix(ps)
	if err != nil {
		t.Fatalf("%s: %v", d.Pos, err)
	}
	a := &wire.PathAttrs{Origin: wire.OriginIGP, HasOrigin: true, HasASPath: true}
	a.ASPath = scenarioPath(t, d)
	for _, arg := range d.CmdArgs {
		switch arg.Key {
		case "comm":
			for _, v := range arg.Vals {
				c, err := ParseCommunity(strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("%s: %v", d.Pos, err)
				}
				a.Communities = append(a.Communities, c)
			}
		case "nh":
			a.NextHop = netip.MustParseAddr(arg.Vals[0])
		case "nh6", "ll":
			if a.MPReach == nil {
				a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast}
				if p.Addr().Is4() {
					a.MPReach.Family = wire.IPv4Unicast
				}
			}
			if arg.Key == "nh6" {
				a.MPReach.NextHop = netip.MustParseAddr(arg.Vals[0])
			} else {
				a.MPReach.LinkLocalNextHop = netip.MustParseAddr(arg.Vals[0])
			}
		case "lp", "med":
			n, err := strconv.ParseUint(arg.Vals[0], 10, 32)
			if err != nil {
				t.Fatalf("%s: %v", d.Pos, err)
			}
			if arg.Key == "lp" {
				a.LocalPref, a.HasLocalPref = uint32(n), true
			} else {
				a.MED, a.HasMED = uint32(n), true
			}
		}
	}
	return p, a
}

func formatDecision(name string, d Decision, in *wire.PathAttrs) string {
	var b strings.Builder
	if !d.Permit {
		fmt.Fprintf(&b, "deny: %s\n", d.Explain(name))
		return b.String()
	}
	state := "unchanged"
	if d.Changed(in) {
		state = "changed"
	}
	fmt.Fprintf(&b, "permit: %s, attributes %s\n", d.Explain(name), state)
	a := d.Attrs
	fmt.Fprintf(&b, "  as-path: %q\n", a.ASPath.String())
	if a.NextHop.IsValid() {
		fmt.Fprintf(&b, "  next-hop: %s\n", a.NextHop)
	}
	if m := a.MPReach; m != nil {
		fmt.Fprintf(&b, "  mp-next-hop: %s %s", m.Family, m.NextHop)
		if m.LinkLocalNextHop.IsValid() {
			fmt.Fprintf(&b, " link-local %s", m.LinkLocalNextHop)
		}
		b.WriteByte('\n')
	}
	if a.HasLocalPref {
		fmt.Fprintf(&b, "  local-pref: %d\n", a.LocalPref)
	}
	if a.HasMED {
		fmt.Fprintf(&b, "  med: %d\n", a.MED)
	}
	if len(a.Communities) > 0 {
		var cs []string
		for _, c := range a.Communities {
			cs = append(cs, wire.FormatCommunity(c))
		}
		fmt.Fprintf(&b, "  communities: %s\n", strings.Join(cs, " "))
	}
	if d.HasWeight {
		fmt.Fprintf(&b, "  weight: %d\n", d.Weight)
	}
	return b.String()
}
