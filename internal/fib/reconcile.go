package fib

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// IDRange is the block of nexthop object IDs this process owns. Objects in it
// are adopted on start; nothing outside it is ever touched.
type IDRange struct {
	First, Last uint32 // inclusive
}

// DefaultIDRange is 0xC1050000..0xC204FFFF: high enough to stay clear of
// FRR's zebra and of hand-made `ip nexthop` objects, which count up from 1.
var DefaultIDRange = IDRange{First: 0xC1050000, Last: 0xC204FFFF}

// Contains reports whether id is ours.
func (r IDRange) Contains(id uint32) bool { return id >= r.First && id <= r.Last }

func (r IDRange) validate() error {
	if r.First == 0 || r.Last < r.First {
		return fmt.Errorf("fib: nexthop ID range %d..%d: want 1 <= first <= last", r.First, r.Last)
	}
	return nil
}

// Desired is the state the kernel should reach. Targets are interned: many
// prefixes with the same member set hold one key.
type Desired struct {
	routes  routeTable
	targets map[groupKey]*target
	// withdrawn holds prefixes deleted since start, so a route of ours for
	// them is removed even while unknown routes are kept.
	withdrawn map[netip.Prefix]struct{}
	// down holds gateways declared dead (BFD) while their link is up.
	down map[nhKey]bool
	// neighDown holds gateways whose neighbour entry failed (link up, next
	// hop dead), only for members of some set.
	neighDown map[nhKey]bool
	// dirty holds prefixes changed since the last plan; allDirty says an
	// incremental plan cannot be trusted (nothing planned yet).
	dirty    map[netip.Prefix]struct{}
	allDirty bool
	memo     setMemo
	// fresh lists the targets created since the last plan.
	fresh []*target
}

type target struct {
	key  groupKey
	nh   Nexthops // canonical
	refs int
	// Scratch of the current plan, so the per-prefix pass follows a
	// pointer instead of hashing the set's key.
	planID    uint32
	planEmpty bool
	// A set moved whole to new members: fresh is set on a target created
	// since the last plan; from is the one older target it took prefixes
	// from, and pending those prefixes, which are not marked dirty. If the
	// plan finds from left without prefixes, the new set inherits its
	// kernel group (one group write) and pending is dropped unlooked-at;
	// otherwise pending is marked dirty then.
	fresh   bool
	from    *target
	pending []netip.Prefix
}

// NewDesired returns an empty desired state.
func NewDesired() *Desired {
	return &Desired{routes: newRouteTable(0, 0), targets: map[groupKey]*target{}, withdrawn: map[netip.Prefix]struct{}{}, down: map[nhKey]bool{}, dirty: map[netip.Prefix]struct{}{}, allDirty: true}
}

// Set makes p forward to nh. It returns an error, changing nothing, if nh is
// not something the kernel can install.
func (d *Desired) Set(p netip.Prefix, nh Nexthops) error {
	fam := 0
	if p.Addr().Is6() {
		fam = 1
	}
	m := &d.memo
	same := m.valid && nh.Blackhole == m.blackhole && slices.Equal(nh.Members, m.in)
	if same && m.fam[fam] && p.IsValid() && p == p.Masked() {
		// The RIB hands over a table prefix by prefix, mostly with the
		// same set: check, sort and key it once, not once per prefix.
		d.setTarget(p, d.memoTarget())
		return nil
	}
	if err := nh.validate(p); err != nil {
		return err
	}
	if !same {
		c := nh.canonical()
		*m = setMemo{valid: true, blackhole: nh.Blackhole, in: slices.Clone(nh.Members), c: c, k: c.key()}
	}
	m.fam[fam] = true
	d.setTarget(p, d.memoTarget())
	return nil
}

// memoTarget is the memo's target. A target with references is still
// interned (unref drops it only at zero), so the pointer is reused without
// hashing the set's key.
func (d *Desired) memoTarget() *target {
	m := &d.memo
	if m.t == nil || m.t.refs == 0 {
		m.t = d.targetFor(m.c, m.k)
	}
	return m.t
}

// setMemo is the last set given to Set, as given and in canonical form,
// with the families it was checked for.
type setMemo struct {
	valid     bool
	blackhole bool
	in        []Member
	fam       [2]bool
	c         Nexthops
	k         groupKey
	t         *target
}

