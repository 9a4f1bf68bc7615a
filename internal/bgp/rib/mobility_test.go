package rib

import (
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/neigh"
)

func mobExt(seq uint32, sticky bool) wire.ExtCommunity {
	return wire.ExtCommunity(neigh.MobilityCommunity(seq, sticky))
}

func TestMobilityMatchesNeigh(t *testing.T) {
	for _, c := range []struct {
		seq    uint32
		sticky bool
	}{{0, false}, {1, false}, {7, true}, {1<<32 - 1, false}} {
		a := &wire.PathAttrs{ExtCommunities: []wire.ExtCommunity{{0x00, 0x02, 1, 2, 3, 4, 5, 6}, mobExt(c.seq, c.sticky)}}
		seq, sticky, ok := Mobility(a)
		if !ok || seq != c.seq || sticky != c.sticky {
			t.Errorf("Mobility(%v/%v) = %v %v %v", c.seq, c.sticky, seq, sticky, ok)
		}
		// The RIB's order must be neigh's: the engine decides moves by it.
		for _, d := range []struct {
			seq    uint32
			sticky bool
		}{{0, false}, {2, false}, {7, true}, {9, true}} {
			if got, want := compareMobility(c.sticky, c.seq, d.sticky, d.seq), -neigh.PreferMobility(c.seq, c.sticky, d.seq, d.sticky); got != want {
				t.Errorf("compareMobility(%v,%v vs %v,%v) = %d, neigh says %d", c.seq, c.sticky, d.seq, d.sticky, got, want)
			}
		}
	}
	if _, _, ok := Mobility(&wire.PathAttrs{}); ok {
		t.Error("no community read as mobility")
	}
}

