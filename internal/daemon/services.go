package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/closnet/clos/internal/anycast"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// Routing on the host (issue 12): the anycast engine decides when a
// service's addresses are announced; the loop runs its checks on a bounded
// Runner, turns Announce and Withdraw into local routes in the RIB, and keeps
// the addresses on the loopback.

// MaxServiceChecks bounds the checks running at once. The engine keeps one
// check in flight per service, so this only matters with many services; a
// check waiting for a slot fails at its deadline rather than delaying BGP.
const MaxServiceChecks = 16

// Loopback holds the service addresses on the host's loopback interface, so
// the services can bind them and answer traffic sent to the anycast
// address. Add of an address already there and Remove of one that is not
// are not errors.
type Loopback interface {
	Add(p netip.Prefix) error
	Remove(p netip.Prefix) error
}

// FakeLoopback is a Loopback in memory, for tests.
type FakeLoopback struct {
	mu    sync.Mutex
	addrs map[netip.Prefix]bool
	// Fail makes Add fail for these prefixes.
	Fail map[netip.Prefix]error
}

// NewFakeLoopback returns an empty FakeLoopback.
func NewFakeLoopback() *FakeLoopback { return &FakeLoopback{addrs: map[netip.Prefix]bool{}} }

// Add records p.
func (f *FakeLoopback) Add(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fail[p]; err != nil {
		return err
	}
	f.addrs[p] = true
	return nil
}

// Remove forgets p.
func (f *FakeLoopback) Remove(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs, p)
	return nil
}

// Addrs lists what is on the fake loopback, sorted.
func (f *FakeLoopback) Addrs() []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Prefix
	for p := range f.addrs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// hostMultipath: a host's leaves are in different ASes (RFC 7938), so the
// routes it learns from them share an ECMP set only with multipath-relax.
func hostMultipath(c *config.Config) bool { return c.Role == "host" }

// serviceResultEvent carries a finished check from the Runner to the loop.
type serviceResultEvent struct{ r anycast.CheckResult }

// services is the loop's anycast state.
type services struct {
	cfg    anycast.Config
	eng    *anycast.Engine
	runner *anycast.Runner
	stop   context.CancelFunc
	lo     Loopback
	// routes holds what is originated now, per prefix: the engine's last
	// Announce for it.
	routes map[netip.Prefix]anycast.Announce
	// onLo is what closd put on the loopback; loErr the last failure per
	// service, shown in the status.
	onLo  map[netip.Prefix]bool
	loErr map[string]string
	// drainAll is set by a node drain (clos drain, SIGTERM).
	drainAll bool
	// nets is the node drain of a host's own networks (its loopback).
	nets netsDrain
}

// netsDrain: a node drain re-originates a host's networks with the
// top-level drain attributes (spec), and withdraws them at until; gone
// once withdrawn. Undrain originates them plainly again.
type netsDrain struct {
	active bool
	spec   anycast.DrainSpec
	until  time.Time
	gone   bool
}

// newServices builds the engine from the config; nothing runs before Run.
func (d *Daemon) newServices() error {
	if len(d.cfg.Services) == 0 {
		return nil
	}
	cfg := d.cfg.ServicesConfig()
	eng, err := anycast.New(cfg)
	if err != nil {
		return fmt.Errorf("daemon: services: %w", err)
	}
	for _, s := range cfg.Services {
		for _, p := range s.Addresses {
			if slices.Contains(d.nets, p) {
				return fmt.Errorf("daemon: service %s: %s is also in networks; a service address is announced only while its check passes, so leave it out of networks", s.Name, p)
			}
		}
	}
	d.svc = &services{
		cfg: cfg, eng: eng,
		routes: map[netip.Prefix]anycast.Announce{},
		onLo:   map[netip.Prefix]bool{}, loErr: map[string]string{},
	}
	return nil
}

