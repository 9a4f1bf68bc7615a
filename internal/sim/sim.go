// Package sim runs a planned fabric as a discrete-event simulation: every
// switch runs the project's own BGP engines (internal/bgp/fsm sessions and
// an internal/bgp/rib RIB with the policy clos plan configures), exchanging
// real encoded messages (internal/bgp/wire) over in-memory links with a
// per-link delay, on a virtual clock. There are no sockets, goroutines or
// clock reads, so a run is reproducible: the same topology, options and
// seed give the same report. See docs/sim.md.
package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/policy"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// Options is the cost model and the run's knobs. Zero fields take the
// defaults of Defaults.
type Options struct {
	// Seed feeds the only source of randomness: the sessions' start
	// offsets and the fsm timers' jitter.
	Seed uint64
	// LinkDelay is the one-way delay of a message on a link (propagation,
	// serialization and the kernel's TCP path).
	LinkDelay time.Duration
	// MsgCost is a node's processing time per received message, and
	// PrefixCost the extra per prefix an UPDATE carries; a node handles
	// one message at a time, so a busy node delays the next.
	MsgCost, PrefixCost time.Duration
	// StartSpread spreads the sessions' first start over this window, as
	// switches never boot in the same microsecond.
	StartSpread time.Duration
	// Gap is the quiet time between one step's convergence and the next.
	Gap time.Duration
	// MaxStep bounds the virtual time a step may take to settle.
	MaxStep time.Duration
	// ConnectRetry is the sessions' ConnectRetry timer (closd's default).
	ConnectRetry time.Duration
	// MRAI spaces announcements to every peer (RFC 4271 9.2.1.1); 0,
	// closd's default and RFC 7938 7.2's advice, sends at once.
	MRAI time.Duration
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	def := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	def(&o.LinkDelay, 10*time.Microsecond)
	def(&o.MsgCost, 20*time.Microsecond)
	def(&o.PrefixCost, 2*time.Microsecond)
	def(&o.StartSpread, 100*time.Millisecond)
	def(&o.Gap, time.Second)
	def(&o.MaxStep, 5*time.Minute)
	def(&o.ConnectRetry, 5*time.Second)
}

// Sim is one simulated fabric.
type Sim struct {
	topo     *Topology
	opt      Options
	rng      *rand.Rand
	sched    Scheduler
	nodes    []*node
	sessions []*session
	links    []*link
	byName   map[string]int
	linkEnd  map[string]int // NODE:IFACE -> link
	linkName map[string]int

	// Prefixes every node originates, indexed densely for the per-node
	// route state.
	prefixes []netip.Prefix
	pid      map[netip.Prefix]int32
	owner    [][]int32 // node -> prefix ids it originates

	// Bookkeeping for "is the step over": important events queued and
	// sessions whose state differs from what the topology implies.
	important int
	mismatch  int
	// nextConn numbers connections, so a message or close meant for an
	// earlier connection of a session is recognised and dropped.
	nextConn uint64
	ran      bool
	heapPeak uint64

	st      stepStats
	expect  [][]uint16 // node -> prefix id -> expected route (see expect.go)
	missing int        // (node, prefix) pairs expected but without a route
	narrow  int        // pairs with a route narrower than expected
	// deadHop counts routes with an ECMP member over an unusable link,
	// deadSince when it last changed (deadhop.go).
	deadHop   int
	deadSince time.Duration
	// black counts routes forwarding into a neighbor without a route,
	// tracked once trackBlack is set (blackhole.go).
	black      int
	trackBlack bool
}

type node struct {
	idx  int
	spec *NodeSpec
	pol  *policy.Set
	rib  *rib.Engine
	sess []int32
	// byRIB maps the RIB's peer ids to sessions.
	byRIB map[rib.PeerID]int32
	// up is false while the node is powered off or hung.
	up, hung bool
	// busy is when the node's CPU is free again; inbox holds what
	// arrived meanwhile, handled in arrival order. dirty says the RIB has
	// input its Ready has not seen; waking that an evWake is queued.
	busy          time.Duration
	inbox         []event
	head          int
	dirty, waking bool
	batch         int // items handled since the RIB last ran
	// route is the node's forwarding state per prefix id: 0 no route,
	// 1 local, 2+w a BGP route over w next hops.
	route []uint16
	// hunt counts best-path changes per prefix in the current step.
	hunt []uint16
	ecmp ecmpState
	// bfd: detection time, 0 when the node runs no BFD.
	bfdDetect time.Duration
	changed   bool
	// fresh marks a node restored in the current step (see computeExpect).
	fresh bool
	black []bool
}

