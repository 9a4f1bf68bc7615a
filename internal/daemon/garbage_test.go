package daemon

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/transport"
	"github.com/closnet/clos/internal/bgp/wire"
)

// scriptedSession accepts the daemon's connection on ln and brings the
// session up with an OPEN (hold seconds) and a KEEPALIVE.
func scriptedSession(t *testing.T, ln net.Listener, as uint32, id string, hold uint16) (net.Conn, *transport.Reader) {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("the daemon did not connect: %v", err)
	}
	var opts wire.Options
	rd := transport.NewReader(c, func(b []byte) (int, error) { return wire.Split(b, &opts) }, transport.MaxBuffer)
	b, _ := wire.Append(nil, &wire.Open{AS: as, HoldTime: hold, RouterID: netip.MustParseAddr(id),
		Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true}}, &opts)
	b, _ = wire.Append(b, &wire.Keepalive{}, &opts)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	return c, rd
}

// TestGarbageGetsTheRightNotification: a peer that sends what is not BGP
// gets the NOTIFICATION RFC 4271 6.1 (or 6.5) says, its session drops, and
// another neighbor's session on the same daemon never notices.
func TestGarbageGetsTheRightNotification(t *testing.T) {
	good, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, err := net.Listen("tcp", "127.0.0.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	cfg := parse(t, "g.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
networks: [10.1.0.0/24]
neighbors:
  - address: 127.0.0.6
    remote-as: 65006
    port: %d
  - address: 127.0.0.7
    remote-as: 65007
    port: %d
`, freePort(t, "127.0.0.1"), good.Addr().(*net.TCPAddr).Port, bad.Addr().(*net.TCPAddr).Port))
	r := start(t, "g", cfg, Options{ConnectRetry: time.Second, IdleHoldTime: 10 * time.Millisecond, MaxIdleHoldTime: 10 * time.Millisecond})
	defer r.stop(t)

	// The good peer keeps its session alive and drains what it is sent.
	gc, grd := scriptedSession(t, good, 65006, "10.0.0.6", 9)
	defer gc.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); gc.Close(); wg.Wait() }()
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			if _, err := grd.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		ka, _ := wire.Append(nil, &wire.Keepalive{}, &wire.Options{})
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				gc.Write(ka)
			}
		}
	}()
	waitFor(t, "the good session Established", func() (bool, string) {
		n := neighbor(t, r.d, "127.0.0.6")
		return n.State == "Established", n.State
	})

	header := func(length int, typ byte) []byte {
		b := make([]byte, wire.HeaderLen)
		for i := range 16 {
			b[i] = 0xff
		}
		binary.BigEndian.PutUint16(b[16:], uint16(length))
		b[18] = typ
		return b
	}
	random := make([]byte, 64)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	random[0] = 0 // not a marker, whatever the seed gives
	for _, tc := range []struct {
		name          string
		send          []byte
		hold          uint16
		code, subcode uint8
	}{
		{"random bytes", random, 9, wire.CodeMessageHeader, wire.SubConnectionNotSynchronized},
		{"bad marker", append([]byte{0xfe}, header(wire.HeaderLen, byte(wire.TypeKeepalive))[1:]...), 9, wire.CodeMessageHeader, wire.SubConnectionNotSynchronized},
		{"length below the header", header(18, byte(wire.TypeKeepalive)), 9, wire.CodeMessageHeader, wire.SubBadMessageLength},
		{"length above 4096", header(5000, byte(wire.TypeUpdate)), 9, wire.CodeMessageHeader, wire.SubBadMessageLength},
		{"keepalive with a body", append(header(wire.HeaderLen+1, byte(wire.TypeKeepalive)), 0), 9, wire.CodeMessageHeader, wire.SubBadMessageLength},
		{"unknown type", header(wire.HeaderLen, 9), 9, wire.CodeMessageHeader, wire.SubBadMessageType},
		// A header cut short and then silence: only the hold timer can
		// tell, and it does (RFC 4271 6.5).
		{"truncated header", header(wire.HeaderLen, byte(wire.TypeKeepalive))[:10], 3, wire.CodeHoldTimerExpired, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rd := scriptedSession(t, bad, 65007, "10.0.0.7", tc.hold)
			defer c.Close()
			waitFor(t, "the bad peer's session Established", func() (bool, string) {
				n := neighbor(t, r.d, "127.0.0.7")
				return n.State == "Established", n.State
			})
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				m, err := rd.ReadMessage()
				if err != nil {
					t.Fatalf("no NOTIFICATION before the connection closed: %v", err)
				}
				if wire.MessageType(m[18]) != wire.TypeNotification {
					continue
				}
				n, err := wire.ParseNotification(m[wire.HeaderLen:])
				if err != nil || n.Code != tc.code || n.Subcode != tc.subcode {
					t.Fatalf("got %v (%v), want %d/%d", n, err, tc.code, tc.subcode)
				}
				break
			}
		})
	}
	n := neighbor(t, r.d, "127.0.0.6")
	if n.State != "Established" || n.Session.Established != 1 || n.Resets != 0 {
		t.Errorf("the good session was disturbed: %s, established %d times, %d resets", n.State, n.Session.Established, n.Resets)
	}
}
