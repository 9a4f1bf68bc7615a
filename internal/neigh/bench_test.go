package neigh

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkStepLargeTable measures one neighbor confirmation on a leaf
// holding 10,000 hosts: the per-event cost must not grow with the table.
func BenchmarkStepLargeTable(b *testing.B) {
	const n = 10000
	cfg := Config{Interfaces: []InterfaceConfig{{
		Name:     "eth1",
		Allowed:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		MaxHosts: n,
	}}}
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		e.Step(now, NeighEvent{Interface: "eth1", IP: ips[i], MAC: MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}, State: NUDReachable})
	}
	if got := len(e.Hosts(now)); got != n {
		b.Fatalf("only %d hosts learned", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		ip := ips[i%n]
		e.Step(now, NeighEvent{Interface: "eth1", IP: ip, MAC: MAC{2, 0, 0, 0, byte((i % n) >> 8), byte(i % n)}, State: NUDReachable})
		e.NextDeadline()
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/event")
}
