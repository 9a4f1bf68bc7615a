package daemon

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/fib"
)

// ErrNoFIB is returned by FIB when closd runs without one (--fib=false).
var ErrNoFIB = errors.New("closd runs without a FIB (--fib=false): it installs no routes")

// UpdateGroup is one update group: neighbors that are sent the same
// UPDATEs, encoded once.
type UpdateGroup struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	LocalAS uint32 `json:"local_as"`
	// Export names the export policy: route-map, prepend, policy version.
	Export           string         `json:"export,omitempty"`
	NextHopSelf      bool           `json:"next_hop_self,omitempty"`
	RemovePrivateAS  bool           `json:"remove_private_as,omitempty"`
	DefaultOriginate bool           `json:"default_originate,omitempty"`
	AddPath          bool           `json:"add_path,omitempty"`
	Members          []netip.Addr   `json:"members"`
	Prefixes         map[string]int `json:"prefixes"`
	Pending          int            `json:"pending"`
}

// UpdateGroups returns the RIB's update groups.
func (d *Daemon) UpdateGroups(ctx context.Context) ([]UpdateGroup, error) {
	var out []UpdateGroup
	err := d.query(ctx, func() {
		for _, g := range d.rib.UpdateGroups() {
			u := UpdateGroup{
				ID: g.Index, Type: "ebgp", LocalAS: g.LocalAS, Export: g.Export,
				NextHopSelf: g.NextHopSelf, RemovePrivateAS: g.RemovePrivateAS != rib.KeepPrivateAS,
				DefaultOriginate: g.DefaultOriginate, AddPath: g.AddPath,
				Members: []netip.Addr{}, Prefixes: map[string]int{}, Pending: g.Pending,
			}
			if g.Type == rib.IBGP {
				u.Type = "ibgp"
			}
			for _, m := range g.Members {
				if s := d.byRIB[m]; s != nil {
					u.Members = append(u.Members, s.p.remote.Addr())
				}
			}
			slices.SortFunc(u.Members, netip.Addr.Compare)
			for f, n := range g.Prefixes {
				u.Prefixes[f.String()] = n
			}
			out = append(out, u)
		}
	})
	return out, err
}

// FIBNexthop is one member of a route's next-hop set.
type FIBNexthop struct {
	Gateway   netip.Addr `json:"gateway,omitzero"`
	Interface string     `json:"interface,omitempty"`
	Ifindex   int        `json:"ifindex"`
	Weight    uint16     `json:"weight"`
}

// FIBRoute compares one prefix: what closd wants and what the kernel has.
type FIBRoute struct {
	Prefix netip.Prefix `json:"prefix"`
	// Want and Kernel are the next hops; a nil list with Blackhole false
	// means absent.
	Want            []FIBNexthop `json:"want"`
	WantBlackhole   bool         `json:"want_blackhole,omitempty"`
	Kernel          []FIBNexthop `json:"kernel"`
	KernelBlackhole bool         `json:"kernel_blackhole,omitempty"`
	// Status is ok, missing (wanted, not in the kernel), differs, or
	// extra (ours in the kernel, not wanted: left from a previous run
	// until the sweep, or being removed).
	Status string `json:"status"`
}

// FIBFailure is a write being retried.
type FIBFailure struct {
	Prefix netip.Prefix `json:"prefix,omitzero"`
	Object string       `json:"object,omitempty"`
	Op     string       `json:"op"`
	Error  string       `json:"error"`
	Tries  int          `json:"tries"`
}

// FIBStatus is GET /v1/fib.
type FIBStatus struct {
	Routes      []FIBRoute   `json:"routes"`
	Failures    []FIBFailure `json:"failures"`
	Wanted      int          `json:"wanted"`
	Groups      int          `json:"groups"`
	Writes      int          `json:"writes"`
	Differences int          `json:"differences"`
}

// FIB compares the routes closd wants in the kernel with the kernel's.
func (d *Daemon) FIB(ctx context.Context) (FIBStatus, error) {
	var st FIBStatus
	var err error
	qerr := d.query(ctx, func() {
		if d.fib == nil {
			err = ErrNoFIB
			return
		}
		k := d.fib.Kernel()
		links := map[int]string{}
		for i, l := range k.Links {
			links[i] = l.Name
		}
		prefixes := map[netip.Prefix]bool{}
		for p := range k.Routes {
			prefixes[p] = true
		}
		for _, m := range d.best {
			for k := range m {
				prefixes[k.prefix()] = true
			}
		}
		for p := range d.discard {
			prefixes[p] = true
		}
		for p := range prefixes {
			r := FIBRoute{Prefix: p}
			if nh, ok := d.fib.Get(p); ok {
				r.WantBlackhole = nh.Blackhole
				r.Want = []FIBNexthop{}
				for _, m := range nh.Members {
					name := m.Ifname
					if name == "" {
						name = links[m.Ifindex]
					}
					r.Want = append(r.Want, FIBNexthop{Gateway: m.Gateway, Interface: name, Ifindex: m.Ifindex, Weight: max(m.Weight, 1)})
				}
			}
			if kr, ok := k.Routes[p]; ok {
				r.KernelBlackhole = kr.Blackhole
				r.Kernel = kernelMembers(k, kr.NexthopID, links)
			}
			if r.Want == nil && !r.WantBlackhole && r.Kernel == nil && !r.KernelBlackhole {
				continue
			}
			sortNH(r.Want)
			sortNH(r.Kernel)
			switch {
			case (r.Want != nil || r.WantBlackhole) && r.Kernel == nil && !r.KernelBlackhole:
				r.Status = "missing"
			case r.Want == nil && !r.WantBlackhole:
				r.Status = "extra"
			case r.WantBlackhole != r.KernelBlackhole || !slices.EqualFunc(r.Want, r.Kernel, sameNH):
				r.Status = "differs"
			default:
				r.Status = "ok"
			}
			if r.Status != "ok" {
				st.Differences++
			}
			st.Routes = append(st.Routes, r)
		}
		slices.SortFunc(st.Routes, func(a, b FIBRoute) int {
			if a.Prefix.Addr().Is4() != b.Prefix.Addr().Is4() {
				if a.Prefix.Addr().Is4() {
					return -1
				}
				return 1
			}
			if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
				return c
			}
			return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
		})
		st.Failures = []FIBFailure{}
		for _, f := range d.fib.Failures() {
			ff := FIBFailure{Prefix: f.Prefix, Object: f.Object, Op: f.Op, Tries: f.Tries}
			if f.Err != nil {
				ff.Error = f.Err.Error()
			}
			st.Failures = append(st.Failures, ff)
		}
		s := d.fib.Stats()
		st.Wanted, st.Groups, st.Writes = s.Desired, s.Groups, s.Ops
	})
	if st.Routes == nil {
		st.Routes = []FIBRoute{}
	}
	return st, errors.Join(qerr, err)
}

