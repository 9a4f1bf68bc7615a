package fib

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func m4(n, ifindex int) Member {
	return Member{Gateway: netip.MustParseAddr(fmt.Sprintf("10.0.%d.2", n)), Ifindex: ifindex}
}

func up(idx int) Link {
	return Link{Index: idx, Name: fmt.Sprintf("eth%d", idx), AdminUp: true, OperUp: true}
}

func fakeWithLinks(n int) *Fake {
	f := NewFake()
	for i := 1; i <= n; i++ {
		f.k.Links[i] = up(i)
	}
	return f
}

// check says how k differs from what d wants, and whether objects leaked.
func check(d *Desired, k *Kernel) string {
	var probs []string
	used := map[uint32]bool{}
	for p, t := range d.routes.all() {
		r, ok := k.Routes[p]
		want := effective(t.nh, k, d)
		if !t.nh.Blackhole && len(want) == 0 {
			if ok {
				probs = append(probs, fmt.Sprintf("%s: route present with all members down", p))
			}
			continue
		}
		if !ok {
			probs = append(probs, fmt.Sprintf("%s: missing", p))
			continue
		}
		if t.nh.Blackhole {
			if !r.Blackhole {
				probs = append(probs, fmt.Sprintf("%s: want blackhole, have %+v", p, r))
			}
			continue
		}
		used[r.NexthopID] = true
		g, ok := k.Nexthops[r.NexthopID]
		if !ok || !g.IsGroup() {
			probs = append(probs, fmt.Sprintf("%s: nexthop %d is not a group", p, r.NexthopID))
			continue
		}
		var have []string
		for _, e := range g.Group {
			used[e.ID] = true
			n := k.Nexthops[e.ID]
			have = append(have, fmt.Sprintf("%s@%d*%d", n.Gateway, n.Ifindex, e.Weight))
		}
		sort.Strings(have)
		if !slices.Equal(have, want) {
			probs = append(probs, fmt.Sprintf("%s: members %v, want %v", p, have, want))
		}
	}
	for p := range k.Routes {
		if _, ok := d.routes.get(p); !ok {
			probs = append(probs, fmt.Sprintf("%s: not desired", p))
		}
	}
	for id := range k.Nexthops {
		if !used[id] {
			probs = append(probs, fmt.Sprintf("nexthop %d leaked", id))
		}
	}
	sort.Strings(probs)
	if len(probs) > 6 {
		probs = append(probs[:6], fmt.Sprintf("and %d more", len(probs)-6))
	}
	return strings.Join(probs, "; ")
}

func effective(nh Nexthops, k *Kernel, d *Desired) []string {
	var out []string
	for _, m := range nh.Members {
		if l, ok := k.Links[m.Ifindex]; ok && l.Usable() && !d.memberDown(m.key()) {
			out = append(out, fmt.Sprintf("%s@%d*%d", m.Gateway, m.Ifindex, m.weight()))
		}
	}
	sort.Strings(out)
	return out
}

