package sim

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
)

// Step kinds.
const (
	Fail       = "fail"        // node powered off, or link down with carrier loss at both ends
	FailSilent = "fail-silent" // node hung, or link dropping everything with carrier up
	Restore    = "restore"     // undo a failure; with no target, every one so far
)

// Step is one scenario event after the initial convergence.
type Step struct {
	Kind string
	// Target is a node name, a link end NODE:IFACE or a link name
	// A:IF--B:IF, or several of them separated by commas (they fail or
	// come back at the same instant); empty for a Restore of everything.
	Target string
}

func (st Step) String() string {
	if st.Target == "" {
		return st.Kind + " all"
	}
	return st.Kind + " " + st.Target
}

type target struct {
	node int // -1 for a link
	link int
}

func (s *Sim) resolve(name string) (target, bool) {
	if i, ok := s.byName[name]; ok {
		return target{node: i, link: -1}, true
	}
	if i, ok := s.linkEnd[name]; ok {
		return target{node: -1, link: i}, true
	}
	if i, ok := s.linkName[name]; ok {
		return target{node: -1, link: i}, true
	}
	return target{}, false
}

func (s *Sim) targetName(t target) string {
	if t.node >= 0 {
		return s.nodes[t.node].spec.Name
	}
	return s.links[t.link].name
}

// Check validates a scenario against the topology before anything runs:
// every target must exist, a failure must hit something up and a restore
// something failed.
func (s *Sim) Check(steps []Step) error {
	failed := map[target]bool{}
	for i, st := range steps {
		where := fmt.Sprintf("step %d (%s)", i+1, st)
		switch st.Kind {
		case Fail, FailSilent, Restore:
		default:
			return fmt.Errorf("%s: unknown kind %q; valid: %s, %s, %s", where, st.Kind, Fail, FailSilent, Restore)
		}
		if st.Kind == Restore && st.Target == "" {
			if len(failed) == 0 {
				return fmt.Errorf("%s: nothing has failed before it", where)
			}
			clear(failed)
			continue
		}
		seen := map[target]bool{}
		for _, name := range strings.Split(st.Target, ",") {
			t, ok := s.resolve(name)
			if !ok {
				return fmt.Errorf("%s: %q is not a switch, a link end NODE:IFACE or a link of the fabric; switches: %s; link ends look like %s",
					where, name, someNames(s.nodeNames(), 12), someNames(s.endNames(), 4))
			}
			if seen[t] {
				return fmt.Errorf("%s: %s is named twice", where, s.targetName(t))
			}
			seen[t] = true
			if st.Kind == Restore {
				if !failed[t] {
					return fmt.Errorf("%s: %s has not failed at that point; failed then: %s", where, s.targetName(t), s.failedNames(failed))
				}
				delete(failed, t)
				continue
			}
			if failed[t] {
				return fmt.Errorf("%s: %s has failed already", where, s.targetName(t))
			}
			failed[t] = true
		}
	}
	return nil
}

func (s *Sim) nodeNames() []string {
	var out []string
	for _, n := range s.nodes {
		out = append(out, n.spec.Name)
	}
	return out
}

func (s *Sim) endNames() []string {
	var out []string
	for _, l := range s.topo.Links {
		out = append(out, l.A.String())
	}
	return out
}

