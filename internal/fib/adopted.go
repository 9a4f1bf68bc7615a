package fib

// KernelRoutes counts the routes of ours the FIB sees in the kernel. Right
// after Start it is what a previous run left behind and Start adopted: the
// daemon's graceful restart (RFC 4724) claims its forwarding state was
// preserved only when there is some.
func (f *FIB) KernelRoutes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mirror.Routes)
}
