package rib

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// BenchmarkSoftIn loads 8 peers x N prefixes with soft-reconfiguration
// inbound off and on: the difference in B/path is what the pre-policy copy
// costs; "on" also reports the time to re-run the import over it
// (SoftReconfigIn of every peer, then Ready).
func BenchmarkSoftIn(b *testing.B) {
	const peers = 8
	n := benchPrefixes(b)
	ups := make([][]*wire.Update, peers)
	for p := range ups {
		ups[p] = fabricUpdates(p, n)
	}
	for _, soft := range []bool{false, true} {
		name := "off"
		if soft {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			var bytesPerPath float64
			var rerun time.Duration
			var reruns int
			for b.Loop() {
				base := heapInUse()
				e, err := New(Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), MultipathRelax: true})
				if err != nil {
					b.Fatal(err)
				}
				var ids []PeerID
				for p := range peers {
					id, err := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: uint32(64600 + p), SoftReconfigInbound: soft,
						Address: netip.AddrFrom4([4]byte{10, 255, byte(p), 1}), LocalAddress: netip.AddrFrom4([4]byte{10, 255, byte(p), 2})})
					if err != nil {
						b.Fatal(err)
					}
					e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, byte(p), 1}), wire.Options{AS4: true}, []wire.Family{wire.IPv4Unicast})
					ids = append(ids, id)
				}
				for p, id := range ids {
					for _, u := range ups[p] {
						if err := e.ApplyUpdate(id, u); err != nil {
							b.Fatal(err)
						}
					}
					e.Ready(time.Time{})
				}
				e.out = Output{}
				bytesPerPath = float64(heapInUse()-base) / float64(peers*n)
				if soft {
					start := time.Now()
					for _, id := range ids {
						if err := e.SoftReconfigIn(id); err != nil {
							b.Fatal(err)
						}
					}
					e.Ready(time.Time{})
					rerun += time.Since(start)
					reruns += peers * n
				}
				runtime.KeepAlive(e)
			}
			b.ReportMetric(bytesPerPath, "B/path")
			if reruns > 0 {
				b.ReportMetric(float64(rerun.Nanoseconds())/float64(reruns), "rerun-ns/path")
			}
		})
	}
}