type session struct {
	idx    int32
	node   int32
	peer   int32 // -1: the other end is not simulated
	link   int32
	nb     config.Neighbor
	fcfg   fsm.Config
	fsm    *fsm.Session
	local  netip.Addr
	remote netip.Addr
	active bool
	bfd    bool
	// v4, v6: the families this end announces.
	v4, v6 bool
	conn   uint64
	dial   uint64
	armed  time.Duration
	armOK  bool
	ribID  rib.PeerID
	inRIB  bool
	wantUp bool
	isUp   bool
}

type link struct {
	name         string
	a, b         int32 // nodes
	down, silent bool
	sess         []int32
}

// New builds the simulation of t: one RIB and one fsm session per
// configured neighbor of every node, paired with the session at the other
// end of the cable.
func New(t *Topology, opt Options) (*Sim, error) {
	opt.Defaults()
	s := &Sim{topo: t, opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15)),
		byName: map[string]int{}, linkEnd: map[string]int{}, linkName: map[string]int{}, pid: map[netip.Prefix]int32{}}
	for i := range t.Nodes {
		ns := &t.Nodes[i]
		if _, dup := s.byName[ns.Name]; dup {
			return nil, fmt.Errorf("node %s: named twice", ns.Name)
		}
		s.byName[ns.Name] = i
		n := &node{idx: i, spec: ns, up: true}
		pol, err := policy.Compile(&ns.Config.Policy)
		if err != nil {
			return nil, fmt.Errorf("node %s: policy: %w", ns.Name, err)
		}
		n.pol = pol
		s.nodes = append(s.nodes, n)
		var own []int32
		for _, p := range originated(ns.Config) {
			p = p.Masked()
			id, ok := s.pid[p]
			if !ok {
				id = int32(len(s.prefixes))
				s.pid[p] = id
				s.prefixes = append(s.prefixes, p)
			}
			own = append(own, id)
		}
		s.owner = append(s.owner, own)
	}
	for i, l := range t.Links {
		a, okA := s.byName[l.A.Node]
		b, okB := s.byName[l.B.Node]
		if !okA || !okB {
			return nil, fmt.Errorf("link %s: names a node the topology does not hold", l.Name)
		}
		s.links = append(s.links, &link{name: l.Name, a: int32(a), b: int32(b)})
		s.linkEnd[l.A.String()] = i
		s.linkEnd[l.B.String()] = i
		s.linkName[l.Name] = i
	}
	if err := s.buildSessions(); err != nil {
		return nil, err
	}
	for _, n := range s.nodes {
		n.route = make([]uint16, len(s.prefixes))
		n.hunt = make([]uint16, len(s.prefixes))
		n.ecmp.init(len(s.prefixes))
	}
	return s, nil
}

// originated is what a node announces of its own: its networks and, on a
// server, its anycast services' addresses, their health checks taken as
// passing.
func originated(c *config.Config) []netip.Prefix {
	out := slices.Clone(c.Networks)
	for _, sv := range c.Services {
		out = append(out, sv.Addresses...)
	}
	return out
}

// linkLocal is the IPv6 link-local address of one end (side 1 or 2) of
// link li: unique in the fabric, so the RIB can tell its peers apart.
func linkLocal(li int, side byte) netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80, 15: side}
	a[8], a[9], a[10], a[11] = byte(li>>24), byte(li>>16), byte(li>>8), byte(li)
	return netip.AddrFrom16(a)
}

