package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/policy"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// ErrInvalidConfig wraps every reason a reload refuses a new config; the
// old one keeps running untouched.
var ErrInvalidConfig = errors.New("config refused")

// ReloadReport says what a reload did, neighbor by neighbor (by address,
// or "listen-range P" for a range).
type ReloadReport struct {
	// Unchanged neighbors kept their sessions untouched.
	Unchanged []string `json:"unchanged"`
	// Added neighbors were started, Removed ones closed with Cease/Peer
	// De-configured.
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	// Refreshed neighbors kept their sessions; their changed policy was
	// applied with a soft refresh (route refresh in, Adj-RIB-Out out).
	Refreshed []string `json:"refreshed"`
	// Reset neighbors changed in a way a session cannot take on the fly
	// (address family, timers, password ...) and were closed with Cease/
	// Other Configuration Change to come back with the new settings.
	Reset []string `json:"reset"`
	// NetworksAdded and NetworksRemoved are originated prefixes.
	NetworksAdded   []netip.Prefix `json:"networks_added"`
	NetworksRemoved []netip.Prefix `json:"networks_removed"`
	// AggregatesAdded and AggregatesRemoved are aggregates (one whose
	// summary-only changed is both).
	AggregatesAdded   []netip.Prefix `json:"aggregates_added"`
	AggregatesRemoved []netip.Prefix `json:"aggregates_removed"`
	// Notes are changes that only take effect at the next start.
	Notes []string `json:"notes,omitempty"`
}

