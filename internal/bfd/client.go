package bfd

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Runner is what closd needs from a BFD implementation: *Server runs the
// sessions in this process, *Client in a child process.
type Runner interface {
	AddPeer(PeerConfig) (PeerKey, error)
	RemovePeer(PeerKey) error
	Peers() []PeerStatus
	Discarded() uint64
	Close() error
	CloseAdminDown() error
}

var (
	_ Runner = (*Server)(nil)
	_ Runner = (*Client)(nil)
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// ListenAddrs, Port and MultihopPort are the child's UDPTransport;
	// zero values mean all addresses and the standard ports.
	ListenAddrs        []netip.Addr
	Port, MultihopPort int
	// OnStateChange has the contract of ServerConfig.OnStateChange; it is
	// called from the goroutine that reads the child's pipe.
	OnStateChange func(StateChange)
	Logger        *slog.Logger
	// Exe is the binary to start as the child; empty means this one
	// (/proc/self/exe), which must call MaybeRunChild first thing.
	Exe string
}

// Restart backoff for a child that died: doubled per quick death, reset
// once a child has lived restartReset.
const (
	restartMin   = 100 * time.Millisecond
	restartMax   = 5 * time.Second
	restartReset = 30 * time.Second
	// callTimeout bounds a request to the child; a child that does not
	// answer in time is killed and restarted.
	callTimeout = 5 * time.Second
	helloWait   = 10 * time.Second
)

var errChildGone = errors.New("bfd: the BFD child process exited")

// Client runs the BFD sessions in a child process (the same binary,
// started again) and offers the Server's methods over a socketpair, so
// that the Go scheduler of closd, however busy, cannot delay the
// sessions' timers. It restarts a child that dies and adds its sessions
// again. Safe for concurrent use.
type Client struct {
	cfg ClientConfig
	log *slog.Logger
	// opMu orders AddPeer, RemovePeer and the re-adding after a restart,
	// so a session is never added twice nor lost between two children.
	opMu sync.Mutex

	mu       sync.Mutex
	peers    map[PeerKey]PeerConfig // what the parent asked for
	cur      *childConn             // the child in service; nil while (re)starting
	closing  bool
	nextID   uint32
	restarts int

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	plat      clientPlatform
}

// childConn is one child process and the pipe to it.
type childConn struct {
	rw      net.Conn
	proc    childProc
	hello   ipcHelloBody
	wmu     sync.Mutex
	dead    chan struct{}
	pending map[uint32]chan ipcResponseBody // under Client.mu
	inChild map[PeerKey]bool                // under Client.mu
	states  map[PeerKey]State               // under Client.mu
}

type childProc interface {
	Kill()
	Wait() error
}

// NewClient starts the BFD child process, in the network namespace of the
// calling goroutine's thread, and returns once it is serving.
func NewClient(cfg ClientConfig) (*Client, error) {
	c := &Client{
		cfg: cfg, log: cfg.Logger,
		peers: map[PeerKey]PeerConfig{},
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := c.plat.capture(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go c.supervise(ready)
	if err := <-ready; err != nil {
		<-c.done
		return nil, err
	}
	return c, nil
}

// ChildPid is the process id of the child in service, 0 while it is being
// restarted.
func (c *Client) ChildPid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return c.cur.hello.Pid
}

// Restarts counts the children started after the first.
func (c *Client) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// supervise starts the child, and again each time it dies, until Close.
// It runs on a thread of its own for the Client's whole life (see
// clientPlatform.pin): children are forked from it.
func (c *Client) supervise(ready chan<- error) {
	defer close(c.done)
	if err := c.plat.pin(); err != nil {
		ready <- err
		return
	}
	backoff := restartMin
	first := true
	for {
		cc, err := c.startChild()
		if first && err != nil {
			ready <- err
			return
		} else if err != nil {
			c.log.Warn("bfd: restarting the BFD child failed", "err", err, "retry-in", backoff)
			if !c.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, restartMax)
			continue
		}
		started := time.Now()
		c.readd(cc)
		if first {
			first = false
			ready <- nil
		}
		select {
		case <-cc.dead:
		case <-c.stop:
			// Close asked the child in service to stop; one started
			// meanwhile is asked here. Give it a moment to go.
			c.call(cc, ipcRequestBody{Op: opClose})
			select {
			case <-cc.dead:
			case <-time.After(2 * time.Second):
			}
		}
		cc.proc.Kill()
		werr := cc.proc.Wait()
		c.mu.Lock()
		c.cur = nil
		closing := c.closing
		var wereUp []PeerKey
		for k, st := range cc.states {
			if _, ok := c.peers[k]; ok && st == StateUp {
				wereUp = append(wereUp, k)
			}
		}
		c.mu.Unlock()
		if closing {
			return
		}
		if time.Since(started) > restartReset {
			backoff = restartMin
		}
		c.log.Warn("bfd: the BFD child exited; restarting it", "pid", cc.hello.Pid, "exit", werr, "sessions-up", len(wereUp), "restart-in", backoff)
		// The sessions are gone with the child: report them Down, marked
		// as restarted so the daemon gives the new child's sessions the
		// same grace as a peer's restarted session before BGP and the FIB
		// are touched.
		now := time.Now()
		for _, k := range wereUp {
			if c.cfg.OnStateChange != nil {
				c.cfg.OnStateChange(StateChange{Key: k, From: StateUp, To: StateDown, Diag: DiagNone, At: now, PeerRestarted: true})
			}
		}
		if !c.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, restartMax)
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
	}
}

