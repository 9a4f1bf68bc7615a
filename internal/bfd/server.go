package bfd

import (
	"container/heap"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// DefaultMultihopMinTTL accepts multihop packets that crossed at most one
// router; raise the budget per peer with PeerConfig.MinTTL.
const DefaultMultihopMinTTL = 254

// PeerConfig describes one session the Server runs.
type PeerConfig struct {
	Peer netip.Addr
	// Local is the source address. Required for multihop; optional for
	// single hop.
	Local netip.Addr
	// Interface binds a single-hop session to a link (SO_BINDTODEVICE).
	// Required when Peer is an IPv6 link-local address.
	Interface string
	// Multihop selects RFC 5883 (port 4784, no TTL-255 rule).
	Multihop bool
	// MinTTL is the lowest received TTL a multihop session accepts
	// (default DefaultMultihopMinTTL). Single hop always requires 255.
	MinTTL uint8
	// Port overrides the peer's destination port (tests, nonstandard
	// deployments); 0 means 3784 or 4784.
	Port uint16

	DesiredMinTx  time.Duration
	RequiredMinRx time.Duration
	DetectMult    uint8
	Auth          *AuthConfig
	AdminDown     bool
}

// Key identifies the peer's session on this server.
func (p *PeerConfig) Key() PeerKey {
	k := PeerKey{Peer: p.Peer, Multihop: p.Multihop}
	if p.Multihop {
		k.Local = p.Local
	} else {
		k.Interface = p.Interface
	}
	return k
}

func (p *PeerConfig) validate() error {
	if !p.Peer.IsValid() {
		return errors.New("bfd: peer address missing")
	}
	if p.Multihop {
		if !p.Local.IsValid() {
			return fmt.Errorf("bfd: multihop peer %v needs a local address", p.Peer)
		}
		if p.Peer.IsLinkLocalUnicast() {
			return fmt.Errorf("bfd: multihop peer %v is link-local", p.Peer)
		}
	} else if p.Peer.Is6() && p.Peer.IsLinkLocalUnicast() && p.Interface == "" {
		return fmt.Errorf("bfd: link-local peer %v needs an interface", p.Peer)
	}
	if p.Local.IsValid() && p.Local.Is4() != p.Peer.Is4() {
		return fmt.Errorf("bfd: local %v and peer %v are different families", p.Local, p.Peer)
	}
	return nil
}

// PeerKey names a session: the peer address plus the interface (single
// hop) or local address (multihop).
type PeerKey struct {
	Peer      netip.Addr
	Interface string
	Local     netip.Addr
	Multihop  bool
}

func (k PeerKey) String() string {
	switch {
	case k.Multihop:
		return fmt.Sprintf("%v multihop from %v", k.Peer, k.Local)
	case k.Interface != "":
		return fmt.Sprintf("%v%%%s", k.Peer, k.Interface)
	}
	return k.Peer.String()
}

// StateChange reports a session moving between states.
type StateChange struct {
	Key      PeerKey
	From, To State
	Diag     Diag
	At       time.Time
	// PeerRestarted, PeerAdminDown: see Action.
	PeerRestarted bool
	PeerAdminDown bool `json:",omitempty"`
}

// Counters are per-session packet counts.
type Counters struct {
	Rx, Tx, RxDiscarded, TxErrors uint64
	// LastDiscard says why the latest received packet was dropped.
	LastDiscard string
}

// PeerStatus is a snapshot of one session.
type PeerStatus struct {
	Key      PeerKey
	Status   Status
	Counters Counters
}

// ServerConfig configures a Server.
type ServerConfig struct {
	Transport Transport
	// OnStateChange is called from the server's loop goroutine for every
	// state change; it must return quickly and must not call the Server's
	// methods (they wait for that same loop).
	OnStateChange func(StateChange)
}

type peer struct {
	key      PeerKey
	cfg      PeerConfig
	ifindex  int
	dst      netip.AddrPort
	sess     *Session
	sender   Sender
	heapIdx  int
	deadline time.Time
	cnt      Counters
	// removed sessions send AdminDown until drainUntil, then go away.
	removed    bool
	drainUntil time.Time
}

type demuxKey struct {
	peer    netip.Addr
	ifindex int
	local   netip.Addr
	multi   bool
}

type rxPacket struct {
	b    []byte
	meta RecvMeta
}

// Server runs BFD sessions over a Transport: one goroutine per receiving
// socket and one loop that owns every session and a min-heap of their
// deadlines, so a thousand sessions cost one timer.
type Server struct {
	cfg    ServerConfig
	conns  []Conn
	rx     chan rxPacket
	cmd    chan func()
	done   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once

	// Owned by the loop goroutine.
	peers   map[PeerKey]*peer
	byDiscr map[uint32]*peer
	byAddr  map[demuxKey]*peer
	heap    peerHeap
	discard uint64 // packets matching no session or failing parse
	rnd     *mrand.Rand
	freeze  freezeWatch
}

// NewServer opens the transport's sockets (in the caller's network
// namespace) and starts the loop.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Transport == nil {
		return nil, errors.New("bfd: ServerConfig.Transport is required")
	}
	conns, err := cfg.Transport.Listen()
	if err != nil {
		return nil, err
	}
	var seed [16]byte
	rand.Read(seed[:])
	s := &Server{
		cfg: cfg, conns: conns,
		rx:      make(chan rxPacket, 1024),
		cmd:     make(chan func()),
		done:    make(chan struct{}),
		peers:   map[PeerKey]*peer{},
		byDiscr: map[uint32]*peer{},
		byAddr:  map[demuxKey]*peer{},
		rnd:     mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
	}
	for _, c := range conns {
		s.wg.Add(1)
		go s.readLoop(c)
	}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

