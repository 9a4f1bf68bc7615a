// Package daemon is closd's event loop: it turns the pure engines (one
// fsm.Session per BGP connection, the rib.Engine, the policy set) into a
// running BGP speaker by wiring them to sockets, one timer and the kernel
// FIB.
//
// One goroutine, the loop, owns every engine. Other goroutines only move
// bytes and report: the listener's accept goroutine, one reader per
// connection, one per dial in progress, and short-lived closers that give
// a final NOTIFICATION time to drain. They hand their results to the loop
// over one channel; the loop steps the engines, carries out their actions,
// asks the RIB what follows (Ready) and sleeps on a single time.Timer set to
// the earliest deadline any session has.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/closnet/clos/internal/anycast"
	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/policy"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/transport"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/fib"
	"github.com/closnet/clos/internal/neigh"
	"github.com/closnet/clos/internal/ra"
)

// Defaults of the timers the config file does not carry.
const (
	// DefaultConnectRetry is shorter than RFC 4271's 120 s: in a fabric the
	// neighbor is usually just booting and should be tried again soon.
	DefaultConnectRetry = 5 * time.Second
	// DefaultCloseLinger is how long a final NOTIFICATION may take to drain
	// before the socket is closed anyway.
	DefaultCloseLinger = time.Second
	// ShutdownMessage is the RFC 9003 communication sent when closd stops.
	ShutdownMessage = "closd is shutting down"
)

// Options are the daemon's environment, as opposed to its configuration.
type Options struct {
	// FIB is the kernel backend routes are installed through: fib.NewLinux
	// when running for real, fib.NewFake in tests. nil installs nothing:
	// the RIB still selects and advertises routes.
	FIB fib.Backend
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. The loop still sleeps on a real
	// timer, so a fake clock only changes the times the engines see.
	Now func() time.Time
	// ConnectRetry, IdleHoldTime and MaxIdleHoldTime override the session
	// timers (0: DefaultConnectRetry and the fsm defaults). Tests shorten
	// the idle hold so sessions can be reset many times.
	ConnectRetry, IdleHoldTime, MaxIdleHoldTime time.Duration
	// CloseLinger bounds the drain of a closing connection (0: DefaultCloseLinger).
	CloseLinger time.Duration
	// SweepAfter, when set, removes kernel routes of a previous run that
	// nobody re-learned this long after start. 0 (the default) sweeps them
	// when the graceful restart phase ends (gr_restart.go).
	SweepAfter time.Duration
	// Resolve finds the interface a next hop is reached through, for the
	// FIB. local is our address on the session the route came from: an
	// IPv6 link-local next hop is on the interface holding it. nil looks
	// for a connected subnet (resolveConnected).
	Resolve func(nh, local netip.Addr) (fib.Member, error)
	// BFDTransport carries the BFD sessions of neighbors with bfd on:
	// nil means bfd.UDPTransport on the standard ports; tests pass a
	// bfd.MemNetwork endpoint. No BFD server is started when no neighbor
	// asks for BFD.
	BFDTransport bfd.Transport
	// BFDProcess runs the BFD sessions in a child process of closd
	// (bfd.Client; bfd_process.go) when BFDTransport is nil or a
	// *bfd.UDPTransport. The binary must call bfd.MaybeRunChild first.
	BFDProcess bool
	// HostWatch, HostKernel and HostNet are the host-route environment
	// (config hosts:, hosts.go); nil means the Linux ones. Tests pass
	// fakes.
	HostWatch  func(interfaces []string) (HostWatcher, error)
	HostKernel neigh.Kernel
	HostNet    HostNet
	// Loopback holds the anycast service addresses (services.go); nil
	// means the OS loopback. CheckExec runs their health checks; nil
	// means anycast.Execute.
	Loopback  Loopback
	CheckExec func(context.Context, anycast.CheckSpec) error
	// ConfigPath is the file Reload reads again (SIGHUP, the API's
	// reload); empty refuses reloads.
	ConfigPath string
	// RA carries router discovery for unnumbered neighbors: nil opens a
	// raw ICMPv6 socket (ra.Listen) when any neighbor is unnumbered.
	RA ra.Conn
	// Links reports interface state, for unnumbered neighbors and fast
	// fall-over: nil watches netlink.
	Links LinkWatcher
	// InterfaceAddrs lists an interface's addresses for `clos show
	// interfaces`; nil asks the OS. Tests pass a fake.
	InterfaceAddrs func(ifindex int) []netip.Prefix
}

// Daemon is one closd: its sessions, its RIB and its FIB.
type Daemon struct {
	cfg  *config.Config
	o    Options
	log  *slog.Logger
	now  func() time.Time
	rib  *rib.Engine
	pol  *policy.Set
	nets []netip.Prefix
	// discard lists the aggregates configured with a discard route; the
	// RIB reports one for every active aggregate.
	discard map[netip.Prefix]bool

	peers  []*peer
	byAddr map[netip.Addr]*peer
	ranges []*dynRange
	byRIB  map[rib.PeerID]*session
	// unnum are the interface neighbors by interface; links is the last
	// state of every interface; ra runs router discovery for unnumbered
	// neighbors over raConn.
	unnum  map[string]*peer
	links  map[string]LinkState
	ra     *ra.Engine
	raConn ra.Conn
	// linkCancel stops the link watcher.
	linkCancel context.CancelFunc

	fibBackend fib.Backend
	fib        *fib.FIB
	// bfd runs the neighbors' BFD sessions; its state changes reach the
	// loop through bfdQueue and a bfdWakeEvent.
	bfd      bfd.Runner
	bfdByKey map[bfd.PeerKey]*peer
	bfdMu    sync.Mutex
	bfdQueue []bfd.StateChange
	bfdx     bfdExtra // standalone peers and counters (bfd_peers.go)
	sweepAt  time.Time
	// gr is the graceful restart state (gr_restart.go).
	gr grState
	// hosts learns host routes from ARP/ND; nil without a hosts section.
	hosts *hostRoutes
	// svc runs the anycast services (services.go); nil without any.
	svc *services

	// Loc-RIB mirror for snapshots: best path per prefix.
	best map[wire.Family]map[bestKey]bestRoute
	// bestBy counts the best paths through each neighbor address.
	bestBy bestPeers

	events    chan event
	done      chan struct{}
	closeDone sync.Once
	queries   chan func()
	wg        sync.WaitGroup
	running   bool
	mu        sync.Mutex
	ln        *transport.Listener
	later     []func()
	stopped   bool
	// polGen counts reloads that changed the policy set (peerPolicy).
	polGen int
	// stats are the loop's counters for metrics (metrics.go).
	stats loopStats
}