// SetMany makes every prefix in ps forward to nh (one ECMP set of the RIB),
// checking and interning nh once. On error nothing is changed.
func (d *Desired) SetMany(ps []netip.Prefix, nh Nexthops) error {
	// The members' checks depend only on the prefix's family: check them
	// once per family, and each prefix alone after that (a full table
	// is a million prefixes over a handful of sets).
	var checked [2]bool
	n4 := 0
	for _, p := range ps {
		fam := 0
		if p.Addr().Is6() {
			fam = 1
		} else {
			n4++
		}
		if checked[fam] && p.IsValid() && p == p.Masked() {
			continue
		}
		if err := nh.validate(p); err != nil {
			return err
		}
		checked[fam] = true
	}
	if len(ps) == 0 {
		return nil
	}
	c := nh.canonical()
	t := d.targetFor(c, c.key())
	if d.routes.len() == 0 && len(d.withdrawn) == 0 && len(ps) > 1024 {
		// A first load: size the map once instead of growing it a
		// million times, and insert without looking up first (there is
		// nothing to replace; refs count the distinct prefixes).
		d.routes = newRouteTable(n4, len(ps)-n4)
		d.allDirty = true
		clear(d.dirty)
		for _, p := range ps {
			d.routes.set(p, t)
		}
		t.refs += d.routes.len()
		return nil
	}
	if !t.fresh && !d.allDirty && len(ps) > 1024 && len(d.dirty)+len(ps) > d.routes.len()/2 {
		// Tracking most of the table as changed costs a second map as
		// big as the table; one full plan is cheaper. (Not for a new
		// set: it may be a set moved whole, which needs no route plan.)
		d.allDirty = true
		clear(d.dirty)
	}
	for _, p := range ps {
		d.setTarget(p, t)
	}
	return nil
}

func (d *Desired) set(p netip.Prefix, c Nexthops, k groupKey) {
	d.setTarget(p, d.targetFor(c, k))
}

// targetFor returns the interned target of a canonical set, creating it
// (without references: the caller gives it one at once).
func (d *Desired) targetFor(c Nexthops, k groupKey) *target {
	t := d.targets[k]
	if t == nil {
		t = &target{key: k, nh: c, fresh: true}
		d.targets[k] = t
		d.fresh = append(d.fresh, t)
	}
	return t
}

// setTarget points p at t. Targets are interned, so pointer equality is set
// equality and no key is hashed per prefix.
func (d *Desired) setTarget(p netip.Prefix, t *target) {
	old, had := d.routes.get(p)
	if had {
		if old == t {
			return
		}
		d.unref(old)
	}
	t.refs++
	d.routes.set(p, t)
	if len(d.withdrawn) > 0 {
		delete(d.withdrawn, p)
	}
	if had && t.absorbs(old) {
		if !d.allDirty {
			t.pending = append(t.pending, p)
		}
		return
	}
	if !d.allDirty {
		d.markDirty(p)
	}
}

// absorbs says whether a prefix moving from old to t may wait for the plan
// to know if old moved whole (see target.pending): t is new, old is not,
// and t takes prefixes from no other older target.
func (t *target) absorbs(old *target) bool {
	if !t.fresh || old.fresh || t.key == blackholeKey || old.key == blackholeKey {
		return false
	}
	if t.from == nil {
		t.from = old
	}
	return t.from == old
}

// settle closes the moves since the last plan: for each new target that
// took prefixes from one older target now left without any, carry (the
// reconciler) is asked to hand the old set's group to the new set; if it
// does, the moved prefixes need no look, otherwise they are marked dirty.
func (d *Desired) settle(carry func(from, to groupKey) bool) {
	// When a set was split, the part that took the most prefixes keeps
	// the group.
	slices.SortStableFunc(d.fresh, func(a, b *target) int {
		return cmp.Or(cmp.Compare(len(b.pending), len(a.pending)), cmp.Compare(b.refs, a.refs))
	})
	for _, t := range d.fresh {
		from, pending := t.from, t.pending
		t.fresh, t.from, t.pending = false, nil, nil
		if from == nil {
			continue
		}
		// (carry refuses a second new set taking the same group.)
		if t.refs > 0 && d.targets[t.key] == t && from.refs == 0 && d.targets[from.key] == nil && carry(from.key, t.key) {
			continue
		}
		for _, p := range pending {
			if d.allDirty {
				break
			}
			d.markDirty(p)
		}
	}
	clear(d.fresh)
	d.fresh = d.fresh[:0]
}

