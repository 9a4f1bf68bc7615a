package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - address: 10.1.0.0\n    remote-as: external\n"), 0o644)
	os.WriteFile(bad, []byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - address: 10.1.0.0\n    remote_as: 65002\n"), 0o644)

	for _, tc := range []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"valid", []string{"--check-config", good}, 0, "valid"},
		{"unknown field names file, line and field", []string{"--check-config", bad}, 2, "bad.yaml:5"},
		{"missing file", []string{"--check-config", filepath.Join(dir, "none.yaml")}, 2, "none.yaml"},
		{"stray argument", []string{"run"}, 2, "unexpected argument"},
		// Running needs the daemon loop, which this build lacks: it must
		// fail, not pretend to run.
		{"run refuses", []string{"--config", good}, 1, "no daemon loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := run(tc.args, &out, &errb)
			if got != tc.status {
				t.Fatalf("status %d, want %d; stderr: %s", got, tc.status, errb.String())
			}
			if !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Fatalf("output %q lacks %q", out.String()+errb.String(), tc.want)
			}
		})
	}
}