type event interface{}

type acceptEvent struct{ nc *net.TCPConn }

type dialEvent struct {
	p   *peer
	gen uint64
	nc  *net.TCPConn
	err error
}

type readEvent struct {
	c   *conn
	msg []byte
	err error
}

type acceptErrEvent struct{ err error }

// peer is one configured neighbor.
type peer struct {
	n      config.Neighbor
	name   string
	remote netip.AddrPort
	topts  transport.Options
	fcfg   fsm.Config
	log    *slog.Logger
	// main carries the session; second is an inbound connection that
	// arrived while main had one, until fsm.Collision picks one.
	main, second *session
	dialCancel   context.CancelFunc
	dialGen      uint64

	received map[nlriKey]struct{}
	lastNeg  fsm.Negotiated
	resets   uint64
	// dyn is the listen-range a dynamic neighbor was accepted by; the
	// neighbor is forgotten when its session ends.
	dyn *dynRange
	// bfd is the neighbor's BFD session, nil without one.
	bfd *peerBFD
	// gr holds the peer's routes while it restarts (gr.go).
	gr *grHold
	// adminDown is set while the operator has the neighbor shut down
	// (ShutdownNeighbor); n.Shutdown is then set too.
	adminDown bool
	// updatesIn and updatesOut count UPDATEs over every session with the
	// neighbor, for metrics; the RIB's go out past the fsm's counters.
	updatesIn, updatesOut uint64
}

// dynRange is a listen-range neighbor: a template for the peers that
// connect from inside prefix, at most limit at a time.
type dynRange struct {
	i      int
	n      config.Neighbor
	prefix netip.Prefix
	limit  int
	count  int
}

// nlriKey is one received prefix (the NLRI carries the add-path ID).
type nlriKey struct {
	f wire.Family
	n wire.NLRI
}

// session is one fsm.Session with the connection it drives.
type session struct {
	p     *peer
	fsm   *fsm.Session
	conn  *conn
	ribID rib.PeerID
	inRIB bool
	neg   fsm.Negotiated
	// local is our address on the connection, with its zone.
	local netip.Addr
	// ribSent counts the RIB's messages sent on this session, which the
	// fsm does not see.
	ribSent uint64
	// ifname is the interface whose loss drops the session at once (fast
	// fall-over), "" when none; linkDown is set when that happened.
	ifname   string
	linkDown bool
	// eorIn lists the End-of-RIBs the peer sent on this session (gr_show.go).
	eorIn []wire.Family
}

// conn is a live connection; closed once detached from its session, after
// which its reader's events are dropped.
type conn struct {
	tc     *transport.Conn
	s      *session
	closed bool
	// noExtMsg is set once the session is known not to have extended
	// messages, so the reader refuses a header longer than 4096 at once.
	noExtMsg atomic.Bool
}

