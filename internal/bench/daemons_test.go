package bench

import (
	"strings"
	"testing"

	"github.com/closnet/clos/internal/config"
)

func TestParseDaemons(t *testing.T) {
	got, err := ParseDaemons("closd, frr,gobgp")
	if err != nil || strings.Join(got, ",") != "closd,frr,gobgp" {
		t.Errorf("ParseDaemons = %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"closd,quagga": `unknown daemon "quagga"; valid: closd, frr, bird, gobgp`,
		"frr,frr":      "frr is listed twice",
		"":             `unknown daemon ""`,
	} {
		if _, err := ParseDaemons(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDaemons(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestLayout(t *testing.T) {
	l := newLayout("/x", true, false)
	if len(l.feeders()) != 2 || l.sink().role != "sink" || l.sink().peerAS != sinkAS {
		t.Fatalf("layout %+v", l.links)
	}
	seen := map[string]bool{}
	for _, k := range l.links {
		for _, a := range []string{k.dut.String(), k.peer.String(), k.peerID.String()} {
			if a == dutID.String() || (seen[a] && a != k.peerID.String()) {
				t.Errorf("address %s used twice", a)
			}
			seen[a] = true
		}
		if !strings.HasPrefix(k.dut.String(), "10.") {
			t.Errorf("link address %s outside 10/8, where the generated prefixes are not", k.dut)
		}
	}
	if len(newLayout("/x", false, false).feeders()) != 1 {
		t.Error("one feeder without ECMP")
	}
}

// TestSpecs checks that each daemon's config names every session and
// keeps the kernel out unless asked, and that closd's config is valid.
func TestSpecs(t *testing.T) {
	o := &Options{Closd: "/bin/closd"}
	for _, fib := range []bool{false, true} {
		l := newLayout("/run/x", true, fib)
		for _, d := range DefaultDaemons {
			s, err := l.spec(d, o)
			if err != nil {
				t.Fatal(err)
			}
			var all string
			for _, text := range s.files {
				all += text
			}
			for _, k := range l.links {
				if !strings.Contains(all, k.peer.String()) {
					t.Errorf("%s: config lacks neighbor %s:\n%s", d, k.peer, all)
				}
			}
			if s.fib != (fib && daemons[d].canFIB) {
				t.Errorf("%s fib=%v: spec says it programs the kernel: %v", d, fib, s.fib)
			}
			args := strings.Join(s.procs[len(s.procs)-1].args, " ")
			switch d {
			case Closd:
				if strings.Contains(args, "--fib=false") == fib {
					t.Errorf("closd fib=%v: %s", fib, args)
				}
				if _, err := config.Parse("closd.yaml", []byte(s.files["closd.yaml"])); err != nil {
					t.Errorf("closd config: %v\n%s", err, s.files["closd.yaml"])
				}
			case FRR:
				if strings.Contains(args, "-Z") == fib || (len(s.procs) == 2) != fib {
					t.Errorf("frr fib=%v: %d processes, bgpd %s", fib, len(s.procs), args)
				}
				if !strings.Contains(all, "frr defaults datacenter") {
					t.Error("frr without the datacenter profile sends with a 30 s advertisement interval")
				}
			case BIRD:
				if strings.Contains(all, "protocol kernel") != fib {
					t.Errorf("bird fib=%v:\n%s", fib, all)
				}
			}
		}
	}
	if _, err := newLayout("/x", false, false).spec("quagga", o); err == nil {
		t.Error("an unknown daemon has a spec")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	if o.Prefixes != DefaultPrefixes || o.Runs != 1 || len(o.Daemons) != 4 || o.Timeout <= 0 {
		t.Errorf("defaults: %+v", o)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Prefixes: -5}, "--prefixes"},
		{Options{Prefixes: MaxPrefixes + 1}, "--prefixes"},
		{Options{Runs: 101}, "--runs 101"},
		{Options{Runs: -1}, "--runs -1"},
		{Options{PerUpdate: -1}, "--per-update"},
		{Options{Timeout: -1}, "--timeout"},
		{Options{Daemons: []string{"quagga"}}, "unknown daemon"},
	} {
		if err := tc.o.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
