//go:build !linux

package lab

import "context"

func spawnTarget(context.Context, string, string, string, string, string) (int, error) {
	return 0, errLinux
}
