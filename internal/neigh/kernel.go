package neigh

import (
	"errors"
	"fmt"
	"sync"
)

// Kernel carries out the engine's OS-facing actions. The Linux
// implementation is LinuxKernel; FakeKernel records calls for tests.
type Kernel interface {
	// Probe sends one unicast ARP request or neighbor solicitation.
	Probe(p Probe) error
	// SetTimers applies per-interface neighbor parameters.
	SetTimers(t SetKernelTimers) error
}

// ApplyKernel runs the Probe and SetKernelTimers actions in acts on k and
// skips the rest (routes and logs belong to BGP and the logger). It returns
// every error, joined, so one failed probe does not stop the others.
func ApplyKernel(k Kernel, acts []Action) error {
	var errs []error
	for _, a := range acts {
		switch a := a.(type) {
		case Probe:
			if err := k.Probe(a); err != nil {
				errs = append(errs, err)
			}
		case SetKernelTimers:
			if err := k.SetTimers(a); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// FakeKernel records what the engine asked of the kernel. Fail, when set,
// makes calls on the named interface fail, to test error paths.
type FakeKernel struct {
	mu     sync.Mutex
	Probes []Probe
	Timers map[string]SetKernelTimers
	Fail   map[string]bool
}

// Probe implements Kernel.
func (f *FakeKernel) Probe(p Probe) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail[p.Interface] {
		return fmt.Errorf("neigh: probe %v on %s: fake failure", p.IP, p.Interface)
	}
	f.Probes = append(f.Probes, p)
	return nil
}

// SetTimers implements Kernel.
func (f *FakeKernel) SetTimers(t SetKernelTimers) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail[t.Interface] {
		return fmt.Errorf("neigh: timers on %s: fake failure", t.Interface)
	}
	if f.Timers == nil {
		f.Timers = map[string]SetKernelTimers{}
	}
	f.Timers[t.Interface] = t
	return nil
}

// TakeProbes returns and forgets the probes recorded so far.
func (f *FakeKernel) TakeProbes() []Probe {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.Probes
	f.Probes = nil
	return p
}
