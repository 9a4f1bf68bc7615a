package fib

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Options configure a FIB.
type Options struct {
	// IDs is the nexthop ID range we own (default DefaultIDRange). It must be
	// the range the backend dumps.
	IDs IDRange
	// Logger gets one line per failure and per recovery (default
	// slog.Default()).
	Logger *slog.Logger
	// RetryMin and RetryMax bound the back-off between retries of failed
	// writes (default 200ms and 30s).
	RetryMin, RetryMax time.Duration
	// OnNeigh, if set, is called from the event loop for neighbour events.
	OnNeigh func(Neigh)
}

// Failure is a write that did not go through and is being retried.
type Failure struct {
	// Prefix is set for route writes; Object names the nexthop or group
	// otherwise.
	Prefix netip.Prefix
	Object string
	Op     string
	Err    error
	Since  time.Time
	Tries  int
}

// Stats count the FIB's work.
type Stats struct {
	Desired  int // prefixes
	Groups   int // distinct next-hop sets
	Ops      int // writes sent
	Batches  int // Apply calls
	Resyncs  int // full dumps after the first
	Failures int
}

// FIB keeps the kernel's table equal to the desired routes. Set and Delete
// change what is wanted; the event loop started by Start writes it, reacts to
// kernel events and retries failures. All methods are safe for concurrent use.
type FIB struct {
	b   Backend
	o   Options
	log *slog.Logger

	mu          sync.Mutex
	desired     *Desired
	rec         *Reconciler
	mirror      *Kernel
	stale       bool // mirror may be wrong: dump before planning
	staleNH     bool // links and nexthops may be wrong: dump them before planning
	fastPending bool // a member went down or up: rewrite groups first
	needFull    bool // the next plan must look at every prefix
	keepUnknown bool
	failures    map[string]*Failure
	stats       Stats
	backoff     time.Duration

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a FIB writing through b. Nothing is read or written before
// Start.
func New(b Backend, o Options) (*FIB, error) {
	if o.IDs == (IDRange{}) {
		o.IDs = DefaultIDRange
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 200 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	rec, err := NewReconciler(o.IDs)
	if err != nil {
		return nil, err
	}
	return &FIB{
		b: b, o: o, log: o.Logger,
		desired: NewDesired(), rec: rec, mirror: NewKernel(), stale: true,
		keepUnknown: true, failures: map[string]*Failure{},
		kick: make(chan struct{}, 1),
	}, nil
}

// Start subscribes to kernel events, reads the kernel's state, adopts what
// is ours (routes with our protocol, nexthops in our range: nothing is
// flushed) and starts the loop. Routes of ours that nobody sets are kept
// until Sweep.
func (f *FIB) Start(ctx context.Context) error {
	lctx, cancel := context.WithCancel(context.Background())
	events, err := f.b.Subscribe(lctx)
	if err != nil {
		cancel()
		return fmt.Errorf("fib: subscribe: %w", err)
	}
	f.mu.Lock()
	err = f.dumpLocked(ctx)
	f.mu.Unlock()
	if err != nil {
		cancel()
		return err
	}
	f.cancel = cancel
	f.done = make(chan struct{})
	go f.loop(lctx, events)
	return nil
}

// Close stops the loop. Routes stay in the kernel, so a restart adopts them.
func (f *FIB) Close() error {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
	return nil
}

// Set makes p forward to nh; the loop writes it soon, Sync writes it now.
func (f *FIB) Set(p netip.Prefix, nh Nexthops) error {
	f.mu.Lock()
	err := f.desired.Set(p, nh)
	f.mu.Unlock()
	if err == nil {
		f.poke()
	}
	return err
}

// Update runs fn on the desired state with the loop held off, so many
// changes (a whole ECMP set moving to new members) are planned together:
// prefixes leaving a set for one new set carry its kernel group along, and
// the change costs one group write instead of a write per prefix. Changes
// fn made before returning an error stay.
func (f *FIB) Update(fn func(d *Desired) error) error {
	f.mu.Lock()
	err := fn(f.desired)
	f.mu.Unlock()
	f.poke()
	return err
}

// SetGatewayDown takes a member out of every group holding it (down) or
// puts it back, at once: one write per group, whatever the number of
// prefixes. For failures the kernel cannot see (BFD) before BGP withdraws;
// link failures need no call, the kernel's events drive the same path.
func (f *FIB) SetGatewayDown(gw netip.Addr, ifindex int, down bool) {
	f.mu.Lock()
	f.desired.SetGatewayDown(gw, ifindex, down)
	f.fastPending = true
	f.mu.Unlock()
	f.poke()
}

// Delete withdraws p. It reports whether p was desired.
func (f *FIB) Delete(p netip.Prefix) bool {
	f.mu.Lock()
	ok := f.desired.Delete(p)
	f.mu.Unlock()
	if ok {
		f.poke()
	}
	return ok
}

// Get returns what p should forward to.
func (f *FIB) Get(p netip.Prefix) (Nexthops, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desired.Get(p)
}

func (f *FIB) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Sync writes the difference now. It returns an error summarising the writes
// that failed; they are retried by the loop.
func (f *FIB) Sync(ctx context.Context) error {
	f.mu.Lock()
	err := f.syncLocked(ctx, false)
	f.mu.Unlock()
	if err != nil {
		f.poke() // the loop owns retries
	}
	return err
}

// Sweep stops keeping unknown routes and objects of ours (the grace period
// after a restart is over) and syncs, removing them.
func (f *FIB) Sweep(ctx context.Context) error {
	f.mu.Lock()
	f.keepUnknown = false
	f.needFull = true
	err := f.syncLocked(ctx, false)
	f.mu.Unlock()
	if err != nil {
		f.poke()
	}
	return err
}

// Failures lists the writes being retried, oldest first.
func (f *FIB) Failures() []Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Failure, 0, len(f.failures))
	for _, fl := range f.failures {
		out = append(out, *fl)
	}
	slices.SortFunc(out, func(a, b Failure) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		if c := a.Prefix.Compare(b.Prefix); c != 0 {
			return c
		}
		return compareStrings(a.Object, b.Object)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Stats returns counters.
func (f *FIB) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Desired = f.desired.Len()
	s.Groups = f.desired.Groups()
	s.Failures = len(f.failures)
	return s
}

// Kernel returns the FIB's view of the kernel.
func (f *FIB) Kernel() *Kernel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mirror.Clone()
}

