package fsm

import (
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// BenchmarkStepEstablished is the per-message cost of the engine on the
// hot path: an UPDATE or KEEPALIVE received in Established.
func BenchmarkStepEstablished(b *testing.B) {
	s, err := New(baseConfig())
	if err != nil {
		b.Fatal(err)
	}
	now := establish(b, s)
	u := RecvMessage{Msg: &wire.Update{}}
	k := RecvMessage{Msg: &wire.Keepalive{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := u
		if i%64 == 0 {
			ev = k
		}
		s.Step(now.Add(time.Duration(i)), ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSessionSetup is a whole session from ManualStart to
// Established and back down: what a fabric-wide restart costs per peer.
func BenchmarkSessionSetup(b *testing.B) {
	s, err := New(baseConfig())
	if err != nil {
		b.Fatal(err)
	}
	open := RecvMessage{Msg: openFrom(65001)}
	b.ReportAllocs()
	now := epoch
	for range b.N {
		s.Step(now, ManualStart{})
		s.Step(now, TcpConnectionConfirmed{})
		s.Step(now, open)
		s.Step(now, RecvMessage{Msg: &wire.Keepalive{}})
		s.Step(now, ManualStop{})
		now = now.Add(time.Hour)
	}
}
