//go:build !linux

package bfd

import (
	"errors"
	"net"
)

type clientPlatform struct{ netns uint64 }

func (p *clientPlatform) capture() error {
	return errors.New("bfd: a BFD child process needs Linux; run the Server in process")
}

func (p *clientPlatform) pin() error { return nil }

func (p *clientPlatform) spawn(string) (net.Conn, childProc, error) {
	return nil, nil, errors.New("bfd: a BFD child process needs Linux")
}
