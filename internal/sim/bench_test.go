package sim

import (
	"testing"

	"github.com/closnet/clos/internal/plan"
)

// benchFabric is a 5-stage fabric of a few hundred switches: big enough
// to show how the simulator scales, small enough for a benchmark run.
func benchFabric(b *testing.B, pods, leaves int) *Topology {
	return presetTopo(b, "rfc7938-5stage", func(in *plan.Intent) {
		in.Pods, in.LeavesPerPod, in.Planes, in.SuperSpinesPerPlane = pods, leaves, 4, 8
	})
}

func benchmarkSim(b *testing.B, pods, leaves int) {
	topo := benchFabric(b, pods, leaves)
	steps := []Step{{Kind: Fail, Target: "superspine1"}, {Kind: Fail, Target: "spine1"}, {Kind: Restore}}
	b.ReportAllocs()
	var rep *Report
	for b.Loop() {
		s, err := New(topo, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if rep, err = s.Run(steps); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rep.Fabric.Speakers), "speakers")
	b.ReportMetric(rep.Events[0].ConvergenceMS, "virtual-ms-initial")
	b.ReportMetric(rep.Events[2].ConvergenceMS, "virtual-ms-spine-fail")
	b.ReportMetric(float64(rep.Fabric.EventsSimulated), "events")
	b.ReportMetric(float64(rep.Runtime.HeapBytes)/(1<<20), "heap-MiB")
}

// BenchmarkSim5Stage: 8 pods of 24 leaves and 4 spines, 4 planes of 8
// super-spines: 256 speakers, 432 prefixes.
func BenchmarkSim5Stage(b *testing.B) { benchmarkSim(b, 8, 24) }
