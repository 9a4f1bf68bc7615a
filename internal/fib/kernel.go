package fib

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"syscall"
)

// GroupEntry is one member of a kernel nexthop group.
type GroupEntry struct {
	ID     uint32
	Weight uint16 // 1..256
}

// Nexthop is a kernel nexthop object: a gateway on an interface, or a group
// of other nexthop objects (Group != nil).
type Nexthop struct {
	ID      uint32
	Gateway netip.Addr
	Ifindex int
	Group   []GroupEntry
}

// IsGroup tells a group object from a single next hop.
func (n Nexthop) IsGroup() bool { return n.Group != nil }

// Route is one of our kernel routes: it uses a nexthop object by ID, or
// discards. NexthopID 0 without Blackhole means a route of ours in a shape we
// do not write (inline next hops); the reconciler replaces it.
type Route struct {
	Prefix    netip.Prefix
	NexthopID uint32
	Blackhole bool
}

// Link is what the reconciler needs to know about an interface.
type Link struct {
	Index   int
	Name    string
	AdminUp bool // IFF_UP
	OperUp  bool // IFF_RUNNING: carrier and operstate
}

// Usable says whether members on the link may carry traffic.
func (l Link) Usable() bool { return l.AdminUp && l.OperUp }

// Kernel is a snapshot of the part of the kernel we own: our routes (by our
// protocol number, table and metric), the nexthop objects in our ID range,
// and the links.
type Kernel struct {
	Nexthops map[uint32]Nexthop
	Routes   map[netip.Prefix]Route
	Links    map[int]Link
}

// NewKernel returns an empty snapshot.
func NewKernel() *Kernel {
	return &Kernel{Nexthops: map[uint32]Nexthop{}, Routes: map[netip.Prefix]Route{}, Links: map[int]Link{}}
}

// Clone deep-copies the snapshot.
func (k *Kernel) Clone() *Kernel {
	c := &Kernel{Nexthops: make(map[uint32]Nexthop, len(k.Nexthops)), Routes: maps.Clone(k.Routes), Links: maps.Clone(k.Links)}
	for id, n := range k.Nexthops {
		n.Group = slices.Clone(n.Group)
		c.Nexthops[id] = n
	}
	if c.Routes == nil {
		c.Routes = map[netip.Prefix]Route{}
	}
	if c.Links == nil {
		c.Links = map[int]Link{}
	}
	return c
}

// OpKind says what a write does.
type OpKind uint8

const (
	// OpNewNexthop creates (or replaces) a single nexthop object.
	OpNewNexthop OpKind = iota + 1
	// OpSetGroup creates or replaces a nexthop group in place, keeping its ID
	// so the routes using it follow without being rewritten.
	OpSetGroup
	// OpSetRoute creates or replaces a route.
	OpSetRoute
	// OpDelRoute deletes a route.
	OpDelRoute
	// OpDelNexthop deletes a nexthop object or group.
	OpDelNexthop
)

