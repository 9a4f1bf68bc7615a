// Package policy is closd's routing policy engine: it compiles the policy
// section of the configuration (prefix lists, AS-path lists, community lists,
// route-maps) once, and then decides per route whether it is accepted or
// advertised and with which attributes. It is pure: no I/O, no clock, no
// goroutines, safe for concurrent use after Compile.
//
// Semantics follow FRR's bgpd wherever the config schema can express the
// same thing (first matching entry in seq order decides, implicit deny at the
// end of every list and route-map, ge/le ranges on prefix lists, "_" in
// AS-path regular expressions); docs/policy.md compares the two line by line.
//
// Apply never modifies the attributes it is given. A permitted route whose
// set clauses change nothing comes back with the very same pointer, and that
// path allocates nothing; otherwise the result is a shallow copy whose
// changed fields are fresh and whose other slices are shared with the input,
// so callers must treat both as read-only (the RIB interns them anyway).
package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// Set is a compiled policy: every named list and route-map of one config.
type Set struct {
	prefixLists    map[string]*PrefixList
	asPathLists    map[string]*ASPathList
	communityLists map[string]*CommunityList
	routeMaps      map[string]*RouteMap
}

// Compile checks and compiles a policy. Errors name the list or route-map,
// the entry and what would be valid; a route-map referring to a list that is
// not defined is an error here rather than a silent deny later.
func Compile(p *config.Policy) (*Set, error) {
	s := &Set{
		prefixLists:    map[string]*PrefixList{},
		asPathLists:    map[string]*ASPathList{},
		communityLists: map[string]*CommunityList{},
		routeMaps:      map[string]*RouteMap{},
	}
	if p == nil {
		return s, nil
	}
	for _, pl := range p.PrefixLists {
		if err := checkName("prefix-list", pl.Name, s.prefixLists); err != nil {
			return nil, err
		}
		l, err := compilePrefixList(pl)
		if err != nil {
			return nil, err
		}
		s.prefixLists[pl.Name] = l
	}
	for _, al := range p.ASPathLists {
		if err := checkName("as-path-list", al.Name, s.asPathLists); err != nil {
			return nil, err
		}
		l, err := compileASPathList(al)
		if err != nil {
			return nil, err
		}
		s.asPathLists[al.Name] = l
	}
	for _, cl := range p.CommunityLists {
		if err := checkName("community-list", cl.Name, s.communityLists); err != nil {
			return nil, err
		}
		l, err := compileCommunityList(cl)
		if err != nil {
			return nil, err
		}
		s.communityLists[cl.Name] = l
	}
	for _, rm := range p.RouteMaps {
		if err := checkName("route-map", rm.Name, s.routeMaps); err != nil {
			return nil, err
		}
		m, err := s.compileRouteMap(rm)
		if err != nil {
			return nil, err
		}
		s.routeMaps[rm.Name] = m
	}
	return s, nil
}

func checkName[T any](kind, name string, seen map[string]*T) error {
	if name == "" {
		return fmt.Errorf("a %s has an empty name; every list needs one to be referred to", kind)
	}
	if seen[name] != nil {
		return fmt.Errorf("%s %q is defined twice; names must be unique", kind, name)
	}
	return nil
}