func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// startChild forks a child, checks its greeting and opens its sockets.
func (c *Client) startChild() (*childConn, error) {
	rw, proc, err := c.plat.spawn(c.cfg.Exe)
	if err != nil {
		return nil, err
	}
	cc := &childConn{rw: rw, proc: proc, dead: make(chan struct{}),
		pending: map[uint32]chan ipcResponseBody{}, inChild: map[PeerKey]bool{}, states: map[PeerKey]State{}}
	fail := func(err error) (*childConn, error) {
		rw.Close()
		proc.Kill()
		proc.Wait()
		return nil, err
	}
	rw.SetReadDeadline(time.Now().Add(helloWait))
	f, err := readFrame(rw)
	if err == nil && f.Type != ipcHello {
		err = fmt.Errorf("bfd ipc: the child's first frame has type %d", f.Type)
	}
	if err == nil {
		err = f.decode(&cc.hello)
	}
	if err != nil {
		return fail(fmt.Errorf("bfd: the BFD child did not greet: %w", err))
	}
	if want := c.plat.netns; want != 0 && cc.hello.NetNS != want {
		return fail(fmt.Errorf("bfd: the BFD child runs in network namespace %d, closd in %d", cc.hello.NetNS, want))
	}
	rw.SetReadDeadline(time.Time{})
	go c.read(cc)
	t := ipcTransport{ListenAddrs: c.cfg.ListenAddrs, Port: c.cfg.Port, MultihopPort: c.cfg.MultihopPort}
	if _, err := c.call(cc, ipcRequestBody{Op: opStart, Transport: &t}); err != nil {
		return fail(err)
	}
	c.log.Info("bfd: BFD child running", "pid", cc.hello.Pid, "nice", cc.hello.Nice, "policy", cmp.Or(cc.hello.Policy, "normal"))
	return cc, nil
}

// readd gives a new child every session the parent has, then puts it in
// service.
func (c *Client) readd(cc *childConn) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	todo := make([]PeerConfig, 0, len(c.peers))
	for _, pc := range c.peers {
		todo = append(todo, pc)
	}
	c.mu.Unlock()
	for _, pc := range todo {
		_, err := c.call(cc, ipcRequestBody{Op: opAddPeer, Peer: &pc})
		if errors.Is(err, errChildGone) {
			return
		}
		if err != nil {
			c.log.Warn("bfd: the restarted BFD child refused a session", "peer", pc.Key(), "err", err)
			continue
		}
		c.mu.Lock()
		cc.inChild[pc.Key()] = true
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.cur = cc
	c.mu.Unlock()
}

// read takes the child's frames until the pipe ends; then the child is
// dead to us (a garbled pipe gets it killed).
func (c *Client) read(cc *childConn) {
	defer func() {
		cc.rw.Close()
		cc.proc.Kill()
		close(cc.dead)
	}()
	for {
		f, err := readFrame(cc.rw)
		if err != nil {
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if !closing && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("bfd: reading from the BFD child", "err", err)
			}
			return
		}
		switch f.Type {
		case ipcResponse:
			var r ipcResponseBody
			if err := f.decode(&r); err != nil {
				r = ipcResponseBody{Err: err.Error()}
			}
			c.mu.Lock()
			ch := cc.pending[f.ID]
			delete(cc.pending, f.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		case ipcStateChange:
			var sc StateChange
			if err := f.decode(&sc); err != nil {
				c.log.Warn("bfd: bad state change from the BFD child", "err", err)
				return
			}
			c.mu.Lock()
			cc.states[sc.Key] = sc.To
			_, known := c.peers[sc.Key]
			c.mu.Unlock()
			if known && c.cfg.OnStateChange != nil {
				c.cfg.OnStateChange(sc)
			}
		default:
			c.log.Warn("bfd: unexpected frame from the BFD child", "type", f.Type)
			return
		}
	}
}