// Reload reads Options.ConfigPath again and applies it (ApplyConfig). A
// file that does not load is refused, wrapped in ErrInvalidConfig.
func (d *Daemon) Reload(ctx context.Context) (ReloadReport, error) {
	if d.o.ConfigPath == "" {
		return ReloadReport{}, fmt.Errorf("%w: closd was started without a config file to reload", ErrInvalidConfig)
	}
	cfg, err := config.Load(d.o.ConfigPath)
	if err != nil {
		d.log.Error("config reload refused; the running config stays", "file", d.o.ConfigPath, "err", err)
		return ReloadReport{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return d.ApplyConfig(ctx, cfg)
}

// ApplyConfig moves the running daemon to cfg. Unchanged neighbors keep
// their sessions; a neighbor whose route-maps, prepend or referenced
// policy changed gets the new policy with a soft refresh; removed ones get
// a Cease/Peer De-configured; added ones start; networks and aggregates
// follow. A config this daemon cannot move to (another router-id, ASN or
// listener, an invalid neighbor or policy) is refused as a whole with an
// error wrapping ErrInvalidConfig, and nothing changes.
func (d *Daemon) ApplyConfig(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	var rep ReloadReport
	var err error
	qerr := d.query(ctx, func() { rep, err = d.applyConfig(cfg) })
	if qerr != nil {
		return rep, qerr
	}
	if err != nil {
		d.log.Error("config reload refused; the running config stays", "err", err)
		return rep, err
	}
	d.log.Info("config reloaded", "unchanged", len(rep.Unchanged), "added", rep.Added, "removed", rep.Removed,
		"refreshed", rep.Refreshed, "reset", rep.Reset, "networks-added", len(rep.NetworksAdded), "networks-removed", len(rep.NetworksRemoved))
	for _, n := range rep.Notes {
		d.log.Warn("config reload: " + n)
	}
	return rep, nil
}

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// restartOnly are settings a running daemon cannot change.
func restartOnly(old, cfg *config.Config) error {
	type field struct {
		name     string
		old, new any
	}
	for _, f := range []field{
		{"router-id", old.RouterID, cfg.RouterID},
		{"asn", old.ASN, cfg.ASN},
		{"role", old.Role, cfg.Role},
		{"listen", old.Listen, cfg.Listen},
		{"bgp.max-paths", old.BGP.MaxPaths, cfg.BGP.MaxPaths},
		{"bgp.multipath-relax", old.BGP.MultipathRelax, cfg.BGP.MultipathRelax},
	} {
		if !reflect.DeepEqual(f.old, f.new) {
			return refuse("%s changed from %v to %v: that needs a restart of closd", f.name, f.old, f.new)
		}
	}
	if cfg.Redistribute.Connected != nil {
		return refuse("redistribute.connected is not supported by this build of closd yet; originate the prefixes with networks instead")
	}
	return nil
}

// neighborKey names a configured neighbor across configs.
func neighborKey(n config.Neighbor) string {
	if n.ListenRange.IsValid() {
		return "listen-range " + n.ListenRange.Masked().String()
	}
	if n.Interface != "" {
		return "interface " + n.Interface
	}
	return n.Address.Unmap().String()
}

// policyOnly reports whether a and b differ only in what a soft refresh
// can apply: route-maps, prepend and the description.
func policyOnly(a, b config.Neighbor) bool {
	a.RouteMap, a.Prepend, a.Description = b.RouteMap, b.Prepend, b.Description
	return reflect.DeepEqual(a, b)
}

func (d *Daemon) applyConfig(cfg *config.Config) (ReloadReport, error) {
	rep := ReloadReport{Unchanged: []string{}, Added: []string{}, Removed: []string{}, Refreshed: []string{}, Reset: []string{},
		NetworksAdded: []netip.Prefix{}, NetworksRemoved: []netip.Prefix{},
		AggregatesAdded: []netip.Prefix{}, AggregatesRemoved: []netip.Prefix{}}
	old := d.cfg
	if err := restartOnly(old, cfg); err != nil {
		return rep, err
	}
	pol, err := policy.Compile(&cfg.Policy)
	if err != nil {
		return rep, refuse("policy: %w", err)
	}
	for _, f := range []struct {
		name     string
		old, new any
	}{{"api", old.API, cfg.API}, {"log", old.Log, cfg.Log}, {"metrics", old.Metrics, cfg.Metrics}, {"interfaces", old.Interfaces, cfg.Interfaces}} {
		if !reflect.DeepEqual(f.old, f.new) {
			rep.Notes = append(rep.Notes, f.name+" changed: takes effect at the next start of closd")
		}
	}
	if old.BGP.BFD != cfg.BGP.BFD {
		rep.Notes = append(rep.Notes, "bgp.bfd changed: BFD sessions whose timers change get a new session (see the bfd notes)")
	}
	// Sections this file does not know (added by other features) are
	// not applied by a reload: say so rather than pretend.
	a, b := *old, *cfg
	for _, c := range []*config.Config{&a, &b} {
		c.RouterID, c.ASN, c.Role, c.Listen, c.API, c.Log, c.Metrics, c.BGP = netip.Addr{}, 0, "", config.Listen{}, config.API{}, config.Log{}, config.Metrics{}, config.BGP{}
		c.Neighbors, c.Networks, c.Aggregates, c.Policy, c.Interfaces, c.Redistribute = nil, nil, nil, config.Policy{}, nil, config.Redistribute{}
		c.Services, c.Drain = nil, nil // services.go applies them
	}
	a.Hosts, b.Hosts = nil, nil // hostsReload applies it
	// grReload applies graceful-restart.
	a.GracefulRestart, b.GracefulRestart = nil, nil

	// bfdReload applies bfd.profiles and bfd.peers.
	a.BFD, b.BFD = config.BFDSection{}, config.BFDSection{}
	if !reflect.DeepEqual(a, b) {
		rep.Notes = append(rep.Notes, "other sections changed: a reload does not apply them; they take effect at the next start of closd")
	}

	oldN := map[string]config.Neighbor{}
	for _, n := range old.Neighbors {
		oldN[neighborKey(n)] = n
	}
	// Build every new neighbor first, with the new config and policy in
	// place, so that any error leaves the running daemon as it was.
	oldPol := d.pol
	d.cfg, d.pol = cfg, pol
	fresh := map[string]*peer{}
	newN := map[string]config.Neighbor{}
	var order []string
	for i, n := range cfg.Neighbors {
		k := neighborKey(n)
		if _, dup := newN[k]; dup {
			d.cfg, d.pol = old, oldPol
			return rep, refuse("neighbors[%d]: %s is configured twice", i, k)
		}
		newN[k] = n
		order = append(order, k)
		addr := n.Address
		if n.ListenRange.IsValid() {
			addr = n.ListenRange.Masked().Addr()
		}
		p, err := d.newPeer(i, n, addr)
		if err != nil {
			d.cfg, d.pol = old, oldPol
			return rep, refuse("%w", err)
		}
		fresh[k] = p
	}
	for _, a := range cfg.Aggregates {
		if !a.Prefix.IsValid() {
			d.cfg, d.pol = old, oldPol
			return rep, refuse("aggregate without a prefix")
		}
	}
	if err := d.checkServices(cfg); err != nil {
		d.cfg, d.pol = old, oldPol
		return rep, refuse("%w", err)
	}
	// From here on nothing is refused.
	rep.Notes = append(rep.Notes, d.hostsReload(cfg.Hosts)...)
	rep.Notes = append(rep.Notes, d.grReload(cfg)...)
	policyChanged := !reflect.DeepEqual(old.Policy, cfg.Policy)
	if policyChanged {
		d.polGen++
	}
	now := d.now()
	if d.bfd == nil && d.anyBFD() {
		if err := d.startBFD(); err != nil {
			rep.Notes = append(rep.Notes, "bfd: "+err.Error())
		}
	}

	// Removed neighbors, and those whose change needs a new session.
	var byRange = map[netip.Prefix]*dynRange{}
	for _, k := range slices.Sorted(maps.Keys(oldN)) {
		on := oldN[k]
		nn, kept := newN[k]
		if kept && (reflect.DeepEqual(on, nn) || policyOnly(on, nn)) && sameSession(d.byAddr[fresh[k].remote.Addr()], fresh[k]) {
			continue
		}
		sub := wire.SubPeerDeconfigured
		if kept {
			sub = wire.SubOtherConfigChange
			rep.Reset = append(rep.Reset, k)
		} else {
			rep.Removed = append(rep.Removed, k)
		}
		for _, p := range slices.Clone(d.peers) {
			if neighborKey(p.n) == k {
				if kept && p.adminDown && p.dyn == nil {
					// The operator's shutdown outlives the reset.
					f := fresh[k]
					f.adminDown = true
					f.n.Shutdown, f.n.ShutdownMessage = true, p.n.ShutdownMessage
				}
				d.deconfigure(p, sub, now)
			}
		}
	}
	// Listen-ranges: the new templates; dynamic neighbors of a kept
	// range move to it.
	var ranges []*dynRange
	for _, r := range d.ranges {
		byRange[r.prefix] = r
	}
	for i, n := range cfg.Neighbors {
		if !n.ListenRange.IsValid() {
			continue
		}
		limit := n.Limit
		if limit <= 0 {
			limit = config.DefaultListenRangeMax
		}
		nr := &dynRange{i: i, n: n, prefix: n.ListenRange.Masked(), limit: limit}
		if or := byRange[nr.prefix]; or != nil {
			nr.count = or.count
			for _, p := range d.peers {
				if p.dyn == or {
					p.dyn = nr
				}
			}
		}
		ranges = append(ranges, nr)
	}
	d.ranges = ranges
	d.grDynamicRanges()

	for _, k := range order {
		nn := newN[k]
		on, had := oldN[k]
		if nn.ListenRange.IsValid() {
			switch {
			case !had:
				rep.Added = append(rep.Added, k)
			case reflect.DeepEqual(on, nn):
				rep.Unchanged = append(rep.Unchanged, k)
			case policyOnly(on, nn):
				// New dynamic neighbors get the new policy; the live
				// ones are refreshed below with the static ones.
				rep.Refreshed = append(rep.Refreshed, k)
			}
			continue
		}
		p := d.byAddr[fresh[k].remote.Addr()]
		switch {
		case had && reflect.DeepEqual(on, nn) && p != nil && p.main != nil:
			rep.Unchanged = append(rep.Unchanged, k)
			if policyChanged && (nn.RouteMap.In != "" || nn.RouteMap.Out != "") {
				d.repolicy(p, nn)
				rep.Refreshed = append(rep.Refreshed, k)
				rep.Unchanged = rep.Unchanged[:len(rep.Unchanged)-1]
			}
		case had && policyOnly(on, nn) && p != nil && p.main != nil:
			d.repolicy(p, nn)
			rep.Refreshed = append(rep.Refreshed, k)
		default:
			if !had {
				rep.Added = append(rep.Added, k)
			}
			d.startPeer(fresh[k], now)
		}
	}
	// Live dynamic neighbors of refreshed ranges.
	for _, p := range d.peers {
		if p.dyn != nil && (!reflect.DeepEqual(p.n, p.dyn.n) || policyChanged) {
			d.repolicy(p, p.dyn.n)
		}
	}

	rep.Notes = append(rep.Notes, d.bfdReload(old)...)

	// Aggregates.
	oldAgg := map[netip.Prefix]config.Aggregate{}
	for _, a := range old.Aggregates {
		oldAgg[a.Prefix.Masked()] = a
	}
	newAgg := map[netip.Prefix]config.Aggregate{}
	for _, a := range cfg.Aggregates {
		newAgg[a.Prefix.Masked()] = a
	}
	for p, a := range oldAgg {
		if b, ok := newAgg[p]; !ok || a.SummaryOnly != b.SummaryOnly {
			if err := d.rib.RemoveAggregate(p); err != nil {
				d.log.Warn("config reload: removing an aggregate", "prefix", p, "err", err)
			}
			delete(d.discard, p)
			rep.AggregatesRemoved = append(rep.AggregatesRemoved, p)
		}
	}
	for p, a := range newAgg {
		if b, ok := oldAgg[p]; !ok || a.SummaryOnly != b.SummaryOnly {
			if err := d.rib.AddAggregate(p, a.SummaryOnly); err != nil {
				d.log.Warn("config reload: adding an aggregate", "prefix", p, "err", err)
				continue
			}
			rep.AggregatesAdded = append(rep.AggregatesAdded, p)
		}
		d.discard[p] = a.Discard
	}

	slices.SortFunc(rep.AggregatesAdded, netip.Prefix.Compare)
	slices.SortFunc(rep.AggregatesRemoved, netip.Prefix.Compare)

	// Networks.
	want := map[netip.Prefix]bool{}
	for _, p := range cfg.Networks {
		want[p.Masked()] = true
	}
	var keep []netip.Prefix
	for _, p := range d.nets {
		if want[p] {
			delete(want, p)
			keep = append(keep, p)
			continue
		}
		if err := d.rib.Unoriginate(p); err != nil {
			d.log.Warn("config reload: withdrawing a network", "prefix", p, "err", err)
			keep = append(keep, p)
			continue
		}
		rep.NetworksRemoved = append(rep.NetworksRemoved, p)
	}
	for _, p := range cfg.Networks {
		p = p.Masked()
		if !want[p] {
			continue
		}
		delete(want, p)
		if err := d.rib.Originate(p, nil); err != nil {
			d.log.Warn("config reload: originating a network", "prefix", p, "err", err)
			continue
		}
		keep = append(keep, p)
		rep.NetworksAdded = append(rep.NetworksAdded, p)
	}
	d.nets = keep
	rep.Notes = append(rep.Notes, d.applyServices(cfg)...)
	return rep, nil
}

// sameSession reports whether a running neighbor's session settings
// (timers inherited from bgp.timers, transport options) are those the new
// config gives it; a static neighbor only (nil old is a new one).
func sameSession(old, fresh *peer) bool {
	if old == nil || old.dyn != nil || fresh.n.ListenRange.IsValid() {
		return old != nil || fresh.n.ListenRange.IsValid()
	}
	a, b := old.fcfg, fresh.fcfg
	a.Jitter, b.Jitter = nil, nil
	return reflect.DeepEqual(a, b) && old.topts == fresh.topts
}

// deconfigure closes p's sessions with a Cease of subcode sub and forgets it.
func (d *Daemon) deconfigure(p *peer, sub uint8, now time.Time) {
	d.abortDial(p)
	for _, s := range []*session{p.main, p.second} {
		if s == nil {
			continue
		}
		if s.fsm.State() != fsm.StateIdle {
			d.step(s, fsm.AutomaticStop{Subcode: sub}, now)
		}
		if s.conn != nil {
			d.closeConn(s)
		}
	}
	p.second = nil
	d.removeBFD(p)
	d.grForget(p)
	if p.n.Interface != "" {
		d.unnumRemove(p)
	} else {
		delete(d.byAddr, p.remote.Addr())
	}
	d.peers = slices.DeleteFunc(d.peers, func(q *peer) bool { return q == p })
	if p.dyn != nil {
		p.dyn.count--
		p.dyn = nil
	}
	p.log.Info("neighbor removed by a config reload", "cease-subcode", sub)
}

// startPeer adds a neighbor built by newPeer and starts it.
func (d *Daemon) startPeer(p *peer, now time.Time) {
	if p.n.Password != "" && d.ln != nil {
		a := p.remote.Addr()
		if err := d.ln.SetMD5(netip.PrefixFrom(a, a.BitLen()), p.n.Password); err != nil {
			p.log.Warn("TCP MD5 key on the listener", "err", err)
		}
	}
	if p.n.Interface != "" {
		d.unnumAdd(p, now)
	} else {
		d.byAddr[p.remote.Addr()] = p
	}
	d.peers = append(d.peers, p)
	p.main = d.newSession(p)
	if p.n.Shutdown {
		p.log.Info("neighbor is shut down by configuration", "message", p.n.ShutdownMessage)
		return
	}
	d.addBFD(p, netip.Addr{})
	d.step(p.main, fsm.ManualStart{}, now)
	p.log.Info("neighbor added by a config reload")
}

// repolicy gives a live neighbor its new policy settings: the RIB
// re-exports to it (soft out) and the peer is asked to send its routes
// again so the new import policy runs over them (soft in), or with
// soft-reconfiguration-inbound the RIB runs it over its stored copy.
func (d *Daemon) repolicy(p *peer, n config.Neighbor) {
	shut, msg := p.n.Shutdown, p.n.ShutdownMessage
	p.n = n
	if p.adminDown {
		p.n.Shutdown, p.n.ShutdownMessage = shut, msg
	}
	if p.n.RouteMap.In != "" || p.n.RouteMap.Out != "" {
		if err := d.pol.CheckRouteMaps(p.n.RouteMap.In, p.n.RouteMap.Out); err != nil {
			p.log.Error("config reload: route-maps", "err", err)
		}
	}
	s := p.main
	if s == nil || !s.inRIB {
		return
	}
	typ := rib.EBGP
	if s.neg.PeerAS == d.cfg.ASN {
		typ = rib.IBGP
	}
	pc := rib.PeerConfig{Type: typ}
	pc.Import, pc.Export, pc.ExportName = d.peerPolicy(p, typ)
	d.serviceExport(&pc)
	if err := d.rib.SetPolicy(s.ribID, pc.Import, pc.Export, pc.ExportName); err != nil {
		p.log.Error("config reload: new policy", "err", err)
		return
	}
	// With soft-reconfiguration-inbound SetPolicy has re-run the import
	// over the stored copy already.
	if !d.rib.SoftIn(s.ribID) {
		d.refreshIn(s)
	}
	p.log.Info("new policy applied with a soft refresh")
}

// peerPolicy is what the RIB runs over p's routes, and the name of its
// export for update grouping: peers share a group only with the same
// export, and a reload that changes the policy set renames every export
// that uses it so no group keeps a stale one.
func (d *Daemon) peerPolicy(p *peer, typ rib.PeerType) (imp, exp rib.Policy, name string) {
	name = p.n.RouteMap.Out
	if p.n.RouteMap.In == "" && p.n.RouteMap.Out == "" && p.n.Prepend == 0 {
		return nil, nil, name
	}
	pol := policy.RIB{N: policy.Neighbor{In: p.n.RouteMap.In, Out: p.n.RouteMap.Out, Set: d.pol}}
	if p.n.Prepend > 0 && typ == rib.EBGP {
		pol.Prepend = slices.Repeat([]uint32{d.cfg.ASN}, p.n.Prepend)
		name = fmt.Sprintf("%s|prepend %d", p.n.RouteMap.Out, p.n.Prepend)
	}
	if d.polGen > 0 && p.n.RouteMap.Out != "" {
		name = fmt.Sprintf("%s|policy %d", name, d.polGen)
	}
	return pol, pol, name
}