// startServices puts the addresses on the loopback and starts the checks.
// A loopback failure is logged and shown, not fatal: the routes can still
// be announced, and the operator may have put the address there already.
func (d *Daemon) startServices() {
	sv := d.svc
	if sv == nil {
		return
	}
	sv.lo = d.o.Loopback
	if sv.lo == nil {
		sv.lo = newOSLoopback()
	}
	for _, s := range sv.cfg.Services {
		d.loopbackAdd(s)
	}
	exec := d.o.CheckExec
	if exec == nil {
		exec = anycast.Execute
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv.stop = cancel
	sv.runner = anycast.NewRunnerFunc(ctx, MaxServiceChecks, exec)
	d.wg.Add(1)
	go func(results <-chan anycast.CheckResult) {
		defer d.wg.Done()
		for {
			select {
			case r := <-results:
				select {
				case d.events <- serviceResultEvent{r}:
				case <-d.done:
					return
				}
			case <-ctx.Done():
				return
			case <-d.done:
				return
			}
		}
	}(sv.runner.Results())
	d.log.Info("services configured", "services", len(sv.cfg.Services))
	d.stepServices(anycast.Tick{})
}

// stopServices cancels the running checks and waits for them. The routes
// go with the sessions; the loopback addresses stay, so the services keep
// their sockets and a restart finds them in place.
func (d *Daemon) stopServices() {
	sv := d.svc
	if sv == nil || sv.runner == nil {
		return
	}
	sv.stop()
	sv.runner.Close()
	sv.runner = nil
}

func (d *Daemon) loopbackAdd(s anycast.Service) {
	sv := d.svc
	delete(sv.loErr, s.Name)
	for _, p := range s.Addresses {
		if err := sv.lo.Add(p); err != nil {
			sv.loErr[s.Name] = fmt.Sprintf("adding %s to the loopback: %v", p, err)
			d.log.Warn("service address not put on the loopback", "service", s.Name, "address", p, "err", err)
			continue
		}
		sv.onLo[p] = true
	}
}

// stepServices feeds one event to the engine and carries out its actions.
func (d *Daemon) stepServices(ev anycast.Event) {
	if d.svc == nil {
		return
	}
	d.serviceActions(d.svc.eng.Step(d.now(), ev))
}

func (d *Daemon) serviceActions(acts []anycast.Action) {
	sv := d.svc
	for _, a := range acts {
		switch a := a.(type) {
		case anycast.RunCheck:
			if sv.runner != nil {
				sv.runner.Start(a)
			}
		case anycast.Announce:
			if err := d.rib.Originate(a.Prefix, d.serviceAttrs(a)); err != nil {
				d.log.Error("announcing a service address", "service", a.Service, "prefix", a.Prefix, "err", err)
				continue
			}
			sv.routes[a.Prefix] = a
			d.log.Debug("service address announced", "service", a.Service, "prefix", a.Prefix,
				"graceful-shutdown", a.GracefulShutdown, "prepend", a.Prepend, "link-bandwidth", a.LinkBandwidth)
		case anycast.Withdraw:
			if _, ok := sv.routes[a.Prefix]; !ok {
				continue
			}
			delete(sv.routes, a.Prefix)
			if err := d.rib.Unoriginate(a.Prefix); err != nil {
				d.log.Error("withdrawing a service address", "service", a.Service, "prefix", a.Prefix, "err", err)
			}
			d.log.Debug("service address withdrawn", "service", a.Service, "prefix", a.Prefix)
		case anycast.StateChange:
			d.log.Info("service state", "service", a.Service, "health", string(a.Health), "admin", string(a.Admin),
				"announced", a.Announced, "reason", a.Reason)
		}
	}
}

// serviceAttrs is the local route for an Announce. The drain prepend is
// carried in the originated AS path, so a change of it alone is a change of
// attributes the RIB sends; serviceExport takes it off again for iBGP.
func (d *Daemon) serviceAttrs(a anycast.Announce) *wire.PathAttrs {
	return d.drainAttrs(a.GracefulShutdown, a.Prepend, a.LinkBandwidth)
}

// drainAttrs is a local route with the drain attributes and the
// link-bandwidth community (none when lb is 0).
func (d *Daemon) drainAttrs(gshut bool, prepend int, lb float32) *wire.PathAttrs {
	pa := &wire.PathAttrs{HasOrigin: true, Origin: wire.OriginIGP, HasASPath: true}
	if prepend > 0 {
		pa.ASPath = wire.ASPath{{Type: wire.ASSequence, ASNs: slices.Repeat([]uint32{d.cfg.ASN}, prepend)}}
	}
	if gshut {
		pa.Communities = []uint32{wire.CommunityGracefulShutdown}
	}
	if lb > 0 {
		lb := wire.LinkBandwidth(d.cfg.ASN, lb)
		// Transitive, as FRR sends it by default: the community has to
		// cross the host-leaf eBGP session to reach the fabric's ECMP.
		lb[0] = wire.ExtTypeTransitiveTwoOctetAS
		pa.ExtCommunities = []wire.ExtCommunity{lb}
	}
	return pa
}

func (d *Daemon) serviceResult(ev serviceResultEvent) { d.stepServices(ev.r) }

// servicesDeadline is when the engine next needs a Tick, or the node
// drain withdraws the host's networks, whichever is first.
func (d *Daemon) servicesDeadline() time.Time {
	if d.svc == nil {
		return time.Time{}
	}
	nets := d.svc.nets.until
	t, ok := d.svc.eng.NextDeadline()
	if !ok {
		return nets
	}
	if t.IsZero() {
		// "Step now": the zero time would read as "nothing pending".
		return d.now()
	}
	if !nets.IsZero() && nets.Before(t) {
		return nets
	}
	return t
}

func (d *Daemon) tickServices(now time.Time) {
	if d.svc == nil {
		return
	}
	if t, ok := d.svc.eng.NextDeadline(); ok && !t.After(now) {
		d.stepServices(anycast.Tick{})
	}
	if u := d.svc.nets.until; !u.IsZero() && !u.After(now) {
		d.withdrawNets()
	}
}

// drainNets starts the node drain of a host's own networks (its loopback,
// through which the fabric reaches the host and its BGP sessions' other
// traffic): they are re-announced with the top-level drain attributes, as
// the services are, and withdrawn after the top-level drain time. Only in
// role host: a switch's networks are the fabric's, not one server's.
func (d *Daemon) drainNets() {
	sv := d.svc
	if d.cfg.Role != "host" || sv.nets.active {
		return
	}
	sv.nets = netsDrain{active: true, spec: sv.cfg.Drain}
	attrs := d.drainAttrs(sv.nets.spec.GracefulShutdown, sv.nets.spec.Prepend, 0)
	for _, p := range d.nets {
		if err := d.rib.Originate(p, attrs); err != nil {
			d.log.Error("draining a network", "prefix", p, "err", err)
		}
	}
	d.log.Info("node drain: networks re-announced with the drain attributes", "networks", len(d.nets),
		"graceful-shutdown", sv.nets.spec.GracefulShutdown, "prepend", sv.nets.spec.Prepend, "withdraw-after", sv.nets.spec.Time)
	if sv.nets.spec.Time <= 0 {
		d.withdrawNets()
		return
	}
	sv.nets.until = d.now().Add(sv.nets.spec.Time)
}

// withdrawNets ends the drain period of the host's networks.
func (d *Daemon) withdrawNets() {
	sv := d.svc
	for _, p := range d.nets {
		if err := d.rib.Unoriginate(p); err != nil {
			d.log.Error("withdrawing a drained network", "prefix", p, "err", err)
		}
	}
	sv.nets.until, sv.nets.gone = time.Time{}, true
	d.log.Info("node drain: networks withdrawn", "networks", len(d.nets))
}

// undrainNets announces the host's networks plainly again.
func (d *Daemon) undrainNets() {
	sv := d.svc
	if !sv.nets.active {
		return
	}
	for _, p := range d.nets {
		if err := d.rib.Originate(p, nil); err != nil {
			d.log.Error("undraining a network", "prefix", p, "err", err)
		}
	}
	sv.nets = netsDrain{}
	d.log.Info("node undrain: networks announced again", "networks", len(d.nets))
}

// drainPrepend is the drain prepend in the originated path of the local
// route p, for serviceExport to take off towards iBGP peers.
func (d *Daemon) drainPrepend(p netip.Prefix) int {
	sv := d.svc
	if sv == nil {
		return 0
	}
	if an, ok := sv.routes[p]; ok {
		return an.Prepend
	}
	if sv.nets.active && !sv.nets.gone && slices.Contains(d.nets, p) {
		return sv.nets.spec.Prepend
	}
	return 0
}

// serviceExport is the RIB policy hook of routing on the host, for each
// session as it comes up and on a policy reload:
//   - a host announces only what it originates (its loopback and its
//     services), never a route learned from one leaf to the other, which
//     would make it a transit path between them;
//   - the drain prepend is taken off towards iBGP peers, for whom our own AS
//     in the path would be a loop;
//   - a route the import policy refuses is logged (a leaf's filter on what a
//     server may announce): the first few per session, then a count.
func (d *Daemon) serviceExport(pc *rib.PeerConfig) {
	if pc.Import != nil {
		pc.Import = &loggedImport{inner: pc.Import, d: d, neighbor: pc.Address.String()}
	}
	if d.cfg.Role != "host" && d.svc == nil {
		return
	}
	pc.Export = hostExport{inner: pc.Export, d: d, ibgp: pc.Type == rib.IBGP}
	pc.ExportName = fmt.Sprintf("host|%v|%s", pc.Type == rib.IBGP, pc.ExportName)
}

// maxLoggedRefusals bounds the refusals logged one by one per session, so a
// peer announcing a full table it may not cannot flood the log.
const maxLoggedRefusals = 20

type loggedImport struct {
	inner    rib.Policy
	d        *Daemon
	neighbor string
	refused  int
}

func (l *loggedImport) Import(i rib.PathInfo, f wire.Family, p netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	out, ok := l.inner.Import(i, f, p, a)
	if !ok || out == nil {
		l.refused++
		switch {
		case l.refused <= maxLoggedRefusals:
			l.d.log.Warn("route refused by the import policy", "neighbor", l.neighbor, "prefix", p, "as-path", asPathString(a.ASPath))
		case l.refused == maxLoggedRefusals+1:
			l.d.log.Warn("more routes refused by the import policy; not logging each", "neighbor", l.neighbor)
		}
	}
	return out, ok
}

func (l *loggedImport) Export(i rib.PathInfo, f wire.Family, p netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	return l.inner.Export(i, f, p, a)
}

type hostExport struct {
	inner rib.Policy
	d     *Daemon
	ibgp  bool
}

func (h hostExport) Import(i rib.PathInfo, f wire.Family, p netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	if h.inner == nil {
		return a, true
	}
	return h.inner.Import(i, f, p, a)
}

func (h hostExport) Export(i rib.PathInfo, f wire.Family, p netip.Prefix, a *wire.PathAttrs) (*wire.PathAttrs, bool) {
	local := i.Peer == 0 // the RIB's pseudo-peer of locally originated paths
	if h.d.cfg.Role == "host" && !local {
		return nil, false
	}
	if h.ibgp && local {
		if n := h.d.drainPrepend(p); n > 0 {
			c := a.Clone()
			c.ASPath = stripPrepend(c.ASPath, h.d.cfg.ASN, n)
			a = c
		}
	}
	if h.inner == nil {
		return a, true
	}
	return h.inner.Export(i, f, p, a)
}

// stripPrepend removes n leading copies of as from the path.
func stripPrepend(p wire.ASPath, as uint32, n int) wire.ASPath {
	if len(p) == 0 || p[0].Type != wire.ASSequence {
		return p
	}
	k := 0
	for k < n && k < len(p[0].ASNs) && p[0].ASNs[k] == as {
		k++
	}
	out := slices.Clone(p)
	out[0].ASNs = slices.Clone(p[0].ASNs[k:])
	if len(out[0].ASNs) == 0 {
		out = out[1:]
	}
	return out
}

// ServiceRoute is one service address as originated now.
type ServiceRoute struct {
	Prefix           netip.Prefix `json:"prefix"`
	GracefulShutdown bool         `json:"graceful_shutdown,omitempty"`
	Prepend          int          `json:"prepend,omitempty"`
	LinkBandwidth    float32      `json:"link_bandwidth_bytes_per_second,omitempty"`
}

// ServiceStatus is one service for `clos show services`: the engine's view
// (health, drain, reason, history) and what the daemon did with it.
type ServiceStatus struct {
	anycast.ServiceStatus
	// Routes are the addresses originated now, with their drain attributes.
	Routes []ServiceRoute `json:"routes"`
	// Loopback is set when closd could not put an address on the loopback.
	Loopback string `json:"loopback_error,omitempty"`
}

// ServicesStatus is the answer of Services.
type ServicesStatus struct {
	// DrainAll is set after a whole-node drain until undrain.
	DrainAll bool            `json:"drain_all"`
	Services []ServiceStatus `json:"services"`
	// Networks are a host's own networks (its loopback) during a node
	// drain: announced with the drain attributes, or withdrawn.
	Networks []NetworkDrain `json:"networks,omitempty"`
}

// NetworkDrain is one of a host's networks under a node drain.
type NetworkDrain struct {
	ServiceRoute
	Withdrawn bool `json:"withdrawn"`
}

// ErrNoServices is returned by the service methods of a closd without
// services in its config.
var ErrNoServices = errors.New("no services configured (add a services: section to the config)")

// ErrUnknownService is returned for a service name not in the config.
var ErrUnknownService = errors.New("no such service")

// Services returns the anycast services' state.
func (d *Daemon) Services(ctx context.Context) (ServicesStatus, error) {
	var out ServicesStatus
	err := d.query(ctx, func() {
		sv := d.svc
		out.Services = []ServiceStatus{}
		if sv == nil {
			return
		}
		out.DrainAll = sv.drainAll
		if sv.nets.active {
			for _, p := range d.nets {
				out.Networks = append(out.Networks, NetworkDrain{
					ServiceRoute: ServiceRoute{Prefix: p, GracefulShutdown: sv.nets.spec.GracefulShutdown, Prepend: sv.nets.spec.Prepend},
					Withdrawn:    sv.nets.gone})
			}
		}
		for _, st := range sv.eng.Services() {
			s := ServiceStatus{ServiceStatus: st, Routes: []ServiceRoute{}, Loopback: sv.loErr[st.Name]}
			for _, p := range st.Addresses {
				if a, ok := sv.routes[p]; ok {
					s.Routes = append(s.Routes, ServiceRoute{Prefix: p, GracefulShutdown: a.GracefulShutdown, Prepend: a.Prepend, LinkBandwidth: a.LinkBandwidth})
				}
			}
			out.Services = append(out.Services, s)
		}
		sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Name < out.Services[j].Name })
	})
	return out, err
}

