package bfd

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv marks a process started by NewClient as the BFD child; the
// socketpair to the parent is its descriptor 3 (exec.Cmd.ExtraFiles[0]).
const (
	childEnv = "CLOS_BFD_CHILD"
	childFD  = 3
)

// The BFD child does little work (about 0.2 of a core per 1,000 sessions
// at 100 ms) but must do it on time. Every thread of it runs SCHED_RR at
// childRTPriority, the lowest real-time priority, when the process may
// (CAP_SYS_NICE) and the kernel throttles real-time tasks
// (kernel.sched_rt_runtime_us, default 95 % of each second): measured on
// the loaded 2-core build box, nice -20 alone still left the child's
// wake-ups 20-60 ms late behind other runnable threads, while a real-time
// thread runs as soon as it wakes. The risk of a real-time Go program is a
// runtime thread that spins (a GC worker, a scheduler M looking for work)
// and takes a CPU from everything else; the throttle bounds that to 95 %,
// priority 1 yields to every other real-time task (interrupt threads,
// watchdogs), and RR rather than FIFO time-slices the child's own threads.
// Without throttling, or without the capability, the child takes nice -20
// only (the strongest weight among ordinary threads).
const (
	childNice       = -20
	childRTPriority = 1
)

// MaybeRunChild turns this process into closd's BFD child when NewClient
// started it, and never returns then; otherwise it returns at once. Call
// it first thing in main, and in TestMain of a package whose tests use a
// Client (the test binary is then its own child).
func MaybeRunChild() {
	if os.Getenv(childEnv) != "1" {
		return
	}
	os.Exit(runChild())
}

func runChild() int {
	os.Unsetenv(childEnv)
	// The parent decides when BFD stops: a SIGTERM that systemd sends to
	// the whole cgroup, or a terminal's SIGINT to the process group, must
	// not kill the sessions before closd has sent AdminDown. The child
	// still ends with the parent: PR_SET_PDEATHSIG, and EOF on the pipe.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	f := os.NewFile(childFD, "bfd-parent")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "closd bfd child: descriptor %d is not the socket to closd: %v\n", childFD, err)
		return 2
	}
	defer conn.Close()
	hello := ipcHelloBody{Pid: os.Getpid(), NetNS: netnsInode("/proc/self/ns/net")}
	// Named for ps and top (argv[0] is already closd-bfd); exec of
	// /proc/self/exe would show as "exe".
	os.WriteFile("/proc/self/comm", []byte("closd-bfd"), 0)
	rt := rtThrottled()
	err = reniceThreads(childNice, rt)
	if err != nil && rt {
		// RLIMIT_RTPRIO may forbid the real-time class and still allow
		// the nice value.
		rt = false
		err = reniceThreads(childNice, false)
	}
	if err == nil {
		hello.Nice = childNice
		if rt {
			hello.Policy = "rr"
		}
	} else {
		fmt.Fprintf(os.Stderr, "closd bfd child: cannot raise priority (needs CAP_SYS_NICE): %v\n", err)
	}
	// The runtime starts threads later (a blocked syscall, GC); a new
	// thread inherits its creator's nice value, which is ours except when
	// the creator is one that predates the first pass. Sweep again now
	// and then.
	go func() {
		for range time.Tick(time.Second) {
			reniceThreads(childNice, rt && hello.Policy == "rr")
		}
	}()
	err = serveChild(conn, hello, func(t ipcTransport) Transport {
		return &UDPTransport{ListenAddrs: t.ListenAddrs, Port: t.Port, MultihopPort: t.MultihopPort}
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "closd bfd child: %v\n", err)
		return 1
	}
	return 0
}

// rtThrottled reports whether the kernel caps real-time tasks below 100 %
// of the CPU, the condition for the child to take a real-time class.
func rtThrottled() bool {
	b, err := os.ReadFile("/proc/sys/kernel/sched_rt_runtime_us")
	if err != nil {
		return false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && v >= 0 && v < 1000000
}

// reniceThreads sets nice, and with rt SCHED_RR, on every thread of this
// process: on Linux setpriority(PRIO_PROCESS) and sched_setattr apply to
// one thread only (new threads inherit both from their creator).
func reniceThreads(nice int, rt bool) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var first error
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && first == nil && err != unix.ESRCH {
			first = err
		}
		if rt {
			attr := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: childRTPriority}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && first == nil && err != unix.ESRCH {
				first = err
			}
		}
	}
	return first
}

// netnsInode names a network namespace by its inode (0 if unknown).
func netnsInode(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}
