package bench

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Expect is what every route the DUT re-advertises to the sink must carry
// over eBGP: the DUT's AS prepended to the feeder's path, and the DUT's
// own address on the sink's link as next hop.
type Expect struct {
	ASPath  []uint32
	NextHop netip.Addr
}

// table is the sink's view of the DUT's advertisements: which of the
// announced prefixes it holds, and every route that broke the
// expectation. It timestamps the moment it became full or empty, on the
// goroutine that reads the session, so waiting for it by polling loses no
// precision.
type table struct {
	mu     sync.Mutex
	set    Prefixes
	expect Expect
	have   []bool
	count  int
	// Prefixes announced that are not in the set, and announcements with
	// the wrong path or next hop; the first of each is kept to report.
	unexpected, wrong int
	firstBad          string
	// Messages and prefixes seen, for the report.
	updates, announced, withdrawn int
	fullAt, emptyAt               time.Time
	// armedEmpty: emptyAt is only set once the set has been full, so an
	// empty table before loading does not count as withdrawn.
	wasFull bool
}

func newTable(set Prefixes, e Expect) *table {
	return &table{set: set, expect: e, have: make([]bool, set.N)}
}

// apply takes one UPDATE received at now. A malformed one (RFC 7606
// treat-as-withdraw) withdraws its prefixes and counts them as wrong: a
// DUT must not send what its peer has to discard.
func (t *table) apply(u *wire.Update, malformed bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.updates++
	if malformed {
		u.Reachable(func(f wire.Family, n wire.NLRI) {
			t.wrong++
			t.bad(fmt.Sprintf("%s %s came in a malformed UPDATE", f, n.Prefix()))
			if i, ok := t.set.Index(n.Prefix()); ok && t.have[i] {
				t.have[i] = false
				t.count--
			}
		})
		return
	}
	u.Unreachable(func(f wire.Family, n wire.NLRI) {
		t.withdrawn++
		if i, ok := t.set.Index(n.Prefix()); ok && f == wire.IPv4Unicast && t.have[i] {
			t.have[i] = false
			t.count--
		}
	})
	var pathErr string
	checked := false
	u.Reachable(func(f wire.Family, n wire.NLRI) {
		t.announced++
		i, ok := t.set.Index(n.Prefix())
		if !ok || f != wire.IPv4Unicast {
			t.unexpected++
			t.bad(fmt.Sprintf("%s %s was never announced by the feeder", f, n.Prefix()))
			return
		}
		if !checked {
			pathErr, checked = t.check(u.Attrs), true
		}
		if pathErr != "" {
			t.wrong++
			t.bad(n.Prefix().String() + ": " + pathErr)
			return
		}
		if !t.have[i] {
			t.have[i] = true
			t.count++
		}
	})
	if t.count == t.set.N && !t.wasFull {
		t.wasFull, t.fullAt = true, now
	}
	if t.count == 0 && t.wasFull && t.emptyAt.IsZero() {
		t.emptyAt = now
	}
}

func (t *table) bad(s string) {
	if t.firstBad == "" {
		t.firstBad = s
	}
}

// check returns why attrs is not what the DUT should send, or "".
func (t *table) check(a *wire.PathAttrs) string {
	if a == nil {
		return "no path attributes"
	}
	var path []uint32
	for _, seg := range a.ASPath {
		if seg.Type != wire.ASSequence {
			return fmt.Sprintf("AS path %s has a segment that is not an AS_SEQUENCE", a.ASPath)
		}
		path = append(path, seg.ASNs...)
	}
	if !equalASNs(path, t.expect.ASPath) {
		return fmt.Sprintf("AS path %s, want %v", a.ASPath, t.expect.ASPath)
	}
	nh := a.NextHop
	if a.MPReach != nil {
		nh = a.MPReach.NextHop
	}
	if nh != t.expect.NextHop {
		return fmt.Sprintf("next hop %v, want %v", nh, t.expect.NextHop)
	}
	return ""
}

func equalASNs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// tableState is a copy of what the runner waits on and reports.
type tableState struct {
	count, unexpected, wrong      int
	updates, announced, withdrawn int
	firstBad                      string
	fullAt, emptyAt               time.Time
}

func (t *table) state() tableState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tableState{
		count: t.count, unexpected: t.unexpected, wrong: t.wrong,
		updates: t.updates, announced: t.announced, withdrawn: t.withdrawn,
		firstBad: t.firstBad, fullAt: t.fullAt, emptyAt: t.emptyAt,
	}
}

// verify says why the table is not exactly the announced set with the
// expected attributes, or nil.
func (s tableState) verify(n int) error {
	if s.unexpected > 0 || s.wrong > 0 {
		return fmt.Errorf("sink got %d prefixes never announced and %d with the wrong AS path or next hop; first: %s", s.unexpected, s.wrong, s.firstBad)
	}
	if s.count != n {
		return fmt.Errorf("sink holds %d of the %d announced prefixes", s.count, n)
	}
	return nil
}
