package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/closnet/clos/internal/neigh"
)

// FakeHostNet records what the daemon asks of the server ports.
type FakeHostNet struct {
	mu     sync.Mutex
	Ports  map[string]neigh.AnycastGateway
	Routes map[netip.Prefix]string // host prefix -> port
	// Proxies holds the IPv6 proxy entries as "ADDR%PORT".
	Proxies map[string]bool
	// Fail makes calls for the named port fail.
	Fail map[string]bool
}

// NewFakeHostNet makes an empty FakeHostNet.
func NewFakeHostNet() *FakeHostNet {
	return &FakeHostNet{Ports: map[string]neigh.AnycastGateway{}, Routes: map[netip.Prefix]string{}, Proxies: map[string]bool{}, Fail: map[string]bool{}}
}

// SetupPort implements HostNet.
func (f *FakeHostNet) SetupPort(ifname string, gw neigh.AnycastGateway) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail[ifname] {
		return fmt.Errorf("fake: no port %s", ifname)
	}
	f.Ports[ifname] = gw
	return nil
}

// AddHostRoute implements HostNet.
func (f *FakeHostNet) AddHostRoute(p netip.Prefix, ifname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail[ifname] {
		return fmt.Errorf("fake: no port %s", ifname)
	}
	f.Routes[p] = ifname
	return nil
}

// DelHostRoute implements HostNet: only the route on ifname goes.
func (f *FakeHostNet) DelHostRoute(p netip.Prefix, ifname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Routes[p] == ifname {
		delete(f.Routes, p)
	}
	return nil
}

// Route reports the port of the kernel route to p.
func (f *FakeHostNet) Route(p netip.Prefix) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.Routes[p]
	return s, ok
}

// FakeHostWatcher is a HostWatcher a test feeds by hand.
type FakeHostWatcher struct {
	events chan neigh.Event
	errs   chan error
	once   sync.Once
	done   chan struct{}
}

// NewFakeHostWatcher makes a watcher with room for n queued events.
func NewFakeHostWatcher(n int) *FakeHostWatcher {
	return &FakeHostWatcher{events: make(chan neigh.Event, n), errs: make(chan error, 1), done: make(chan struct{})}
}

// Events implements HostWatcher.
func (w *FakeHostWatcher) Events() <-chan neigh.Event { return w.events }

// Errors implements HostWatcher.
func (w *FakeHostWatcher) Errors() <-chan error { return w.errs }

// Close implements HostWatcher.
func (w *FakeHostWatcher) Close() { w.once.Do(func() { close(w.done) }) }

// Send queues ev; false once the watcher is closed.
func (w *FakeHostWatcher) Send(ev neigh.Event) bool {
	select {
	case <-w.done:
		return false
	case w.events <- ev:
		return true
	}
}

// Fail ends the watcher with err, as neigh.Watcher does after ENOBUFS.
func (w *FakeHostWatcher) Fail(err error) {
	select {
	case w.errs <- err:
	default:
	}
}

// Closed reports whether the daemon closed the watcher.
func (w *FakeHostWatcher) Closed() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// SetProxy implements HostNet.
func (f *FakeHostNet) SetProxy(ip netip.Addr, ifname string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail[ifname] {
		return fmt.Errorf("fake: no port %s", ifname)
	}
	k := ip.String() + "%" + ifname
	if on {
		f.Proxies[k] = true
	} else {
		delete(f.Proxies, k)
	}
	return nil
}

// ProxyList lists the proxy entries, sorted.
func (f *FakeHostNet) ProxyList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.Proxies {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// SetFail makes calls for port fail (or work again).
func (f *FakeHostNet) SetFail(port string, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Fail[port] = fail
}

// Port reports the gateway a port was set up with.
func (f *FakeHostNet) Port(name string) (neigh.AnycastGateway, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.Ports[name]
	return g, ok
}
