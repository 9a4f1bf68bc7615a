package lab

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// restartState is seed-003 as a lab state: FRR spines, closd leaves.
func restartState(t *testing.T) (*State, *plan.Fabric) {
	t.Helper()
	f, _ := seed003(t)
	s := &State{Name: "x", Prefix: Prefix("x"), dir: t.TempDir()}
	for _, n := range f.Nodes {
		k := KindClosd
		if n.Role == plan.RoleSpine {
			k = KindFRR
		}
		s.Nodes = append(s.Nodes, Node{Name: n.Name, Role: n.Role, Kind: k, Netns: Netns(s.Prefix, n.Name)})
	}
	for _, h := range f.Servers {
		s.Nodes = append(s.Nodes, Node{Name: h.Name, Role: plan.RoleServer, Netns: Netns(s.Prefix, h.Name)})
	}
	return s, f
}

func TestRestartTarget(t *testing.T) {
	s, _ := restartState(t)
	for _, tc := range []struct {
		node string
		idx  int
		err  string // "" for a valid target
	}{
		{"leaf1", 0, ""},
		{"spine3", 1, ""}, // FRR: bgpd, second of zebra, bgpd, bfdd
		{"leaf9", 0, `"leaf9": no such node; nodes with a routing daemon: leaf1, leaf2, spine3, spine4`},
		{"server1", 0, `"server1" is a server and runs no routing daemon`},
		{"", 0, "no such node"},
	} {
		n, idx, err := restartTarget(s, tc.node)
		if tc.err == "" {
			if err != nil || n.Name != tc.node || idx != tc.idx {
				t.Errorf("restartTarget(%s) = %v, %d, %v; want pid index %d", tc.node, n, idx, err, tc.idx)
			}
			continue
		}
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ie) {
			t.Errorf("restartTarget(%s): %v; want an input error with %q", tc.node, err, tc.err)
		}
	}
	// A crashed node has no daemon to restart; an isolated one has, and a
	// failed link is no reason to refuse either.
	s.Failures = []Failure{{Target: "leaf1", Mode: ModeNode}, {Target: "spine3", Mode: ModeIsolate}, {Target: "leaf2:swp1", Mode: ModeLink}}
	if _, _, err := restartTarget(s, "leaf1"); err == nil || !strings.Contains(err.Error(), "clos lab restore leaf1") {
		t.Errorf("restart of crashed leaf1: %v; want the hint to restore it", err)
	}
	for _, n := range []string{"spine3", "leaf2"} {
		if _, _, err := restartTarget(s, n); err != nil {
			t.Errorf("restart of %s: %v", n, err)
		}
	}
	s.Failures = nil
	s.Nodes[0].Kind = "bird"
	if _, _, err := restartTarget(s, s.Nodes[0].Name); err == nil || !strings.Contains(err.Error(), "supports closd, and FRR's bgpd") {
		t.Errorf("restart of a bird node: %v", err)
	}
}

func TestRestartOptions(t *testing.T) {
	for _, tc := range []struct {
		o  RestartOptions
		ok bool
	}{
		{RestartOptions{}, true},
		{RestartOptions{Stop: time.Second, Wait: -1}, true},
		{RestartOptions{Stop: -time.Second}, false},
		{RestartOptions{Stop: 6 * time.Minute}, false},
		{RestartOptions{Wait: 11 * time.Minute}, false},
	} {
		if err := tc.o.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.o, err, tc.ok)
		}
	}
	if o := (RestartOptions{}).filled(); o.Stop != DefaultRestartStop || o.Wait != DefaultRestartWait {
		t.Errorf("defaults: %+v", o)
	}
	if o := (RestartOptions{Wait: -1}).filled(); o.Wait != -1 {
		t.Errorf("no wait became %s", o.Wait)
	}
}