// DrainServices drains one service, or every service when name is empty:
// its routes get the drain attributes, and are withdrawn after the drain
// time.
func (d *Daemon) DrainServices(ctx context.Context, name string) error {
	return d.serviceCommand(ctx, name, true)
}

// UndrainServices reverses DrainServices (name empty: every service and the
// node drain).
func (d *Daemon) UndrainServices(ctx context.Context, name string) error {
	return d.serviceCommand(ctx, name, false)
}

func (d *Daemon) serviceCommand(ctx context.Context, name string, drain bool) error {
	var err error
	qerr := d.query(ctx, func() {
		sv := d.svc
		if sv == nil {
			err = ErrNoServices
			return
		}
		if name != "" {
			if _, ok := sv.eng.Service(name); !ok {
				var names []string
				for _, s := range sv.cfg.Services {
					names = append(names, s.Name)
				}
				err = fmt.Errorf("%w %q; configured: %v", ErrUnknownService, name, names)
				return
			}
		}
		all := name == ""
		if drain {
			if all {
				sv.drainAll = true
				d.drainNets()
			}
			d.log.Info("drain", "service", name, "all", all)
			d.stepServices(anycast.Drain{Service: name, All: all})
		} else {
			if all {
				sv.drainAll = false
				d.undrainNets()
			}
			d.log.Info("undrain", "service", name, "all", all)
			d.stepServices(anycast.Undrain{Service: name, All: all})
		}
		d.flush()
	})
	if qerr != nil {
		return qerr
	}
	return err
}

