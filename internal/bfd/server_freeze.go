package bfd

import (
	"slices"
	"time"
)

// freezeMin is the shortest stall that counts as a freeze of the host.
// Below it, lateness is ordinary scheduling noise and detection is left
// alone.
const freezeMin = 10 * time.Millisecond

// freezeWatch notices when the whole host stopped running, as a virtual
// machine does when its hypervisor deschedules it (seen on the shared
// build VM: 50 ms to 1 s, with the probe thread at SCHED_FIFO). Then no
// packet from any peer could arrive, and every session would expire at
// once though no peer failed. The sign is: the loop woke at least
// freezeMin after its deadline, and no packet from anyone arrived
// between that deadline and a time at least freezeMin later. When only
// this process was starved, the kernel kept receiving (with arrival
// timestamps), so the gap is short and detection is untouched.
type freezeWatch struct {
	deadline time.Time // the wake the loop last armed for
	lastRx   time.Time // latest arrival seen
	// gapFrom, gapTo: the longest stretch without arrivals since deadline.
	gapFrom, gapTo time.Time
}

func (w *freezeWatch) armed(d time.Time) {
	if !d.Equal(w.deadline) {
		w.deadline, w.gapFrom, w.gapTo = d, time.Time{}, time.Time{}
	}
}

func (w *freezeWatch) received(at time.Time) {
	if !at.After(w.lastRx) {
		return // readers and the poll may hand packets over out of order
	}
	from := w.lastRx
	if from.Before(w.deadline) {
		from = w.deadline
	}
	if at.Sub(from) > w.gapTo.Sub(w.gapFrom) {
		w.gapFrom, w.gapTo = from, at
	}
	w.lastRx = at
}

// gap returns the freeze [since, until) to take out of detection, if the
// wake at now followed one.
func (w *freezeWatch) gap(now time.Time) (since, until time.Time, ok bool) {
	if w.deadline.IsZero() || now.Sub(w.deadline) < freezeMin {
		return
	}
	since, until = w.gapFrom, w.gapTo
	from := w.lastRx
	if from.Before(w.deadline) {
		from = w.deadline
	}
	if now.Sub(from) > until.Sub(since) {
		since, until = from, now
	}
	if until.Sub(since) < freezeMin {
		return time.Time{}, time.Time{}, false
	}
	return since, until, true
}

// thaw tells every session about a freeze that ended before now.
func (s *Server) thaw(now time.Time) {
	since, until, ok := s.freeze.gap(now)
	if !ok {
		return
	}
	s.freeze.deadline = time.Time{}
	// apply reorders the heap: walk a copy.
	for _, p := range slices.Clone(s.heap) {
		s.apply(p, now, p.sess.Step(now, Event{Kind: EventFrozen, Since: since, Until: until}))
	}
}