func (k OpKind) String() string {
	switch k {
	case OpNewNexthop:
		return "new-nexthop"
	case OpSetGroup:
		return "set-group"
	case OpSetRoute:
		return "set-route"
	case OpDelRoute:
		return "del-route"
	case OpDelNexthop:
		return "del-nexthop"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one kernel write. Nexthop is used by OpNewNexthop, OpSetGroup and
// OpDelNexthop (ID only); Route by OpSetRoute and OpDelRoute (Prefix only).
type Op struct {
	Kind    OpKind
	Nexthop Nexthop
	Route   Route
}

func (o Op) String() string {
	switch o.Kind {
	case OpNewNexthop:
		return fmt.Sprintf("%s id %d via %s dev %d", o.Kind, o.Nexthop.ID, o.Nexthop.Gateway, o.Nexthop.Ifindex)
	case OpSetGroup:
		return fmt.Sprintf("%s id %d group %v", o.Kind, o.Nexthop.ID, o.Nexthop.Group)
	case OpDelNexthop:
		return fmt.Sprintf("%s id %d", o.Kind, o.Nexthop.ID)
	case OpSetRoute:
		if o.Route.Blackhole {
			return fmt.Sprintf("%s %s blackhole", o.Kind, o.Route.Prefix)
		}
		return fmt.Sprintf("%s %s nhid %d", o.Kind, o.Route.Prefix, o.Route.NexthopID)
	case OpDelRoute:
		return fmt.Sprintf("%s %s", o.Kind, o.Route.Prefix)
	}
	return o.Kind.String()
}

// Apply performs one write with Linux's semantics (see docs/fib.md), so
// the fake backend and the FIB's mirror of the kernel agree with the real
// thing. It returns the errno Linux would.
func (k *Kernel) Apply(op Op) error { return k.apply(op, false) }

// applyMirror is Apply for the FIB's mirror, for writes the kernel has
// accepted or will answer (a refusal makes the FIB read the kernel again):
// it skips the check that no IPv6 route uses a group given an IPv4
// member, which looks at every route, tens of milliseconds for each group
// write behind a million routes.
func (k *Kernel) applyMirror(op Op) error { return k.apply(op, true) }

func (k *Kernel) apply(op Op, mirror bool) error {
	switch op.Kind {
	case OpNewNexthop:
		n := op.Nexthop
		if n.ID == 0 || !n.Gateway.IsValid() || n.Ifindex <= 0 || n.Group != nil {
			return syscall.EINVAL
		}
		if l, ok := k.Links[n.Ifindex]; !ok {
			return syscall.ENODEV
		} else if !l.AdminUp {
			return syscall.ENETDOWN
		}
		if old, ok := k.Nexthops[n.ID]; ok && old.IsGroup() {
			return syscall.EINVAL
		}
		if old, ok := k.Nexthops[n.ID]; ok && old.Gateway.Is4() != n.Gateway.Is4() {
			// Linux refuses to change a nexthop's family under routes of the
			// other family; keep the model strict.
			if k.usedByV6(n.ID) && n.Gateway.Is4() {
				return syscall.EINVAL
			}
		}
		k.Nexthops[n.ID] = Nexthop{ID: n.ID, Gateway: n.Gateway, Ifindex: n.Ifindex}
		return nil
	case OpSetGroup:
		n := op.Nexthop
		if n.ID == 0 || len(n.Group) == 0 {
			return syscall.EINVAL
		}
		if old, ok := k.Nexthops[n.ID]; ok && !old.IsGroup() {
			return syscall.EINVAL
		}
		seen := map[uint32]bool{}
		hasV4 := false
		for _, e := range n.Group {
			m, ok := k.Nexthops[e.ID]
			if !ok || m.IsGroup() || seen[e.ID] || e.Weight < 1 || e.Weight > 256 {
				return syscall.EINVAL
			}
			seen[e.ID] = true
			hasV4 = hasV4 || m.Gateway.Is4()
		}
		if hasV4 && !mirror && k.usedByV6(n.ID) {
			return syscall.EINVAL
		}
		k.Nexthops[n.ID] = Nexthop{ID: n.ID, Group: slices.Clone(n.Group)}
		return nil
	case OpSetRoute:
		r := op.Route
		if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() {
			return syscall.EINVAL
		}
		if !r.Blackhole {
			if _, ok := k.Nexthops[r.NexthopID]; !ok {
				return syscall.EINVAL
			}
			if r.Prefix.Addr().Is6() && k.hasV4(r.NexthopID) {
				return syscall.EINVAL
			}
		} else {
			r.NexthopID = 0
		}
		k.Routes[r.Prefix] = r
		return nil
	case OpDelRoute:
		if _, ok := k.Routes[op.Route.Prefix]; !ok {
			return syscall.ESRCH
		}
		delete(k.Routes, op.Route.Prefix)
		return nil
	case OpDelNexthop:
		if _, ok := k.Nexthops[op.Nexthop.ID]; !ok {
			return syscall.ENOENT
		}
		k.removeNexthop(op.Nexthop.ID)
		return nil
	}
	return syscall.EINVAL
}

func (k *Kernel) hasV4(id uint32) bool {
	n := k.Nexthops[id]
	if !n.IsGroup() {
		return n.Gateway.Is4()
	}
	for _, e := range n.Group {
		if k.Nexthops[e.ID].Gateway.Is4() {
			return true
		}
	}
	return false
}

func (k *Kernel) usedByV6(id uint32) bool {
	for _, r := range k.Routes {
		if r.Prefix.Addr().Is6() && r.NexthopID == id {
			return true
		}
	}
	for _, n := range k.Nexthops {
		if n.IsGroup() && slices.ContainsFunc(n.Group, func(e GroupEntry) bool { return e.ID == id }) && k.usedByV6(n.ID) {
			return true
		}
	}
	return false
}

// removeNexthop mirrors Linux's remove_nexthop: a single next hop leaves
// every group holding it, a group left empty goes too, and every route using a
// removed object is deleted with it.
func (k *Kernel) removeNexthop(id uint32) {
	n, ok := k.Nexthops[id]
	if !ok {
		return
	}
	delete(k.Nexthops, id)
	gone := map[uint32]bool{id: true}
	if !n.IsGroup() {
		for gid, g := range k.Nexthops {
			if !g.IsGroup() {
				continue
			}
			i := slices.IndexFunc(g.Group, func(e GroupEntry) bool { return e.ID == id })
			if i < 0 {
				continue
			}
			g.Group = slices.Delete(slices.Clone(g.Group), i, i+1)
			if len(g.Group) == 0 {
				delete(k.Nexthops, gid)
				gone[gid] = true
				continue
			}
			k.Nexthops[gid] = g
		}
	}
	for p, r := range k.Routes {
		if !r.Blackhole && gone[r.NexthopID] {
			delete(k.Routes, p)
		}
	}
}

// LinkDown mirrors Linux's nexthop_flush_dev: every nexthop
// object on the interface is removed (with the cascade of removeNexthop).
// Linux sends no RTM_DELNEXTHOP or RTM_DELROUTE for these, which is why the
// FIB applies this model itself when it sees the link go down.
func (k *Kernel) LinkDown(ifindex int) {
	var ids []uint32
	for id, n := range k.Nexthops {
		if !n.IsGroup() && n.Ifindex == ifindex {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		k.removeNexthop(id)
	}
}

// SetLink records a link's state. A link that stops being usable (admin
// down, or carrier lost: NETDEV_DOWN, or NETDEV_CHANGE without IFF_RUNNING
// and IFF_LOWER_UP) has its nexthops flushed, as Linux does, silently.
func (k *Kernel) SetLink(l Link) {
	old, had := k.Links[l.Index]
	k.Links[l.Index] = l
	if !l.Usable() && (!had || old.Usable()) {
		k.LinkDown(l.Index)
	}
}

// DeleteLink mirrors an interface being removed.
func (k *Kernel) DeleteLink(ifindex int) {
	delete(k.Links, ifindex)
	k.LinkDown(ifindex)
}
