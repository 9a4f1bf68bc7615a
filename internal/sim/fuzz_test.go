package sim

import (
	"strings"
	"testing"
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
