package lab

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const fibECMP = `[{"dst":"10.0.0.1","nhid":3238330372,"protocol":"201","metric":20,"flags":[],"nexthops":[{"gateway":"10.1.0.8","dev":"swp1","weight":1,"flags":[]},{"gateway":"10.1.0.10","dev":"swp2","weight":1,"flags":[]}]},
{"dst":"10.0.0.129","nhid":3238330369,"gateway":"10.1.0.8","dev":"swp1","protocol":"201","metric":20,"flags":[]},
{"dst":"10.1.0.8/31","dev":"swp1","protocol":"kernel","scope":"link","prefsrc":"10.1.0.9","flags":[]},
{"dst":"10.2.0.0/16","dev":"swp3","protocol":"kernel","scope":"link","flags":[]},
{"dst":"10.2.0.0/16","dev":"swp4","protocol":"kernel","scope":"link","flags":[]}]`

// The same table with one ECMP member gone, under a new nexthop id, the
// link route marked down, and the two routes of 10.2.0.0/16 listed in the
// other order.
const fibOneDown = `[{"dst":"10.0.0.1","nhid":99,"gateway":"10.1.0.10","dev":"swp2","protocol":"201","metric":20,"flags":[]},
{"dst":"10.0.0.129","nhid":3238330369,"gateway":"10.1.0.8","dev":"swp1","protocol":"201","metric":20,"flags":[]},
{"dst":"10.1.0.8/31","dev":"swp1","protocol":"kernel","scope":"link","prefsrc":"10.1.0.9","flags":["linkdown"]},
{"dst":"10.2.0.0/16","dev":"swp4","protocol":"kernel","scope":"link","flags":[]},
{"dst":"10.2.0.0/16","dev":"swp3","protocol":"kernel","scope":"link","flags":[]}]`

const fib6 = `[{"dst":"fe80::/64","dev":"swp1","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},
{"dst":"2001:db8::/64","via":{"family":"inet6","host":"fe80::1"},"dev":"swp1","protocol":"bgp","metric":20,"flags":["onlink"]},
{"dst":"10.9.0.0/24","protocol":"bgp","metric":20,"flags":[],"nexthops":[{"via":{"family":"inet6","host":"fe80::1"},"dev":"swp1","weight":1,"flags":[]},{"via":{"family":"inet6","host":"fe80::2"},"dev":"swp2","weight":3,"flags":["linkdown"]}]},
{"dst":"10.9.1.0/24","type":"blackhole","protocol":"bgp","metric":20,"flags":[]}]`

func mustFIB(t *testing.T, outs ...string) fib {
	t.Helper()
	f := fib{}
	for _, o := range outs {
		if err := parseFIB([]byte(o), f); err != nil {
			t.Fatalf("parseFIB: %v", err)
		}
	}
	return f
}

func TestParseFIB(t *testing.T) {
	f := mustFIB(t, fibECMP, fib6)
	want := map[string]string{
		"10.0.0.1":      "metric 20 10.1.0.10 dev swp2, metric 20 10.1.0.8 dev swp1",
		"10.0.0.129":    "metric 20 10.1.0.8 dev swp1",
		"10.1.0.8/31":   "metric 0 dev swp1",
		"10.2.0.0/16":   "metric 0 dev swp3, metric 0 dev swp4",
		"2001:db8::/64": "metric 20 fe80::1 dev swp1",
		"10.9.0.0/24":   "metric 20 fe80::1 dev swp1, metric 20 fe80::2 dev swp2 weight 3 linkdown",
		"10.9.1.0/24":   "metric 20 blackhole",
	}
	if len(f) != len(want) {
		t.Errorf("parsed %d destinations, want %d: %v", len(f), len(want), f)
	}
	for dst, h := range want {
		if f[dst] != h {
			t.Errorf("%s: %q, want %q", dst, f[dst], h)
		}
	}
	if err := parseFIB([]byte(`{"dst":`), fib{}); err == nil {
		t.Error("parseFIB took broken JSON")
	}
}

