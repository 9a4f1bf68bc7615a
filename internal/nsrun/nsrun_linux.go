// Package nsrun runs a function inside a Linux network namespace, on a
// thread of its own: what the lab, the benchmark and the FIB's tests need
// to open sockets or netlink handles in a namespace they made.
package nsrun

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Path is where `ip netns add NAME` pins namespace name.
func Path(name string) string { return filepath.Join("/run/netns", name) }

// Do runs fn on a thread switched into the network namespace at path (the
// caller's own when path is empty). Sockets fn opens belong to that
// namespace for their whole life, whatever thread uses them later. A
// thread that cannot switch back stays locked and dies with its goroutine
// instead of running other goroutines in the wrong namespace.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("netns: %w", err)
			return
		}
		defer self.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
