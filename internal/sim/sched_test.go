package sim

import (
	"testing"
	"time"
)

func TestSchedulerOrdersByTimeThenScheduling(t *testing.T) {
	var s Scheduler
	s.At(3*time.Millisecond, event{node: 1})
	s.At(1*time.Millisecond, event{node: 2})
	s.At(3*time.Millisecond, event{node: 3})
	s.At(2*time.Millisecond, event{node: 4})
	s.At(1*time.Millisecond, event{node: 5})
	var got []int32
	var at []time.Duration
	for {
		ev, ok := s.Pop()
		if !ok {
			break
		}
		got = append(got, ev.node)
		at = append(at, s.Now())
	}
	want := []int32{2, 5, 4, 1, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v; want %v", got, want)
		}
	}
	for i := 1; i < len(at); i++ {
		if at[i] < at[i-1] {
			t.Fatalf("clock went backwards: %v", at)
		}
	}
	if s.Popped != 5 || s.Len() != 0 {
		t.Errorf("popped %d, left %d", s.Popped, s.Len())
	}
}

func TestSchedulerNeverGoesBack(t *testing.T) {
	var s Scheduler
	s.At(10*time.Millisecond, event{node: 1})
	s.Pop()
	// An event for the past runs now, not before now.
	s.At(time.Millisecond, event{node: 2})
	if at, _ := s.Peek(); at != 10*time.Millisecond {
		t.Errorf("past event queued at %v; want now (10ms)", at)
	}
	s.Advance(5 * time.Millisecond)
	if s.Now() != 10*time.Millisecond {
		t.Errorf("Advance backwards moved the clock to %v", s.Now())
	}
	s.Advance(20 * time.Millisecond)
	if s.Now() != 20*time.Millisecond || !s.Time().Equal(Epoch.Add(20*time.Millisecond)) {
		t.Errorf("now %v, time %v", s.Now(), s.Time())
	}
	if _, ok := (&Scheduler{}).Pop(); ok {
		t.Error("Pop on an empty queue returned an event")
	}
}

// The heap against a sort of the same events: random times, many ties.
func TestSchedulerMatchesSort(t *testing.T) {
	var s Scheduler
	type key struct {
		at  time.Duration
		idx int32
	}
	var want []key
	x := uint32(12345)
	for i := range 2000 {
		x = x*1103515245 + 12345
		at := time.Duration(x%97) * time.Microsecond
		s.At(at, event{node: int32(i)})
		want = append(want, key{at, int32(i)})
	}
	// Stable by time keeps scheduling order among ties.
	for i := 1; i < len(want); i++ {
		for j := i; j > 0 && want[j].at < want[j-1].at; j-- {
			want[j], want[j-1] = want[j-1], want[j]
		}
	}
	for i, w := range want {
		ev, _ := s.Pop()
		if ev.node != w.idx || ev.at != w.at {
			t.Fatalf("event %d: got node %d at %v; want node %d at %v", i, ev.node, ev.at, w.idx, w.at)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{"16GiB": 16 << 30, "512MiB": 512 << 20, "2G": 2e9, "1000": 1000, "4KiB": 4096} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1GiB", "1.5GiB", "0", "16TB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}