// New checks cfg for what this daemon can run and builds the engines.
// Nothing is opened before Run.
func New(cfg *config.Config, o Options) (*Daemon, error) {
	if cfg == nil {
		return nil, errors.New("daemon: no config")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ConnectRetry == 0 {
		o.ConnectRetry = DefaultConnectRetry
	}
	if o.CloseLinger == 0 {
		o.CloseLinger = DefaultCloseLinger
	}
	if o.Resolve == nil {
		o.Resolve = resolveConnected
	}
	d := &Daemon{
		cfg: cfg, o: o, log: o.Logger, now: o.Now,
		byAddr:     map[netip.Addr]*peer{},
		byRIB:      map[rib.PeerID]*session{},
		unnum:      map[string]*peer{},
		links:      map[string]LinkState{},
		bfdByKey:   map[bfd.PeerKey]*peer{},
		best:       map[wire.Family]map[bestKey]bestRoute{},
		events:     make(chan event, 256),
		done:       make(chan struct{}),
		queries:    make(chan func()),
		fibBackend: o.FIB,
	}
	d.grInit()
	maxPaths := cfg.BGP.MaxPaths
	if maxPaths == 0 {
		maxPaths = config.DefaultMaxPaths
	}
	r, err := rib.New(rib.Config{LocalAS: cfg.ASN, RouterID: cfg.RouterID, MaxPaths: maxPaths, MultipathRelax: cfg.BGP.MultipathRelax || hostMultipath(cfg)})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.rib = r
	d.pol, err = policy.Compile(&cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("daemon: policy: %w", err)
	}
	if cfg.Redistribute.Connected != nil {
		return nil, errors.New("daemon: redistribute.connected is not supported by this build of closd yet; originate the prefixes with networks instead")
	}
	d.discard = map[netip.Prefix]bool{}
	for _, a := range cfg.Aggregates {
		d.discard[a.Prefix.Masked()] = a.Discard
		if err := d.rib.AddAggregate(a.Prefix, a.SummaryOnly); err != nil {
			return nil, fmt.Errorf("daemon: aggregate %s: %w", a.Prefix, err)
		}
	}
	for _, p := range cfg.Networks {
		if err := d.rib.Originate(p, nil); err != nil {
			return nil, fmt.Errorf("daemon: network %s: %w", p, err)
		}
		d.nets = append(d.nets, p)
	}
	if err := d.newHosts(); err != nil {
		return nil, err
	}
	if err := d.newServices(); err != nil {
		return nil, err
	}
	for i, n := range cfg.Neighbors {
		if n.ListenRange.IsValid() {
			// Checked now with a stand-in address so that a bad range
			// neighbor fails at start, not at its first connection.
			if _, err := d.newPeer(i, n, n.ListenRange.Masked().Addr()); err != nil {
				return nil, err
			}
			limit := n.Limit
			if limit <= 0 {
				limit = config.DefaultListenRangeMax
			}
			d.ranges = append(d.ranges, &dynRange{i: i, n: n, prefix: n.ListenRange.Masked(), limit: limit})
			continue
		}
		if n.Interface != "" {
			p, err := d.newPeer(i, n, netip.Addr{})
			if err != nil {
				return nil, err
			}
			d.unnum[n.Interface] = p
			d.peers = append(d.peers, p)
			continue
		}
		p, err := d.newPeer(i, n, n.Address)
		if err != nil {
			return nil, err
		}
		if d.byAddr[p.remote.Addr()] != nil {
			return nil, fmt.Errorf("daemon: neighbors[%d]: address %s is configured twice", i, p.remote.Addr())
		}
		d.byAddr[p.remote.Addr()] = p
		d.peers = append(d.peers, p)
	}
	return d, nil
}

// newPeer makes the neighbor at addr; for a listen-range neighbor addr is
// the address a connection came from.
func (d *Daemon) newPeer(i int, n config.Neighbor, addr netip.Addr) (*peer, error) {
	if n.Interface != "" {
		if err := unnumberedCheck(n); err != nil {
			return nil, fmt.Errorf("daemon: neighbors[%d] (interface %s): %w", i, n.Interface, err)
		}
	} else if !addr.IsValid() {
		return nil, fmt.Errorf("daemon: neighbors[%d]: no address", i)
	}
	addr = addr.Unmap()
	port := n.Port
	if port == 0 {
		port = config.DefaultPort
	}
	p := &peer{
		n:        n,
		name:     addr.String(),
		remote:   netip.AddrPortFrom(addr, port),
		received: map[nlriKey]struct{}{},
	}
	label := addr.String()
	if n.Interface != "" {
		p.name = n.Interface
		label = "interface " + n.Interface
	}
	p.log = d.log.With("neighbor", p.name)
	p.topts = transport.Options{MD5Key: n.Password, GTSM: n.TTLSecurity, TTL: n.Multihop, Interface: n.Interface}
	if n.TTLSecurity {
		// ttl-security is for directly connected peers only: a segment
		// that crossed a router (TTL 254) is dropped (RFC 5082 3), as
		// FRR's "ttl-security hops 1" does.
		p.topts.GTSMMinTTL = 255
	}
	if !n.TTLSecurity && n.Multihop == 0 && external(n.RemoteAS, d.cfg.ASN) {
		// A directly connected eBGP peer: TTL 1, as FRR and BIRD do, on
		// dialed and accepted connections alike.
		p.topts.TTL = 1
	}
	if la := d.cfg.Listen.Address; n.Interface == "" && la.IsValid() && !la.IsUnspecified() && la.Is4() == addr.Is4() {
		p.topts.LocalAddr = la
	}
	pas, err := peerAS(n.RemoteAS, n.ListenRange.IsValid())
	if err != nil {
		return nil, fmt.Errorf("daemon: neighbors[%d] (%s): remote-as: %w", i, label, err)
	}
	timers := d.cfg.BGP.Timers
	if n.Timers != nil {
		timers = *n.Timers
	}
	fams, err := families(n, addr)
	if err != nil {
		return nil, fmt.Errorf("daemon: neighbors[%d] (%s): %w", i, label, err)
	}
	p.fcfg = fsm.Config{
		LocalAS:         d.cfg.ASN,
		RouterID:        d.cfg.RouterID,
		PeerAS:          pas,
		HoldTime:        time.Duration(timers.Hold) * time.Second,
		Keepalive:       time.Duration(timers.Keepalive) * time.Second,
		NoHoldTime:      timers.Hold == 0,
		ConnectRetry:    d.o.ConnectRetry,
		IdleHoldTime:    d.o.IdleHoldTime,
		MaxIdleHoldTime: d.o.MaxIdleHoldTime,
		Capabilities: wire.Capabilities{
			Multiprotocol:   fams,
			RouteRefresh:    true,
			AS4:             true,
			ExtendedNextHop: extendedNextHop(n, fams),
			GracefulRestart: d.grCapability(p.name, fams),
		},
		Jitter: rand.Float64,
	}
	if n.RouteMap.In != "" || n.RouteMap.Out != "" {
		if err := d.pol.CheckRouteMaps(n.RouteMap.In, n.RouteMap.Out); err != nil {
			return nil, fmt.Errorf("daemon: neighbors[%d] (%s): %w", i, label, err)
		}
	}
	if _, err := fsm.New(p.fcfg); err != nil {
		return nil, fmt.Errorf("daemon: neighbors[%d] (%s): %w", i, label, err)
	}
	return p, nil
}

func peerAS(r config.RemoteAS, dynamic bool) (fsm.PeerAS, error) {
	switch r.Kind {
	case config.ASExternal:
		return fsm.PeerASExternal(), nil
	case config.ASInternal:
		return fsm.PeerASInternal(), nil
	case config.ASNumbers:
		if as, ok := r.Single(); ok {
			return fsm.PeerASNumber(as), nil
		}
		if !dynamic {
			return fsm.PeerAS{}, errors.New("a range of ASNs is only valid for a listen-range neighbor")
		}
		var parts []string
		for _, rg := range r.Ranges {
			if rg.Min == rg.Max {
				parts = append(parts, strconv.FormatUint(uint64(rg.Min), 10))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", rg.Min, rg.Max))
			}
		}
		return fsm.ParsePeerAS(strings.Join(parts, ","))
	}
	return fsm.PeerAS{}, errors.New("missing")
}

// external reports whether every AS r accepts is another than ours.
func external(r config.RemoteAS, ours uint32) bool {
	switch r.Kind {
	case config.ASExternal:
		return true
	case config.ASNumbers:
		return !r.Contains(ours)
	}
	return false
}

func families(n config.Neighbor, addr netip.Addr) ([]wire.Family, error) {
	if len(n.Families) == 0 {
		if n.Interface != "" {
			return []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast}, nil
		}
		if addr.Is4() {
			return []wire.Family{wire.IPv4Unicast}, nil
		}
		return []wire.Family{wire.IPv6Unicast}, nil
	}
	var fs []wire.Family
	for _, f := range n.Families {
		switch f {
		case config.IPv4Unicast:
			fs = append(fs, wire.IPv4Unicast)
		case config.IPv6Unicast:
			fs = append(fs, wire.IPv6Unicast)
		default:
			return nil, fmt.Errorf("families: %q is not one of %s, %s", f, config.IPv4Unicast, config.IPv6Unicast)
		}
	}
	return fs, nil
}

