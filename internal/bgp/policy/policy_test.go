package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// parsePolicy reads a YAML policy section through the real config parser so
// the tests exercise the schema operators write.
func parsePolicy(t testing.TB, policyYAML string) *config.Policy {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte("router-id: 10.0.0.1\nasn: 65000\nrole: switch\n"+policyYAML))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return &c.Policy
}

func mustCompile(t testing.TB, policyYAML string) *Set {
	t.Helper()
	s, err := Compile(parsePolicy(t, policyYAML))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func seq(asns ...uint32) wire.ASPath {
	return wire.ASPath{{Type: wire.ASSequence, ASNs: asns}}
}

func TestPrefixListFRRSemantics(t *testing.T) {
	cases := []struct {
		entry string
		in    []string
		out   []string
	}{
		{"{seq: 5, action: permit, prefix: 10.0.0.0/8, le: 32}",
			[]string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32"},
			[]string{"11.0.0.0/8", "0.0.0.0/0", "10.0.0.0/7", "fd00::/8"}},
		{"{seq: 5, action: permit, prefix: 10.0.0.0/8, ge: 24, le: 24}",
			[]string{"10.1.2.0/24", "10.255.255.0/24"},
			[]string{"10.0.0.0/8", "10.1.0.0/23", "10.1.2.0/25", "11.1.2.0/24"}},
		{"{seq: 5, action: permit, prefix: 0.0.0.0/0}",
			[]string{"0.0.0.0/0"},
			[]string{"10.0.0.0/8", "0.0.0.0/1", "::/0"}},
		{"{seq: 5, action: permit, prefix: 0.0.0.0/0, le: 32}",
			[]string{"0.0.0.0/0", "10.0.0.0/8", "1.2.3.4/32"},
			[]string{"::/0"}},
		{"{seq: 5, action: permit, prefix: 10.10.0.0/16, ge: 24}",
			[]string{"10.10.1.0/24", "10.10.1.1/32"},
			[]string{"10.10.0.0/16", "10.10.0.0/23"}},
		{"{seq: 5, action: permit, prefix: 10.0.0.1/32}",
			[]string{"10.0.0.1/32"},
			[]string{"10.0.0.0/32", "10.0.0.0/31"}},
		{"{seq: 5, action: permit, prefix: \"fd00::/8\", le: 64}",
			[]string{"fd00::/8", "fd12:3456::/48", "fd00:1:2:3::/64"},
			[]string{"fd00::1/128", "fe80::/64", "10.0.0.0/8"}},
		{"{seq: 5, action: permit, prefix: \"::/0\"}",
			[]string{"::/0"},
			[]string{"0.0.0.0/0", "::/1"}},
	}
	for _, c := range cases {
		t.Run(c.entry, func(t *testing.T) {
			s := mustCompile(t, "policy:\n  prefix-lists:\n    - name: L\n      entries:\n        - "+c.entry+"\n")
			l := s.PrefixList("L")
			for _, p := range c.in {
				if permit, matched := l.Match(pfx(p)); !permit || !matched {
					t.Errorf("%s: got permit=%v matched=%v, want a permit", p, permit, matched)
				}
			}
			for _, p := range c.out {
				if permit, matched := l.Match(pfx(p)); permit || matched {
					t.Errorf("%s: got permit=%v matched=%v, want no match (implicit deny)", p, permit, matched)
				}
			}
		})
	}
}

func TestPrefixListSeqOrderAndDeny(t *testing.T) {
	// Entries written out of order: seq decides, not position.
	s := mustCompile(t, `policy:
  prefix-lists:
    - name: L
      entries:
        - {seq: 20, action: permit, prefix: 10.0.0.0/8, le: 32}
        - {seq: 10, action: deny, prefix: 10.66.0.0/16, le: 32}
`)
	l := s.PrefixList("L")
	for p, want := range map[string][2]bool{
		"10.66.1.0/24": {false, true},
		"10.67.1.0/24": {true, true},
		"11.0.0.0/8":   {false, false},
	} {
		permit, matched := l.Match(pfx(p))
		if permit != want[0] || matched != want[1] {
			t.Errorf("%s: got permit=%v matched=%v, want %v %v", p, permit, matched, want[0], want[1])
		}
	}
	// Host bits in the route are ignored, as FRR compares masked prefixes.
	if permit, _ := l.Match(netip.PrefixFrom(netip.MustParseAddr("10.67.1.9"), 24)); !permit {
		t.Error("10.67.1.9/24 should match as 10.67.1.0/24")
	}
	if _, matched := l.Match(netip.Prefix{}); matched {
		t.Error("the invalid prefix matched")
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		p    config.Policy
		want string
	}{
		{"empty prefix list", config.Policy{PrefixLists: []config.PrefixList{{Name: "EMPTY"}}}, `prefix-list "EMPTY" has no entries`},
		{"unnamed list", config.Policy{PrefixLists: []config.PrefixList{{Entries: []config.PrefixListEntry{{Seq: 1, Action: "permit", Prefix: pfx("10.0.0.0/8")}}}}}, "empty name"},
		{"bad action", config.Policy{PrefixLists: []config.PrefixList{{Name: "L", Entries: []config.PrefixListEntry{{Seq: 1, Action: "allow", Prefix: pfx("10.0.0.0/8")}}}}}, `"allow"; valid: permit, deny`},
		{"bad ge", config.Policy{PrefixLists: []config.PrefixList{{Name: "L", Entries: []config.PrefixListEntry{{Seq: 1, Action: "permit", Prefix: pfx("10.0.0.0/8"), GE: 8}}}}}, "ge 8 le 0"},
		{"le beyond 32", config.Policy{PrefixLists: []config.PrefixList{{Name: "L", Entries: []config.PrefixListEntry{{Seq: 1, Action: "permit", Prefix: pfx("10.0.0.0/8"), LE: 33}}}}}, "le 33"},
		{"dup seq", config.Policy{PrefixLists: []config.PrefixList{{Name: "L", Entries: []config.PrefixListEntry{{Seq: 1, Action: "permit", Prefix: pfx("10.0.0.0/8")}, {Seq: 1, Action: "deny", Prefix: pfx("10.0.0.0/8")}}}}}, "unique"},
		{"dup name", config.Policy{CommunityLists: []config.CommunityList{{Name: "C", Entries: []config.CommunityEntry{{Action: "permit", Community: "1:1"}}}, {Name: "C", Entries: []config.CommunityEntry{{Action: "permit", Community: "1:1"}}}}}, `"C" is defined twice`},
		{"bad regex", config.Policy{ASPathLists: []config.ASPathList{{Name: "A", Entries: []config.RegexpEntry{{Action: "permit", Regex: "^(65001"}}}}}, `as-path-list "A" entry 0: regular expression "^(65001"`},
		{"backreference", config.Policy{ASPathLists: []config.ASPathList{{Name: "A", Entries: []config.RegexpEntry{{Action: "permit", Regex: `(1)\1`}}}}}, `as-path-list "A"`},
		{"bad community", config.Policy{CommunityLists: []config.CommunityList{{Name: "C", Entries: []config.CommunityEntry{{Action: "permit", Community: "65536:1"}}}}}, `community "65536:1"`},
		{"unknown prefix list", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM", Entries: []config.RouteMapEntry{{Seq: 10, Action: "permit", Match: config.RouteMapMatch{PrefixList: "NOPE"}}}}}}, `route-map "RM" entry 0 (seq 10): match prefix-list "NOPE" is not defined; defined: (none)`},
		{"unknown as-path list", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM", Entries: []config.RouteMapEntry{{Seq: 10, Action: "permit", Match: config.RouteMapMatch{ASPathList: "NOPE"}}}}}}, `as-path-list "NOPE" is not defined`},
		{"unknown community list", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM", Entries: []config.RouteMapEntry{{Seq: 10, Action: "permit", Match: config.RouteMapMatch{CommunityList: "NOPE"}}}}}}, `community-list "NOPE" is not defined`},
		{"deny with set", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM", Entries: []config.RouteMapEntry{{Seq: 10, Action: "deny", Set: config.RouteMapSet{Prepend: []uint32{1}}}}}}}, "a deny entry drops the route"},
		{"empty route-map", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM"}}}, `route-map "RM" has no entries`},
		{"prepend 0", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM", Entries: []config.RouteMapEntry{{Seq: 10, Action: "permit", Set: config.RouteMapSet{Prepend: []uint32{0}}}}}}}, "ASN 0 is reserved"},
		{"bad set community", config.Policy{RouteMaps: []config.RouteMap{{Name: "RM", Entries: []config.RouteMapEntry{{Seq: 10, Action: "permit", Set: config.RouteMapSet{CommunityAdd: []string{"no-such"}}}}}}}, `set community-add: community "no-such"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(&c.p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if s, err := Compile(nil); err != nil || s.RouteMap("x") != nil {
		t.Fatalf("Compile(nil) = %v, %v; want an empty set", s, err)
	}
}

func TestASPathRegex(t *testing.T) {
	paths := map[string]wire.ASPath{
		"empty":   nil,
		"65001":   seq(65001),
		"65001-2": seq(65001, 65002),
		"165001":  seq(165001, 65002),
		"3-65002": seq(65003, 65002),
		"set":     {{Type: wire.ASSequence, ASNs: []uint32{65010}}, {Type: wire.ASSet, ASNs: []uint32{65002, 65003}}},
		"confed":  {{Type: wire.ASConfedSequence, ASNs: []uint32{65005}}, {Type: wire.ASSequence, ASNs: []uint32{65100}}},
		"4byte":   seq(4200000001, 65001),
	}
	cases := []struct {
		re    string
		match []string
	}{
		{"^65001_", []string{"65001", "65001-2"}},
		{"_65002$", []string{"65001-2", "165001", "3-65002"}},
		{"^$", []string{"empty"}},
		{"_6500[0-9]_", []string{"65001", "65001-2", "165001", "3-65002", "set", "confed", "4byte"}},
		{"_65002_", []string{"65001-2", "165001", "3-65002", "set"}},
		{"_65003_", []string{"3-65002", "set"}},
		{"^65005_", nil},
		{"^\\(65005", []string{"confed"}},
		{"_65001$", []string{"65001", "4byte"}},
		{"^4200000001_", []string{"4byte"}},
		{".*", []string{"empty", "65001", "65001-2", "165001", "3-65002", "set", "confed", "4byte"}},
		{"^[0-9]+$", []string{"65001"}},
		{"[_]", nil},
		{"\\_", nil},
	}
	for _, c := range cases {
		re, err := CompileASPathRegex(c.re)
		if err != nil {
			t.Fatalf("%q: %v", c.re, err)
		}
		for name, p := range paths {
			want := false
			for _, m := range c.match {
				want = want || m == name
			}
			if got := re.MatchString(p.String()); got != want {
				t.Errorf("%q on %q (%s): got %v, want %v (Go regexp %q)", c.re, p.String(), name, got, want, re.String())
			}
		}
	}
	for _, bad := range []string{"", "(", "[65001", `\1`, "a{2,1}", "x**", "_(65001"} {
		_, err := CompileASPathRegex(bad)
		if err == nil {
			t.Errorf("%q compiled; want an error", bad)
		} else if strings.Contains(err.Error(), "(?:^") {
			t.Errorf("%q: the error quotes the rewritten expression: %v", bad, err)
		}
	}
}

func TestTranslateASPathRegex(t *testing.T) {
	for in, want := range map[string]string{
		"^65001_":       "^65001" + delimiter,
		"[_]":           "[_]",
		"[]_]_":         "[]_]" + delimiter,
		"[^]_]":         "[^]_]",
		`\_`:            `\_`,
		"[[:digit:]_]_": "[[:digit:]_]" + delimiter,
		"_":             delimiter,
	} {
		if got := TranslateASPathRegex(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestAppendASPathMatchesString(t *testing.T) {
	p := wire.ASPath{
		{Type: wire.ASConfedSequence, ASNs: []uint32{1, 2}},
		{Type: wire.ASConfedSet, ASNs: []uint32{3, 4}},
		{Type: wire.ASSequence, ASNs: []uint32{65001, 4294967295}},
		{Type: wire.ASSet, ASNs: []uint32{7, 8, 9}},
	}
	if got, want := string(AppendASPath(nil, p)), p.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestASPathListOrder(t *testing.T) {
	s := mustCompile(t, `policy:
  as-path-lists:
    - name: A
      entries:
        - {action: deny, regex: "_65666_"}
        - {action: permit, regex: "^6500[0-9]_"}
`)
	l := s.ASPathList("A")
	for _, c := range []struct {
		p               wire.ASPath
		permit, matched bool
	}{
		{seq(65001, 65002), true, true},
		{seq(65001, 65666), false, true},
		{seq(65100), false, false},
	} {
		if permit, matched := l.Match(c.p); permit != c.permit || matched != c.matched {
			t.Errorf("%s: got %v %v, want %v %v", c.p, permit, matched, c.permit, c.matched)
		}
	}
}

func TestCommunityList(t *testing.T) {
	s := mustCompile(t, `policy:
  community-lists:
    - name: C
      entries:
        - {action: deny, community: graceful-shutdown}
        - {action: permit, community: no-export}
        - {action: permit, community: "65000:100"}
`)
	l := s.CommunityList("C")
	for _, c := range []struct {
		comms           []uint32
		permit, matched bool
	}{
		{nil, false, false},
		{[]uint32{65000<<16 | 100}, true, true},
		{[]uint32{wire.CommunityNoExport}, true, true},
		{[]uint32{65000<<16 | 101}, false, false},
		// Entry order decides, not the order on the route.
		{[]uint32{wire.CommunityNoExport, wire.CommunityGracefulShutdown}, false, true},
	} {
		if permit, matched := l.Match(c.comms); permit != c.permit || matched != c.matched {
			t.Errorf("%v: got %v %v, want %v %v", c.comms, permit, matched, c.permit, c.matched)
		}
	}
	for name, v := range wellKnown {
		got, err := ParseCommunity(name)
		if err != nil || got != v || wire.FormatCommunity(v) != name {
			t.Errorf("%s: ParseCommunity = %#x, %v; FormatCommunity(%#x) = %q", name, got, err, v, wire.FormatCommunity(v))
		}
	}
	for _, bad := range []string{"", "1", "1:", ":1", "65536:0", "0:65536", "-1:2", "NO-EXPORT"} {
		if _, err := ParseCommunity(bad); err == nil {
			t.Errorf("ParseCommunity(%q) succeeded", bad)
		}
	}
}
