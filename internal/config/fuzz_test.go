package config

import (
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var netipTypes = []any{netip.Addr{}, netip.Prefix{}}

func FuzzParse(f *testing.F) {
	if full, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(full)
	}
	f.Add([]byte("router-id: 10.0.0.1\nasn: 65001\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - interface: swp1\n    remote-as: external\n    bfd: {interval: 100}\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nneighbors: [{listen-range: 10.0.0.0/8, remote-as: [1, 2-3]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		c2, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("accepted config does not re-parse: %v\n%s", err, out)
		}
		if d := cmp.Diff(c, c2, cmpOpts...); d != "" {
			t.Fatalf("round trip differs:\n%s\n%s", d, out)
		}
	})
}
