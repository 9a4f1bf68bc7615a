package plan

import (
	"net/netip"
	"testing"
)

// hyperscale is a 5-stage fabric for 101,376 servers: 66 pods of 32
// leaves, 4 planes of 16 super-spines, 48 servers per leaf.
func hyperscale() Intent {
	return Intent{Stages: 5, Pods: 66, LeavesPerPod: 32, Planes: 4, SpinesPerPlane: 1, SuperSpinesPerPlane: 16,
		ServersPerLeaf: 48, ASN: ASNIntent{Scheme: ASNPrivate4},
		Pools: Pools{Links4: netip.MustParsePrefix("10.64.0.0/10")}}
}

func BenchmarkPlan100kServers(b *testing.B) {
	for b.Loop() {
		p, err := Build(hyperscale())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(p.Servers)), "servers")
	}
}

func BenchmarkFiles100kServers(b *testing.B) {
	p, err := Build(hyperscale())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		fs, err := p.Files()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, f := range fs {
			n += len(f.Data)
		}
		b.ReportMetric(float64(n), "bytes")
	}
}
