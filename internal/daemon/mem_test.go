package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// sinkPeer accepts the daemon's connection, brings the session up and
// counts the prefixes the daemon announces to it.
func sinkPeer(b *testing.B, ln net.Listener, as uint32, id netip.Addr, got *atomic.Int64) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := rawOpen(c, as, id)
		opts := wire.Options{AS4: true}
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if wire.MessageType(m[18]) != wire.TypeUpdate {
				continue
			}
			msg, err := wire.Parse(m, &opts)
			if err != nil {
				continue
			}
			n := 0
			msg.(*wire.Update).Reachable(func(wire.Family, wire.NLRI) { n++ })
			got.Add(int64(n))
		}
	}()
	return done
}

// BenchmarkRouteMemory measures the live heap of a daemon holding 100,000
// IPv4 prefixes learned from one eBGP feeder and advertised to one eBGP
// sink, without a FIB (clos bench's setup): bytes per route after a full
// garbage collection, less the heap of the same daemon with both sessions
// up and no routes. With CLOS_MEMPROFILE=FILE it writes the heap profile
// there (go tool pprof -top -sample_index=inuse_space FILE).
func BenchmarkRouteMemory(b *testing.B) {
	const prefixes = 100_000
	profile := os.Getenv("CLOS_MEMPROFILE")
	if profile != "" {
		// Sample every 4 KiB allocated, not every 512 KiB, so the
		// profile's in-use bytes are close to the truth.
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 4096
	}
	opts := wire.Options{AS4: true}
	var nlri []wire.NLRI
	for i := range prefixes {
		nlri = append(nlri, wire.NewNLRI(netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 32), 0))
	}
	attrs := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{65009}}},
		NextHop: netip.MustParseAddr("127.0.0.9")}
	updates, err := wire.AppendUpdates(nil, wire.IPv4Unicast, attrs, nlri, &opts)
	if err != nil {
		b.Fatal(err)
	}
	updates = append(updates, mustAppend(b, wire.EndOfRIB(wire.IPv4Unicast), &opts))
	nlri = nil
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var perRoute, load float64
	for b.Loop() {
		feedLn, err := net.Listen("tcp", "127.0.0.9:0")
		if err != nil {
			b.Fatal(err)
		}
		sinkLn, err := net.Listen("tcp", "127.0.0.10:0")
		if err != nil {
			b.Fatal(err)
		}
		listen, sinkPort, feedPort := freePortB(b), sinkLn.Addr().(*net.TCPAddr).Port, feedLn.Addr().(*net.TCPAddr).Port
		sinkCfg := fmt.Sprintf(`router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
neighbors:
  - address: 127.0.0.10
    remote-as: 65010
    port: %d
`, listen, sinkPort)
		cfg := parseB(b, sinkCfg)
		d, err := New(cfg, Options{Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { d.Run(ctx); close(ran) }()
		var got atomic.Int64
		sinkDone := sinkPeer(b, sinkLn, 65010, netip.MustParseAddr("10.0.0.10"), &got)
		wait := func(what string, cond func([]NeighborStatus) bool) {
			deadline := time.Now().Add(2 * time.Minute)
			for {
				ns, err := d.Neighbors(ctx)
				if err == nil && cond(ns) {
					return
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s: not after 2 minutes: %+v", what, ns)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		wait("sink up", func(ns []NeighborStatus) bool { return len(ns) == 1 && ns[0].State == "Established" })
		base := liveHeap()
		// The feeder is added by a reload so the baseline holds both the
		// daemon and the sink's session, and the routes are all that is new.
		start := time.Now()
		feedDone := tablePeer(b, feedLn, updates)
		if _, err := d.ApplyConfig(ctx, parseB(b, sinkCfg+fmt.Sprintf("  - address: 127.0.0.9\n    remote-as: 65009\n    port: %d\n", feedPort))); err != nil {
			b.Fatal(err)
		}
		for got.Load() < prefixes {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("sink has %d of %d prefixes after 2 minutes", got.Load(), prefixes)
			}
			time.Sleep(2 * time.Millisecond)
		}
		load += time.Since(start).Seconds()
		perRoute += float64(liveHeap()-base) / prefixes
		if profile != "" {
			out, err := os.Create(profile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(out); err != nil {
				b.Fatal(err)
			}
			out.Close()
		}
		cancel()
		<-ran
		feedLn.Close()
		sinkLn.Close()
		<-feedDone
		<-sinkDone
	}
	b.ReportMetric(perRoute/float64(b.N), "B/route")
	b.ReportMetric(load/float64(b.N), "load-s")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