// dynamicSessions makes node n's sessions for its listen-range neighbor
// nb (neighbors[i]): one per simulated server on a link of n whose
// address is in the range, as closd accepts them when they connect.
func (s *Sim) dynamicSessions(n *node, i int, nb config.Neighbor, byEnd map[endKey]int32) error {
	var local netip.Addr
	for _, ifc := range n.spec.Interfaces {
		for _, a := range ifc.Addresses {
			if nb.ListenRange.Contains(a.Addr()) {
				local = a.Addr()
			}
		}
	}
	if !local.IsValid() {
		return nil
	}
	for li, l := range s.topo.Links {
		mine, theirs := l.B, l.A
		if l.A.Node == n.spec.Name {
			mine, theirs = l.A, l.B
		} else if l.B.Node != n.spec.Name {
			continue
		}
		o, ok := s.byName[theirs.Node]
		if !ok {
			continue
		}
		other := s.nodes[o].spec
		var remote netip.Addr
		for _, ifc := range other.Interfaces {
			if ifc.Name != theirs.Interface {
				continue
			}
			for _, a := range ifc.Addresses {
				if nb.ListenRange.Contains(a.Addr()) {
					remote = a.Addr()
				}
			}
		}
		if !remote.IsValid() {
			continue
		}
		dyn := nb
		dyn.Address, dyn.ListenRange = remote, netip.Prefix{}
		fc, err := s.fsmConfig(n, dyn, remote, other.Config.ASN)
		if err != nil {
			return fmt.Errorf("node %s: neighbors[%d] (%s, for %s): %w", n.spec.Name, i, nb.ListenRange, other.Name, err)
		}
		ss := &session{idx: int32(len(s.sessions)), node: int32(n.idx), peer: -1, link: int32(li), nb: dyn, local: local, remote: remote, fcfg: fc}
		ss.v4 = slices.Contains(fc.Capabilities.Multiprotocol, wire.IPv4Unicast)
		ss.v6 = slices.Contains(fc.Capabilities.Multiprotocol, wire.IPv6Unicast)
		ss.bfd = nb.BFD.Enabled && n.spec.Config.BGP.BFD.Interval > 0
		s.sessions = append(s.sessions, ss)
		n.sess = append(n.sess, ss.idx)
		s.links[li].sess = append(s.links[li].sess, ss.idx)
		byEnd[endKey{int32(n.idx), mine.Interface, remote.Is6()}] = ss.idx
	}
	return nil
}

type endKey struct {
	node  int32
	iface string
	v6    bool
}

func (s *Sim) buildSessions() error {
	byEnd := map[endKey]int32{}
	for _, n := range s.nodes {
		c := n.spec.Config
		for i, nb := range c.Neighbors {
			var ifc *IfaceSpec
			var local, remote netip.Addr
			var li int
			switch {
			case nb.Interface != "":
				// Unnumbered: BGP over the link's IPv6 link-local
				// addresses, learned by router discovery in closd;
				// here each end of link li gets a fixed one.
				for k := range n.spec.Interfaces {
					if n.spec.Interfaces[k].Name == nb.Interface {
						ifc = &n.spec.Interfaces[k]
					}
				}
				if ifc == nil {
					return fmt.Errorf("node %s: neighbors[%d]: interface %q is not a port of the node", n.spec.Name, i, nb.Interface)
				}
				var ok bool
				if li, ok = s.linkEnd[n.spec.Name+":"+ifc.Name]; !ok {
					return fmt.Errorf("node %s: neighbors[%d]: interface %s has no cable in the plan", n.spec.Name, i, ifc.Name)
				}
				side := byte(1)
				if s.topo.Links[li].B.Node == n.spec.Name && s.topo.Links[li].B.Interface == ifc.Name {
					side = 2
				}
				local, remote = linkLocal(li, side), linkLocal(li, 3-side)
			case nb.Address.IsValid():
				for k := range n.spec.Interfaces {
					for _, a := range n.spec.Interfaces[k].Addresses {
						if a.Contains(nb.Address) {
							ifc, local = &n.spec.Interfaces[k], a.Addr()
						}
					}
				}
				if ifc == nil {
					return fmt.Errorf("node %s: neighbors[%d] (%s): no interface of the node is on its subnet", n.spec.Name, i, nb.Address)
				}
				var ok bool
				if li, ok = s.linkEnd[n.spec.Name+":"+ifc.Name]; !ok {
					return fmt.Errorf("node %s: neighbors[%d] (%s): interface %s has no cable in the plan", n.spec.Name, i, nb.Address, ifc.Name)
				}
				remote = nb.Address
			case nb.ListenRange.IsValid():
				// Dynamic neighbors are the servers of a hosts: bgp
				// plan: one session per server simulated on the range.
				if err := s.dynamicSessions(n, i, nb, byEnd); err != nil {
					return err
				}
				continue
			default:
				return fmt.Errorf("node %s: neighbors[%d]: neither an address, an interface nor a listen-range", n.spec.Name, i)
			}
			ss := &session{idx: int32(len(s.sessions)), node: int32(n.idx), peer: -1, link: int32(li), nb: nb, local: local, remote: remote}
			fc, err := s.fsmConfig(n, nb, remote, 0)
			if err != nil {
				return fmt.Errorf("node %s: neighbors[%d] (%s): %w", n.spec.Name, i, remote, err)
			}
			ss.fcfg = fc
			ss.v4 = slices.Contains(fc.Capabilities.Multiprotocol, wire.IPv4Unicast)
			ss.v6 = slices.Contains(fc.Capabilities.Multiprotocol, wire.IPv6Unicast)
			ss.bfd = nb.BFD.Enabled && c.BGP.BFD.Interval > 0
			n.bfdDetect = time.Duration(c.BGP.BFD.Interval*max(c.BGP.BFD.Multiplier, 1)) * time.Millisecond
			s.sessions = append(s.sessions, ss)
			n.sess = append(n.sess, ss.idx)
			l := s.links[li]
			l.sess = append(l.sess, ss.idx)
			byEnd[endKey{int32(n.idx), ifc.Name, remote.Is6()}] = ss.idx
		}
	}
	for _, ss := range s.sessions {
		l := s.links[ss.link]
		lk := s.topo.Links[ss.link]
		other, otherIf := l.b, lk.B.Interface
		if other == ss.node {
			other, otherIf = l.a, lk.A.Interface
		}
		pi, ok := byEnd[endKey{other, otherIf, ss.remote.Is6()}]
		if !ok {
			continue
		}
		p := s.sessions[pi]
		if p.remote != ss.local {
			return fmt.Errorf("node %s: neighbor %s: the other end (%s) expects %s, not %s", s.nodes[ss.node].spec.Name, ss.remote, s.nodes[other].spec.Name, p.remote, ss.local)
		}
		ss.peer = pi
		// One end dials and the other listens (the tier nearer the
		// servers dials), so connection collisions never arise.
		a, b := s.nodes[ss.node].spec, s.nodes[other].spec
		ss.active = a.Tier > b.Tier || (a.Tier == b.Tier && ss.node < other)
	}
	return nil
}

