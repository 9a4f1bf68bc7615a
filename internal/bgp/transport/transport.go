// Package transport carries BGP sessions over TCP: a listener and a dialer
// that set the socket options a BGP speaker needs (TCP MD5 of RFC 2385, the
// TTL security of RFC 5082, eBGP multihop TTL, binding to an interface for
// IPv6 link-local peers, large buffers, no Nagle delay), and a connection
// that frames messages on the way in and queues them on the way out.
//
// Design of a connection: the daemon runs one goroutine per connection that
// calls Conn.ReadMessage in a loop and hands each message to its event loop.
// The reader's buffer is bounded by the largest message the session may
// carry, so a peer cannot make it grow. Writes never block the caller:
// Conn.Send appends the message to a per-connection queue that its own
// goroutine drains, coalescing everything queued into one write. The queue
// has a byte limit; when a peer stops reading and the queue is full, Send
// fails with ErrQueueFull and the daemon drops that session instead of
// stalling the event loop, so one slow peer never delays another.
//
// Socket options are Linux only (sockopt_linux.go); on other systems Dial
// and Listen return ErrUnsupported.
package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Port is the BGP port (RFC 4271 8.2.1).
const Port = 179

// DefaultSocketBuffer is the send and receive buffer asked of the kernel;
// a full table dump is megabytes and a small window slows convergence.
const DefaultSocketBuffer = 4 << 20

// DefaultGTSMMinTTL is the lowest TTL accepted when GTSM is on and no other
// value is configured.
const DefaultGTSMMinTTL = 254

// DefaultQueueLimit bounds the bytes waiting to be written on one connection.
const DefaultQueueLimit = 16 << 20

// ErrUnsupported is returned by Dial and Listen where the socket options a
// BGP transport needs cannot be set (any system but Linux).
var ErrUnsupported = errors.New("transport: BGP sockets (MD5, GTSM, SO_BINDTODEVICE) are supported on Linux only")

// ErrQueueFull is returned by Send when the peer is not reading fast enough
// and the write queue reached its limit.
var ErrQueueFull = errors.New("transport: write queue full: peer is not reading")

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("transport: connection closed")

// ErrMessageTooLong is returned by ReadMessage when the split function asks
// for more bytes than the reader may buffer.
var ErrMessageTooLong = errors.New("transport: message longer than the read buffer")

// Options are the per-neighbor socket settings.
type Options struct {
	// LocalAddr is the source address; the zero value lets the kernel pick.
	LocalAddr netip.Addr
	// Interface binds the socket to a device (SO_BINDTODEVICE). An IPv6
	// link-local peer needs it; it also becomes the address zone.
	Interface string
	// MD5Key enables TCP MD5 signatures (RFC 2385) with this key, at most
	// 80 bytes. Empty means none.
	MD5Key string
	// TTL is the outgoing TTL or hop limit when GTSM is off: 1 for a
	// directly connected eBGP peer, more for eBGP multihop. 0 keeps the
	// kernel default.
	TTL int
	// GTSM sends with TTL 255 and drops segments whose TTL is below
	// GTSMMinTTL (RFC 5082).
	GTSM bool
	// GTSMMinTTL is the lowest TTL accepted under GTSM; 0 means
	// DefaultGTSMMinTTL.
	GTSMMinTTL int
	// SendBuffer and RecvBuffer are the socket buffer sizes; 0 means
	// DefaultSocketBuffer, negative keeps the kernel default.
	SendBuffer, RecvBuffer int
}

func (o *Options) validate() error {
	if len(o.MD5Key) > 80 {
		return fmt.Errorf("transport: MD5 key is %d bytes, at most 80 are allowed (TCP_MD5SIG_MAXKEYLEN)", len(o.MD5Key))
	}
	if o.TTL < 0 || o.TTL > 255 {
		return fmt.Errorf("transport: TTL %d out of range 0..255", o.TTL)
	}
	if o.GTSMMinTTL < 0 || o.GTSMMinTTL > 255 {
		return fmt.Errorf("transport: GTSM minimum TTL %d out of range 1..255", o.GTSMMinTTL)
	}
	return nil
}

func (o *Options) minTTL() int {
	if o.GTSMMinTTL == 0 {
		return DefaultGTSMMinTTL
	}
	return o.GTSMMinTTL
}

func bufSize(n int) int {
	if n == 0 {
		return DefaultSocketBuffer
	}
	return n
}

// SplitFunc finds the first whole message in buf: its length once all of it
// is there, 0 while more bytes are needed, or an error when the stream is
// bad. wire.Split with the session's options has this shape.
type SplitFunc func(buf []byte) (n int, err error)

// Reader frames messages out of a byte stream with a bounded buffer.
type Reader struct {
	r          io.Reader
	split      SplitFunc
	buf        []byte
	start, end int
}

// NewReader returns a reader that buffers at most max bytes; max must be at
// least the longest message the session accepts (65535 with extended
// messages).
func NewReader(r io.Reader, split SplitFunc, max int) *Reader {
	return &Reader{r: r, split: split, buf: make([]byte, max)}
}