func TestDiffFIB(t *testing.T) {
	a, b := mustFIB(t, fibECMP), mustFIB(t, fibOneDown)
	if d := diffFIB(a, mustFIB(t, fibECMP)); len(d) != 0 {
		t.Errorf("equal tables differ in %v", d)
	}
	// 10.2.0.0/16 only changed order, 10.0.0.129 its nexthop id.
	if d, want := diffFIB(a, b), []string{"10.0.0.1", "10.1.0.8/31"}; !slices.Equal(d, want) {
		t.Errorf("diff %v, want %v", d, want)
	}
	delete(b, "10.0.0.129")
	b["10.7.0.0/16"] = "metric 20 10.1.0.10 dev swp2"
	if d, want := diffFIB(a, b), []string{"10.0.0.1", "10.0.0.129", "10.1.0.8/31", "10.7.0.0/16"}; !slices.Equal(d, want) {
		t.Errorf("diff with one removed and one added: %v, want %v", d, want)
	}
	d := diffFIBs(fibs{"leaf1": a, "leaf2": a, "spine1": a}, fibs{"leaf1": b, "leaf2": mustFIB(t, fibECMP)})
	if len(d) != 1 || len(d["leaf1"]) != 4 {
		t.Errorf("diffFIBs: %v, want 4 on leaf1 only", d)
	}
}

// TestFIBWatch: destinations changed before the undo are counted once
// each however many polls saw them; ECMP is back at the first poll after
// the undo that finds every node as before.
func TestFIBWatch(t *testing.T) {
	up, down := mustFIB(t, fibECMP), mustFIB(t, fibOneDown)
	w := newFIBWatch(fibs{"leaf1": up, "leaf2": up})
	t0 := time.Unix(1000, 0)
	w.observe(false, fibs{"leaf1": up, "leaf2": up}, t0)
	w.observe(false, fibs{"leaf1": down, "leaf2": up}, t0.Add(time.Second))
	w.observe(false, fibs{"leaf1": down, "leaf2": up}, t0.Add(2*time.Second))
	if w.observe(true, fibs{"leaf1": down, "leaf2": up}, t0.Add(3*time.Second)) {
		t.Error("restored while leaf1 still misses a next hop")
	}
	if !w.observe(true, fibs{"leaf1": up, "leaf2": up}, t0.Add(3500*time.Millisecond)) {
		t.Error("not restored with every FIB as before")
	}
	w.observe(true, fibs{"leaf1": down, "leaf2": up}, t0.Add(4*time.Second)) // a later flap keeps the first time
	var m Measurement
	w.report(&m, t0.Add(3*time.Second))
	if m.RoutesChanged != 2 || m.RoutesChangedByNode["leaf1"] != 2 || m.RoutesChangedByNode["leaf2"] != 0 {
		t.Errorf("routes changed %d by node %v, want 2 on leaf1", m.RoutesChanged, m.RoutesChangedByNode)
	}
	if m.ECMPRestoredS == nil || *m.ECMPRestoredS != 0.5 {
		t.Errorf("ecmp restored %v, want 0.5 s", m.ECMPRestoredS)
	}

	// Never back: no time, and the destinations still different counted.
	w = newFIBWatch(fibs{"leaf1": up})
	w.observe(false, fibs{"leaf1": down}, t0)
	w.observe(true, fibs{"leaf1": down}, t0.Add(time.Second))
	m = Measurement{}
	w.report(&m, t0)
	if m.ECMPRestoredS != nil || m.FIBNotRestored != 2 || m.RoutesChanged != 2 {
		t.Errorf("never restored: %+v", m)
	}
	// A verb without undo reports no restore time.
	m = Measurement{}
	w.report(&m, time.Time{})
	if m.ECMPRestoredS != nil || m.FIBNotRestored != 0 {
		t.Errorf("no undo: %+v", m)
	}
}

func TestPrintRoutes(t *testing.T) {
	back := 0.9
	m := &Measurement{Verb: "fail leaf1:swp2", Mode: "link", RoutesChanged: 5,
		RoutesChangedByNode: map[string]int{"spine1": 2, "leaf1": 3, "leaf2": 0}, ECMPRestoredS: &back}
	var b strings.Builder
	m.Print(&b)
	for _, want := range []string{"routes changed: 5 (leaf1 3, spine1 2)\n", "full ECMP again: every FIB as before 0.900 s after the undo"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print: %q lacks %q", b.String(), want)
		}
	}
	m.ECMPRestoredS, m.FIBNotRestored = nil, 4
	b.Reset()
	m.Print(&b)
	if !strings.Contains(b.String(), "4 destinations still differ") {
		t.Errorf("Print, not restored: %q", b.String())
	}
}

// FuzzParseFIB: any output of ip parses or fails cleanly, and a table
// never differs from itself.
func FuzzParseFIB(f *testing.F) {
	for _, s := range []string{fibECMP, fibOneDown, fib6, `[]`, `[{"dst":"default","nexthops":[{}]}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := fib{}
		if parseFIB(b, a) != nil {
			return
		}
		c := fib{}
		if err := parseFIB(b, c); err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if d := diffFIB(a, c); len(d) != 0 {
			t.Fatalf("one output differs from itself in %v", d)
		}
	})
}
