package bfd

import (
	"net/netip"
	"testing"
	"time"
)

// TestCloseAdminDown: a server that closes with CloseAdminDown tells its
// Up peer AdminDown (the peer goes Down with the remote state AdminDown,
// RFC 5882 3.2), rather than leaving it to time out (Close).
func TestCloseAdminDown(t *testing.T) {
	n := NewMemNetwork()
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	wa, wb := newWatcher(t), newWatcher(t)
	sa := mustServer(t, n.Endpoint(a4, 0), wa)
	sb := mustServer(t, n.Endpoint(b4, 0), wb)
	// A detection time (30 s) far longer than the test: a Down within
	// half of it is the AdminDown, not a timeout, however loaded the
	// machine.
	tm, slow := 100*time.Millisecond, 10*time.Second
	ka := mustAdd(t, sa, PeerConfig{Peer: b4, DesiredMinTx: tm, RequiredMinRx: slow, DetectMult: 3})
	kb := mustAdd(t, sb, PeerConfig{Peer: a4, DesiredMinTx: tm, RequiredMinRx: slow, DetectMult: 3})
	wa.wait(ka, StateUp, 10*time.Second)
	wb.wait(kb, StateUp, 10*time.Second)

	began := time.Now()
	if err := sa.CloseAdminDown(); err != nil {
		t.Fatal(err)
	}
	c := wb.wait(kb, StateDown, 15*time.Second)
	if c.Diag != DiagNeighborDown || !c.PeerAdminDown {
		t.Errorf("b went down with %v (peer admin down %v), want neighbor signaled down by AdminDown", c.Diag, c.PeerAdminDown)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("b went down %v after the close: it timed out instead of hearing AdminDown", took)
	}
	ps := sb.Peers()
	if len(ps) != 1 || ps[0].Status.RemoteState != StateAdminDown {
		t.Errorf("b's view of a: %+v, want remote state AdminDown", ps)
	}
	// a's own change is not reported: the daemon closing it is gone.
	select {
	case c := <-wa.ch:
		t.Errorf("a reported %+v while closing", c)
	default:
	}
	if err := sa.CloseAdminDown(); err != nil {
		t.Errorf("second CloseAdminDown: %v", err)
	}
}