// ReadMessage returns the next whole message. The slice is only valid until
// the next call. Errors of the split function are returned as they are, so a
// *wire.Error still says which NOTIFICATION to send.
func (r *Reader) ReadMessage() ([]byte, error) {
	for {
		if r.end > r.start {
			n, err := r.split(r.buf[r.start:r.end])
			if err != nil {
				return nil, err
			}
			if n > r.end-r.start {
				return nil, fmt.Errorf("transport: split returned %d with %d bytes buffered", n, r.end-r.start)
			}
			if n > 0 {
				msg := r.buf[r.start : r.start+n : r.start+n]
				r.start += n
				return msg, nil
			}
			if r.end-r.start == len(r.buf) {
				return nil, ErrMessageTooLong
			}
		}
		if r.start == r.end {
			r.start, r.end = 0, 0
		} else if r.end == len(r.buf) {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			if n > 0 {
				// Frame what arrived with the error first; the next call
				// reports the error again from a fresh Read.
				continue
			}
			if errors.Is(err, io.EOF) && r.end > r.start {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// Writer queues messages and writes them from its own goroutine.
type Writer struct {
	w     io.Writer
	limit int

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []byte
	spare  []byte
	err    error
	closed bool
	done   chan struct{}
}

// NewWriter starts the goroutine that writes to w; limit bounds the queued
// bytes (0 means DefaultQueueLimit). Close stops it.
func NewWriter(w io.Writer, limit int) *Writer {
	if limit <= 0 {
		limit = DefaultQueueLimit
	}
	wr := &Writer{w: w, limit: limit, done: make(chan struct{})}
	wr.cond = sync.NewCond(&wr.mu)
	go wr.run()
	return wr
}

// Send queues a copy of msg and returns at once. It fails when the writer
// has failed or been closed, or with ErrQueueFull when the peer is too slow.
func (w *Writer) Send(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	if len(w.queue)+len(msg) > w.limit {
		return ErrQueueFull
	}
	w.queue = append(w.queue, msg...)
	w.cond.Signal()
	return nil
}

// Queued reports the bytes waiting to be written.
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// Err reports the write error that stopped the writer, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close writes what is queued and stops the goroutine. It blocks until the
// queue is written or a write fails; to bound that, close or set a write
// deadline on the underlying connection (Conn.Close does).
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.cond.Signal()
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) run() {
	defer close(w.done)
	w.mu.Lock()
	for {
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		buf := w.queue
		w.queue = w.spare[:0]
		w.mu.Unlock()
		_, err := w.w.Write(buf)
		w.mu.Lock()
		// Keep one buffer for reuse unless a burst made it huge.
		if cap(buf) <= 1<<20 {
			w.spare = buf[:0]
		} else {
			w.spare = nil
		}
		if err != nil {
			w.err = err
			w.queue = nil
			w.mu.Unlock()
			return
		}
	}
}

// Conn is one BGP connection: a framing reader and a queued writer over a
// TCP socket.
type Conn struct {
	nc   net.Conn
	r    *Reader
	w    *Writer
	once sync.Once
	cerr error
}

// MaxBuffer is the reader buffer a Conn uses: the largest message any
// session may carry (RFC 8654).
const MaxBuffer = 65535

// NewConn wraps nc. split frames incoming messages; queueLimit bounds the
// write queue (0 means DefaultQueueLimit).
func NewConn(nc net.Conn, split SplitFunc, queueLimit int) *Conn {
	return &Conn{nc: nc, r: NewReader(nc, split, MaxBuffer), w: NewWriter(nc, queueLimit)}
}

// ReadMessage returns the next message; see Reader.ReadMessage. Only one
// goroutine may read.
func (c *Conn) ReadMessage() ([]byte, error) { return c.r.ReadMessage() }

// Send queues msg without blocking; see Writer.Send.
func (c *Conn) Send(msg []byte) error { return c.w.Send(msg) }

// Queued reports the bytes waiting to be written.
func (c *Conn) Queued() int { return c.w.Queued() }

// LocalAddr and RemoteAddr are the connection's endpoints.
func (c *Conn) LocalAddr() netip.AddrPort  { return addrPort(c.nc.LocalAddr()) }
func (c *Conn) RemoteAddr() netip.AddrPort { return addrPort(c.nc.RemoteAddr()) }

// NetConn is the underlying connection, for socket inspection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close gives the queued bytes (a NOTIFICATION, typically) up to linger to
// be written, then closes the socket. A blocked reader returns an error.
// It is safe to call more than once.
func (c *Conn) Close(linger time.Duration) error {
	c.once.Do(func() {
		_ = c.nc.SetWriteDeadline(time.Now().Add(linger))
		werr := c.w.Close()
		c.cerr = c.nc.Close()
		if c.cerr == nil && werr != nil && !errors.Is(werr, ErrClosed) {
			c.cerr = werr
		}
	})
	return c.cerr
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