func names[T any](m map[string]*T) string {
	if len(m) == 0 {
		return "(none)"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// PrefixList returns the compiled prefix list, nil when none has that name;
// redistribution filters use it directly.
func (s *Set) PrefixList(name string) *PrefixList { return s.prefixLists[name] }

// ASPathList returns the compiled AS-path list, nil when none has that name.
func (s *Set) ASPathList(name string) *ASPathList { return s.asPathLists[name] }

// CommunityList returns the compiled community list, nil when none has that name.
func (s *Set) CommunityList(name string) *CommunityList { return s.communityLists[name] }

// RouteMap returns the compiled route-map, nil when none has that name.
func (s *Set) RouteMap(name string) *RouteMap { return s.routeMaps[name] }

// CheckRouteMaps reports the first of names that is not a defined route-map,
// for callers that validate neighbor references against a compiled Set.
func (s *Set) CheckRouteMaps(refs ...string) error {
	for _, n := range refs {
		if n != "" && s.routeMaps[n] == nil {
			return fmt.Errorf("route-map %q is not defined; defined: %s", n, names(s.routeMaps))
		}
	}
	return nil
}

// Route is what a route-map looks at.
type Route struct {
	Prefix netip.Prefix
	// Attrs is read, never written; nil is treated as no attributes.
	Attrs *wire.PathAttrs
}

// Reason says why a Decision came out as it did, for logs and clos show.
type Reason uint8

const (
	// Permitted: a permit entry matched.
	Permitted Reason = iota
	// DeniedByEntry: a deny entry matched.
	DeniedByEntry
	// NoEntryMatched: the implicit deny at the end of the route-map.
	NoEntryMatched
	// UnknownRouteMap: the name given to Apply is not defined.
	UnknownRouteMap
	// NoRouteMap: the neighbor has no route-map in that direction; everything
	// passes unchanged.
	NoRouteMap
)

func (r Reason) String() string {
	switch r {
	case Permitted:
		return "permitted"
	case DeniedByEntry:
		return "denied by a deny entry"
	case NoEntryMatched:
		return "no entry matched (implicit deny)"
	case UnknownRouteMap:
		return "route-map is not defined (deny)"
	case NoRouteMap:
		return "no route-map (permit)"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Decision is the outcome of running one route through a route-map.
type Decision struct {
	Permit bool
	// Attrs is the route's attributes after the set clauses: the input
	// pointer itself when nothing changed, nil when denied.
	Attrs *wire.PathAttrs
	// Weight is the local "set weight" (not a path attribute; best-path
	// selection compares it first, as FRR does).
	Weight    uint32
	HasWeight bool
	// Seq is the entry that decided; 0 for an implicit deny or no route-map.
	Seq    int
	Reason Reason
}

// Changed reports whether a set clause changed the attributes of in.
func (d Decision) Changed(in *wire.PathAttrs) bool { return d.Permit && d.Attrs != in }

// Explain formats the decision for a log line.
func (d Decision) Explain(routeMap string) string {
	if d.Reason == NoRouteMap {
		return d.Reason.String()
	}
	if d.Seq != 0 {
		return fmt.Sprintf("route-map %q seq %d: %s", routeMap, d.Seq, d.Reason)
	}
	return fmt.Sprintf("route-map %q: %s", routeMap, d.Reason)
}

var noAttrs wire.PathAttrs

// Apply runs r through the named route-map: the first entry, in seq order,
// whose match clauses all hold decides; a deny entry drops the route, a permit
// entry applies its set clauses. A route no entry matches is denied, and so is
// every route when the route-map is not defined (Compile has already refused
// references to undefined maps from other maps; neighbors are checked with
// CheckRouteMaps).
func (s *Set) Apply(name string, r Route) Decision {
	m := s.routeMaps[name]
	if m == nil {
		return Decision{Reason: UnknownRouteMap}
	}
	return m.Apply(r)
}

// Apply runs r through the route-map; see Set.Apply.
func (m *RouteMap) Apply(r Route) Decision {
	a := r.Attrs
	if a == nil {
		a = &noAttrs
	}
	var x evalCtx
	defer x.release()
	for i := range m.entries {
		e := &m.entries[i]
		if !e.matches(r.Prefix, a, &x) {
			continue
		}
		if !e.permit {
			return Decision{Seq: e.seq, Reason: DeniedByEntry}
		}
		d := Decision{Permit: true, Attrs: r.Attrs, Seq: e.seq, Reason: Permitted,
			Weight: e.set.weight, HasWeight: e.set.hasWeight}
		if out := e.set.apply(r.Prefix, a); out != nil {
			d.Attrs = out
		}
		return d
	}
	return Decision{Reason: NoEntryMatched}
}

// Neighbor binds a neighbor's inbound and outbound route-maps to a compiled
// Set, in the shape the RIB calls, so that the RIB needs only this package's
// plain values and not the other way round. An empty name lets every route
// through unchanged, as a neighbor without a route-map does in FRR.
type Neighbor struct {
	In, Out string
	Set     *Set
}

// ImportDecision runs a route received from the neighbor through In.
func (n Neighbor) ImportDecision(p netip.Prefix, attrs *wire.PathAttrs) Decision {
	return n.decide(n.In, p, attrs)
}

// ExportDecision runs a route about to be advertised to the neighbor
// through Out.
func (n Neighbor) ExportDecision(p netip.Prefix, attrs *wire.PathAttrs) Decision {
	return n.decide(n.Out, p, attrs)
}

// Import is ImportDecision reduced to the attributes and the verdict.
func (n Neighbor) Import(p netip.Prefix, attrs *wire.PathAttrs) (*wire.PathAttrs, bool) {
	d := n.decide(n.In, p, attrs)
	return d.Attrs, d.Permit
}

// Export is ExportDecision reduced to the attributes and the verdict.
func (n Neighbor) Export(p netip.Prefix, attrs *wire.PathAttrs) (*wire.PathAttrs, bool) {
	d := n.decide(n.Out, p, attrs)
	return d.Attrs, d.Permit
}

func (n Neighbor) decide(name string, p netip.Prefix, attrs *wire.PathAttrs) Decision {
	if name == "" {
		return Decision{Permit: true, Attrs: attrs, Reason: NoRouteMap}
	}
	if n.Set == nil {
		return Decision{Reason: UnknownRouteMap}
	}
	return n.Set.Apply(name, Route{Prefix: p, Attrs: attrs})
}
