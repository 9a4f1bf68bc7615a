package fib

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// A set moved whole to new members, prefix by prefix as the daemon does
// it: the new set inherits the old group, the plan is one group write and
// looks at no route, and the kernel ends equal to the desired state.
func TestSetMovedWholeKeepsGroup(t *testing.T) {
	ps := manyPrefixes(5000, 3)
	a, b := ECMP(m4(1, 1), m4(2, 2), m4(3, 3)), ECMP(m4(2, 2), m4(3, 3))
	for _, tc := range []struct {
		name string
		move func(d *Desired)
		// writes the plan after the move may make at most, and whether
		// routes keep their group ID
		routes int
		same   bool
	}{
		{"set", func(d *Desired) {
			for _, p := range ps {
				must(t, d.Set(p, b))
			}
		}, 0, true},
		{"setmany", func(d *Desired) { must(t, d.SetMany(ps, b)) }, 0, true},
		{"plus new prefixes", func(d *Desired) {
			must(t, d.SetMany(ps, b))
			must(t, d.SetMany(manyPrefixes(10, 4), b))
		}, 10, true},
		{"split in two", func(d *Desired) {
			must(t, d.SetMany(ps[:100], ECMP(m4(1, 1))))
			must(t, d.SetMany(ps[100:], b))
		}, 100, false},
		{"part stays", func(d *Desired) { must(t, d.SetMany(ps[1:], b)) }, len(ps) - 1, false},
		{"and back", func(d *Desired) {
			must(t, d.SetMany(ps, b))
			must(t, d.SetMany(ps, a))
		}, 0, true},
		{"to a blackhole", func(d *Desired) { must(t, d.SetMany(ps, Blackhole())) }, len(ps), false},
		{"one deleted", func(d *Desired) {
			must(t, d.SetMany(ps[1:], b))
			d.Delete(ps[0])
		}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := fakeWithLinks(3).k
			r, _ := NewReconciler(DefaultIDRange)
			d := NewDesired()
			must(t, d.SetMany(ps, a))
			applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
			gid := k.Routes[ps[1]].NexthopID
			tc.move(d)
			ops := mustPlan(t, r, d, k, PlanOptions{Incremental: true})
			got := kinds(ops)
			if got[OpSetRoute] != tc.routes {
				t.Fatalf("%d route writes, want %d: %v", got[OpSetRoute], tc.routes, got)
			}
			applyAll(t, k, ops)
			if s := check(d, k); s != "" {
				t.Fatal(s)
			}
			if tc.same && k.Routes[ps[1]].NexthopID != gid {
				t.Fatalf("routes moved from group %d to %d", gid, k.Routes[ps[1]].NexthopID)
			}
			if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
				t.Fatalf("a full plan after it still writes %v", kinds(ops))
			}
		})
	}
}

