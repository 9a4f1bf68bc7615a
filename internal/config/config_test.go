package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpOpts = []cmp.Option{cmpopts.EquateComparable(netipTypes...)}

func TestParseFullExample(t *testing.T) {
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.ASN != 4200000001 || c.RouterID.String() != "10.0.0.1" {
		t.Errorf("asn/router-id = %d/%s", c.ASN, c.RouterID)
	}
	if len(c.Neighbors) != 4 {
		t.Fatalf("neighbors = %d, want 4", len(c.Neighbors))
	}
	n1 := c.Neighbors[1]
	if n1.RemoteAS.Kind != ASExternal || n1.BFD != (NeighborBFD{Enabled: true, Interval: 50, Multiplier: 5}) {
		t.Errorf("neighbor 1 = %+v", n1)
	}
	if got := c.Neighbors[1].Families; !cmp.Equal(got, []string{IPv4Unicast, IPv6Unicast}) {
		t.Errorf("unnumbered default families = %v", got)
	}
	n2 := c.Neighbors[2]
	if !n2.RemoteAS.Contains(65250) || n2.RemoteAS.Contains(65150) || !n2.RemoteAS.Contains(65100) {
		t.Errorf("dynamic remote-as = %+v", n2.RemoteAS)
	}
	if *c.Policy.RouteMaps[0].Entries[0].Set.MED != 0 || *c.Policy.RouteMaps[0].Entries[0].Set.LocalPref != 200 {
		t.Errorf("set = %+v", c.Policy.RouteMaps[0].Entries[0].Set)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - address: 10.1.0.1\n    remote-as: 65002\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.Port != 179 || c.BGP.MaxPaths != 64 || c.BGP.BFD != (BFD{300, 3}) || c.Role != "switch" ||
		c.Log != (Log{"info", "text"}) || c.Metrics.Address != "" || c.BGP.Timers != (Timers{3, 9}) {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got := c.Neighbors[0].Families; !cmp.Equal(got, []string{IPv4Unicast}) {
		t.Errorf("families = %v", got)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/full.yaml"} {
		c, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c)
	}
}

// roundTrip marshals c, parses the result again and fails t unless that
// gives c back and marshals to the same text; it returns the text.
func roundTrip(t testing.TB, c *Config) []byte {
	t.Helper()
	out, err := c.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	c2, err := Parse("marshalled", out)
	if err != nil {
		t.Fatalf("marshalled config does not parse again: %v\n%s", err, out)
	}
	if d := cmp.Diff(c, c2, cmpOpts...); d != "" {
		t.Errorf("round trip differs (-want +got):\n%s\n%s", d, out)
	}
	if out2, _ := c2.Marshal(); string(out) != string(out2) {
		t.Errorf("Marshal is not canonical:\n%s\n---\n%s", out, out2)
	}
	return out
}

// wantParseErrors parses in as file and fails t unless that fails with
// an error holding every one of want.
func wantParseErrors(t *testing.T, file, in string, want []string) {
	t.Helper()
	_, err := Parse(file, []byte(in))
	if err == nil {
		t.Fatalf("no error for\n%s", in)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
		}
	}
}

