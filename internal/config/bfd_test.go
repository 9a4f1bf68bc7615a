package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const bfdBase = "router-id: 10.0.0.1\nasn: 65001\n"

func TestBFDSectionParses(t *testing.T) {
	in := bfdBase + `bgp:
  bfd: {interval: 200, multiplier: 4}
neighbors:
  - address: 10.1.0.1
    remote-as: 2
    bfd: {profile: fast, auth: {type: keyed-sha1, key-id: 7, key: s3cret}}
  - address: 10.1.0.3
    remote-as: 2
    bfd: true
  - address: 10.1.0.5
    remote-as: 2
    bfd: {strict: true}
bfd:
  profiles:
    - {name: fast, interval: 10, multiplier: 3, auth: {type: simple, key-id: 1, key: pw}}
    - {name: slow, interval: 1000}
  peers:
    - {address: 10.2.0.1, profile: slow, description: static next hop}
    - {address: fe80::1, interface: swp1, multiplier: 5}
    - {address: 10.9.0.1, local: 10.0.0.1, multihop: true, min-ttl: 250, auth: {type: meticulous-keyed-md5, key-id: 2, key: k}}
`
	c, err := Parse("b.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	n0 := c.Neighbors[0].BFD
	got := c.ResolveBFD(n0.Profile, n0.Interval, n0.Multiplier, n0.Auth)
	want := BFDSettings{Interval: 10, Multiplier: 3, Auth: &BFDAuth{Type: BFDAuthKeyedSHA1, KeyID: 7, Key: "s3cret"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("neighbor 0 resolves to (-want +got):\n%s", d)
	}
	n1 := c.Neighbors[1].BFD
	if got := c.ResolveBFD(n1.Profile, n1.Interval, n1.Multiplier, n1.Auth); got != (BFDSettings{Interval: 200, Multiplier: 4}) {
		t.Errorf("neighbor 1 resolves to %+v, want bgp.bfd's 200x4", got)
	}
	if n1.Strict || !c.Neighbors[2].BFD.Strict || !c.Neighbors[2].BFD.Enabled {
		t.Errorf("strict: neighbor 1 %+v, neighbor 2 %+v; want only neighbor 2 strict", n1, c.Neighbors[2].BFD)
	}
	p0 := c.BFD.Peers[0]
	if got := c.ResolveBFD(p0.Profile, p0.Interval, p0.Multiplier, p0.Auth); got != (BFDSettings{Interval: 1000, Multiplier: 4}) {
		t.Errorf("peer 0 resolves to %+v, want the profile's 1000 and bgp.bfd's 4", got)
	}
	if p := c.BFD.Peers[2]; !p.Multihop || p.MinTTL != 250 || p.Local.String() != "10.0.0.1" || p.Auth.Type != BFDAuthMeticulousKeyedMD5 {
		t.Errorf("multihop peer = %+v", p)
	}

	roundTrip(t, c)
}

func TestBFDErrors(t *testing.T) {
	nb := bfdBase + "neighbors:\n  - address: 10.1.0.1\n    remote-as: 2\n    bfd:\n"
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"auth type", nb + "      auth:\n        type: md5\n        key-id: 1\n        key: x\n",
			[]string{`b.yaml:8: neighbors[0].bfd.auth.type: "md5"; valid: simple, keyed-md5, meticulous-keyed-md5, keyed-sha1, meticulous-keyed-sha1`}},
		{"auth key long", nb + "      auth:\n        type: keyed-md5\n        key-id: 1\n        key: 0123456789abcdefX\n",
			[]string{"b.yaml:10: neighbors[0].bfd.auth.key: 17 bytes; want 1..16 for keyed-md5"}},
		{"auth key missing", nb + "      auth: {type: keyed-sha1, key-id: 300}\n",
			[]string{"neighbors[0].bfd.auth.key-id: 300; want 0..255", "neighbors[0].bfd.auth.key: 0 bytes; want 1..20 for keyed-sha1"}},
		{"auth unknown field", nb + "      auth: {type: simple, keyid: 1, key: x}\n",
			[]string{"b.yaml:7: neighbors[0].bfd.auth.keyid: unknown field; did you mean key-id?"}},
		{"neighbor unknown field", nb + "      intervall: 100\n",
			[]string{"b.yaml:7: neighbors[0].bfd.intervall: unknown field; did you mean interval?"}},
		{"neighbor interval", nb + "      interval: 5\n", []string{"b.yaml:7: neighbors[0].bfd.interval: 5 ms; want 10..60000"}},
		{"profile ref", nb + "      profile: nope\n", []string{`b.yaml:7: neighbors[0].bfd.profile: "nope" is not defined; defined bfd profiles: (none)`}},
		{"profile dup", bfdBase + "bfd:\n  profiles:\n    - {name: a}\n    - {name: a, multiplier: 1}\n",
			[]string{`bfd.profiles[1].name: bfd profile "a" defined twice`, "bfd.profiles[1].multiplier: 1; want 2..255"}},
		{"peer no address", bfdBase + "bfd:\n  peers:\n    - {interface: swp1}\n", []string{"b.yaml:5: bfd.peers[0].address: missing"}},
		{"peer link-local", bfdBase + "bfd:\n  peers:\n    - address: fe80::1\n", []string{"bfd.peers[0].interface: missing; a link-local peer"}},
		{"peer multihop", bfdBase + "bfd:\n  peers:\n    - {address: 10.9.0.1, multihop: true, interface: swp1}\n",
			[]string{"bfd.peers[0].local: missing; a multihop session needs the source address", "bfd.peers[0].interface: a multihop session is not tied to a link"}},
		{"peer min-ttl", bfdBase + "bfd:\n  peers:\n    - {address: 10.9.0.1, min-ttl: 200}\n", []string{"bfd.peers[0].min-ttl: 200; want 1..255, and only with multihop: true"}},
		{"peer family", bfdBase + "bfd:\n  peers:\n    - {address: 10.9.0.1, local: 'fd00::1'}\n", []string{"bfd.peers[0].local: fd00::1 and the peer 10.9.0.1 are different address families"}},
		{"peer dup", bfdBase + "bfd:\n  peers:\n    - {address: 10.9.0.1}\n    - {address: 10.9.0.1}\n", []string{"bfd.peers[1]: a BFD session to 10.9.0.1 is already bfd.peers[0]"}},
		{"peer and neighbor", nb + "      interval: 100\nbfd:\n  peers:\n    - {address: 10.1.0.1}\n", []string{"bfd.peers[0]: neighbors[0] already runs BFD to 10.1.0.1"}},
		{"peer auth", bfdBase + "bfd:\n  peers:\n    - address: 10.9.0.1\n      auth: {type: simple, key-id: 1, key: ''}\n", []string{"b.yaml:6: bfd.peers[0].auth.key: 0 bytes; want 1..16 for simple"}},
		{"neighbor bfd kind", nb[:len(nb)-1] + " [1]\n", []string{`neighbors[0].bfd: got a list; want true, false, or a map`}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantParseErrors(t, "b.yaml", tc.in, tc.want) })
	}
}