func (s *Sim) fsmConfig(n *node, nb config.Neighbor, remote netip.Addr, peerAS uint32) (fsm.Config, error) {
	c := n.spec.Config
	as, ok := nb.RemoteAS.Single()
	if peerAS != 0 {
		as, ok = peerAS, nb.RemoteAS.Contains(peerAS)
	}
	if !ok {
		return fsm.Config{}, fmt.Errorf("remote-as %v: only a single AS number is simulated", nb.RemoteAS)
	}
	timers := c.BGP.Timers
	if nb.Timers != nil {
		timers = *nb.Timers
	}
	var fams []wire.Family
	for _, f := range nb.Families {
		switch f {
		case config.IPv4Unicast:
			fams = append(fams, wire.IPv4Unicast)
		case config.IPv6Unicast:
			fams = append(fams, wire.IPv6Unicast)
		}
	}
	if len(fams) == 0 {
		if nb.Interface != "" {
			fams = []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast}
		} else if remote.Is4() {
			fams = []wire.Family{wire.IPv4Unicast}
		} else {
			fams = []wire.Family{wire.IPv6Unicast}
		}
	}
	caps := wire.Capabilities{Multiprotocol: fams, RouteRefresh: true, AS4: true}
	if remote.Is6() && slices.Contains(fams, wire.IPv4Unicast) {
		caps.ExtendedNextHop = []wire.ExtendedNextHop{{NLRI: wire.IPv4Unicast, NextHopAFI: wire.AFIIPv6}}
	}
	fc := fsm.Config{
		LocalAS: c.ASN, RouterID: c.RouterID, PeerAS: fsm.PeerASNumber(as),
		HoldTime:     time.Duration(timers.Hold) * time.Second,
		Keepalive:    time.Duration(timers.Keepalive) * time.Second,
		NoHoldTime:   timers.Hold == 0,
		ConnectRetry: s.opt.ConnectRetry,
		Capabilities: caps,
		Jitter:       s.rng.Float64,
	}
	if _, err := fsm.New(fc); err != nil {
		return fsm.Config{}, err
	}
	return fc, nil
}