// ReconfigureServices applies a new config's services and drain sections
// without flapping healthy services: removed services are withdrawn and
// their addresses taken off the loopback, new ones start down. A config
// reload (SIGHUP) does the same through checkServices and applyServices.
func (d *Daemon) ReconfigureServices(ctx context.Context, c *config.Config) error {
	var err error
	qerr := d.query(ctx, func() {
		if err = d.checkServices(c); err == nil {
			d.applyServices(c)
			d.flush()
		}
	})
	if qerr != nil {
		return qerr
	}
	return err
}

// checkServices says whether the running daemon can move to c's services;
// it changes nothing.
func (d *Daemon) checkServices(c *config.Config) error {
	cfg := c.ServicesConfig()
	if _, err := anycast.New(cfg); err != nil {
		return fmt.Errorf("services: %w", err)
	}
	for _, s := range cfg.Services {
		for _, p := range s.Addresses {
			if slices.Contains(c.Networks, p) {
				return fmt.Errorf("service %s: %s is also in networks; a service address is announced only while its check passes, so leave it out of networks", s.Name, p)
			}
		}
	}
	return nil
}

// applyServices moves the services to c's, which checkServices accepted.
// It runs on the loop.
func (d *Daemon) applyServices(c *config.Config) []string {
	cfg := c.ServicesConfig()
	sv := d.svc
	if sv == nil {
		if len(cfg.Services) == 0 {
			return nil
		}
		eng, err := anycast.New(cfg)
		if err != nil {
			return []string{"services: " + err.Error()}
		}
		d.svc = &services{cfg: cfg, eng: eng, routes: map[netip.Prefix]anycast.Announce{},
			onLo: map[netip.Prefix]bool{}, loErr: map[string]string{}}
		d.startServices()
		return []string{fmt.Sprintf("services: started %d", len(cfg.Services))}
	}
	acts, err := sv.eng.Reconfigure(d.now(), cfg)
	if err != nil {
		return []string{"services: " + err.Error()}
	}
	keep := map[netip.Prefix]bool{}
	for _, s := range cfg.Services {
		for _, p := range s.Addresses {
			keep[p] = true
		}
	}
	d.serviceActions(acts)
	for p := range sv.onLo {
		if !keep[p] {
			if rerr := sv.lo.Remove(p); rerr != nil {
				d.log.Warn("removing a service address from the loopback", "address", p, "err", rerr)
			}
			delete(sv.onLo, p)
		}
	}
	sv.cfg = cfg
	for _, s := range cfg.Services {
		d.loopbackAdd(s)
	}
	return nil
}

