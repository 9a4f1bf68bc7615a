package rib

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// PathInfo describes the peer a policy decision is about.
type PathInfo struct {
	Peer    PeerID
	Type    PeerType
	PeerAS  uint32
	Address netip.Addr
}

// Policy is the hook for prefix lists and route maps (internal/bgp/policy).
// Import sees received attributes, Export the attributes about to be sent
// (after next-hop, AS path and community rewriting). A policy must not
// modify attrs: it returns attrs itself to accept unchanged, or a modified
// copy (PathAttrs.Clone). accept false drops the path. Policies are called
// often; returning the same pointer keeps the engine on its fast path.
type Policy interface {
	Import(p PathInfo, f wire.Family, prefix netip.Prefix, attrs *wire.PathAttrs) (out *wire.PathAttrs, accept bool)
	Export(p PathInfo, f wire.Family, prefix netip.Prefix, attrs *wire.PathAttrs) (out *wire.PathAttrs, accept bool)
}

// AcceptAll is the default policy: everything in, everything out,
// unchanged.
type AcceptAll struct{}

func (AcceptAll) Import(_ PathInfo, _ wire.Family, _ netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	return a, true
}

func (AcceptAll) Export(_ PathInfo, _ wire.Family, _ netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	return a, true
}

func isAcceptAll(p Policy) bool {
	if p == nil {
		return true
	}
	_, ok := p.(AcceptAll)
	return ok
}
