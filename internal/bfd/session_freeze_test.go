package bfd

import (
	"math/rand/v2"
	"testing"
	"time"
)

// upSession returns a session Up at 10 ms x 3 with the peer last heard at
// epoch.
func upSession(t *testing.T) *Session {
	t.Helper()
	iv := 10 * time.Millisecond
	s, err := NewSession(SessionConfig{LocalDiscr: 1, DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3, Rand: rand.NewPCG(1, 2)}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	peer := ControlPacket{State: StateDown, DetectMult: 3, MyDiscr: 9, DesiredMinTx: iv, RequiredMinRx: iv}
	s.Step(epoch, Event{Kind: EventRecv, Packet: peer})
	peer.State, peer.YourDiscr = StateUp, 1
	s.Step(epoch, Event{Kind: EventRecv, Packet: peer})
	if s.State() != StateUp {
		t.Fatalf("state %v", s.State())
	}
	return s
}

func TestFrozen(t *testing.T) {
	at := func(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }
	downAt := func(s *Session, from, to int) int {
		for ms := from; ms <= to; ms++ {
			for _, a := range s.Step(at(ms), Event{Kind: EventTick}) {
				if a.Kind == ActionStateChange && a.To == StateDown {
					return ms
				}
			}
		}
		return -1
	}
	// Without a freeze: Down at 30 ms.
	if got := downAt(upSession(t), 0, 100); got != 30 {
		t.Errorf("no freeze: Down at %d ms, want 30", got)
	}
	// A 40 ms freeze from 10 ms: the deadline moves to 70 ms, but no
	// further than one detection time after the wake at 50 ms: 70 ms.
	s := upSession(t)
	s.Step(at(50), Event{Kind: EventFrozen, Since: at(10), Until: at(50)})
	if got := downAt(s, 50, 200); got != 70 {
		t.Errorf("40 ms freeze: Down at %d ms, want 70", got)
	}
	// A long freeze: 30 + 995 ms, within one detection time of the wake.
	s = upSession(t)
	s.Step(at(1000), Event{Kind: EventFrozen, Since: at(5), Until: at(1000)})
	if got := downAt(s, 1000, 2000); got != 1025 {
		t.Errorf("1 s freeze: Down at %d ms, want 1025", got)
	}
	// A freeze that ended before the wake moves the deadline by its length.
	s = upSession(t)
	s.Step(at(500), Event{Kind: EventFrozen, Since: at(10), Until: at(490)})
	if got := downAt(s, 500, 2000); got != 510 {
		t.Errorf("capped freeze: Down at %d ms, want 510", got)
	}
	// Only once per received packet: a second freeze does not postpone
	// detection again.
	s = upSession(t)
	s.Step(at(20), Event{Kind: EventFrozen, Since: at(10), Until: at(20)})
	s.Step(at(45), Event{Kind: EventFrozen, Since: at(30), Until: at(45)})
	if got := downAt(s, 20, 200); got != 40 {
		t.Errorf("two freezes: Down at %d ms, want 40", got)
	}
	// A freeze that began after the deadline changes nothing.
	s = upSession(t)
	s.Step(at(60), Event{Kind: EventFrozen, Since: at(31), Until: at(60)})
	if got := downAt(s, 30, 200); got != 30 {
		t.Errorf("late freeze: Down at %d ms, want 30", got)
	}
}

func TestFreezeWatch(t *testing.T) {
	ms := func(n int) time.Time { return epoch.Add(time.Duration(n) * time.Millisecond) }
	var w freezeWatch
	w.armed(ms(100))
	w.received(ms(101))
	w.received(ms(140)) // 39 ms without arrivals
	w.received(ms(141))
	if since, until, ok := w.gap(ms(142)); !ok || !since.Equal(ms(101)) || !until.Equal(ms(140)) {
		t.Errorf("gap %v..%v %v, want 101..140 ms", since.Sub(epoch), until.Sub(epoch), ok)
	}
	// A late wake while packets kept coming is not a freeze.
	w = freezeWatch{}
	w.armed(ms(100))
	for n := 100; n < 150; n += 2 {
		w.received(ms(n))
	}
	if _, _, ok := w.gap(ms(150)); ok {
		t.Error("a late wake with steady arrivals counted as a freeze")
	}
	// Nothing received since the deadline: the freeze runs to the wake.
	w = freezeWatch{}
	w.armed(ms(100))
	if since, until, ok := w.gap(ms(125)); !ok || !since.Equal(ms(100)) || !until.Equal(ms(125)) {
		t.Errorf("gap %v..%v %v, want 100..125 ms", since.Sub(epoch), until.Sub(epoch), ok)
	}
	// A timely wake is never a freeze.
	if _, _, ok := w.gap(ms(105)); ok {
		t.Error("a wake 5 ms late counted as a freeze")
	}
}
