package bfd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

// birdSession is one line of `birdc show bfd sessions`.
type birdSession struct {
	State             string
	Interval, Timeout time.Duration
}

var birdLine = regexp.MustCompile(`^(\S+)\s+(\S+)\s+(Up|Down|Init|AdminDown)\s+.*?\s([0-9.]+)\s+([0-9.]+)\s*$`)

func birdSessions(birdc, sock string) (map[string]birdSession, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, birdc, "-s", sock, "show", "bfd", "sessions").CombinedOutput()
	m := map[string]birdSession{}
	for _, l := range strings.Split(string(out), "\n") {
		f := birdLine.FindStringSubmatch(strings.TrimSpace(l))
		if f == nil {
			continue
		}
		iv, _ := strconv.ParseFloat(f[4], 64)
		to, _ := strconv.ParseFloat(f[5], 64)
		m[f[1]] = birdSession{State: f[3], Interval: time.Duration(iv * float64(time.Second)), Timeout: time.Duration(to * float64(time.Second))}
	}
	return m, string(out)
}

// TestInteropBIRD runs BIRD 2's BFD in one namespace and our Server in
// another over two veth pairs, both with keyed SHA1: on the first the keys
// match and the session comes Up with the timers each side expects; on
// the second BIRD has another key and the session must stay down. Then an
// nftables drop in both namespaces makes both sides time out.
func TestInteropBIRD(t *testing.T) {
	testenv.RequireRoot(t)
	bird := testenv.RequireTool(t, "bird")
	birdc := testenv.RequireTool(t, "birdc")
	testenv.RequireTool(t, "ip")
	testenv.RequireTool(t, "nft")

	var rb [3]byte
	rand.Read(rb[:])
	pfx := "cb" + hex.EncodeToString(rb[:])
	nsA, nsB := pfx+"us", pfx+"bird"
	run(t, "ip", "netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run(t, "ip", "netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	// Link 1 (keys match): 10.250.0.1 (us) - 10.250.0.2 (BIRD); link 2
	// (keys differ): 10.250.1.1 - 10.250.1.2.
	for i := range 2 {
		a, b := fmt.Sprintf("%sa%d", pfx, i), fmt.Sprintf("%sb%d", pfx, i)
		run(t, "ip", "link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB)
		run(t, "ip", "-n", nsA, "addr", "add", fmt.Sprintf("10.250.%d.1/30", i), "dev", a)
		run(t, "ip", "-n", nsB, "addr", "add", fmt.Sprintf("10.250.%d.2/30", i), "dev", b)
		run(t, "ip", "-n", nsA, "link", "set", a, "up")
		run(t, "ip", "-n", nsB, "link", "set", b, "up")
	}
	run(t, "ip", "-n", nsA, "link", "set", "lo", "up")
	run(t, "ip", "-n", nsB, "link", "set", "lo", "up")

	dir, err := os.MkdirTemp("", pfx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// BIRD: slower TX than RX and multiplier 4, so each value of the
	// negotiation is visible.
	conf := fmt.Sprintf(`router id 10.250.0.2;
log "%[1]s/bird.log" all;
protocol device { }
protocol bfd b {
	interface "%[2]sb0" {
		min rx interval 200 ms;
		min tx interval 250 ms;
		idle tx interval 1000 ms;
		multiplier 4;
		authentication keyed sha1;
		password "same-secret" { id 3; };
	};
	interface "%[2]sb1" {
		min rx interval 200 ms;
		min tx interval 250 ms;
		multiplier 4;
		authentication keyed sha1;
		password "birds-secret" { id 3; };
	};
	neighbor 10.250.0.1 dev "%[2]sb0";
	neighbor 10.250.1.1 dev "%[2]sb1";
}
`, dir, pfx)
	cf := filepath.Join(dir, "bird.conf")
	os.WriteFile(cf, []byte(conf), 0o644)
	sock := filepath.Join(dir, "bird.ctl")
	cmd := exec.Command("ip", "netns", "exec", nsB, bird, "-f", "-c", cf, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "bird.log"))
			t.Logf("bird output:\n%s\nbird.log:\n%s", out.String(), log)
		}
	})

	auth := func(key string) *AuthConfig {
		return &AuthConfig{Type: AuthKeyedSHA1, KeyID: 3, Keys: map[uint8][]byte{3: []byte(key)}}
	}
	w := newWatcher(t)
	var srv *Server
	var kOK, kBad PeerKey
	inNetns(t, nsA, func() {
		srv, err = NewServer(ServerConfig{Transport: &UDPTransport{}, OnStateChange: w.cb})
		if err != nil {
			return
		}
		kOK, err = srv.AddPeer(PeerConfig{Peer: netip.MustParseAddr("10.250.0.2"), Interface: pfx + "a0",
			DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 150 * time.Millisecond, DetectMult: 3, Auth: auth("same-secret")})
		if err != nil {
			return
		}
		kBad, err = srv.AddPeer(PeerConfig{Peer: netip.MustParseAddr("10.250.1.2"), Interface: pfx + "a1",
			DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 150 * time.Millisecond, DetectMult: 3, Auth: auth("same-secret")})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	w.wait(kOK, StateUp, 20*time.Second)
	// Both sides settle (poll sequences done) and agree on the timers:
	// our TX = max(our 100, BIRD's RX 200) = 200 ms; our detection = BIRD's
	// mult 4 x max(our RX 150, BIRD's TX 250) = 1 s. BIRD's interval is
	// max(its 250, our RX 150) = 250 ms and its timeout our mult 3 x
	// max(its RX 200, our TX 100) = 600 ms.
	var bs map[string]birdSession
	var bout string
	var st Status
	ok := false
	for i := 0; i < 100 && !ok; i++ {
		time.Sleep(100 * time.Millisecond)
		bs, bout = birdSessions(birdc, sock)
		st = peerStatus(srv, kOK).Status
		b := bs["10.250.0.1"]
		ok = b.State == "Up" && b.Interval == 250*time.Millisecond && b.Timeout == 600*time.Millisecond &&
			st.State == StateUp && !st.PollActive && st.TxInterval == 200*time.Millisecond && st.DetectionTime == time.Second
	}
	if !ok {
		t.Fatalf("timers do not match: ours %+v\nBIRD:\n%s", st, bout)
	}
	if st.RemoteMinRx != 200*time.Millisecond || st.RemoteDesiredMinTx != 250*time.Millisecond || st.RemoteDetectMult != 4 {
		t.Errorf("we see BIRD as rx %v tx %v mult %d", st.RemoteMinRx, st.RemoteDesiredMinTx, st.RemoteDetectMult)
	}
	t.Logf("BIRD:\n%s", bout)

	// Different keys: the session stays down on both sides; what BIRD
	// sends is discarded as a digest mismatch.
	bad := peerStatus(srv, kBad)
	if bad.Status.State == StateUp || bs["10.250.1.1"].State == "Up" {
		t.Errorf("session with different keys is up: ours %+v, BIRD %+v", bad.Status, bs["10.250.1.1"])
	}
	if bad.Counters.RxDiscarded == 0 || !strings.Contains(bad.Counters.LastDiscard, "digest") {
		t.Errorf("with different keys: %d discarded, last %q; want digest mismatches", bad.Counters.RxDiscarded, bad.Counters.LastDiscard)
	}

	// Silent loss both ways: each side must time out on its own.
	for _, ns := range []string{nsA, nsB} {
		tbl := pfx + "t"
		run(t, "ip", "netns", "exec", ns, "nft", "add", "table", "inet", tbl)
		t.Cleanup(func() { exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", tbl).Run() })
		run(t, "ip", "netns", "exec", ns, "nft", "add", "chain", "inet", tbl, "in",
			"{ type filter hook input priority 0 ; policy accept ; }")
	}
	dropped := time.Now()
	for _, ns := range []string{nsA, nsB} {
		run(t, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", pfx+"t", "in", "udp", "dport", "3784", "drop")
	}
	c := w.wait(kOK, StateDown, 10*time.Second)
	t.Logf("we declared BIRD down %v after the drop (detection time 1 s)", c.At.Sub(dropped))
	if c.Diag != DiagControlDetectExpired {
		t.Errorf("we went down with %v, want %v", c.Diag, DiagControlDetectExpired)
	}
	birdDown := false
	for i := 0; i < 50 && !birdDown; i++ {
		bs, bout = birdSessions(birdc, sock)
		birdDown = bs["10.250.0.1"].State != "" && bs["10.250.0.1"].State != "Up"
		if !birdDown {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !birdDown {
		t.Errorf("BIRD still up after the drop:\n%s", bout)
	}
	t.Logf("BIRD after the drop (%v):\n%s", time.Since(dropped), bout)
}

func peerStatus(s *Server, k PeerKey) PeerStatus {
	for _, p := range s.Peers() {
		if p.Key == k {
			return p
		}
	}
	return PeerStatus{}
}
