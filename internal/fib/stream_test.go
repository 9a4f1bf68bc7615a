package fib

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// A plan big enough to be written in several chunks while it is made:
// failures are pinned on the right writes, whichever chunk they fall in,
// and the retry installs them.
func TestFIBStreamedPlanFailures(t *testing.T) {
	f, fk, log := fibOnFake(t, 2)
	ps := manyPrefixes(3*planChunk+100, 9)
	bad := map[netip.Prefix]bool{ps[1]: true, ps[len(ps)/2]: true, ps[len(ps)-1]: true}
	log.setFail(func(op Op) error {
		if op.Kind == OpSetRoute && bad[op.Route.Prefix] {
			return syscall.ENOMEM
		}
		return nil
	})
	must(t, f.Update(func(d *Desired) error { return d.SetMany(ps, ECMP(m4(1, 1), m4(2, 2))) }))
	if err := f.Sync(context.Background()); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("Sync: %v", err)
	}
	fl := f.Failures()
	if len(fl) != len(bad) {
		t.Fatalf("%d failures, want %d: %+v", len(fl), len(bad), fl)
	}
	for _, x := range fl {
		if !bad[x.Prefix] || x.Op != OpSetRoute.String() {
			t.Fatalf("failure on the wrong write: %+v", x)
		}
	}
	log.setFail(nil)
	waitConverged(t, f, fk)
	if k := fk.Snapshot(); len(k.Routes) != len(ps) {
		t.Fatalf("kernel has %d routes", len(k.Routes))
	}
}