func mustPlan(t testing.TB, r *Reconciler, d *Desired, k *Kernel, o PlanOptions) []Op {
	t.Helper()
	ops, err := r.Plan(d, k, o)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func applyAll(t testing.TB, k *Kernel, ops []Op) {
	t.Helper()
	for _, op := range ops {
		if err := k.Apply(op); err != nil {
			t.Fatalf("%s: %v (ops %v)", op, err, ops)
		}
	}
}

func kinds(ops []Op) map[OpKind]int {
	m := map[OpKind]int{}
	for _, o := range ops {
		m[o.Kind]++
	}
	return m
}

func TestPlanSharesGroupsAndIsIdempotent(t *testing.T) {
	k := fakeWithLinks(4).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	set := ECMP(m4(1, 1), m4(2, 2), m4(3, 3), m4(4, 4))
	for i := range 1000 {
		if err := d.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24), set); err != nil {
			t.Fatal(err)
		}
	}
	ops := mustPlan(t, r, d, k, PlanOptions{})
	if got := kinds(ops); got[OpNewNexthop] != 4 || got[OpSetGroup] != 1 || got[OpSetRoute] != 1000 || len(got) != 3 {
		t.Fatalf("first plan: %v", got)
	}
	// Order: members, then group, then routes.
	for i, op := range ops {
		if (i < 4) != (op.Kind == OpNewNexthop) || (i == 4) != (op.Kind == OpSetGroup) {
			t.Fatalf("op %d is %s", i, op)
		}
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
		t.Fatalf("second plan writes: %v", ops)
	}

	// One member leaves the set: one group write, no route rewritten.
	for i := range 1000 {
		d.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24), ECMP(m4(1, 1), m4(2, 2), m4(3, 3)))
	}
	ops = mustPlan(t, r, d, k, PlanOptions{})
	// The old set is gone and its group is adopted by the new set through
	// the routes using it: one group write, one nexthop removed, no route
	// rewritten.
	if got := kinds(ops); got[OpSetRoute] != 0 || got[OpSetGroup] != 1 || got[OpDelNexthop] != 1 || len(got) != 2 {
		t.Fatalf("member change as a new set: %v", ops)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
		t.Fatalf("not idempotent: %v", ops)
	}
}

func TestPlanLinkDownIsOneWritePerGroup(t *testing.T) {
	k := fakeWithLinks(3).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	sets := []Nexthops{ECMP(m4(1, 1), m4(2, 2)), ECMP(m4(1, 1), m4(3, 3)), ECMP(m4(2, 2), m4(3, 3))}
	for i := range 3000 {
		d.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24), sets[i%3])
	}
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{}))
	// BFD declares the gateway on link 1 dead: one write for each of the
	// two groups holding it, no route touched.
	d.SetGatewayDown(m4(1, 1).Gateway, 1, true)
	ops, err := r.PlanGroups(d, k)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(ops); got[OpSetGroup] != 2 || len(ops) != 2 {
		t.Fatalf("fast path: %v", ops)
	}
	applyAll(t, k, ops)
	ops = mustPlan(t, r, d, k, PlanOptions{})
	if got := kinds(ops); got[OpSetRoute] != 0 || got[OpDelRoute] != 0 || got[OpDelNexthop] != 1 {
		t.Fatalf("after the fast path: %v", ops)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	d.SetGatewayDown(m4(1, 1).Gateway, 1, false)
	ops = mustPlan(t, r, d, k, PlanOptions{})
	if got := kinds(ops); got[OpNewNexthop] != 1 || got[OpSetGroup] != 2 || got[OpSetRoute] != 0 {
		t.Fatalf("gateway back: %v", ops)
	}
	applyAll(t, k, ops)

	// Carrier loss on link 1: Linux flushes the nexthops itself (groups
	// shrink in the kernel), so there is nothing to write; back up, the
	// member is created again and the groups restored, routes untouched.
	k.SetLink(Link{Index: 1, AdminUp: true, OperUp: false})
	if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
		t.Fatalf("carrier down: %v", ops)
	}
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	k.SetLink(up(1))
	ops = mustPlan(t, r, d, k, PlanOptions{})
	if got := kinds(ops); got[OpNewNexthop] != 1 || got[OpSetGroup] != 2 || got[OpSetRoute] != 0 {
		t.Fatalf("link up: %v", ops)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
}

