package bench

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

func sinkAttrs(path []uint32, nh string) *wire.PathAttrs {
	return &wire.PathAttrs{
		Origin: wire.OriginIGP, HasOrigin: true, HasASPath: true,
		ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: path}}, NextHop: netip.MustParseAddr(nh),
	}
}

func nlri(p Prefixes, from, to int) []wire.NLRI {
	var out []wire.NLRI
	for i := from; i < to; i++ {
		out = append(out, wire.NewNLRI(p.At(i), 0))
	}
	return out
}

func TestTableFullThenEmpty(t *testing.T) {
	p, _ := NewPrefixes(10)
	tab := newTable(p, Expect{ASPath: []uint32{dutAS, feederAS}, NextHop: netip.MustParseAddr("10.0.3.1")})
	good := sinkAttrs([]uint32{dutAS, feederAS}, "10.0.3.1")
	t0 := time.Unix(1000, 0)
	tab.apply(&wire.Update{Attrs: good, NLRI: nlri(p, 0, 6)}, false, t0)
	if s := tab.state(); s.count != 6 || !s.fullAt.IsZero() {
		t.Fatalf("after 6 of 10: %+v", s)
	}
	// An empty table before loading is not "withdrawn".
	if s := tab.state(); !s.emptyAt.IsZero() {
		t.Fatal("empty before full")
	}
	tab.apply(&wire.Update{Attrs: good, NLRI: nlri(p, 4, 10)}, false, t0.Add(time.Second))
	s := tab.state()
	if s.count != 10 || !s.fullAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("after all: %+v", s)
	}
	if err := s.verify(10); err != nil {
		t.Fatal(err)
	}
	tab.apply(&wire.Update{Withdrawn: nlri(p, 0, 9)}, false, t0.Add(2*time.Second))
	if s := tab.state(); s.count != 1 || !s.emptyAt.IsZero() {
		t.Fatalf("after withdrawing 9: %+v", s)
	}
	tab.apply(&wire.Update{Withdrawn: nlri(p, 9, 10)}, false, t0.Add(3*time.Second))
	if s := tab.state(); s.count != 0 || !s.emptyAt.Equal(t0.Add(3*time.Second)) || s.updates != 4 || s.announced != 12 || s.withdrawn != 10 {
		t.Fatalf("after withdrawing all: %+v", s)
	}
}

func TestTableRejectsWrongRoutes(t *testing.T) {
	p, _ := NewPrefixes(4)
	want := Expect{ASPath: []uint32{dutAS, feederAS}, NextHop: netip.MustParseAddr("10.0.3.1")}
	for _, tc := range []struct {
		name string
		u    *wire.Update
		why  string
	}{
		{"AS path without the DUT", &wire.Update{Attrs: sinkAttrs([]uint32{feederAS}, "10.0.3.1"), NLRI: nlri(p, 0, 1)}, "AS path"},
		{"next hop of the feeder", &wire.Update{Attrs: sinkAttrs([]uint32{dutAS, feederAS}, "10.0.1.2"), NLRI: nlri(p, 0, 1)}, "next hop 10.0.1.2"},
		{"prefix never announced", &wire.Update{Attrs: sinkAttrs([]uint32{dutAS, feederAS}, "10.0.3.1"), NLRI: []wire.NLRI{wire.NewNLRI(netip.MustParsePrefix("192.0.2.0/24"), 0)}}, "never announced"},
		{"no attributes", &wire.Update{NLRI: nlri(p, 0, 1)}, "no path attributes"},
		{"AS_SET", &wire.Update{Attrs: &wire.PathAttrs{HasASPath: true, ASPath: wire.ASPath{{Type: wire.ASSet, ASNs: []uint32{dutAS, feederAS}}}, NextHop: want.NextHop}, NLRI: nlri(p, 0, 1)}, "AS_SEQUENCE"},
	} {
		tab := newTable(p, want)
		tab.apply(tc.u, false, time.Unix(1, 0))
		s := tab.state()
		if s.count != 0 {
			t.Errorf("%s: counted as received", tc.name)
		}
		err := s.verify(0)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: verify = %v, want it to mention %q", tc.name, err, tc.why)
		}
	}
}

func TestTableVerifyMissing(t *testing.T) {
	p, _ := NewPrefixes(3)
	tab := newTable(p, Expect{ASPath: []uint32{dutAS, feederAS}, NextHop: netip.MustParseAddr("10.0.3.1")})
	tab.apply(&wire.Update{Attrs: sinkAttrs([]uint32{dutAS, feederAS}, "10.0.3.1"), NLRI: nlri(p, 0, 2)}, false, time.Unix(1, 0))
	if err := tab.state().verify(3); err == nil || !strings.Contains(err.Error(), "2 of the 3") {
		t.Errorf("verify = %v", err)
	}
}

func TestTableMalformed(t *testing.T) {
	p, _ := NewPrefixes(2)
	tab := newTable(p, Expect{ASPath: []uint32{dutAS, feederAS}, NextHop: netip.MustParseAddr("10.0.3.1")})
	good := sinkAttrs([]uint32{dutAS, feederAS}, "10.0.3.1")
	tab.apply(&wire.Update{Attrs: good, NLRI: nlri(p, 0, 2)}, false, time.Unix(1, 0))
	tab.apply(&wire.Update{Attrs: good, NLRI: nlri(p, 1, 2)}, true, time.Unix(2, 0))
	s := tab.state()
	if s.count != 1 || s.wrong != 1 || !strings.Contains(s.firstBad, "malformed") {
		t.Errorf("after a malformed UPDATE: %+v", s)
	}
}