// boot powers a node on: a fresh RIB and fresh sessions, as a switch that
// restarts remembers nothing. Its sessions start at start + a random
// offset below StartSpread.
func (s *Sim) boot(n *node, spread time.Duration) error {
	c := n.spec.Config
	r, err := rib.New(rib.Config{LocalAS: c.ASN, RouterID: c.RouterID, MaxPaths: c.BGP.MaxPaths, MultipathRelax: c.BGP.MultipathRelax})
	if err != nil {
		return fmt.Errorf("node %s: %w", n.spec.Name, err)
	}
	for _, a := range c.Aggregates {
		if err := r.AddAggregate(a.Prefix, a.SummaryOnly); err != nil {
			return fmt.Errorf("node %s: aggregate %s: %w", n.spec.Name, a.Prefix, err)
		}
	}
	for _, p := range originated(c) {
		if err := r.Originate(p, nil); err != nil {
			return fmt.Errorf("node %s: network %s: %w", n.spec.Name, p, err)
		}
	}
	n.rib = r
	n.byRIB = map[rib.PeerID]int32{}
	n.up, n.hung = true, false
	n.busy = s.sched.Now()
	s.dropInbox(n)
	n.waking = false
	for _, si := range n.sess {
		ss := s.sessions[si]
		fc := ss.fcfg
		fc.Passive = !ss.active
		f, err := fsm.New(fc)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.spec.Name, err)
		}
		ss.fsm, ss.conn, ss.inRIB, ss.armOK, ss.isUp = f, 0, false, false, false
		ss.dial++
		var off time.Duration
		if spread > 0 {
			off = time.Duration(s.rng.Int64N(int64(spread)))
		}
		s.schedule(s.sched.Now()+off, event{kind: evKick, sess: si})
	}
	s.markDirty(n)
	return nil
}

// linkUsable reports whether messages cross l: cable up, not silently
// dropping, both switches running.
func (s *Sim) linkUsable(l *link) bool {
	if l.down || l.silent {
		return false
	}
	a, b := s.nodes[l.a], s.nodes[l.b]
	return a.up && b.up && !a.hung && !b.hung
}

func important(ev *event) bool {
	switch ev.kind {
	case evTick:
		return false
	case evDeliver:
		return len(ev.msg) < 19 || ev.msg[18] != byte(wire.TypeKeepalive)
	}
	return true
}

func (s *Sim) schedule(at time.Duration, ev event) {
	if important(&ev) {
		s.important++
	}
	s.sched.At(at, ev)
}

func (s *Sim) step(ss *session, ev fsm.Event) {
	now := s.sched.Time()
	acts := slices.Clone(ss.fsm.Step(now, ev))
	for _, a := range acts {
		s.do(ss, a)
	}
	s.noteState(ss)
	s.rearm(ss)
}

func (s *Sim) rearm(ss *session) {
	d := ss.fsm.NextDeadline()
	if d.IsZero() {
		return
	}
	at := d.Sub(Epoch)
	if !ss.armOK || at < ss.armed {
		ss.armed, ss.armOK = at, true
		s.schedule(at, event{kind: evTick, sess: ss.idx})
	}
}

// noteState keeps the count of sessions whose state differs from what
// the topology implies.
func (s *Sim) noteState(ss *session) {
	up := ss.fsm != nil && ss.fsm.State() == fsm.StateEstablished
	if up == ss.isUp {
		return
	}
	if s.counted(ss) && ss.wantUp != ss.isUp {
		s.mismatch--
	}
	ss.isUp = up
	if s.counted(ss) && ss.wantUp != ss.isUp {
		s.mismatch++
	}
}

func (s *Sim) counted(ss *session) bool {
	n := s.nodes[ss.node]
	return n.up && !n.hung && ss.peer >= 0
}

// recount sets every session's wanted state after a topology change.
func (s *Sim) recount() {
	s.mismatch = 0
	for _, ss := range s.sessions {
		ss.wantUp = ss.peer >= 0 && s.linkUsable(s.links[ss.link])
		if s.counted(ss) && ss.wantUp != ss.isUp {
			s.mismatch++
		}
	}
}

