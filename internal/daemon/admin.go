package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"unicode/utf8"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/wire"
)

// Errors of the admin actions; the API maps them to HTTP statuses.
var (
	// ErrNoNeighbor: the address is not a neighbor of this closd.
	ErrNoNeighbor = errors.New("no neighbor")
	// ErrInvalid: the request itself is wrong (a message too long, an
	// unknown clear mode).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request contradicts the configuration, like
	// enabling a neighbor the config shuts down.
	ErrConflict = errors.New("conflicts with the configuration")
)

// MaxShutdownMessage is RFC 9003's limit on a shutdown communication, in
// octets of UTF-8.
const MaxShutdownMessage = 255

// ClearMode says how ClearNeighbors resets sessions.
type ClearMode string

// Clear modes: a hard reset closes the session with Cease/Administrative
// Reset and opens it again; the soft ones keep it and re-exchange routes,
// in by asking the peer for a ROUTE-REFRESH (RFC 2918), or with
// soft-reconfiguration-inbound from the stored copy, out by sending
// our Adj-RIB-Out again.
const (
	ClearHard    ClearMode = "hard"
	ClearSoftIn  ClearMode = "in"
	ClearSoftOut ClearMode = "out"
	ClearSoft    ClearMode = "soft"
)

// CheckShutdownMessage reports whether msg may be sent as an RFC 9003
// shutdown communication.
func CheckShutdownMessage(msg string) error {
	if !utf8.ValidString(msg) {
		return fmt.Errorf("%w: shutdown message is not valid UTF-8", ErrInvalid)
	}
	if len(msg) > MaxShutdownMessage {
		return fmt.Errorf("%w: shutdown message is %d octets; RFC 9003 allows at most %d", ErrInvalid, len(msg), MaxShutdownMessage)
	}
	return nil
}

// adminPeer finds the neighbor an admin action is about.
func (d *Daemon) adminPeer(addr netip.Addr) (*peer, error) {
	p := d.byAddr[addr.Unmap().WithZone("")]
	if p == nil {
		return nil, fmt.Errorf("%w %s", ErrNoNeighbor, addr)
	}
	return p, nil
}

// ShutdownNeighbor stops the neighbor's session with Cease/Administrative
// Shutdown carrying msg (RFC 9003) and keeps it down, refusing its
// connections, until EnableNeighbor. The shutdown outlives a reload.
func (d *Daemon) ShutdownNeighbor(ctx context.Context, addr netip.Addr, msg string) error {
	if err := CheckShutdownMessage(msg); err != nil {
		return err
	}
	var err error
	qerr := d.query(ctx, func() {
		var p *peer
		if p, err = d.adminPeer(addr); err != nil {
			return
		}
		if p.dyn != nil {
			err = fmt.Errorf("%w: %s is a dynamic neighbor of listen-range %s: clear it, or shut the range down in the config", ErrConflict, addr, p.dyn.prefix)
			return
		}
		d.stopPeer(p, msg)
		p.adminDown = true
		p.n.Shutdown, p.n.ShutdownMessage = true, msg
		p.log.Info("neighbor shut down by the operator", "message", msg)
	})
	return errors.Join(qerr, err)
}

// stopPeer closes every session of p with Cease/Administrative Shutdown.
func (d *Daemon) stopPeer(p *peer, msg string) {
	now := d.now()
	d.abortDial(p)
	for _, s := range []*session{p.main, p.second} {
		if s == nil {
			continue
		}
		d.step(s, fsm.ManualStop{Message: msg}, now)
		if s.conn != nil {
			d.closeConn(s)
		}
	}
	p.second = nil
	d.removeBFD(p)
}

