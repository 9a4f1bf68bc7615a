//go:build linux

package neigh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// WatchOptions configures a Watcher.
type WatchOptions struct {
	// Interfaces are the server-facing ports to report; others are
	// dropped here so the engine's loop is not woken for them.
	Interfaces []string
	// Namespace, when set, watches that network namespace instead of the
	// caller's (tests, `clos lab`).
	Namespace *netns.NsHandle
	// Links also reports interface up/down as LinkEvent.
	Links bool
	// Buffer is the channel size (default 1024).
	Buffer int
}

// Watcher turns kernel neighbor (and optionally link) notifications into
// engine events. It starts by listing the existing table, so a daemon that
// restarts relearns its hosts. After an error (for example ENOBUFS when
// the daemon fell behind) the watcher stops: Errors yields the error and
// Events closes; the daemon starts a new Watcher, whose listing replays the
// table, and the engine's aging clears whatever disappeared meanwhile.
type Watcher struct {
	events chan Event
	errs   chan error
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// Events delivers NeighEvent and LinkEvent values.
func (w *Watcher) Events() <-chan Event { return w.events }

// Errors delivers at most a few errors; the first one ends the watcher.
func (w *Watcher) Errors() <-chan error { return w.errs }

// Close stops the watcher and waits for its goroutines.
func (w *Watcher) Close() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// Watch starts a Watcher.
func Watch(opts WatchOptions) (*Watcher, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	ns := netns.None()
	if opts.Namespace != nil {
		ns = *opts.Namespace
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink handle: %w", err)
	}
	w := &Watcher{
		events: make(chan Event, opts.Buffer),
		errs:   make(chan error, 4),
		done:   make(chan struct{}),
	}
	want := map[string]bool{}
	for _, n := range opts.Interfaces {
		want[n] = true
	}
	names := &ifNames{h: h, byIndex: map[int]string{}}
	reportErr := func(err error) {
		select {
		case <-w.done:
			return // the socket closing under Close is not news
		default:
		}
		select {
		case w.errs <- err:
		default:
		}
	}

	nch := make(chan netlink.NeighUpdate, opts.Buffer)
	if err := netlink.NeighSubscribeWithOptions(nch, w.done, netlink.NeighSubscribeOptions{
		Namespace:     &ns,
		ListExisting:  true,
		ErrorCallback: reportErr,
	}); err != nil {
		h.Close()
		return nil, fmt.Errorf("neigh: subscribe to neighbor changes: %w", err)
	}
	var lch chan netlink.LinkUpdate
	if opts.Links {
		lch = make(chan netlink.LinkUpdate, 64)
		if err := netlink.LinkSubscribeWithOptions(lch, w.done, netlink.LinkSubscribeOptions{
			Namespace:     &ns,
			ErrorCallback: reportErr,
		}); err != nil {
			w.once.Do(func() { close(w.done) })
			for range nch {
			}
			h.Close()
			return nil, fmt.Errorf("neigh: subscribe to link changes: %w", err)
		}
	}

	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(w.events)
		defer h.Close()
		stopped := false
		send := func(ev Event) {
			if stopped {
				return
			}
			select {
			case w.events <- ev:
			case <-w.done:
				stopped = true
			}
		}
		// Both subscription goroutines close their channel after done; we
		// drain until then so neither blocks forever on a send.
		for nch != nil || lch != nil {
			select {
			case u, ok := <-nch:
				if !ok {
					nch = nil
					// The neighbor stream is what we exist for: once it
					// ends, so does the watcher.
					w.once.Do(func() { close(w.done) })
					continue
				}
				if ev, ok := convertNeigh(u, names); ok && want[ev.Interface] {
					send(ev)
				}
			case u, ok := <-lch:
				if !ok {
					lch = nil
					continue
				}
				if u.Header.Type == unix.RTM_DELLINK {
					// The index may be reused by another interface.
					names.forget(int(u.Index))
				} else {
					names.set(int(u.Index), u.Attrs().Name)
				}
				if want[u.Attrs().Name] {
					send(LinkEvent{Interface: u.Attrs().Name, Up: u.Flags&unix.IFF_UP != 0 && u.Attrs().OperState != netlink.OperDown})
				}
			}
		}
	}()
	return w, nil
}

type ifNames struct {
	mu      sync.Mutex
	h       *netlink.Handle
	byIndex map[int]string
}

func (n *ifNames) set(idx int, name string) {
	n.mu.Lock()
	n.byIndex[idx] = name
	n.mu.Unlock()
}

func (n *ifNames) forget(idx int) {
	n.mu.Lock()
	delete(n.byIndex, idx)
	n.mu.Unlock()
}

func (n *ifNames) name(idx int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.byIndex[idx]; ok {
		return s
	}
	if n.h == nil {
		return ""
	}
	l, err := n.h.LinkByIndex(idx)
	if err != nil {
		return ""
	}
	n.byIndex[idx] = l.Attrs().Name
	return l.Attrs().Name
}