func (s *Sim) failedNames(failed map[target]bool) string {
	var out []string
	for t := range failed {
		out = append(out, s.targetName(t))
	}
	if len(out) == 0 {
		return "none"
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// stepStats are what one step measures.
type stepStats struct {
	updates, prefixes, bestChanges uint64
	lastChange                     time.Duration
	anyChange                      bool
	nodesChanged                   int
	missingPeak, narrowPeak        int
	deadHopPeak, blackPeak         int
	deadHopTime, blackTime         time.Duration
}

func (st *stepStats) peaks(missing, narrow int) {
	st.missingPeak = max(st.missingPeak, missing)
	st.narrowPeak = max(st.narrowPeak, narrow)
}

// Run converges the fabric from power-on, then plays the steps, each
// after the previous one settled and Options.Gap passed. It checks the
// steps first (see Check). A Sim runs once.
func (s *Sim) Run(steps []Step) (*Report, error) {
	if s.ran {
		return nil, errors.New("sim: Run called twice; a Sim runs once (make another with New)")
	}
	if err := s.Check(steps); err != nil {
		return nil, err
	}
	s.ran = true
	wall := time.Now()
	rep := &Report{Model: s.modelInfo()}
	var live uint64
	sample := func() {
		s.sampleHeap()
		// What the simulation holds, without the garbage not yet
		// collected.
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		live = max(live, ms.HeapAlloc)
	}
	s.computeExpect()
	s.recount()
	rep.Fabric = s.fabricInfo()
	s.beginStep()
	for _, n := range s.nodes {
		if err := s.boot(n, s.opt.StartSpread); err != nil {
			return nil, err
		}
	}
	s.recount()
	rep.Events = append(rep.Events, s.settle("initial convergence", 0))
	sample()
	s.trackBlack = true
	s.recountBlack()
	failed := map[target]string{}
	var order []target
	for _, st := range steps {
		s.sched.Advance(s.sched.Now() + s.opt.Gap)
		at := s.sched.Now()
		s.beginStep()
		var name string
		if st.Kind == Restore && st.Target == "" {
			for _, t := range slices.Backward(order) {
				if _, ok := failed[t]; ok {
					s.restore(t)
				}
			}
			clear(failed)
			order = order[:0]
			name = "restore all"
		} else {
			// Several targets fail (or come back) at the same instant:
			// a correlated failure is one event.
			var names []string
			for _, tn := range strings.Split(st.Target, ",") {
				t, _ := s.resolve(tn)
				names = append(names, s.targetName(t))
				if st.Kind == Restore {
					s.restore(t)
					delete(failed, t)
				} else {
					s.fail(t, st.Kind == FailSilent)
					failed[t] = st.Kind
					order = append(order, t)
				}
			}
			name = st.Kind + " " + strings.Join(names, ",")
		}
		rep.Events = append(rep.Events, s.settle(name, at))
		sample()
	}
	rep.Runtime = Runtime{WallMS: float64(time.Since(wall).Microseconds()) / 1000, HeapBytes: s.heapPeak, LiveHeapBytes: live}
	rep.Fabric.EventsSimulated = s.sched.Popped
	return rep, nil
}

func (s *Sim) beginStep() {
	s.accrue()
	s.st = stepStats{}
	s.st.blackPeak = s.black
	for _, n := range s.nodes {
		n.changed = false
		clear(n.hunt)
	}
	s.st.peaks(s.missing, s.narrow)
}

// settle runs events until the step is over: nothing but keepalives and
// timers queued, and every session in the state the topology implies (up
// where its link is usable, down where it is not, which for a silent
// failure means its detection has fired).
func (s *Sim) settle(name string, at time.Duration) Event {
	deadline := at + s.opt.MaxStep
	settled := true
	for s.important > 0 || s.mismatch > 0 {
		t, ok := s.sched.Peek()
		if !ok || t > deadline {
			settled = false
			break
		}
		ev, _ := s.sched.Pop()
		s.handle(ev)
		if s.sched.Popped%(1<<16) == 0 {
			s.sampleHeap()
		}
	}
	if !settled {
		s.sched.Advance(deadline)
	}
	s.accrue()
	fresh := false
	for _, n := range s.nodes {
		fresh = fresh || n.fresh
		n.fresh = false
	}
	if fresh {
		// Restored switches count again, their tables complete.
		s.computeExpect()
	}
	wrong, missing := s.violations()
	e := Event{Name: name, AtMS: ms(at), Settled: settled,
		Updates: s.st.updates, Prefixes: s.st.prefixes, BestChanges: s.st.bestChanges,
		NodesChanged: s.st.nodesChanged, BlackholesPeak: s.st.missingPeak, NarrowPeak: s.st.narrowPeak,
		BlackholesAfter: missing, ECMPViolationsAfter: wrong,
		DeadNextHopPeak: s.st.deadHopPeak, DeadNextHopRouteMS: ms(s.st.deadHopTime),
		ForwardToBlackholePeak: s.st.blackPeak, ForwardToBlackholeRouteMS: ms(s.st.blackTime)}
	if s.st.anyChange {
		e.ConvergenceMS = ms(s.st.lastChange - at)
	}
	var hunts, pairs uint64
	for _, n := range s.nodes {
		for _, h := range n.hunt {
			if h > 0 {
				pairs++
				hunts += uint64(h)
				e.PathHuntingMax = max(e.PathHuntingMax, int(h))
			}
		}
	}
	if pairs > 0 {
		e.PathHuntingMean = float64(int(float64(hunts)/float64(pairs)*100+0.5)) / 100
	}
	for _, ss := range s.sessions {
		if ss.peer <= ss.idx || !s.counted(ss) || !s.counted(s.sessions[ss.peer]) {
			continue
		}
		if ss.wantUp {
			e.Sessions++
		}
		if ss.isUp && s.sessions[ss.peer].isUp {
			e.SessionsUp++
		}
	}
	return e
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Sim) fail(t target, silent bool) {
	now := s.sched.Now()
	if t.link >= 0 {
		l := s.links[t.link]
		if silent {
			l.silent = true
			s.afterTopologyChange()
			s.detectLater(t.link, now)
			return
		}
		l.down = true
		s.afterTopologyChange()
		s.carrierLoss(l.sess, -1)
		return
	}
	n := s.nodes[t.node]
	if silent {
		n.hung = true
		s.afterTopologyChange()
		s.clearRoutes(n)
		for li, l := range s.links {
			if l.a == int32(t.node) || l.b == int32(t.node) {
				s.detectLater(li, now)
			}
		}
		return
	}
	n.up = false
	s.afterTopologyChange()
	s.clearRoutes(n)
	for _, l := range s.links {
		if l.a == int32(t.node) || l.b == int32(t.node) {
			s.carrierLoss(l.sess, int32(t.node))
		}
	}
}

// carrierLoss drops the connections of the sessions on a link that just
// lost carrier, as closd's fast fall-over does on the interface event.
func (s *Sim) carrierLoss(sess []int32, skipNode int32) {
	for _, si := range sess {
		ss := s.sessions[si]
		if ss.node == skipNode || !s.live(ss) || ss.conn == 0 {
			continue
		}
		ss.conn = 0
		// The interface event costs the node a message's worth of work
		// before its RIB runs.
		n := s.nodes[ss.node]
		n.busy = max(n.busy, s.sched.Now()) + s.opt.MsgCost
		s.step(ss, fsm.TcpConnectionFails{Reason: "interface went down"})
	}
}

// detectLater schedules BFD's verdict on a silent link: the detection
// time of the plan's BFD timers (interval x multiplier). Sessions without
// BFD are left to their hold timer.
func (s *Sim) detectLater(li int, now time.Duration) {
	l := s.links[li]
	var d time.Duration
	for _, si := range l.sess {
		ss := s.sessions[si]
		if ss.bfd {
			d = max(d, s.nodes[ss.node].bfdDetect)
		}
	}
	if d > 0 {
		s.schedule(now+d, event{kind: evDetect, sess: int32(li)})
	}
}

func (s *Sim) clearRoutes(n *node) {
	// The node is out of the counts already (afterTopologyChange ran).
	for id := range n.route {
		s.setRoute(n, int32(id), routeNone)
	}
	n.ecmp.init(len(s.prefixes))
}

func (s *Sim) afterTopologyChange() {
	s.computeExpect()
	s.recount()
	s.recountDead()
	s.recountBlack()
}

func (s *Sim) restore(t target) {
	if t.link >= 0 {
		l := s.links[t.link]
		l.down, l.silent = false, false
		s.afterTopologyChange()
		for _, si := range l.sess {
			s.kick(s.sessions[si])
		}
		return
	}
	n := s.nodes[t.node]
	_ = s.boot(n, 0) // it booted once with the same config
	n.fresh = true
	s.afterTopologyChange()
	for _, l := range s.links {
		if l.a == int32(t.node) || l.b == int32(t.node) {
			for _, si := range l.sess {
				if s.sessions[si].node != int32(t.node) {
					s.kick(s.sessions[si])
				}
			}
		}
	}
}

// kick starts a session at once when its link comes back, as closd does
// on the interface event rather than waiting for its timers.
func (s *Sim) kick(ss *session) {
	if !s.live(ss) || ss.conn != 0 {
		return
	}
	switch ss.fsm.State() {
	case fsm.StateIdle:
		s.step(ss, fsm.IdleHoldTimerExpires{})
	case fsm.StateActive:
		if ss.active {
			s.step(ss, fsm.ConnectRetryTimerExpires{})
		}
	case fsm.StateConnect:
		s.do(ss, fsm.Connect{})
	}
}

// sampleHeap keeps the largest Go heap seen; settle calls it every 65536
// events, so the peak in the middle of a convergence is seen too.
func (s *Sim) sampleHeap() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heapPeak = max(s.heapPeak, ms.HeapAlloc)
}
