package daemon

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bfd"
)

// TestBFDProcess runs a daemon's BFD in a child process (Options.BFDProcess)
// against a bfd.Server in the test: the standalone session comes Up and is
// shown, survives the child being killed (a new child, the session Up
// again), and the child ends with the daemon.
func TestBFDProcess(t *testing.T) {
	pa := int(freePort(t, "127.0.0.1"))
	peer, err := bfd.NewServer(bfd.ServerConfig{Transport: &bfd.UDPTransport{
		ListenAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}, MultihopPort: -1}})
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2:%d: %v", bfd.PortSingleHop, err)
	}
	defer peer.Close()
	iv := 50 * time.Millisecond
	if _, err := peer.AddPeer(bfd.PeerConfig{Peer: netip.MustParseAddr("127.0.0.1"), Local: netip.MustParseAddr("127.0.0.2"),
		Port: uint16(pa), DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3}); err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bfd:
  peers:
    - {address: 127.0.0.2, local: 127.0.0.1, interval: 50}
`, freePort(t, "127.0.0.1")))
	r := start(t, "a", cfg, Options{BFDProcess: true, BFDTransport: &bfd.UDPTransport{
		ListenAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Port: pa, MultihopPort: -1}})
	up := func() (bool, string) {
		s := bfdSession(t, r.d, "127.0.0.2")
		return s.State == "Up", s.State
	}
	waitFor(t, "the session Up through the child", up)
	var c *bfd.Client
	r.d.query(t.Context(), func() { c, _ = r.d.bfd.(*bfd.Client) })
	if c == nil {
		t.Fatal("BFDProcess did not start a bfd.Client")
	}
	pid := c.ChildPid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new child", func() (bool, string) { return c.ChildPid() != 0 && c.ChildPid() != pid, fmt.Sprint(c.ChildPid()) })
	waitFor(t, "the session Up again", up)
	pid = c.ChildPid()
	r.stop(t)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("the BFD child %d outlived the daemon", pid)
	}
}
