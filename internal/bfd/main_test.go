package bfd

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets this test binary serve as the BFD child of the Clients the
// tests start, and as the soak's stall probe.
func TestMain(m *testing.M) {
	MaybeRunChild()
	if d, err := time.ParseDuration(os.Getenv(probeEnv)); err == nil {
		os.Exit(runProbe(d))
	}
	code := m.Run()
	if closdPath != "" {
		os.RemoveAll(filepath.Dir(closdPath))
	}
	os.Exit(code)
}

const (
	probeEnv   = "CLOS_BFD_TEST_PROBE"
	probeStall = 5 * time.Millisecond
)

// runProbe measures how late the OS wakes a thread just above the BFD
// child's priority (on the CPU it is pinned to by the caller): a 1 ms
// nanosleep in a loop, printing every overshoot of probeStall or more as
// "UNIXNANO DURATION" for d. It shares nothing with the test process, so
// it sees the host's stalls and not the Go scheduler's.
func runProbe(d time.Duration) int {
	runtime.LockOSThread()
	// Above the children: it must see what stops a real-time thread (the
	// kernel, the hypervisor), not the children's own work.
	attr := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: childRTPriority + 1}
	if unix.SchedSetAttr(0, &attr, 0) != nil {
		unix.Setpriority(unix.PRIO_PROCESS, 0, childNice)
	}
	end := time.Now().Add(d)
	ts := unix.Timespec{Nsec: int64(time.Millisecond)}
	for time.Now().Before(end) {
		t := time.Now()
		unix.Nanosleep(&ts, nil)
		if o := time.Since(t) - time.Millisecond; o >= probeStall {
			fmt.Printf("%d %d\n", t.UnixNano(), o)
		}
	}
	return 0
}
