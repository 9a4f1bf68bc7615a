package rib

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// benchPrefixes is the number of prefixes per peer: 100,000 as the goal
// states, RIB_BENCH_PREFIXES to change it, 10,000 under -short.
func benchPrefixes(b *testing.B) int {
	if v := os.Getenv("RIB_BENCH_PREFIXES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 500 {
			b.Fatalf("RIB_BENCH_PREFIXES=%q: want an integer >= 500", v)
		}
		return n
	}
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

const (
	benchPeers       = 50
	benchPerUpdate   = 500
	benchSetsPerPeer = 20 // 50 x 20 = 1,000 distinct attribute sets
)

func benchPrefix(i int) netip.Prefix {
	v := 0x0A000000 + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
}

// fabricUpdates builds what spine p of a Clos fabric sends a ToR: n /24s,
// in UPDATEs of 500, with 20 attribute sets (one per remote pod ToR AS).
func fabricUpdates(p, n int) []*wire.Update {
	peerAS := uint32(64600 + p)
	nh := netip.AddrFrom4([4]byte{10, 255, byte(p), 1})
	var ups []*wire.Update
	per := (n + benchSetsPerPeer - 1) / benchSetsPerPeer
	for start := 0; start < n; start += benchPerUpdate {
		set := start / per
		a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: nh,
			ASPath:      wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{peerAS, 64500, 65100 + uint32(set)}}},
			Communities: []uint32{65000<<16 | uint32(set)}}
		u := &wire.Update{Attrs: a}
		for i := start; i < min(start+benchPerUpdate, n); i++ {
			u.NLRI = append(u.NLRI, wire.NewNLRI(benchPrefix(i), 0))
		}
		ups = append(ups, u)
	}
	return ups
}

func benchEngine(b *testing.B, peers int) (*Engine, []PeerID) {
	e, err := New(Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), MultipathRelax: true})
	if err != nil {
		b.Fatal(err)
	}
	var ids []PeerID
	for p := 0; p < peers; p++ {
		id, err := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: uint32(64600 + p),
			Address:      netip.AddrFrom4([4]byte{10, 255, byte(p), 1}),
			LocalAddress: netip.AddrFrom4([4]byte{10, 255, byte(p), 2})})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, byte(p), 1}), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.Ready(time.Time{})
	return e, ids
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkIngest loads 50 peers x N prefixes. "interleaved" feeds the
// peers round robin, as after a reboot when every session syncs at once,
// with Ready after each round; "sequential" loads one peer after another
// with Ready every 20 UPDATEs, so each prefix is decided 50 times.
func BenchmarkIngest(b *testing.B) {
	n := benchPrefixes(b)
	ups := make([][]*wire.Update, benchPeers)
	for p := range ups {
		ups[p] = fabricUpdates(p, n)
	}
	for _, order := range []string{"interleaved", "sequential"} {
		b.Run(order, func(b *testing.B) {
			var paths int
			var bytesPerPath float64
			var elapsed, cpu time.Duration
			for b.Loop() {
				base := heapInUse()
				e, ids := benchEngine(b, benchPeers)
				start, startCPU := time.Now(), cpuTime()
				if order == "interleaved" {
					for u := range ups[0] {
						for p := range ids {
							if err := e.ApplyUpdate(ids[p], ups[p][u]); err != nil {
								b.Fatal(err)
							}
						}
						e.Ready(time.Time{})
					}
				} else {
					for p := range ids {
						for u, up := range ups[p] {
							if err := e.ApplyUpdate(ids[p], up); err != nil {
								b.Fatal(err)
							}
							if u%20 == 19 {
								e.Ready(time.Time{})
							}
						}
						e.Ready(time.Time{})
					}
				}
				elapsed += time.Since(start)
				cpu += cpuTime() - startCPU
				paths += benchPeers * n
				e.out = Output{}
				bytesPerPath = float64(heapInUse()-base) / float64(benchPeers*n)
				runtime.KeepAlive(e)
			}
			b.ReportMetric(float64(paths)/elapsed.Seconds(), "paths/s")
			if cpu > 0 {
				// CPU time includes the GC's background work.
				b.ReportMetric(float64(paths)/cpu.Seconds(), "paths/cpu-s")
			}
			b.ReportMetric(bytesPerPath, "B/path")
		})
	}
}