func (s *Server) readLoop(c Conn) {
	defer s.wg.Done()
	for {
		buf := make([]byte, 128)
		n, meta, err := c.Recv(buf)
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			// A transient receive error (e.g. ICMP-induced) must not end
			// the loop; a closed socket ends it above.
			if errors.Is(err, ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // never spin on a persistent error
			continue
		}
		if meta.At.IsZero() {
			meta.At = time.Now()
		}
		select {
		case s.rx <- rxPacket{b: buf[:n], meta: meta}:
		case <-s.done:
			return
		}
	}
}

// do runs f on the loop goroutine and waits for it.
func (s *Server) do(f func()) error {
	ch := make(chan struct{})
	select {
	case s.cmd <- func() { f(); close(ch) }:
	case <-s.done:
		return ErrClosed
	}
	<-ch
	return nil
}

// AddPeer starts a session. Its sending socket is opened here, in the
// caller's goroutine.
func (s *Server) AddPeer(pc PeerConfig) (PeerKey, error) {
	if err := pc.validate(); err != nil {
		return PeerKey{}, err
	}
	if err := pc.Auth.Validate(); err != nil {
		return PeerKey{}, err
	}
	if pc.Multihop && pc.MinTTL == 0 {
		pc.MinTTL = DefaultMultihopMinTTL
	}
	key := pc.Key()
	ifindex, err := s.cfg.Transport.Ifindex(pc.Interface)
	if err != nil {
		return key, err
	}
	port := pc.Port
	if port == 0 {
		port = PortSingleHop
		if pc.Multihop {
			port = PortMultihop
		}
	}
	dst := netip.AddrPortFrom(pc.Peer, port)
	if pc.Peer.Is6() && pc.Peer.IsLinkLocalUnicast() {
		// A numeric zone needs no name lookup at send time, which may
		// happen outside the namespace the interface lives in.
		dst = netip.AddrPortFrom(pc.Peer.WithZone(strconv.Itoa(ifindex)), port)
	}
	snd, err := s.cfg.Transport.Sender(&pc)
	if err != nil {
		return key, err
	}
	var result error
	err = s.do(func() {
		if _, ok := s.peers[key]; ok {
			result = fmt.Errorf("bfd: session %v already exists", key)
			return
		}
		var discr uint32
		for discr == 0 || s.byDiscr[discr] != nil {
			discr = s.rnd.Uint32()
		}
		sess, err := NewSession(SessionConfig{
			LocalDiscr: discr, DesiredMinTx: pc.DesiredMinTx, RequiredMinRx: pc.RequiredMinRx,
			DetectMult: pc.DetectMult, Auth: pc.Auth, AdminDown: pc.AdminDown,
			Rand: mrand.NewPCG(s.rnd.Uint64(), s.rnd.Uint64()),
		}, time.Now())
		if err != nil {
			result = err
			return
		}
		p := &peer{key: key, cfg: pc, ifindex: ifindex, dst: dst, sess: sess, sender: snd}
		s.peers[key] = p
		s.byDiscr[discr] = p
		s.byAddr[p.demuxKey()] = p
		p.deadline = sess.NextDeadline()
		heap.Push(&s.heap, p)
	})
	if err == nil {
		err = result
	}
	if err != nil {
		snd.Close()
	}
	return key, err
}

