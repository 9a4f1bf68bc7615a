package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// spawnTarget runs clos lab serve-target KIND ADDR in namespace ns, in its
// own session so it outlives the verb that started it, and waits until it
// accepts connections.
func spawnTarget(ctx context.Context, ns, clos, kind, addr, logPath string) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", ns, clos, "lab", "serve-target", kind, addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var derr error
		err := inNetns(ns, func() error {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			derr = err
			return nil
		})
		if err != nil {
			return 0, err
		}
		if derr == nil {
			return cmd.Process.Pid, nil
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("exited at start (%v): %s", err, tail(logPath, 3))
		case <-ctx.Done():
			kill(cmd.Process.Pid)
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			kill(cmd.Process.Pid)
			return 0, fmt.Errorf("not accepting on %s after 5s: %v", addr, derr)
		}
	}
}
