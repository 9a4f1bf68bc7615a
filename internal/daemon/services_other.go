//go:build !linux

package daemon

import (
	"errors"
	"net/netip"
)

type osLoopback struct{}

func newOSLoopback() Loopback { return osLoopback{} }

var errNoLoopback = errors.New("putting service addresses on the loopback is only built for Linux; add them by hand")

func (osLoopback) Add(netip.Prefix) error    { return errNoLoopback }
func (osLoopback) Remove(netip.Prefix) error { return nil }