// mobRIB is a leaf's RIB with two eBGP neighbors (two other leaves behind
// spines) that watches host prefixes in 10.1.0.0/24.
func mobRIB(t *testing.T, maxPaths int) (*Engine, []PeerID) {
	t.Helper()
	e, err := New(Config{LocalAS: 65011, RouterID: mustAddr("10.0.0.11"), MaxPaths: maxPaths, MultipathRelax: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []PeerID
	for i := range 2 {
		id, err := e.AddPeer(PeerConfig{Type: EBGP, PeerAS: 65100, Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.PeerUp(id, netip.AddrFrom4([4]byte{1, 1, 1, byte(i + 1)}), wire.Options{}, []wire.Family{wire.IPv4Unicast}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	agg := netip.MustParsePrefix("10.1.0.0/24")
	e.WatchRemoteHosts(func(p netip.Prefix) bool { return p.Bits() == 32 && agg.Contains(p.Addr()) })
	return e, ids
}

func hostUpdate(pfx netip.Prefix, nh string, seq uint32, sticky bool, path ...uint32) *wire.Update {
	a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: seq0(path...), NextHop: mustAddr(nh)}
	a.ExtCommunities = []wire.ExtCommunity{mobExt(seq, sticky)}
	return &wire.Update{Attrs: a, NLRI: []wire.NLRI{wire.NewNLRI(pfx, 0)}}
}

func seq0(asns ...uint32) wire.ASPath { return wire.ASPath{{Type: wire.ASSequence, ASNs: asns}} }

func TestMobilitySelection(t *testing.T) {
	host := netip.MustParsePrefix("10.1.0.10/32")
	e, ids := mobRIB(t, 8)
	// Our own origination, sequence 1: best (local first) and not Remote.
	local := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ExtCommunities: []wire.ExtCommunity{mobExt(1, false)}}
	if err := e.Originate(host, local); err != nil {
		t.Fatal(err)
	}
	o := e.Ready(time.Time{})
	if len(o.Best) != 1 || !o.Best[0].Local || len(o.Remote) != 0 {
		t.Fatalf("local origination: best %+v remote %+v", o.Best, o.Remote)
	}
	// Another leaf with the same sequence: ours still wins (local), but
	// the engine hears of it.
	if err := e.ApplyUpdate(ids[0], hostUpdate(host, "10.0.0.1", 1, false, 65100, 65012)); err != nil {
		t.Fatal(err)
	}
	o = e.Ready(time.Time{})
	if len(o.Best) != 0 || len(o.Remote) != 1 || !o.Remote[0].Present || o.Remote[0].Seq != 1 {
		t.Fatalf("equal remote: best %+v remote %+v", o.Best, o.Remote)
	}
	// The host moved: sequence 2 wins over a local path and a shorter
	// AS path.
	if err := e.ApplyUpdate(ids[0], hostUpdate(host, "10.0.0.1", 2, false, 65100, 65012, 65012, 65012)); err != nil {
		t.Fatal(err)
	}
	o = e.Ready(time.Time{})
	if len(o.Best) != 1 || o.Best[0].Local || o.Best[0].Peer != ids[0] {
		t.Fatalf("higher remote seq: best %+v", o.Best)
	}
	if len(o.Remote) != 1 || o.Remote[0].Seq != 2 {
		t.Fatalf("remote %+v", o.Remote)
	}
	// A sticky (static) claim beats any sequence.
	if err := e.ApplyUpdate(ids[1], hostUpdate(host, "10.0.0.2", 0, true, 65100, 65013)); err != nil {
		t.Fatal(err)
	}
	o = e.Ready(time.Time{})
	if len(o.Best) != 1 || o.Best[0].Peer != ids[1] || len(o.Remote) != 1 || !o.Remote[0].Sticky {
		t.Fatalf("sticky: best %+v remote %+v", o.Best, o.Remote)
	}
	// Both remote paths go: the local origination is best again and the
	// engine hears that nobody else claims the host.
	for _, id := range ids {
		if err := e.ApplyUpdate(id, &wire.Update{Withdrawn: []wire.NLRI{wire.NewNLRI(host, 0)}}); err != nil {
			t.Fatal(err)
		}
	}
	o = e.Ready(time.Time{})
	if len(o.Best) != 1 || !o.Best[0].Local || len(o.Remote) != 1 || o.Remote[0].Present {
		t.Fatalf("withdrawn: best %+v remote %+v", o.Best, o.Remote)
	}
	// Unwatched prefixes report nothing.
	if err := e.ApplyUpdate(ids[0], hostUpdate(netip.MustParsePrefix("10.2.0.1/32"), "10.0.0.1", 5, false, 65100)); err != nil {
		t.Fatal(err)
	}
	if o = e.Ready(time.Time{}); len(o.Remote) != 0 {
		t.Fatalf("unwatched prefix reported: %+v", o.Remote)
	}
}

// TestMobilityDualHomedECMP: a server attached to two leaves is
// advertised by both with the same sequence; the fabric must spread over
// both, and a higher sequence from one must take the set alone.
func TestMobilityDualHomedECMP(t *testing.T) {
	host := netip.MustParsePrefix("10.1.0.20/32")
	e, ids := mobRIB(t, 8)
	for i, id := range ids {
		nh := []string{"10.0.0.1", "10.0.0.2"}[i]
		if err := e.ApplyUpdate(id, hostUpdate(host, nh, 3, false, 65100, uint32(65012+i))); err != nil {
			t.Fatal(err)
		}
	}
	o := e.Ready(time.Time{})
	if len(o.ECMP) != 1 || len(o.ECMP[0].NextHops) != 2 {
		t.Fatalf("equal sequences: ECMP %+v, want both leaves", o.ECMP)
	}
	if err := e.ApplyUpdate(ids[1], hostUpdate(host, "10.0.0.2", 4, false, 65100, 65013)); err != nil {
		t.Fatal(err)
	}
	o = e.Ready(time.Time{})
	if len(o.ECMP) != 1 || len(o.ECMP[0].NextHops) != 1 || o.ECMP[0].NextHops[0].Addr != mustAddr("10.0.0.2") {
		t.Fatalf("higher sequence: ECMP %+v, want only 10.0.0.2", o.ECMP)
	}
}
