package fib

import (
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"
)

// groupGateways lists the members of p's group in the fake kernel.
func groupGateways(fk *Fake, p netip.Prefix) []string {
	k := fk.Snapshot()
	r, ok := k.Routes[p]
	if !ok {
		return nil
	}
	var out []string
	for _, e := range k.Nexthops[r.NexthopID].Group {
		n := k.Nexthops[e.ID]
		out = append(out, fmt.Sprintf("%s@%d", n.Gateway, n.Ifindex))
	}
	sort.Strings(out)
	return out
}

func TestNeighFailedTakesMemberOutOfEveryGroup(t *testing.T) {
	f, fk, log := fibOnFake(t, 4)
	a, b, c := pfx("100.0.0.0/24"), pfx("100.1.0.0/24"), pfx("100.2.0.0/24")
	for i := range 100 {
		must(t, f.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 0, byte(i), 0}), 24), ECMP(m4(1, 1), m4(2, 2))))
	}
	must(t, f.Set(b, ECMP(m4(1, 1), m4(3, 3))))
	must(t, f.Set(c, ECMP(m4(4, 4))))
	waitConverged(t, f, fk)
	log.take()
	gw1 := m4(1, 1).Gateway

	fk.Neigh(Neigh{Ifindex: 1, Addr: gw1, State: nudFailed})
	waitConverged(t, f, fk)
	waitGroup(t, f, fk, a, "[10.0.2.2@2]", "after FAILED")
	waitGroup(t, f, fk, b, "[10.0.3.2@3]", "after FAILED")
	// One write per group and the unused member's removal; no route is
	// rewritten for the 100 prefixes.
	if got := kinds(log.take()); got[OpSetGroup] != 2 || got[OpSetRoute] != 0 || got[OpDelRoute] != 0 {
		t.Fatalf("writes after FAILED: %v", got)
	}
	if nf := f.NeighFailed(); len(nf) != 1 || nf[0].Gateway != gw1 || nf[0].Ifindex != 1 {
		t.Fatalf("NeighFailed: %+v", nf)
	}

	fk.Neigh(Neigh{Ifindex: 1, Addr: gw1, State: nudReachable})
	waitConverged(t, f, fk)
	waitGroup(t, f, fk, a, "[10.0.1.2@1 10.0.2.2@2]", "after REACHABLE")
	waitGroup(t, f, fk, b, "[10.0.1.2@1 10.0.3.2@3]", "after REACHABLE")
	if got := kinds(log.take()); got[OpSetRoute] != 0 || got[OpSetGroup] != 2 || got[OpNewNexthop] != 1 {
		t.Fatalf("writes after REACHABLE: %v", got)
	}

	// The only member of a set failing takes its route out; it comes back
	// with the neighbour.
	gw4 := m4(4, 4).Gateway
	fk.Neigh(Neigh{Ifindex: 4, Addr: gw4, State: nudFailed})
	waitConverged(t, f, fk)
	waitGroup(t, f, fk, c, "[]", "route over its failed only member")
	fk.Neigh(Neigh{Ifindex: 4, Addr: gw4, Deleted: true})
	waitConverged(t, f, fk)
	waitGroup(t, f, fk, c, "[10.0.4.2@4]", "after the failed entry was deleted")
}

func TestNeighAndBFDDoNotUndoEachOther(t *testing.T) {
	d := NewDesired()
	m1 := m4(1, 1)
	must(t, d.Set(pfx("100.0.0.0/24"), ECMP(m1, m4(2, 2))))
	k := m1.key()
	d.SetGatewayDown(m1.Gateway, 1, true)
	if !d.SetNeighFailed(m1.Gateway, 1, true) || !d.SetNeighFailed(m1.Gateway, 1, false) {
		t.Fatal("neighbour state of a member not recorded")
	}
	if !d.memberDown(k) {
		t.Fatal("neighbour REACHABLE undid BFD down")
	}
	d.SetNeighFailed(m1.Gateway, 1, true)
	d.SetGatewayDown(m1.Gateway, 1, false)
	if !d.memberDown(k) {
		t.Fatal("BFD up undid neighbour FAILED")
	}
	d.SetNeighFailed(m1.Gateway, 1, false)
	if d.memberDown(k) {
		t.Fatal("member still down after both cleared")
	}
	if d.SetNeighFailed(netip.MustParseAddr("10.9.9.9"), 1, true) || len(d.NeighFailed()) != 0 {
		t.Fatalf("a neighbour that is no member was recorded: %v", d.NeighFailed())
	}
}

func TestNeighVerdict(t *testing.T) {
	for _, c := range []struct {
		n           Neigh
		dead, alive bool
	}{
		{Neigh{State: nudFailed}, true, false},
		{Neigh{State: nudReachable}, false, true},
		{Neigh{State: nudPermanent}, false, true},
		{Neigh{State: nudNoARP}, false, true},
		{Neigh{State: nudFailed, Deleted: true}, false, true},
		{Neigh{State: 0x01}, false, false}, // INCOMPLETE
		{Neigh{State: 0x04}, false, false}, // STALE
		{Neigh{State: 0x08}, false, false}, // DELAY
		{Neigh{State: 0x10}, false, false}, // PROBE
	} {
		if d, a := neighVerdict(c.n); d != c.dead || a != c.alive {
			t.Errorf("%+v: dead %v alive %v, want %v %v", c.n, d, a, c.dead, c.alive)
		}
	}
}

// waitGroup waits (bounded) until p's group in the fake kernel has the
// members want ("[]": no route) and the FIB has converged.
func waitGroup(t *testing.T, f *FIB, fk *Fake, p netip.Prefix, want, what string) {
	t.Helper()
	var got []string
	for i := 0; i < 2000; i++ {
		got = groupGateways(fk, p)
		if fmt.Sprint(got) == want {
			waitConverged(t, f, fk)
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: group of %s is %v, want %s", what, p, got, want)
}
