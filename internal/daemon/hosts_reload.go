package daemon

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/neigh"
)

// hostsReload moves the running host routes to the reloaded hosts:
// section (ApplyConfig, after the point where nothing is refused). It
// returns notes for what only a restart applies.
func (d *Daemon) hostsReload(nh *config.Hosts) []string {
	h := d.hosts
	switch {
	case h == nil && nh == nil:
		return nil
	case h == nil:
		return []string{"hosts section added: takes effect at the next start of closd"}
	case nh == nil:
		return []string{"hosts section removed: takes effect at the next start of closd (host routes stay until then)"}
	case reflect.DeepEqual(h.cfg, nh):
		return nil
	}
	nc, err := nh.NeighConfig()
	if err != nil {
		return []string{fmt.Sprintf("hosts: %v; the running hosts section stays", err)}
	}
	acts, err := h.e.Reconfigure(d.now(), nc)
	if err != nil {
		return []string{fmt.Sprintf("hosts: %v; the running hosts section stays", err)}
	}
	old := h.cfg
	oldIfs := h.ifnames
	h.cfg, h.allowed, h.ifnames = nh, nh.AllowedPrefixes(), nil
	for _, ic := range nh.Interfaces {
		h.ifnames = append(h.ifnames, ic.Name)
	}
	d.rib.WatchRemoteHosts(h.watched)

	// Aggregates: the new set, with the new community.
	var want []netip.Prefix
	if nh.Aggregate {
		want = h.allowed
	}
	for _, p := range h.aggregates {
		if !slices.Contains(want, p) {
			if err := d.rib.Unoriginate(p); err != nil {
				h.log.Warn("config reload: withdrawing a host subnet", "prefix", p, "err", err)
			}
		}
	}
	h.aggregates = nil
	for _, p := range want {
		if err := d.rib.Originate(p, hostAttrs(0, false, false, nc.Community)); err != nil {
			h.log.Warn("config reload: originating a host subnet", "prefix", p, "err", err)
			continue
		}
		h.aggregates = append(h.aggregates, p)
	}

	// Withdrawals and kernel timers from the engine, then the held hosts
	// again if their community changed.
	d.hostsDo(acts)
	if old.Community != nh.Community {
		ps := slices.Collect(maps.Keys(h.origin))
		slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		for _, p := range ps {
			o := h.origin[p]
			o.Community = nc.Community
			d.hostOriginate(o)
		}
	}

	// Ports: new ones, or all when the gateway changed.
	gw := neigh.AnycastGateway{IPv4: nh.Gateway.IPv4, IPv6: nh.Gateway.IPv6}
	if nh.Gateway.MAC != "" {
		gw.MAC, _ = neigh.ParseMAC(nh.Gateway.MAC)
	}
	gwChanged := gw != h.gw
	h.gw = gw
	for _, name := range h.ifnames {
		if gwChanged || !slices.Contains(oldIfs, name) {
			delete(h.ready, name)
			d.hostSetupPort(name)
		}
	}
	var notes []string
	for _, name := range oldIfs {
		if !slices.Contains(h.ifnames, name) {
			notes = append(notes, fmt.Sprintf("hosts: %s is no longer a server port: its hosts are withdrawn; its gateway address and sysctls stay until removed by hand", name))
		}
	}
	if !slices.Equal(oldIfs, h.ifnames) {
		// The watcher filters by port name: a new list needs a new one.
		if h.w != nil {
			go h.w.Close()
			h.w = nil
		}
		d.startHostWatch()
	}
	h.log.Info("hosts section reloaded", "interfaces", h.ifnames, "allowed", h.allowed, "aggregate", nh.Aggregate)
	return notes
}