func (f *FIB) dumpLocked(ctx context.Context) error {
	k, err := f.b.Dump(ctx)
	if err != nil {
		return fmt.Errorf("fib: dump: %w", err)
	}
	f.mirror = k
	f.stale = false
	f.staleNH = false
	f.needFull = true
	return nil
}

// syncLocked plans and applies. groupsOnly is the fast path after a link
// change: rewrite the affected groups (one write each) before looking at
// routes.
func (f *FIB) syncLocked(ctx context.Context, groupsOnly bool) error {
	if f.stale {
		if err := f.dumpLocked(ctx); err != nil {
			f.needFull = true
			return err
		}
		f.stats.Resyncs++
	}
	if f.staleNH {
		if err := f.refreshNexthopsLocked(ctx); err != nil {
			return err
		}
	}
	var ops []Op
	var res results
	var aerr error
	optimistic := false
	if groupsOnly {
		var err error
		if ops, err = f.rec.PlanGroups(f.desired, f.mirror); err != nil {
			return err
		}
		if len(ops) > 0 {
			var r []error
			r, aerr = f.b.Apply(ctx, ops)
			res.add(r)
		}
	} else {
		var err error
		if ops, res, aerr, optimistic, err = f.planApplyLocked(ctx); err != nil {
			return err
		}
	}
	if len(ops) == 0 {
		if !groupsOnly {
			f.clearFailuresLocked(nil)
		}
		return nil
	}
	f.stats.Ops += len(ops)
	f.stats.Batches++
	now := time.Now()
	failed := map[string]bool{}
	var errs []error
	// A big plan that went through: the mirror is already up to date, and
	// there is nothing to look at in a million writes.
	clean := optimistic && aerr == nil && len(res.fails) == 0 && res.n == len(ops)
	for i := 0; i < len(ops) && !clean; i++ {
		op := ops[i]
		e := res.at(i)
		if e == nil && aerr != nil && i >= res.n {
			e = aerr
		}
		if e == nil && aerr == nil {
			if optimistic {
				continue
			}
			if merr := f.mirror.applyMirror(op); merr != nil {
				// The kernel took a write our model refuses: trust the
				// kernel and read it again.
				f.stale = true
			}
			continue
		}
		if e == nil {
			f.stale = true
			continue
		}
		if (op.Kind == OpDelRoute && errors.Is(e, syscall.ESRCH)) || (op.Kind == OpDelNexthop && errors.Is(e, syscall.ENOENT)) {
			// Already gone, which is what we wanted.
			if !optimistic {
				_ = f.mirror.applyMirror(op)
			}
			continue
		}
		f.stale = true
		f.needFull = true
		key := f.noteFailureLocked(op, e, now)
		failed[key] = true
		if len(errs) < 5 {
			errs = append(errs, fmt.Errorf("%s: %w", op, e))
		}
	}
	if !groupsOnly {
		f.clearFailuresLocked(failed)
	}
	if aerr != nil {
		errs = append(errs, aerr)
	}
	if len(failed) > 0 || aerr != nil {
		return fmt.Errorf("fib: %d of %d writes failed: %w", len(failed), len(ops), errors.Join(errs...))
	}
	return nil
}

