package daemon

// Host routes learned from ARP/ND (config hosts:, docs/host-routes.md).
// neigh.Engine decides; this file is its loop: kernel neighbor events
// from a watcher, the time, and other leaves' claims on host prefixes
// (rib.Output.Remote) go in; Originate/Withdraw become local routes in the
// RIB carrying the mobility community, Probe/SetKernelTimers go to the
// kernel, and the rest to the log and counters.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/neigh"
)

// HostWatcher is a source of kernel neighbor and link events
// (neigh.Watcher on Linux). After its first error it stops: Events is
// closed and the daemon starts a new one, whose initial listing replays
// the table.
type HostWatcher interface {
	Events() <-chan neigh.Event
	Errors() <-chan error
	Close()
}

// HostNet prepares server-facing ports and installs the kernel route to a
// learned host on its port (several ports of a leaf share the subnet, so
// the connected route alone cannot say which port a host is behind).
type HostNet interface {
	// SetupPort puts the anycast gateway on the port and turns on what
	// host learning needs there (proxy ARP, accepting gratuitous ARP).
	SetupPort(ifname string, gw neigh.AnycastGateway) error
	// AddHostRoute installs prefix dev ifname; DelHostRoute removes it,
	// and not a route with another owner.
	AddHostRoute(prefix netip.Prefix, ifname string) error
	DelHostRoute(prefix netip.Prefix, ifname string) error
	// SetProxy adds (on) or removes an IPv6 proxy neighbor entry for ip
	// on the port (hosts_proxy.go).
	SetProxy(ip netip.Addr, ifname string, on bool) error
}

// hostWatchRetry is how long after a watcher failed to start the daemon
// tries again.
const hostWatchRetry = time.Second

// hostRoutes is the host-route state the loop owns.
type hostRoutes struct {
	cfg     *config.Hosts
	e       *neigh.Engine
	log     *slog.Logger
	kernel  neigh.Kernel
	net     HostNet
	watch   func(interfaces []string) (HostWatcher, error)
	ifnames []string
	allowed []netip.Prefix

	w       HostWatcher
	gen     uint64
	retryAt time.Time
	// origin is what the RIB holds for each originated host prefix.
	origin map[netip.Prefix]neigh.Originate
	// aggregates are the allowed subnets originated with aggregate: true.
	aggregates []netip.Prefix
	// proxy is the IPv6 proxy ND state per address (hosts_proxy.go).
	proxy map[netip.Addr]*proxyState
	// ready holds the ports set up (gateway, sysctls, kernel timers) and
	// not down since: a port that comes up again, or appears only after
	// start (a VM's tap), is set up then.
	ready map[string]bool
	gw    neigh.AnycastGateway
	stats HostCounters
}

// HostCounters count what the engine's stats do not: actions the daemon
// carried out or failed to.
type HostCounters struct {
	Originated      uint64 `json:"originated"`
	Withdrawn       uint64 `json:"withdrawn"`
	Probes          uint64 `json:"probes"`
	KernelErrors    uint64 `json:"kernel_errors"`
	RouteErrors     uint64 `json:"route_errors"`
	Conflicts       uint64 `json:"conflicts"`
	Freezes         uint64 `json:"freezes"`
	Releases        uint64 `json:"releases"`
	WatcherStarts   uint64 `json:"watcher_starts"`
	WatcherFailures uint64 `json:"watcher_failures"`
	RemoteUpdates   uint64 `json:"remote_updates"`
}

// hostsEvent is an event of the host-route watcher for the loop.
type hostsEvent interface{ hostsGen() uint64 }

type hostNeighEvent struct {
	gen uint64
	ev  neigh.Event
}

type hostWatchEnd struct {
	gen uint64
	err error
}

func (e hostNeighEvent) hostsGen() uint64 { return e.gen }
func (e hostWatchEnd) hostsGen() uint64   { return e.gen }

// newHosts builds the engine from cfg.Hosts; nil when the section is
// absent.
func (d *Daemon) newHosts() error {
	hc := d.cfg.Hosts
	if hc == nil {
		return nil
	}
	nc, err := hc.NeighConfig()
	if err != nil {
		return fmt.Errorf("daemon: hosts: %w", err)
	}
	e, err := neigh.New(nc)
	if err != nil {
		return fmt.Errorf("daemon: hosts: %w", err)
	}
	h := &hostRoutes{cfg: hc, e: e, log: d.log.With("component", "hosts"), origin: map[netip.Prefix]neigh.Originate{},
		kernel: d.o.HostKernel, net: d.o.HostNet, watch: d.o.HostWatch, allowed: hc.AllowedPrefixes()}
	for _, ic := range hc.Interfaces {
		h.ifnames = append(h.ifnames, ic.Name)
	}
	d.hosts = h
	d.rib.WatchRemoteHosts(h.watched)
	if hc.Aggregate {
		// The shared subnet goes to the fabric too, so traffic to a host
		// reaches some leaf of the subnet before its /32 exists. No
		// discard route: a leaf's connected subnet on its ports must
		// keep resolving hosts it has not learned yet.
		for _, p := range h.allowed {
			if err := d.rib.Originate(p, hostAttrs(0, false, false, nc.Community)); err != nil {
				return fmt.Errorf("daemon: hosts: aggregate %s: %w", p, err)
			}
			h.aggregates = append(h.aggregates, p)
		}
	}
	return nil
}

