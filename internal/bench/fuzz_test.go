package bench

import (
	"bytes"
	"testing"
)

// FuzzProcParsers: what /proc holds never crashes the parsers, and a
// parsed stat line's fields come from the line.
func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("4242 (bgpd) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 37 0 0 20 0 5 0 100 1000 200 0\n"))
	f.Add([]byte("1 (a) b) Z 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 0"))
	f.Add([]byte("Rss: 1 kB\nPss: 1536 kB\n"))
	f.Add([]byte("Pss: 18446744073709551615 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseStat(b); err == nil && (!bytes.Contains(b, []byte(")")) || len(b) < 27) {
			t.Errorf("parseStat(%q) accepted a line with no command or too few fields", b)
		}
		parsePss(b)
		parseVersion(string(b))
	})
}