func (s *Sim) do(ss *session, a fsm.Action) {
	n := s.nodes[ss.node]
	switch a := a.(type) {
	case fsm.Connect:
		ss.dial++
		if ss.peer >= 0 && s.linkUsable(s.links[ss.link]) {
			// SYN there, SYN-ACK back.
			s.schedule(s.sched.Now()+2*s.opt.LinkDelay, event{kind: evConnected, sess: ss.idx, gen: ss.dial})
		}
	case fsm.AbortConnect:
		ss.dial++
	case fsm.Send:
		if ss.conn == 0 {
			return
		}
		b, err := wire.Append(nil, a.Msg, ss.fsm.Options())
		if err != nil {
			return
		}
		s.transmit(ss, b, 0)
	case fsm.CloseConnection:
		s.closeConn(ss)
	case fsm.Established:
		s.established(ss, a.Session)
	case fsm.Down:
		if ss.inRIB {
			_ = n.rib.RemovePeer(ss.ribID)
			delete(n.byRIB, ss.ribID)
			ss.inRIB = false
			s.markDirty(n)
		}
	case fsm.DeliverUpdate:
		if !ss.inRIB || a.Update == nil {
			return
		}
		if a.TreatAsWithdraw {
			byFam := map[wire.Family][]wire.NLRI{}
			a.Update.Reachable(func(f wire.Family, x wire.NLRI) { byFam[f] = append(byFam[f], x) })
			for f, xs := range byFam {
				_ = n.rib.TreatAsWithdraw(ss.ribID, f, xs)
			}
		} else {
			_ = n.rib.ApplyUpdate(ss.ribID, a.Update)
		}
		s.markDirty(n)
	case fsm.DeliverRouteRefresh:
		if ss.inRIB {
			_ = n.rib.RouteRefresh(ss.ribID, a.Refresh.Family, ss.fsm.Negotiated().EnhancedRouteRefresh)
			s.markDirty(n)
		}
	}
}

func (s *Sim) established(ss *session, neg fsm.Negotiated) {
	n := s.nodes[ss.node]
	nb := ss.nb
	typ := rib.EBGP
	if neg.PeerAS == n.spec.Config.ASN {
		typ = rib.IBGP
	}
	pc := rib.PeerConfig{
		Type: typ, PeerAS: neg.PeerAS, Address: ss.remote, LocalAddress: ss.local,
		AllowASIn: nb.AllowASIn, DefaultOriginate: nb.DefaultOriginate, NextHopSelf: nb.NextHopSelf,
		ExportName: nb.RouteMap.Out, MRAI: s.opt.MRAI,
	}
	switch nb.RemovePrivateAS {
	case "all":
		pc.RemovePrivateAS = rib.RemovePrivateAll
	case "replace":
		pc.RemovePrivateAS = rib.ReplacePrivateAS
	}
	if nb.RouteMap.In != "" || nb.RouteMap.Out != "" || nb.Prepend > 0 {
		pol := policy.RIB{N: policy.Neighbor{In: nb.RouteMap.In, Out: nb.RouteMap.Out, Set: n.pol}}
		if nb.Prepend > 0 && typ == rib.EBGP {
			pol.Prepend = slices.Repeat([]uint32{n.spec.Config.ASN}, nb.Prepend)
			pc.ExportName = fmt.Sprintf("%s|prepend %d", nb.RouteMap.Out, nb.Prepend)
		}
		pc.Import, pc.Export = pol, pol
	}
	id, err := n.rib.AddPeer(pc)
	if err == nil {
		if err = n.rib.PeerUp(id, neg.PeerID, neg.Options, neg.Families); err != nil {
			_ = n.rib.RemovePeer(id)
		}
	}
	if err != nil {
		// As closd: a peer the RIB refuses is closed again.
		s.step(ss, fsm.AutomaticStop{Subcode: wire.SubOutOfResources})
		return
	}
	ss.ribID, ss.inRIB = id, true
	n.byRIB[id] = ss.idx
	s.markDirty(n)
}

// transmit puts b on ss's connection towards the peer; a message on a
// link that is down or silently dropping is lost.
func (s *Sim) transmit(ss *session, b []byte, prefixes int) {
	if len(b) > 18 && b[18] == byte(wire.TypeUpdate) {
		s.st.updates++
		s.st.prefixes += uint64(prefixes)
	}
	if ss.peer < 0 || !s.linkUsable(s.links[ss.link]) {
		return
	}
	s.schedule(s.sched.Now()+s.opt.LinkDelay, event{kind: evDeliver, sess: ss.peer, gen: ss.conn, msg: b})
}

func (s *Sim) closeConn(ss *session) {
	c := ss.conn
	if c == 0 {
		return
	}
	ss.conn = 0
	if ss.peer >= 0 && s.sessions[ss.peer].conn == c && s.linkUsable(s.links[ss.link]) {
		s.schedule(s.sched.Now()+s.opt.LinkDelay, event{kind: evClosed, sess: ss.peer, gen: c})
	}
}

// markDirty notes RIB input: Ready runs once the node's queue is empty,
// or after maxBatch items as closd's loop does, and its CPU is free, so a
// burst of UPDATEs is decided in batches.
func (s *Sim) markDirty(n *node) {
	n.dirty = true
	s.wake(n)
}

