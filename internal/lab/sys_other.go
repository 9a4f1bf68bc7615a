//go:build !linux

package lab

import (
	"errors"
	"net"
)

var errLinux = errors.New("clos lab needs Linux network namespaces")

func kill(int)                               {}
func alive(int) bool                         { return false }
func inLab(int, []string) bool               { return false }
func startClosd(*Node, string) (int, error)  { return 0, errLinux }
func inNetns(string, func() error) error     { return errLinux }
func listenUDP(string) (*net.UDPConn, error) { return nil, errLinux }

func listenUDPPort(string, int) (*net.UDPConn, error) { return nil, errLinux }