func TestRestartFlows(t *testing.T) {
	f, _ := seed003(t)
	leafOf := map[string]string{}
	for _, h := range f.Servers {
		leafOf[h.Name] = h.Leaf
	}
	for _, tc := range []struct {
		node string
		n    int
		ok   func(e FlowEnds) bool
	}{
		// server1 and server2 are on leaf1, server3 and server4 on leaf2.
		{"leaf1", 8, func(e FlowEnds) bool {
			a, b := leafOf[e.From], leafOf[e.Receivers[0]]
			return a != b && (a == "leaf1" || b == "leaf1")
		}},
		{"spine3", 8, func(e FlowEnds) bool { return leafOf[e.From] != leafOf[e.Receivers[0]] }},
		{"server1", 6, func(e FlowEnds) bool { return e.From == "server1" || e.Receivers[0] == "server1" }},
	} {
		got, err := restartFlows(f, tc.node)
		if err != nil || len(got) != tc.n {
			t.Errorf("restartFlows(%s) = %v, %v; want %d flows", tc.node, got, err, tc.n)
			continue
		}
		for _, e := range got {
			if !tc.ok(e) {
				t.Errorf("restartFlows(%s): %s does not cross it", tc.node, e)
			}
		}
	}
}

func TestRestartAction(t *testing.T) {
	s, f := restartState(t)
	a, err := RestartAction(s, f, "leaf1", RestartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Verb != "restart leaf1" || a.Target != "leaf1" || a.Mode != "restart" || a.Undo != nil || a.Apply == nil || a.Flows == nil {
		t.Errorf("RestartAction(leaf1) = %+v", a)
	}
	if a.Report() != nil {
		t.Errorf("a restart not applied reports %v", a.Report())
	}
	if _, err := RestartAction(s, f, "server2", RestartOptions{}); err == nil {
		t.Errorf("restart of server2 accepted")
	}
	if _, err := RestartAction(s, f, "leaf1", RestartOptions{Stop: -1}); err == nil {
		t.Errorf("a negative stop bound accepted")
	}
	// No pid recorded (a half-made lab): an error, not a signal to pid 0.
	if _, err := Restart(t.Context(), s, f, "leaf1", RestartOptions{}); err == nil || !strings.Contains(err.Error(), "no pid") {
		t.Errorf("restart without a pid: %v", err)
	}
}

func TestRestartResultOutput(t *testing.T) {
	est := 1.25
	r := &RestartResult{Node: "leaf1", Kind: KindClosd, Daemon: "closd", OldPid: 10, NewPid: 20, Signal: "SIGTERM", StoppedMS: 3.5, StartedMS: 150, Sessions: 2, EstablishedS: &est}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"node":"leaf1","kind":"closd","daemon":"closd","old_pid":10,"new_pid":20,"signal":"SIGTERM","killed":false,"stopped_ms":3.5,"started_ms":150,"sessions":2,"established_s":1.25}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	if got := r.String(); got != "restarted leaf1's closd (pid 10 -> 20): exited 4 ms after SIGTERM; answering 150 ms after that; 2 sessions established 1.250 s after the SIGTERM" {
		t.Errorf("String: %q", got)
	}
	r.Sessions = 1
	if got := r.String(); !strings.HasSuffix(got, "; 1 session established 1.250 s after the SIGTERM") {
		t.Errorf("String, one session: %q", got)
	}
	r.Killed, r.StoppedMS, r.EstablishedS = true, 10000, nil
	if got := r.String(); !strings.Contains(got, "killed with SIGKILL") || strings.Contains(got, "established") {
		t.Errorf("String, killed: %q", got)
	}
}

// A verb with nothing to undo (restart, restore) prints no undo lines.
func TestPrintNoUndo(t *testing.T) {
	m := &Measurement{Verb: "restart leaf1", Mode: "restart", noUndo: true, Extra: map[string]any{"killed": false}}
	var b strings.Builder
	m.Print(&b)
	if strings.Contains(b.String(), "undo") || strings.Contains(b.String(), "full ECMP") || !strings.Contains(b.String(), "restart: killed=false") {
		t.Errorf("Print without undo:\n%s", b.String())
	}
}
