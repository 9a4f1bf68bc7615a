package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/lab"
)

func writeLab(t *testing.T, base, name string, nodes []lab.Node) {
	t.Helper()
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(lab.State{Name: name, Prefix: lab.Prefix(name), Nodes: nodes})
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNodeSocket(t *testing.T) {
	base := t.TempDir()
	writeLab(t, base, "one", []lab.Node{{Name: "leaf1", Kind: lab.KindClosd, Socket: "/x/one/leaf1.sock"}, {Name: "spine1", Kind: lab.KindFRR}})
	for _, tc := range []struct {
		lab, node, want, err string
	}{
		{"", "leaf1", "/x/one/leaf1.sock", ""},
		{"one", "leaf1", "/x/one/leaf1.sock", ""},
		{"", "spine1", "", "runs FRR"},
		{"", "sw9", "/run/closd/sw9.sock", ""},
		{"one", "sw9", "", "lab one has no node sw9"},
		{"two", "leaf1", "", `no lab named "two"`},
	} {
		got, err := nodeSocket(base, tc.lab, tc.node)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("nodeSocket(%q, %q) = %q, %v; want %q, %q", tc.lab, tc.node, got, err, tc.want, tc.err)
		}
	}
	writeLab(t, base, "two", []lab.Node{{Name: "leaf1", Kind: lab.KindClosd, Socket: "/x/two/leaf1.sock"}})
	if _, err := nodeSocket(base, "", "leaf1"); err == nil || !strings.Contains(err.Error(), "--lab") {
		t.Errorf("two labs with leaf1: %v", err)
	}
	if got, err := nodeSocket(base, "two", "leaf1"); err != nil || got != "/x/two/leaf1.sock" {
		t.Errorf("--lab two: %q %v", got, err)
	}
}