func TestPlanAllMembersDownRemovesRoutes(t *testing.T) {
	k := fakeWithLinks(2).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	d.Set(pfx("192.0.2.0/24"), ECMP(m4(1, 1)))
	d.Set(pfx("198.51.100.0/24"), ECMP(m4(2, 2)))
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{}))
	k.SetLink(Link{Index: 1, AdminUp: false})
	// Linux already removed nexthop, group and route: nothing to write.
	if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
		t.Fatalf("after admin down: %v", ops)
	}
	if _, ok := k.Routes[pfx("192.0.2.0/24")]; ok {
		t.Fatal("kernel model kept a route whose only nexthop was flushed")
	}
	k.SetLink(up(1))
	ops := mustPlan(t, r, d, k, PlanOptions{})
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	if got := kinds(ops); got[OpSetRoute] != 1 {
		t.Fatalf("link up: %v", ops)
	}
}

func TestPlanConvergesFromGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		f := fakeWithLinks(4)
		k := f.k
		// Random garbage of ours in the kernel.
		base := DefaultIDRange.First
		for i := range rng.IntN(6) {
			k.Apply(Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: base + uint32(i), Gateway: m4(rng.IntN(4)+1, 0).Gateway, Ifindex: rng.IntN(4) + 1}})
		}
		for i := range rng.IntN(3) {
			k.Apply(Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: base + 100 + uint32(i), Group: []GroupEntry{{ID: base + uint32(rng.IntN(6)), Weight: 1}}}})
		}
		for i := range rng.IntN(10) {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 0, byte(i), 0}), 24)
			if rng.IntN(3) == 0 {
				k.Apply(Op{Kind: OpSetRoute, Route: Route{Prefix: p, Blackhole: true}})
			} else {
				k.Apply(Op{Kind: OpSetRoute, Route: Route{Prefix: p, NexthopID: base + 100 + uint32(rng.IntN(3))}})
			}
		}
		r, _ := NewReconciler(DefaultIDRange)
		d := NewDesired()
		for i := range rng.IntN(12) {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 0, byte(i), 0}), 24)
			if rng.IntN(5) == 0 {
				d.Set(p, Blackhole())
				continue
			}
			var ms []Member
			for j := 1; j <= 4; j++ {
				if rng.IntN(2) == 0 {
					m := m4(j, j)
					m.Weight = uint16(rng.IntN(256) + 1)
					ms = append(ms, m)
				}
			}
			if len(ms) == 0 {
				ms = append(ms, m4(1, 1))
			}
			d.Set(p, ECMP(ms...))
		}
		for j := 1; j <= 4; j++ {
			if rng.IntN(4) == 0 {
				k.SetLink(Link{Index: j, AdminUp: rng.IntN(2) == 0})
			}
		}
		ops := mustPlan(t, r, d, k, PlanOptions{})
		applyAll(t, k, ops)
		if s := check(d, k); s != "" {
			t.Fatalf("iter %d: %s\nops %v", iter, s, ops)
		}
		if ops := mustPlan(t, r, d, k, PlanOptions{}); len(ops) != 0 {
			t.Fatalf("iter %d: second plan %v", iter, ops)
		}
	}
}

func TestPlanKeepUnknownAndAdopt(t *testing.T) {
	f := fakeWithLinks(2)
	r1, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	d.Set(pfx("192.0.2.0/24"), ECMP(m4(1, 1), m4(2, 2)))
	d.Set(pfx("198.51.100.0/24"), ECMP(m4(2, 2)))
	d.Set(pfx("203.0.113.0/24"), Blackhole())
	applyAll(t, f.k, mustPlan(t, r1, d, f.k, PlanOptions{}))
	before := f.k.Clone()

	// A restart: a new reconciler, and the daemon has re-learnt only part of
	// the routes so far.
	r2, _ := NewReconciler(DefaultIDRange)
	d2 := NewDesired()
	d2.Set(pfx("192.0.2.0/24"), ECMP(m4(1, 1), m4(2, 2)))
	if ops := mustPlan(t, r2, d2, f.k, PlanOptions{KeepUnknown: true}); len(ops) != 0 {
		t.Fatalf("adoption wrote: %v", ops)
	}
	if s := fmt.Sprint(f.k.Routes); s != fmt.Sprint(before.Routes) {
		t.Fatalf("routes changed: %s", s)
	}
	// A withdrawn prefix goes even while unknowns are kept.
	d2.Set(pfx("203.0.113.0/24"), Blackhole())
	d2.Delete(pfx("203.0.113.0/24"))
	ops := mustPlan(t, r2, d2, f.k, PlanOptions{KeepUnknown: true})
	if len(ops) != 1 || ops[0].Kind != OpDelRoute {
		t.Fatalf("withdraw while keeping: %v", ops)
	}
	applyAll(t, f.k, ops)
	// Sweep.
	ops = mustPlan(t, r2, d2, f.k, PlanOptions{})
	applyAll(t, f.k, ops)
	if s := check(d2, f.k); s != "" {
		t.Fatal(s)
	}
	if got := kinds(ops); got[OpDelRoute] != 1 || got[OpDelNexthop] != 1 {
		t.Fatalf("sweep: %v", ops)
	}
}