// servicesDrained reports whether no service is announced any more, nor
// a network under a node drain.
func (d *Daemon) servicesDrained() bool {
	if d.svc == nil {
		return true
	}
	if d.svc.nets.active && !d.svc.nets.gone {
		return false
	}
	for _, st := range d.svc.eng.Services() {
		if st.Announced {
			return false
		}
	}
	return true
}

// maxDrainTime is the longest drain of any service, or of the networks.
func (d *Daemon) maxDrainTime() time.Duration {
	var m time.Duration
	if d.svc == nil {
		return 0
	}
	m = d.svc.nets.spec.Time
	for _, s := range d.svc.cfg.Services {
		dt := d.svc.cfg.Drain.Time
		if s.Drain != nil {
			dt = s.Drain.Time
		}
		m = max(m, dt)
	}
	return m
}

// DrainAndWait drains every service and returns once none is announced any
// more (each has been withdrawn after its drain time), or when ctx ends.
func (d *Daemon) DrainAndWait(ctx context.Context) error {
	if err := d.DrainServices(ctx, ""); err != nil {
		if errors.Is(err, ErrNoServices) {
			return nil
		}
		return err
	}
	var limit time.Duration
	if err := d.query(ctx, func() { limit = d.maxDrainTime() }); err != nil {
		return err
	}
	// The engine withdraws at the drain time; the margin covers a loop
	// that is late and the withdrawal being sent.
	ctx, cancel := context.WithTimeout(ctx, limit+5*time.Second)
	defer cancel()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		var done bool
		if err := d.query(ctx, func() { done = d.servicesDrained() }); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("services still announced after the drain time: %w", ctx.Err())
		case <-tk.C:
		}
	}
}