// Run opens the listener, starts every neighbor that is not shut down and
// runs the loop until ctx ends. Then it stops every session with a Cease/
// Administrative Shutdown carrying ShutdownMessage, waits (bounded by
// CloseLinger) for those to be written, and returns once every goroutine
// it started has ended.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running || d.stopped {
		d.mu.Unlock()
		return errors.New("daemon: Run called twice")
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.stopped = true
		d.mu.Unlock()
		// Snapshot callers see ErrNotRunning from now on, also after a
		// failed start.
		d.closeDone.Do(func() { close(d.done) })
	}()

	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	la := d.cfg.Listen.Address
	if !la.IsValid() {
		la = netip.IPv6Unspecified()
	}
	port := d.cfg.Listen.Port
	if port == 0 {
		port = config.DefaultPort
	}
	ln, err := transport.Listen(lctx, netip.AddrPortFrom(la, port), transport.ListenOptions{})
	if err != nil {
		return fmt.Errorf("daemon: listen on %s: %w", netip.AddrPortFrom(la, port), err)
	}
	d.ln = ln
	for _, p := range d.peers {
		if p.n.Password == "" {
			continue
		}
		a := p.remote.Addr()
		if err := ln.SetMD5(netip.PrefixFrom(a, a.BitLen()), p.n.Password); err != nil {
			ln.Close()
			return fmt.Errorf("daemon: neighbor %s: TCP MD5 key on the listener: %w", a, err)
		}
	}
	for _, r := range d.ranges {
		if r.n.Password == "" {
			continue
		}
		if err := ln.SetMD5(r.prefix, r.n.Password); err != nil {
			ln.Close()
			return fmt.Errorf("daemon: listen-range %s: TCP MD5 key on the listener: %w", r.prefix, err)
		}
	}
	if d.fibBackend != nil {
		f, err := fib.New(d.fibBackend, fib.Options{Logger: d.log.With("component", "fib")})
		if err != nil {
			ln.Close()
			return fmt.Errorf("daemon: fib: %w", err)
		}
		if err := f.Start(lctx); err != nil {
			ln.Close()
			return fmt.Errorf("daemon: fib: %w", err)
		}
		d.fib = f
		if d.o.SweepAfter != 0 {
			d.sweepAt = d.now().Add(d.o.SweepAfter)
		}
		d.grStart(d.now())
		d.warnHostSysctls()
	}
	if err := d.startBFD(); err != nil {
		ln.Close()
		if d.fib != nil {
			d.fib.Close()
		}
		return fmt.Errorf("daemon: bfd: %w", err)
	}
	if err := d.startHosts(); err != nil {
		ln.Close()
		if d.fib != nil {
			d.fib.Close()
		}
		return fmt.Errorf("daemon: %w", err)
	}
	d.startServices()
	err = d.startLinks(lctx)
	if err == nil {
		err = d.startUnnumbered()
	}
	if err != nil {
		d.stopServices()
		lcancel()
		ln.Close()
		if d.fib != nil {
			d.fib.Close()
		}
		if d.bfd != nil {
			d.bfd.Close()
		}
		d.closeDone.Do(func() { close(d.done) })
		d.wg.Wait()
		return fmt.Errorf("daemon: %w", err)
	}
	d.log.Info("closd running", "router-id", d.cfg.RouterID, "asn", d.cfg.ASN, "listen", ln.Addr(), "neighbors", len(d.peers), "networks", len(d.nets))

	d.wg.Add(1)
	go d.accept(ln)

	now := d.now()
	for _, p := range d.peers {
		s := d.newSession(p)
		p.main = s
		if p.n.Shutdown {
			p.log.Info("neighbor is shut down by configuration", "message", p.n.ShutdownMessage)
			continue
		}
		d.addBFD(p, netip.Addr{})
		d.step(s, fsm.ManualStart{}, now)
	}
	d.flush()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.resetTimer(timer)
		select {
		case <-ctx.Done():
			d.stopHosts()
			d.stopServices()
			d.shutdown(ln)
			if d.fib != nil {
				d.fib.Close()
			}
			lcancel()
			return nil
		case ev := <-d.events:
			// BFD changes queued before this event are older than it: a
			// connection accepted just after BFD came Up must not be
			// refused as if BFD were still Down.
			d.drainBFD()
			d.handle(ev)
			// Batch what is already queued so the RIB decides once.
		batch:
			for range 64 {
				select {
				case ev := <-d.events:
					d.handle(ev)
				default:
					break batch
				}
			}
			d.drainBFD()
		case <-timer.C:
			d.tick()
		case q := <-d.queries:
			q()
		}
		d.grPhaseCheck(d.now())
		d.flush()
	}
}

