package plan

import (
	"strings"
	"testing"
)

func TestParseBFDTimers(t *testing.T) {
	for _, tc := range []struct {
		in         string
		iv, m      int
		errContain string
	}{
		{"50x3", 50, 3, ""},
		{"10x3", 10, 3, ""},
		{"300ms x 5", 0, 0, "want INTERVALxMULTIPLIER"},
		{"300msx5", 300, 5, ""},
		{"5x3", 0, 0, "10..60000"},
		{"50x1", 0, 0, "2..255"},
		{"50", 0, 0, "e.g. 50x3"},
		{"", 0, 0, "want"},
	} {
		iv, m, err := ParseBFDTimers(tc.in)
		if tc.errContain != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContain) {
				t.Errorf("%q: err %v, want one containing %q", tc.in, err, tc.errContain)
			}
			continue
		}
		if err != nil || iv != tc.iv || m != tc.m {
			t.Errorf("%q = %d, %d, %v; want %d, %d", tc.in, iv, m, err, tc.iv, tc.m)
		}
	}
}
