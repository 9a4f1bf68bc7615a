//go:build linux

package fib

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/closnet/clos/internal/nsrun"
)

// Linux is the rtnetlink backend.
type Linux struct {
	c      LinuxConfig
	nl     nlConfig
	mu     sync.Mutex // serialises use of the request socket
	fd     int
	portID uint32
	seq    uint32
	rbuf   []byte
	wbuf   []byte
}

// NewLinux opens the request socket (in c.Netns if given).
func NewLinux(c LinuxConfig) (*Linux, error) {
	if c.Protocol == 0 {
		c.Protocol = DefaultProtocol
	}
	if c.Table == 0 {
		c.Table = unix.RT_TABLE_MAIN
	}
	if c.Metric == 0 {
		c.Metric = 20
	}
	if c.IDs == (IDRange{}) {
		c.IDs = DefaultIDRange
	}
	if err := c.IDs.validate(); err != nil {
		return nil, err
	}
	if c.BatchMessages <= 0 {
		c.BatchMessages = 2048
	}
	l := &Linux{c: c, nl: nlConfig{proto: c.Protocol, table: c.Table, metric: c.Metric}, rbuf: make([]byte, recvBufSize)}
	fd, pid, err := openSocket(c.Netns, nil)
	if err != nil {
		return nil, err
	}
	l.fd, l.portID = fd, pid
	return l, nil
}

// Close implements Backend.
func (l *Linux) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}

// inNetns runs fn on a thread switched into the namespace at path.
func inNetns(path string, fn func() error) error { return nsrun.Do(path, fn) }

// openSocket opens an rtnetlink socket in netns (if set), joined to groups.
func openSocket(netns string, groups []int) (int, uint32, error) {
	var fd int
	var pid uint32
	err := inNetns(netns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("fib: netlink socket: %w", err)
		}
		fail := func(what string, err error) error {
			unix.Close(fd)
			return fmt.Errorf("fib: netlink %s: %w", what, err)
		}
		// Large buffers: a batch's acks and a burst of events must fit.
		// FORCE needs CAP_NET_ADMIN; fall back to the capped size.
		const buf = 32 << 20
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, buf); err != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, buf)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, buf); err != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, buf)
		}
		for _, o := range []int{unix.NETLINK_GET_STRICT_CHK, unix.NETLINK_CAP_ACK, unix.NETLINK_EXT_ACK} {
			if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, o, 1); err != nil {
				return fail("setsockopt", err)
			}
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fail("bind", err)
		}
		for _, g := range groups {
			if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
				return fail(fmt.Sprintf("join group %d", g), err)
			}
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return fail("getsockname", err)
		}
		pid = sa.(*unix.SockaddrNetlink).Pid
		return nil
	})
	return fd, pid, err
}

// recvBufSize is the first size of a socket's read buffer. Linux builds a
// dump's datagrams no bigger than 32 KiB (less overhead), and acks and
// notifications are smaller; recv grows the buffer for a rare bigger one
// (a link with many VFs).
const recvBufSize = 32 << 10

