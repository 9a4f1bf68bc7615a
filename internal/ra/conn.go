package ra

import (
	"errors"
	"net/netip"
	"sync"
)

// Conn sends and receives router discovery packets on any interface.
type Conn interface {
	// WriteTo sends an ICMPv6 message on ifname to dst with hop limit 255.
	WriteTo(b []byte, ifname string, dst netip.Addr) error
	// ReadFrom blocks for the next router discovery packet: its interface,
	// source and hop limit (-1 when unknown). After Close it fails.
	ReadFrom(b []byte) (n int, ifname string, src netip.Addr, hopLimit int, err error)
	Close() error
}

// ErrClosed is returned by a closed MemConn.
var ErrClosed = errors.New("ra: connection closed")

// MemNetwork joins MemConns by interface: what one sends on an interface is
// received by the conn at the other end of that link. Tests use it instead
// of raw sockets.
type MemNetwork struct {
	mu    sync.Mutex
	links map[memEnd]memEnd
}

type memEnd struct {
	c      *MemConn
	ifname string
}

// MemConn is one host's end of a MemNetwork.
type MemConn struct {
	n      *MemNetwork
	local  map[string]netip.Addr
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []memPacket
	closed bool
}

type memPacket struct {
	b      []byte
	ifname string
	src    netip.Addr
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork { return &MemNetwork{links: map[memEnd]memEnd{}} }

// Conn returns a host whose interfaces have the given link-local addresses,
// used as the source of what it sends.
func (n *MemNetwork) Conn(local map[string]netip.Addr) *MemConn {
	c := &MemConn{n: n, local: local}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Link joins a's interface ai and b's interface bi.
func (n *MemNetwork) Link(a *MemConn, ai string, b *MemConn, bi string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[memEnd{a, ai}] = memEnd{b, bi}
	n.links[memEnd{b, bi}] = memEnd{a, ai}
}

// WriteTo delivers b to the other end of ifname's link, if it has one.
func (c *MemConn) WriteTo(b []byte, ifname string, dst netip.Addr) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	c.n.mu.Lock()
	o, ok := c.n.links[memEnd{c, ifname}]
	c.n.mu.Unlock()
	if !ok {
		return nil
	}
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	if !o.c.closed {
		o.c.queue = append(o.c.queue, memPacket{b: append([]byte(nil), b...), ifname: o.ifname, src: c.local[ifname]})
		o.c.cond.Signal()
	}
	return nil
}

// ReadFrom returns the next packet; the hop limit is always 255.
func (c *MemConn) ReadFrom(b []byte) (int, string, netip.Addr, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) == 0 && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		return 0, "", netip.Addr{}, 0, ErrClosed
	}
	p := c.queue[0]
	c.queue = c.queue[1:]
	return copy(b, p.b), p.ifname, p.src, HopLimit, nil
}

// Close wakes a blocked ReadFrom.
func (c *MemConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.cond.Broadcast()
	return nil
}
