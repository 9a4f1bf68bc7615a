package fib

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SysctlWarning is a host setting the data plane needs but does not have.
type SysctlWarning struct {
	Key  string // e.g. net.ipv4.ip_forward
	Have string // "" when unreadable
	Want string
	Why  string
	Fix  string // the exact command
}

func (w SysctlWarning) String() string {
	have := w.Have
	if have == "" {
		have = "unreadable"
	}
	return fmt.Sprintf("%s is %s, want %s (%s); fix: %s", w.Key, have, w.Want, w.Why, w.Fix)
}

type sysctlRule struct {
	key, want, why string
	ok             func(string) bool
}

func equals(v string) func(string) bool { return func(s string) bool { return s == v } }

var sysctlRules = []sysctlRule{
	{"net.ipv4.ip_forward", "1", "the host must forward IPv4", equals("1")},
	{"net.ipv6.conf.all.forwarding", "1", "the host must forward IPv6", equals("1")},
	{"net.ipv4.fib_multipath_hash_policy", "1", "hash ECMP on the layer-4 5-tuple so flows spread over all members, not only per host pair", equals("1")},
	{"net.ipv6.fib_multipath_hash_policy", "1", "hash ECMP on the layer-4 5-tuple so flows spread over all members, not only per host pair", equals("1")},
	{"net.ipv4.conf.all.ignore_routes_with_linkdown", "1", "stop using next hops on a link that lost carrier before the routing protocol notices", equals("1")},
	{"net.ipv6.conf.all.ignore_routes_with_linkdown", "1", "stop using next hops on a link that lost carrier before the routing protocol notices", equals("1")},
	// With compat mode on (the default), every change to a shared nexthop
	// group is also announced as a full route message per prefix, which
	// costs one notification per route on a member change and defeats the
	// point of shared groups. Off, route dumps show only nhid.
	{"net.ipv4.nexthop_compat_mode", "0", "with 1 the kernel re-announces every route using a nexthop group on each group change (a million messages for one member change); 0 keeps a member change one message", equals("0")},
}

// CheckSysctls reads the settings the data plane relies on from root (the
// /proc/sys directory; "" means /proc/sys) and returns one warning per
// setting that is off, with the command that fixes it.
func CheckSysctls(root string) []SysctlWarning {
	if root == "" {
		root = "/proc/sys"
	}
	var out []SysctlWarning
	for _, r := range sysctlRules {
		path := filepath.Join(root, filepath.FromSlash(strings.ReplaceAll(r.key, ".", "/")))
		b, err := os.ReadFile(path)
		have := strings.TrimSpace(string(b))
		if err == nil && r.ok(have) {
			continue
		}
		if err != nil {
			have = ""
		}
		out = append(out, SysctlWarning{Key: r.key, Have: have, Want: r.want, Why: r.why,
			Fix: fmt.Sprintf("sysctl -w %s=%s", r.key, r.want)})
	}
	return out
}
