package bfd

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Well-known ports.
const (
	PortSingleHop = 3784 // RFC 5881
	PortMultihop  = 4784 // RFC 5883
)

// RecvMeta describes a received datagram.
type RecvMeta struct {
	Src      netip.AddrPort
	Dst      netip.Addr // local address it was sent to, if known
	Ifindex  int        // arrival interface, 0 if unknown
	TTL      int        // IP TTL / hop limit, -1 if unknown
	Multihop bool       // arrived on the multihop port
	// At is when the packet arrived: the kernel's receive timestamp when
	// the transport has one, else when it was read. Detection counts from
	// it, so a reader that was slow to run does not turn into silence.
	At time.Time
}

// polledConn is a Conn that can hand over, without blocking, datagrams the
// kernel holds but its reader has not picked up yet.
type polledConn interface {
	TryRecv(buf []byte) (int, RecvMeta, bool)
}

// Conn is a receiving socket.
type Conn interface {
	// Recv blocks for the next datagram; it fails once Close was called.
	Recv(buf []byte) (int, RecvMeta, error)
	Close() error
}

// Sender transmits one session's packets from its fixed source port.
type Sender interface {
	Send(b []byte, dst netip.AddrPort) error
	Close() error
}

// Transport opens sockets for a Server. UDPTransport is the Linux one;
// MemNetwork is the in-memory fake.
type Transport interface {
	Listen() ([]Conn, error)
	// Sender opens the sending socket for a peer. Called from AddPeer in the
	// caller's goroutine, so a caller pinned to a network namespace gets its
	// sockets there.
	Sender(p *PeerConfig) (Sender, error)
	// Ifindex resolves an interface name (0 for "").
	Ifindex(name string) (int, error)
}

// ErrClosed is returned by a closed Conn or Server.
var ErrClosed = errors.New("bfd: closed")

// MemNetwork is an in-memory network of Transports for tests and
// simulation. Every datagram arrives with TTL 255 on interface 0 unless the
// sender's hop count says otherwise.
type MemNetwork struct {
	mu    sync.Mutex
	eps   map[netip.Addr]*memConn
	drops map[[2]netip.Addr]bool
	alias map[netip.Addr]netip.Addr
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{eps: map[netip.Addr]*memConn{}, drops: map[[2]netip.Addr]bool{}, alias: map[netip.Addr]netip.Addr{}}
}

// Alias delivers traffic for the address alias to the endpoint of addr, as
// a second address on the same host. Packets a peer sends with Local set
// to an alias carry it as their source.
func (n *MemNetwork) Alias(alias, addr netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.alias[alias] = addr
}

// Drop makes the network lose (or, with drop false, deliver again) traffic
// from one address to another.
func (n *MemNetwork) Drop(from, to netip.Addr, drop bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drops[[2]netip.Addr{from, to}] = drop
}

// Endpoint returns the Transport of a host with address a. Hops is the
// number of routers between it and everybody (0 = single hop).
func (n *MemNetwork) Endpoint(a netip.Addr, hops int) Transport {
	return &memTransport{n: n, addr: a, hops: hops}
}

type memDatagram struct {
	b    []byte
	meta RecvMeta
}

type memConn struct {
	ch     chan memDatagram
	closed chan struct{}
	once   sync.Once
}

func (c *memConn) Recv(buf []byte) (int, RecvMeta, error) {
	select {
	case d := <-c.ch:
		return copy(buf, d.b), d.meta, nil
	case <-c.closed:
		return 0, RecvMeta{}, ErrClosed
	}
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

type memTransport struct {
	n    *MemNetwork
	addr netip.Addr
	hops int
}

func (t *memTransport) Listen() ([]Conn, error) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if _, ok := t.n.eps[t.addr]; ok {
		return nil, errors.New("bfd: address already listening on MemNetwork")
	}
	c := &memConn{ch: make(chan memDatagram, 1024), closed: make(chan struct{})}
	t.n.eps[t.addr] = c
	return []Conn{c}, nil
}

func (t *memTransport) Ifindex(name string) (int, error) { return 0, nil }

func (t *memTransport) Sender(p *PeerConfig) (Sender, error) {
	src := t.addr
	if p.Local.IsValid() {
		src = p.Local
	}
	return &memSender{t: t, multihop: p.Multihop, src: src}, nil
}

type memSender struct {
	t        *memTransport
	multihop bool
	src      netip.Addr
}

func (s *memSender) Send(b []byte, dst netip.AddrPort) error {
	n := s.t.n
	n.mu.Lock()
	to := dst.Addr()
	if a, ok := n.alias[to]; ok {
		to = a
	}
	c, ok := n.eps[to]
	drop := n.drops[[2]netip.Addr{s.t.addr, dst.Addr()}]
	n.mu.Unlock()
	if !ok || drop {
		return nil // like UDP: lost silently
	}
	select {
	case <-c.closed:
		return nil
	default:
	}
	d := memDatagram{b: append([]byte(nil), b...), meta: RecvMeta{
		Src: netip.AddrPortFrom(s.src, 49152), Dst: dst.Addr(), TTL: 255 - s.t.hops,
		Multihop: s.multihop,
	}}
	select {
	case c.ch <- d:
	default: // receiver overloaded: dropped, as a kernel queue would
	}
	return nil
}

func (s *memSender) Close() error { return nil }
