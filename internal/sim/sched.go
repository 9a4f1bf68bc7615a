package sim

import "time"

// Epoch is virtual time zero. The engines see time.Time values; a fixed
// epoch keeps every run's timestamps, and so its output, identical.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// event is one thing that happens at a virtual instant. It is a plain
// value so the queue holds no pointers per event beyond what it carries.
type event struct {
	at   time.Duration // since Epoch
	seq  uint64        // ties broken in scheduling order: runs are reproducible
	kind eventKind
	node int32
	sess int32 // index into Sim.sessions, -1 when not for a session
	gen  uint64
	msg  []byte
}

type eventKind uint8

const (
	evTick      eventKind = iota + 1 // a session's fsm timer
	evConnected                      // a dialed connection completes
	evRefused                        // a dial got a reset
	evDeliver                        // a message reaches a session's node
	evClosed                         // the peer closed the connection (FIN/RST)
	evFlush                          // the RIB's MRAI timer
	evWake                           // a node's CPU is free for its next item
	evDetect                         // BFD declares a silent link down
	evKick                           // a node starts its sessions (boot, link back)
)

// Scheduler is a discrete-event queue over a virtual clock: a binary heap
// ordered by (time, scheduling order), so two runs that schedule the same
// events pop them in the same order.
type Scheduler struct {
	now  time.Duration
	seq  uint64
	heap []event
	// Popped counts events run, for the report.
	Popped uint64
}

// Now is the current virtual time since Epoch.
func (s *Scheduler) Now() time.Duration { return s.now }

// Time is the current virtual time as the engines see it.
func (s *Scheduler) Time() time.Time { return Epoch.Add(s.now) }

// Len is the number of pending events.
func (s *Scheduler) Len() int { return len(s.heap) }

// At queues ev at virtual time at; a time in the past runs now, since the
// clock never goes backwards.
func (s *Scheduler) At(at time.Duration, ev event) {
	if at < s.now {
		at = s.now
	}
	ev.at = at
	ev.seq = s.seq
	s.seq++
	s.heap = append(s.heap, ev)
	s.up(len(s.heap) - 1)
}

// Peek is the time of the next event; ok is false when none is queued.
func (s *Scheduler) Peek() (time.Duration, bool) {
	if len(s.heap) == 0 {
		return 0, false
	}
	return s.heap[0].at, true
}

// Pop removes the earliest event and advances the clock to it.
func (s *Scheduler) Pop() (event, bool) {
	if len(s.heap) == 0 {
		return event{}, false
	}
	ev := s.heap[0]
	last := len(s.heap) - 1
	s.heap[0] = s.heap[last]
	s.heap[last] = event{} // drop the message reference for the collector
	s.heap = s.heap[:last]
	if last > 0 {
		s.down(0)
	}
	s.now = ev.at
	s.Popped++
	return ev, true
}

// Advance moves the clock forward to at when no event comes earlier.
func (s *Scheduler) Advance(at time.Duration) {
	if at > s.now {
		s.now = at
	}
}

func less(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (s *Scheduler) up(i int) {
	h := s.heap
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *Scheduler) down(i int) {
	h := s.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(&h[r], &h[l]) {
			m = r
		}
		if !less(&h[m], &h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
