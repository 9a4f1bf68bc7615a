package neigh

import (
	"container/heap"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv/ddtest"
)

// A two-leaf fabric on a virtual clock: each leaf runs an Engine, the
// "RIB" hands each leaf the other's host route with its sequence, and a
// host answers probes on the leaves where it is plugged in. This checks
// the mobility protocol end to end: moves converge, duplicates freeze,
// multihomed servers share.

type simEvent struct {
	at   time.Time
	seq  int
	leaf int
	ev   Event
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type simLeaf struct {
	e      *Engine
	routes map[netip.Prefix]Originate
	tickAt time.Time
}

type sim struct {
	t       *testing.T
	now     time.Time
	q       simQueue
	n       int
	leaves  [2]*simLeaf
	present [2]bool // where the host is plugged in
	host    netip.Addr
	mac     MAC
	log     []string
	freezes int
	origs   int
}

func newSim(t *testing.T, multihomed bool) *sim {
	s := &sim{t: t, now: ddtest.Epoch, host: netip.MustParseAddr("10.0.1.77"), mac: MAC{2, 0, 0, 0, 0, 0x77}}
	for i := range s.leaves {
		e, err := New(Config{
			AgingTime: 300 * time.Second, ProbeInterval: time.Second, ProbeRetries: 2,
			Multihomed: multihomed,
			Interfaces: []InterfaceConfig{{Name: "eth1", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.leaves[i] = &simLeaf{e: e, routes: map[netip.Prefix]Originate{}}
	}
	return s
}

func (s *sim) at(d time.Duration, leaf int, ev Event) {
	s.n++
	heap.Push(&s.q, simEvent{at: s.now.Add(d), seq: s.n, leaf: leaf, ev: ev})
}

// plug puts the host on leaf i; it speaks (gratuitous ARP) at once.
func (s *sim) plug(i int) {
	s.present[i] = true
	s.at(0, i, NeighEvent{Interface: "eth1", IP: s.host, MAC: s.mac, State: NUDStale})
}

func (s *sim) unplug(i int) {
	s.present[i] = false
}

func (s *sim) handle(i int, acts []Action) {
	l := s.leaves[i]
	other := 1 - i
	for _, a := range acts {
		switch a := a.(type) {
		case Originate:
			s.origs++
			l.routes[a.Prefix] = a
			s.log = append(s.log, fmt.Sprintf("%s leaf%d originate seq=%d", ddtest.Rel(s.now), i, a.Seq))
			// BGP propagation delay.
			s.at(50*time.Millisecond, other, RemoteRoute{Prefix: a.Prefix, Seq: a.Seq, Sticky: a.Sticky})
		case Withdraw:
			delete(l.routes, a.Prefix)
			s.log = append(s.log, fmt.Sprintf("%s leaf%d withdraw", ddtest.Rel(s.now), i))
			s.at(50*time.Millisecond, other, RemoteWithdraw{Prefix: a.Prefix})
		case Probe:
			if s.present[i] {
				s.at(10*time.Millisecond, i, NeighEvent{Interface: "eth1", IP: a.IP, MAC: s.mac, State: NUDReachable})
			}
		case Freeze:
			if a.Frozen {
				s.freezes++
				s.log = append(s.log, fmt.Sprintf("%s leaf%d freeze", ddtest.Rel(s.now), i))
			}
		}
	}
	if dl, ok := l.e.NextDeadline(); ok && (l.tickAt.IsZero() || !l.tickAt.Equal(dl)) {
		l.tickAt = dl
		s.n++
		heap.Push(&s.q, simEvent{at: dl, seq: s.n, leaf: i, ev: Tick{}})
	}
}

// runUntil processes events up to end (bounded).
func (s *sim) runUntil(end time.Time) {
	for n := 0; len(s.q) > 0 && n < 100000; n++ {
		if s.q[0].at.After(end) {
			break
		}
		ev := heap.Pop(&s.q).(simEvent)
		if ev.at.After(s.now) {
			s.now = ev.at
		}
		l := s.leaves[ev.leaf]
		if _, ok := ev.ev.(Tick); ok && l.tickAt.Equal(ev.at) {
			l.tickAt = time.Time{}
		}
		s.handle(ev.leaf, l.e.Step(s.now, ev.ev))
		if err := l.e.checkInvariants(); err != nil {
			s.t.Fatalf("leaf%d: %v", ev.leaf, err)
		}
	}
	s.now = end
}

func (s *sim) originating() (who []int, seqs []uint32) {
	p := netip.PrefixFrom(s.host, 32)
	for i, l := range s.leaves {
		if o, ok := l.routes[p]; ok {
			who = append(who, i)
			seqs = append(seqs, o.Seq)
		}
	}
	return who, seqs
}

func TestSimMoveAndMoveBack(t *testing.T) {
	s := newSim(t, false)
	s.plug(0)
	s.runUntil(ddtest.Epoch.Add(10 * time.Second))
	if who, seqs := s.originating(); len(who) != 1 || who[0] != 0 || seqs[0] != 0 {
		t.Fatalf("after learn: %v %v\n%v", who, seqs, s.log)
	}
	// The VM moves to leaf 1: leaf 1 takes over with seq 1, leaf 0 probes
	// and withdraws within the probe time.
	s.unplug(0)
	s.plug(1)
	s.runUntil(ddtest.Epoch.Add(15 * time.Second))
	if who, seqs := s.originating(); len(who) != 1 || who[0] != 1 || seqs[0] != 1 {
		t.Fatalf("after move: %v %v\n%v", who, seqs, s.log)
	}
	// And back: seq 2 at leaf 0.
	s.unplug(1)
	s.plug(0)
	s.runUntil(ddtest.Epoch.Add(20 * time.Second))
	if who, seqs := s.originating(); len(who) != 1 || who[0] != 0 || seqs[0] != 2 {
		t.Fatalf("after move back: %v %v\n%v", who, seqs, s.log)
	}
	if s.freezes != 0 {
		t.Fatalf("froze on two moves\n%v", s.log)
	}
}

func TestSimDuplicateFreezes(t *testing.T) {
	s := newSim(t, false)
	s.plug(0)
	s.runUntil(ddtest.Epoch.Add(5 * time.Second))
	// The same address shows up at leaf 1 too and both answer: the leaves
	// outbid each other until flap detection freezes it.
	s.plug(1)
	s.runUntil(ddtest.Epoch.Add(200 * time.Second))
	if s.freezes == 0 {
		t.Fatalf("duplicate never froze\n%v", s.log)
	}
	if s.origs > 20 {
		t.Fatalf("%d originations: the fight was not stopped\n%v", s.origs, s.log)
	}
	// After the freeze the fight stops: no more originations for a while.
	before := s.origs
	s.runUntil(ddtest.Epoch.Add(400 * time.Second))
	if s.origs != before {
		t.Fatalf("originations continued while frozen\n%v", s.log[len(s.log)-5:])
	}
}

func TestSimMultihomedShares(t *testing.T) {
	s := newSim(t, true)
	s.plug(0)
	s.runUntil(ddtest.Epoch.Add(5 * time.Second))
	s.plug(1)
	s.runUntil(ddtest.Epoch.Add(60 * time.Second))
	who, seqs := s.originating()
	if len(who) != 2 || seqs[0] != seqs[1] {
		t.Fatalf("multihomed server not shared at equal seq: %v %v\n%v", who, seqs, s.log)
	}
	if s.freezes != 0 || s.origs > 4 {
		t.Fatalf("freezes=%d originations=%d\n%v", s.freezes, s.origs, s.log)
	}
	// One link fails for good: that leaf withdraws, the other keeps it.
	s.unplug(0)
	s.at(0, 0, NeighEvent{Interface: "eth1", IP: s.host, MAC: s.mac, State: NUDFailed})
	s.runUntil(ddtest.Epoch.Add(70 * time.Second))
	if who, _ := s.originating(); len(who) != 1 || who[0] != 1 {
		t.Fatalf("after link loss: %v\n%v", who, s.log)
	}
}