func (s *Sim) wake(n *node) {
	if n.waking || !n.up || n.hung {
		return
	}
	n.waking = true
	s.schedule(max(s.sched.Now(), n.busy), event{kind: evWake, node: int32(n.idx)})
}

// arrive queues a message or a close for the node, which handles one at
// a time.
func (s *Sim) arrive(n *node, ev event) {
	if important(&ev) {
		s.important++
	}
	n.inbox = append(n.inbox, ev)
	s.wake(n)
}

// run is the node's CPU: the next queued item, or, with the queue empty,
// the RIB's batch.
func (s *Sim) run(n *node) {
	n.waking = false
	if !n.up || n.hung {
		s.dropInbox(n)
		return
	}
	now := s.sched.Now()
	if n.busy > now {
		s.wake(n)
		return
	}
	if n.head < len(n.inbox) && !(n.dirty && n.batch >= maxBatch) {
		ev := n.inbox[n.head]
		n.inbox[n.head] = event{}
		n.head++
		if n.head == len(n.inbox) {
			n.inbox, n.head = n.inbox[:0], 0
			if cap(n.inbox) > 256 {
				// A power-on burst needed a long queue; do not keep
				// it for every node for the rest of the run.
				n.inbox = nil
			}
		}
		if important(&ev) {
			s.important--
		}
		s.receive(n, ev)
		n.batch++
		if n.head < len(n.inbox) || n.dirty {
			s.wake(n)
		}
		return
	}
	n.batch = 0
	if n.dirty {
		n.dirty = false
		s.flush(n)
		if n.head < len(n.inbox) {
			s.wake(n)
		}
	}
}

// maxBatch is how many queued events closd's loop handles before it lets
// the RIB decide (the event and up to 64 more).
const maxBatch = 65

func (s *Sim) dropInbox(n *node) {
	for _, ev := range n.inbox[n.head:] {
		if important(&ev) {
			s.important--
		}
	}
	clear(n.inbox)
	n.inbox, n.head, n.dirty = n.inbox[:0], 0, false
}

func (s *Sim) receive(n *node, ev event) {
	ss := s.sessions[ev.sess]
	if ss.fsm == nil || ss.conn != ev.gen {
		return
	}
	now := s.sched.Now()
	if ev.kind == evClosed {
		ss.conn = 0
		n.busy = now + s.opt.MsgCost
		s.step(ss, fsm.TcpConnectionFails{Reason: "the peer closed the connection"})
		return
	}
	m, err := wire.Parse(ev.msg, ss.fsm.Options())
	cost := s.opt.MsgCost
	if u, ok := m.(*wire.Update); ok {
		cost += time.Duration(countNLRI(u)) * s.opt.PrefixCost
	}
	n.busy = now + cost
	s.step(ss, fsm.RecvMessage{Msg: m, Err: err})
}

// handle runs one event.
func (s *Sim) handle(ev event) {
	if important(&ev) {
		s.important--
	}
	switch ev.kind {
	case evTick:
		ss := s.sessions[ev.sess]
		if !ss.armOK || ss.armed != ev.at || !s.live(ss) {
			return
		}
		ss.armOK = false
		s.step(ss, fsm.Tick{})
	case evKick:
		ss := s.sessions[ev.sess]
		if !s.live(ss) {
			return
		}
		s.step(ss, fsm.ManualStart{Passive: !ss.active})
		if p := ss.peer; !ss.active && p >= 0 && s.sessions[p].fsm != nil && s.sessions[p].fsm.State() != fsm.StateIdle {
			// Both ends of a real session dial; here the listening end
			// starting makes a waiting dialer try at once, which is
			// when the real one's own dial would connect.
			s.kick(s.sessions[p])
		}
	case evConnected:
		ss := s.sessions[ev.sess]
		if ev.gen != ss.dial || !s.live(ss) || ss.fsm.State() != fsm.StateConnect || ss.conn != 0 {
			return
		}
		p := s.sessions[ss.peer]
		if !s.linkUsable(s.links[ss.link]) {
			return // the SYN is lost: ConnectRetry tries again
		}
		if p.conn != 0 || !p.fsm.AcceptsConnection() {
			s.step(ss, fsm.TcpConnectionFails{Reason: "connection refused"})
			return
		}
		s.nextConn++
		ss.conn, p.conn = s.nextConn, s.nextConn
		s.step(p, fsm.TcpConnectionConfirmed{Inbound: true})
		s.step(ss, fsm.TcpConnectionConfirmed{Inbound: false})
	case evDeliver, evClosed:
		ss := s.sessions[ev.sess]
		n := s.nodes[ss.node]
		if !s.live(ss) || ss.conn != ev.gen {
			return
		}
		s.arrive(n, ev)
	case evWake:
		s.run(s.nodes[ev.node])
	case evFlush:
		// The RIB's MRAI timer.
		s.markDirty(s.nodes[ev.node])
	case evDetect:
		l := s.links[ev.sess]
		if !l.silent && !s.nodes[l.a].hung && !s.nodes[l.b].hung {
			return
		}
		for _, si := range l.sess {
			ss := s.sessions[si]
			if s.live(ss) && ss.bfd && ss.fsm.State() != fsm.StateIdle {
				s.step(ss, fsm.AutomaticStop{Subcode: wire.SubBFDDown})
			}
		}
	}
}

