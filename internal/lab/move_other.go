//go:build !linux

package lab

import "net/netip"

func announce(string, string, []netip.Addr) error { return errLinux }
