package neigh

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
)

// probe reasons: why a held host is being probed. They combine.
type probeReason uint8

const (
	reasonAging  probeReason = 1 << iota // not confirmed within AgingTime
	reasonFailed                         // kernel said failed/incomplete/deleted
	reasonRemote                         // a remote leaf advertises a seq >= ours
	reasonSteal                          // another port of this leaf claims it
)

type candidate struct {
	ifname string
	mac    MAC
}

type host struct {
	ip        netip.Addr
	ifname    string
	mac       MAC
	kstate    NUDState
	permanent bool // admin entry (permanent/noarp): never aged
	seq       uint32
	learned   time.Time
	confirmed time.Time

	probing   bool
	reasons   probeReason
	attempts  int
	nextProbe time.Time // next probe, or give-up time after the last one
	cand      *candidate
}

type remote struct {
	seq    uint32
	sticky bool
}

type mobility struct {
	moves       []time.Time // within MoveWindow
	frozen      bool
	frozenUntil time.Time
	pending     *NeighEvent // latest local sighting while frozen elsewhere
	pendingAt   time.Time
}

// Stats counts what the engine did, for /metrics.
type Stats struct {
	Learned      uint64 `json:"learned"`
	Withdrawn    uint64 `json:"withdrawn"`
	Probes       uint64 `json:"probes"`
	Moves        uint64 `json:"moves"`
	Freezes      uint64 `json:"freezes"`
	Conflicts    uint64 `json:"conflicts"`
	Rejected     uint64 `json:"rejected"`
	RemoteRoutes int    `json:"remote_routes"`
}

// Engine learns host routes. It is not safe for concurrent use; the daemon
// calls it from one loop.
type Engine struct {
	cfg    Config
	ifs    map[string]*InterfaceConfig
	hosts  map[netip.Addr]*host
	perIf  map[string]int
	remote map[netip.Addr]remote
	mob    map[netip.Addr]*mobility
	down   map[string]bool
	stats  Stats

	rejectLogged map[rejectKey]time.Time

	due     map[netip.Addr]time.Time
	timers  timerHeap
	touched map[netip.Addr]struct{}

	out []Action
}

// New returns an engine for cfg, or the validation error.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		hosts:  map[netip.Addr]*host{},
		perIf:  map[string]int{},
		remote: map[netip.Addr]remote{},
		mob:    map[netip.Addr]*mobility{},
		down:   map[string]bool{},

		due:     map[netip.Addr]time.Time{},
		touched: map[netip.Addr]struct{}{},

		rejectLogged: map[rejectKey]time.Time{},
	}
	e.setConfig(cfg)
	return e, nil
}

func (e *Engine) setConfig(cfg Config) {
	e.cfg = cfg.withDefaults()
	e.ifs = make(map[string]*InterfaceConfig, len(e.cfg.Interfaces))
	for i := range e.cfg.Interfaces {
		e.ifs[e.cfg.Interfaces[i].Name] = &e.cfg.Interfaces[i]
	}
}

// Start returns the kernel timer settings for every configured port. The
// daemon calls it once, and again after Reconfigure.
func (e *Engine) Start() []Action {
	var out []Action
	for _, ic := range e.cfg.Interfaces {
		out = append(out, e.kernelTimers(ic.Name))
	}
	return out
}

func (e *Engine) kernelTimers(ifname string) SetKernelTimers {
	// The kernel's REACHABLE period must end well before our aging so a
	// silent host shows up as STALE to us; keep the kernel default (30 s)
	// unless aging is shorter.
	br := 30 * time.Second
	if half := e.cfg.AgingTime / 2; half < br {
		br = max(half, time.Second)
	}
	gc := max(e.cfg.AgingTime+time.Duration(e.cfg.ProbeRetries+1)*e.cfg.ProbeInterval, 60*time.Second)
	// One kernel probe per Probe action: with ucast_solicit 1 the kernel
	// sends at once and gives up (FAILED) after retrans_time. Setting
	// NUD_PROBE on an entry already in PROBE does nothing, so the kernel
	// must have given up before our next Probe: retrans_time is 3/4 of
	// the probe interval to leave room for loop jitter.
	return SetKernelTimers{
		Interface:     ifname,
		BaseReachable: br,
		RetransTime:   e.cfg.ProbeInterval * 3 / 4,
		GCStale:       gc,
		UcastSolicit:  1,
	}
}

