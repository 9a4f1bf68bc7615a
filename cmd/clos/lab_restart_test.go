package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestLabRestartArguments(t *testing.T) {
	t.Setenv("CLOS_LAB_DIR", t.TempDir())
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"lab", "--help"}, 0, "clos lab measure --json -- restart leaf1"},
		{[]string{"lab", "restart", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"lab", "restart"}, 2, "want one NODE, got 0 arguments"},
		{[]string{"lab", "restart", "leaf1", "leaf2"}, 2, "want one NODE, got 2 arguments"},
		{[]string{"lab", "restart", "--timeout", "0s", "leaf1"}, 2, "--timeout 0s: want a duration between 1s and 5m"},
		{[]string{"lab", "restart", "--wait", "-1s", "leaf1"}, 2, "--wait -1s"},
		{[]string{"lab", "restart", "--wait", "11m", "leaf1"}, 2, "--wait 11m0s: want at most 10m"},
		{[]string{"lab", "restart", "leaf1"}, 1, "no lab is up"},
		{[]string{"lab", "restart", "--name", "nolab", "leaf1"}, 1, `no lab named "nolab"`},
		{[]string{"lab", "measure", "--", "restart", "leaf1"}, 1, "no lab is up"},
		{[]string{"lab", "measure", "--", "graph"}, 2, "restart"},
	} {
		var out, errb bytes.Buffer
		got := run(tc.args, &out, &errb)
		if got != tc.status || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("clos %v: status %d, output %q; want %d and %q", tc.args, got, out.String()+errb.String(), tc.status, tc.want)
		}
	}
}
