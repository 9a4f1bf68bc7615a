package bfd

import (
	"math/rand/v2"
	"testing"
	"time"
)

// validEdge is the RFC 5880 6.2 diagram plus the administrative edges.
func validEdge(from, to State) bool {
	switch {
	case to == StateAdminDown:
		return from != StateAdminDown
	case from == StateAdminDown:
		return to == StateDown
	case from == StateDown:
		return to == StateInit || to == StateUp
	case from == StateInit:
		return to == StateUp || to == StateDown
	case from == StateUp:
		return to == StateDown
	}
	return false
}

// FuzzSession drives one session with an arbitrary event sequence and
// checks invariants: legal transitions only, well-formed packets, never P
// and F together, and a tick always moves the next deadline past now (so
// a runner can never spin).
func FuzzSession(f *testing.F) {
	f.Add([]byte{1, 1, 0, 10, 1, 2, 0, 10, 0, 50, 0, 200, 2, 3, 4, 0, 255})
	f.Add([]byte{1, 1, 0x20, 3, 1, 3, 0x10, 3, 4, 1, 1, 0, 100, 0, 100})
	f.Add([]byte{1, 0, 0, 1, 0, 255, 0, 255, 0, 255, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		auth := &AuthConfig{Type: AuthMeticulousKeyedMD5, KeyID: 1, Keys: map[uint8][]byte{1: []byte("k")}}
		useAuth := len(in) > 0 && in[0]&0x80 != 0
		cfg := SessionConfig{LocalDiscr: 7, DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond,
			Rand: rand.NewPCG(1, 2)}
		if useAuth {
			cfg.Auth = auth
		}
		now := epoch
		s, err := NewSession(cfg, now)
		if err != nil {
			t.Fatal(err)
		}
		seq := uint32(0)
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		check := func(acts []Action) {
			for _, a := range acts {
				switch a.Kind {
				case ActionStateChange:
					if !validEdge(a.From, a.To) {
						t.Fatalf("illegal transition %v -> %v", a.From, a.To)
					}
				case ActionSend:
					p, err := ParseControl(a.Bytes)
					if err != nil {
						t.Fatalf("sent unparseable packet %x: %v", a.Bytes, err)
					}
					if p.Poll && p.Final {
						t.Fatal("sent P and F together")
					}
					if a.Packet.State != p.State || a.Packet.YourDiscr != p.YourDiscr {
						t.Fatalf("struct/bytes disagree")
					}
					if useAuth {
						var st authRx
						if err := auth.verify(a.Bytes, &p, &st); err != nil {
							t.Fatalf("our own packet fails auth: %v", err)
						}
					}
				}
			}
		}
		for steps := 0; len(in) > 0 && steps < 200; steps++ {
			switch next() % 5 {
			case 0: // time passes
				now = now.Add(time.Duration(next()) * time.Millisecond)
				check(s.Step(now, Event{Kind: EventTick}))
				if d := s.NextDeadline(); !d.IsZero() && !d.After(now) {
					t.Fatalf("deadline %v not after now %v following a tick", d.Sub(epoch), now.Sub(epoch))
				}
			case 1: // a packet from the peer
				st, fl := next(), next()
				p := ControlPacket{
					State: State(st & 3), Diag: Diag(st >> 3), Poll: fl&0x20 != 0, Final: fl&0x10 != 0,
					Demand: fl&0x02 != 0, DetectMult: next()%5 + 1, MyDiscr: 9,
					DesiredMinTx:  time.Duration(next()) * time.Millisecond,
					RequiredMinRx: time.Duration(next()) * time.Millisecond,
				}
				if fl&1 != 0 {
					p.YourDiscr = 7
				}
				if useAuth && fl&0x40 == 0 {
					seq++
					p.AuthBit, p.Auth = true, &Auth{Type: auth.Type, KeyID: 1, Seq: seq}
				}
				raw, err := p.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if p.AuthBit {
					auth.sign(raw)
				}
				q, err := ParseControl(raw)
				if err != nil {
					continue
				}
				check(s.Step(now, Event{Kind: EventRecv, Packet: q, Raw: raw}))
			case 2:
				check(s.Step(now, Event{Kind: EventAdminDown}))
			case 3:
				check(s.Step(now, Event{Kind: EventAdminUp}))
			case 4:
				check(s.Step(now, Event{Kind: EventSetTimers, Timers: Timers{
					DesiredMinTx:  time.Duration(next()) * time.Millisecond,
					RequiredMinRx: time.Duration(next()) * time.Millisecond,
					DetectMult:    next() % 4,
				}}))
			}
		}
	})
}