// watched selects the prefixes whose remote claims the engine hears: host
// routes inside an allowed subnet.
func (h *hostRoutes) watched(p netip.Prefix) bool {
	if p.Bits() != p.Addr().BitLen() {
		return false
	}
	for _, a := range h.allowed {
		if a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// hostAttrs are a host route's path attributes: the mobility community
// when mob, and the standard community when not 0.
func hostAttrs(seq uint32, sticky, mob bool, community uint32) *wire.PathAttrs {
	a := &wire.PathAttrs{HasOrigin: true, Origin: wire.OriginIGP, HasASPath: true}
	if mob {
		a.ExtCommunities = []wire.ExtCommunity{wire.ExtCommunity(neigh.MobilityCommunity(seq, sticky))}
	}
	if community != 0 {
		a.Communities = []uint32{community}
	}
	return a
}

// startHosts prepares the ports and starts watching; run by Run.
func (d *Daemon) startHosts() error {
	h := d.hosts
	if h == nil {
		return nil
	}
	if h.kernel == nil || h.net == nil || h.watch == nil {
		k, n, w, err := defaultHostEnv()
		if err != nil {
			return fmt.Errorf("hosts: %w", err)
		}
		if h.kernel == nil {
			h.kernel = k
		}
		if h.net == nil {
			h.net = n
		}
		if h.watch == nil {
			h.watch = w
		}
	}
	h.gw = neigh.AnycastGateway{IPv4: h.cfg.Gateway.IPv4, IPv6: h.cfg.Gateway.IPv6}
	if h.cfg.Gateway.MAC != "" {
		h.gw.MAC, _ = neigh.ParseMAC(h.cfg.Gateway.MAC)
	}
	h.ready = map[string]bool{}
	for _, name := range h.ifnames {
		d.hostSetupPort(name)
	}
	h.log.Info("host routes on", "interfaces", h.ifnames, "allowed", h.allowed, "aggregate", h.cfg.Aggregate)
	d.startHostWatch()
	return nil
}

// hostSetupPort puts the gateway, the sysctls and the engine's kernel
// timers on a port.
func (d *Daemon) hostSetupPort(name string) {
	h := d.hosts
	if err := h.net.SetupPort(name, h.gw); err != nil {
		// A port missing now may appear later (a VM's tap): it is set
		// up when the watcher reports it up.
		h.log.Warn("preparing a server port", "interface", name, "err", err)
		return
	}
	for _, a := range h.e.Start() {
		if t, ok := a.(neigh.SetKernelTimers); ok && t.Interface == name {
			d.hostsDo([]neigh.Action{t})
		}
	}
	h.ready[name] = true
}

// startHostWatch starts a watcher and a goroutine that hands its events to
// the loop, tagged with a generation so a dead watcher's leftovers are
// dropped.
func (d *Daemon) startHostWatch() {
	h := d.hosts
	h.gen++
	gen := h.gen
	w, err := h.watch(h.ifnames)
	if err != nil {
		h.stats.WatcherFailures++
		h.retryAt = d.now().Add(hostWatchRetry)
		h.log.Warn("watching the neighbor table", "err", err, "retry_in", hostWatchRetry)
		return
	}
	h.stats.WatcherStarts++
	h.w = w
	h.retryAt = time.Time{}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		send := func(ev event) bool {
			select {
			case d.events <- ev:
				return true
			case <-d.done:
				return false
			}
		}
		evs, errs := w.Events(), w.Errors()
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					var err error
					select {
					case err = <-errs:
					default:
					}
					send(hostWatchEnd{gen: gen, err: err})
					return
				}
				if !send(hostNeighEvent{gen: gen, ev: ev}) {
					return
				}
			case err := <-errs:
				// The watcher stops after its first error; restart now
				// rather than when Events drains.
				send(hostWatchEnd{gen: gen, err: err})
				return
			case <-d.done:
				return
			}
		}
	}()
}

