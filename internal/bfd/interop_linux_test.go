package bfd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs f on a thread switched into the named namespace. The thread
// stays locked and is discarded when f returns, so no other goroutine ever
// runs in the namespace by accident.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

type frrPeer struct {
	Multihop            bool   `json:"multihop"`
	Peer                string `json:"peer"`
	Interface           string `json:"interface"`
	ID                  uint32 `json:"id"`
	RemoteID            uint32 `json:"remote-id"`
	Status              string `json:"status"`
	Diagnostic          string `json:"diagnostic"`
	RemoteDiagnostic    string `json:"remote-diagnostic"`
	ReceiveInterval     int    `json:"receive-interval"`
	TransmitInterval    int    `json:"transmit-interval"`
	DetectMultiplier    int    `json:"detect-multiplier"`
	RemoteReceive       int    `json:"remote-receive-interval"`
	RemoteTransmit      int    `json:"remote-transmit-interval"`
	RemoteDetectMult    int    `json:"remote-detect-multiplier"`
	RemoteEchoReceive   int    `json:"remote-echo-receive-interval"`
	EchoTransmitInteval int    `json:"echo-transmit-interval"`
}

// TestInteropFRR runs FRR's bfdd (with the zebra it needs for interface
// information) in one namespace and our Server in another, joined by a veth.
func TestInteropFRR(t *testing.T) {
	testenv.RequireRoot(t)
	bfdd := testenv.RequireTool(t, "/usr/lib/frr/bfdd")
	zebra := testenv.RequireTool(t, "/usr/lib/frr/zebra")
	vtysh := testenv.RequireTool(t, "vtysh")
	testenv.RequireTool(t, "ip")
	testenv.RequireTool(t, "nft")

	var rb [3]byte
	rand.Read(rb[:])
	pfx := "ct" + hex.EncodeToString(rb[:])
	nsA, nsB := pfx+"us", pfx+"frr"
	ifA, ifB := pfx+"va", pfx+"vb"

	run(t, "ip", "netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run(t, "ip", "netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	run(t, "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	for _, c := range [][]string{
		// Only the link-local addresses we assign, so each side's source
		// address is the one the other side configured.
		{"-n", nsA, "link", "set", ifA, "addrgenmode", "none"},
		{"-n", nsB, "link", "set", ifB, "addrgenmode", "none"},
		{"-n", nsA, "addr", "add", "10.250.0.1/30", "dev", ifA},
		{"-n", nsB, "addr", "add", "10.250.0.2/30", "dev", ifB},
		{"-n", nsA, "addr", "add", "fe80::a/64", "dev", ifA, "nodad"},
		{"-n", nsB, "addr", "add", "fe80::b/64", "dev", ifB, "nodad"},
		{"-n", nsA, "link", "set", ifA, "up"},
		{"-n", nsB, "link", "set", ifB, "up"},
		{"-n", nsA, "link", "set", "lo", "up"},
		{"-n", nsB, "link", "set", "lo", "up"},
	} {
		run(t, append([]string{"ip"}, c...)...)
	}

	// FRR drops privileges to the frr user, which must reach this dir.
	dir, err := os.MkdirTemp("", pfx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	// FRR: slower TX than RX and a different multiplier, so each value in
	// the negotiation is visible.
	conf := fmt.Sprintf(`bfd
 peer 10.250.0.1 interface %[1]s
  detect-multiplier 4
  receive-interval 200
  transmit-interval 250
 !
 peer fe80::a interface %[1]s
  detect-multiplier 4
  receive-interval 200
  transmit-interval 250
 !
 peer 10.250.0.1 multihop local-address 10.250.0.2
  detect-multiplier 4
  receive-interval 200
  transmit-interval 250
 !
!
`, ifB)
	os.WriteFile(filepath.Join(dir, "bfdd.conf"), []byte(conf), 0o644)
	os.WriteFile(filepath.Join(dir, "zebra.conf"), nil, 0o644)
	zsock := filepath.Join(dir, "zserv.api")
	start := func(name string, args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", nsB}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
				t.Logf("%s output:\n%s\n%s", name, out.String(), log)
			}
		})
	}
	common := []string{"--vty_socket", dir, "-u", "frr", "-g", "frr", "-z", zsock}
	start("zebra", append([]string{zebra, "-f", filepath.Join(dir, "zebra.conf"), "-i", filepath.Join(dir, "zebra.pid"),
		"--log", "file:" + filepath.Join(dir, "zebra.log")}, common...)...)
	// bfdd retries a failed zebra connection only after seconds: start it
	// once zebra listens.
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(zsock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	start("bfdd", append([]string{bfdd, "-f", filepath.Join(dir, "bfdd.conf"), "-i", filepath.Join(dir, "bfdd.pid"),
		"--bfdctl", filepath.Join(dir, "bfdd.sock"), "--log", "file:" + filepath.Join(dir, "bfdd.log")}, common...)...)

	frrPeers := func() map[string]frrPeer {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, vtysh, "--vty_socket", dir, "-c", "show bfd peers json").Output()
		if err != nil {
			return nil
		}
		var ps []frrPeer
		if json.Unmarshal(out, &ps) != nil {
			return nil
		}
		m := map[string]frrPeer{}
		for _, p := range ps {
			m[fmt.Sprintf("%s/%v", p.Peer, p.Multihop)] = p
		}
		return m
	}

	// Our side, with the sockets opened inside nsA.
	w := newWatcher(t)
	var srv *Server
	var k4, k6, kmh PeerKey
	inNetns(t, nsA, func() {
		srv, err = NewServer(ServerConfig{Transport: &UDPTransport{}, OnStateChange: w.cb})
		if err != nil {
			return
		}
		tm := Timers{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 150 * time.Millisecond, DetectMult: 3}
		k4, err = srv.AddPeer(PeerConfig{Peer: netip.MustParseAddr("10.250.0.2"), Interface: ifA,
			DesiredMinTx: tm.DesiredMinTx, RequiredMinRx: tm.RequiredMinRx, DetectMult: tm.DetectMult})
		if err != nil {
			return
		}
		k6, err = srv.AddPeer(PeerConfig{Peer: netip.MustParseAddr("fe80::b"), Interface: ifA,
			DesiredMinTx: tm.DesiredMinTx, RequiredMinRx: tm.RequiredMinRx, DetectMult: tm.DetectMult})
		if err != nil {
			return
		}
		kmh, err = srv.AddPeer(PeerConfig{Peer: netip.MustParseAddr("10.250.0.2"), Local: netip.MustParseAddr("10.250.0.1"),
			Multihop: true, DesiredMinTx: tm.DesiredMinTx, RequiredMinRx: tm.RequiredMinRx, DetectMult: tm.DetectMult})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	// FRR names each session by its peer: our address.
	frrName := map[PeerKey]string{k4: "10.250.0.1/false", k6: "fe80::a/false", kmh: "10.250.0.1/true"}
	up := map[PeerKey]bool{}
	deadline := time.After(20 * time.Second)
	for !up[k4] || !up[k6] || !up[kmh] {
		select {
		case c := <-w.ch:
			if c.To == StateUp {
				up[c.Key] = true
			}
		case <-deadline:
			t.Fatalf("sessions with FRR not Up: ours %+v, FRR %+v", srv.Peers(), frrPeers())
		}
	}

	// Wait (bounded) until both sides finished their poll sequences, then
	// compare what each side negotiated.
	var fp map[string]frrPeer
	ok := false
	for i := 0; i < 50 && !ok; i++ {
		time.Sleep(100 * time.Millisecond)
		fp = frrPeers()
		ok = true
		for _, p := range srv.Peers() {
			f, found := fp[frrName[p.Key]]
			st := p.Status
			ok = ok && found && f.Status == "up" && !st.PollActive && st.TxInterval == 200*time.Millisecond &&
				f.RemoteReceive == 150 && f.RemoteTransmit == 100
		}
	}
	for _, p := range srv.Peers() {
		f := fp[frrName[p.Key]]
		st := p.Status
		t.Logf("%v: ours %+v / FRR %+v", p.Key, st, f)
		if f.Status != "up" || f.ID != st.RemoteDiscr || f.RemoteID != st.LocalDiscr {
			t.Errorf("%v: FRR says %s id=%d remote-id=%d, we have local %d remote %d",
				p.Key, f.Status, f.ID, f.RemoteID, st.LocalDiscr, st.RemoteDiscr)
		}
		// What FRR reports about us is what we advertise.
		if f.RemoteReceive != 150 || f.RemoteTransmit != 100 || f.RemoteDetectMult != 3 || f.RemoteEchoReceive != 0 {
			t.Errorf("%v: FRR sees our timers as rx=%d tx=%d mult=%d echo=%d", p.Key, f.RemoteReceive, f.RemoteTransmit, f.RemoteDetectMult, f.RemoteEchoReceive)
		}
		// What we learned from FRR is what FRR reports as its own.
		if st.RemoteMinRx != time.Duration(f.ReceiveInterval)*time.Millisecond ||
			st.RemoteDesiredMinTx != time.Duration(f.TransmitInterval)*time.Millisecond ||
			int(st.RemoteDetectMult) != f.DetectMultiplier {
			t.Errorf("%v: we see FRR as rx=%v tx=%v mult=%d", p.Key, st.RemoteMinRx, st.RemoteDesiredMinTx, st.RemoteDetectMult)
		}
		// Negotiation: our TX = max(100, FRR rx 200); detection = FRR mult 4
		// x max(our rx 150, FRR tx 250).
		if st.TxInterval != 200*time.Millisecond || st.DetectionTime != time.Second {
			t.Errorf("%v: negotiated tx %v detect %v, want 200ms and 1s", p.Key, st.TxInterval, st.DetectionTime)
		}
	}

	// Flaps while both sides settle (FRR's bfdd re-creates its socket when
	// zebra announces the interface) are logged, not counted below.
	for drained := false; !drained; {
		select {
		case c := <-w.ch:
			t.Logf("before drop: %v %v -> %v (%v)", c.Key, c.From, c.To, c.Diag)
		default:
			drained = true
		}
	}
	for _, p := range srv.Peers() {
		if p.Status.State != StateUp {
			t.Fatalf("%v not Up before the drop: %+v", p.Key, p)
		}
	}

	// Drop BFD arriving at our side: we time out, FRR hears our Down.
	tbl := pfx + "t"
	run(t, "ip", "netns", "exec", nsA, "nft", "add", "table", "inet", tbl)
	t.Cleanup(func() { exec.Command("ip", "netns", "exec", nsA, "nft", "delete", "table", "inet", tbl).Run() })
	run(t, "ip", "netns", "exec", nsA, "nft", "add", "chain", "inet", tbl, "in",
		"{ type filter hook input priority 0 ; policy accept ; }")
	run(t, "ip", "netns", "exec", nsA, "nft", "add", "rule", "inet", tbl, "in", "udp", "dport", "{ 3784, 4784 }", "drop")

	down := map[PeerKey]Diag{}
	deadline = time.After(20 * time.Second)
	for len(down) < 3 {
		select {
		case c := <-w.ch:
			if c.To == StateDown {
				down[c.Key] = c.Diag
			}
		case <-deadline:
			t.Fatalf("sessions not Down after drop: %+v", srv.Peers())
		}
	}
	for k, d := range down {
		if d != DiagControlDetectExpired {
			t.Errorf("%v went down with %v", k, d)
		}
	}
	frrDown := false
	for i := 0; i < 50 && !frrDown; i++ {
		fp = frrPeers()
		frrDown = len(fp) == 3
		for _, f := range fp {
			frrDown = frrDown && f.Status != "up"
		}
		if !frrDown {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !frrDown {
		t.Errorf("FRR still up after our sessions went down: %+v", fp)
	}
	for _, f := range fp {
		t.Logf("FRR after drop: %s multihop=%v status=%s diag=%s remote-diag=%s", f.Peer, f.Multihop, f.Status, f.Diagnostic, f.RemoteDiagnostic)
		// FRR still hears us, so it must have learned our diag from our
		// Down packets. Its own diag says which came first at FRR: our
		// Down packet, or its detection time when a loaded box delayed
		// our packets past it (seen in CI with -race and 2 packages at
		// once); both are right.
		if f.RemoteDiagnostic != "control detection time expired" {
			t.Errorf("FRR %s: remote-diag %q, want our %q", f.Peer, f.RemoteDiagnostic, "control detection time expired")
		}
		switch f.Diagnostic {
		case "neighbor signaled session down", "control detection time expired":
		default:
			t.Errorf("FRR %s: diag %q", f.Peer, f.Diagnostic)
		}
	}
}