// recv reads one datagram into *buf, growing it first if the datagram is
// bigger: it peeks at the datagram's length (MSG_TRUNC returns the real
// one), so nothing is cut. Each socket has one reader at a time.
func recv(fd int, buf *[]byte) (int, error) {
	n, _, err := unix.Recvfrom(fd, *buf, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil {
		return 0, err
	}
	if n > len(*buf) {
		*buf = make([]byte, (n+4095)&^4095)
	}
	n, _, err = unix.Recvfrom(fd, *buf, 0)
	return n, err
}

func (l *Linux) nextSeq() uint32 {
	l.seq++
	if l.seq == 0 {
		l.seq = 1
	}
	return l.seq
}

// dump sends one dump request and calls fn for every answer.
func (l *Linux) dump(typ uint16, body []byte, fn func(nlMsg) error) error {
	seq := l.nextSeq()
	b, start := appendHdr(nil, typ, nlmFRequest|nlmFDump, seq)
	b = append(b, body...)
	b = finishMsg(b, start)
	if err := unix.Sendto(l.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	var ferr error
	for {
		n, err := recv(l.fd, &l.rbuf)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		msgs, err := splitMessages(l.rbuf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue // a late ack of an earlier batch
			}
			switch m.typ {
			case nlmsgDone:
				return ferr
			case nlmsgError:
				errno, _, msg, _ := parseAck(m)
				if errno != 0 {
					return withMsg(syscall.Errno(errno), msg)
				}
				return ferr
			}
			if ferr == nil {
				ferr = fn(m)
			}
		}
	}
}

type extAckError struct {
	errno syscall.Errno
	msg   string
}

func (e *extAckError) Error() string { return e.errno.Error() + ": " + e.msg }
func (e *extAckError) Unwrap() error { return e.errno }

func withMsg(errno syscall.Errno, msg string) error {
	if msg == "" {
		return errno
	}
	return &extAckError{errno, msg}
}

// Dump implements Backend: links, nexthops in our range, our routes (our
// protocol, table and metric) of both families.
func (l *Linux) Dump(ctx context.Context) (*Kernel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return nil, errors.New("fib: backend closed")
	}
	k := NewKernel()
	var err error
	if k.Links, err = l.dumpLinks(); err != nil {
		return nil, err
	}
	if k.Nexthops, err = l.dumpNexthops(); err != nil {
		return nil, err
	}
	for _, fam := range []uint8{afInet, afInet6} {
		// With NETLINK_GET_STRICT_CHK the kernel filters by table and
		// protocol, so a full table of others' routes is not copied to us.
		req := []byte{fam, 0, 0, 0, 0, l.c.Protocol, 0, 0, 0, 0, 0, 0}
		if l.c.Table < 256 {
			req[4] = uint8(l.c.Table)
		}
		req = appendAttrU32(req, rtaTable, l.c.Table)
		err = l.dump(rtmGetRoute, req, func(m nlMsg) error {
			if m.typ != rtmNewRoute {
				return nil
			}
			r, err := parseRoute(m.data)
			if err != nil {
				return err
			}
			if l.ours(r) {
				if r.inline {
					r.NexthopID = 0
				}
				k.Routes[r.Prefix] = r.Route
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("fib: dump routes (family %d): %w", fam, err)
		}
	}
	return k, nil
}

// DumpObjects implements ObjectDumper.
func (l *Linux) DumpObjects(ctx context.Context) (map[int]Link, map[uint32]Nexthop, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return nil, nil, errors.New("fib: backend closed")
	}
	links, err := l.dumpLinks()
	if err != nil {
		return nil, nil, err
	}
	nhs, err := l.dumpNexthops()
	return links, nhs, err
}

func (l *Linux) dumpLinks() (map[int]Link, error) {
	links := map[int]Link{}
	err := l.dump(rtmGetLink, make([]byte, 16), func(m nlMsg) error {
		if m.typ != rtmNewLink {
			return nil
		}
		ln, err := parseLink(m.data)
		if err != nil {
			return err
		}
		links[ln.Index] = ln
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fib: dump links: %w", err)
	}
	return links, nil
}

func (l *Linux) dumpNexthops() (map[uint32]Nexthop, error) {
	nhs := map[uint32]Nexthop{}
	err := l.dump(rtmGetNexthop, make([]byte, 8), func(m nlMsg) error {
		if m.typ != rtmNewNexthop {
			return nil
		}
		p, err := parseNexthop(m.data)
		if err != nil {
			return err
		}
		if l.c.IDs.Contains(p.ID) && !p.blackhole {
			nhs[p.ID] = p.Nexthop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fib: dump nexthops: %w", err)
	}
	return nhs, nil
}

func (l *Linux) ours(r parsedRoute) bool {
	return !r.cloned && r.proto == l.c.Protocol && r.table == l.c.Table && r.metric == l.c.Metric &&
		(r.rtype == rtnUnicast || r.rtype == rtnBlackhole)
}

// Apply implements Backend: requests go out BatchMessages at a time in one
// sendmsg each, each with NLM_F_ACK; the kernel handles a buffer's messages
// one after another within the send, so the acks are then read in bulk.
func (l *Linux) Apply(ctx context.Context, ops []Op) ([]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res := make([]error, len(ops))
	if l.fd < 0 {
		return res[:0], errors.New("fib: backend closed")
	}
	idx := make([]int, 0, l.c.BatchMessages)
	for start := 0; start < len(ops); {
		if err := ctx.Err(); err != nil {
			return res[:start], err
		}
		if l.seq > 1<<31 {
			l.seq = 0 // keep first+j from wrapping inside a batch
		}
		end := min(start+l.c.BatchMessages, len(ops))
		b := l.wbuf[:0]
		first := l.seq + 1
		idx = idx[:0]
		// The last request that encodes carries the ack we wait for.
		last := -1
		for i := end - 1; i >= start && last < 0; i-- {
			if _, err := appendOp(nil, ops[i], 0, l.nl, true); err == nil {
				last = i
			}
		}
		for i := start; i < end; i++ {
			nb, err := appendOp(b, ops[i], l.seq+1, l.nl, l.c.AckEach || i == last)
			if err != nil {
				res[i] = err
				continue
			}
			l.nextSeq()
			b = nb
			idx = append(idx, i)
		}
		l.wbuf = b
		if len(idx) == 0 {
			start = end
			continue
		}
		if err := unix.Sendto(l.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return res[:start], fmt.Errorf("fib: netlink send: %w", err)
		}
		lastSeq := first + uint32(len(idx)) - 1
		// Wait for every ack (AckEach) or for the last one; failures come
		// as error messages either way.
		got, want := 0, len(idx)
		if !l.c.AckEach {
			want = 1
		}
		for got < want {
			n, err := recv(l.fd, &l.rbuf)
			if err != nil {
				if err == unix.EINTR {
					continue
				}
				return res[:start], fmt.Errorf("fib: netlink ack: %w", err)
			}
			msgs, err := splitMessages(l.rbuf[:n])
			if err != nil {
				return res[:start], fmt.Errorf("fib: netlink ack: %w", err)
			}
			for _, m := range msgs {
				if m.typ != nlmsgError {
					continue
				}
				errno, seq, msg, err := parseAck(m)
				if err != nil || seq < first || seq > lastSeq {
					continue
				}
				if errno != 0 {
					res[idx[seq-first]] = withMsg(syscall.Errno(errno), msg)
				}
				if l.c.AckEach || seq == lastSeq {
					got++
				}
			}
		}
		start = end
	}
	return res, nil
}

// Subscribe implements Backend with a second socket joined to the link,
// route, nexthop and neighbour groups. Our own writes are recognised by the
// request socket's port ID in the notifications and dropped.
func (l *Linux) Subscribe(ctx context.Context) (<-chan Event, error) {
	groups := []int{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_NEXTHOP, unix.RTNLGRP_NEIGH}
	fd, _, err := openSocket(l.c.Netns, groups)
	if err != nil {
		return nil, err
	}
	// Drop the echoes of our own writes in the kernel, before they take
	// socket buffer (a million-route install would overflow it) and a read
	// each: notifications carry the writer's port ID in nlmsg_pid.
	var pid [4]byte
	ne.PutUint32(pid[:], l.portID)
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 12}, // nlmsg_pid, read big-endian
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: binary.BigEndian.Uint32(pid[:])},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fib: netlink events filter: %w", err)
	}
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fib: netlink events: %w", err)
	}
	ch := make(chan Event, 1024)
	go l.readEvents(ctx, fd, ch)
	return ch, nil
}

