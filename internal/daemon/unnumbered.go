package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/ra"
)

// Unnumbered neighbors (`interface: swp1`) have no configured address: the
// peer's IPv6 link-local address is learned from its router advertisements
// on that interface, or from the connection it opens to us, and the session
// runs over fe80::…%swp1. closd advertises itself on those interfaces too
// (lifetime 0: a BGP speaker, not a default router), so a peer such as FRR
// with `neighbor swp1 interface` learns us the same way. IPv4 routes are
// carried with IPv6 next hops (RFC 8950), installed as `via inet6`.

type raEvent struct {
	ifname string
	src    netip.Addr
	hops   int
	b      []byte
}

type raErrEvent struct{ err error }

// startUnnumbered opens router discovery when interface neighbors exist.
func (d *Daemon) startUnnumbered() error {
	if len(d.unnum) == 0 {
		return nil
	}
	d.ra = ra.New(ra.Config{})
	c := d.o.RA
	if c == nil {
		rc, err := ra.Listen()
		if err != nil {
			return err
		}
		for name := range d.unnum {
			// Best effort: the interface may not exist yet, and the
			// kernel joins all-routers itself where forwarding is on.
			_ = rc.Join(name)
		}
		c = rc
	}
	d.raConn = c
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, ifname, src, hops, err := c.ReadFrom(buf)
			if err != nil {
				select {
				case <-d.done:
					return
				default:
				}
				if errors.Is(err, ra.ErrClosed) {
					return
				}
				select {
				case d.events <- raErrEvent{err}:
				case <-d.done:
					return
				}
				// A failing socket must not spin.
				select {
				case <-time.After(time.Second):
				case <-d.done:
					return
				}
				continue
			}
			if d.unnum[ifname] == nil {
				continue
			}
			ev := raEvent{ifname: ifname, src: src, hops: hops, b: append([]byte(nil), buf[:n]...)}
			select {
			case d.events <- ev:
			case <-d.done:
				return
			}
		}
	}()
	return nil
}

// stopUnnumbered closes the router discovery socket, ending its reader.
func (d *Daemon) stopUnnumbered() {
	if d.raConn != nil {
		d.raConn.Close()
	}
}

// unnumLink tells router discovery about an interface's state.
func (d *Daemon) unnumLink(s LinkState, now time.Time) {
	if d.ra == nil || d.unnum[s.Name] == nil {
		return
	}
	if s.Gone {
		d.raActions(d.ra.Remove(s.Name), now)
		return
	}
	if rc, ok := d.raConn.(*ra.RawConn); ok && s.Up {
		_ = rc.Join(s.Name)
		rc.Forget()
	}
	d.raActions(d.ra.Add(now, s.Name, s.HW, s.Up), now)
}

func (d *Daemon) raReceived(ev raEvent, now time.Time) {
	if d.ra == nil {
		return
	}
	d.raActions(d.ra.Receive(now, ev.ifname, ev.src, ev.hops, ev.b), now)
}

func (d *Daemon) raTick(now time.Time) {
	if d.ra == nil {
		return
	}
	if dl := d.ra.NextDeadline(); !dl.IsZero() && !dl.After(now) {
		d.raActions(d.ra.Tick(now), now)
	}
}

func (d *Daemon) raDeadline() time.Time {
	if d.ra == nil {
		return time.Time{}
	}
	return d.ra.NextDeadline()
}

func (d *Daemon) raActions(acts []ra.Action, now time.Time) {
	for _, a := range append([]ra.Action(nil), acts...) {
		switch a := a.(type) {
		case ra.Send:
			if err := d.raConn.WriteTo(a.Packet, a.Ifname, a.Dst); err != nil {
				// Expected while the link-local address is tentative.
				d.log.Debug("sending a router advertisement", "interface", a.Ifname, "err", err)
			}
		case ra.Learned:
			if p := d.unnum[a.Ifname]; p != nil {
				d.learnPeer(p, a.Addr, "router advertisement", true)
			}
		case ra.Lost:
			if p := d.unnum[a.Ifname]; p != nil && p.remote.Addr() == a.Addr {
				p.log.Info("peer address forgotten", "address", a.Addr)
				p.remote = netip.AddrPortFrom(netip.Addr{}, p.remote.Port())
				d.unnumberedBFDLost(p)
			}
		}
	}
}

// learnPeer sets the address an unnumbered neighbor is dialed at, and with
// dial, dials at once if the session is waiting to.
func (d *Daemon) learnPeer(p *peer, a netip.Addr, how string, dial bool) {
	a = a.WithZone("")
	if p.remote.Addr() == a {
		return
	}
	p.log.Info("peer address learned", "address", a, "from", how)
	p.remote = netip.AddrPortFrom(a, p.remote.Port())
	d.unnumberedBFDLearned(p)
	if dial && p.main != nil && p.main.fsm.State() == fsm.StateConnect && p.main.conn == nil && !p.n.Shutdown {
		d.dial(p)
	}
}

// unnumberedAccept finds the interface neighbor a link-local connection
// came in for, by the interface it arrived on; the peer's address is
// learned from it.
func (d *Daemon) unnumberedAccept(remote netip.Addr) *peer {
	if !remote.Is6() || !remote.IsLinkLocalUnicast() || remote.Zone() == "" {
		return nil
	}
	p := d.unnum[remote.Zone()]
	if p == nil {
		return nil
	}
	if p.main == nil || p.main.conn == nil {
		d.learnPeer(p, remote, "its connection", false)
	}
	return p
}

// waitingForAddress reports an unnumbered neighbor not yet heard from: it
// cannot be dialed, and the fsm retries after ConnectRetry.
func waitingForAddress(p *peer) bool {
	return p.n.Interface != "" && !p.remote.Addr().IsValid()
}

// unnumberedCheck refuses what an interface neighbor cannot have yet.
func unnumberedCheck(n config.Neighbor) error {
	if n.Password != "" {
		return errors.New("password: TCP MD5 on an unnumbered neighbor is not supported by this build of closd (the key would need the peer's link-local address and interface); remove it or give the peer's address")
	}
	return nil
}

// extendedNextHop is the RFC 8950 capability of an unnumbered neighbor
// carrying IPv4: its IPv4 routes have the peer's IPv6 address as next hop.
func extendedNextHop(n config.Neighbor, fams []wire.Family) []wire.ExtendedNextHop {
	if n.Interface == "" || !slices.Contains(fams, wire.IPv4Unicast) {
		return nil
	}
	return []wire.ExtendedNextHop{{NLRI: wire.IPv4Unicast, NextHopAFI: wire.AFIIPv6}}
}

// unnumAdd registers an interface neighbor added by a config reload:
// router discovery starts if it was not running, on the link's known state.
func (d *Daemon) unnumAdd(p *peer, now time.Time) {
	d.unnum[p.n.Interface] = p
	if d.ra == nil {
		if err := d.startUnnumbered(); err != nil {
			p.log.Warn("router discovery: the peer can still connect to us, but is not learned from its advertisements", "err", err)
			return
		}
	}
	if s, ok := d.links[p.n.Interface]; ok {
		d.unnumLink(s, now)
	}
}

// unnumRemove forgets an interface neighbor removed by a config reload.
func (d *Daemon) unnumRemove(p *peer) {
	if d.unnum[p.n.Interface] != p {
		return
	}
	delete(d.unnum, p.n.Interface)
	if d.ra != nil {
		d.raActions(d.ra.Remove(p.n.Interface), d.now())
	}
}
