package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/wire"
)

// speaker is one BGP session of the benchmark's own: the project's FSM
// engine driven over a TCP connection the DUT opens to it. The feeder
// writes pre-encoded UPDATEs with writeRaw; the sink hands every UPDATE
// to onUpdate on the goroutine that reads the connection.
type speaker struct {
	name string
	// onUpdate gets every UPDATE; malformed is set for one RFC 7606
	// says to treat as a withdrawal.
	onUpdate func(u *wire.Update, malformed bool, now time.Time)

	mu  sync.Mutex // guards f, its Options pointer and down
	f   *fsm.Session
	wmu sync.Mutex // serialises writes: the FSM's and writeRaw's
	cmu sync.Mutex // guards c, which a blocked write must not keep from being closed
	c   net.Conn

	established chan struct{}
	estOnce     sync.Once
	down        error
	done        chan struct{}
}

// speakerConfig is the FSM config of a benchmark speaker: passive (the
// DUT dials), IPv4 unicast, 4-octet AS, a hold time long enough that a
// DUT busy with the table never misses a keepalive.
func speakerConfig(as uint32, id netip.Addr, dutAS uint32) fsm.Config {
	return fsm.Config{
		LocalAS: as, RouterID: id, PeerAS: fsm.PeerASNumber(dutAS),
		HoldTime: 90 * time.Second, Passive: true,
		Capabilities: wire.Capabilities{
			Multiprotocol: []wire.Family{wire.IPv4Unicast},
			RouteRefresh:  true,
			AS4:           true,
		},
	}
}

func newSpeaker(name string, cfg fsm.Config, onUpdate func(*wire.Update, bool, time.Time)) (*speaker, error) {
	f, err := fsm.New(cfg)
	if err != nil {
		return nil, err
	}
	return &speaker{name: name, f: f, onUpdate: onUpdate, established: make(chan struct{}), done: make(chan struct{})}, nil
}

// serve accepts the DUT's connection on ln (the first one from peer) and
// runs the session until ctx ends or the session goes down.
func (s *speaker) serve(ctx context.Context, ln net.Listener, peer netip.Addr) {
	defer close(s.done)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.step(fsm.ManualStart{Passive: true})
	var c net.Conn
	for {
		var err error
		c, err = ln.Accept()
		if err != nil {
			s.fail(fmt.Errorf("%s: accepting the DUT's connection: %v", s.name, err))
			return
		}
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && a.AddrPort().Addr().Unmap() == peer {
			break
		}
		c.Close()
	}
	ln.Close()
	s.run(ctx, c, true)
}

// run drives the session over c, accepted (inbound) or dialed, until ctx
// ends or the session goes down.
func (s *speaker) run(ctx context.Context, c net.Conn, inbound bool) {
	s.cmu.Lock()
	s.c = c
	s.cmu.Unlock()
	defer c.Close()
	cstop := context.AfterFunc(ctx, func() { c.Close() })
	defer cstop()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	s.step(fsm.TcpConnectionConfirmed{Inbound: inbound})

	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	tickDone := make(chan struct{})
	defer close(tickDone)
	go func() {
		for {
			select {
			case <-ticker.C:
				s.step(fsm.Tick{})
			case <-tickDone:
				return
			}
		}
	}()

	r := bufio.NewReaderSize(c, 1<<16)
	hdr := make([]byte, wire.HeaderLen)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			s.lost(err)
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[16:18]))
		if n < wire.HeaderLen || n > wire.MaxExtendedLen {
			s.lost(fmt.Errorf("message length %d", n))
			return
		}
		msg := make([]byte, n)
		copy(msg, hdr)
		if _, err := io.ReadFull(r, msg[wire.HeaderLen:]); err != nil {
			s.lost(err)
			return
		}
		now := time.Now()
		s.mu.Lock()
		m, err := wire.Parse(msg, s.f.Options())
		s.mu.Unlock()
		s.stepAt(now, fsm.RecvMessage{Msg: m, Err: err})
		if s.err() != nil {
			return
		}
	}
}

func (s *speaker) lost(err error) {
	if s.err() == nil {
		s.step(fsm.TcpConnectionFails{Reason: err.Error()})
	}
	s.fail(fmt.Errorf("%s: connection lost: %v", s.name, err))
}

func (s *speaker) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down == nil {
		s.down = err
	}
}

// err is why the session went down, or nil while it runs.
func (s *speaker) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *speaker) step(ev fsm.Event) { s.stepAt(time.Now(), ev) }

func (s *speaker) stepAt(now time.Time, ev fsm.Event) {
	s.mu.Lock()
	acts := append([]fsm.Action(nil), s.f.Step(now, ev)...)
	opts := *s.f.Options()
	s.mu.Unlock()
	for _, a := range acts {
		switch a := a.(type) {
		case fsm.Send:
			b, err := wire.Append(nil, a.Msg, &opts)
			if err == nil {
				err = s.writeRaw(b)
			}
			if err != nil {
				s.fail(fmt.Errorf("%s: sending %s: %v", s.name, a.Msg.Type(), err))
			}
		case fsm.Established:
			s.estOnce.Do(func() { close(s.established) })
		case fsm.DeliverUpdate:
			if s.onUpdate != nil {
				s.onUpdate(a.Update, a.TreatAsWithdraw, now)
			}
		case fsm.Down:
			s.fail(fmt.Errorf("%s: session down: %s", s.name, a.Reason))
		case fsm.CloseConnection:
			if c := s.conn(); c != nil {
				c.Close()
			}
		}
	}
}

func (s *speaker) conn() net.Conn {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.c
}

// writeRaw writes whole encoded messages.
func (s *speaker) writeRaw(b []byte) error {
	c := s.conn()
	if c == nil {
		return errors.New("no connection")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := c.Write(b)
	return err
}

// options is what the session negotiated, for encoding UPDATEs.
func (s *speaker) options() wire.Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.f.Options()
}

// waitEstablished waits until the session is established, it fails, or
// ctx ends.
func (s *speaker) waitEstablished(ctx context.Context) error {
	select {
	case <-s.established:
		return nil
	case <-s.done:
		if err := s.err(); err != nil {
			return err
		}
		return fmt.Errorf("%s: session ended before it was established", s.name)
	case <-ctx.Done():
		if err := s.err(); err != nil {
			return err
		}
		return fmt.Errorf("%s: no session with the DUT: %w", s.name, ctx.Err())
	}
}
