package bfd

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// clientPlatform keeps the network namespace NewClient was called in, so
// that every child, the first and the restarted ones, is forked into it.
type clientPlatform struct {
	netns uint64
	nsFD  int
}

func (p *clientPlatform) capture() error {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bfd: this thread's network namespace: %w", err)
	}
	p.nsFD, p.netns = fd, netnsInode("/proc/thread-self/ns/net")
	return nil
}

// pin locks the supervising goroutine to its thread for good and moves
// that thread into the captured namespace. Two reasons for one thread: a
// fork inherits the forking thread's network namespace, and
// PR_SET_PDEATHSIG fires when the forking thread (not the process) ends;
// the thread is discarded when the supervisor returns, after Close, since
// it is never unlocked.
func (p *clientPlatform) pin() error {
	runtime.LockOSThread()
	defer unix.Close(p.nsFD)
	if netnsInode("/proc/thread-self/ns/net") == p.netns {
		return nil
	}
	if err := unix.Setns(p.nsFD, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("bfd: entering closd's network namespace for the BFD child: %w", err)
	}
	return nil
}

type execProc struct{ cmd *exec.Cmd }

func (e execProc) Kill()       { e.cmd.Process.Kill() }
func (e execProc) Wait() error { return e.cmd.Wait() }

// spawn starts exe (this binary when empty) as the BFD child with one end
// of a socketpair as its descriptor 3.
func (p *clientPlatform) spawn(exe string) (net.Conn, childProc, error) {
	if exe == "" {
		exe = "/proc/self/exe" // the running binary, even if replaced on disk since
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("bfd: socketpair for the BFD child: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "bfd-child"), os.NewFile(uintptr(fds[1]), "bfd-parent")
	defer theirs.Close()
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       []string{"closd-bfd"},
		Env:        append(os.Environ(), childEnv+"=1"),
		ExtraFiles: []*os.File{theirs},
		Stdout:     os.Stderr,
		Stderr:     os.Stderr,
		// SIGKILL when the forking thread ends: see pin.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, nil, fmt.Errorf("bfd: starting the BFD child %s: %w", exe, err)
	}
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, err
	}
	return conn, execProc{cmd}, nil
}