// The fast group pass (a member down) planned in the same round as a set
// moved whole must not give the new set a group of its own and delete the
// old one, which would take every route with it.
func TestSetMovedWholeWithGroupsFirst(t *testing.T) {
	ps := manyPrefixes(3000, 5)
	k := fakeWithLinks(3).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	must(t, d.SetMany(ps, ECMP(m4(1, 1), m4(2, 2), m4(3, 3))))
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	gid := k.Routes[ps[0]].NexthopID
	must(t, d.SetMany(ps, ECMP(m4(1, 1), m4(2, 2))))
	d.SetGatewayDown(m4(2, 2).Gateway, 2, true)
	ops, err := r.PlanGroups(d, k)
	must(t, err)
	applyAll(t, k, ops)
	ops = mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if got := kinds(ops); got[OpSetRoute] != 0 || got[OpDelRoute] != 0 {
		t.Fatalf("%v", ops)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	if len(k.Routes) != len(ps) || k.Routes[ps[0]].NexthopID != gid {
		t.Fatalf("%d routes, group %d (was %d)", len(k.Routes), k.Routes[ps[0]].NexthopID, gid)
	}
}

// A set whose members were all down (no routes in the kernel) moved whole
// to members that are up: its routes are written.
func TestSetMovedWholeFromEmpty(t *testing.T) {
	ps := manyPrefixes(2000, 6)
	f := fakeWithLinks(3)
	k := f.k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	must(t, d.SetMany(ps, ECMP(m4(1, 1))))
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	k.SetLink(Link{Index: 1})
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	if len(k.Routes) != 0 {
		t.Fatalf("%d routes with every member down", len(k.Routes))
	}
	var moved []netip.Prefix
	for _, p := range ps {
		must(t, d.Set(p, ECMP(m4(2, 2))))
		moved = append(moved, p)
	}
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	if s := check(d, k); s != "" || len(k.Routes) != len(moved) {
		t.Fatalf("%d routes: %s", len(k.Routes), s)
	}
}

// Random rounds of moves between sets (whole, split, partial, back and
// forth, deletes, members down) planned incrementally always reach the
// desired state, and a full plan after each round writes nothing more.
func TestSetMovesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	sets := []Nexthops{
		ECMP(m4(1, 1), m4(2, 2), m4(3, 3)), ECMP(m4(1, 1), m4(2, 2)), ECMP(m4(2, 2), m4(3, 3)),
		ECMP(m4(1, 1)), ECMP(m4(3, 3), m4(4, 4)), Blackhole(),
	}
	ps := manyPrefixes(600, 7)
	k := fakeWithLinks(4).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	for round := range 300 {
		for range 1 + rng.IntN(4) {
			nh := sets[rng.IntN(len(sets))]
			switch rng.IntN(7) {
			case 0, 1: // a whole set moves
				from, _ := d.Get(ps[rng.IntN(len(ps))])
				for _, p := range ps {
					if cur, ok := d.Get(p); ok && cur.key() == from.key() {
						must(t, d.Set(p, nh))
					}
				}
			case 2:
				lo := rng.IntN(len(ps))
				must(t, d.SetMany(ps[lo:lo+rng.IntN(len(ps)-lo)], nh))
			case 3:
				must(t, d.Set(ps[rng.IntN(len(ps))], nh))
			case 4:
				for range rng.IntN(50) {
					d.Delete(ps[rng.IntN(len(ps))])
				}
			case 5:
				m := sets[0].Members[rng.IntN(3)]
				d.SetGatewayDown(m.Gateway, m.Ifindex, rng.IntN(2) == 0)
			case 6:
				i := 1 + rng.IntN(4)
				if rng.IntN(2) == 0 {
					k.SetLink(Link{Index: i})
				} else {
					k.SetLink(up(i))
				}
			}
		}
		if rng.IntN(3) == 0 {
			ops, err := r.PlanGroups(d, k)
			must(t, err)
			applyAll(t, k, ops)
		}
		applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
		if s := check(d, k); s != "" {
			t.Fatalf("round %d: %s", round, s)
		}
		if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
			t.Fatalf("round %d: a full plan still writes %v", round, ops)
		}
	}
}

// BenchmarkDesiredSetMove is the planner's side of a set member change as
// BGP makes it: every prefix of a 4-way set given the 3-way set, one Set
// per prefix, then the plan (one group write); no kernel. ns/prefix counts
// both.
func BenchmarkDesiredSetMove(b *testing.B) {
	full := ECMP(m4(1, 1), m4(2, 2), m4(3, 3), m4(4, 4))
	smaller := ECMP(m4(2, 2), m4(3, 3), m4(4, 4))
	ps := make([]netip.Prefix, 0, 1<<18)
	for i := range cap(ps) {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{20, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
	}
	k := fakeWithLinks(4).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	must(b, d.SetMany(ps, full))
	applyAll(b, k, mustPlan(b, r, d, k, PlanOptions{Incremental: true}))
	b.ResetTimer()
	for i := range b.N {
		to := smaller
		if i%2 == 1 {
			to = full
		}
		for _, p := range ps {
			if err := d.Set(p, to); err != nil {
				b.Fatal(err)
			}
		}
		ops := mustPlan(b, r, d, k, PlanOptions{Incremental: true})
		// One group write, and the member leaving or coming back.
		if got := kinds(ops); got[OpSetGroup] != 1 || len(ops) != 2 {
			b.Fatalf("%d writes: %v", len(ops), got)
		}
		applyAll(b, k, ops)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ps)), "ns/prefix")
}
