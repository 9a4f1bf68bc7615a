package anycast

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv/ddtest"
)

// BenchmarkStepResults measures one check result through an engine with many
// services, the steady-state work of a busy host.
func BenchmarkStepResults(b *testing.B) {
	const n = 1000
	var cfg Config
	for i := range n {
		cfg.Services = append(cfg.Services, Service{
			Name:      fmt.Sprintf("svc%d", i),
			Addresses: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 32)},
			Check:     CheckSpec{Kind: CheckTCP, Address: "127.0.0.1:53"},
			Rise:      1,
		})
	}
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := ddtest.Epoch
	pending := map[string]uint64{}
	note := func(acts []Action) {
		for _, a := range acts {
			if rc, ok := a.(RunCheck); ok {
				pending[rc.Service] = rc.ID
			}
		}
	}
	note(e.Step(now, Tick{}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := cfg.Services[i%n].Name
		now = now.Add(time.Millisecond)
		note(e.Step(now, CheckResult{Service: name, ID: pending[name], OK: true}))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/result")
}