// StopAfterDrain returns a context for Run that ends when parent does
// (SIGINT: stop at once), or after a signal on term (SIGTERM): with
// drain.on-sigterm, every service is drained first and withdrawn after its
// drain time, then the context ends and Run closes the sessions. A second
// signal on term skips the wait.
func (d *Daemon) StopAfterDrain(parent context.Context, term <-chan os.Signal) context.Context {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		defer cancel()
		select {
		case <-parent.Done():
			return
		case <-d.done: // Run returned: nothing left to drain
			return
		case <-term:
		}
		d.GracefulStop()
		if d.svc == nil || !d.cfg.DrainOnSigterm() {
			d.log.Info("SIGTERM: stopping")
			return
		}
		d.log.Info("SIGTERM: draining every service before stopping (again to stop at once)")
		dctx, dcancel := context.WithCancel(parent)
		defer dcancel()
		go func() {
			select {
			case <-term:
				d.log.Info("second SIGTERM: stopping without waiting for the drain")
				dcancel()
			case <-dctx.Done():
			}
		}()
		if err := d.DrainAndWait(dctx); err != nil {
			d.log.Warn("drain before stopping", "err", err)
			return
		}
		d.log.Info("every service drained and withdrawn: stopping")
	}()
	return ctx
}

// HostProcs is the GOMAXPROCS of closd in host mode (see TuneHostRuntime).
const HostProcs = 1

// TuneHostRuntime sets GOMAXPROCS to HostProcs for role host unless the
// operator set GOMAXPROCS in the environment (getenv), and reports whether
// it did. A host's closd has two sessions and a few checks that wait on
// I/O: one P runs them, and each P more costs memory (its mcache, more
// threads with their stacks) and lets the daemon compete with the host's
// own workload for CPU. Measured here: about 1 MiB of RSS less. Switches
// keep the runtime's default: they carry full tables over many sessions.
func TuneHostRuntime(c *config.Config, getenv func(string) string) bool {
	if c.Role != "host" || getenv("GOMAXPROCS") != "" {
		return false
	}
	runtime.GOMAXPROCS(HostProcs)
	return true
}
