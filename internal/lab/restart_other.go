//go:build !linux

package lab

import (
	"context"
	"time"
)

func readProc(int) (procCmd, error)                       { return procCmd{}, errLinux }
func stopProc(int, string, time.Duration) (bool, error)   { return false, errLinux }
func startProc(*Node, procCmd) (int, <-chan error, error) { return 0, nil, errLinux }
func nsRunEnv(context.Context, string, procCmd, ...string) (string, error) {
	return "", errLinux
}
