package lab

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
	"github.com/google/go-cmp/cmp"
)

func TestNaming(t *testing.T) {
	p := Prefix("seed-003")
	if p != Prefix("seed-003") || len(p) != 6 || !strings.HasPrefix(p, "cl") {
		t.Fatalf("Prefix(seed-003) = %q: want stable cl+4 hex", p)
	}
	if Prefix("a") == Prefix("b") {
		t.Errorf("labs a and b share prefix %s", Prefix("a"))
	}
	// Temporary veths live in the root namespace and must fit IFNAMSIZ.
	if v := vethName(p, 9999, 'b'); len(v) > 15 {
		t.Errorf("veth name %q is %d chars, max 15", v, len(v))
	}
	if got := Netns(p, "leaf1"); got != p+"-leaf1" {
		t.Errorf("Netns = %q", got)
	}
	if got := nftTable(p, "swp1.100"); got != p+"_swp1_100" {
		t.Errorf("nftTable = %q", got)
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("x", 33)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		} else if !errors.As(err, new(*InputError)) {
			t.Errorf("CheckName(%q): %v is not an input error", bad, err)
		}
	}
	for _, ok := range []string{"seed-003", "lab_1.a", "X"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "t1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &State{Name: "t1", Prefix: Prefix("t1"), Fabric: "/x/fabric.yaml", PlanDir: "/x",
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Ready: true, dir: dir,
		Nodes: []Node{{Name: "leaf1", Role: "leaf", Kind: KindFRR, Netns: Netns(Prefix("t1"), "leaf1"), RunDir: "/var/run/frr/x", Pids: []int{10, 11, 12}},
			{Name: "server1", Role: "server", Netns: Netns(Prefix("t1"), "server1")}},
		Failures: []Failure{{Target: "leaf1:swp1", Mode: "silent"}}}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(base, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got, cmp.AllowUnexported(State{})); d != "" {
		t.Errorf("round trip (-saved +loaded):\n%s", d)
	}
	if n, ok := got.Node("server1"); !ok || n.Role != "server" {
		t.Errorf("Node(server1) = %v, %v", n, ok)
	}
	if _, err := Load(base, "t2"); err == nil || !strings.Contains(err.Error(), "no lab named") {
		t.Errorf("Load of a missing lab: %v", err)
	}
	// A state file of another lab (renamed dir) is refused, not trusted.
	if err := os.Rename(dir, filepath.Join(base, "t3")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(base, "t3"); err == nil || !strings.Contains(err.Error(), "belongs to lab") {
		t.Errorf("Load of a foreign state: %v", err)
	}
	if err := os.WriteFile(filepath.Join(base, "t3", "state.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(base, "t3"); err == nil || !strings.Contains(err.Error(), "clos lab down") {
		t.Errorf("Load of a corrupt state: %v", err)
	}
}

func TestResolve(t *testing.T) {
	base := t.TempDir()
	if _, err := Resolve(base, ""); err == nil || !strings.Contains(err.Error(), "no lab is up") {
		t.Errorf("no labs: %v", err)
	}
	for _, n := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(base, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Resolve(base, ""); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Errorf("two labs: %v", err)
	}
	if n, err := Resolve(base, "b"); err != nil || n != "b" {
		t.Errorf("Resolve(b) = %q, %v", n, err)
	}
	if err := os.RemoveAll(filepath.Join(base, "b")); err != nil {
		t.Fatal(err)
	}
	if n, err := Resolve(base, ""); err != nil || n != "a" {
		t.Errorf("one lab: %q, %v", n, err)
	}
}

func seed003(t *testing.T) (*plan.Fabric, string) {
	t.Helper()
	return planned(t, nil)
}

// planned plans the seed-003 preset, changed by edit if given, into a
// temporary dir and returns the fabric and the path of its fabric.yaml.
func planned(t *testing.T, edit func(*plan.Intent)) (*plan.Fabric, string) {
	t.Helper()
	in, err := plan.Preset("seed-003")
	if err != nil {
		t.Fatal(err)
	}
	// BFD at 100 ms x 3 flaps on a loaded shared 2-core box; detection in
	// 1.5 s keeps the lab steady and still far below the hold timer.
	in.BFD.Interval, in.BFD.Multiplier = 300, 5
	if edit != nil {
		edit(&in)
	}
	in.Defaults()
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := plan.ReadFabric(filepath.Join(dir, "fabric.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return f, filepath.Join(dir, "fabric.yaml")
}

func TestNodeKinds(t *testing.T) {
	f, _ := seed003(t)
	k, err := nodeKinds(f, KindFRR, map[string]string{"leaf1": KindClosd})
	if err != nil || k["leaf1"] != KindClosd || k["spine3"] != KindFRR {
		t.Errorf("nodeKinds = %v, %v", k, err)
	}
	for _, tc := range []struct {
		def  string
		over map[string]string
		want string
	}{
		{"bird", nil, `--kind "bird"`},
		{KindFRR, map[string]string{"leaf9": KindClosd}, `no switch "leaf9"`},
		{KindFRR, map[string]string{"server1": KindClosd}, `no switch "server1"`},
		{KindFRR, map[string]string{"leaf1": "gobgp"}, "want frr or closd"},
	} {
		_, err := nodeKinds(f, tc.def, tc.over)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, new(*InputError)) {
			t.Errorf("nodeKinds(%s, %v) = %v; want input error with %q", tc.def, tc.over, err, tc.want)
		}
	}
}

func TestPathFailed(t *testing.T) {
	f, _ := seed003(t)
	for _, tc := range []struct {
		failed map[string]bool
		end    string
		want   string
	}{
		{nil, "leaf1:swp1", ""},
		{map[string]bool{"leaf1:swp1": true}, "leaf1:swp1", "link failed"},
		{map[string]bool{"spine3": true}, "leaf1:swp1", "spine3 failed"},
		{map[string]bool{"leaf2:swp1": true}, "leaf1:swp1", "spine3 has no working link to leaf2"},
		{map[string]bool{"leaf2:swp1": true}, "leaf1:swp2", ""},
	} {
		peer := map[string]string{"leaf1:swp1": "spine3:swp1", "leaf1:swp2": "spine4:swp1"}[tc.end]
		got := pathFailed(f, tc.failed, tc.end, peer, "leaf2")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("pathFailed(%v, %s) = %q, want %q", tc.failed, tc.end, got, tc.want)
		}
	}
}

func TestUpRejectsBadInput(t *testing.T) {
	_, path := seed003(t)
	base := t.TempDir()
	for _, tc := range []struct {
		path string
		o    Options
		want string
	}{
		{filepath.Join(t.TempDir(), "nope.yaml"), Options{}, "nope.yaml"},
		{path, Options{Name: "bad name"}, "lab name"},
		{path, Options{Kind: "bird"}, `--kind "bird"`},
	} {
		tc.o.Base = base
		_, err := Up(t.Context(), tc.path, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, new(*InputError)) {
			t.Errorf("Up(%s, %+v) = %v; want input error with %q", tc.path, tc.o, err, tc.want)
		}
	}
	if ls, _ := List(base); len(ls) != 0 {
		t.Errorf("bad input left labs behind: %v", ls)
	}
}

func TestGaps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	iv := 10 * time.Millisecond
	mk := func(got string) []probe {
		var ps []probe
		for i, c := range got {
			ps = append(ps, probe{sent: t0.Add(time.Duration(i) * iv), got: c == '1'})
		}
		return ps
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * iv) }
	for _, tc := range []struct {
		got      string
		from, to int
		gap      float64
		lost     int
		end      int // -1: no gap
	}{
		{"1111111111", 2, 8, 0, 0, -1},
		{"1111000111", 2, 10, 40, 3, 7},
		{"1111000111", 5, 10, 40, 2, 7},  // the gap began before the phase
		{"1111110000", 2, 10, 50, 4, 10}, // never came back: ends at the phase end
		{"1111000111", 8, 10, 0, 0, -1},  // after the gap
	} {
		g, lost, end := gaps(mk(tc.got), at(tc.from), at(tc.to), iv)
		wantEnd := time.Time{}
		if tc.end >= 0 {
			wantEnd = at(tc.end)
		}
		if g != tc.gap || lost != tc.lost || !end.Equal(wantEnd) {
			t.Errorf("gaps(%s, %d..%d) = %v ms, %d lost, end %v; want %v, %d, %v", tc.got, tc.from, tc.to, g, lost, end, tc.gap, tc.lost, wantEnd)
		}
	}
	o := MeasureOptions{Flows: 257}
	if err := o.Validate(); err == nil {
		t.Errorf("257 flows accepted")
	}
	o = MeasureOptions{Rate: 5000}
	if err := o.Validate(); err == nil {
		t.Errorf("5000 pps accepted")
	}
	o = MeasureOptions{Flows: 100, Rate: 500}
	if err := o.Validate(); err == nil {
		t.Errorf("100 flows at 500 pps accepted")
	}
	for _, tc := range []struct{ pairs, flows, rate int }{
		{1, 8, 200}, {12, 24, 200}, {240, 256, 31},
	} {
		o = MeasureOptions{}
		if err := o.fill(tc.pairs); err != nil || o.Flows != tc.flows || o.Rate != tc.rate || o.Duration != 3*time.Second {
			t.Errorf("defaults for %d pairs: %+v, %v; want %d flows at %d pps", tc.pairs, o, err, tc.flows, tc.rate)
		}
	}
}

