package config

import (
	"net/netip"
	"testing"
)

var netipTypes = []any{netip.Addr{}, netip.Prefix{}}

func FuzzParse(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds, and on
	// multi-kilobyte inputs (testdata/full.yaml) that alone eats the run.
	f.Add([]byte("router-id: 10.0.0.1\nasn: 65001\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - interface: swp1\n    remote-as: external\n    bfd: {interval: 100}\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nneighbors: [{listen-range: 10.0.0.0/8, remote-as: [1, 2-3]}]\n"))
	f.Add([]byte("router-id: 1.1.1.1\nasn: 4200000000\nlog: {format: json}\nnetworks: [10.0.0.0/24]\n" +
		"neighbors: [{address: 10.1.0.1, remote-as: 2, route-map: {out: M}, bfd: true, allowas-in: 1}]\n" +
		"policy: {prefix-lists: [{name: P, entries: [{seq: 5, action: permit, prefix: 10.0.0.0/8, le: 24}]}],\n" +
		" route-maps: [{name: M, entries: [{seq: 10, action: permit, match: {prefix-list: P}, set: {med: 5, community-add: ['1:2']}}]}]}\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nhosts:\n  interfaces: [{name: swp3, allowed: [10.1.0.0/24, 'fd00::/64'], max-hosts: 9,\n" +
		"    static: [{ip: 10.1.0.10, mac: '02:00:00:00:00:0a'}]}]\n  aging-time: 300s\n  probe-interval: 200ms\n" +
		"  community: '65000:100'\n  gateway: {ipv4: 10.1.0.1/24, mac: '02:00:00:00:01:01'}\n  aggregate: true\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\nneighbors: [{address: 10.1.0.1, remote-as: 2, bfd: {profile: p, auth: {type: keyed-sha1, key-id: 1, key: k}}}]\n" +
		"bfd: {profiles: [{name: p, interval: 10}], peers: [{address: 10.2.0.1, local: 10.0.0.1, multihop: true, min-ttl: 250}]}\n"))
	f.Add([]byte("router-id: 10.0.0.1\nasn: 1\ngraceful-restart: {mode: restart, restart-time: 120s, stalepath-time: 6m, select-defer-time: 1m}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		roundTrip(t, c)
	})
}