// Reconfigure replaces the configuration. Hosts on ports no longer
// configured, or outside their port's new prefixes or static list, are
// withdrawn; a lowered limit keeps the hosts already held.
func (e *Engine) Reconfigure(now time.Time, cfg Config) ([]Action, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e.out = nil
	e.setConfig(cfg)
	for ip := range e.hosts {
		e.touch(ip) // aging and move window may have changed
	}
	for ip := range e.mob {
		e.touch(ip)
	}
	for _, ip := range e.sortedHosts() {
		h := e.hosts[ip]
		ic := e.ifs[h.ifname]
		if ic == nil || !inAny(ic.Allowed, ip) || !staticAllows(ic, ip, h.mac) {
			e.withdraw(h, "no longer allowed by configuration")
			continue
		}
		if h.cand != nil {
			if cic := e.ifs[h.cand.ifname]; cic == nil || !inAny(cic.Allowed, ip) || !staticAllows(cic, ip, h.cand.mac) {
				h.cand = nil
				h.reasons &^= reasonSteal
			}
		}
	}
	e.settle()
	out := append(e.Start(), e.out...)
	e.out = nil
	return out, nil
}

// Step feeds one event at time now. Due timers fire first, so Step(now,
// Tick{}) is how the daemon serves NextDeadline.
func (e *Engine) Step(now time.Time, ev Event) []Action {
	e.out = nil
	e.fireTimers(now)
	switch ev := ev.(type) {
	case NeighEvent:
		e.touch(ev.IP)
		e.neigh(now, ev)
	case RemoteRoute:
		e.touch(ev.Prefix.Addr())
		e.remoteRoute(now, ev)
	case RemoteWithdraw:
		if ev.Prefix.IsValid() {
			delete(e.remote, ev.Prefix.Addr())
		}
	case LinkEvent:
		e.link(ev)
	case AdminRelease:
		e.adminRelease(now, ev.IP)
	case Tick, nil:
	}
	e.stats.RemoteRoutes = len(e.remote)
	e.settle()
	out := e.out
	e.out = nil
	return out
}

// Stats returns the counters.
func (e *Engine) Stats() Stats { return e.stats }

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

func (e *Engine) logf(kind LogKind, ifname string, ip netip.Addr, mac MAC, format string, args ...any) {
	e.emit(Log{Kind: kind, Interface: ifname, IP: ip, MAC: mac, Msg: fmt.Sprintf(format, args...)})
}

