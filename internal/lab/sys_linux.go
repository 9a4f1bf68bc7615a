package lab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/closnet/clos/internal/nsrun"
)

func kill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// alive tells whether pid runs and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the ")" that ends the command name.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z'
		}
	}
	return true
}

// inLab tells whether pid's network namespace is one of spaces.
func inLab(pid int, spaces []string) bool {
	var pst unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &pst) != nil {
		return false
	}
	for _, ns := range spaces {
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/run/netns", ns), &st) == nil && st.Ino == pst.Ino && st.Dev == pst.Dev {
			return true
		}
	}
	return false
}

// startClosd runs closd in the node's namespace in its own session, so it
// outlives clos lab up, logging JSON to the node's log file.
func startClosd(n *Node, closd string) (int, error) {
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", n.Netns, closd, "--config", n.Config, "--log-format", "json", "--api-socket", n.Socket)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: starting closd: %v", n.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// closd refuses a config it cannot run at once; give it a moment to say so.
	select {
	case err := <-done:
		return 0, fmt.Errorf("%s: closd --config %s exited at start (%v); this build of closd cannot run the lab: %s", n.Name, n.Config, err, tail(n.Log, 5))
	case <-time.After(1500 * time.Millisecond):
	}
	return cmd.Process.Pid, nil
}

// inNetns runs fn on a thread switched into the lab namespace ns.
func inNetns(ns string, fn func() error) error { return nsrun.Do(nsrun.Path(ns), fn) }

func listenUDP(ns string) (*net.UDPConn, error) { return listenUDPPort(ns, 0) }

func listenUDPPort(ns string, port int) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := inNetns(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: port})
		return err
	})
	return c, err
}