func TestPlanAdoptsChangedGroupThroughRoutes(t *testing.T) {
	f := fakeWithLinks(3)
	r1, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	d.Set(pfx("192.0.2.0/24"), ECMP(m4(1, 1), m4(2, 2)))
	applyAll(t, f.k, mustPlan(t, r1, d, f.k, PlanOptions{}))
	gid := f.k.Routes[pfx("192.0.2.0/24")].NexthopID
	// After the restart the prefix has a new set: the old group is reused
	// in place (one write), the route is not rewritten.
	r2, _ := NewReconciler(DefaultIDRange)
	d2 := NewDesired()
	d2.Set(pfx("192.0.2.0/24"), ECMP(m4(1, 1), m4(3, 3)))
	ops := mustPlan(t, r2, d2, f.k, PlanOptions{KeepUnknown: true})
	if got := kinds(ops); got[OpSetRoute] != 0 || got[OpSetGroup] != 1 {
		t.Fatalf("%v", ops)
	}
	applyAll(t, f.k, ops)
	if f.k.Routes[pfx("192.0.2.0/24")].NexthopID != gid {
		t.Fatal("route moved")
	}
	// The member that left is not ours to delete until the sweep.
	if ops := mustPlan(t, r2, d2, f.k, PlanOptions{KeepUnknown: true}); len(ops) != 0 {
		t.Fatalf("%v", ops)
	}
	ops = mustPlan(t, r2, d2, f.k, PlanOptions{})
	if len(ops) != 1 || ops[0].Kind != OpDelNexthop {
		t.Fatalf("sweep: %v", ops)
	}
	applyAll(t, f.k, ops)
	if s := check(d2, f.k); s != "" {
		t.Fatal(s)
	}
}

func TestSetValidates(t *testing.T) {
	d := NewDesired()
	ll := netip.MustParseAddr("fe80::1")
	cases := []struct {
		p    netip.Prefix
		nh   Nexthops
		want string
	}{
		{pfx("10.0.0.1/24"), ECMP(m4(1, 1)), "host bits"},
		{netip.Prefix{}, ECMP(m4(1, 1)), "invalid prefix"},
		{pfx("10.0.0.0/24"), Nexthops{}, "no members"},
		{pfx("10.0.0.0/24"), Nexthops{Blackhole: true, Members: []Member{m4(1, 1)}}, "blackhole has no members"},
		{pfx("10.0.0.0/24"), ECMP(Member{Gateway: ll}), "interface index"},
		{pfx("10.0.0.0/24"), ECMP(Member{Gateway: ll, Ifindex: 1, Weight: 257}), "weight 257"},
		{pfx("2001:db8::/32"), ECMP(m4(1, 1)), "IPv6 prefix cannot use IPv4"},
		{pfx("10.0.0.0/24"), ECMP(m4(1, 1), m4(1, 1)), "twice"},
		{pfx("10.0.0.0/24"), ECMP(Member{Gateway: ll.WithZone("eth0"), Ifindex: 1}), "zone"},
		{pfx("10.0.0.0/24"), ECMP(Member{Ifindex: 1}), "without gateway"},
	}
	for _, c := range cases {
		err := d.Set(c.p, c.nh)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%s, %v) = %v, want %q", c.p, c.nh, err, c.want)
		}
	}
	if d.Len() != 0 {
		t.Fatal("a rejected Set changed the state")
	}
	// IPv4 over an IPv6 link-local gateway (RFC 8950) is fine.
	if err := d.Set(pfx("10.0.0.0/24"), ECMP(Member{Gateway: ll, Ifindex: 1, Weight: 256})); err != nil {
		t.Fatal(err)
	}
}

