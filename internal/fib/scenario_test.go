package fib

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs testdata/*.txt: desired-state changes, kernel changes
// and plans, with nexthop IDs shown as offsets (+N) from the range start.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := newScenario(t)
		datadriven.RunTest(t, path, s.run)
	})
}

type scenario struct {
	k *Kernel
	r *Reconciler
	d *Desired
}

func newScenario(t *testing.T) *scenario {
	r, err := NewReconciler(DefaultIDRange)
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{k: NewKernel(), r: r, d: NewDesired()}
}

func rel(id uint32) string { return fmt.Sprintf("+%d", id-DefaultIDRange.First) }

func parseRel(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 32)
	return DefaultIDRange.First + uint32(n), err
}

// parseMember reads gw@ifindex[*weight].
func parseMember(s string) (Member, error) {
	var m Member
	gw, rest, ok := strings.Cut(s, "@")
	if !ok {
		return m, fmt.Errorf("member %q: want gw@ifindex[*weight]", s)
	}
	a, err := netip.ParseAddr(gw)
	if err != nil {
		return m, err
	}
	idx, w, _ := strings.Cut(rest, "*")
	n, err := strconv.Atoi(idx)
	if err != nil {
		return m, err
	}
	m = Member{Gateway: a, Ifindex: n}
	if w != "" {
		x, err := strconv.Atoi(w)
		if err != nil {
			return m, err
		}
		m.Weight = uint16(x)
	}
	return m, nil
}

func (s *scenario) opString(op Op) string {
	switch op.Kind {
	case OpNewNexthop:
		return fmt.Sprintf("new-nexthop %s via %s@%d", rel(op.Nexthop.ID), op.Nexthop.Gateway, op.Nexthop.Ifindex)
	case OpSetGroup:
		var es []string
		for _, e := range op.Nexthop.Group {
			es = append(es, fmt.Sprintf("%s*%d", rel(e.ID), e.Weight))
		}
		return fmt.Sprintf("set-group %s [%s]", rel(op.Nexthop.ID), strings.Join(es, " "))
	case OpDelNexthop:
		return "del-nexthop " + rel(op.Nexthop.ID)
	case OpSetRoute:
		if op.Route.Blackhole {
			return fmt.Sprintf("set-route %s blackhole", op.Route.Prefix)
		}
		return fmt.Sprintf("set-route %s nhid %s", op.Route.Prefix, rel(op.Route.NexthopID))
	case OpDelRoute:
		return "del-route " + op.Route.Prefix.String()
	}
	return op.String()
}

func (s *scenario) run(t *testing.T, td *datadriven.TestData) string {
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(td.Input, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	fail := func(err error) string { return "error: " + err.Error() + "\n" }
	switch td.Cmd {
	case "links":
		for _, l := range lines() {
			f := strings.Fields(l)
			idx, err := strconv.Atoi(f[0])
			if err != nil || len(f) != 2 {
				return fail(fmt.Errorf("link line %q: want INDEX up|down|carrier-down|gone", l))
			}
			switch f[1] {
			case "up":
				s.k.SetLink(Link{Index: idx, AdminUp: true, OperUp: true})
			case "down":
				s.k.SetLink(Link{Index: idx})
			case "carrier-down":
				s.k.SetLink(Link{Index: idx, AdminUp: true})
			case "gone":
				s.k.DeleteLink(idx)
			default:
				return fail(fmt.Errorf("link state %q", f[1]))
			}
		}
		return ""
	case "set":
		var out strings.Builder
		for _, l := range lines() {
			f := strings.Fields(l)
			p, err := netip.ParsePrefix(f[0])
			if err != nil {
				out.WriteString(fail(err))
				continue
			}
			nh := Nexthops{}
			if len(f) == 2 && f[1] == "blackhole" {
				nh = Blackhole()
			} else {
				for _, ms := range f[1:] {
					m, err := parseMember(ms)
					if err != nil {
						return fail(err)
					}
					nh.Members = append(nh.Members, m)
				}
			}
			if err := s.d.Set(p, nh); err != nil {
				out.WriteString(fail(err))
			}
		}
		return out.String()
	case "delete":
		for _, l := range lines() {
			s.d.Delete(netip.MustParsePrefix(l))
		}
		return ""
	case "gateway-down", "gateway-up":
		for _, l := range lines() {
			m, err := parseMember(l)
			if err != nil {
				return fail(err)
			}
			s.d.SetGatewayDown(m.Gateway, m.Ifindex, td.Cmd == "gateway-down")
		}
		return ""
	case "hand":
		var out strings.Builder
		for _, l := range lines() {
			f := strings.Fields(l)
			var err error
			switch {
			case f[0] == "del-route" && len(f) == 2:
				err = s.k.Apply(Op{Kind: OpDelRoute, Route: Route{Prefix: netip.MustParsePrefix(f[1])}})
			case f[0] == "del-nexthop" && len(f) == 2:
				var id uint32
				if id, err = parseRel(f[1]); err == nil {
					err = s.k.Apply(Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: id}})
				}
			case f[0] == "blackhole" && len(f) == 2:
				err = s.k.Apply(Op{Kind: OpSetRoute, Route: Route{Prefix: netip.MustParsePrefix(f[1]), Blackhole: true}})
			default:
				err = fmt.Errorf("hand line %q", l)
			}
			if err != nil {
				fmt.Fprintf(&out, "%s: %v\n", l, err)
			}
		}
		return out.String()
	case "restart":
		r, err := NewReconciler(DefaultIDRange)
		if err != nil {
			return fail(err)
		}
		s.r, s.d = r, NewDesired()
		return ""
	case "plan":
		o := PlanOptions{KeepUnknown: td.HasArg("keep-unknown"), Incremental: td.HasArg("incremental")}
		var ops []Op
		var err error
		if td.HasArg("groups-only") {
			ops, err = s.r.PlanGroups(s.d, s.k)
		} else {
			ops, err = s.r.Plan(s.d, s.k, o)
		}
		if err != nil {
			return fail(err)
		}
		// Route ops come in map order; sort within each kind for a
		// stable transcript (the kinds' order is what matters).
		slices.SortStableFunc(ops, func(a, b Op) int {
			if a.Kind != b.Kind || (a.Kind != OpSetRoute && a.Kind != OpDelRoute) {
				return 0
			}
			return a.Route.Prefix.Compare(b.Route.Prefix)
		})
		var out strings.Builder
		for _, op := range ops {
			out.WriteString(s.opString(op))
			if err := s.k.Apply(op); err != nil {
				fmt.Fprintf(&out, " -> %v", err)
			}
			out.WriteString("\n")
		}
		if len(ops) == 0 {
			out.WriteString("no writes\n")
		}
		if !td.HasArg("groups-only") {
			if again, err := s.r.Plan(s.d, s.k, PlanOptions{KeepUnknown: o.KeepUnknown}); err != nil || len(again) != 0 {
				fmt.Fprintf(&out, "NOT IDEMPOTENT: %v %v\n", again, err)
			}
		}
		return out.String()
	case "kernel":
		var out strings.Builder
		var ids []uint32
		for id := range s.k.Nexthops {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			n := s.k.Nexthops[id]
			if n.IsGroup() {
				out.WriteString(s.opString(Op{Kind: OpSetGroup, Nexthop: n})[len("set-"):] + "\n")
			} else {
				fmt.Fprintf(&out, "nexthop %s via %s@%d\n", rel(id), n.Gateway, n.Ifindex)
			}
		}
		var ps []netip.Prefix
		for p := range s.k.Routes {
			ps = append(ps, p)
		}
		slices.SortFunc(ps, netip.Prefix.Compare)
		for _, p := range ps {
			out.WriteString(s.opString(Op{Kind: OpSetRoute, Route: s.k.Routes[p]})[len("set-"):] + "\n")
		}
		if out.Len() == 0 {
			return "empty\n"
		}
		return out.String()
	}
	return fail(fmt.Errorf("unknown command %q", td.Cmd))
}
