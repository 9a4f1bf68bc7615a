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
	if tg := d.routes[ps[0]]; tg.refs != 3000 {
		t.Fatalf("refs %d", tg.refs)
	}
	ops := mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if got := kinds(ops); got[OpSetRoute] != 3000 {
		t.Fatalf("%v", got)
	}
	applyAll(t, k, ops)
	// Most of the table moves to another set: a full plan.
	must(t, d.SetMany(ps[:2000], ECMP(m4(1, 1))))
	if !d.allDirty || len(d.dirty) != 0 {
		t.Fatalf("allDirty %v, %d dirty", d.allDirty, len(d.dirty))
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
	for _, n := range []int{100, 6000} { // below and above the optimistic-mirror size
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