func (p *peer) demuxKey() demuxKey {
	if p.cfg.Multihop {
		return demuxKey{peer: p.cfg.Peer, local: p.cfg.Local, multi: true}
	}
	return demuxKey{peer: p.cfg.Peer, ifindex: p.ifindex}
}

// RemovePeer takes the session administratively down and forgets it. The
// AdminDown packets keep going out for the peer's detection time (RFC 5880
// 6.8.16) so the peer learns why, rather than timing out; the key can be
// added again at once.
func (s *Server) RemovePeer(key PeerKey) error {
	var result error
	err := s.do(func() {
		p, ok := s.peers[key]
		if !ok {
			result = fmt.Errorf("bfd: no session %v", key)
			return
		}
		now := time.Now()
		delete(s.peers, key)
		if s.byAddr[p.demuxKey()] == p {
			delete(s.byAddr, p.demuxKey())
		}
		p.removed = true
		s.apply(p, now, p.sess.Step(now, Event{Kind: EventAdminDown}))
		st := p.sess.Status()
		p.drainUntil = now.Add(time.Duration(max(st.DetectMult, 1)) * st.TxInterval)
	})
	if err != nil {
		return err
	}
	return result
}

// forget drops a removed session once its AdminDown period is over.
func (s *Server) forget(p *peer) {
	heap.Remove(&s.heap, p.heapIdx)
	if s.byDiscr[p.sess.LocalDiscr()] == p {
		delete(s.byDiscr, p.sess.LocalDiscr())
	}
	p.sender.Close()
}

func (s *Server) event(key PeerKey, ev Event) error {
	var result error
	err := s.do(func() {
		p, ok := s.peers[key]
		if !ok {
			result = fmt.Errorf("bfd: no session %v", key)
			return
		}
		now := time.Now()
		s.apply(p, now, p.sess.Step(now, ev))
	})
	if err != nil {
		return err
	}
	return result
}

// SetAdminDown disables (down=true) or re-enables a session.
func (s *Server) SetAdminDown(key PeerKey, down bool) error {
	if down {
		return s.event(key, Event{Kind: EventAdminDown})
	}
	return s.event(key, Event{Kind: EventAdminUp})
}

// SetTimers changes a session's intervals and multiplier (poll sequence).
func (s *Server) SetTimers(key PeerKey, t Timers) error {
	if err := t.normalize(); err != nil {
		return err
	}
	return s.event(key, Event{Kind: EventSetTimers, Timers: t})
}

// Peers returns a snapshot of every session.
func (s *Server) Peers() []PeerStatus {
	var out []PeerStatus
	s.do(func() {
		for _, p := range s.peers {
			out = append(out, PeerStatus{Key: p.key, Status: p.sess.Status(), Counters: p.cnt})
		}
	})
	return out
}

// Discarded counts packets that matched no session or did not parse.
func (s *Server) Discarded() uint64 {
	var n uint64
	s.do(func() { n = s.discard })
	return n
}

// Close stops the loop and closes every socket. Sessions are not told;
// peers will detect the silence, as they would a crash.
func (s *Server) Close() error {
	s.closed.Do(func() {
		close(s.done)
		for _, c := range s.conns {
			c.Close()
		}
		s.wg.Wait()
		for _, p := range s.heap {
			p.sender.Close()
		}
	})
	return nil
}

func (s *Server) loop() {
	defer s.wg.Done()
	// A thread of its own: the loop's wake-ups are the transmit schedule
	// of every session, and must not wait behind other goroutines for a
	// thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	raiseThreadPriority()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.arm(timer)
		select {
		case <-s.done:
			return
		case f := <-s.cmd:
			f()
		case pk := <-s.rx:
			s.receive(time.Now(), pk)
		case <-timer.C:
			// Packets already queued were received before now: feed them
			// first so a slow loop does not mistake them for silence.
			s.drainRx()
			s.pollConns()
			now := time.Now()
			s.thaw(now)
			s.expire(now)
		}
	}
}

func (s *Server) drainRx() {
	for i := 0; i < cap(s.rx); i++ {
		select {
		case pk := <-s.rx:
			s.receive(time.Now(), pk)
		default:
			return
		}
	}
}

// pollConns reads what the kernel already holds before sessions are
// expired. On a loaded host the loop can wake after a peer's packet
// arrived but before a reader ran; that packet, stamped with its arrival
// time, must count. Bounded so a flood cannot stall the timers.
func (s *Server) pollConns() {
	for _, c := range s.conns {
		pc, ok := c.(polledConn)
		if !ok {
			continue
		}
		for range 4096 {
			buf := make([]byte, 128)
			n, meta, ok := pc.TryRecv(buf)
			if !ok {
				break
			}
			s.receive(time.Now(), rxPacket{b: buf[:n], meta: meta})
		}
	}
}

