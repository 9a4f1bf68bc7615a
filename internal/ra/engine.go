package ra

import (
	"net"
	"net/netip"
	"slices"
	"time"
)

// Defaults of Config.
const (
	// DefaultInterval is FRR's RA interval on an unnumbered BGP interface.
	DefaultInterval = 10 * time.Second
	// DefaultInitialInterval spaces the first advertisements after a link
	// comes up, so a peer that just came up too learns us in a second.
	DefaultInitialInterval = time.Second
	// DefaultInitialCount is how many advertisements use the initial
	// interval (RFC 4861 6.2.4 MAX_INITIAL_RTR_ADVERTISEMENTS).
	DefaultInitialCount = 3
	// MinReplyInterval bounds the answers to solicitations per interface,
	// so a flood of RSs cannot make closd flood the link.
	MinReplyInterval = time.Second
)

// Config tunes the advertisements.
type Config struct {
	Interval, InitialInterval time.Duration
	InitialCount              int
}

// Action is what the engine asks of its caller: Send, Learned or Lost.
type Action interface{ isAction() }

// Send asks to send Packet (an ICMPv6 message) on Ifname to Dst with hop
// limit HopLimit.
type Send struct {
	Ifname string
	Dst    netip.Addr
	Packet []byte
}

// Learned reports the peer's link-local address on Ifname, first heard or
// changed.
type Learned struct {
	Ifname string
	Addr   netip.Addr
}

// Lost reports that the peer address on Ifname is no longer known: the link
// went down or the interface was removed.
type Lost struct {
	Ifname string
	Addr   netip.Addr
}

func (Send) isAction()    {}
func (Learned) isAction() {}
func (Lost) isAction()    {}

// AllNodes and AllRouters are the link-scope multicast groups RAs and RSs
// go to.
var (
	AllNodes   = netip.MustParseAddr("ff02::1")
	AllRouters = netip.MustParseAddr("ff02::2")
)

// Stats count what was received.
type Stats struct {
	Advertisements, Solicitations, Dropped uint64
}

type iface struct {
	hw          net.HardwareAddr
	up          bool
	peer        netip.Addr
	next        time.Time
	initialLeft int
	lastReply   time.Time
}

// Engine runs router discovery on the unnumbered interfaces.
type Engine struct {
	cfg   Config
	ifs   map[string]*iface
	acts  []Action
	stats Stats
}

// New returns an engine with no interface.
func New(cfg Config) *Engine {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.InitialInterval <= 0 {
		cfg.InitialInterval = DefaultInitialInterval
	}
	if cfg.InitialCount < 0 {
		cfg.InitialCount = 0
	} else if cfg.InitialCount == 0 {
		cfg.InitialCount = DefaultInitialCount
	}
	return &Engine{cfg: cfg, ifs: map[string]*iface{}}
}

// Add starts router discovery on an interface with link-layer address hw
// (nil when it has none), up or not. Adding it again updates hw and state.
func (e *Engine) Add(now time.Time, name string, hw net.HardwareAddr, up bool) []Action {
	e.acts = e.acts[:0]
	i := e.ifs[name]
	if i == nil {
		i = &iface{}
		e.ifs[name] = i
	}
	i.hw = slices.Clone(hw)
	e.link(now, name, i, up)
	return e.acts
}

// Remove stops router discovery on an interface.
func (e *Engine) Remove(name string) []Action {
	e.acts = e.acts[:0]
	if i := e.ifs[name]; i != nil {
		if i.peer.IsValid() {
			e.acts = append(e.acts, Lost{Ifname: name, Addr: i.peer})
		}
		delete(e.ifs, name)
	}
	return e.acts
}

// Link reports an interface's operational state. Coming up it solicits and
// advertises at once, then InitialCount times at the initial interval;
// going down it forgets the peer.
func (e *Engine) Link(now time.Time, name string, up bool) []Action {
	e.acts = e.acts[:0]
	if i := e.ifs[name]; i != nil {
		e.link(now, name, i, up)
	}
	return e.acts
}