// planApplyLocked plans (in full if needFull) and writes the plan while
// it is being made: the planner hands its writes over planChunk at a time
// from another goroutine, so on a first load the kernel starts on the
// first routes while the rest are planned. On a big plan the mirror's
// bookkeeping then runs on that goroutine, once the plan no longer reads
// the mirror, while the kernel works; it is optimistic: a write that then
// fails makes the mirror stale, and it is read again before the next plan.
// res holds the results of the writes done, in order; after a channel
// error (aerr) the rest is not written.
func (f *FIB) planApplyLocked(ctx context.Context) (ops []Op, res results, aerr error, optimistic bool, err error) {
	o := PlanOptions{KeepUnknown: f.keepUnknown, Incremental: !f.needFull}
	f.needFull = false
	chunks := make(chan []Op, 16)
	// A first load: the mirror has no route, and its million new routes
	// are collected into a map of their own from the first chunk on, by a
	// third goroutine, while the rest is planned and the kernel works (the
	// plan reads the mirror, so nothing may write it before the plan ends).
	var built chan []Op
	var builtRoutes map[netip.Prefix]Route
	builtDone := make(chan struct{})
	if n := f.desired.Len(); len(f.mirror.Routes) == 0 && n > 4096 {
		built = make(chan []Op, 256)
		go func() {
			defer close(builtDone)
			builtRoutes = make(map[netip.Prefix]Route, n)
			for c := range built {
				for _, op := range c {
					if op.Kind == OpSetRoute {
						r := op.Route
						if r.Blackhole {
							r.NexthopID = 0
						}
						builtRoutes[r.Prefix] = r
					}
				}
			}
		}()
	} else {
		close(builtDone)
	}
	o.emit = func(c []Op) {
		chunks <- c
		if built != nil {
			built <- c
		}
	}
	var mirrorErr bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		ops, err = f.rec.Plan(f.desired, f.mirror, o)
		close(chunks)
		if built != nil {
			close(built)
		}
		<-builtDone
		if err != nil || len(ops) <= 4096 {
			return
		}
		optimistic = true
		mirrorErr = !f.mirrorBig(ops, builtRoutes)
	}()
	for c := range chunks {
		if aerr != nil {
			continue // let the planner finish; what it still hands over is not written
		}
		r, e := f.b.Apply(ctx, c)
		res.add(r)
		if e == nil && len(r) != len(c) {
			e = fmt.Errorf("fib: backend answered %d of %d writes", len(r), len(c))
		}
		aerr = e
	}
	<-done
	if err != nil {
		// A plan fails before it hands anything over (ID exhaustion).
		return nil, results{}, nil, false, err
	}
	if mirrorErr {
		f.stale = true
	}
	if !optimistic && len(f.mirror.Routes) == 0 && len(ops) > 1024 {
		f.mirror.Routes = make(map[netip.Prefix]Route, len(ops))
	}
	return ops, res, aerr, optimistic, nil
}

