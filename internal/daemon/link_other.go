//go:build !linux

package daemon

import (
	"context"
	"errors"
)

type netlinkLinks struct{}

func (netlinkLinks) Watch(context.Context, chan<- LinkState) error {
	return errors.New("daemon: interface state (fall-over, unnumbered neighbors) is watched on Linux only")
}
