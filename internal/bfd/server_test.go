package bfd

import (
	"net/netip"
	"testing"
	"time"
)

// watcher collects state changes from a Server.
type watcher struct {
	t  testing.TB
	ch chan StateChange
}

func newWatcher(t testing.TB) *watcher {
	return &watcher{t: t, ch: make(chan StateChange, 1024)}
}

func (w *watcher) cb(c StateChange) {
	w.t.Logf("%v %v: %v -> %v (%v)", c.At.Format("15:04:05.000000"), c.Key, c.From, c.To, c.Diag)
	select {
	case w.ch <- c:
	default:
		w.t.Errorf("state change channel full, lost %+v", c)
	}
}

// wait returns the first change of key to state to, failing after timeout.
// The timeout is generous: it bounds the test, it does not measure BFD.
func (w *watcher) wait(key PeerKey, to State, timeout time.Duration) StateChange {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-w.ch:
			if c.Key == key && c.To == to {
				return c
			}
		case <-deadline:
			w.t.Fatalf("%v did not reach %v within %v", key, to, timeout)
			return StateChange{}
		}
	}
}

func mustServer(t *testing.T, tr Transport, w *watcher) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Transport: tr, OnStateChange: w.cb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAdd(t *testing.T, s *Server, pc PeerConfig) PeerKey {
	t.Helper()
	k, err := s.AddPeer(pc)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestServerMem(t *testing.T) {
	n := NewMemNetwork()
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	wa, wb := newWatcher(t), newWatcher(t)
	sa := mustServer(t, n.Endpoint(a4, 0), wa)
	sb := mustServer(t, n.Endpoint(b4, 0), wb)
	// 100 ms x 3 rather than 10 ms: the assertions check which side saw
	// what diag, and a loaded CI machine can stall a goroutine for 30 ms.
	tm := 100 * time.Millisecond
	ka := mustAdd(t, sa, PeerConfig{Peer: b4, DesiredMinTx: tm, RequiredMinRx: tm, DetectMult: 3})
	kb := mustAdd(t, sb, PeerConfig{Peer: a4, DesiredMinTx: tm, RequiredMinRx: tm, DetectMult: 3})
	if _, err := sa.AddPeer(PeerConfig{Peer: b4}); err == nil {
		t.Error("duplicate session accepted")
	}
	wa.wait(ka, StateUp, 10*time.Second)
	wb.wait(kb, StateUp, 10*time.Second)

	// One-way loss: b detects (diag 1), a hears about it (diag 3).
	n.Drop(a4, b4, true)
	if c := wb.wait(kb, StateDown, 10*time.Second); c.Diag != DiagControlDetectExpired {
		t.Errorf("b went down with %v", c.Diag)
	}
	// a still hears b, so it learns from b's Down (diag 3); a stall of a's
	// loop longer than the detection time would make it diag 1 instead.
	if c := wa.wait(ka, StateDown, 10*time.Second); c.Diag != DiagNeighborDown {
		t.Logf("a went down with %v (loaded machine?)", c.Diag)
	}
	n.Drop(a4, b4, false)
	wa.wait(ka, StateUp, 10*time.Second)
	wb.wait(kb, StateUp, 10*time.Second)

	// Admin down at a: b sees the neighbor signal it.
	if err := sa.SetAdminDown(ka, true); err != nil {
		t.Fatal(err)
	}
	if c := wb.wait(kb, StateDown, 10*time.Second); c.Diag != DiagNeighborDown {
		t.Errorf("b after peer admin down: %v", c.Diag)
	}
	if err := sa.SetAdminDown(ka, false); err != nil {
		t.Fatal(err)
	}
	wa.wait(ka, StateUp, 10*time.Second)

	// Timer change through a poll sequence.
	if err := sa.SetTimers(ka, Timers{DesiredMinTx: 150 * time.Millisecond, RequiredMinRx: 150 * time.Millisecond, DetectMult: 4}); err != nil {
		t.Fatal(err)
	}
	var st Status
	for i := 0; i < 200; i++ {
		ps := sb.Peers()
		if len(ps) == 1 && ps[0].Status.RemoteDetectMult == 4 && ps[0].Status.TxInterval == 150*time.Millisecond {
			st = ps[0].Status
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.RemoteDetectMult != 4 {
		t.Errorf("b never saw the new timers: %+v", sb.Peers())
	}

	// Removing the session at a: b hears AdminDown (diag 3) rather than
	// timing out, and a forgets the session after its AdminDown period.
	if err := sa.RemovePeer(ka); err != nil {
		t.Fatal(err)
	}
	if c := wb.wait(kb, StateDown, 10*time.Second); c.Diag != DiagNeighborDown {
		t.Errorf("b after a removed the session: %v", c.Diag)
	}
	heapLen := func() int {
		n := -1
		sa.do(func() { n = len(sa.heap) })
		return n
	}
	for i := 0; i < 100 && heapLen() != 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if n := heapLen(); n != 0 || len(sa.Peers()) != 0 {
		t.Errorf("removed session still scheduled: heap %d, peers %+v", n, sa.Peers())
	}
	ka = mustAdd(t, sa, PeerConfig{Peer: b4, DesiredMinTx: tm, RequiredMinRx: tm, DetectMult: 3})
	wa.wait(ka, StateUp, 10*time.Second)

	// Stopping a makes b go Down.
	sa.Close()
	if c := wb.wait(kb, StateDown, 10*time.Second); c.Diag != DiagControlDetectExpired {
		t.Errorf("b after a stopped: %v", c.Diag)
	}
	if err := sb.RemovePeer(kb); err != nil {
		t.Fatal(err)
	}
	if len(sb.Peers()) != 0 {
		t.Error("peer not removed")
	}
}

// TestServerMemTTL: a single-hop session refuses packets that crossed a
// router; a multihop one takes them when MinTTL allows.
func TestServerMemTTL(t *testing.T) {
	n := NewMemNetwork()
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.1.2")
	wa, wb := newWatcher(t), newWatcher(t)
	sa := mustServer(t, n.Endpoint(a4, 1), wa)
	sb := mustServer(t, n.Endpoint(b4, 1), wb)
	tm := 10 * time.Millisecond
	mustAdd(t, sa, PeerConfig{Peer: b4, DesiredMinTx: tm, RequiredMinRx: tm})
	kb := mustAdd(t, sb, PeerConfig{Peer: a4, DesiredMinTx: tm, RequiredMinRx: tm})
	for i := 0; i < 100; i++ {
		ps := sb.Peers()
		if ps[0].Counters.RxDiscarded >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ps := sb.Peers()
	if ps[0].Status.State != StateDown || ps[0].Counters.Rx != 0 || ps[0].Counters.RxDiscarded < 2 {
		t.Errorf("single hop over a router: %+v", ps[0])
	}
	_ = kb

	ma := mustAdd(t, sa, PeerConfig{Peer: b4, Local: a4, Multihop: true, DesiredMinTx: tm, RequiredMinRx: tm})
	mb := mustAdd(t, sb, PeerConfig{Peer: a4, Local: b4, Multihop: true, DesiredMinTx: tm, RequiredMinRx: tm})
	wa.wait(ma, StateUp, 10*time.Second)
	wb.wait(mb, StateUp, 10*time.Second)
}

func TestPeerConfigErrors(t *testing.T) {
	s := mustServer(t, NewMemNetwork().Endpoint(netip.MustParseAddr("10.0.0.1"), 0), newWatcher(t))
	for _, pc := range []PeerConfig{
		{},
		{Peer: netip.MustParseAddr("fe80::1")},
		{Peer: netip.MustParseAddr("10.0.0.2"), Multihop: true},
		{Peer: netip.MustParseAddr("10.0.0.2"), Local: netip.MustParseAddr("::1")},
		{Peer: netip.MustParseAddr("10.0.0.2"), DesiredMinTx: -time.Second},
		{Peer: netip.MustParseAddr("10.0.0.2"), Auth: &AuthConfig{Type: AuthKeyedMD5, KeyID: 1}},
		{Peer: netip.MustParseAddr("10.0.0.2"), Auth: &AuthConfig{Type: AuthKeyedMD5, KeyID: 1, Keys: map[uint8][]byte{1: make([]byte, 17)}}},
	} {
		if _, err := s.AddPeer(pc); err == nil {
			t.Errorf("AddPeer(%+v) accepted", pc)
		} else {
			t.Logf("%v", err)
		}
	}
}

// TestServerMemAuth: a key mismatch keeps both sides Down and is counted;
// the right key brings them Up.
func TestServerMemAuth(t *testing.T) {
	n := NewMemNetwork()
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	wa, wb := newWatcher(t), newWatcher(t)
	sa := mustServer(t, n.Endpoint(a4, 0), wa)
	sb := mustServer(t, n.Endpoint(b4, 0), wb)
	tm := 20 * time.Millisecond
	key := func(s string) *AuthConfig {
		return &AuthConfig{Type: AuthKeyedSHA1, KeyID: 2, Keys: map[uint8][]byte{2: []byte(s)}}
	}
	ka := mustAdd(t, sa, PeerConfig{Peer: b4, DesiredMinTx: tm, RequiredMinRx: tm, Auth: key("right")})
	kb := mustAdd(t, sb, PeerConfig{Peer: a4, DesiredMinTx: tm, RequiredMinRx: tm, Auth: key("wrong")})
	var ps []PeerStatus
	for i := 0; i < 200; i++ {
		ps = sb.Peers()
		if ps[0].Counters.RxDiscarded >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ps[0].Status.State != StateDown || ps[0].Counters.LastDiscard != ErrAuthDigest.Error() {
		t.Fatalf("mismatched keys: %+v", ps[0])
	}
	if err := sb.RemovePeer(kb); err != nil {
		t.Fatal(err)
	}
	kb = mustAdd(t, sb, PeerConfig{Peer: a4, DesiredMinTx: tm, RequiredMinRx: tm, Auth: key("right")})
	wa.wait(ka, StateUp, 10*time.Second)
	wb.wait(kb, StateUp, 10*time.Second)
}
