package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{nil, 2, "usage: clos"},
		{[]string{"--help"}, 0, "commands:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"sim", "--preset", "nope"}, 2, "--preset \"nope\": unknown; valid: seed-003"},
	} {
		var out, errb bytes.Buffer
		got := run(tc.args, &out, &errb)
		if got != tc.status || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("clos %v: status %d, output %q; want %d and %q", tc.args, got, out.String()+errb.String(), tc.status, tc.want)
		}
	}
}
