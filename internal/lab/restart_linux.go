package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// readProc reads how pid was started: argv, environment, working dir.
func readProc(pid int) (procCmd, error) {
	var pc procCmd
	split := func(b []byte) []string {
		var out []string
		for _, x := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
			if len(x) > 0 {
				out = append(out, string(x))
			}
		}
		return out
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return pc, err
	}
	pc.Args = split(b)
	if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil {
		return pc, err
	}
	pc.Env = split(b)
	if pc.Dir, err = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil {
		return pc, err
	}
	// A working dir deleted since shows as "DIR (deleted)": start from /.
	if strings.HasSuffix(pc.Dir, " (deleted)") {
		pc.Dir = "/"
	}
	return pc, nil
}

// stopProc sends sig (SIGTERM or SIGINT) and waits up to bound for pid to
// exit; then SIGKILL (killed true). It fails only when pid survives
// SIGKILL too.
func stopProc(pid int, sig string, bound time.Duration) (bool, error) {
	n, ok := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}[sig]
	if !ok {
		return false, fmt.Errorf("stop signal %q: want SIGTERM or SIGINT", sig)
	}
	if err := syscall.Kill(pid, n); err != nil {
		return false, fmt.Errorf("%s to pid %d: %v", sig, pid, err)
	}
	if exitWithin(pid, bound) {
		return false, nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if exitWithin(pid, killWait) {
		return true, nil
	}
	return true, fmt.Errorf("pid %d still runs %s after SIGKILL", pid, killWait)
}

func exitWithin(pid int, bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// startProc starts pc again in n's namespace, in its own session (it
// outlives clos), appending its output to n's log. exited reports its
// end if it ends.
func startProc(n *Node, pc procCmd) (int, <-chan error, error) {
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Netns}, pc.Args...)...)
	cmd.Env, cmd.Dir = pc.Env, pc.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("starting %s: %v", strings.Join(pc.Args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd.Process.Pid, done, nil
}

// nsRunEnv is nsRun with pc's environment and working dir.
func nsRunEnv(ctx context.Context, ns string, pc procCmd, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env, cmd.Dir = pc.Env, pc.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
