package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--daemons", "closd,quagga"}, 2, `unknown daemon "quagga"; valid: closd, frr, bird, gobgp`},
		{[]string{"--daemons", "frr,frr"}, 2, "frr is listed twice"},
		{[]string{"--prefixes", "0"}, 2, "--prefixes 0: want 1..2000000"},
		{[]string{"--prefixes", "2000001"}, 2, "--prefixes: 2000001 prefixes: want 1..2000000"},
		{[]string{"--prefixes", "lots"}, 2, `invalid value "lots" for flag -prefixes`},
		{[]string{"--runs", "0"}, 2, "--runs 0: want 1..100"},
		{[]string{"--per-update", "-3"}, 2, "--per-update -3"},
		{[]string{"--timeout", "soon"}, 2, `invalid value "soon" for flag -timeout`},
		{[]string{"--closd", "/nonexistent/closd", "--daemons", "closd"}, 2, "--closd /nonexistent/closd: stat /nonexistent/closd: no such file or directory"},
		{[]string{"--timeout", "-1s"}, 2, "--timeout -1s: want a positive duration"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"bench"}, tc.args...), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"bench", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage: clos bench") || !strings.Contains(out.String(), "-prefixes") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
