package wire_test

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/bgp/wire"
)

// A capture is one direction of a real session recorded by
// scripts/capture-bgp.sh (see docs/wire-testing.md).
type capture struct {
	name     string // file name without .hex
	from, to string // daemon names: frr, bird, gobgp
	header   string
	opts     wire.Options // the receiver's view of the session
	msgs     [][]byte
}

var captureFamilies = map[string]wire.Family{"ipv4-unicast": wire.IPv4Unicast, "ipv6-unicast": wire.IPv6Unicast}

func familySet(t testing.TB, file, v string) map[wire.Family]bool {
	if v == "-" {
		return nil
	}
	m := map[wire.Family]bool{}
	for _, f := range strings.Split(v, ",") {
		fam, ok := captureFamilies[f]
		if !ok {
			t.Fatalf("%s: header names unknown family %q", file, f)
		}
		m[fam] = true
	}
	return m
}

func loadCapture(t testing.TB, path string) *capture {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &capture{name: strings.TrimSuffix(filepath.Base(path), ".hex")}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		if h, ok := strings.CutPrefix(s, "# "); ok {
			if c.header != "" {
				t.Fatalf("%s:%d: second header line", path, line)
			}
			c.header = h
			for _, kv := range strings.Fields(h) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "from":
					c.from, _, _ = strings.Cut(v, "/")
				case "to":
					c.to, _, _ = strings.Cut(v, "/")
				case "as4":
					c.opts.AS4 = v == "1"
				case "extmsg":
					c.opts.ExtendedMessage = v == "1"
				case "addpath":
					c.opts.AddPathRecv = familySet(t, path, v)
				case "enh":
					c.opts.ExtendedNextHop = familySet(t, path, v)
				default:
					t.Fatalf("%s:%d: unknown header field %q", path, line, k)
				}
			}
			continue
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		c.msgs = append(c.msgs, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if c.header == "" || c.from == "" || c.to == "" {
		t.Fatalf("%s: missing or incomplete header line", path)
	}
	return c
}

func loadCaptures(t testing.TB) []*capture {
	files, err := filepath.Glob("testdata/captures/*.hex")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("found %d capture files, want 6 (3 pairs x 2 directions): %v", len(files), files)
	}
	var cs []*capture
	for _, f := range files {
		cs = append(cs, loadCapture(t, f))
	}
	return cs
}

// senderOpts is the same session seen from the sender: what it sends with
// path identifiers, we would send with them.
func senderOpts(o wire.Options) *wire.Options {
	s := o
	s.AddPathSend = o.AddPathRecv
	s.AddPathRecv = nil
	return &s
}
