//go:build !linux

package fib

import (
	"errors"
	"runtime"
)

// NewLinux fails off Linux: nexthop objects are a Linux kernel feature.
func NewLinux(c LinuxConfig) (Backend, error) {
	return nil, errors.New("fib: the kernel FIB backend needs Linux (this is " + runtime.GOOS + "); use the Fake backend")
}