func (s *Server) arm(t *time.Timer) {
	if len(s.heap) == 0 {
		t.Reset(time.Hour)
		return
	}
	s.freeze.armed(s.heap[0].deadline)
	d := time.Until(s.heap[0].deadline)
	if d < 0 {
		d = 0
	}
	t.Reset(d)
}

// expire ticks every session whose deadline has passed.
func (s *Server) expire(now time.Time) {
	for n := 0; len(s.heap) > 0 && n < 100000; n++ {
		p := s.heap[0]
		if p.deadline.After(now) {
			return
		}
		s.apply(p, now, p.sess.Step(now, Event{Kind: EventTick}))
		if p.removed && !now.Before(p.drainUntil) {
			s.forget(p)
		}
	}
}

func (s *Server) receive(now time.Time, pk rxPacket) {
	// Detection counts from arrival, not from when this loop got to it.
	if at := pk.meta.At; !at.IsZero() && at.Before(now) && now.Sub(at) < time.Second {
		now = at
	}
	s.freeze.received(now)
	pkt, err := ParseControl(pk.b)
	if err != nil {
		s.discard++
		return
	}
	m := pk.meta
	var p *peer
	if pkt.YourDiscr != 0 {
		p = s.byDiscr[pkt.YourDiscr]
	} else if m.Multihop {
		p = s.byAddr[demuxKey{peer: m.Src.Addr().Unmap(), local: m.Dst.Unmap(), multi: true}]
	} else {
		src := m.Src.Addr().Unmap().WithZone("")
		p = s.byAddr[demuxKey{peer: src, ifindex: m.Ifindex}]
		if p == nil {
			p = s.byAddr[demuxKey{peer: src}]
		}
	}
	if p == nil {
		s.discard++
		return
	}
	// The discriminator picks the session; the addressing must still be
	// the one the session was configured for.
	if p.cfg.Multihop != m.Multihop || p.cfg.Peer != m.Src.Addr().Unmap().WithZone("") ||
		(p.ifindex != 0 && m.Ifindex != 0 && p.ifindex != m.Ifindex) {
		p.cnt.RxDiscarded++
		p.cnt.LastDiscard = fmt.Sprintf("discriminator %d from %v on ifindex %d does not match the session", pkt.YourDiscr, m.Src, m.Ifindex)
		return
	}
	if m.Multihop {
		if m.TTL >= 0 && m.TTL < int(p.cfg.MinTTL) {
			p.cnt.RxDiscarded++
			p.cnt.LastDiscard = fmt.Sprintf("TTL %d below minimum %d", m.TTL, p.cfg.MinTTL)
			return
		}
	} else if m.TTL != 255 {
		// RFC 5881 5 (GTSM): only a directly connected peer can send 255.
		p.cnt.RxDiscarded++
		p.cnt.LastDiscard = fmt.Sprintf("single-hop packet with TTL %d, want 255", m.TTL)
		return
	}
	p.cnt.Rx++
	s.apply(p, now, p.sess.Step(now, Event{Kind: EventRecv, Packet: pkt, Raw: pk.b}))
}

func (s *Server) apply(p *peer, now time.Time, acts []Action) {
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case ActionSend:
			if err := p.sender.Send(a.Bytes, p.dst); err != nil {
				p.cnt.TxErrors++
			} else {
				p.cnt.Tx++
			}
		case ActionStateChange:
			if s.cfg.OnStateChange != nil && !p.removed {
				s.cfg.OnStateChange(StateChange{Key: p.key, From: a.From, To: a.To, Diag: a.Diag, At: now, PeerRestarted: a.PeerRestarted, PeerAdminDown: a.PeerAdminDown})
			}
		case ActionDiscard:
			p.cnt.RxDiscarded++
			p.cnt.LastDiscard = a.Err.Error()
		}
	}
	if p.heapIdx >= 0 {
		d := p.sess.NextDeadline()
		if d.IsZero() {
			d = now.Add(time.Hour)
		}
		p.deadline = d
		heap.Fix(&s.heap, p.heapIdx)
	}
}

// peerHeap orders sessions by their next deadline.
type peerHeap []*peer

func (h peerHeap) Len() int           { return len(h) }
func (h peerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h peerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *peerHeap) Push(x any) {
	p := x.(*peer)
	p.heapIdx = len(*h)
	*h = append(*h, p)
}
func (h *peerHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.heapIdx = -1
	return p
}
