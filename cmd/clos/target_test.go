package main

import (
	"encoding/json"
	"io"
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

// FuzzParseTarget feeds arbitrary argument lists (split on NUL) to the
// flag parser shared by show and the admin verbs: it never panics, and a
// successful parse has a socket.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"bgp\x00summary\x00--json", "--socket\x00/x.sock\x00fib", "--node=leaf1\x00--lab\x00one", "--message\x00hi\x00shutdown\x0010.0.0.1", "--\x00--json", "-", "--node", "--json=1", "--socket=a\x00--node=b"} {
		f.Add(s)
	}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		t.Setenv("CLOS_LAB_DIR", base)
		args := strings.Split(s, "\x00")
		tg, ok := parseTarget("show", args, []string{"message TEXT"}, io.Discard)
		if ok && !tg.help && tg.socket == "" {
			t.Fatalf("%q: parsed without a socket", args)
		}
	})
}