func kernelMembers(k *fib.Kernel, id uint32, links map[int]string) []FIBNexthop {
	out := []FIBNexthop{}
	nh, ok := k.Nexthops[id]
	if !ok {
		return out
	}
	one := func(n fib.Nexthop, w uint16) {
		out = append(out, FIBNexthop{Gateway: n.Gateway, Interface: links[n.Ifindex], Ifindex: n.Ifindex, Weight: max(w, 1)})
	}
	if !nh.IsGroup() {
		one(nh, 1)
		return out
	}
	for _, g := range nh.Group {
		if m, ok := k.Nexthops[g.ID]; ok {
			one(m, g.Weight)
		}
	}
	return out
}

func sortNH(ns []FIBNexthop) {
	slices.SortFunc(ns, func(a, b FIBNexthop) int {
		if c := a.Gateway.Compare(b.Gateway); c != 0 {
			return c
		}
		return cmp.Compare(a.Ifindex, b.Ifindex)
	})
}

func sameNH(a, b FIBNexthop) bool {
	return a.Gateway == b.Gateway && a.Ifindex == b.Ifindex && a.Weight == b.Weight
}

// InterfaceStatus is one interface as closd sees it.
type InterfaceStatus struct {
	Name    string         `json:"name"`
	Index   int            `json:"index"`
	AdminUp bool           `json:"admin_up"`
	OperUp  bool           `json:"oper_up"`
	Addrs   []netip.Prefix `json:"addresses"`
	// Neighbors are BGP neighbors on one of its subnets (or, for IPv6
	// link-local sessions, on it by zone).
	Neighbors []netip.Addr `json:"neighbors"`
	// Routes counts routes closd wants through it.
	Routes int `json:"routes"`
}

// Interfaces lists the interfaces: from the FIB's view of the kernel when
// closd runs one, else from the OS.
func (d *Daemon) Interfaces(ctx context.Context) ([]InterfaceStatus, error) {
	var links []fib.Link
	perIf := map[int]int{}
	var neighbors []netip.Addr
	zone := map[netip.Addr]string{}
	err := d.query(ctx, func() {
		if d.fib != nil {
			k := d.fib.Kernel()
			for _, l := range k.Links {
				links = append(links, l)
			}
			for _, m := range d.best {
				for k := range m {
					if nh, ok := d.fib.Get(k.prefix()); ok {
						seen := map[int]bool{}
						for _, mb := range nh.Members {
							if !seen[mb.Ifindex] {
								perIf[mb.Ifindex]++
								seen[mb.Ifindex] = true
							}
						}
					}
				}
			}
		}
		for _, p := range d.peers {
			neighbors = append(neighbors, p.remote.Addr())
			if s := p.main; s != nil && s.local.Zone() != "" {
				zone[p.remote.Addr()] = s.local.Zone()
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if links == nil {
		ifs, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		for _, i := range ifs {
			links = append(links, fib.Link{Index: i.Index, Name: i.Name, AdminUp: i.Flags&net.FlagUp != 0, OperUp: i.Flags&net.FlagRunning != 0})
		}
	}
	addrs := d.o.InterfaceAddrs
	if addrs == nil {
		addrs = osInterfaceAddrs
	}
	out := []InterfaceStatus{}
	for _, l := range links {
		is := InterfaceStatus{Name: l.Name, Index: l.Index, AdminUp: l.AdminUp, OperUp: l.OperUp, Addrs: addrs(l.Index), Neighbors: []netip.Addr{}, Routes: perIf[l.Index]}
		if is.Addrs == nil {
			is.Addrs = []netip.Prefix{}
		}
		for _, n := range neighbors {
			if zone[n] == l.Name {
				is.Neighbors = append(is.Neighbors, n)
				continue
			}
			for _, a := range is.Addrs {
				if a.Bits() < a.Addr().BitLen() && a.Masked().Contains(n) {
					is.Neighbors = append(is.Neighbors, n)
					break
				}
			}
		}
		out = append(out, is)
	}
	slices.SortFunc(out, func(a, b InterfaceStatus) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}

func osInterfaceAddrs(index int) []netip.Prefix {
	ifc, err := net.InterfaceByIndex(index)
	if err != nil {
		return nil
	}
	as, err := ifc.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return out
}
