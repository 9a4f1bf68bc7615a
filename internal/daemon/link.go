package daemon

import (
	"context"
	"net"
	"net/netip"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/config"
)

// LinkState is an interface's operational state as the kernel reports it.
type LinkState struct {
	Name string
	// Up is administratively up with carrier (IFF_UP and IFF_RUNNING).
	Up bool
	HW net.HardwareAddr
	// Gone is set when the interface was deleted.
	Gone bool
}

// LinkWatcher reports interface state: every existing interface first, then
// each change, until ctx ends; then it closes ch. Options.Links is one;
// nil means netlink on Linux.
type LinkWatcher interface {
	Watch(ctx context.Context, ch chan<- LinkState) error
}

// FakeLinks is a LinkWatcher for tests: Set reports a state.
type FakeLinks struct {
	ch chan LinkState
}

// NewFakeLinks returns a watcher whose states are those passed to Set.
func NewFakeLinks() *FakeLinks { return &FakeLinks{ch: make(chan LinkState, 64)} }

// Set reports s to the daemon watching.
func (f *FakeLinks) Set(s LinkState) { f.ch <- s }

// Watch forwards what Set reports until ctx ends.
func (f *FakeLinks) Watch(ctx context.Context, ch chan<- LinkState) error {
	go func() {
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-f.ch:
				select {
				case ch <- s:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return nil
}

type linkEvent struct{ s LinkState }

// fallOver reports whether p's session drops the moment its interface goes
// down (fast external fall-over): unnumbered neighbors and directly
// connected eBGP ones. Multihop and iBGP sessions may have another path.
func fallOver(p *peer, localAS uint32) bool {
	if p.n.Interface != "" {
		return true
	}
	return p.n.Multihop == 0 && external(p.n.RemoteAS, localAS)
}

// needLinks reports whether any neighbor needs link state.
func (d *Daemon) needLinks() bool {
	for _, p := range d.peers {
		if fallOver(p, d.cfg.ASN) {
			return true
		}
	}
	for _, r := range d.ranges {
		if r.n.Multihop == 0 && external(r.n.RemoteAS, d.cfg.ASN) {
			return true
		}
	}
	return false
}

// startLinks starts watching interfaces when a neighbor needs it.
func (d *Daemon) startLinks(ctx context.Context) error {
	if !d.needLinks() && len(d.unnum) == 0 {
		return nil
	}
	w := d.o.Links
	if w == nil {
		w = netlinkLinks{}
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan LinkState, 64)
	if err := w.Watch(ctx, ch); err != nil {
		cancel()
		return err
	}
	d.linkCancel = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			select {
			case s, ok := <-ch:
				if !ok {
					return
				}
				select {
				case d.events <- linkEvent{s}:
				case <-d.done:
				}
			case <-d.done:
				// stopLinks cancels the watcher, which then closes ch:
				// waiting for that means it has ended too.
				for range ch {
				}
				return
			}
		}
	}()
	return nil
}

// stopLinks ends the link watcher.
func (d *Daemon) stopLinks() {
	if d.linkCancel != nil {
		d.linkCancel()
	}
}

// linkChanged records an interface's state, drives router discovery on it
// and drops the sessions that run over it when it goes down.
func (d *Daemon) linkChanged(s LinkState) {
	now := d.now()
	old, known := d.links[s.Name]
	if s.Gone {
		delete(d.links, s.Name)
		s.Up = false
	} else {
		d.links[s.Name] = s
	}
	d.unnumLink(s, now)
	if known && !old.Up && s.Up {
		d.linkBack(s.Name)
		return
	}
	if !known || !old.Up || s.Up {
		return
	}
	for _, p := range d.peers {
		for _, ss := range []*session{p.main, p.second} {
			if ss == nil || ss.ifname != s.Name || ss.conn == nil {
				continue
			}
			p.log.Info("interface down: dropping the session (fast fall-over)", "interface", s.Name, "state", ss.fsm.State().String())
			ss.linkDown = true
			d.step(ss, fsm.TcpConnectionFails{Reason: "interface " + s.Name + " went down"}, now)
			d.closeConn(ss)
		}
	}
	d.runLater()
}

// sessionIface is the interface a session with local address local runs
// over, "" when fall-over does not apply to p or none holds it.
func (d *Daemon) sessionIface(p *peer, local netip.Addr) string {
	if !fallOver(p, d.cfg.ASN) || !local.IsValid() {
		return ""
	}
	if p.n.Interface != "" {
		return p.n.Interface
	}
	if z := local.Zone(); z != "" {
		return z
	}
	return ifaceHolding(local)
}

// ifaceHolding names the interface that has address a.
func ifaceHolding(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, x := range addrs {
			if ipn, ok := x.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == a {
					return ifc.Name
				}
			}
		}
	}
	return ""
}

// unnumberedConfigured reports whether cfg has interface neighbors.
func unnumberedConfigured(cfg *config.Config) bool {
	for _, n := range cfg.Neighbors {
		if n.Interface != "" {
			return true
		}
	}
	return false
}

// linkBack starts the sessions that last ran over an interface that came
// back up, at once, as FRR does when a connected route returns: the session
// went down because the link failed, not because the peer misbehaved, so
// the idle hold (which doubles with each drop within a minute) must not keep
// a restored link without BGP for up to two minutes.
func (d *Daemon) linkBack(ifname string) {
	for _, p := range d.peers {
		s := p.main
		if s == nil || s.ifname != ifname || s.conn != nil || bfdHeld(p) {
			continue
		}
		p.log.Info("interface up: starting the session now", "interface", ifname, "state", s.fsm.State().String())
		d.bfdKickBGP(p)
	}
	d.runLater()
}