func TestKernelSemantics(t *testing.T) {
	k := fakeWithLinks(2).k
	b := DefaultIDRange.First
	must := func(op Op) {
		t.Helper()
		if err := k.Apply(op); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	wantErr := func(op Op, want error) {
		t.Helper()
		if err := k.Apply(op); !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", op, err, want)
		}
	}
	must(Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: b, Gateway: m4(1, 0).Gateway, Ifindex: 1}})
	must(Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: b + 1, Gateway: m4(2, 0).Gateway, Ifindex: 2}})
	wantErr(Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: b + 9, Gateway: m4(2, 0).Gateway, Ifindex: 7}}, syscall.ENODEV)
	wantErr(Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: b + 2, Group: []GroupEntry{{ID: b + 5, Weight: 1}}}}, syscall.EINVAL)
	must(Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: b + 2, Group: []GroupEntry{{ID: b, Weight: 1}, {ID: b + 1, Weight: 2}}}})
	must(Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: b + 3, Group: []GroupEntry{{ID: b, Weight: 1}}}})
	wantErr(Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: b, Group: []GroupEntry{{ID: b + 1, Weight: 1}}}}, syscall.EINVAL)
	wantErr(Op{Kind: OpSetRoute, Route: Route{Prefix: pfx("192.0.2.0/24"), NexthopID: b + 7}}, syscall.EINVAL)
	wantErr(Op{Kind: OpSetRoute, Route: Route{Prefix: pfx("2001:db8::/32"), NexthopID: b + 2}}, syscall.EINVAL)
	must(Op{Kind: OpSetRoute, Route: Route{Prefix: pfx("192.0.2.0/24"), NexthopID: b + 2}})
	must(Op{Kind: OpSetRoute, Route: Route{Prefix: pfx("198.51.100.0/24"), NexthopID: b + 3}})
	wantErr(Op{Kind: OpDelRoute, Route: Route{Prefix: pfx("203.0.113.0/24")}}, syscall.ESRCH)
	// Link 1 down: nexthop b leaves group b+2, group b+3 (only b) goes with
	// its route.
	k.SetLink(Link{Index: 1})
	if g := k.Nexthops[b+2].Group; len(g) != 1 || g[0].ID != b+1 {
		t.Fatalf("group after link down: %v", g)
	}
	if _, ok := k.Nexthops[b+3]; ok {
		t.Fatal("empty group kept")
	}
	if _, ok := k.Routes[pfx("198.51.100.0/24")]; ok {
		t.Fatal("route of a deleted group kept")
	}
	wantErr(Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: b, Gateway: m4(1, 0).Gateway, Ifindex: 1}}, syscall.ENETDOWN)
	// Deleting a group deletes its routes.
	must(Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: b + 2}})
	if len(k.Routes) != 0 {
		t.Fatalf("routes left: %v", k.Routes)
	}
	wantErr(Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: b + 2}}, syscall.ENOENT)
}