func TestErrors(t *testing.T) {
	const base = "router-id: 10.0.0.1\nasn: 65001\n"
	for _, tc := range []struct {
		name, in string
		want     []string // substrings, every one must appear
	}{
		{"unknown snake", base + "neighbors:\n  - address: 10.1.0.1\n    remote_as: 65002\n",
			[]string{"x.yaml:5: neighbors[0].remote_as: unknown field; did you mean remote-as? valid: address,"}},
		{"typo top", base + "max-path: 3\n", []string{"x.yaml:3: max-path: unknown field; valid: aggregates,"}},
		{"bad router-id", "router-id: fd00::1\nasn: 1\n", []string{"x.yaml:1: router-id: fd00::1 is not usable; want a non-zero IPv4 address"}},
		{"bad addr", "router-id: 10.0.0.300\nasn: 1\n", []string{`x.yaml:1: router-id: invalid an IP address`}},
		{"asn type", "router-id: 10.0.0.1\nasn: [1]\n", []string{"x.yaml:2: asn: got a list; want an integer 0..4294967295"}},
		{"asn big", "router-id: 10.0.0.1\nasn: 4294967296\n", []string{"x.yaml:2: asn: got \"4294967296\"; want an integer 0..4294967295"}},
		{"hold", base + "bgp:\n  timers: {keepalive: 1, hold: 2}\n", []string{"x.yaml:4: bgp.timers.hold: 2; want 0 (no keepalives) or 3..65535"}},
		{"role", base + "role: router\n", []string{`x.yaml:3: role: "router"; valid: switch, host`}},
		{"log", base + "log: {level: loud, format: xml}\n", []string{`log.level: "loud"; valid: debug`, `log.format: "xml"; valid: text, json`}},
		{"prefix host bits", base + "networks: [10.0.0.1/24]\n", []string{"x.yaml:3: networks[0]: 10.0.0.1/24 has host bits set; want 10.0.0.0/24"}},
		{"route-map ref", base + "neighbors:\n  - address: 10.1.0.1\n    remote-as: external\n    route-map: {in: NOPE}\n",
			[]string{`x.yaml:6: neighbors[0].route-map.in: "NOPE" is not defined; defined route-maps: (none)`}},
		{"prefix-list ref", base + "policy:\n  route-maps:\n    - name: A\n      entries:\n        - {seq: 10, action: permit, match: {prefix-list: PL}}\n",
			[]string{`policy.route-maps[0].entries[0].match.prefix-list: "PL" is not defined`}},
		{"two ids", base + "neighbors:\n  - address: 10.1.0.1\n    interface: swp1\n    remote-as: 1\n", []string{"neighbors[0]: give exactly one of address, interface, listen-range (got 2)"}},
		{"range on static", base + "neighbors:\n  - address: 10.1.0.1\n    remote-as: 65100-65199\n", []string{"only applies to a listen-range neighbor"}},
		{"bad remote-as", base + "neighbors:\n  - address: 10.1.0.1\n    remote-as: ebgp\n", []string{`x.yaml:5: neighbors[0].remote-as: bad ASN "ebgp"; want an ASN`}},
		{"bfd", base + "neighbors:\n  - address: 10.1.0.1\n    remote-as: 2\n    bfd: {interval: 5}\n", []string{"neighbors[0].bfd.interval: 5 ms; want 10..60000"}},
		{"bfd kind", base + "neighbors:\n  - address: 10.1.0.1\n    remote-as: 2\n    bfd: maybe\n", []string{`neighbors[0].bfd: got "maybe"; want true, false`}},
		{"dup neighbor", base + "neighbors:\n  - {address: 10.1.0.1, remote-as: 2}\n  - {address: 10.1.0.1, remote-as: 3}\n", []string{"neighbors[1]: 10.1.0.1 is already neighbors[0]"}},
		{"ge le", base + "policy:\n  prefix-lists:\n    - name: P\n      entries:\n        - {seq: 5, action: allow, prefix: 10.0.0.0/8, ge: 4, le: 40}\n",
			[]string{`entries[0].action: "allow"; valid: permit, deny`, "entries[0].ge: 4; want 9..32", "entries[0].le: 40; want 9..32"}},
		{"not a map", "- a\n- b\n", []string{"x.yaml:1: got a list at the top"}},
		{"not yaml", "a: [\n", []string{"x.yaml: not valid YAML"}},
		{"empty", "", []string{"x.yaml:1: empty file"}},
		{"dup key", base + "asn: 3\n", []string{"x.yaml:3: asn: given twice"}},
		{"alias", "router-id: &a 10.0.0.1\nasn: 1\nlisten: {address: *a}\n", []string{"listen.address: YAML aliases are not supported"}},
		{"metrics", base + "metrics: {address: nowhere}\n", []string{`metrics.address: "nowhere"; want ADDRESS:PORT`}},
		{"community", base + "policy:\n  community-lists:\n    - name: C\n      entries: [{action: permit, community: '70000:1'}]\n", []string{`community: "70000:1"; want ASN:VALUE`}},
		{"regex", base + "policy:\n  as-path-lists:\n    - name: A\n      entries: [{action: permit, regex: '(('}]\n", []string{`regex: "((" is not a valid regular expression`}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantParseErrors(t, "x.yaml", tc.in, tc.want) })
	}
}

func TestDocsExampleParses(t *testing.T) {
	// docs/config.md carries the full example; keep it loadable.
	data, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Skip("docs/config.md not present")
	}
	s := string(data)
	i := strings.Index(s, "```yaml\n")
	if i < 0 {
		t.Fatal("docs/config.md has no yaml block")
	}
	s = s[i+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	if _, err := Parse("docs/config.md", []byte(s)); err != nil {
		t.Fatal(err)
	}
}
