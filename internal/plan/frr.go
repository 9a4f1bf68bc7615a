package plan

import (
	"net/netip"
)

// The pieces of frr.conf that switches and hosts: bgp servers write
// alike. w writes one line.

// frrHead writes the lines after the title comment: FRR's datacenter
// defaults, the hostname, logging and the single integrated config file.
func frrHead(w func(string, ...any), hostname string) {
	w("frr defaults datacenter")
	w("hostname %s", hostname)
	w("log syslog informational")
	w("service integrated-vtysh-config")
}

// frrLoopback writes interface lo with addrs.
func frrLoopback(w func(string, ...any), addrs []netip.Prefix) {
	w("interface lo")
	for _, a := range addrs {
		w(" %s address %s", ipKw(a.Addr()), a)
	}
	w("exit")
	w("!")
}

// frrPrefixLists writes pfs as the permit entries of the prefix-list
// name4 (IPv4) and name6 (IPv6), IPv4 first, and reports whether name6
// has any: an empty list must not be matched, since it matches nothing.
func frrPrefixLists(w func(string, ...any), name4, name6 string, pfs []netip.Prefix) (has6 bool) {
	seq := 10
	for _, pf := range pfs {
		if pf.Addr().Is4() {
			w("ip prefix-list %s seq %d permit %s", name4, seq, pf)
			seq += 10
		}
	}
	seq = 10
	for _, pf := range pfs {
		if pf.Addr().Is6() {
			w("ipv6 prefix-list %s seq %d permit %s", name6, seq, pf)
			seq += 10
		}
	}
	return seq > 10
}

// frrExportPolicy writes the route-map that lets only own out towards
// the fabric, so a leaf or server never becomes transit, with the prefix
// lists it matches.
func frrExportPolicy(w func(string, ...any), own []netip.Prefix) {
	has6 := frrPrefixLists(w, policyLocal, policyLocal6, own)
	w("!")
	w("route-map %s permit 10", policyToUpper)
	w(" match ip address prefix-list %s", policyLocal)
	w("exit")
	if has6 {
		w("route-map %s permit 20", policyToUpper)
		w(" match ipv6 address prefix-list %s", policyLocal6)
		w("exit")
	}
}

// frrRouterBGP opens router bgp with the settings every node shares:
// eBGP without a policy requirement (the route-maps are explicit),
// families activated per neighbor, and ECMP over different neighbor ASes.
func frrRouterBGP(w func(string, ...any), asn uint32, routerID netip.Addr) {
	w("router bgp %d", asn)
	w(" bgp router-id %s", routerID)
	w(" no bgp ebgp-requires-policy")
	w(" no bgp default ipv4-unicast")
	w(" bgp bestpath as-path multipath-relax")
}

// frrFamily writes one address-family block of router bgp with lines
// (already indented) and 64-way ECMP.
func frrFamily(w func(string, ...any), family string, lines []string) {
	w(" !")
	w(" address-family %s", family)
	for _, l := range lines {
		w("%s", l)
	}
	w("  maximum-paths 64")
	w(" exit-address-family")
}

// frrBFDProfile writes the BFD profile the neighbors refer to, when the
// fabric runs BFD.
func frrBFDProfile(w func(string, ...any), bfd BFDIntent) {
	if !*bfd.Enabled {
		return
	}
	w("bfd")
	w(" profile %s", bfdProfile)
	w("  detect-multiplier %d", bfd.Multiplier)
	w("  receive-interval %d", bfd.Interval)
	w("  transmit-interval %d", bfd.Interval)
	w(" exit")
	w("exit")
	w("!")
}