// markDirty records p for the next incremental plan. Once most of the table
// is recorded, one full plan is cheaper than a second map as big as the
// table.
func (d *Desired) markDirty(p netip.Prefix) {
	d.dirty[p] = struct{}{}
	if len(d.dirty) > 4096 && len(d.dirty) > d.routes.len()/2 {
		d.allDirty = true
		clear(d.dirty)
	}
}

// Delete withdraws p. It reports whether p was there.
func (d *Desired) Delete(p netip.Prefix) bool {
	t, ok := d.routes.get(p)
	if !ok {
		return false
	}
	d.unref(t)
	d.routes.del(p)
	d.withdrawn[p] = struct{}{}
	if !d.allDirty {
		d.markDirty(p)
	}
	return true
}

func (d *Desired) unref(t *target) {
	t.refs--
	if t.refs == 0 {
		delete(d.targets, t.key)
	}
}

// SetGatewayDown takes the member gw on ifindex out of every group (down)
// or puts it back, without touching the prefixes' desired sets: the path for
// a failure detected before routing reacts (BFD), one group write per set
// holding the member.
func (d *Desired) SetGatewayDown(gw netip.Addr, ifindex int, down bool) {
	k := nhKey{gw.Unmap(), ifindex}
	if down {
		d.down[k] = true
	} else {
		delete(d.down, k)
	}
}

// MarkDirty makes the next incremental plan look at p (the kernel changed
// it behind our back).
func (d *Desired) MarkDirty(p netip.Prefix) {
	if !d.allDirty {
		d.markDirty(p)
	}
}

// Get returns what p should forward to.
func (d *Desired) Get(p netip.Prefix) (Nexthops, bool) {
	t, ok := d.routes.get(p)
	if !ok {
		return Nexthops{}, false
	}
	return t.nh, true
}

// Len is the number of desired prefixes.
func (d *Desired) Len() int { return d.routes.len() }

// Groups is the number of distinct next-hop sets.
func (d *Desired) Groups() int { return len(d.targets) }

// Reconciler turns (desired, actual) into writes. It is pure: it remembers
// only which group ID it gave each next-hop set, so a set keeps its kernel
// group across link flaps and routes never need rewriting for a member
// change.
type Reconciler struct {
	ids     IDRange
	groupID map[groupKey]uint32
	owner   map[uint32]groupKey
	claimed map[uint32]bool // objects we created or adopted
	cursor  uint32
	// wasEmpty says, per set, whether all its members were down at the
	// last plan; keptNH holds the objects unknown kept routes use, as of
	// the last full pass.
	wasEmpty map[groupKey]bool
	keptNH   map[uint32]bool
}

// NewReconciler returns a reconciler allocating IDs in r.
func NewReconciler(r IDRange) (*Reconciler, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &Reconciler{ids: r, groupID: map[groupKey]uint32{}, owner: map[uint32]groupKey{}, claimed: map[uint32]bool{}, cursor: r.First, wasEmpty: map[groupKey]bool{}, keptNH: map[uint32]bool{}}, nil
}

// PlanOptions tune one plan.
type PlanOptions struct {
	// KeepUnknown leaves alone routes of ours whose prefixes were never
	// desired since start, and unclaimed objects in our ID range: a restart
	// adopts, and only a later sweep removes what nobody wants.
	KeepUnknown bool
	// Incremental looks only at prefixes changed since the last plan
	// (Desired.Set, Delete, MarkDirty). The caller must ask for a full plan
	// after anything it cannot name prefix by prefix: a dump, a failed
	// write.
	Incremental bool

	groupsOnly bool
	// emit, if set, receives the plan's writes in order while it is being
	// made, planChunk at a time and the rest at the end, so they can be
	// written while the rest is planned. The slices are not changed after.
	emit func([]Op)
}

// planChunk is how many writes a streamed plan hands over at a time.
const planChunk = 8192

type plan struct {
	r       *Reconciler
	k       *Kernel
	taken   map[uint32]bool // IDs allocated during this plan
	exhaust bool
}

func (p *plan) alloc() (uint32, bool) {
	r := p.r
	span := uint64(r.ids.Last) - uint64(r.ids.First) + 1
	for i := uint64(0); i < span; i++ {
		id := r.cursor
		if r.cursor == r.ids.Last {
			r.cursor = r.ids.First
		} else {
			r.cursor++
		}
		if _, ok := p.k.Nexthops[id]; ok {
			continue
		}
		if _, ok := r.owner[id]; ok || p.taken[id] {
			continue
		}
		p.taken[id] = true
		return id, true
	}
	p.exhaust = true
	return 0, false
}

