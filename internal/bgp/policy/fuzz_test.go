package policy

import (
	"encoding/binary"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/closnet/clos/internal/bgp/wire"
)

// FuzzASPathRegex compiles arbitrary expressions of the config language:
// never a panic, an error exactly when Go's parser rejects the expression
// (the "_" rewrite neither hides nor introduces syntax errors), and the
// allocation-free path text agrees with wire.ASPath.String.
func FuzzASPathRegex(f *testing.F) {
	for _, s := range []string{"^65001_", "_65002$", "^$", "_6500[0-9]_", "[]_]_", "[[:digit:]_]", `\_`, "(", "_{2}", "[^_]*_", ".*", "^(65001|65002)_", `\`, "[[:x]_:]"} {
		f.Add(s, []byte{0, 2, 1, 0, 0, 253, 233})
	}
	f.Fuzz(func(t *testing.T, expr string, pathBytes []byte) {
		re, err := CompileASPathRegex(expr)
		_, goErr := regexp.Compile(expr)
		if expr == "" {
			if err == nil {
				t.Fatal("the empty expression compiled")
			}
			return
		}
		if (err == nil) != (goErr == nil) {
			t.Fatalf("%q: CompileASPathRegex error %v, regexp.Compile error %v", expr, err, goErr)
		}
		if !strings.Contains(expr, "_") && err == nil && re.String() != expr {
			t.Fatalf("%q without underscores was rewritten to %q", expr, re.String())
		}
		p := pathFromBytes(pathBytes)
		text := AppendASPath(nil, p)
		if string(text) != p.String() {
			t.Fatalf("AppendASPath %q, String %q", text, p.String())
		}
		if err == nil && re.Match(text) != re.MatchString(p.String()) {
			t.Fatal("byte and string matching disagree")
		}
	})
}

func pathFromBytes(b []byte) wire.ASPath {
	var p wire.ASPath
	for len(b) >= 2 {
		typ := wire.ASPathSegmentType(b[0]%4 + 1)
		n := int(b[1] % 8)
		b = b[2:]
		seg := wire.ASPathSegment{Type: typ}
		for ; n > 0 && len(b) >= 4; n-- {
			seg.ASNs = append(seg.ASNs, binary.BigEndian.Uint32(b))
			b = b[4:]
		}
		p = append(p, seg)
	}
	return p
}

// FuzzApply runs random routes through every route-map of a fixed policy:
// no panic, the input never modified, a deny never carries attributes, and
// a new attribute set only when a set clause really changed something.
func FuzzApply(f *testing.F) {
	s := mustCompile(f, clausePolicy)
	f.Add([]byte{10, 10, 1, 0, 24, 1, 0, 0, 0xfd, 0xe9}, []byte{2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea}, uint8(3), uint32(100), uint32(0))
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 48, 0xfe, 0x80}, []byte{1, 1, 0, 0, 0, 1}, uint8(0xff), uint32(0), uint32(7))
	f.Add([]byte{}, []byte{}, uint8(0), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, route, path []byte, flags uint8, lp, med uint32) {
		p, attrs := routeFromBytes(route, path, flags, lp, med)
		var frozen *wire.PathAttrs
		var key []byte
		if attrs != nil {
			frozen = attrs.Clone()
			key = attrs.AppendKey(nil)
		}
		for name := range s.routeMaps {
			d := s.Apply(name, Route{Prefix: p, Attrs: attrs})
			if attrs != nil && string(attrs.AppendKey(nil)) != string(key) {
				t.Fatalf("%s modified its input:\n%s", name, cmp.Diff(frozen, attrs, cmpAttrs))
			}
			if !d.Permit {
				if d.Attrs != nil {
					t.Fatalf("%s: a deny carried attributes", name)
				}
				continue
			}
			if d.Attrs != attrs {
				old := attrs
				if old == nil {
					old = &wire.PathAttrs{}
				}
				if string(d.Attrs.AppendKey(nil)) == string(old.AppendKey(nil)) {
					t.Fatalf("%s copied the attributes without changing them", name)
				}
			}
		}
		if attrs != nil {
			if diff := cmp.Diff(frozen, attrs, cmpAttrs); diff != "" {
				t.Fatalf("input modified:\n%s", diff)
			}
		}
	})
}

func routeFromBytes(route, path []byte, flags uint8, lp, med uint32) (netip.Prefix, *wire.PathAttrs) {
	var p netip.Prefix
	if len(route) >= 5 && flags&1 == 0 {
		p = netip.PrefixFrom(netip.AddrFrom4([4]byte(route[:4])), int(route[4]%33))
		route = route[5:]
	} else if len(route) >= 17 {
		p = netip.PrefixFrom(netip.AddrFrom16([16]byte(route[:16])), int(route[16]%129))
		route = route[17:]
	} else if len(route) >= 5 {
		var b [16]byte
		copy(b[:], route[:4])
		p = netip.PrefixFrom(netip.AddrFrom16(b), int(route[4]%129))
		route = route[5:]
	}
	if flags&2 != 0 {
		return p, nil
	}
	a := &wire.PathAttrs{ASPath: pathFromBytes(path), HasASPath: flags&4 != 0}
	if flags&8 != 0 {
		a.LocalPref, a.HasLocalPref = lp%300, true
	}
	if flags&16 != 0 {
		a.MED, a.HasMED = med%60, true
	}
	if flags&32 != 0 {
		a.NextHop = netip.AddrFrom4([4]byte{10, 1, 0, byte(lp % 3)})
	}
	if flags&64 != 0 {
		a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr("2001:db8::9")}
		if flags&128 != 0 {
			a.MPReach.LinkLocalNextHop = netip.MustParseAddr("fe80::1")
		}
	}
	for len(route) >= 2 {
		// Draw communities from a small pool so the lists match often.
		pool := []uint32{wire.CommunityNoExport, wire.CommunityGracefulShutdown, 65000<<16 | 1, 65000<<16 | 2, binary.BigEndian.Uint32(append([]byte{0, 0}, route[:2]...))}
		a.Communities = append(a.Communities, pool[int(route[0])%len(pool)])
		route = route[2:]
	}
	return p, a
}