// handleHosts runs one watcher event on the loop.
func (d *Daemon) handleHosts(ev hostsEvent) {
	h := d.hosts
	if h == nil || ev.hostsGen() != h.gen {
		return
	}
	switch ev := ev.(type) {
	case hostNeighEvent:
		if l, ok := ev.ev.(neigh.LinkEvent); ok {
			if !l.Up {
				delete(h.ready, l.Interface)
			} else if !h.ready[l.Interface] && slices.Contains(h.ifnames, l.Interface) {
				d.hostSetupPort(l.Interface)
			}
		}
		d.hostsDo(h.e.Step(d.now(), ev.ev))
	case hostWatchEnd:
		h.stats.WatcherFailures++
		if h.w != nil {
			go h.w.Close()
			h.w = nil
		}
		h.log.Warn("neighbor watcher stopped; starting a new one (it lists the table again)", "err", ev.err)
		d.startHostWatch()
	}
}

// hostsDeadline is the engine's next timer or a pending watcher restart.
func (d *Daemon) hostsDeadline() time.Time {
	h := d.hosts
	if h == nil {
		return time.Time{}
	}
	next := h.retryAt
	if at, ok := h.e.NextDeadline(); ok && (next.IsZero() || at.Before(next)) {
		next = at
	}
	return next
}

// hostsTick serves the engine's timers and the watcher restart.
func (d *Daemon) hostsTick(now time.Time) {
	h := d.hosts
	if h == nil {
		return
	}
	if at, ok := h.e.NextDeadline(); ok && !at.After(now) {
		d.hostsDo(h.e.Step(now, neigh.Tick{}))
	}
	if !h.retryAt.IsZero() && !h.retryAt.After(now) && h.w == nil {
		d.startHostWatch()
	}
}

// hostsRemote feeds other leaves' claims on host prefixes to the engine.
// The RIB only reports peer-learned paths, never our own originations.
func (d *Daemon) hostsRemote(rs []rib.RemoteHost) {
	h := d.hosts
	if h == nil || len(rs) == 0 {
		return
	}
	now := d.now()
	for _, r := range rs {
		h.stats.RemoteUpdates++
		var ev neigh.Event = neigh.RemoteWithdraw{Prefix: r.Prefix}
		if r.Present {
			ev = neigh.RemoteRoute{Prefix: r.Prefix, Seq: r.Seq, Sticky: r.Sticky}
		}
		h.log.Debug("other leaf's claim", "prefix", r.Prefix, "present", r.Present, "seq", r.Seq, "sticky", r.Sticky)
		d.hostProxyUpdate(r.Prefix.Addr(), func(s *proxyState) { s.remote = r.Present })
		d.hostsDo(h.e.Step(now, ev))
	}
}

// hostsDo carries out the engine's actions.
func (d *Daemon) hostsDo(acts []neigh.Action) {
	h := d.hosts
	for _, a := range acts {
		switch a := a.(type) {
		case neigh.Originate:
			d.hostOriginate(a)
		case neigh.Withdraw:
			d.hostWithdraw(a)
		case neigh.Probe, neigh.SetKernelTimers:
			if _, ok := a.(neigh.Probe); ok {
				h.stats.Probes++
				p := a.(neigh.Probe)
				h.log.Info("probing host", "ip", p.IP, "interface", p.Interface, "mac", p.MAC, "attempt", p.Attempt)
			}
			if err := neigh.ApplyKernel(h.kernel, []neigh.Action{a}); err != nil {
				h.stats.KernelErrors++
				h.log.Warn("kernel neighbor request", "err", err)
			}
		case neigh.Log:
			level := slog.LevelInfo
			switch a.Kind {
			case neigh.LogLearned, neigh.LogWithdrawn, neigh.LogMoved, neigh.LogUnfrozen, neigh.LogMACChanged:
			default:
				level = slog.LevelWarn
			}
			h.log.Log(context.Background(), level, a.Msg, "kind", string(a.Kind), "interface", a.Interface, "ip", a.IP, "mac", a.MAC)
		case neigh.Conflict:
			h.stats.Conflicts++
			h.log.Warn("address conflict", "ip", a.IP, "interface", a.Interface, "mac", a.MAC, "other", a.Other, "other_mac", a.OtherMAC, "msg", a.Msg)
		case neigh.Freeze:
			if a.Frozen {
				h.stats.Freezes++
				h.log.Warn("host frozen: it moves too often", "ip", a.IP, "interface", a.Interface, "moves", a.Moves, "until", a.Until)
			} else {
				h.stats.Releases++
				h.log.Info("host released", "ip", a.IP, "interface", a.Interface)
			}
		}
	}
}