func entriesEqual(a, b []GroupEntry) bool { return slices.Equal(a, b) }

func sortEntries(es []GroupEntry) {
	slices.SortFunc(es, func(a, b GroupEntry) int { return cmp.Compare(a.ID, b.ID) })
}

func entriesKey(es []GroupEntry) string {
	b := make([]byte, 0, len(es)*6)
	for _, e := range es {
		b = append(b, byte(e.ID>>24), byte(e.ID>>16), byte(e.ID>>8), byte(e.ID), byte(e.Weight>>8), byte(e.Weight))
	}
	return string(b)
}

// Plan returns the writes that make k match d, in an order the kernel
// accepts: nexthops before the groups holding them, groups before the routes
// using them, routes moved or deleted before the groups they leave, groups
// before their members. Applying the result and planning again yields
// nothing. Members on links that are not up are left out of their groups;
// a prefix whose members are all down has no route.
func (r *Reconciler) Plan(d *Desired, k *Kernel, o PlanOptions) ([]Op, error) {
	p := &plan{r: r, k: k, taken: map[uint32]bool{}}
	var nhOps, groupOps, routeOps, delRouteOps, delGroupOps, delNhOps []Op

	// Single nexthops by value, for reuse and adoption. Several objects with
	// one value: keep the lowest ID, the rest go unused and are removed.
	byValue := map[nhKey]uint32{}
	groupsByEntries := map[string]uint32{}
	var ids []uint32
	for id := range k.Nexthops {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := k.Nexthops[id]
		if !n.IsGroup() {
			kk := nhKey{n.Gateway, n.Ifindex}
			if _, ok := byValue[kk]; !ok {
				byValue[kk] = id
			}
			continue
		}
		if _, ok := r.owner[id]; ok {
			continue
		}
		es := slices.Clone(n.Group)
		sortEntries(es)
		ek := entriesKey(es)
		if _, ok := groupsByEntries[ek]; !ok {
			groupsByEntries[ek] = id
		}
	}

	// Sets moved whole keep their groups; then forget group IDs of sets
	// nobody wants any more.
	d.settle(r.carry)
	for key, id := range r.groupID {
		if _, ok := d.targets[key]; !ok {
			delete(r.groupID, key)
			delete(r.owner, id)
		}
	}

	neededNH := map[nhKey]uint32{}
	nhID := func(m Member) (uint32, bool) {
		kk := m.key()
		if id, ok := neededNH[kk]; ok {
			return id, true
		}
		if id, ok := byValue[kk]; ok {
			neededNH[kk] = id
			r.claimed[id] = true
			return id, true
		}
		id, ok := p.alloc()
		if !ok {
			return 0, false
		}
		neededNH[kk] = id
		r.claimed[id] = true
		nhOps = append(nhOps, Op{Kind: OpNewNexthop, Nexthop: Nexthop{ID: id, Gateway: m.Gateway, Ifindex: m.Ifindex}})
		return id, true
	}

	// Effective entries per set, in a stable order so plans are
	// reproducible.
	keys := make([]groupKey, 0, len(d.targets))
	for key := range d.targets {
		if key != blackholeKey {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	entries := make(map[groupKey][]GroupEntry, len(keys))
	for _, key := range keys {
		var es []GroupEntry
		for _, m := range d.targets[key].nh.Members {
			if l, ok := k.Links[m.Ifindex]; !ok || !l.Usable() || d.memberDown(m.key()) {
				continue
			}
			id, ok := nhID(m)
			if !ok {
				return nil, fmt.Errorf("fib: nexthop ID range %d..%d exhausted", r.ids.First, r.ids.Last)
			}
			es = append(es, GroupEntry{ID: id, Weight: m.weight()})
		}
		sortEntries(es)
		entries[key] = es
	}

	// Group IDs: keep what we gave; a kernel object at that ID that is not a
	// group (someone else's) makes us move. Then adopt kernel groups with
	// exactly the wanted members, then groups our routes already use, then
	// allocate.
	var unassigned []groupKey
	moved := false // a set's group ID changed: its routes must be looked at
	for _, key := range keys {
		if id, ok := r.groupID[key]; ok {
			if n, ok := k.Nexthops[id]; ok && !n.IsGroup() {
				delete(r.groupID, key)
				delete(r.owner, id)
				moved = true
			} else {
				continue
			}
		}
		if ek := entriesKey(entries[key]); len(entries[key]) > 0 {
			if id, ok := groupsByEntries[ek]; ok {
				if _, taken := r.owner[id]; !taken {
					r.assign(key, id)
					continue
				}
			}
		}
		unassigned = append(unassigned, key)
	}
	if len(unassigned) > 0 {
		left := len(unassigned)
		adopt := func(pfx netip.Prefix, t *target) {
			key := t.key
			if _, ok := r.groupID[key]; ok || key == blackholeKey {
				return
			}
			kr, ok := k.Routes[pfx]
			if !ok || kr.Blackhole {
				return
			}
			n, ok := k.Nexthops[kr.NexthopID]
			if !ok || !n.IsGroup() {
				return
			}
			if _, taken := r.owner[kr.NexthopID]; taken {
				return
			}
			r.assign(key, kr.NexthopID)
			left--
		}
		switch {
		case len(k.Routes) == 0:
			// Nothing to adopt through (a first load): no look at a
			// million prefixes before the first write.
		case o.Incremental && !d.allDirty && !moved:
			// The prefixes of a set without a group were all set since the
			// last plan (a set moved whole carried its group over).
			for pfx := range d.dirty {
				if t, ok := d.routes.get(pfx); ok {
					adopt(pfx, t)
					if left == 0 {
						break
					}
				}
			}
		default:
			for pfx, t := range d.routes.all() {
				adopt(pfx, t)
				if left == 0 {
					break
				}
			}
		}
		for _, key := range unassigned {
			if _, ok := r.groupID[key]; ok {
				continue
			}
			id, ok := p.alloc()
			if !ok {
				return nil, fmt.Errorf("fib: nexthop ID range %d..%d exhausted", r.ids.First, r.ids.Last)
			}
			r.assign(key, id)
		}
	}

	neededGroup := map[uint32]bool{}
	for _, key := range keys {
		es := entries[key]
		if len(es) == 0 {
			continue
		}
		id := r.groupID[key]
		neededGroup[id] = true
		if n, ok := k.Nexthops[id]; ok && n.IsGroup() {
			cur := slices.Clone(n.Group)
			sortEntries(cur)
			if entriesEqual(cur, es) {
				continue
			}
		}
		groupOps = append(groupOps, Op{Kind: OpSetGroup, Nexthop: Nexthop{ID: id, Group: es}})
	}

	if o.groupsOnly {
		return append(nhOps, groupOps...), nil
	}

	// Routes. A full pass looks at every prefix; an incremental one only at
	// the prefixes changed since the last plan, unless a set's members all
	// went (or came back), which moves every route of that set.
	full := !o.Incremental || d.allDirty || moved
	for _, key := range keys {
		empty := len(entries[key]) == 0
		if was, ok := r.wasEmpty[key]; ok && was != empty {
			full = true
		}
		r.wasEmpty[key] = empty
	}
	for key := range r.wasEmpty {
		if _, ok := d.targets[key]; !ok {
			delete(r.wasEmpty, key)
		}
	}
	for key, t := range d.targets {
		t.planID = r.groupID[key]
		t.planEmpty = key != blackholeKey && len(entries[key]) == 0
	}
	// Route writes go straight after the object writes in the slice that
	// is returned, sized for a first load, so a million-route plan neither
	// grows nor copies a slice of a million ops.
	est := len(nhOps) + len(groupOps)
	if full {
		est += max(0, d.routes.len()-len(k.Routes))
	} else {
		est += len(d.dirty)
	}
	routeOps = make([]Op, 0, est+16)
	routeOps = append(append(routeOps, nhOps...), groupOps...)
	emitted := 0
	emitFull := func() {
		if o.emit != nil && len(routeOps)-emitted >= planChunk {
			o.emit(routeOps[emitted:len(routeOps):len(routeOps)])
			emitted = len(routeOps)
		}
	}
	routeOf := func(pfx netip.Prefix, t *target) {
		want := Route{Prefix: pfx, Blackhole: t.nh.Blackhole}
		if !want.Blackhole {
			if t.planEmpty {
				if _, ok := k.Routes[pfx]; ok {
					delRouteOps = append(delRouteOps, Op{Kind: OpDelRoute, Route: Route{Prefix: pfx}})
				}
				return
			}
			want.NexthopID = t.planID
		}
		if have, ok := k.Routes[pfx]; ok && have == want {
			return
		}
		routeOps = append(routeOps, Op{Kind: OpSetRoute, Route: want})
	}
	keptNH := r.keptNH
	notDesired := func(pfx netip.Prefix, kr Route) {
		_, gone := d.withdrawn[pfx]
		if o.KeepUnknown && !gone {
			if !kr.Blackhole {
				keptNH[kr.NexthopID] = true
			}
			return
		}
		delRouteOps = append(delRouteOps, Op{Kind: OpDelRoute, Route: Route{Prefix: pfx}})
	}
	if full {
		// Routes go in map order: sorting a million prefixes costs more
		// than the kernel gains from it.
		for pfx, t := range d.routes.all() {
			routeOf(pfx, t)
			emitFull()
		}
		keptNH = map[uint32]bool{}
		for pfx, kr := range k.Routes {
			if _, ok := d.routes.get(pfx); !ok {
				notDesired(pfx, kr)
			}
		}
		r.keptNH = keptNH
	} else {
		for pfx := range d.dirty {
			if t, ok := d.routes.get(pfx); ok {
				routeOf(pfx, t)
				emitFull()
			} else if kr, ok := k.Routes[pfx]; ok {
				notDesired(pfx, kr)
			}
		}
	}
	clear(d.dirty)
	d.allDirty = false
	// A withdrawn prefix is forgotten once the kernel no longer has it, or
	// once it is being deleted now.
	for pfx := range d.withdrawn {
		if _, ok := k.Routes[pfx]; !ok {
			delete(d.withdrawn, pfx)
		}
	}

	// Objects to remove: groups first (their routes are gone or moved), then
	// single next hops no remaining group holds.
	keepSingle := map[uint32]bool{}
	for _, id := range neededNH {
		keepSingle[id] = true
	}
	for _, id := range ids {
		n := k.Nexthops[id]
		if !n.IsGroup() {
			continue
		}
		if neededGroup[id] {
			continue
		}
		if keptNH[id] || (o.KeepUnknown && !r.claimed[id]) {
			for _, e := range n.Group {
				keepSingle[e.ID] = true
			}
			continue
		}
		delGroupOps = append(delGroupOps, Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: id}})
	}
	for _, id := range ids {
		n := k.Nexthops[id]
		if n.IsGroup() || keepSingle[id] {
			continue
		}
		if keptNH[id] || (o.KeepUnknown && !r.claimed[id]) {
			continue
		}
		delNhOps = append(delNhOps, Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: id}})
	}
	// Forget claims on objects that are gone and not wanted.
	for id := range r.claimed {
		if _, ok := k.Nexthops[id]; !ok && !p.taken[id] {
			if _, owned := r.owner[id]; !owned {
				delete(r.claimed, id)
			}
		}
	}

	out := routeOps // holds nhOps and groupOps first
	out = append(out, delRouteOps...)
	out = append(out, delGroupOps...)
	out = append(out, delNhOps...)
	if o.emit != nil && len(out) > emitted {
		o.emit(out[emitted:len(out):len(out)])
	}
	return out, nil
}

