package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/lab"
	"github.com/closnet/clos/internal/plan"
)

func TestLabArguments(t *testing.T) {
	t.Setenv("CLOS_LAB_DIR", t.TempDir())
	fabric := filepath.Join(t.TempDir(), "fabric.yaml")
	if err := os.WriteFile(fabric, []byte("version: 1\nname: x\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"lab"}, 2, "usage: clos lab"},
		{[]string{"lab", "--help"}, 0, "clos lab exec server1 -- ping"},
		{[]string{"lab", "frob"}, 2, `unknown verb "frob"`},
		{[]string{"lab", "up"}, 2, "want one FABRIC.yaml"},
		{[]string{"lab", "up", "a.yaml", "b.yaml"}, 2, "got 2"},
		{[]string{"lab", "up", "--kind"}, 2, "flag needs an argument"},
		{[]string{"lab", "up", "--node-kind", "leaf1", "x.yaml"}, 2, "want NODE=KIND"},
		{[]string{"lab", "up", "--wait", "-1s", "x.yaml"}, 2, "--wait"},
		{[]string{"lab", "up", fabric}, 2, "bogus"},
		{[]string{"lab", "up", "--name", "a/b", fabric}, 2, "bogus"},
		{[]string{"lab", "status"}, 1, "no lab is up"},
		{[]string{"lab", "status", "--name", "a b"}, 2, "lab name"},
		{[]string{"lab", "check", "--name", "nolab"}, 1, `no lab named "nolab"`},
		{[]string{"lab", "fail"}, 1, "no lab is up"},
		{[]string{"lab", "exec", "--name", "nolab", "server1", "--", "true"}, 1, `no lab named "nolab"`},
		{[]string{"lab", "down", "--all", "--name", "x"}, 2, "not both"},
		{[]string{"lab", "down", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"lab", "down", "--all"}, 0, "no lab is up"},
		{[]string{"lab", "measure"}, 2, "want -- VERB ARGS"},
		{[]string{"lab", "measure", "--", "graph"}, 2, "cannot be measured; measurable verbs: "},
		{[]string{"lab", "measure", "--", "graph"}, 2, "fail service"},
		{[]string{"lab", "fail", "service"}, 1, "no lab is up"},
		{[]string{"lab", "measure", "--", "fail", "service", "server1:dns"}, 1, "no lab is up"},
		{[]string{"lab", "serve-target", "udp", "127.0.0.1:53"}, 2, `serve-target "udp": want tcp or http`},
		{[]string{"lab", "serve-target"}, 2, "want KIND ADDR"},
		{[]string{"lab", "measure", "--", "restore", "x:y"}, 1, "no lab is up"},
		{[]string{"lab", "measure", "--rate", "5000", "--", "fail", "leaf1:swp1"}, 2, "--rate 5000"},
		{[]string{"lab", "measure", "--", "fail", "leaf1:swp1"}, 1, "no lab is up"},
		{[]string{"lab", "graph"}, 1, "no lab is up"},
		{[]string{"lab", "graph", "--name", "x"}, 1, `no lab named "x"`},
	} {
		var out, errb bytes.Buffer
		got := run(tc.args, &out, &errb)
		if got != tc.status || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("clos %v: status %d, output %q; want %d and %q", tc.args, got, out.String()+errb.String(), tc.status, tc.want)
		}
	}
}

// TestLabVerbTable: a verb another feature registers is dispatched by clos
// lab and by measure, two-word verbs before one-word ones.
func TestLabVerbTable(t *testing.T) {
	ran := ""
	labVerbs["fail test-two"] = labVerb{
		run: func(_ context.Context, args []string, _, _ io.Writer) error {
			ran = strings.Join(args, " ")
			return nil
		},
		action: func(*lab.State, *plan.Fabric, []string, io.Writer) (*lab.Action, error) { return nil, nil },
		usage:  "  fail test-two ARG\n        a verb of the test",
	}
	t.Cleanup(func() { delete(labVerbs, "fail test-two") })
	name, _, rest, ok := findLabVerb([]string{"fail", "test-two", "x"})
	if !ok || name != "fail test-two" || len(rest) != 1 || rest[0] != "x" {
		t.Errorf("findLabVerb(fail test-two x) = %q, %v, %v", name, rest, ok)
	}
	if name, _, rest, ok := findLabVerb([]string{"fail", "leaf1:swp1"}); !ok || name != "fail" || len(rest) != 1 {
		t.Errorf("findLabVerb(fail leaf1:swp1) = %q, %v, %v", name, rest, ok)
	}
	var out, errb bytes.Buffer
	if code := runLab([]string{"fail", "test-two", "a", "b"}, &out, &errb); code != 0 || ran != "a b" {
		t.Errorf("clos lab fail test-two a b: exit %d, ran %q, %s", code, ran, errb.String())
	}
	out.Reset()
	runLab([]string{"--help"}, &out, &errb)
	if !strings.Contains(out.String(), "fail test-two ARG") {
		t.Errorf("--help does not show a registered verb's usage:\n%s", out.String())
	}
	errb.Reset()
	if code := runLab([]string{"measure", "--", "graph"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "fail test-two") {
		t.Errorf("measure -- graph: exit %d, %s; want the measurable verbs listed", code, errb.String())
	}
}