func (d *Daemon) hostOriginate(a neigh.Originate) {
	h := d.hosts
	old, had := h.origin[a.Prefix]
	if err := d.rib.Originate(a.Prefix, hostAttrs(a.Seq, a.Sticky, true, a.Community)); err != nil {
		h.stats.RouteErrors++
		h.log.Error("originating a host route", "prefix", a.Prefix, "err", err)
		return
	}
	h.origin[a.Prefix] = a
	h.stats.Originated++
	d.hostProxyUpdate(a.Prefix.Addr(), func(s *proxyState) { s.local = a.Interface })
	h.log.Info("host route originated", "prefix", a.Prefix, "interface", a.Interface, "mac", a.MAC, "seq", a.Seq, "sticky", a.Sticky)
	if had && old.Interface != a.Interface {
		if err := h.net.DelHostRoute(a.Prefix, old.Interface); err != nil {
			h.stats.RouteErrors++
			h.log.Warn("removing a host's kernel route", "prefix", a.Prefix, "interface", old.Interface, "err", err)
		}
	}
	if !had || old.Interface != a.Interface {
		if err := h.net.AddHostRoute(a.Prefix, a.Interface); err != nil {
			h.stats.RouteErrors++
			h.log.Warn("installing a host's kernel route", "prefix", a.Prefix, "interface", a.Interface, "err", err)
		}
	}
}

func (d *Daemon) hostWithdraw(a neigh.Withdraw) {
	h := d.hosts
	old, had := h.origin[a.Prefix]
	if !had {
		return
	}
	delete(h.origin, a.Prefix)
	h.stats.Withdrawn++
	d.hostProxyUpdate(a.Prefix.Addr(), func(s *proxyState) { s.local = "" })
	if err := d.rib.Unoriginate(a.Prefix); err != nil {
		h.stats.RouteErrors++
		h.log.Error("withdrawing a host route", "prefix", a.Prefix, "err", err)
	}
	h.log.Info("host route withdrawn", "prefix", a.Prefix, "interface", old.Interface, "seq", old.Seq)
	if err := h.net.DelHostRoute(a.Prefix, old.Interface); err != nil {
		h.stats.RouteErrors++
		h.log.Warn("removing a host's kernel route", "prefix", a.Prefix, "interface", old.Interface, "err", err)
	}
}

// stopHosts ends the watcher; the kernel routes to hosts stay (the ports'
// hosts stay reachable from this leaf while closd restarts).
func (d *Daemon) stopHosts() {
	if h := d.hosts; h != nil && h.w != nil {
		h.w.Close()
		h.w = nil
	}
}

// HostsStatus is `clos show hosts`: the learned hosts, frozen addresses
// and counters of a leaf.
type HostsStatus struct {
	Interfaces []string           `json:"interfaces"`
	Hosts      []neigh.HostInfo   `json:"hosts"`
	Frozen     []neigh.FrozenInfo `json:"frozen"`
	Engine     neigh.Stats        `json:"engine"`
	Counters   HostCounters       `json:"counters"`
	Aggregates []netip.Prefix     `json:"aggregates,omitempty"`
	Watching   bool               `json:"watching"`
}

// ErrNoHosts is returned by the host snapshots when the config has no
// hosts section.
var ErrNoHosts = errors.New("daemon: host routes are off (no hosts: section in the config)")

// Hosts returns a snapshot of the learned hosts.
func (d *Daemon) Hosts(ctx context.Context) (HostsStatus, error) {
	if d.hosts == nil {
		return HostsStatus{}, ErrNoHosts
	}
	var out HostsStatus
	err := d.query(ctx, func() {
		h := d.hosts
		out = HostsStatus{
			Interfaces: slices.Clone(h.ifnames),
			Hosts:      h.e.Hosts(d.now()),
			Frozen:     h.e.Frozen(),
			Engine:     h.e.Stats(),
			Counters:   h.stats,
			Aggregates: slices.Clone(h.aggregates),
			Watching:   h.w != nil,
		}
		if out.Frozen == nil {
			out.Frozen = []neigh.FrozenInfo{}
		}
	})
	return out, err
}

// ReleaseHost unfreezes ip (an invalid ip: every frozen host) before its
// hold time ends, and reports the addresses released.
func (d *Daemon) ReleaseHost(ctx context.Context, ip netip.Addr) ([]netip.Addr, error) {
	if d.hosts == nil {
		return nil, ErrNoHosts
	}
	var released []netip.Addr
	err := d.query(ctx, func() {
		h := d.hosts
		before := h.e.Frozen()
		d.hostsDo(h.e.Step(d.now(), neigh.AdminRelease{IP: ip}))
		after := map[netip.Addr]bool{}
		for _, f := range h.e.Frozen() {
			after[f.IP] = true
		}
		for _, f := range before {
			if !after[f.IP] {
				released = append(released, f.IP)
			}
		}
	})
	return released, err
}