// call sends a request to cc and waits for its answer.
func (c *Client) call(cc *childConn, req ipcRequestBody) (ipcResponseBody, error) {
	ch := make(chan ipcResponseBody, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	cc.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(cc.pending, id)
		c.mu.Unlock()
	}()
	b, err := appendFrame(nil, ipcRequest, id, req)
	if err != nil {
		return ipcResponseBody{}, err
	}
	cc.wmu.Lock()
	cc.rw.SetWriteDeadline(time.Now().Add(callTimeout))
	_, err = cc.rw.Write(b)
	cc.wmu.Unlock()
	if err != nil {
		cc.rw.Close() // the reader sees it and declares the child dead
		return ipcResponseBody{}, fmt.Errorf("%w: %v", errChildGone, err)
	}
	t := time.NewTimer(callTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, r.err()
	case <-cc.dead:
		return ipcResponseBody{}, errChildGone
	case <-t.C:
		c.log.Warn("bfd: the BFD child did not answer; killing it", "op", req.Op, "after", callTimeout)
		cc.rw.Close()
		return ipcResponseBody{}, fmt.Errorf("%w: no answer to %s within %v", errChildGone, req.Op, callTimeout)
	}
}

func (c *Client) current() (*childConn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur, c.closing
}

// AddPeer starts a session in the child. While the child is being
// restarted the session is only recorded, and the new child gets it.
func (c *Client) AddPeer(pc PeerConfig) (PeerKey, error) {
	if err := pc.validate(); err != nil {
		return PeerKey{}, err
	}
	if err := pc.Auth.Validate(); err != nil {
		return PeerKey{}, err
	}
	key := pc.Key()
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	_, exists := c.peers[key]
	cc, closing := c.cur, c.closing
	c.mu.Unlock()
	switch {
	case closing:
		return key, ErrClosed
	case exists:
		return key, fmt.Errorf("bfd: session %v already exists", key)
	}
	// Recorded first: the session's first state changes may come back
	// before the answer does.
	c.mu.Lock()
	c.peers[key] = pc
	c.mu.Unlock()
	if cc == nil {
		return key, nil
	}
	_, err := c.call(cc, ipcRequestBody{Op: opAddPeer, Peer: &pc})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		cc.inChild[key] = true
	case errors.Is(err, errChildGone):
		// The next child gets it.
	default:
		delete(c.peers, key)
		return key, err
	}
	return key, nil
}

// RemovePeer ends a session (AdminDown to the peer, as Server.RemovePeer).
func (c *Client) RemovePeer(key PeerKey) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	_, ok := c.peers[key]
	delete(c.peers, key)
	cc := c.cur
	inChild := cc != nil && cc.inChild[key]
	if cc != nil {
		delete(cc.inChild, key)
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("bfd: no session %v", key)
	}
	if inChild {
		k := key
		if _, err := c.call(cc, ipcRequestBody{Op: opRemovePeer, Key: &k}); err != nil && !errors.Is(err, errChildGone) {
			return err
		}
	}
	return nil
}

// Peers returns the child's snapshot of every session; nil while the
// child is being restarted or does not answer.
func (c *Client) Peers() []PeerStatus {
	cc, _ := c.current()
	if cc == nil {
		return nil
	}
	r, err := c.call(cc, ipcRequestBody{Op: opPeers})
	if err != nil {
		c.log.Debug("bfd: peers from the BFD child", "err", err)
		return nil
	}
	return r.Peers
}

// Discarded is the child's count of packets that matched no session.
func (c *Client) Discarded() uint64 {
	cc, _ := c.current()
	if cc == nil {
		return 0
	}
	r, err := c.call(cc, ipcRequestBody{Op: opDiscarded})
	if err != nil {
		return 0
	}
	return r.Discarded
}

// Close stops the child (its sessions end silently, as Server.Close) and
// waits for it to exit.
func (c *Client) Close() error { return c.close(opClose) }

// CloseAdminDown has the child send AdminDown on every Up or Init session
// (Server.CloseAdminDown), then stops it like Close.
func (c *Client) CloseAdminDown() error { return c.close(opCloseAdminDown) }

func (c *Client) close(op string) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		cc := c.cur
		c.mu.Unlock()
		if cc != nil {
			c.call(cc, ipcRequestBody{Op: op})
		}
		close(c.stop)
		<-c.done
	})
	return nil
}