// EnableNeighbor undoes ShutdownNeighbor: the session starts again. A
// neighbor the configuration shuts down is refused with ErrConflict.
func (d *Daemon) EnableNeighbor(ctx context.Context, addr netip.Addr) error {
	var err error
	qerr := d.query(ctx, func() {
		var p *peer
		if p, err = d.adminPeer(addr); err != nil {
			return
		}
		if !p.n.Shutdown {
			return
		}
		if !p.adminDown {
			err = fmt.Errorf("%w: neighbor %s is shut down by the configuration (shutdown: true); remove that and reload", ErrConflict, addr)
			return
		}
		p.adminDown = false
		p.n.Shutdown, p.n.ShutdownMessage = false, ""
		d.addBFD(p, netip.Addr{})
		d.step(p.main, fsm.ManualStart{}, d.now())
		p.log.Info("neighbor enabled by the operator")
	})
	return errors.Join(qerr, err)
}

// ClearNeighbors resets the session of the neighbor at addr, or of every
// neighbor when addr is the zero Addr, and returns the neighbors it acted
// on. Soft modes skip sessions that are not established, and soft in
// those whose peer did not announce route refresh.
func (d *Daemon) ClearNeighbors(ctx context.Context, addr netip.Addr, mode ClearMode) ([]netip.Addr, error) {
	switch mode {
	case ClearHard, ClearSoftIn, ClearSoftOut, ClearSoft:
	default:
		return nil, fmt.Errorf("%w: clear mode %q; want hard, in, out or soft", ErrInvalid, mode)
	}
	var done []netip.Addr
	var err error
	qerr := d.query(ctx, func() {
		ps := d.peers
		if addr.IsValid() {
			p, e := d.adminPeer(addr)
			if e != nil {
				err = e
				return
			}
			ps = []*peer{p}
		}
		for _, p := range append([]*peer(nil), ps...) {
			if d.clearPeer(p, mode) {
				done = append(done, p.remote.Addr())
			}
		}
	})
	return done, errors.Join(qerr, err)
}

func (d *Daemon) clearPeer(p *peer, mode ClearMode) bool {
	if p.n.Shutdown {
		return false
	}
	s := p.main
	if mode == ClearHard {
		now := d.now()
		d.abortDial(p)
		for _, s := range []*session{p.main, p.second} {
			if s == nil || s.fsm.State() == fsm.StateIdle {
				continue
			}
			d.step(s, fsm.ManualStop{Reset: true}, now)
			if s.conn != nil {
				d.closeConn(s)
			}
		}
		p.second = nil
		if p.dyn == nil {
			d.step(p.main, fsm.ManualStart{}, now)
		}
		p.log.Info("session cleared by the operator")
		return true
	}
	if !s.inRIB || s.fsm.State() != fsm.StateEstablished {
		return false
	}
	acted := false
	if mode == ClearSoftIn || mode == ClearSoft {
		acted = d.refreshIn(s) || acted
	}
	if mode == ClearSoftOut || mode == ClearSoft {
		for _, f := range s.neg.Families {
			if err := d.rib.RouteRefresh(s.ribID, f, false); err != nil {
				p.log.Warn("soft clear out", "family", f.String(), "err", err)
			}
		}
		acted = true
	}
	if acted {
		p.log.Info("session soft-cleared by the operator", "mode", string(mode))
	}
	return acted
}

// refreshIn runs the import policy anew over the peer's routes: over the
// stored copy with soft-reconfiguration-inbound (softin.go), otherwise by
// asking the peer to send them again (RFC 2918); false when it cannot.
func (d *Daemon) refreshIn(s *session) bool {
	if d.softIn(s) {
		return true
	}
	if !s.neg.RouteRefresh || s.conn == nil || s.conn.closed {
		s.p.log.Warn("peer did not announce route refresh: cannot re-run import policy without a reset")
		return false
	}
	for _, f := range s.neg.Families {
		b, err := wire.Append(nil, &wire.RouteRefresh{Family: f}, s.fsm.Options())
		if err != nil {
			s.p.log.Error("encoding a ROUTE-REFRESH", "err", err)
			return false
		}
		d.send(s, b)
	}
	return true
}