func (e *Engine) link(now time.Time, name string, i *iface, up bool) {
	if up == i.up {
		return
	}
	i.up = up
	if !up {
		i.next = time.Time{}
		if i.peer.IsValid() {
			e.acts = append(e.acts, Lost{Ifname: name, Addr: i.peer})
			i.peer = netip.Addr{}
		}
		return
	}
	e.acts = append(e.acts, Send{Ifname: name, Dst: AllRouters, Packet: Message{Type: TypeRouterSolicitation, SourceLinkLayer: i.hw}.Marshal()})
	i.initialLeft = e.cfg.InitialCount
	e.advertise(now, name, i, AllNodes)
}

func (e *Engine) advertise(now time.Time, name string, i *iface, dst netip.Addr) {
	e.acts = append(e.acts, Send{Ifname: name, Dst: dst, Packet: Message{Type: TypeRouterAdvertisement, CurHopLimit: 64, SourceLinkLayer: i.hw}.Marshal()})
	if i.initialLeft > 0 {
		i.initialLeft--
		i.next = now.Add(e.cfg.InitialInterval)
	} else {
		i.next = now.Add(e.cfg.Interval)
	}
}

// Receive handles a packet that arrived on name from src with hopLimit
// (-1 when the socket could not tell). Packets that fail RFC 4861 6.1's
// checks (hop limit, link-local source, format) are dropped silently.
func (e *Engine) Receive(now time.Time, name string, src netip.Addr, hopLimit int, b []byte) []Action {
	e.acts = e.acts[:0]
	i := e.ifs[name]
	if i == nil || !i.up {
		return e.acts
	}
	m, err := Parse(b)
	src = src.WithZone("")
	if err != nil || (hopLimit >= 0 && hopLimit != HopLimit) || !src.Is6() || src.Is4In6() {
		e.stats.Dropped++
		return e.acts
	}
	switch m.Type {
	case TypeRouterAdvertisement:
		// RFC 4861 6.1.2: an RA's source is link-local.
		if !src.IsLinkLocalUnicast() {
			e.stats.Dropped++
			return e.acts
		}
		e.stats.Advertisements++
		if src != i.peer {
			i.peer = src
			e.acts = append(e.acts, Learned{Ifname: name, Addr: src})
		}
	case TypeRouterSolicitation:
		// RFC 4861 6.1.1: an unspecified source carries no link-layer
		// option; such an RS is answered all the same.
		if src.IsUnspecified() && m.SourceLinkLayer != nil || !src.IsUnspecified() && !src.IsLinkLocalUnicast() {
			e.stats.Dropped++
			return e.acts
		}
		e.stats.Solicitations++
		if !i.lastReply.IsZero() && now.Sub(i.lastReply) < MinReplyInterval {
			return e.acts
		}
		i.lastReply = now
		e.advertise(now, name, i, AllNodes)
	}
	return e.acts
}

// Tick sends the advertisements that are due.
func (e *Engine) Tick(now time.Time) []Action {
	e.acts = e.acts[:0]
	names := make([]string, 0, len(e.ifs))
	for n := range e.ifs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		i := e.ifs[n]
		if i.up && !i.next.IsZero() && !i.next.After(now) {
			e.advertise(now, n, i, AllNodes)
		}
	}
	return e.acts
}

// NextDeadline is when Tick has something to do; zero when never.
func (e *Engine) NextDeadline() time.Time {
	var t time.Time
	for _, i := range e.ifs {
		if i.up && !i.next.IsZero() && (t.IsZero() || i.next.Before(t)) {
			t = i.next
		}
	}
	return t
}

// Peer is the address last learned on name, invalid when none.
func (e *Engine) Peer(name string) netip.Addr {
	if i := e.ifs[name]; i != nil {
		return i.peer
	}
	return netip.Addr{}
}

// Stats reports the packets received so far.
func (e *Engine) Stats() Stats { return e.stats }