// carry hands the group of a set moved whole (from) to its new members
// (to): the routes keep their group ID and the plan rewrites the group in
// place. It refuses if from has no group or to has one.
func (r *Reconciler) carry(from, to groupKey) bool {
	id, ok := r.groupID[from]
	if _, has := r.groupID[to]; !ok || has {
		return false
	}
	delete(r.groupID, from)
	r.assign(to, id)
	if was, ok := r.wasEmpty[from]; ok {
		r.wasEmpty[to] = was
		delete(r.wasEmpty, from)
	}
	return true
}

func (r *Reconciler) assign(key groupKey, id uint32) {
	r.groupID[key] = id
	r.owner[id] = key
	r.claimed[id] = true
}

// GroupID returns the kernel group ID given to nh, if any.
func (r *Reconciler) GroupID(nh Nexthops) (uint32, bool) {
	id, ok := r.groupID[nh.canonical().key()]
	return id, ok
}

// PlanGroups returns only the nexthop and group writes: members on links
// that went down leave every group at once (one write per group), before any
// route is looked at. Routes and removals follow with a full Plan.
func (r *Reconciler) PlanGroups(d *Desired, k *Kernel) ([]Op, error) {
	ops, err := r.Plan(d, k, PlanOptions{KeepUnknown: true, groupsOnly: true})
	return ops, err
}
