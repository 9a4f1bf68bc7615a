package fib

import (
	"context"
	"net/netip"
)

// Backend reads and writes the kernel's forwarding state.
type Backend interface {
	// Dump returns our routes, the nexthop objects in our ID range and all
	// links.
	Dump(ctx context.Context) (*Kernel, error)
	// Apply performs ops in order, batched, and returns one result per op
	// (nil for success). The error is for a failure of the channel itself;
	// then results may be partial (nil entries after the failure mean
	// "unknown", and the caller must re-dump).
	Apply(ctx context.Context, ops []Op) ([]error, error)
	// Subscribe delivers kernel changes made by others (links, our routes,
	// our nexthops, neighbours) until ctx ends. A lost event (ENOBUFS) is
	// reported as EventResync: the receiver must re-dump.
	Subscribe(ctx context.Context) (<-chan Event, error)
	Close() error
}

// ObjectDumper is implemented by backends that can read the links and the
// nexthop objects alone, which is cheap next to a dump of a full table.
type ObjectDumper interface {
	DumpObjects(ctx context.Context) (map[int]Link, map[uint32]Nexthop, error)
}

// EventKind says what changed in the kernel.
type EventKind uint8

const (
	// EventLink: a link appeared or changed state (Link).
	EventLink EventKind = iota + 1
	// EventLinkDeleted: a link went away (Link.Index).
	EventLinkDeleted
	// EventRoute: one of our routes was added or replaced (Route).
	EventRoute
	// EventRouteDeleted: one of our routes was deleted (Route.Prefix).
	EventRouteDeleted
	// EventNexthop: a nexthop object in our range was added or replaced.
	EventNexthop
	// EventNexthopDeleted: a nexthop object in our range was deleted.
	EventNexthopDeleted
	// EventNeigh: a neighbour entry changed (Neigh).
	EventNeigh
	// EventResync: events were lost; the state must be dumped again.
	EventResync
)

// Neigh is a neighbour table entry (ARP/ND) as seen in an event.
type Neigh struct {
	Ifindex int
	Addr    netip.Addr
	State   uint16 // NUD_* bits
	Deleted bool
}

// Event is one kernel change.
type Event struct {
	Kind    EventKind
	Link    Link
	Route   Route
	Nexthop Nexthop
	Neigh   Neigh
}

// mirror applies an event to a snapshot with the kernel's semantics.
func (k *Kernel) mirror(ev Event) {
	switch ev.Kind {
	case EventLink:
		k.SetLink(ev.Link)
	case EventLinkDeleted:
		k.DeleteLink(ev.Link.Index)
	case EventRoute:
		k.Routes[ev.Route.Prefix] = ev.Route
	case EventRouteDeleted:
		delete(k.Routes, ev.Route.Prefix)
	case EventNexthop:
		k.Nexthops[ev.Nexthop.ID] = ev.Nexthop
	case EventNexthopDeleted:
		k.removeNexthop(ev.Nexthop.ID)
	}
}
