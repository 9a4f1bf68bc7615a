package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/transport"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// rawOpen sends OPEN (AS as, IPv4 unicast, 4-octet AS) and KEEPALIVE on
// an accepted connection and returns a reader of the daemon's messages.
func rawOpen(c net.Conn, as uint32, id netip.Addr) *transport.Reader {
	opts := wire.Options{AS4: true}
	r := transport.NewReader(c, func(p []byte) (int, error) { return wire.Split(p, &opts) }, transport.MaxBuffer)
	open, _ := wire.Append(nil, &wire.Open{AS: as, HoldTime: 90, RouterID: id,
		Caps: wire.Capabilities{Multiprotocol: []wire.Family{wire.IPv4Unicast}, AS4: true}}, &opts)
	open, _ = wire.Append(open, &wire.Keepalive{}, &opts)
	c.Write(open)
	return r
}

// tablePeer brings the daemon's connection up and sends it a table.
func tablePeer(b *testing.B, ln net.Listener, updates [][]byte) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := rawOpen(c, 65009, netip.MustParseAddr("10.0.0.9"))
		for gotKA := false; !gotKA; {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			gotKA = wire.MessageType(m[18]) == wire.TypeKeepalive
		}
		go io.Copy(io.Discard, c)
		var buf []byte
		for _, u := range updates {
			buf = append(buf, u...)
		}
		c.Write(buf)
		// Hold the session until the daemon closes it.
		for {
			if _, err := r.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return done
}

// BenchmarkInitialTable measures how fast a full table from one peer is
// received, parsed, stored and selected (no FIB): prefixes per second from
// the first byte sent to the last best path chosen.
func BenchmarkInitialTable(b *testing.B) {
	const prefixes = 100_000
	opts := wire.Options{AS4: true}
	var nlri []wire.NLRI
	for i := range prefixes {
		nlri = append(nlri, wire.NewNLRI(netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 32), 0))
	}
	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65009, 65100}}},
		NextHop: netip.MustParseAddr("127.0.0.9")}
	updates, err := wire.AppendUpdates(nil, wire.IPv4Unicast, attrs, nlri, &opts)
	if err != nil {
		b.Fatal(err)
	}
	updates = append(updates, mustAppend(b, wire.EndOfRIB(wire.IPv4Unicast), &opts))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var total time.Duration
	for b.Loop() {
		ln, err := net.Listen("tcp", "127.0.0.9:0")
		if err != nil {
			b.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		cfg := parseB(b, fmt.Sprintf("router-id: 10.0.0.1\nasn: 65001\nlisten: {address: 127.0.0.1, port: %d}\nneighbors:\n  - address: 127.0.0.9\n    remote-as: 65009\n    port: %d\n", freePortB(b), port))
		d, err := New(cfg, Options{Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { d.Run(ctx); close(ran) }()
		start := time.Now()
		done := tablePeer(b, ln, updates)
		for {
			ns, err := d.Neighbors(ctx)
			if err == nil && len(ns) == 1 && ns[0].PrefixesBest == prefixes {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("table not in after a minute: %+v", ns)
			}
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(start)
		cancel()
		<-ran
		ln.Close()
		<-done
	}
	b.ReportMetric(float64(prefixes)*float64(b.N)/total.Seconds(), "prefixes/s")
}

func mustAppend(b *testing.B, m wire.Message, o *wire.Options) []byte {
	out, err := wire.Append(nil, m, o)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func parseB(b *testing.B, yaml string) *config.Config {
	c, err := config.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func freePortB(b *testing.B) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}
