package bfd

import "golang.org/x/sys/unix"

// loopNice is the nice value of the thread that runs the Server's loop.
// The loop's work is small (a few syscalls per session and interval) but
// late: a host busy with other processes would otherwise delay transmit
// wake-ups past a peer's detection time. Needs CAP_SYS_NICE; without it
// the thread keeps the process's priority.
const loopNice = -10

// raiseThreadPriority renices the calling thread (the loop is locked to
// it). Errors are ignored on purpose: priority is an improvement, not a
// requirement.
func raiseThreadPriority() {
	// Never lower it: the BFD child runs every thread at childNice.
	if p, err := unix.Getpriority(unix.PRIO_PROCESS, 0); err == nil && 20-p <= loopNice {
		return
	}
	unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), loopNice)
}