func (s *Sim) live(ss *session) bool {
	n := s.nodes[ss.node]
	return n.up && !n.hung && ss.fsm != nil
}

func countNLRI(u *wire.Update) int {
	k := 0
	u.Reachable(func(wire.Family, wire.NLRI) { k++ })
	u.Unreachable(func(wire.Family, wire.NLRI) { k++ })
	return k
}

// flush is closd's flush: what the RIB decided since the last call, then
// messages to the peers and the routes to the node's FIB.
func (s *Sim) flush(n *node) {
	now := s.sched.Time()
	for range 16 {
		out := n.rib.Ready(now)
		if out.Empty() {
			break
		}
		s.apply(n, out)
	}
	if t, ok := n.rib.NextDeadline(); ok {
		s.schedule(t.Sub(Epoch), event{kind: evFlush, node: int32(n.idx)})
	}
}

func (s *Sim) apply(n *node, out *rib.Output) {
	for _, b := range out.Best {
		id, ok := s.pid[b.Prefix]
		if !ok {
			continue
		}
		s.noteChange(n, id)
		if n.hunt[id] < 0xffff {
			n.hunt[id]++
		}
		s.st.bestChanges++
		r := n.route[id]
		switch {
		case b.Withdrawn:
			r = 0
		case b.Local:
			r = 1
		case r < 2:
			r = 2 // the width follows in the ECMP change
		}
		s.setRoute(n, id, r)
	}
	for _, c := range out.ECMP {
		id, ok := s.pid[c.Prefix]
		if !ok {
			continue
		}
		s.noteChange(n, id)
		s.noteGroup(n, c.Group, c.NextHops)
		s.setGroup(n, id, c.Group)
		r := n.route[id]
		if len(c.NextHops) > 0 {
			r = 2 + uint16(min(len(c.NextHops), 0xfff0))
		} else if r >= 2 {
			r = 2
		}
		s.setRoute(n, id, r)
	}
	for _, snd := range out.Sends {
		var first *session
		for _, id := range snd.Peers {
			if si, ok := n.byRIB[id]; ok && s.sessions[si].conn != 0 {
				first = s.sessions[si]
				break
			}
		}
		if first == nil {
			continue
		}
		for _, m := range snd.Msgs {
			b := slices.Clone(m) // the RIB reuses its buffers
			k := 0
			if len(b) > 18 && b[18] == byte(wire.TypeUpdate) {
				var ok bool
				if k, ok = countUpdate(b); !ok || len(first.fsm.Options().AddPathSend) > 0 {
					k = 0
					if msg, err := wire.Parse(b, first.fsm.Options()); err == nil {
						if u, ok := msg.(*wire.Update); ok {
							k = countNLRI(u)
						}
					}
				}
			}
			for _, id := range snd.Peers {
				si, ok := n.byRIB[id]
				if !ok || s.sessions[si].conn == 0 {
					continue
				}
				s.transmit(s.sessions[si], b, k)
			}
		}
	}
	for _, e := range out.Peers {
		if e.Kind == rib.MaxPrefixExceeded {
			if si, ok := n.byRIB[e.Peer]; ok {
				s.step(s.sessions[si], fsm.AutomaticStop{Subcode: wire.SubMaxPrefixes})
			}
		}
	}
}

func (s *Sim) noteChange(n *node, _ int32) {
	s.st.lastChange = s.sched.Now()
	s.st.anyChange = true
	if !n.changed {
		n.changed = true
		s.st.nodesChanged++
	}
}
