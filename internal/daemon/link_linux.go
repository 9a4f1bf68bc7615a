//go:build linux

package daemon

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkLinks watches RTM_NEWLINK/RTM_DELLINK.
type netlinkLinks struct{}

func (netlinkLinks) Watch(ctx context.Context, ch chan<- LinkState) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{ListExisting: true})
	if err != nil {
		return fmt.Errorf("daemon: watching links over netlink: %w", err)
	}
	go func() {
		defer close(ch)
		defer func() {
			close(done)
			// The subscription closes updates once its socket is shut.
			for range updates {
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-updates:
				if !ok {
					return
				}
				s := linkState(u)
				select {
				case ch <- s:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return nil
}

func linkState(u netlink.LinkUpdate) LinkState {
	a := u.Link.Attrs()
	return LinkState{
		Name: a.Name,
		Up:   u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0,
		HW:   a.HardwareAddr,
		Gone: u.Header.Type == unix.RTM_DELLINK,
	}
}
