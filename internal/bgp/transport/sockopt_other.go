//go:build !linux

package transport

import (
	"context"
	"net"
	"net/netip"
)

// ListenOptions are the settings of a listening socket shared by every
// neighbor on it.
type ListenOptions struct {
	Interface              string
	SendBuffer, RecvBuffer int
	TTL                    int
}

// Listener accepts BGP connections; only available on Linux.
type Listener struct{}

// Dial returns ErrUnsupported: the socket options cannot be set here.
func Dial(ctx context.Context, peer netip.AddrPort, opts Options) (*net.TCPConn, error) {
	return nil, ErrUnsupported
}

// Listen returns ErrUnsupported: the socket options cannot be set here.
func Listen(ctx context.Context, addr netip.AddrPort, opts ListenOptions) (*Listener, error) {
	return nil, ErrUnsupported
}

// Configure returns ErrUnsupported.
func Configure(c *net.TCPConn, opts Options) error { return ErrUnsupported }

func (l *Listener) Addr() netip.AddrPort                       { return netip.AddrPort{} }
func (l *Listener) Accept() (*net.TCPConn, error)              { return nil, ErrUnsupported }
func (l *Listener) Close() error                               { return nil }
func (l *Listener) SetMD5(prefix netip.Prefix, k string) error { return ErrUnsupported }