// BenchmarkChurn: 49 peers hold their tables while the best peer withdraws
// and re-announces all N prefixes; every change goes out to the 50-peer
// update group.
func BenchmarkChurn(b *testing.B) {
	n := benchPrefixes(b)
	e, ids := benchEngine(b, benchPeers)
	for p := range ids {
		for _, up := range fabricUpdates(p, n) {
			if err := e.ApplyUpdate(ids[p], up); err != nil {
				b.Fatal(err)
			}
		}
		e.Ready(time.Time{})
	}
	ann := fabricUpdates(0, n)
	var wd []*wire.Update
	for _, u := range ann {
		wd = append(wd, &wire.Update{Withdrawn: u.NLRI})
	}
	var msgs, prefixChanges int
	var elapsed, cpu time.Duration
	for b.Loop() {
		start, startCPU := time.Now(), cpuTime()
		for _, batch := range [][]*wire.Update{wd, ann} {
			for _, u := range batch {
				if err := e.ApplyUpdate(ids[0], u); err != nil {
					b.Fatal(err)
				}
				o := e.Ready(time.Time{})
				prefixChanges += len(o.Best)
				for _, s := range o.Sends {
					msgs += len(s.Msgs) * len(s.Peers)
				}
			}
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - startCPU
	}
	b.ReportMetric(float64(msgs)/elapsed.Seconds(), "updates-out/s")
	if cpu > 0 {
		b.ReportMetric(float64(prefixChanges)/cpu.Seconds(), "prefix-changes/cpu-s")
	}
	b.ReportMetric(float64(prefixChanges)/elapsed.Seconds(), "prefix-changes/s")
}

// BenchmarkUpdateGroups announces prefixes from one peer to 64 others, all
// in one update group or each in its own (distinct export policy names).
func BenchmarkUpdateGroups(b *testing.B) {
	const prefixes = 10_000
	for _, shared := range []bool{true, false} {
		name := "one-group"
		if !shared {
			name = "64-groups"
		}
		b.Run(name, func(b *testing.B) {
			var encodes, copies, total uint64
			for b.Loop() {
				e, err := New(Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1")})
				if err != nil {
					b.Fatal(err)
				}
				src, _ := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 64999, Address: netip.MustParseAddr("10.254.0.1"), LocalAddress: netip.MustParseAddr("10.254.0.2")})
				e.PeerUp(src, netip.MustParseAddr("9.9.9.9"), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast})
				for p := 0; p < 64; p++ {
					c := PeerConfig{Type: EBGP, PeerAS: uint32(64600 + p), Address: netip.AddrFrom4([4]byte{10, 255, byte(p), 1}),
						LocalAddress: netip.AddrFrom4([4]byte{10, 255, byte(p), 2})}
					if !shared {
						c.ExportName = fmt.Sprintf("policy-%d", p)
					}
					id, _ := e.AddPeer(c)
					e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, byte(p), 1}), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast})
				}
				e.Ready(time.Time{})
				before, beforeCopies := e.Encodes(), e.Copies()
				a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: netip.MustParseAddr("10.254.0.1"),
					ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{64999}}}}
				for start := 0; start < prefixes; start += benchPerUpdate {
					u := &wire.Update{Attrs: a}
					for i := start; i < start+benchPerUpdate; i++ {
						u.NLRI = append(u.NLRI, wire.NewNLRI(benchPrefix(i), 0))
					}
					e.ApplyUpdate(src, u)
				}
				e.Ready(time.Time{})
				encodes += e.Encodes() - before
				copies += e.Copies() - beforeCopies
				total += prefixes
			}
			b.ReportMetric(float64(encodes)/float64(total)*1000, "encodes/1k-prefixes")
			b.ReportMetric(float64(copies)/float64(total)*1000, "nh-copies/1k-prefixes")
		})
	}
}

// BenchmarkIngestWide: 1,000 peers all announce the same 2,000 prefixes
// (a route server, or a prefix every ToR of a big pod originates), newest
// peer first, with one Ready at the end: the cost of finding a peer's path
// among a prefix's many paths, which a scan per announcement made
// quadratic in the number of peers.
func BenchmarkIngestWide(b *testing.B) {
	const peers, prefixes = 1000, 2000
	var paths int
	var elapsed, cpu time.Duration
	for b.Loop() {
		e, err := New(Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), MultipathRelax: true})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]PeerID, peers)
		ups := make([]*wire.Update, peers)
		for p := range peers {
			addr := netip.AddrFrom4([4]byte{10, 200 + byte(p>>8), byte(p), 1})
			id, err := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: uint32(64600 + p), Address: addr,
				LocalAddress: netip.AddrFrom4([4]byte{10, 200 + byte(p>>8), byte(p), 2})})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.PeerUp(id, addr, wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast}); err != nil {
				b.Fatal(err)
			}
			ids[p] = id
			u := &wire.Update{Attrs: &wire.PathAttrs{HasOrigin: true, HasASPath: true, NextHop: addr,
				ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{uint32(64600 + p), 65100}}}}}
			for i := range prefixes {
				u.NLRI = append(u.NLRI, wire.NewNLRI(benchPrefix(i), 0))
			}
			ups[p] = u
		}
		e.Ready(time.Time{})
		start, startCPU := time.Now(), cpuTime()
		for p := peers - 1; p >= 0; p-- {
			if err := e.ApplyUpdate(ids[p], ups[p]); err != nil {
				b.Fatal(err)
			}
		}
		e.Ready(time.Time{})
		elapsed += time.Since(start)
		cpu += cpuTime() - startCPU
		paths += peers * prefixes
	}
	b.ReportMetric(float64(paths)/elapsed.Seconds(), "paths/s")
	if cpu > 0 {
		b.ReportMetric(float64(paths)/cpu.Seconds(), "paths/cpu-s")
	}
}