// convertNeigh maps a netlink update to an engine event; ok is false for
// updates that are not IPv4/IPv6 neighbors (bridge FDB, proxy entries).
func convertNeigh(u netlink.NeighUpdate, names *ifNames) (NeighEvent, bool) {
	if u.Family != unix.AF_INET && u.Family != unix.AF_INET6 {
		return NeighEvent{}, false
	}
	if u.Flags&netlink.NTF_PROXY != 0 {
		return NeighEvent{}, false
	}
	ip, ok := netip.AddrFromSlice(u.IP)
	if !ok {
		return NeighEvent{}, false
	}
	// The address must match the family: an AF_INET entry with a
	// 16-byte address that is not v4-mapped is garbage, not an IPv6 host.
	if u.Family == unix.AF_INET {
		ip = ip.Unmap()
		if !ip.Is4() {
			return NeighEvent{}, false
		}
	} else if !ip.Is6() {
		return NeighEvent{}, false
	}
	ev := NeighEvent{Interface: names.name(u.LinkIndex), IP: ip, State: nudFromKernel(u.State)}
	if len(u.HardwareAddr) == 6 {
		copy(ev.MAC[:], u.HardwareAddr)
	}
	if u.Type == unix.RTM_DELNEIGH {
		ev.State = NUDDeleted
	}
	return ev, ev.Interface != ""
}

func nudFromKernel(s int) NUDState {
	// The kernel reports one state bit; test the strongest first in case
	// of a combination.
	switch {
	case s&netlink.NUD_PERMANENT != 0:
		return NUDPermanent
	case s&netlink.NUD_NOARP != 0:
		return NUDNoARP
	case s&netlink.NUD_REACHABLE != 0:
		return NUDReachable
	case s&netlink.NUD_STALE != 0:
		return NUDStale
	case s&netlink.NUD_DELAY != 0:
		return NUDDelay
	case s&netlink.NUD_PROBE != 0:
		return NUDProbe
	case s&netlink.NUD_FAILED != 0:
		return NUDFailed
	case s&netlink.NUD_INCOMPLETE != 0:
		return NUDIncomplete
	}
	return NUDNone
}

// LinuxKernel probes hosts and sets neighbor timers through netlink and
// /proc/sys.
type LinuxKernel struct {
	ns netns.NsHandle
	h  *netlink.Handle
}

// NewLinuxKernel returns a LinuxKernel for the namespace ns (nil: the
// caller's).
func NewLinuxKernel(ns *netns.NsHandle) (*LinuxKernel, error) {
	k := &LinuxKernel{ns: netns.None()}
	if ns != nil {
		k.ns = *ns
	}
	h, err := netlink.NewHandleAt(k.ns)
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink handle: %w", err)
	}
	k.h = h
	return k, nil
}

// Close releases the netlink socket.
func (k *LinuxKernel) Close() { k.h.Close() }

// Probe sets the kernel entry to NUD_PROBE with the host's MAC (like `ip
// neigh replace IP lladdr MAC nud probe dev IF`): the kernel then sends a
// unicast ARP request or NS to that MAC at once and reports REACHABLE when
// the host answers, FAILED when it does not. Replace, not change, so a
// probe also works after the kernel dropped the entry.
func (k *LinuxKernel) Probe(p Probe) error {
	l, err := k.h.LinkByName(p.Interface)
	if err != nil {
		return fmt.Errorf("neigh: probe %v: interface %s: %w", p.IP, p.Interface, err)
	}
	fam := unix.AF_INET6
	if p.IP.Is4() {
		fam = unix.AF_INET
	}
	n := &netlink.Neigh{
		LinkIndex:    l.Attrs().Index,
		Family:       fam,
		State:        netlink.NUD_PROBE,
		IP:           net.IP(p.IP.AsSlice()),
		HardwareAddr: net.HardwareAddr(p.MAC[:]),
	}
	if err := k.h.NeighSet(n); err != nil {
		return fmt.Errorf("neigh: probe %v on %s: %w", p.IP, p.Interface, err)
	}
	return nil
}

// SetTimers writes the interface's neighbor parameters for IPv4 and, when
// IPv6 is enabled on it, IPv6.
func (k *LinuxKernel) SetTimers(t SetKernelTimers) error {
	if t.Interface == "" || filepath.Base(t.Interface) != t.Interface || t.Interface == "." || t.Interface == ".." {
		return fmt.Errorf("neigh: timers: bad interface name %q", t.Interface)
	}
	vals := map[string]string{
		"base_reachable_time_ms": strconv.FormatInt(t.BaseReachable.Milliseconds(), 10),
		"retrans_time_ms":        strconv.FormatInt(t.RetransTime.Milliseconds(), 10),
		"gc_stale_time":          strconv.FormatInt(int64(t.GCStale.Seconds()), 10),
		"ucast_solicit":          strconv.Itoa(t.UcastSolicit),
	}
	return k.inNS(func() error {
		var errs []error
		for _, fam := range []string{"ipv4", "ipv6"} {
			dir := filepath.Join("/proc/sys/net", fam, "neigh", t.Interface)
			if _, err := os.Stat(dir); err != nil {
				if fam == "ipv6" && errors.Is(err, os.ErrNotExist) {
					continue
				}
				errs = append(errs, fmt.Errorf("neigh: timers for %s: %w", t.Interface, err))
				continue
			}
			for _, name := range []string{"base_reachable_time_ms", "retrans_time_ms", "gc_stale_time", "ucast_solicit"} {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(vals[name]), 0o644); err != nil {
					errs = append(errs, fmt.Errorf("neigh: write %s: %w", p, err))
				}
			}
		}
		return errors.Join(errs...)
	})
}

// inNS runs f with the calling thread in k's namespace: /proc/sys/net
// shows the namespace of the thread that opens it.
func (k *LinuxKernel) inNS(f func() error) error {
	if !k.ns.IsOpen() {
		return f()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("neigh: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(k.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("neigh: enter namespace: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it is in the wrong namespace, and Go
		// retires a locked thread when its goroutine ends instead of
		// reusing it for other goroutines.
		return errors.Join(ferr, fmt.Errorf("neigh: return to original namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
