package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestLabMoveArguments(t *testing.T) {
	t.Setenv("CLOS_LAB_DIR", t.TempDir())
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"lab", "--help"}, 0, "clos lab move server1 --to leaf2"},
		{[]string{"lab", "move", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"lab", "move", "server1", "--to", "leaf2"}, 1, "no lab is up"},
		{[]string{"lab", "move", "--name", "nolab", "server1", "--to", "leaf2"}, 1, `no lab named "nolab"`},
		{[]string{"lab", "measure", "--", "move", "server1", "--to", "leaf2"}, 1, "no lab is up"},
		{[]string{"lab", "measure", "--", "graph"}, 2, "move"},
	} {
		var out, errb bytes.Buffer
		got := run(tc.args, &out, &errb)
		if got != tc.status || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("clos %v: status %d, output %q; want %d and %q", tc.args, got, out.String()+errb.String(), tc.status, tc.want)
		}
	}
}