// fibOnFake starts a FIB over a fake with n links up.
func fibOnFake(t *testing.T, n int) (*FIB, *Fake, *opLog) {
	t.Helper()
	fk := fakeWithLinks(n)
	log := &opLog{}
	fk.SetFault(log.record)
	f, err := New(fk, Options{Logger: discard(), RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, fk, log
}

type opLog struct {
	mu   sync.Mutex
	ops  []Op
	fail func(Op) error
}

func (l *opLog) record(op Op) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
	if l.fail != nil {
		return l.fail(op)
	}
	return nil
}

func (l *opLog) take() []Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.ops
	l.ops = nil
	return o
}

func (l *opLog) setFail(fn func(Op) error) {
	l.mu.Lock()
	l.fail = fn
	l.mu.Unlock()
}

func waitConverged(t *testing.T, f *FIB, fk *Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var s string
	for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
		f.mu.Lock()
		s = check(f.desired, fk.Snapshot())
		f.mu.Unlock()
		if s == "" {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("not converged: %s (stats %+v, failures %+v, mirror links %+v)", s, f.Stats(), f.Failures(), f.Kernel().Links)
}

func TestFIBEvents(t *testing.T) {
	f, fk, log := fibOnFake(t, 3)
	sets := []Nexthops{ECMP(m4(1, 1), m4(2, 2)), ECMP(m4(1, 1), m4(3, 3)), ECMP(m4(2, 2), m4(3, 3))}
	for i := range 300 {
		if err := f.Set(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24), sets[i%3]); err != nil {
			t.Fatal(err)
		}
	}
	f.Set(pfx("203.0.113.0/24"), Blackhole())
	if err := f.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, f, fk)
	log.take()

	t.Run("gateway down (BFD): one write per group, groups first", func(t *testing.T) {
		f.SetGatewayDown(m4(1, 1).Gateway, 1, true)
		waitConverged(t, f, fk)
		ops := log.take()
		if got := kinds(ops); got[OpSetGroup] != 2 || got[OpSetRoute] != 0 {
			t.Fatalf("%v", ops)
		}
		if ops[0].Kind != OpSetGroup || ops[1].Kind != OpSetGroup {
			t.Fatalf("groups not written first: %v", ops)
		}
		f.SetGatewayDown(m4(1, 1).Gateway, 1, false)
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpSetRoute] != 0 || got[OpSetGroup] != 2 || got[OpNewNexthop] != 1 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("carrier down: Linux flushed, no route written", func(t *testing.T) {
		fk.SetLink(Link{Index: 1, Name: "eth1", AdminUp: true, OperUp: false})
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpSetRoute] != 0 || got[OpSetGroup] != 0 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("carrier up: groups restored", func(t *testing.T) {
		fk.SetLink(up(1))
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpSetRoute] != 0 || got[OpSetGroup] != 2 || got[OpNewNexthop] != 1 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("admin down: kernel flushed, nothing to write for routes", func(t *testing.T) {
		fk.SetLink(Link{Index: 2, Name: "eth2"})
		waitConverged(t, f, fk)
		ops := log.take()
		if got := kinds(ops); got[OpSetRoute] != 0 || got[OpSetGroup] != 0 {
			t.Fatalf("%v", ops)
		}
	})
	t.Run("admin up: nexthop recreated", func(t *testing.T) {
		fk.SetLink(up(2))
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpNewNexthop] != 1 || got[OpSetGroup] != 2 || got[OpSetRoute] != 0 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("route deleted by hand is put back", func(t *testing.T) {
		if err := fk.DeleteRouteByHand(pfx("100.0.7.0/24")); err != nil {
			t.Fatal(err)
		}
		if err := fk.DeleteRouteByHand(pfx("203.0.113.0/24")); err != nil {
			t.Fatal(err)
		}
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpSetRoute] != 2 || len(got) != 1 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("nexthop deleted by hand: cascade repaired", func(t *testing.T) {
		k := fk.Snapshot()
		g := k.Nexthops[k.Routes[pfx("100.0.0.0/24")].NexthopID]
		if err := fk.DeleteNexthopByHand(g.ID); err != nil {
			t.Fatal(err)
		}
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpSetGroup] != 1 || got[OpSetRoute] != 100 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("foreign route with our protocol is removed", func(t *testing.T) {
		if err := fk.ApplyByHand(Op{Kind: OpSetRoute, Route: Route{Prefix: pfx("192.0.2.0/24"), Blackhole: true}}); err != nil {
			t.Fatal(err)
		}
		// Unknown routes are kept until Sweep.
		time.Sleep(20 * time.Millisecond)
		if _, ok := fk.Snapshot().Routes[pfx("192.0.2.0/24")]; !ok {
			t.Fatal("unknown route removed before Sweep")
		}
		if err := f.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitConverged(t, f, fk)
		log.take()
	})
	t.Run("group changed by hand is put back", func(t *testing.T) {
		k := fk.Snapshot()
		g := k.Nexthops[k.Routes[pfx("100.0.0.0/24")].NexthopID]
		if err := fk.ApplyByHand(Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: g.ID, Group: g.Group[:1]}}); err != nil {
			t.Fatal(err)
		}
		waitConverged(t, f, fk)
		if got := kinds(log.take()); got[OpSetGroup] != 1 || len(got) != 1 {
			t.Fatalf("%v", got)
		}
	})
	t.Run("overflow: re-dump catches a silent change", func(t *testing.T) {
		fk.mu.Lock()
		delete(fk.k.Routes, pfx("100.0.9.0/24")) // no event
		fk.mu.Unlock()
		fk.Overflow()
		waitConverged(t, f, fk)
		if st := f.Stats(); st.Resyncs == 0 {
			t.Fatalf("no resync: %+v", st)
		}
	})
	t.Run("link deleted", func(t *testing.T) {
		fk.DeleteLink(3)
		waitConverged(t, f, fk)
		log.take()
	})
	t.Run("event storm drops events and resyncs", func(t *testing.T) {
		for i := range 2000 {
			fk.SetLink(Link{Index: 1, Name: "eth1", AdminUp: i%2 == 1, OperUp: i%2 == 1})
		}
		waitConverged(t, f, fk)
	})
}

func TestFIBFailuresRetriedAndReported(t *testing.T) {
	f, fk, log := fibOnFake(t, 2)
	bad := pfx("192.0.2.0/24")
	log.setFail(func(op Op) error {
		if op.Kind == OpSetRoute && op.Route.Prefix == bad {
			return syscall.EBUSY
		}
		return nil
	})
	f.Set(bad, ECMP(m4(1, 1)))
	f.Set(pfx("198.51.100.0/24"), ECMP(m4(1, 1)))
	err := f.Sync(context.Background())
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Sync: %v", err)
	}
	fl := f.Failures()
	if len(fl) != 1 || fl[0].Prefix != bad || !errors.Is(fl[0].Err, syscall.EBUSY) || fl[0].Op != "set-route" {
		t.Fatalf("failures: %+v", fl)
	}
	if _, ok := fk.Snapshot().Routes[pfx("198.51.100.0/24")]; !ok {
		t.Fatal("one failure stopped the batch")
	}
	// The loop retries until the fault clears.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 1000 && time.Now().Before(deadline) && f.Failures()[0].Tries < 3; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if f.Failures()[0].Tries < 3 {
		t.Fatalf("not retried: %+v", f.Failures())
	}
	log.setFail(nil)
	waitConverged(t, f, fk)
	for i := 0; i < 1000 && len(f.Failures()) > 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if fl := f.Failures(); len(fl) != 0 {
		t.Fatalf("failures after recovery: %+v", fl)
	}
}

func TestFIBRestartAdopts(t *testing.T) {
	f1, fk, _ := fibOnFake(t, 2)
	f1.Set(pfx("192.0.2.0/24"), ECMP(m4(1, 1), m4(2, 2)))
	f1.Set(pfx("198.51.100.0/24"), Blackhole())
	f1.Set(pfx("2001:db8::/32"), ECMP(Member{Gateway: netip.MustParseAddr("fe80::1"), Ifindex: 1}))
	f1.Set(pfx("10.9.0.0/16"), ECMP(Member{Gateway: netip.MustParseAddr("fe80::1"), Ifindex: 1}))
	if err := f1.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f1.Close()
	before := fk.Snapshot()
	_, writes0 := fk.Ops()

	f2, err := New(fk, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	f2.Set(pfx("192.0.2.0/24"), ECMP(m4(2, 2), m4(1, 1)))
	if err := f2.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, w := fk.Ops(); w != writes0 {
		t.Fatal("restart wrote to the kernel")
	}
	if check := fmt.Sprint(fk.Snapshot().Routes); check != fmt.Sprint(before.Routes) {
		t.Fatalf("routes changed: %s", check)
	}
	if err := f2.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	f2.mu.Lock()
	s := check(f2.desired, fk.Snapshot())
	f2.mu.Unlock()
	if s != "" {
		t.Fatal(s)
	}
}

func TestSetManyAndIncremental(t *testing.T) {
	k := fakeWithLinks(2).k
	r, _ := NewReconciler(DefaultIDRange)
	d := NewDesired()
	ps := []netip.Prefix{pfx("192.0.2.0/24"), pfx("198.51.100.0/24"), pfx("203.0.113.0/24")}
	if err := d.SetMany(append(slices.Clone(ps), pfx("10.0.0.1/8")), ECMP(m4(1, 1))); err == nil || d.Len() != 0 {
		t.Fatalf("bad prefix accepted or partial change: %v, %d", err, d.Len())
	}
	if err := d.SetMany(ps, ECMP(m4(1, 1), m4(2, 2))); err != nil {
		t.Fatal(err)
	}
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
	// A change behind our back is invisible to an incremental plan until
	// marked; a full plan finds it.
	delete(k.Routes, ps[0])
	if ops := mustPlan(t, r, d, k, PlanOptions{Incremental: true}); len(ops) != 0 {
		t.Fatalf("incremental plan saw an unmarked change: %v", ops)
	}
	d.MarkDirty(ps[0])
	ops := mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if len(ops) != 1 || ops[0].Kind != OpSetRoute || ops[0].Route.Prefix != ps[0] {
		t.Fatalf("%v", ops)
	}
	applyAll(t, k, ops)
	// Every member down then up: the whole set's routes move even in an
	// incremental plan.
	k.SetLink(Link{Index: 1})
	k.SetLink(Link{Index: 2})
	applyAll(t, k, mustPlan(t, r, d, k, PlanOptions{Incremental: true}))
	k.SetLink(up(1))
	ops = mustPlan(t, r, d, k, PlanOptions{Incremental: true})
	if got := kinds(ops); got[OpSetRoute] != 3 {
		t.Fatalf("%v", ops)
	}
	applyAll(t, k, ops)
	if s := check(d, k); s != "" {
		t.Fatal(s)
	}
}

func TestFIBBigBatchWithFailure(t *testing.T) {
	f, fk, log := fibOnFake(t, 2)
	bad := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 0, 7, 0}), 24)
	log.setFail(func(op Op) error {
		if op.Kind == OpSetRoute && op.Route.Prefix == bad {
			return syscall.ENOMEM
		}
		return nil
	})
	var ps []netip.Prefix
	for i := range 6000 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24))
	}
	if err := f.Update(func(d *Desired) error { return d.SetMany(ps, ECMP(m4(1, 1), m4(2, 2))) }); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(context.Background()); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("Sync: %v", err)
	}
	// The mirror took the failed write optimistically; the re-dump before
	// the next plan corrects it and the retry installs the route.
	log.setFail(nil)
	waitConverged(t, f, fk)
	if k := f.Kernel(); len(k.Routes) != 6000 {
		t.Fatalf("mirror has %d routes", len(k.Routes))
	}
}