func (d *Daemon) resetTimer(t *time.Timer) {
	var next time.Time
	consider := func(at time.Time) {
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	for _, p := range d.peers {
		for _, s := range []*session{p.main, p.second} {
			if s != nil {
				consider(s.fsm.NextDeadline())
			}
		}
	}
	consider(d.sweepAt)
	consider(d.hostsDeadline())
	consider(d.servicesDeadline())
	consider(d.raDeadline())
	consider(d.grDeadline())
	consider(d.grPhaseDeadline())
	if at, ok := d.rib.NextDeadline(); ok {
		consider(at)
	}
	wait := time.Hour
	if !next.IsZero() {
		wait = max(next.Sub(d.now()), 0)
	}
	t.Reset(wait)
}

func (d *Daemon) tick() {
	now := d.now()
	// Stepping may forget a dynamic neighbor, which edits d.peers.
	for _, p := range slices.Clone(d.peers) {
		for _, s := range []*session{p.main, p.second} {
			if s == nil {
				continue
			}
			if dl := s.fsm.NextDeadline(); !dl.IsZero() && !dl.After(now) {
				d.step(s, fsm.Tick{}, now)
			}
		}
	}
	d.hostsTick(now)
	d.tickServices(now)
	d.raTick(now)
	d.grTick(now)
	if !d.sweepAt.IsZero() && !d.sweepAt.After(now) {
		d.sweepAt = time.Time{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.fib.Sweep(ctx); err != nil {
			d.log.Warn("fib: sweeping routes of a previous run", "err", err)
		}
		cancel()
	}
}

func (d *Daemon) newSession(p *peer) *session {
	f, err := fsm.New(p.fcfg)
	if err != nil {
		// New checked this config already.
		panic(fmt.Sprintf("daemon: fsm config of %s became invalid: %v", p.name, err))
	}
	return &session{p: p, fsm: f}
}

// step feeds one event to a session and carries out what it asks.
func (d *Daemon) step(s *session, ev fsm.Event, now time.Time) {
	before := s.fsm.State()
	acts := s.fsm.Step(now, ev)
	// The slice is only valid until the next Step, and carrying out an
	// action may step this or another session.
	acts = append([]fsm.Action(nil), acts...)
	if after := s.fsm.State(); after != before {
		level := slog.LevelInfo
		if churn(before) && churn(after) {
			// Dialing an absent peer again every ConnectRetry is not news.
			level = slog.LevelDebug
		}
		s.p.log.Log(context.Background(), level, "state change", "from", before.String(), "to", after.String(), "inbound", s.fsm.Inbound())
	}
	for _, a := range acts {
		d.do(s, a, now)
	}
	d.collide(s.p, now)
	d.runLater()
}

func churn(st fsm.State) bool {
	return st == fsm.StateConnect || st == fsm.StateActive || st == fsm.StateIdle
}

func (d *Daemon) runLater() {
	for len(d.later) > 0 {
		f := d.later[0]
		d.later = d.later[1:]
		f()
	}
}

func (d *Daemon) do(s *session, a fsm.Action, now time.Time) {
	p := s.p
	switch a := a.(type) {
	case fsm.Connect:
		if s != p.main {
			// A second session only ever has the connection it was
			// made for.
			return
		}
		if bfdHeld(p) {
			// BFD says the path is dead: the fsm retries after
			// ConnectRetry, and BFD Up dials at once.
			p.log.Debug("not connecting while BFD is down")
			return
		}
		if waitingForAddress(p) {
			p.log.Debug("not connecting: no router advertisement from the peer yet")
			return
		}
		d.dial(p)
	case fsm.AbortConnect:
		if s == p.main {
			d.abortDial(p)
		}
	case fsm.Send:
		if s.conn == nil || s.conn.closed {
			return
		}
		b, err := wire.Append(nil, a.Msg, s.fsm.Options())
		if err != nil {
			p.log.Error("encoding a message", "type", fmt.Sprintf("%T", a.Msg), "err", err)
			return
		}
		d.send(s, b)
	case fsm.CloseConnection:
		d.closeConn(s)
	case fsm.Established:
		d.established(s, a.Session)
	case fsm.Down:
		d.down(s, a)
	case fsm.DeliverUpdate:
		d.deliver(s, a)
	case fsm.DeliverRouteRefresh:
		if s.inRIB {
			if err := d.rib.RouteRefresh(s.ribID, a.Refresh.Family, s.neg.EnhancedRouteRefresh); err != nil {
				p.log.Warn("route refresh", "err", err)
			}
		}
	}
}

func (d *Daemon) send(s *session, b []byte) {
	if err := s.conn.tc.Send(b); err != nil {
		c := s.conn
		d.later = append(d.later, func() {
			if s.conn == c {
				s.p.log.Warn("dropping the session", "err", err)
				d.step(s, fsm.TcpConnectionFails{Reason: err.Error()}, d.now())
				d.closeConn(s)
			}
		})
	}
}

func (d *Daemon) dial(p *peer) {
	d.abortDial(p)
	p.dialGen++
	gen := p.dialGen
	ctx, cancel := context.WithTimeout(context.Background(), d.o.ConnectRetry)
	p.dialCancel = cancel
	// The loop may learn a new address for an unnumbered peer meanwhile.
	remote, topts := p.remote, p.topts
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		nc, err := transport.Dial(ctx, remote, topts)
		select {
		case d.events <- dialEvent{p: p, gen: gen, nc: nc, err: err}:
		case <-d.done:
			if nc != nil {
				nc.Close()
			}
		}
	}()
}

func (d *Daemon) abortDial(p *peer) {
	if p.dialCancel != nil {
		p.dialCancel()
		p.dialCancel = nil
		p.dialGen++
	}
}

func (d *Daemon) accept(ln *transport.Listener) {
	defer d.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-d.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case d.events <- acceptErrEvent{err}:
			case <-d.done:
				return
			}
			// A failing accept (out of fds) must not spin.
			select {
			case <-time.After(100 * time.Millisecond):
			case <-d.done:
				return
			}
			continue
		}
		select {
		case d.events <- acceptEvent{nc}:
		case <-d.done:
			nc.Close()
			return
		}
	}
}

