package bfd

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkSessions runs 1,000 Up sessions at 10 ms x 3. One op is one
// 10 ms round: every session receives its peer's packet and is ticked
// (which sends its own). Reported per session per round.
func BenchmarkSessions(b *testing.B) {
	const n = 1000
	const iv = 10 * time.Millisecond
	now := epoch
	sess := make([]*Session, n)
	rx := make([]Event, n)
	for i := range sess {
		s, err := NewSession(SessionConfig{LocalDiscr: uint32(i + 1), DesiredMinTx: iv, RequiredMinRx: iv,
			DetectMult: 3, Rand: rand.NewPCG(uint64(i), 1)}, now)
		if err != nil {
			b.Fatal(err)
		}
		peer := ControlPacket{State: StateDown, DetectMult: 3, MyDiscr: uint32(100000 + i),
			DesiredMinTx: iv, RequiredMinRx: iv}
		s.Step(now, Event{Kind: EventRecv, Packet: peer})
		peer.State, peer.YourDiscr = StateInit, uint32(i+1)
		s.Step(now, Event{Kind: EventRecv, Packet: peer})
		peer.State, peer.Final = StateUp, true
		s.Step(now, Event{Kind: EventRecv, Packet: peer})
		if s.State() != StateUp || s.Status().PollActive {
			b.Fatalf("session %d not settled Up: %+v", i, s.Status())
		}
		peer.Final = false
		raw, _ := peer.Marshal()
		rx[i] = Event{Kind: EventRecv, Packet: peer, Raw: raw}
		sess[i] = s
	}
	tick := Event{Kind: EventTick}
	sent := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now = now.Add(iv)
		for i, s := range sess {
			s.Step(now, rx[i])
			for _, a := range s.Step(now, tick) {
				if a.Kind == ActionSend {
					sent++
				}
				if a.Kind == ActionStateChange {
					b.Fatalf("session %d changed state: %v", i, a)
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/session-tick")
	b.ReportMetric(float64(sent)/float64(b.N)/n, "sends/session-tick")
}

func BenchmarkParseControl(b *testing.B) {
	raw := unhex(b, vectors[1].hex)
	b.ReportAllocs()
	for range b.N {
		if _, err := ParseControl(raw); err != nil {
			b.Fatal(err)
		}
	}
}
