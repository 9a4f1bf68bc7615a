//go:build linux

package fib

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// recv reads a datagram bigger than its buffer whole, growing the buffer,
// and the next, smaller one after it.
func TestRecvGrowsBuffer(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	must(t, unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20))
	must(t, unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20))
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes
	small := []byte("ack")
	for _, m := range [][]byte{big, small} {
		if _, err := unix.Write(fds[0], m); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, recvBufSize)
	for _, want := range [][]byte{big, small} {
		n, err := recv(fds[1], &buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("read %d bytes, want %d intact", n, len(want))
		}
	}
	if len(buf) < len(big) {
		t.Fatalf("buffer %d bytes", len(buf))
	}
}
