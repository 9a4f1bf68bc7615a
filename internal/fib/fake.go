package fib

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
)

// Fake is an in-memory kernel with Linux's nexthop and route semantics (see
// [Kernel.Apply] and docs/fib.md). Changes made through its "by hand" methods
// are reported to subscribers, as Linux reports other processes' changes;
// writes through Apply are not echoed, as the Linux backend drops its own
// echoes. Linux sends nothing for the cascade of a link going down, and
// neither does Fake.
type Fake struct {
	mu    sync.Mutex
	k     *Kernel
	subs  []*fakeSub
	fault func(Op) error
	// loseAcks, if > 0, makes the next Apply lose the answers after that
	// many ops (see LoseAcks).
	loseAcks int
	ops      int
	writes   int
}

type fakeSub struct {
	ch   chan Event
	lost bool // a resync notice is queued for events dropped since
	done <-chan struct{}
}

// NewFake returns an empty fake kernel.
func NewFake() *Fake { return &Fake{k: NewKernel()} }

// Dump implements Backend.
func (f *Fake) Dump(ctx context.Context) (*Kernel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.k.Clone(), nil
}

// DumpObjects implements ObjectDumper.
func (f *Fake) DumpObjects(ctx context.Context) (map[int]Link, map[uint32]Nexthop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.k.Clone()
	return c.Links, c.Nexthops, nil
}

// Apply implements Backend: every op is tried in order, failures do not stop
// the batch, as with netlink messages sent in one buffer.
func (f *Fake) Apply(ctx context.Context, ops []Op) ([]error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := make([]error, len(ops))
	if len(ops) > 0 {
		f.writes++
	}
	for i, op := range ops {
		f.ops++
		if f.fault != nil {
			if err := f.fault(op); err != nil {
				res[i] = err
				continue
			}
		}
		res[i] = f.k.Apply(op)
	}
	if n := f.loseAcks; n > 0 && n < len(ops) {
		// The kernel did every write; the answers after the n-th are
		// lost, as when the request socket overflows (ENOBUFS).
		f.loseAcks = 0
		return res[:n], fmt.Errorf("fib: netlink ack: %w", syscall.ENOBUFS)
	}
	return res, nil
}

// LoseAcks makes the next Apply of more than n ops perform them all but
// report only the first n results and ENOBUFS for the channel: the caller
// does not know what happened to the rest and must re-dump.
func (f *Fake) LoseAcks(n int) {
	f.mu.Lock()
	f.loseAcks = n
	f.mu.Unlock()
}

// Subscribe implements Backend. The channel holds up to 256 events; when a
// reader falls behind, events are dropped and an EventResync is delivered
// instead, as ENOBUFS does on a netlink socket.
func (f *Fake) Subscribe(ctx context.Context) (<-chan Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSub{ch: make(chan Event, 256), done: ctx.Done()}
	f.subs = append(f.subs, s)
	return s.ch, nil
}

// Close implements Backend.
func (f *Fake) Close() error { return nil }

func (f *Fake) emit(ev Event) {
	for _, s := range f.subs {
		select {
		case <-s.done:
			continue
		default:
		}
		// The last slot is kept for the resync notice, so a reader that
		// fell behind always learns it must re-dump.
		if len(s.ch) >= cap(s.ch)-1 {
			if !s.lost {
				s.ch <- Event{Kind: EventResync}
				s.lost = true
			}
			continue
		}
		s.lost = false
		s.ch <- ev
	}
}

// SetFault makes Apply fail ops for which fn returns an error (nil: none).
func (f *Fake) SetFault(fn func(Op) error) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// Ops counts ops applied (or failed) so far; Writes counts non-empty Apply
// calls.
func (f *Fake) Ops() (ops, writes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops, f.writes
}

// Snapshot returns a copy of the fake kernel's state.
func (f *Fake) Snapshot() *Kernel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.k.Clone()
}

// SetLink changes a link (admin-down flushes its nexthops) and reports it.
func (f *Fake) SetLink(l Link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k.SetLink(l)
	f.emit(Event{Kind: EventLink, Link: l})
}

// DeleteLink removes a link and reports it.
func (f *Fake) DeleteLink(ifindex int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k.DeleteLink(ifindex)
	f.emit(Event{Kind: EventLinkDeleted, Link: Link{Index: ifindex}})
}

// DeleteRouteByHand deletes a route as `ip route del` would.
func (f *Fake) DeleteRouteByHand(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.k.Apply(Op{Kind: OpDelRoute, Route: Route{Prefix: p}}); err != nil {
		return err
	}
	f.emit(Event{Kind: EventRouteDeleted, Route: Route{Prefix: p}})
	return nil
}

// DeleteNexthopByHand deletes a nexthop object as `ip nexthop del` would:
// Linux reports the object's deletion but not the cascade (groups shrunk,
// routes removed).
func (f *Fake) DeleteNexthopByHand(id uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.k.Apply(Op{Kind: OpDelNexthop, Nexthop: Nexthop{ID: id}}); err != nil {
		return err
	}
	f.emit(Event{Kind: EventNexthopDeleted, Nexthop: Nexthop{ID: id}})
	return nil
}

// ApplyByHand performs a write as another process would, and reports it.
func (f *Fake) ApplyByHand(op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.k.Apply(op); err != nil {
		return err
	}
	switch op.Kind {
	case OpSetRoute:
		r := op.Route
		if r.Blackhole {
			r.NexthopID = 0
		}
		f.emit(Event{Kind: EventRoute, Route: r})
	case OpDelRoute:
		f.emit(Event{Kind: EventRouteDeleted, Route: op.Route})
	case OpNewNexthop, OpSetGroup:
		f.emit(Event{Kind: EventNexthop, Nexthop: f.k.Nexthops[op.Nexthop.ID]})
	case OpDelNexthop:
		f.emit(Event{Kind: EventNexthopDeleted, Nexthop: op.Nexthop})
	}
	return nil
}

// Overflow reports lost events, as ENOBUFS would.
func (f *Fake) Overflow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(Event{Kind: EventResync})
}

// Neigh reports a neighbour entry change, as the kernel does when ARP/ND
// resolution of a gateway fails or succeeds.
func (f *Fake) Neigh(n Neigh) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(Event{Kind: EventNeigh, Neigh: n})
}