func (d *Daemon) handle(ev event) {
	now := d.now()
	switch ev := ev.(type) {
	case acceptEvent:
		d.accepted(ev.nc, now)
	case acceptErrEvent:
		d.log.Warn("accepting a connection", "err", ev.err)
	case bfdWakeEvent:
		d.drainBFD()
	case hostsEvent:
		d.handleHosts(ev)
	case serviceResultEvent:
		d.serviceResult(ev)
	case linkEvent:
		d.linkChanged(ev.s)
	case raEvent:
		d.raReceived(ev, now)
	case raErrEvent:
		d.log.Warn("router discovery socket", "err", ev.err)
	case dialEvent:
		p := ev.p
		if ev.gen != p.dialGen || p.main.fsm.State() != fsm.StateConnect || p.main.conn != nil {
			if ev.nc != nil {
				ev.nc.Close()
			}
			return
		}
		p.dialCancel = nil
		if ev.err != nil {
			p.log.Debug("dial failed", "err", ev.err)
			d.step(p.main, fsm.TcpConnectionFails{Reason: ev.err.Error()}, now)
			return
		}
		d.attach(p.main, ev.nc)
		d.step(p.main, fsm.TcpConnectionConfirmed{Inbound: false}, now)
	case readEvent:
		c := ev.c
		if c.closed {
			return
		}
		s := c.s
		if ev.err != nil {
			var werr *wire.Error
			if errors.As(ev.err, &werr) {
				d.step(s, fsm.RecvMessage{Err: werr}, now)
			} else {
				d.step(s, fsm.TcpConnectionFails{Reason: ev.err.Error()}, now)
			}
			if s.conn == c {
				d.closeConn(s)
			}
			d.forgetDynamic(s.p)
			return
		}
		m, err := wire.Parse(ev.msg, s.fsm.Options())
		d.step(s, fsm.RecvMessage{Msg: m, Err: err}, now)
	}
}

func (d *Daemon) accepted(nc *net.TCPConn, now time.Time) {
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	addr := ap.Addr().Unmap().WithZone("")
	p := d.unnumberedAccept(ap.Addr())
	if p == nil {
		p = d.byAddr[addr]
	}
	if p == nil {
		var inRange bool
		p, inRange = d.dynamicPeer(addr, now)
		if p == nil {
			if !inRange {
				d.log.Info("refusing a connection from an address that is not a neighbor", "remote", ap)
			}
			nc.Close()
			return
		}
	}
	if err := transport.Configure(nc, p.topts); err != nil {
		p.log.Warn("socket options on an accepted connection", "err", err)
		nc.Close()
		return
	}
	switch st := p.main.fsm.State(); {
	case bfdHeld(p):
		p.log.Debug("refusing a connection while BFD is down")
		nc.Close()
	case p.n.Shutdown || st == fsm.StateIdle || st == fsm.StateEstablished:
		// RFC 4271 8.2.2: Idle refuses connections; an Established
		// session keeps its connection (6.8).
		p.log.Debug("refusing a connection", "state", st.String())
		nc.Close()
	case st == fsm.StateActive:
		d.attach(p.main, nc)
		d.step(p.main, fsm.TcpConnectionConfirmed{Inbound: true}, now)
	default:
		// Connect, OpenSent, OpenConfirm. In Connect our dial may
		// already have reached the peer, which then runs its own
		// collision detection on it: aborting the dial here would leave
		// the peer deciding on a connection we dropped. Both are kept
		// until fsm.Collision picks one.
		if p.second != nil {
			nc.Close()
			return
		}
		s := d.newSession(p)
		p.second = s
		d.attach(s, nc)
		// Started active, not passive, so that if this session ends up
		// carrying the neighbor it dials again after a failure; its
		// Connect is ignored while it is the second.
		d.step(s, fsm.ManualStart{}, now)
		d.step(s, fsm.TcpConnectionConfirmed{Inbound: true}, now)
	}
}

// dynamicPeer makes a neighbor for addr from the most specific listen-range
// holding it, nil when none does (inRange false) or that range is full.
func (d *Daemon) dynamicPeer(addr netip.Addr, now time.Time) (p *peer, inRange bool) {
	var r *dynRange
	for _, c := range d.ranges {
		if c.prefix.Contains(addr) && (r == nil || c.prefix.Bits() > r.prefix.Bits()) {
			r = c
		}
	}
	if r == nil {
		return nil, false
	}
	if r.count >= r.limit {
		d.log.Warn("refusing a dynamic neighbor: listen-range is full", "remote", addr, "listen-range", r.prefix, "limit", r.limit)
		return nil, true
	}
	p, err := d.newPeer(r.i, r.n, addr)
	if err != nil {
		d.log.Error("dynamic neighbor", "remote", addr, "err", err)
		return nil, true
	}
	p.dyn = r
	p.fcfg.Passive = true
	r.count++
	d.byAddr[addr] = p
	d.grAdoptDynamic(p)
	d.peers = append(d.peers, p)
	p.main = d.newSession(p)
	p.log.Info("dynamic neighbor", "listen-range", r.prefix)
	d.step(p.main, fsm.ManualStart{Passive: true}, now)
	return p, true
}