// mirrorBig brings the mirror up to date with a big plan, before its
// results are known (optimistic: a write that then fails makes the mirror
// stale). built, if not nil, holds the routes the plan sets, collected
// while it was made, for a mirror without routes: when the plan is the
// usual shape (objects, then only route sets, then object removals) the
// map is taken as the mirror's routes instead of inserting them again. It
// reports whether the model took every write.
func (f *FIB) mirrorBig(ops []Op, built map[netip.Prefix]Route) bool {
	ok := true
	apply := func(ops []Op) {
		for _, op := range ops {
			if f.mirror.applyMirror(op) != nil {
				ok = false
			}
		}
	}
	if built != nil && len(f.mirror.Routes) == 0 {
		isRoute := func(op Op) bool { return op.Kind == OpSetRoute || op.Kind == OpDelRoute }
		i := slices.IndexFunc(ops, isRoute)
		j := i
		for i >= 0 && j < len(ops) && ops[j].Kind == OpSetRoute {
			j++
		}
		if i >= 0 && j-i == len(built) && !slices.ContainsFunc(ops[j:], isRoute) {
			apply(ops[:i])
			f.mirror.Routes = built
			apply(ops[j:])
			return ok
		}
	}
	if len(f.mirror.Routes) == 0 {
		f.mirror.Routes = make(map[netip.Prefix]Route, len(ops))
	}
	apply(ops)
	return ok
}

// results are the answers to a plan's writes: how many are known (the
// first n), and the failures among them, in order. Nearly every answer is
// a success, so a million writes do not need a million-entry slice.
type results struct {
	n     int
	fails []failAt
	next  int // cursor for at, which is called with increasing i
}

type failAt struct {
	i   int
	err error
}

func (r *results) add(errs []error) {
	for i, e := range errs {
		if e != nil {
			r.fails = append(r.fails, failAt{r.n + i, e})
		}
	}
	r.n += len(errs)
}

// at returns the answer to write i (nil for success or unknown); calls
// must come with i increasing.
func (r *results) at(i int) error {
	for r.next < len(r.fails) && r.fails[r.next].i < i {
		r.next++
	}
	if r.next < len(r.fails) && r.fails[r.next].i == i {
		return r.fails[r.next].err
	}
	return nil
}

// refreshNexthopsLocked re-reads the links and nexthop objects (not the
// routes, which may be a million). Link and nexthop notifications can
// describe a state older than our last write (they queue behind it, and
// Linux flushes nexthops on link down without a word), so they only mark
// the objects stale; the objects are read again before planning, and routes
// whose object is gone leave the mirror, as Linux deleted them.
func (f *FIB) refreshNexthopsLocked(ctx context.Context) error {
	od, ok := f.b.(ObjectDumper)
	if !ok {
		f.stale = true
		f.staleNH = false
		return f.dumpLocked(ctx)
	}
	links, nhs, err := od.DumpObjects(ctx)
	if err != nil {
		return fmt.Errorf("fib: dump links and nexthops: %w", err)
	}
	f.mirror.Links = links
	f.mirror.Nexthops = nhs
	for p, r := range f.mirror.Routes {
		if _, ok := nhs[r.NexthopID]; !ok && !r.Blackhole && f.o.IDs.Contains(r.NexthopID) {
			delete(f.mirror.Routes, p)
			f.desired.MarkDirty(p)
		}
	}
	f.staleNH = false
	return nil
}

func failureKey(op Op) string {
	switch op.Kind {
	case OpSetRoute, OpDelRoute:
		return "route " + op.Route.Prefix.String()
	}
	return fmt.Sprintf("nexthop %d", op.Nexthop.ID)
}

