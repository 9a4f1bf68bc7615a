//go:build !linux

package ra

import (
	"errors"
	"net/netip"
)

// RawConn is only available on Linux.
type RawConn struct{}

// Listen fails outside Linux: unnumbered neighbors need Linux.
func Listen() (*RawConn, error) {
	return nil, errors.New("ra: router advertisements for unnumbered neighbors are supported on Linux only")
}

func (*RawConn) Join(string) error { return errors.ErrUnsupported }
func (*RawConn) WriteTo([]byte, string, netip.Addr) error {
	return errors.ErrUnsupported
}
func (*RawConn) ReadFrom([]byte) (int, string, netip.Addr, int, error) {
	return 0, "", netip.Addr{}, 0, errors.ErrUnsupported
}
func (*RawConn) Forget()      {}
func (*RawConn) Close() error { return nil }