func TestGraph(t *testing.T) {
	f, _ := seed003(t)
	st := &Status{Name: "g", Failures: []Failure{{Target: "spine4:swp2", Mode: "silent"}}}
	for _, l := range f.Links {
		st.Links = append(st.Links, LinkStatus{Name: l.Name, Kind: l.Kind, AState: "up", BState: "up"})
	}
	st.Links[0].AState = "down"
	var b strings.Builder
	Graph(&b, st, f)
	for _, want := range []string{"tier 1   spine3  spine4", "server1@leaf1", "leaf2:swp2   --x-- spine4:swp2 up/up   failed (silent)", "leaf1:swp1   --x-- spine3:swp1 down/up"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("graph lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	Dot(&b, st, f)
	for _, want := range []string{`"leaf1" [label="leaf1\nAS64512"];`, `"leaf2" -- "spine4" [taillabel="swp2", headlabel="swp2", style=dashed, color=red];`, `"leaf1" -- "spine4" [taillabel="swp2", headlabel="swp1"];`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dot lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFlowEnds(t *testing.T) {
	f, _ := seed003(t)
	all := AllPairs(f)
	if len(all) != 12 {
		t.Fatalf("AllPairs: %d, want 12 ordered pairs of 4 servers", len(all))
	}
	for _, e := range all {
		if len(e.Receivers) != 1 || e.Receivers[0] == e.From || !e.To.IsValid() {
			t.Errorf("AllPairs: %s", e)
		}
	}
	with, err := PairsWith(f, "server1")
	if err != nil || len(with) != 6 {
		t.Fatalf("PairsWith(server1) = %v, %v; want 6", with, err)
	}
	for _, e := range with {
		if e.From != "server1" && e.Receivers[0] != "server1" {
			t.Errorf("PairsWith(server1): %s", e)
		}
	}
	if _, err := PairsWith(f, "server9"); err == nil {
		t.Errorf("PairsWith(server9) accepted")
	}
	anycast := netip.MustParseAddr("10.255.0.53")
	to, err := ToAddress(f, anycast, []string{"server1", "server4"})
	if err != nil || len(to) != 2 {
		t.Fatalf("ToAddress = %v, %v; want from server2 and server3", to, err)
	}
	for _, e := range to {
		if e.To != anycast || len(e.Receivers) != 2 || e.From == "server1" || e.From == "server4" {
			t.Errorf("ToAddress: %s", e)
		}
	}
	if _, err := ToAddress(f, anycast, nil); err == nil {
		t.Errorf("ToAddress with no receiver accepted")
	}
	if _, err := ToAddress(f, anycast, []string{"server1", "server2", "server3", "server4"}); err == nil {
		t.Errorf("ToAddress served by every server accepted")
	}
}

func TestFailModes(t *testing.T) {
	f, _ := seed003(t)
	s := &State{Name: "x", Prefix: Prefix("x"), dir: t.TempDir()}
	for _, n := range f.Nodes {
		s.Nodes = append(s.Nodes, Node{Name: n.Name, Role: n.Role, Kind: KindFRR})
	}
	for _, h := range f.Servers {
		s.Nodes = append(s.Nodes, Node{Name: h.Name, Role: plan.RoleServer})
	}
	for _, tc := range []struct {
		what string
		o    FailOptions
		mode string // "" for bad input
	}{
		{"leaf1:swp1", FailOptions{}, ModeLink},
		{"spine3:swp1", FailOptions{Silent: true}, ModeSilent},
		{"spine3", FailOptions{}, ModeNode},
		{"spine3", FailOptions{Isolate: true}, ModeIsolate},
		{"spine3", FailOptions{Isolate: true, Silent: true}, ModeIsolateSilent},
		{"server1", FailOptions{Isolate: true}, ModeIsolate},
		{"server1", FailOptions{}, ""},
		{"spine3", FailOptions{Silent: true}, ""},
		{"leaf1:swp1", FailOptions{Isolate: true}, ""},
		{"leaf9", FailOptions{}, ""},
		{"leaf1:swp9", FailOptions{}, ""},
	} {
		mode, _, err := failMode(s, f, tc.what, tc.o)
		if mode != tc.mode || (tc.mode == "") != (err != nil) {
			t.Errorf("failMode(%s, %+v) = %q, %v; want %q", tc.what, tc.o, mode, err, tc.mode)
		}
		var ie *InputError
		if err != nil && !errors.As(err, &ie) {
			t.Errorf("failMode(%s, %+v): %v is not an input error", tc.what, tc.o, err)
		}
	}
	// Isolating a node with a failed link, and failing a link of an
	// isolated node, are refused.
	s.Failures = []Failure{{Target: "leaf1:swp1", Mode: ModeLink}}
	if _, _, err := failMode(s, f, "spine3", FailOptions{Isolate: true}); err == nil {
		t.Errorf("isolating spine3 with leaf1:swp1 failed was accepted")
	}
	s.Failures = []Failure{{Target: "spine4", Mode: ModeIsolate}}
	if _, _, err := failMode(s, f, "leaf2:swp2", FailOptions{}); err == nil {
		t.Errorf("failing a link of isolated spine4 was accepted")
	}
	if _, err := RestoreAction(s, f, "spine3"); err == nil {
		t.Errorf("restore of a node not failed accepted")
	}
	if a, err := RestoreAction(s, f, "spine4"); err != nil || a.Undo != nil || a.Mode != "restore" {
		t.Errorf("RestoreAction(spine4) = %+v, %v", a, err)
	}
}
