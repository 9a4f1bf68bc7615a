package bench

import (
	"net/netip"
	"testing"

	"github.com/closnet/clos/internal/bgp/wire"
)

func TestPrefixesRoundTrip(t *testing.T) {
	p, err := NewPrefixes(70_000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]bool{}
	for _, i := range []int{0, 1, 255, 256, 65535, 65536, 69_999} {
		q := p.At(i)
		if q.Bits() != 24 || q.Masked() != q {
			t.Errorf("At(%d) = %v: want a /24 with no host bits", i, q)
		}
		if seen[q] {
			t.Errorf("At(%d) = %v repeats", i, q)
		}
		seen[q] = true
		if j, ok := p.Index(q); !ok || j != i {
			t.Errorf("Index(At(%d) = %v) = %d, %v", i, q, j, ok)
		}
	}
	if got := p.At(0).String(); got != "11.0.0.0/24" {
		t.Errorf("At(0) = %s, want 11.0.0.0/24", got)
	}
	if got := p.At(256).String(); got != "11.1.0.0/24" {
		t.Errorf("At(256) = %s, want 11.1.0.0/24", got)
	}
	last := netip.MustParsePrefix("127.0.0.0/8")
	if q := (Prefixes{N: MaxPrefixes}).At(MaxPrefixes - 1); last.Overlaps(q) {
		t.Errorf("the largest set reaches %v", q)
	}
	for _, s := range []string{"11.0.0.0/23", "11.0.0.1/24", "10.255.255.0/24", "12.17.112.0/24", "::/0"} {
		if i, ok := p.Index(netip.MustParsePrefix(s)); ok {
			t.Errorf("Index(%s) = %d, want not in the set", s, i)
		}
	}
}

func TestNewPrefixesBounds(t *testing.T) {
	for _, n := range []int{0, -1, MaxPrefixes + 1} {
		if _, err := NewPrefixes(n); err == nil {
			t.Errorf("NewPrefixes(%d) accepted", n)
		}
	}
}

// parseAll splits a stream of messages and parses every UPDATE.
func parseAll(t *testing.T, b []byte, opts *wire.Options) []*wire.Update {
	t.Helper()
	var out []*wire.Update
	for len(b) > 0 {
		n, err := wire.Split(b, opts)
		if err != nil || n == 0 {
			t.Fatalf("split: %d, %v", n, err)
		}
		m, err := wire.Parse(b[:n], opts)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		out = append(out, m.(*wire.Update))
		b = b[n:]
	}
	return out
}

func TestAnnouncementsPackEveryPrefixOnce(t *testing.T) {
	p, _ := NewPrefixes(5000)
	attrs := &wire.PathAttrs{
		Origin: wire.OriginIGP, HasOrigin: true,
		ASPath:    wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{feederAS}}},
		HasASPath: true, NextHop: netip.MustParseAddr("10.0.1.2"),
	}
	opts := &wire.Options{AS4: true}
	for _, tc := range []struct {
		per      int
		wantMsgs int // 0: check only that messages are full
	}{{0, 0}, {100, 50}, {7, 715}} {
		b, msgs, err := Announcements(p, attrs, tc.per, opts)
		if err != nil {
			t.Fatal(err)
		}
		ups := parseAll(t, b, opts)
		if len(ups) != msgs {
			t.Errorf("per %d: %d messages parsed, %d reported", tc.per, len(ups), msgs)
		}
		if tc.wantMsgs != 0 && msgs != tc.wantMsgs {
			t.Errorf("per %d: %d messages, want %d", tc.per, msgs, tc.wantMsgs)
		}
		if tc.per == 0 && msgs > 5000*4/4000+1 {
			t.Errorf("packing as many as fit made %d messages for 5000 /24s", msgs)
		}
		got := make([]bool, p.N)
		for _, u := range ups {
			if tc.per > 0 && len(u.NLRI) > tc.per {
				t.Errorf("per %d: an UPDATE with %d prefixes", tc.per, len(u.NLRI))
			}
			if !u.Attrs.ASPath.Equal(attrs.ASPath) || u.Attrs.NextHop != attrs.NextHop {
				t.Errorf("attributes %+v", u.Attrs)
			}
			for _, n := range u.NLRI {
				i, ok := p.Index(n.Prefix())
				if !ok || got[i] {
					t.Fatalf("per %d: prefix %v unexpected or repeated", tc.per, n.Prefix())
				}
				got[i] = true
			}
		}
		for i, ok := range got {
			if !ok {
				t.Fatalf("per %d: prefix %v never announced", tc.per, p.At(i))
			}
		}
	}
}

func TestWithdrawalsCoverTheSet(t *testing.T) {
	p, _ := NewPrefixes(3000)
	b, _, err := Withdrawals(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range parseAll(t, b, nil) {
		if len(u.NLRI) != 0 || u.Attrs != nil {
			t.Errorf("a withdrawal carries announcements or attributes")
		}
		n += len(u.Withdrawn)
	}
	if n != 3000 {
		t.Errorf("%d prefixes withdrawn, want 3000", n)
	}
	if _, _, err := Withdrawals(p, -1, nil); err == nil {
		t.Error("a negative per-update count was accepted")
	}
}
