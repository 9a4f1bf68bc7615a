package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
)

// ErrNoSoftIn is returned for the received routes of a neighbor configured
// without soft-reconfiguration-inbound: closd does not keep them.
var ErrNoSoftIn = errors.New("soft-reconfiguration-inbound is not set for this neighbor, so its routes are not kept before the import policy; set it in the neighbor's config and reload")

// ReceivedRoute is one path as the peer sent it, before the import policy.
type ReceivedRoute struct {
	Family      string       `json:"family"`
	Prefix      netip.Prefix `json:"prefix"`
	PathID      uint32       `json:"path_id,omitempty"`
	NextHop     netip.Addr   `json:"next_hop,omitzero"`
	ASPath      string       `json:"as_path"`
	Origin      string       `json:"origin"`
	MED         *uint32      `json:"med,omitempty"`
	LocalPref   *uint32      `json:"local_pref,omitempty"`
	Communities []string     `json:"communities,omitempty"`
}

// ReceivedRoutes is a neighbor's pre-policy Adj-RIB-In.
type ReceivedRoutes struct {
	Neighbor netip.Addr `json:"neighbor"`
	// Established is false when no session is up: the list is then empty.
	Established bool            `json:"established"`
	Routes      []ReceivedRoute `json:"routes"`
}

// ReceivedRoutes returns what the neighbor at addr has sent in its current
// session, before the import policy: ErrNoNeighbor for an unknown address,
// ErrNoSoftIn when the neighbor has no soft-reconfiguration-inbound.
func (d *Daemon) ReceivedRoutes(ctx context.Context, addr netip.Addr) (ReceivedRoutes, error) {
	out := ReceivedRoutes{Neighbor: addr, Routes: []ReceivedRoute{}}
	var err error
	qerr := d.query(ctx, func() {
		var p *peer
		if p, err = d.adminPeer(addr); err != nil {
			return
		}
		if !p.n.SoftReconfigInbound {
			err = fmt.Errorf("%w: %s", ErrNoSoftIn, addr)
			return
		}
		s := p.main
		if s == nil || !s.inRIB {
			return
		}
		out.Established = true
		for _, f := range []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast} {
			e := d.rib.ReceivedRoutes(s.ribID, f, func(r rib.Route) bool {
				out.Routes = append(out.Routes, receivedRoute(f, r))
				return true
			})
			if e != nil {
				err = e
				return
			}
		}
	})
	return out, errors.Join(qerr, err)
}

func receivedRoute(f wire.Family, r rib.Route) ReceivedRoute {
	a := r.Attrs
	rr := ReceivedRoute{Family: f.String(), Prefix: r.Prefix, PathID: r.PathID, ASPath: asPathString(a.ASPath), NextHop: a.NextHop}
	if a.MPReach != nil {
		rr.NextHop = a.MPReach.NextHop
	}
	switch a.Origin {
	case wire.OriginIGP:
		rr.Origin = "igp"
	case wire.OriginEGP:
		rr.Origin = "egp"
	default:
		rr.Origin = "incomplete"
	}
	if a.HasMED {
		rr.MED = &a.MED
	}
	if a.HasLocalPref {
		rr.LocalPref = &a.LocalPref
	}
	for _, c := range a.Communities {
		rr.Communities = append(rr.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
	}
	return rr
}

// softIn re-runs the import policy over the stored copy of what the peer
// sent, for a neighbor with soft-reconfiguration-inbound; false otherwise.
func (d *Daemon) softIn(s *session) bool {
	if !d.rib.SoftIn(s.ribID) {
		return false
	}
	if err := d.rib.SoftReconfigIn(s.ribID); err != nil {
		s.p.log.Error("soft reconfiguration inbound", "err", err)
		return false
	}
	s.p.log.Info("import policy re-run over the stored received routes")
	return true
}