// forgetDynamic drops a dynamic neighbor whose session ended.
func (d *Daemon) forgetDynamic(p *peer) {
	if p.dyn == nil || d.byAddr[p.remote.Addr()] != p || p.second != nil || p.main.conn != nil {
		return
	}
	switch p.main.fsm.State() {
	case fsm.StateIdle, fsm.StateActive:
	default:
		return
	}
	d.grStashDynamic(p)
	delete(d.byAddr, p.remote.Addr())
	for i, q := range d.peers {
		if q == p {
			d.peers = append(d.peers[:i], d.peers[i+1:]...)
			break
		}
	}
	p.dyn.count--
	d.removeBFD(p)
	p.log.Info("dynamic neighbor removed")
}

func (d *Daemon) attach(s *session, nc *net.TCPConn) {
	permissive := wire.Options{ExtendedMessage: true}
	var strict wire.Options
	// The reader only frames; the loop parses with the session's own
	// options, which also rejects a message too long for the session.
	// Once the session is up without extended messages, framing refuses a
	// length above 4096 from the header alone (RFC 4271 6.1) rather than
	// wait for bytes that may never come.
	c := &conn{s: s}
	split := func(b []byte) (int, error) {
		if c.noExtMsg.Load() {
			return wire.Split(b, &strict)
		}
		return wire.Split(b, &permissive)
	}
	c.tc = transport.NewConn(nc, split, 0)
	s.conn = c
	d.wg.Add(1)
	go d.read(c)
}

