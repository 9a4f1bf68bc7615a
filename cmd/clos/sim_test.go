package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimSeed003(t *testing.T) {
	code, out, errs := runClos("sim", "--preset", "seed-003", "--fail", "spine3", "--restore")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{"fabric seed-003: 3-stage, 4 speakers", "initial convergence", "fail spine3", "restore all", "Go heap"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSimJSONFromFabricFile(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runClos("plan", "--preset", "seed-003", "-o", dir); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runClos("sim", filepath.Join(dir, "fabric.yaml"), "--fail-silent", "leaf1:swp1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Fabric struct{ Speakers int }
		Events []struct {
			Event         string
			ConvergenceMS float64 `json:"convergence_ms"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Fabric.Speakers != 4 || len(rep.Events) != 2 || rep.Events[1].Event != "fail-silent leaf1:swp1--spine3:swp1" || rep.Events[1].ConvergenceMS < 300 {
		t.Errorf("report: %+v", rep)
	}
}

func TestSimHelp(t *testing.T) {
	code, out, _ := runClos("sim", "--help")
	if code != 0 || !strings.Contains(out, "usage: clos sim") || !strings.Contains(out, "-fail-silent") || !strings.Contains(out, "-leaves-per-pod") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestSimSizeFlags(t *testing.T) {
	code, out, errs := runClos("sim", "--preset", "rfc7938-3stage", "--leaves-per-pod", "3", "--spines-per-plane", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"speakers": 5`) {
		t.Errorf("want 3 leaves and 2 spines:\n%s", out)
	}
}

func TestSimBadInput(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runClos("plan", "--preset", "seed-003", "-o", dir); code != 0 {
		t.Fatal(errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "seed-003", "--fail", "spine9"}, `"spine9" is not a switch`},
		{[]string{"--preset", "seed-003", "--restore"}, "nothing has failed before it"},
		{[]string{"--preset", "seed-003", "--stages", "4"}, "--stages: 4; valid: 3 or 5"},
		{[]string{"--preset", "seed-003", "--link-delay", "-1ms"}, "--link-delay: -1ms; want a duration"},
		{[]string{"--preset", "dci"}, `hosts: "neighbor"`},
		{[]string{filepath.Join(dir, "fabric.yaml"), "--pods", "2"}, "a fabric.yaml is a finished plan; --pods apply"},
		{[]string{"a.yaml", "b.yaml"}, "want at most one FABRIC.yaml argument, got 2"},
		{[]string{"--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{[]string{"--preset", "seed-003", "--host-speakers"}, "servers: only a hosts: bgp plan runs BGP on its servers; this one has hosts: subnet"},
		{[]string{"--preset", "seed-003", "--hosts", "bgp", "--anycast", "dns=nope"}, "--anycast: "},
		{[]string{"--preset", "seed-003", "--max-heap", "lots"}, `--max-heap: "lots"; want a size like 16GiB`},
		{[]string{"--preset", "seed-003", "--max-heap", "10KiB"}, "--max-heap: 4 speakers x 6 prefixes would need about"},
		{[]string{"--preset", "seed-003", "--fail", "spine3", "--restore", "spine3"}, "to restore one target write --restore=spine3"},
	} {
		code, _, errs := runClos(append([]string{"sim"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("clos sim %v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}

func TestSimHostSpeakers(t *testing.T) {
	code, out, errs := runClos("sim", "--preset", "seed-003", "--hosts", "bgp", "--anycast", "dns=10.255.0.53/32:server1,server3",
		"--host-speakers", "--fail", "server1", "--restore")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "8 speakers") || !strings.Contains(out, "fail server1") {
		t.Errorf("output:\n%s", out)
	}
}
