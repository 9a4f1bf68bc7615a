package neigh

import (
	"container/heap"
	"net/netip"
	"slices"
	"time"
)

// Timers: every address has at most one deadline (the earliest of its
// host timer and its mobility timer), kept in due and indexed by a min-heap
// with lazy deletion, so a Step with nothing due costs O(touched) instead
// of a scan of every host.

type timerEntry struct {
	when time.Time
	ip   netip.Addr
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].ip.Less(h[j].ip)
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// touch marks ip for deadline recomputation at the end of the step.
func (e *Engine) touch(ip netip.Addr) {
	if ip.IsValid() {
		e.touched[ip] = struct{}{}
	}
}

// deadlineOf is the true next deadline of ip from engine state.
func (e *Engine) deadlineOf(ip netip.Addr) (t time.Time, ok bool) {
	consider := func(d time.Time) {
		if !ok || d.Before(t) {
			t, ok = d, true
		}
	}
	if h := e.hosts[ip]; h != nil {
		switch {
		case h.probing:
			consider(h.nextProbe)
		case !h.permanent:
			consider(h.confirmed.Add(e.cfg.AgingTime))
		}
	}
	if m := e.mob[ip]; m != nil {
		if m.frozen {
			consider(m.frozenUntil)
		} else if len(m.moves) > 0 {
			// Forget the history once the window passes, so the map
			// does not grow with every address that ever moved.
			consider(m.moves[len(m.moves)-1].Add(e.cfg.MoveWindow))
		}
	}
	return t, ok
}

// settle recomputes the deadlines of touched addresses.
func (e *Engine) settle() {
	for ip := range e.touched {
		d, ok := e.deadlineOf(ip)
		old, had := e.due[ip]
		switch {
		case !ok:
			delete(e.due, ip)
		case !had || !old.Equal(d):
			e.due[ip] = d
			heap.Push(&e.timers, timerEntry{when: d, ip: ip})
		}
	}
	clear(e.touched)
	if len(e.timers) > 2*len(e.due)+64 {
		e.timers = e.timers[:0]
		for ip, d := range e.due {
			e.timers = append(e.timers, timerEntry{when: d, ip: ip})
		}
		heap.Init(&e.timers)
	}
}

// dropStale pops heap entries that no longer match due.
func (e *Engine) dropStale() {
	for len(e.timers) > 0 {
		top := e.timers[0]
		if d, ok := e.due[top.ip]; ok && d.Equal(top.when) {
			return
		}
		heap.Pop(&e.timers)
	}
}

// NextDeadline is the earliest time at which Step(t, Tick{}) has work; ok
// is false when nothing is scheduled.
func (e *Engine) NextDeadline() (time.Time, bool) {
	e.dropStale()
	if len(e.timers) == 0 {
		return time.Time{}, false
	}
	return e.timers[0].when, true
}

// dueAt pops the addresses whose deadline is at or before now, in address
// order so that runs are reproducible.
func (e *Engine) dueAt(now time.Time) []netip.Addr {
	var ips []netip.Addr
	for {
		e.dropStale()
		if len(e.timers) == 0 || e.timers[0].when.After(now) {
			break
		}
		top := heap.Pop(&e.timers).(timerEntry)
		delete(e.due, top.ip)
		e.touch(top.ip)
		ips = append(ips, top.ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return ips
}

func (e *Engine) fireTimers(now time.Time) {
	for _, ip := range e.dueAt(now) {
		if h := e.hosts[ip]; h != nil {
			e.fireHost(now, h)
		}
		if m := e.mob[ip]; m != nil {
			if m.frozen {
				if !now.Before(m.frozenUntil) {
					e.release(now, ip, m, "hold time over")
				}
				continue
			}
			m.moves = pruneMoves(m.moves, now, e.cfg.MoveWindow)
			if len(m.moves) == 0 {
				delete(e.mob, ip)
			}
		}
	}
}

func (e *Engine) fireHost(now time.Time, h *host) {
	if !h.probing {
		if h.permanent || now.Before(h.confirmed.Add(e.cfg.AgingTime)) {
			return
		}
		e.startProbe(now, h, reasonAging)
		return
	}
	if now.Before(h.nextProbe) {
		return
	}
	if h.attempts < e.cfg.ProbeRetries {
		e.sendProbe(now, h)
		return
	}
	e.probeTimedOut(now, h)
}