func (d *Daemon) read(c *conn) {
	defer d.wg.Done()
	for {
		b, err := c.tc.ReadMessage()
		var msg []byte
		if err == nil {
			msg = append([]byte(nil), b...)
		}
		select {
		case d.events <- readEvent{c: c, msg: msg, err: err}:
		case <-d.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// closeConn detaches the session's connection and closes it after its
// queue drains (bounded by CloseLinger), without blocking the loop.
func (d *Daemon) closeConn(s *session) {
	c := s.conn
	if c == nil {
		return
	}
	s.conn = nil
	c.closed = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		c.tc.Close(d.o.CloseLinger)
	}()
}

// collide settles two connections to one neighbor (RFC 4271 6.8).
func (d *Daemon) collide(p *peer, now time.Time) {
	sec := p.second
	if sec == nil {
		return
	}
	if sec.conn == nil {
		// Its connection failed or was dumped.
		p.second = nil
		return
	}
	switch p.main.fsm.State() {
	case fsm.StateIdle, fsm.StateActive:
		// The first session has no connection: the second carries on.
		p.main, p.second = sec, nil
		return
	case fsm.StateConnect:
		// Our dial is pending; only an Established second makes it moot.
		if sec.fsm.State() == fsm.StateEstablished {
			d.abortDial(p)
			p.main, p.second = sec, nil
		}
		return
	}
	loser := fsm.Collision(p.main.fsm, sec.fsm)
	if loser == nil {
		return
	}
	var l *session
	if loser == p.main.fsm {
		l = p.main
		p.main, p.second = sec, nil
	} else {
		l = sec
		p.second = nil
	}
	p.log.Info("connection collision", "dropped_inbound", l.fsm.Inbound())
	d.step(l, fsm.OpenCollisionDump{}, now)
	if l.conn != nil {
		d.closeConn(l)
	}
}

func (d *Daemon) established(s *session, neg fsm.Negotiated) {
	p := s.p
	s.neg = neg
	p.lastNeg = neg
	typ := rib.EBGP
	if neg.PeerAS == d.cfg.ASN {
		typ = rib.IBGP
	}
	pc := rib.PeerConfig{
		Type:             typ,
		PeerAS:           neg.PeerAS,
		Address:          p.remote.Addr(),
		AllowASIn:        p.n.AllowASIn,
		DefaultOriginate: p.n.DefaultOriginate,
		NextHopSelf:      p.n.NextHopSelf,
		MaxPrefix:        uint32(max(p.n.MaxPrefix, 0)),
		ExportName:       p.n.RouteMap.Out,
	}
	pc.SoftReconfigInbound = p.n.SoftReconfigInbound
	if s.conn != nil {
		s.conn.noExtMsg.Store(!neg.Options.ExtendedMessage)
		s.local = s.conn.tc.LocalAddr().Addr().Unmap()
		pc.LocalAddress = s.local.WithZone("")
		s.ifname = d.sessionIface(p, s.local)
		s.linkDown = false
	}
	switch p.n.RemovePrivateAS {
	case "all":
		pc.RemovePrivateAS = rib.RemovePrivateAll
	case "replace":
		pc.RemovePrivateAS = rib.ReplacePrivateAS
	}
	pc.Import, pc.Export, pc.ExportName = d.peerPolicy(p, typ)
	d.serviceExport(&pc)
	id, resumed := d.grResume(p, d.now())
	var err error
	if !resumed {
		id, err = d.rib.AddPeer(pc)
	}
	if err == nil {
		err = d.rib.PeerUp(id, neg.PeerID, neg.Options, neg.Families)
		if err != nil {
			d.rib.RemovePeer(id)
			if resumed {
				p.gr = nil
				delete(d.byRIB, id)
			}
		}
	}
	if err != nil {
		p.log.Error("adding the peer to the RIB", "err", err)
		d.later = append(d.later, func() {
			d.step(s, fsm.AutomaticStop{Subcode: wire.SubOutOfResources}, d.now())
		})
		return
	}
	s.ribID, s.inRIB, s.eorIn = id, true, nil
	// The session struct outlives a reconnect: an End-of-RIB of the
	// previous session does not release the restart phase.
	delete(d.gr.eor, s)
	d.byRIB[id] = s
	d.grEstablished(p)
	if resumed {
		d.grResumed(p, neg)
	}
	// A dynamic neighbor, or a multihop one without a configured local
	// address, gets its BFD session now that it is known.
	d.addBFD(p, s.local)
	p.received = map[nlriKey]struct{}{} // clear would keep a full table's buckets
	p.log.Info("session established", "peer-as", neg.PeerAS, "peer-id", neg.PeerID, "inbound", neg.Inbound,
		"hold", neg.HoldTime, "families", fmt.Sprint(neg.Families))
}

func (d *Daemon) down(s *session, a fsm.Down) {
	p := s.p
	if s.inRIB {
		if !d.grDown(s, a, d.now()) {
			if err := d.rib.RemovePeer(s.ribID); err != nil {
				p.log.Error("removing the peer from the RIB", "err", err)
			}
			delete(d.byRIB, s.ribID)
		}
		s.inRIB = false
		p.received = map[nlriKey]struct{}{} // clear would keep a full table's buckets
	}
	attrs := []any{"reason", a.Reason, "was-established", a.WasEstablished}
	attrs = append(attrs, grNotificationAttrs("sent", a.Sent)...)
	attrs = append(attrs, grNotificationAttrs("received", a.Received)...)
	if p.dyn != nil {
		d.later = append(d.later, func() { d.forgetDynamic(p) })
	}
	if a.WasEstablished {
		p.resets++
		p.log.Info("session down", attrs...)
	} else {
		p.log.Debug("session down", attrs...)
	}
	if a.WasEstablished && a.Received != nil && a.Received.Code == wire.CodeCease && a.Received.Subcode == wire.SubConnectionCollision {
		d.later = append(d.later, func() { d.restartAfterCollision(s) })
	}
}

// restartAfterCollision starts a session again at once when the peer
// closed it, already Established on our side, to resolve a connection
// collision: when both ends dial at once, one end may reach Established
// just before the other picks the other connection, and our end refuses
// that one because it is Established (RFC 4271 6.8). Both connections are
// then gone though nothing failed, so the idle hold's back-off must not add
// to it. Only a session that had been Established is restarted, so a
// collision that repeats before Established backs off as usual.
func (d *Daemon) restartAfterCollision(s *session) {
	p := s.p
	if p.n.Shutdown || p.main != s || p.second != nil || s.fsm.State() != fsm.StateIdle {
		return
	}
	p.log.Info("restarting at once: the session was closed by the peer's collision resolution")
	d.step(s, fsm.IdleHoldTimerExpires{}, d.now())
}

func (d *Daemon) deliver(s *session, a fsm.DeliverUpdate) {
	p := s.p
	if !s.inRIB || a.Update == nil {
		return
	}
	u := a.Update
	p.updatesIn++
	d.updateIn(d.now())
	if f, ok := u.EndOfRIB(); ok {
		if err := d.rib.EndOfRIB(s.ribID, f); err != nil {
			p.log.Warn("End-of-RIB", "family", f.String(), "err", err)
		}
		p.log.Debug("End-of-RIB received", "family", f.String())
		d.grEndOfRIB(s, f)
		grNoteEndOfRIB(s, f)
		return
	}
	u.Unreachable(func(f wire.Family, n wire.NLRI) { delete(p.received, nlriKey{f: f, n: n}) })
	if a.TreatAsWithdraw {
		byFam := map[wire.Family][]wire.NLRI{}
		u.Reachable(func(f wire.Family, n wire.NLRI) {
			byFam[f] = append(byFam[f], n)
			delete(p.received, nlriKey{f: f, n: n})
		})
		for f, ns := range byFam {
			if err := d.rib.TreatAsWithdraw(s.ribID, f, ns); err != nil {
				p.log.Warn("treat-as-withdraw", "err", err)
			}
		}
		return
	}
	u.Reachable(func(f wire.Family, n wire.NLRI) { p.received[nlriKey{f: f, n: n}] = struct{}{} })
	if err := d.rib.ApplyUpdate(s.ribID, u); err != nil {
		p.log.Warn("applying an UPDATE", "err", err)
	}
}

// shutdown stops every session with Cease/Administrative Shutdown, or
// for a graceful stop (gr_restart.go) without a NOTIFICATION, and waits
// for the goroutines.
func (d *Daemon) shutdown(ln *transport.Listener) {
	now := d.now()
	ln.Close()
	graceful := d.gracefulStopping()
	if graceful {
		d.grCloseSessions()
	}
	for _, p := range slices.Clone(d.peers) {
		if graceful {
			break
		}
		d.abortDial(p)
		for _, s := range []*session{p.main, p.second} {
			if s == nil {
				continue
			}
			d.step(s, fsm.ManualStop{Message: ShutdownMessage}, now)
			if s.conn != nil {
				d.closeConn(s)
			}
		}
	}
	if !graceful {
		d.flush()
	}
	if d.bfd != nil && graceful {
		// RFC 5882 3.2: AdminDown tells the peers the path has not
		// failed, so they keep their BGP sessions' routes. FRR 8.4
		// takes it as a failure all the same, and one that reaches
		// bgpd while the session is still Established ends the graceful
		// restart with a Hard Reset; after the TCP close it leaves the
		// kept routes alone. The close goes first, then BFD keeps the
		// path Up for a moment more.
		time.Sleep(grAdminDownDelay)
		d.bfd.CloseAdminDown()
	} else if d.bfd != nil {
		// Sessions are not told: peers see the silence, as BGP has
		// already been closed with Administrative Shutdown.
		d.bfd.Close()
	}
	d.closeDone.Do(func() { close(d.done) })
	d.stopUnnumbered()
	d.stopLinks()
	d.wg.Wait()
	d.closeQueued()
	// Readers that were blocked on the channel left their connections
	// to the closers, and those have finished: nothing is left running.
	d.log.Info("closd stopped")
}

// closeQueued closes the connections of dial and accept results that were
// queued but never handled because the loop stopped first.
func (d *Daemon) closeQueued() {
	for {
		select {
		case ev := <-d.events:
			switch ev := ev.(type) {
			case dialEvent:
				if ev.nc != nil {
					ev.nc.Close()
				}
			case acceptEvent:
				ev.nc.Close()
			}
		default:
			return
		}
	}
}
