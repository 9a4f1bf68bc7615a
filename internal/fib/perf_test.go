package fib

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func manyPrefixes(n, second int) []netip.Prefix {
	ps := make([]netip.Prefix, n)
	for i := range ps {
		ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(second), byte(i >> 8), byte(i)}), 32)
	}
	return ps
}

// The first-load path of SetMany counts references right even with
// duplicates, and a big change after a plan makes the next plan a full one
// with the same result as tracking every prefix.
func TestSetManyFirstLoadAndBigChange(t *testing.T) {
	k := fakeWithLinks(2).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	ps := manyPrefixes(3000, 0)
	dup := append(ps, ps[:500]...)
	must(t, d.SetMany(dup, ECMP(m4(1, 1), m4(2, 2))))
	if d.Len() != 3000 || d.Groups() != 1 {
		t.Fatalf("%d prefixes, %d groups", d.Len(), d.Groups())
	}
	if tg, _ := d.routes.get(ps[0]); tg.refs != 3000 {
		t.Fatalf("refs %d", tg.refs)
	}
	ops := mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if got := kinds(ops); got[OpSetRoute] != 3000 {
		t.Fatalf("%v", got)
	}
	applyAll(t, k, ops)
	// Most of the table moves to a new set: held back as a possible move
	// of the whole set, then planned when the old set is still in use.
	must(t, d.SetMany(ps[:2000], ECMP(m4(1, 1))))
	if tg, _ := d.routes.get(ps[0]); len(tg.pending) != 2000 || len(d.dirty) != 0 {
		t.Fatalf("%d pending, %d dirty", len(tg.pending), len(d.dirty))
	}
	ops = mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if got := kinds(ops); got[OpSetRoute] != 2000 {
		t.Fatalf("%v", got)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	for _, p := range ps {
		d.Delete(p)
	}
	if d.Groups() != 0 {
		t.Fatalf("%d groups left after deleting every prefix", d.Groups())
	}
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
}

// Answers lost on the request socket (ENOBUFS) leave the FIB not knowing
// which writes took: it re-dumps and reconciles, and does not write again
// what the kernel already has.
func TestFIBLostAcksRecoveredByRedump(t *testing.T) {
	for _, n := range []int{100, 6000, 20000} { // below and above the optimistic-mirror size, and a streamed plan
		f, fk, log := fibOnFake(t, 2)
		resyncs := f.Stats().Resyncs
		log.take()
		fk.LoseAcks(n / 3)
		must(t, f.Update(func(d *Desired) error { return d.SetMany(manyPrefixes(n, 1), ECMP(m4(1, 1), m4(2, 2))) }))
		// The loop may get there first; either way one Apply loses acks.
		if err := f.Sync(context.Background()); err != nil && !errors.Is(err, syscall.ENOBUFS) {
			t.Fatalf("%d: Sync: %v", n, err)
		}
		waitConverged(t, f, fk)
		if len(fk.Snapshot().Routes) != n {
			t.Fatalf("%d: kernel has %d routes", n, len(fk.Snapshot().Routes))
		}
		for i := 0; i < 2000 && f.Stats().Resyncs == resyncs; i++ {
			time.Sleep(time.Millisecond)
		}
		if f.Stats().Resyncs == resyncs {
			t.Fatalf("%d: no re-dump", n)
		}
		if got := kinds(log.take()); got[OpSetRoute] != n {
			t.Fatalf("%d: routes the kernel had were written again: %v", n, got)
		}
		for i := 0; i < 1000 && len(f.Failures()) > 0; i++ {
			must(t, f.Sync(context.Background()))
		}
		if fl := f.Failures(); len(fl) != 0 {
			t.Fatalf("%d: failures left: %v", n, fl[0])
		}
	}
}

// Set prefix by prefix with the same set, as the daemon hands over a RIB
// table, then with the set alternating, and a memo that must not leak a
// set checked for one family into the other.
func TestSetMemo(t *testing.T) {
	d := NewDesired()
	a, b := ECMP(m4(1, 1), m4(2, 2)), ECMP(m4(2, 2), m4(1, 1)) // equal as sets
	must(t, d.Set(pfx("100.0.0.0/24"), a))
	must(t, d.Set(pfx("100.0.1.0/24"), a))
	must(t, d.Set(pfx("100.0.2.0/24"), b))
	must(t, d.Set(pfx("100.0.3.0/24"), Blackhole()))
	must(t, d.Set(pfx("100.0.4.0/24"), a))
	if d.Groups() != 2 {
		t.Fatalf("%d groups", d.Groups())
	}
	// An IPv4 gateway is fine for IPv4 prefixes, refused for IPv6 ones
	// even right after the memo learnt the set.
	if err := d.Set(pfx("2001:db8::/64"), a); err == nil {
		t.Fatal("IPv6 prefix over IPv4 gateways accepted")
	}
	if err := d.Set(pfx("100.0.5.1/24"), a); err == nil {
		t.Fatal("prefix with host bits accepted")
	}
	// The caller's slice changing after Set does not change the memo.
	ms := []Member{m4(1, 1), m4(3, 3)}
	must(t, d.Set(pfx("100.0.6.0/24"), ECMP(ms...)))
	ms[1] = m4(2, 2)
	must(t, d.Set(pfx("100.0.7.0/24"), ECMP(ms...)))
	if got, _ := d.Get(pfx("100.0.7.0/24")); got.String() != "via 10.0.1.2 dev if1 weight 1 via 10.0.2.2 dev if2 weight 1" {
		t.Fatalf("100.0.7.0/24: %s", got)
	}
	if got, _ := d.Get(pfx("100.0.6.0/24")); got.String() != "via 10.0.1.2 dev if1 weight 1 via 10.0.3.2 dev if3 weight 1" {
		t.Fatalf("100.0.6.0/24: %s", got)
	}
	// The memo's target dropped (its last prefix deleted) and wanted again.
	d2 := NewDesired()
	must(t, d2.Set(pfx("100.1.0.0/24"), a))
	d2.Delete(pfx("100.1.0.0/24"))
	if d2.Groups() != 0 {
		t.Fatalf("%d groups after the only prefix went", d2.Groups())
	}
	must(t, d2.Set(pfx("100.1.1.0/24"), a))
	if d2.Groups() != 1 || d2.Len() != 1 || d2.target(pfx("100.1.1.0/24")) != d2.targets[d2.memo.k] {
		t.Fatalf("%d groups, %d prefixes, target not interned", d2.Groups(), d2.Len())
	}
}

// BenchmarkDesiredSet is the daemon's path: a table handed over prefix by
// prefix with one 4-way set.
func BenchmarkDesiredSet(b *testing.B) {
	set := ECMP(m4(1, 1), m4(2, 2), m4(3, 3), m4(4, 4))
	ps := manyPrefixes(65536, 2)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d := NewDesired()
		for _, p := range ps {
			if err := d.Set(p, set); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ps)), "ns/prefix")
}

// Recording most of the table as dirty switches to one full plan; the
// result is the same.
func TestManySetsPlanInFull(t *testing.T) {
	k := fakeWithLinks(2).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	ps := manyPrefixes(6000, 3)
	for _, p := range ps {
		must(t, d.Set(p, ECMP(m4(1, 1), m4(2, 2))))
	}
	if !d.allDirty || len(d.dirty) != 0 {
		t.Fatalf("allDirty %v, %d dirty", d.allDirty, len(d.dirty))
	}
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	// A few changes in a big table stay incremental.
	for _, p := range ps[:100] {
		d.Delete(p)
	}
	if d.allDirty || len(d.dirty) != 100 {
		t.Fatalf("allDirty %v, %d dirty", d.allDirty, len(d.dirty))
	}
	ops := mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if got := kinds(ops); got[OpDelRoute] != 100 || len(got) != 1 {
		t.Fatalf("%v", got)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
}