func (e *Engine) sortedHosts() []netip.Addr {
	ips := make([]netip.Addr, 0, len(e.hosts))
	for ip := range e.hosts {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return ips
}

func pruneMoves(moves []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(moves) && !now.Before(moves[i].Add(window)) {
		i++
	}
	return moves[i:]
}

// validFor checks the spoof-guard rules for a sighting of ip/mac on ic and
// logs why it is refused.
func (e *Engine) validFor(now time.Time, ic *InterfaceConfig, ip netip.Addr, mac MAC) bool {
	if !ip.IsGlobalUnicast() || ip.Is4In6() {
		// Link-local, multicast, loopback, unspecified: never a route.
		// IPv4-mapped IPv6 would let a server sneak an IPv4 route past
		// IPv4-only prefixes.
		e.reject(now, LogNotUnicast, ic.Name, ip, mac, "not a global unicast address")
		return false
	}
	if !inAny(ic.Allowed, ip) {
		e.reject(now, LogOutsidePrefix, ic.Name, ip, mac, "outside the allowed prefixes of %s", ic.Name)
		return false
	}
	if g := e.cfg.Gateway; (g.IPv4.IsValid() && g.IPv4.Addr() == ip) || (g.IPv6.IsValid() && g.IPv6.Addr() == ip) {
		e.reject(now, LogGateway, ic.Name, ip, mac, "a server claims the anycast gateway address")
		return false
	}
	if !staticAllows(ic, ip, mac) {
		e.reject(now, LogStaticMismatch, ic.Name, ip, mac, "IP+MAC not in the static allowlist of %s", ic.Name)
		return false
	}
	return true
}

type rejectKey struct {
	ifname string
	ip     netip.Addr
	kind   LogKind
}

const (
	rejectLogEvery = time.Minute
	maxRejectMemo  = 4096
)

// reject counts a refused sighting and logs it at most once a minute per
// port, address and reason: the kernel reports every state change of an
// entry we refuse, and a server spraying addresses must not flood the log.
func (e *Engine) reject(now time.Time, kind LogKind, ifname string, ip netip.Addr, mac MAC, format string, args ...any) {
	e.stats.Rejected++
	if e.firstInMinute(now, rejectKey{ifname, ip, kind}) {
		e.logf(kind, ifname, ip, mac, format, args...)
	}
}

// firstInMinute reports whether k was not reported in the last minute, and
// notes it. The memory is bounded: when full it starts over, which at worst
// repeats a line.
func (e *Engine) firstInMinute(now time.Time, k rejectKey) bool {
	if last, ok := e.rejectLogged[k]; ok && now.Sub(last) < rejectLogEvery && !now.Before(last) {
		return false
	}
	if len(e.rejectLogged) >= maxRejectMemo {
		clear(e.rejectLogged)
	}
	e.rejectLogged[k] = now
	return true
}

func staticAllows(ic *InterfaceConfig, ip netip.Addr, mac MAC) bool {
	if len(ic.Static) == 0 {
		return true
	}
	for _, s := range ic.Static {
		if s.IP == ip && s.MAC == mac {
			return true
		}
	}
	return false
}

func (e *Engine) hasRoom(now time.Time, ic *InterfaceConfig, ip netip.Addr, mac MAC) bool {
	if e.perIf[ic.Name] >= ic.MaxHosts {
		e.reject(now, LogLimit, ic.Name, ip, mac, "%s already holds %d hosts (max-hosts)", ic.Name, ic.MaxHosts)
		return false
	}
	return true
}

func (e *Engine) neigh(now time.Time, ev NeighEvent) {
	ic := e.ifs[ev.Interface]
	if ic == nil || !ev.IP.IsValid() {
		return
	}
	ip := ev.IP
	live := ev.State == NUDReachable || ev.State == NUDStale || ev.State == NUDPermanent || ev.State == NUDNoARP
	h := e.hosts[ip]
	if h == nil {
		if !live || e.down[ev.Interface] || ev.MAC.IsZero() {
			return
		}
		if !e.validFor(now, ic, ip, ev.MAC) {
			return
		}
		if m := e.mob[ip]; m != nil && m.frozen {
			evc := ev
			m.pending, m.pendingAt = &evc, now
			if e.firstInMinute(now, rejectKey{ev.Interface, ip, LogFrozenIgnored}) {
				e.logf(LogFrozenIgnored, ev.Interface, ip, ev.MAC, "frozen elsewhere until %s", m.frozenUntil.UTC().Format(time.RFC3339))
			}
			return
		}
		if r, ok := e.remote[ip]; ok && r.sticky {
			e.stats.Conflicts++
			if e.firstInMinute(now, rejectKey{ev.Interface, ip, LogRemoteSticky}) {
				e.emit(Conflict{IP: ip, Interface: ev.Interface, MAC: ev.MAC, Other: "remote", Msg: "a remote leaf holds it sticky; not learned"})
			}
			return
		}
		if !e.hasRoom(now, ic, ip, ev.MAC) {
			return
		}
		e.learn(now, ic, ev)
		return
	}

	if h.ifname != ev.Interface {
		e.otherPort(now, h, ic, ev, live)
		return
	}
	prev := h.kstate
	h.kstate = ev.State
	switch ev.State {
	case NUDReachable, NUDStale, NUDPermanent, NUDNoARP:
		if ev.MAC.IsZero() {
			return
		}
		if ev.MAC != h.mac {
			if !staticAllows(ic, ip, ev.MAC) {
				e.stats.Rejected++
				e.stats.Conflicts++
				e.emit(Conflict{IP: ip, Interface: h.ifname, MAC: h.mac, Other: ev.Interface, OtherMAC: ev.MAC, Msg: "MAC not in the static allowlist; keeping the bound MAC"})
				return
			}
			e.logf(LogMACChanged, h.ifname, ip, ev.MAC, "MAC changed from %s", h.mac)
			h.mac = ev.MAC
		} else if ev.State == NUDStale && !deadState(prev) {
			// The kernel's own REACHABLE->STALE transition says
			// nothing about the host. STALE after FAILED or a deleted
			// entry does: the kernel only gets there when the host
			// sent us something (an ARP request, an unsolicited NA).
			return
		}
		h.permanent = ev.State == NUDPermanent || ev.State == NUDNoARP
		h.confirmed = now
		e.touch(h.ip)
		if h.probing {
			e.probeAnswered(now, h)
		}
	case NUDFailed, NUDIncomplete, NUDDeleted:
		if h.permanent && ev.State == NUDDeleted {
			// An admin removed the static entry: probing would put
			// back an entry they just deleted.
			e.withdraw(h, "permanent entry deleted")
			return
		}
		if !h.probing {
			h.permanent = false
			e.startProbe(now, h, reasonFailed)
		}
	}
}

// deadState: kernel states in which the entry has no confirmed link-layer
// address.
func deadState(s NUDState) bool {
	return s == NUDFailed || s == NUDIncomplete || s == NUDDeleted || s == NUDNone
}

func (e *Engine) otherPort(now time.Time, h *host, ic *InterfaceConfig, ev NeighEvent, live bool) {
	if !live || ev.MAC.IsZero() || e.down[ev.Interface] {
		return
	}
	if h.cand != nil && h.cand.ifname == ev.Interface && h.cand.mac == ev.MAC {
		return
	}
	if !e.validFor(now, ic, ev.IP, ev.MAC) {
		return
	}
	if m := e.mob[ev.IP]; m != nil && m.frozen {
		e.stats.Conflicts++
		e.emit(Conflict{IP: h.ip, Interface: h.ifname, MAC: h.mac, Other: ev.Interface, OtherMAC: ev.MAC, Msg: "frozen; original port kept"})
		return
	}
	if h.permanent {
		// Probing would overwrite the admin's permanent entry, and a
		// static host is sticky by definition.
		e.stats.Conflicts++
		e.emit(Conflict{IP: h.ip, Interface: h.ifname, MAC: h.mac, Other: ev.Interface, OtherMAC: ev.MAC, Msg: "held by a permanent entry; original port kept"})
		return
	}
	if e.perIf[ic.Name] >= ic.MaxHosts {
		e.hasRoom(now, ic, ev.IP, ev.MAC)
		return
	}
	e.stats.Conflicts++
	e.emit(Conflict{IP: h.ip, Interface: h.ifname, MAC: h.mac, Other: ev.Interface, OtherMAC: ev.MAC, Msg: "claimed on another port; probing the holder"})
	h.cand = &candidate{ifname: ev.Interface, mac: ev.MAC}
	e.startProbe(now, h, reasonSteal)
}

func (e *Engine) learn(now time.Time, ic *InterfaceConfig, ev NeighEvent) {
	h := &host{
		ip:        ev.IP,
		ifname:    ev.Interface,
		mac:       ev.MAC,
		kstate:    ev.State,
		permanent: ev.State == NUDPermanent || ev.State == NUDNoARP,
		learned:   now,
		confirmed: now,
	}
	e.hosts[ev.IP] = h
	e.touch(h.ip)
	e.perIf[ic.Name]++
	e.stats.Learned++
	if r, ok := e.remote[ev.IP]; ok {
		// The host was elsewhere: take it over with a higher seq.
		h.seq = e.nextSeq(h, r.seq)
		e.logf(LogMoved, h.ifname, h.ip, h.mac, "moved here from a remote leaf (seq %d -> %d)", r.seq, h.seq)
		e.originate(h)
		e.countMove(now, h.ip, h)
		return
	}
	e.logf(LogLearned, h.ifname, h.ip, h.mac, "learned from %s entry", ev.State)
	e.originate(h)
}

func (e *Engine) nextSeq(h *host, base uint32) uint32 {
	if base == math.MaxUint32 {
		e.logf(LogSeqSaturated, h.ifname, h.ip, h.mac, "mobility sequence at its maximum")
		return base
	}
	return base + 1
}

func hostPrefix(ip netip.Addr) netip.Prefix {
	return netip.PrefixFrom(ip, ip.BitLen())
}

func (e *Engine) originate(h *host) {
	e.emit(Originate{Prefix: hostPrefix(h.ip), Interface: h.ifname, MAC: h.mac, Seq: h.seq, Sticky: h.permanent, Community: e.cfg.Community})
}

func (e *Engine) withdraw(h *host, why string) {
	e.touch(h.ip)
	e.emit(Withdraw{Prefix: hostPrefix(h.ip), Interface: h.ifname})
	e.logf(LogWithdrawn, h.ifname, h.ip, h.mac, "%s", why)
	e.stats.Withdrawn++
	e.perIf[h.ifname]--
	if e.perIf[h.ifname] <= 0 {
		delete(e.perIf, h.ifname)
	}
	delete(e.hosts, h.ip)
}

func (e *Engine) startProbe(now time.Time, h *host, r probeReason) {
	h.reasons |= r
	if h.probing {
		return
	}
	h.probing = true
	h.attempts = 0
	e.sendProbe(now, h)
}

func (e *Engine) sendProbe(now time.Time, h *host) {
	e.touch(h.ip)
	h.attempts++
	h.nextProbe = now.Add(e.cfg.ProbeInterval)
	e.stats.Probes++
	e.emit(Probe{Interface: h.ifname, IP: h.ip, MAC: h.mac, Attempt: h.attempts})
}

func (e *Engine) stopProbe(h *host) {
	e.touch(h.ip)
	h.probing = false
	h.reasons = 0
	h.attempts = 0
	h.cand = nil
}

// probeAnswered: the holder confirmed it is still here.
func (e *Engine) probeAnswered(now time.Time, h *host) {
	reasons, cand := h.reasons, h.cand
	e.stopProbe(h)
	if reasons&reasonSteal != 0 && cand != nil {
		e.stats.Conflicts++
		e.emit(Conflict{IP: h.ip, Interface: h.ifname, MAC: h.mac, Other: cand.ifname, OtherMAC: cand.mac, Msg: "holder answers; original kept"})
	}
	if reasons&reasonRemote != 0 {
		r, ok := e.remote[h.ip]
		if !ok || r.seq < h.seq {
			return
		}
		if m := e.mob[h.ip]; m != nil && m.frozen {
			return
		}
		if e.cfg.Multihomed {
			// A server attached to several leaves answers at each of
			// them: share the route (equal seq, ECMP in the fabric)
			// instead of fighting over it.
			if r.seq > h.seq {
				h.seq = r.seq
				e.stats.Conflicts++
				e.emit(Conflict{IP: h.ip, Interface: h.ifname, MAC: h.mac, Other: "remote", Msg: fmt.Sprintf("answers while a remote leaf advertises seq %d; multihomed: sharing with equal seq", r.seq)})
				e.originate(h)
			}
			return
		}
		// Still here while a remote leaf claims it: a duplicate or a
		// move back. Win with a higher seq and count the move.
		h.seq = e.nextSeq(h, max(r.seq, h.seq))
		e.stats.Conflicts++
		e.emit(Conflict{IP: h.ip, Interface: h.ifname, MAC: h.mac, Other: "remote", Msg: fmt.Sprintf("answers while a remote leaf advertises seq %d; re-originating with seq %d", r.seq, h.seq)})
		e.originate(h)
		e.countMove(now, h.ip, h)
	}
}

func (e *Engine) probeTimedOut(now time.Time, h *host) {
	cand := h.cand
	e.stopProbe(h)
	if cand != nil {
		if ic := e.ifs[cand.ifname]; ic != nil && !e.down[cand.ifname] && e.perIf[cand.ifname] < ic.MaxHosts {
			if m := e.mob[h.ip]; m == nil || !m.frozen {
				old := h.ifname
				e.perIf[old]--
				if e.perIf[old] <= 0 {
					delete(e.perIf, old)
				}
				e.perIf[cand.ifname]++
				h.ifname, h.mac, h.kstate = cand.ifname, cand.mac, NUDStale
				h.confirmed, h.learned = now, now
				e.touch(h.ip)
				h.permanent = false
				e.logf(LogMoved, h.ifname, h.ip, h.mac, "moved from %s (holder did not answer)", old)
				e.originate(h)
				e.countMove(now, h.ip, h)
				return
			}
		}
	}
	e.withdraw(h, "no answer to probes")
}

func (e *Engine) countMove(now time.Time, ip netip.Addr, h *host) {
	e.stats.Moves++
	e.touch(ip)
	m := e.mob[ip]
	if m == nil {
		m = &mobility{}
		e.mob[ip] = m
	}
	m.moves = append(pruneMoves(m.moves, now, e.cfg.MoveWindow), now)
	if len(m.moves) > e.cfg.MoveLimit {
		m.frozen = true
		m.frozenUntil = now.Add(e.cfg.FreezeHold)
		m.pending = nil
		e.stats.Freezes++
		ifname := ""
		if h != nil {
			ifname = h.ifname
		}
		e.emit(Freeze{IP: ip, Interface: ifname, Frozen: true, Until: m.frozenUntil, Moves: len(m.moves)})
	}
}

func (e *Engine) remoteRoute(now time.Time, ev RemoteRoute) {
	p := ev.Prefix
	if !p.IsValid() || p.Bits() != p.Addr().BitLen() {
		e.logf(LogBadRemotePrefix, "", p.Addr(), MAC{}, "remote route %v is not a host route", p)
		return
	}
	ip := p.Addr()
	e.remote[ip] = remote{seq: ev.Seq, sticky: ev.Sticky}
	h := e.hosts[ip]
	if h == nil {
		return
	}
	if ev.Seq < h.seq && !ev.Sticky {
		return // stale news: our route already wins
	}
	if h.permanent {
		// Both sticky is a misconfiguration (RFC 7432 15.2 leaves it to
		// the operator); keep the local static host and say so.
		e.stats.Conflicts++
		e.emit(Conflict{IP: ip, Interface: h.ifname, MAC: h.mac, Other: "remote", Msg: fmt.Sprintf("remote seq %d (sticky %v) for a permanent (sticky) local host; kept", ev.Seq, ev.Sticky)})
		return
	}
	if m := e.mob[ip]; m != nil && m.frozen {
		e.stats.Conflicts++
		e.emit(Conflict{IP: ip, Interface: h.ifname, MAC: h.mac, Other: "remote", Msg: fmt.Sprintf("remote seq %d while frozen; no change", ev.Seq)})
		return
	}
	if ev.Sticky {
		// A remote static host: do not fight it.
		e.stats.Conflicts++
		e.emit(Conflict{IP: ip, Interface: h.ifname, MAC: h.mac, Other: "remote", Msg: "remote leaf holds it sticky; withdrawing"})
		e.withdraw(h, "remote sticky route")
		return
	}
	// Probe now: the probe interval, not the ARP cache, bounds how long a
	// moved host is blackholed here.
	e.stopProbeKeepCand(h)
	e.startProbe(now, h, reasonRemote)
}

// stopProbeKeepCand restarts the probe count for a new, stronger reason.
func (e *Engine) stopProbeKeepCand(h *host) {
	if h.probing && h.reasons&reasonRemote == 0 {
		h.probing = false
		h.attempts = 0
	}
}

func (e *Engine) link(ev LinkEvent) {
	if ev.Up {
		delete(e.down, ev.Interface)
		return
	}
	if e.ifs[ev.Interface] == nil {
		return
	}
	e.down[ev.Interface] = true
	for _, ip := range e.sortedHosts() {
		h := e.hosts[ip]
		if h.ifname == ev.Interface {
			e.withdraw(h, "link down")
			continue
		}
		if h.cand != nil && h.cand.ifname == ev.Interface {
			h.cand = nil
			h.reasons &^= reasonSteal
		}
	}
}

func (e *Engine) adminRelease(now time.Time, ip netip.Addr) {
	if ip.IsValid() {
		if m := e.mob[ip]; m != nil && m.frozen {
			e.release(now, ip, m, "admin release")
		}
		return
	}
	ips := make([]netip.Addr, 0)
	for a, m := range e.mob {
		if m.frozen {
			ips = append(ips, a)
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	for _, a := range ips {
		e.release(now, a, e.mob[a], "admin release")
	}
}

func (e *Engine) release(now time.Time, ip netip.Addr, m *mobility, why string) {
	e.touch(ip)
	delete(e.mob, ip)
	ifname := ""
	if h := e.hosts[ip]; h != nil {
		ifname = h.ifname
	}
	e.emit(Freeze{IP: ip, Interface: ifname, Frozen: false})
	e.logf(LogUnfrozen, ifname, ip, MAC{}, "released: %s", why)
	if h := e.hosts[ip]; h != nil {
		// Settle what happened while frozen: if a remote leaf now
		// claims it, find out who really has it.
		if r, ok := e.remote[ip]; ok && r.seq >= h.seq && !h.permanent {
			e.startProbe(now, h, reasonRemote)
		}
		return
	}
	if m.pending != nil {
		e.neigh(now, *m.pending)
		if h := e.hosts[ip]; h != nil {
			// The sighting may be old: age from when it happened, so a
			// host that left meanwhile is probed soon.
			h.confirmed = m.pendingAt
			h.learned = m.pendingAt
		}
	}
}
