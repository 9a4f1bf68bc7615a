//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// osLoopback puts service addresses on "lo" over rtnetlink.
type osLoopback struct{}

func newOSLoopback() Loopback { return osLoopback{} }

func (osLoopback) addr(p netip.Prefix) (netlink.Link, *netlink.Addr, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, nil, fmt.Errorf("loopback interface: %w", err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		// The address is the host's own and anycast by design:
		// duplicate address detection would only hold it tentative.
		a.Flags = unix.IFA_F_NODAD
	}
	return lo, a, nil
}

func (l osLoopback) Add(p netip.Prefix) error {
	lo, a, err := l.addr(p)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(lo, a); err != nil && !errors.Is(err, syscall.EEXIST) {
		return err
	}
	return nil
}

func (l osLoopback) Remove(p netip.Prefix) error {
	lo, a, err := l.addr(p)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(lo, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return err
	}
	return nil
}