func (f *FIB) noteFailureLocked(op Op, err error, now time.Time) string {
	key := failureKey(op)
	fl := f.failures[key]
	if fl == nil || fl.Err.Error() != err.Error() {
		f.log.Warn("fib: kernel write failed, will retry", "op", op.String(), "err", err)
		since := now
		tries := 0
		if fl != nil {
			since, tries = fl.Since, fl.Tries
		}
		fl = &Failure{Op: op.Kind.String(), Err: err, Since: since, Tries: tries}
		if op.Kind == OpSetRoute || op.Kind == OpDelRoute {
			fl.Prefix = op.Route.Prefix
		} else {
			fl.Object = key
		}
		f.failures[key] = fl
	}
	fl.Tries++
	return key
}

// clearFailuresLocked drops failures not in still, after a full plan: what
// the plan no longer needs to write has been fixed.
func (f *FIB) clearFailuresLocked(still map[string]bool) {
	for key, fl := range f.failures {
		if !still[key] {
			f.log.Info("fib: kernel write recovered", "object", key, "tries", fl.Tries)
			delete(f.failures, key)
		}
	}
}

func (f *FIB) loop(ctx context.Context, events <-chan Event) {
	defer close(f.done)
	var retry *time.Timer
	var retryC <-chan time.Time
	schedule := func(err error) {
		f.mu.Lock()
		if err == nil {
			f.backoff = 0
			f.mu.Unlock()
			if retry != nil {
				retry.Stop()
				retryC = nil
			}
			return
		}
		if f.backoff == 0 {
			f.backoff = f.o.RetryMin
		} else {
			f.backoff = min(2*f.backoff, f.o.RetryMax)
		}
		d := f.backoff
		f.mu.Unlock()
		if retry == nil {
			retry = time.NewTimer(d)
		} else {
			retry.Reset(d)
		}
		retryC = retry.C
	}
	for {
		select {
		case <-ctx.Done():
			if retry != nil {
				retry.Stop()
			}
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			f.mu.Lock()
			fast := f.handleLocked(ev)
			// Take what else is queued before writing, so a burst costs one
			// plan.
		drain:
			for i := 0; i < 4096; i++ {
				select {
				case ev, ok := <-events:
					if !ok {
						break drain
					}
					fast = f.handleLocked(ev) || fast
				default:
					break drain
				}
			}
			if fast {
				if err := f.syncLocked(ctx, true); err != nil {
					f.log.Debug("fib: fast group update", "err", err)
				}
			}
			err := f.syncLocked(ctx, false)
			f.mu.Unlock()
			schedule(err)
		case <-f.kick:
			f.mu.Lock()
			if f.fastPending {
				f.fastPending = false
				if err := f.syncLocked(ctx, true); err != nil {
					f.log.Debug("fib: fast group update", "err", err)
				}
			}
			err := f.syncLocked(ctx, false)
			f.mu.Unlock()
			schedule(err)
		case <-retryC:
			retryC = nil
			f.mu.Lock()
			f.stale = true
			err := f.syncLocked(ctx, false)
			f.mu.Unlock()
			schedule(err)
		}
	}
}

// handleLocked applies an event to the mirror; it reports whether groups
// need the fast path.
func (f *FIB) handleLocked(ev Event) bool {
	switch ev.Kind {
	case EventResync:
		f.stale = true
		return false
	case EventNeigh:
		if f.o.OnNeigh != nil {
			f.o.OnNeigh(ev.Neigh)
		}
		return f.neighLocked(ev.Neigh)
	// Link and nexthop events only mark the objects stale: they are read
	// again before planning, and the routes Linux dropped with them are
	// found then (see refreshNexthopsLocked).
	case EventLink:
		old, had := f.mirror.Links[ev.Link.Index]
		f.mirror.Links[ev.Link.Index] = ev.Link
		f.staleNH = true
		return !had || old.Usable() != ev.Link.Usable()
	case EventLinkDeleted:
		delete(f.mirror.Links, ev.Link.Index)
		f.staleNH = true
		return true
	case EventNexthop, EventNexthopDeleted:
		f.staleNH = true
		return false
	case EventRoute, EventRouteDeleted:
		f.desired.MarkDirty(ev.Route.Prefix)
	}
	f.mirror.mirror(ev)
	return false
}