func (l *Linux) readEvents(ctx context.Context, fd int, ch chan<- Event) {
	defer close(ch)
	defer unix.Close(fd)
	buf := make([]byte, recvBufSize)
	send := func(ev Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		n, err := recv(fd, &buf)
		if err != nil {
			switch err {
			case unix.EAGAIN, unix.EINTR:
				continue
			case unix.ENOBUFS:
				if !send(Event{Kind: EventResync}) {
					return
				}
				continue
			}
			send(Event{Kind: EventResync})
			time.Sleep(100 * time.Millisecond)
			continue
		}
		msgs, err := splitMessages(buf[:n])
		if err != nil {
			if !send(Event{Kind: EventResync}) {
				return
			}
			continue
		}
		for _, m := range msgs {
			ev, ok, err := l.event(m)
			if err != nil {
				ev, ok = Event{Kind: EventResync}, true
			}
			if ok && !send(ev) {
				return
			}
		}
	}
}

// event turns a notification into an Event; ok is false for what we ignore.
func (l *Linux) event(m nlMsg) (Event, bool, error) {
	self := m.pid != 0 && m.pid == l.portID
	switch m.typ {
	case rtmNewLink, rtmDelLink:
		ln, err := parseLink(m.data)
		if err != nil {
			return Event{}, false, err
		}
		if m.typ == rtmDelLink {
			return Event{Kind: EventLinkDeleted, Link: ln}, true, nil
		}
		return Event{Kind: EventLink, Link: ln}, true, nil
	case rtmNewRoute, rtmDelRoute:
		if self {
			return Event{}, false, nil
		}
		r, err := parseRoute(m.data)
		if err != nil {
			return Event{}, false, err
		}
		if !l.ours(r) {
			return Event{}, false, nil
		}
		if r.inline {
			r.NexthopID = 0
		}
		if m.typ == rtmDelRoute {
			return Event{Kind: EventRouteDeleted, Route: r.Route}, true, nil
		}
		return Event{Kind: EventRoute, Route: r.Route}, true, nil
	case rtmNewNexthop, rtmDelNexthop:
		if self {
			return Event{}, false, nil
		}
		p, err := parseNexthop(m.data)
		if err != nil {
			return Event{}, false, err
		}
		if !l.c.IDs.Contains(p.ID) {
			return Event{}, false, nil
		}
		if m.typ == rtmDelNexthop {
			return Event{Kind: EventNexthopDeleted, Nexthop: p.Nexthop}, true, nil
		}
		if p.blackhole {
			// Not a shape we write: drop it from the mirror so it is
			// replaced or removed.
			return Event{Kind: EventResync}, true, nil
		}
		return Event{Kind: EventNexthop, Nexthop: p.Nexthop}, true, nil
	case rtmNewNeigh, rtmDelNeigh:
		n, err := parseNeigh(m.data)
		if err != nil {
			return Event{}, false, err
		}
		n.Deleted = m.typ == rtmDelNeigh
		return Event{Kind: EventNeigh, Neigh: n}, true, nil
	}
	return Event{}, false, nil
}

// getNexthop reads one nexthop object by ID.
func (l *Linux) getNexthop(id uint32) (Nexthop, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.nextSeq()
	b, start := appendHdr(nil, rtmGetNexthop, nlmFRequest, seq)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = appendAttrU32(b, nhaID, id)
	b = finishMsg(b, start)
	if err := unix.Sendto(l.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Nexthop{}, err
	}
	for {
		n, err := recv(l.fd, &l.rbuf)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return Nexthop{}, err
		}
		msgs, err := splitMessages(l.rbuf[:n])
		if err != nil {
			return Nexthop{}, err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue
			}
			if m.typ == nlmsgError {
				errno, _, msg, _ := parseAck(m)
				return Nexthop{}, withMsg(syscall.Errno(errno), msg)
			}
			p, err := parseNexthop(m.data)
			return p.Nexthop, err
		}
	}
}

// CheckSysctls checks the host settings (CheckSysctls) as seen from the
// backend's network namespace: /proc/sys/net shows the namespace of the
// thread that opens it.
func (l *Linux) CheckSysctls() []SysctlWarning {
	var out []SysctlWarning
	_ = inNetns(l.c.Netns, func() error {
		out = CheckSysctls("")
		return nil
	})
	return out
}
