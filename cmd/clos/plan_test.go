package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/plan"
)

func runClos(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPlanSeed003WritesEverything(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runClos("plan", "--preset", "seed-003", "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "4 switches, 4 servers") || !strings.Contains(out, "oversubscription leaf 0.25:1") {
		t.Errorf("stdout = %q", out)
	}
	for _, f := range []string{"fabric.yaml", "closd/leaf1.yaml", "closd/spine4.yaml", "frr/leaf2/frr.conf", "frr/spine3/frr.conf",
		"frr/daemons", "fabric.clab.yml", "fabric.dot", "fabric.mmd", "cabling.md", "cabling.csv", "ip-plan.md", "ip-plan.csv",
		"asn-plan.md", "asn-plan.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "closd", "server1.yaml")); err == nil {
		t.Error("servers in subnet mode must get no closd config")
	}
	f, err := plan.ReadFabric(filepath.Join(dir, "fabric.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Nodes {
		if _, err := config.Load(filepath.Join(dir, n.Closd)); err != nil {
			t.Errorf("%s: %v", n.Closd, err)
		}
	}
	// Same intent, byte-identical files.
	dir2 := t.TempDir()
	if code, _, errs := runClos("plan", "--preset", "seed-003", "-o", dir2); code != 0 {
		t.Fatal(errs)
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		a, _ := os.ReadFile(path)
		b, _ := os.ReadFile(filepath.Join(dir2, rel))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs", rel)
		}
		return nil
	})
}

func TestPlanBadInput(t *testing.T) {
	dir := t.TempDir()
	notYAML := filepath.Join(dir, "intent.yaml")
	_ = os.WriteFile(notYAML, []byte("stages: [3\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--servers-per-leaf", "-1"}, "clos plan: servers-per-leaf: -1; want 0 or more"},
		{[]string{"--leaves-per-pod", "0"}, "clos plan: --leaves-per-pod: 0; want 1 or more"},
		{[]string{"--links", "10.1.0.0/28"}, "clos plan: pools.links-ipv4: 10.1.0.0/28 gives leaf uplinks 8 addresses"},
		{[]string{"--intent", notYAML}, "clos plan: " + notYAML + ": not valid YAML"},
		{[]string{"--intent", filepath.Join(dir, "missing.yaml")}, "clos plan: --intent: open"},
		{[]string{"--preset", "huge"}, `clos plan: --preset "huge": unknown; valid: seed-003, rfc7938-3stage, rfc7938-5stage`},
		{[]string{"--hosts", "ip"}, `clos plan: hosts: "ip"; valid: subnet`},
		{[]string{"--hosts", "bgp", "--anycast", "dns"}, `clos plan: --anycast: "dns": want NAME=PREFIX`},
		{[]string{"--anycast", "dns=10.255.0.53/32:server1"}, "clos plan: anycast: services run on hosts that speak BGP"},
		{[]string{"--loopbacks", "10.0.0.0"}, `clos plan: --loopbacks: "10.0.0.0" is not a prefix`},
		{[]string{"--stages", "4"}, "clos plan: --stages: 4; valid: 3 or 5"},
		{[]string{"--spines-per-plane", "4", "--leaf-uplinks", "6"}, "odd radix"},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		args := append([]string{"plan"}, tc.args...)
		args = append(args, "-o", filepath.Join(dir, "out"))
		code, _, errs := runClos(args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, errs)
		}
		if !strings.Contains(errs, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errs, tc.want)
		}
		for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
			if line == "" {
				t.Errorf("%v: empty error line", tc.args)
			}
		}
	}
	if code, _, errs := runClos("plan", "--preset", "seed-003"); code != 2 || !strings.Contains(errs, "missing -o DIR") {
		t.Errorf("no -o: exit %d %q", code, errs)
	}
}

func TestPlanHelpDocumentsEveryFlag(t *testing.T) {
	code, out, _ := runClos("plan", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	f := newPlanFlags(&bytes.Buffer{})
	f.fs.VisitAll(func(fl *flag.Flag) {
		if !strings.Contains(out, "-"+fl.Name) {
			t.Errorf("--help does not mention -%s", fl.Name)
		}
		if !strings.Contains(fl.Usage, "e.g.") {
			t.Errorf("-%s has no example in its help", fl.Name)
		}
	})
	if !strings.Contains(out, "clos plan --preset seed-003 -o lab") {
		t.Error("--help lacks the examples")
	}
}

func TestPlanWarnsOnOversubscription(t *testing.T) {
	code, _, errs := runClos("plan", "--servers-per-leaf", "40", "--oversubscription-warn", "2", "--server-subnet-length", "25", "-o", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "clos plan: warning: oversubscription: leaf 5.00:1") {
		t.Errorf("stderr = %q", errs)
	}
}

func TestPlanLayersPresetIntentFlags(t *testing.T) {
	dir := t.TempDir()
	intent := filepath.Join(dir, "intent.yaml")
	_ = os.WriteFile(intent, []byte("leaves-per-pod: 3\nservers-per-leaf: 1\ncapacity: {servers-per-leaf: 2}\n"), 0o644)
	out := filepath.Join(dir, "out")
	code, _, errs := runClos("plan", "--preset", "seed-003", "--intent", intent, "--servers-per-leaf", "2", "--bfd=false", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f, err := plan.ReadFabric(filepath.Join(out, "fabric.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// preset: spines 3 and 4; intent: 3 leaves; flag: 2 servers each, BFD off.
	if f.Summary.Switches != 5 || f.Summary.Servers != 6 || f.BFD.Enabled || f.Nodes[3].Name != "spine3" {
		t.Errorf("layering wrong: %+v first spine %s", f.Summary, f.Nodes[3].Name)
	}
	conf, _ := os.ReadFile(filepath.Join(out, "frr", "leaf3", "frr.conf"))
	if strings.Contains(string(conf), "bfd") {
		t.Error("--bfd=false left BFD in frr.conf")
	}
}

// TestPlanLinkAddressingOverPreset: --link-addressing on a preset drops the
// preset's link pool the new mode does not use (seed-003 has an IPv4 one),
// instead of refusing (unnumbered) or quietly numbering IPv4 too (ipv6).
func TestPlanLinkAddressingOverPreset(t *testing.T) {
	for _, mode := range []string{"ipv6", "unnumbered"} {
		out := filepath.Join(t.TempDir(), "out")
		code, _, errs := runClos("plan", "--preset", "seed-003", "--link-addressing", mode,
			"--loopbacks6", "fd00:ff::/64", "--servers6", "fd00:2::/48", "-o", out)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", mode, code, errs)
			continue
		}
		f, err := plan.ReadFabric(filepath.Join(out, "fabric.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range f.Nodes {
			for _, ifc := range n.Interfaces {
				for _, a := range ifc.Addresses {
					if ifc.Kind == plan.KindFabric && a.Addr().Is4() {
						t.Errorf("%s: %s:%s has IPv4 address %s", mode, n.Name, ifc.Name, a)
					}
				}
			}
		}
	}
	// Given explicitly, a pool the mode cannot use is still an error.
	code, _, errs := runClos("plan", "--preset", "seed-003", "--link-addressing", "ipv6", "--links", "10.9.0.0/24", "-o", filepath.Join(t.TempDir(), "x"))
	if code != 2 || !strings.Contains(errs, "pools.links-ipv4") {
		t.Errorf("ipv6 with --links: exit %d: %s", code, errs)
	}
}
