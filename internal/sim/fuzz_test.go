package sim

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/bgp/wire"
)

// FuzzScenario: any scenario either fails Check with a message, or runs
// on seed-003 to a settled end with every route as the plan wants once
// everything is restored.
func FuzzScenario(f *testing.F) {
	for _, seed := range []string{
		"fail spine3;restore",
		"fail-silent leaf1:swp1;fail spine4;restore spine4;restore",
		"fail leaf1:swp1--spine3:swp1;fail-silent leaf2;restore leaf2",
		"restore",
		"fail nosuch",
		"explode spine3",
		"fail spine3;fail spine3",
	} {
		f.Add(seed, uint64(1))
	}
	topo := presetTopo(f, "seed-003", nil)
	f.Fuzz(func(t *testing.T, script string, seed uint64) {
		var steps []Step
		for _, part := range strings.Split(script, ";") {
			kind, target, _ := strings.Cut(part, " ")
			steps = append(steps, Step{Kind: kind, Target: target})
			if len(steps) > 8 {
				return
			}
		}
		s, err := New(topo, Options{Seed: seed | 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(steps); err != nil {
			if !strings.Contains(err.Error(), "step ") {
				t.Fatalf("error without the step: %v", err)
			}
			return
		}
		steps = append(steps, Step{Kind: Restore})
		if s.Check(steps) != nil {
			steps = steps[:len(steps)-1] // nothing left failed
		}
		rep, err := s.Run(steps)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rep.Events {
			if !e.Settled || e.BlackholesAfter != 0 || e.ECMPViolationsAfter != 0 {
				t.Fatalf("%s: %+v", e.Name, e)
			}
		}
	})
}

// FuzzCountUpdate: the walker agrees with the wire codec on every UPDATE
// the codec accepts (sessions without add-path).
func FuzzCountUpdate(f *testing.F) {
	opts := &wire.Options{AS4: true}
	add := func(u *wire.Update) {
		b, err := wire.Append(nil, u, opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v4 := []wire.NLRI{wire.NewNLRI(netip.MustParsePrefix("10.0.0.0/24"), 0), wire.NewNLRI(netip.MustParsePrefix("10.1.0.0/16"), 0)}
	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65001}}}, NextHop: netip.MustParseAddr("10.1.0.1")}
	add(&wire.Update{NLRI: v4, Attrs: attrs})
	add(&wire.Update{Withdrawn: v4})
	v6 := &wire.PathAttrs{HasOrigin: true, HasASPath: true, MPReach: &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("fd00::1"),
		NLRI: []wire.NLRI{wire.NewNLRI(netip.MustParsePrefix("fd00:2::/64"), 0)}}}
	add(&wire.Update{Attrs: v6})
	add(wire.EndOfRIB(wire.IPv6Unicast))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := countUpdate(b)
		m, err := wire.Parse(b, opts)
		u, isUpdate := m.(*wire.Update)
		if err != nil || !isUpdate {
			return
		}
		if !ok {
			t.Fatalf("the codec parses it, the walker gives up: %x", b)
		}
		if want := countNLRI(u); n != want {
			t.Fatalf("walker counts %d, codec %d: %x", n, want, b)
		}
	})
}
