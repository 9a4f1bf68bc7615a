package daemon

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
)

// ErrNotRunning is returned by the snapshot methods when the loop is not
// running (before Run or after it returned).
var ErrNotRunning = errors.New("daemon: not running")

// NeighborStatus is a read-only snapshot of one neighbor.
type NeighborStatus struct {
	Address     netip.Addr `json:"address"`
	Description string     `json:"description,omitempty"`
	State       string     `json:"state"`
	// AdminDown is set for a neighbor shut down by configuration or by
	// the operator (ShutdownNeighbor), with the RFC 9003 message sent.
	AdminDown       bool          `json:"admin_down,omitempty"`
	ShutdownMessage string        `json:"shutdown_message,omitempty"`
	Uptime          time.Duration `json:"uptime,omitempty"`
	// Negotiated is what the last OPEN exchange settled (zero before one).
	PeerAS       uint32   `json:"peer_as,omitempty"`
	PeerID       string   `json:"peer_router_id,omitempty"`
	HoldTime     float64  `json:"hold_time_seconds,omitempty"`
	Families     []string `json:"families,omitempty"`
	AS4          bool     `json:"as4,omitempty"`
	RouteRefresh bool     `json:"route_refresh,omitempty"`
	Local        string   `json:"local,omitempty"`
	Remote       string   `json:"remote,omitempty"`
	// Interface is set for an unnumbered neighbor; Address is then the
	// link-local address learned on it (zero before one is).
	Interface string `json:"interface,omitempty"`
	// PrefixesReceived counts prefixes the peer announces now, before
	// import policy and loop checks; PrefixesAccepted those in the RIB
	// after them; PrefixesAdvertised those we announce to it.
	PrefixesReceived   int `json:"prefixes_received"`
	PrefixesAccepted   int `json:"prefixes_accepted"`
	PrefixesAdvertised int `json:"prefixes_advertised"`
	// PrefixesBest counts prefixes whose best path is through this peer.
	PrefixesBest int `json:"prefixes_best"`
	// Resets counts how often an established session went down.
	Resets uint64 `json:"resets"`
	// Session is the state machine's own view (counters, last NOTIFICATIONs).
	Session fsm.Status `json:"session"`
	// BFD is set for a neighbor with bfd on.
	BFD *BFDStatus `json:"bfd,omitempty"`
}

// Route is one best path of the Loc-RIB.
type Route struct {
	Family      string       `json:"family"`
	Prefix      netip.Prefix `json:"prefix"`
	Local       bool         `json:"local,omitempty"`
	Peer        netip.Addr   `json:"peer,omitzero"`
	NextHop     netip.Addr   `json:"next_hop,omitzero"`
	ASPath      string       `json:"as_path"`
	Communities int          `json:"communities,omitempty"`
}

// query runs fn on the loop goroutine.
func (d *Daemon) query(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case d.queries <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return ErrNotRunning
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Neighbors returns a snapshot of every configured neighbor, in config order.
func (d *Daemon) Neighbors(ctx context.Context) ([]NeighborStatus, error) {
	var out []NeighborStatus
	err := d.query(ctx, func() {
		now := d.now()
		all := d.bfdPeers()
		for _, p := range d.peers {
			st := p.main.fsm.Status()
			// The RIB's UPDATEs go out past the fsm.
			st.MessagesOut.Update += p.main.ribSent
			ns := NeighborStatus{
				Address:          p.remote.Addr(),
				Description:      p.n.Description,
				Interface:        p.n.Interface,
				State:            p.main.fsm.State().String(),
				AdminDown:        p.n.Shutdown,
				ShutdownMessage:  p.n.ShutdownMessage,
				PrefixesReceived: len(p.received),
				PrefixesBest:     d.bestBy.of(p.remote.Addr()),
				Resets:           p.resets,
				Session:          st,
				BFD:              d.bfdStatus(p, all),
			}
			if p.main.fsm.State() == fsm.StateEstablished {
				ns.Uptime = now.Sub(st.EstablishedAt)
			}
			if s := p.main; s.inRIB {
				// Walks the peer's tables: snapshots are for operators,
				// not for the hot path.
				for _, f := range s.neg.Families {
					d.rib.LocRIB(f, s.ribID, func(rib.Route) bool { ns.PrefixesAccepted++; return true })
					d.rib.AdjRIBOut(s.ribID, f, func(rib.Route) bool { ns.PrefixesAdvertised++; return true })
				}
			}
			if n := p.lastNeg; n.PeerID.IsValid() {
				ns.PeerAS, ns.PeerID = n.PeerAS, n.PeerID.String()
				ns.HoldTime = n.HoldTime.Seconds()
				for _, f := range n.Families {
					ns.Families = append(ns.Families, f.String())
				}
				ns.AS4, ns.RouteRefresh = n.Options.AS4, n.RouteRefresh
			}
			if c := p.main.conn; c != nil {
				ns.Local, ns.Remote = c.tc.LocalAddr().String(), c.tc.RemoteAddr().String()
			}
			out = append(out, ns)
		}
	})
	return out, err
}

// Routes returns the best path of every prefix in the Loc-RIB, sorted.
func (d *Daemon) Routes(ctx context.Context) ([]Route, error) {
	var out []Route
	err := d.query(ctx, func() {
		for f, m := range d.best {
			for k, r := range m {
				out = append(out, r.route(f, k.prefix(), d.bestBy.addr(r.peer)))
			}
		}
	})
	slices.SortFunc(out, func(a, b Route) int {
		if c := cmp.Compare(a.Family, b.Family); c != 0 {
			return c
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())*2 + cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
	})
	return out, err
}

// SetNetworks replaces the locally originated prefixes (config networks):
// new ones are announced, missing ones withdrawn from every peer.
func (d *Daemon) SetNetworks(ctx context.Context, nets []netip.Prefix) error {
	var err error
	qerr := d.query(ctx, func() {
		want := map[netip.Prefix]bool{}
		for _, p := range nets {
			want[p.Masked()] = true
		}
		var keep []netip.Prefix
		for _, p := range d.nets {
			if !want[p] {
				if e := d.rib.Unoriginate(p); e != nil {
					err = errors.Join(err, e)
					keep = append(keep, p)
				}
				continue
			}
			delete(want, p)
			keep = append(keep, p)
		}
		for _, p := range nets {
			p = p.Masked()
			if !want[p] {
				continue
			}
			delete(want, p)
			if e := d.rib.Originate(p, nil); e != nil {
				err = errors.Join(err, e)
				continue
			}
			keep = append(keep, p)
		}
		d.nets = keep
	})
	return errors.Join(qerr, err)
}
