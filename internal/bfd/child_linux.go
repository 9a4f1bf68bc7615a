package bfd

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
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

// childNice is the nice value of every thread of the BFD child. The child
// does little work (about 0.2 of a core per 1,000 sessions at 100 ms) but
// must do it on time, so it takes the strongest CFS/EEVDF weight rather
// than a real-time class: a Go runtime thread (GC worker, spinning M)
// under SCHED_FIFO could take a core from the rest of the box, while at
// nice -20 it still shares the CPU by weight when it is busy.
const childNice = -20

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
	if err := reniceThreads(childNice); err == nil {
		hello.Nice = childNice
	} else {
		fmt.Fprintf(os.Stderr, "closd bfd child: cannot raise priority (needs CAP_SYS_NICE): %v\n", err)
	}
	// The runtime starts threads later (a blocked syscall, GC); a new
	// thread inherits its creator's nice value, which is ours except when
	// the creator is one that predates the first pass. Sweep again now
	// and then.
	go func() {
		for range time.Tick(time.Second) {
			reniceThreads(childNice)
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

// reniceThreads sets nice on every thread of this process: on Linux
// setpriority(PRIO_PROCESS) applies to one thread only.
func reniceThreads(nice int) error {
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
