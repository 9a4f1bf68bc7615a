package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type validator struct {
	d *decoder
	c *Config
}

// line finds the line of path, or of its nearest parent that has one, so
// a problem with a defaulted field still points near the right place.
func (v *validator) line(path string) int {
	for p := path; p != ""; {
		if l, ok := v.d.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 1
}

func (v *validator) errf(path, format string, args ...any) {
	v.d.errorf(v.line(path), path, format, args...)
}

func oneOf(s string, valid []string) bool { return slices.Contains(valid, s) }

var (
	actions        = []string{"permit", "deny"}
	wellKnownComms = []string{"no-export", "no-advertise", "no-export-subconfed", "no-peer", "blackhole", "graceful-shutdown", "accept-own", "llgr-stale", "no-llgr"}
	ifaceNameRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$`)
	policyNameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
)

func validCommunity(s string) bool {
	if oneOf(s, wellKnownComms) {
		return true
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	_, e1 := strconv.ParseUint(a, 10, 16)
	_, e2 := strconv.ParseUint(b, 10, 16)
	return e1 == nil && e2 == nil
}

func (v *validator) validate() {
	c := v.c
	if !c.RouterID.IsValid() {
		v.errf("router-id", "missing; want an IPv4 address like 10.0.0.1 (usually the loopback)")
	} else if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		v.errf("router-id", "%s is not usable; want a non-zero IPv4 address like 10.0.0.1", c.RouterID)
	}
	if c.ASN == 0 {
		v.errf("asn", "missing or 0; want an ASN 1..4294967295 (private: 64512-65534, 4200000000-4294967294)")
	}
	if !oneOf(c.Role, []string{"switch", "host"}) {
		v.errf("role", "%q; valid: switch, host", c.Role)
	}
	if c.Listen.Address.IsValid() && c.Listen.Address.Zone() != "" {
		v.errf("listen.address", "zones are not allowed here; want a plain address")
	}
	if !strings.HasPrefix(c.API.Socket, "/") {
		v.errf("api.socket", "%q; want an absolute path like %s", c.API.Socket, DefaultAPISocket)
	}
	if !oneOf(c.Log.Level, []string{"debug", "info", "warn", "error"}) {
		v.errf("log.level", "%q; valid: debug, info, warn, error", c.Log.Level)
	}
	if !oneOf(c.Log.Format, []string{"text", "json"}) {
		v.errf("log.format", "%q; valid: text, json", c.Log.Format)
	}
	if c.Metrics.Address != "" {
		if _, err := netip.ParseAddrPort(c.Metrics.Address); err != nil {
			if host, port, ok := strings.Cut(c.Metrics.Address, ":"); !ok || host != "" || !validPort(port) {
				v.errf("metrics.address", "%q; want ADDRESS:PORT like 127.0.0.1:9179 or :9179, or leave out to keep metrics off", c.Metrics.Address)
			}
		}
	}
	v.timers("bgp.timers", c.BGP.Timers)
	if c.BGP.MaxPaths < 1 || c.BGP.MaxPaths > 1024 {
		v.errf("bgp.max-paths", "%d; want 1..1024", c.BGP.MaxPaths)
	}
	v.bfd("bgp.bfd", c.BGP.BFD.Interval, c.BGP.BFD.Multiplier)

	names := v.policy()
	v.neighbors(names)
	v.services()
	v.hosts()
	v.bfdSection()
	v.gracefulRestart()

	for i, p := range c.Networks {
		v.prefix(fmt.Sprintf("networks[%d]", i), p)
	}
	if rc := c.Redistribute.Connected; rc != nil && rc.PrefixList != "" && !names.prefixLists[rc.PrefixList] {
		v.errf("redistribute.connected.prefix-list", "%q is not defined; defined prefix-lists: %s", rc.PrefixList, list(names.prefixLists))
	}
	for i, a := range c.Aggregates {
		v.prefix(fmt.Sprintf("aggregates[%d].prefix", i), a.Prefix)
	}
	seenIf := map[string]bool{}
	for i, ifc := range c.Interfaces {
		p := fmt.Sprintf("interfaces[%d]", i)
		if !ifaceNameRe.MatchString(ifc.Name) {
			v.errf(p+".name", "%q; want a Linux interface name (1-15 letters, digits, . _ - :)", ifc.Name)
		} else if seenIf[ifc.Name] {
			v.errf(p+".name", "%q listed twice; list each interface once", ifc.Name)
		}
		seenIf[ifc.Name] = true
		for j, pf := range ifc.Prefixes {
			v.prefix(fmt.Sprintf("%s.prefixes[%d]", p, j), pf)
		}
	}
}

func validPort(s string) bool {
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n > 0
}

func (v *validator) prefix(path string, p netip.Prefix) {
	if !p.IsValid() {
		v.errf(path, "missing; want a prefix like 10.1.0.0/24 or fd00:1::/64")
		return
	}
	if p.Masked() != p {
		v.errf(path, "%s has host bits set; want %s", p, p.Masked())
	}
}

func (v *validator) timers(path string, t Timers) {
	if t.Hold != 0 && t.Hold < 3 {
		v.errf(path+".hold", "%d; want 0 (no keepalives) or 3..65535 seconds (RFC 4271 4.2)", t.Hold)
	}
	if t.Hold > 65535 {
		v.errf(path+".hold", "%d; want 0 or 3..65535 seconds", t.Hold)
	}
	if t.Keepalive < 0 || (t.Hold != 0 && t.Keepalive >= t.Hold) || (t.Hold != 0 && t.Keepalive == 0) {
		v.errf(path+".keepalive", "%d; want 1..%d (less than hold %d; a third of it is usual)", t.Keepalive, max(t.Hold-1, 1), t.Hold)
	}
}

func (v *validator) bfd(path string, interval, mult int) {
	if interval != 0 && (interval < 10 || interval > 60000) {
		v.errf(path+".interval", "%d ms; want 10..60000", interval)
	}
	if mult != 0 && (mult < 2 || mult > 255) {
		v.errf(path+".multiplier", "%d; want 2..255", mult)
	}
}

type policyNames struct {
	prefixLists, asPathLists, communityLists, routeMaps map[string]bool
}

func list(m map[string]bool) string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return "(none)"
	}
	slices.Sort(ns)
	return strings.Join(ns, ", ")
}

func (v *validator) name(path, kind, n string, seen map[string]bool) {
	switch {
	case !policyNameRe.MatchString(n):
		v.errf(path, "%q; want a %s name of letters, digits, . _ - (1-63 characters)", n, kind)
	case seen[n]:
		v.errf(path, "%s %q defined twice; names must be unique", kind, n)
	}
	seen[n] = true
}

func (v *validator) action(path, a string) {
	if !oneOf(a, actions) {
		v.errf(path, "%q; valid: permit, deny", a)
	}
}

func (v *validator) policy() policyNames {
	p := v.c.Policy
	n := policyNames{map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}}
	for i, pl := range p.PrefixLists {
		path := fmt.Sprintf("policy.prefix-lists[%d]", i)
		v.name(path+".name", "prefix-list", pl.Name, n.prefixLists)
		seqs := map[int]bool{}
		for j, e := range pl.Entries {
			ep := fmt.Sprintf("%s.entries[%d]", path, j)
			if e.Seq <= 0 || seqs[e.Seq] {
				v.errf(ep+".seq", "%d; want a positive number unique within the list", e.Seq)
			}
			seqs[e.Seq] = true
			v.action(ep+".action", e.Action)
			v.prefix(ep+".prefix", e.Prefix)
			if !e.Prefix.IsValid() {
				continue
			}
			bits := e.Prefix.Addr().BitLen()
			if e.GE != 0 && (e.GE <= e.Prefix.Bits() || e.GE > bits) {
				v.errf(ep+".ge", "%d; want %d..%d (longer than the prefix length)", e.GE, e.Prefix.Bits()+1, bits)
			}
			if e.LE != 0 && (e.LE < max(e.GE, e.Prefix.Bits()+1) || e.LE > bits) {
				v.errf(ep+".le", "%d; want %d..%d (at least ge and the prefix length)", e.LE, max(e.GE, e.Prefix.Bits()+1), bits)
			}
		}
	}
	for i, al := range p.ASPathLists {
		path := fmt.Sprintf("policy.as-path-lists[%d]", i)
		v.name(path+".name", "as-path-list", al.Name, n.asPathLists)
		for j, e := range al.Entries {
			ep := fmt.Sprintf("%s.entries[%d]", path, j)
			v.action(ep+".action", e.Action)
			if _, err := regexp.Compile(e.Regex); err != nil || e.Regex == "" {
				v.errf(ep+".regex", "%q is not a valid regular expression; want Go RE2 syntax like ^65001( |$)", e.Regex)
			}
		}
	}
	for i, cl := range p.CommunityLists {
		path := fmt.Sprintf("policy.community-lists[%d]", i)
		v.name(path+".name", "community-list", cl.Name, n.communityLists)
		for j, e := range cl.Entries {
			ep := fmt.Sprintf("%s.entries[%d]", path, j)
			v.action(ep+".action", e.Action)
			if !validCommunity(e.Community) {
				v.errf(ep+".community", "%q; want ASN:VALUE with both 0..65535, or one of %s", e.Community, strings.Join(wellKnownComms, ", "))
			}
		}
	}
	for i, rm := range p.RouteMaps {
		v.name(fmt.Sprintf("policy.route-maps[%d].name", i), "route-map", rm.Name, n.routeMaps)
	}
	for i, rm := range p.RouteMaps {
		path := fmt.Sprintf("policy.route-maps[%d]", i)
		seqs := map[int]bool{}
		for j, e := range rm.Entries {
			ep := fmt.Sprintf("%s.entries[%d]", path, j)
			if e.Seq <= 0 || seqs[e.Seq] {
				v.errf(ep+".seq", "%d; want a positive number unique within the route-map", e.Seq)
			}
			seqs[e.Seq] = true
			v.action(ep+".action", e.Action)
			m := e.Match
			if m.PrefixList != "" && !n.prefixLists[m.PrefixList] {
				v.errf(ep+".match.prefix-list", "%q is not defined; defined prefix-lists: %s", m.PrefixList, list(n.prefixLists))
			}
			if m.ASPathList != "" && !n.asPathLists[m.ASPathList] {
				v.errf(ep+".match.as-path-list", "%q is not defined; defined as-path-lists: %s", m.ASPathList, list(n.asPathLists))
			}
			if m.CommunityList != "" && !n.communityLists[m.CommunityList] {
				v.errf(ep+".match.community-list", "%q is not defined; defined community-lists: %s", m.CommunityList, list(n.communityLists))
			}
			s := e.Set
			if e.Action == "deny" && !reflectZeroSet(s) {
				v.errf(ep+".set", "a deny entry drops the route; move the set actions to a permit entry")
			}
			for k, cm := range append(slices.Clone(s.CommunityAdd), s.CommunityRemove...) {
				if !validCommunity(cm) {
					v.errf(ep+".set", "community %q (item %d); want ASN:VALUE with both 0..65535 or a well-known name", cm, k)
				}
			}
			for k, a := range s.Prepend {
				if a == 0 {
					v.errf(fmt.Sprintf("%s.set.prepend[%d]", ep, k), "0; want ASNs 1..4294967295")
				}
			}
			if len(s.Prepend) > 16 {
				v.errf(ep+".set.prepend", "%d ASNs; want at most 16", len(s.Prepend))
			}
		}
	}
	return n
}

func reflectZeroSet(s RouteMapSet) bool {
	return s.LocalPref == nil && s.MED == nil && s.Weight == nil && len(s.CommunityAdd) == 0 &&
		len(s.CommunityRemove) == 0 && len(s.Prepend) == 0 && !s.NextHop.IsValid()
}

func (v *validator) neighbors(names policyNames) {
	seen := map[string]int{}
	for i := range v.c.Neighbors {
		nb := &v.c.Neighbors[i]
		p := fmt.Sprintf("neighbors[%d]", i)
		set := 0
		key := ""
		if nb.Address.IsValid() {
			set++
			key = nb.Address.String()
			if nb.Address.IsUnspecified() || nb.Address.IsMulticast() {
				v.errf(p+".address", "%s; want a unicast peer address", nb.Address)
			}
		}
		if nb.Interface != "" {
			set++
			key = "interface " + nb.Interface
			if !ifaceNameRe.MatchString(nb.Interface) {
				v.errf(p+".interface", "%q; want a Linux interface name (1-15 letters, digits, . _ - :)", nb.Interface)
			}
		}
		if nb.ListenRange.IsValid() {
			set++
			key = "listen-range " + nb.ListenRange.String()
			v.prefix(p+".listen-range", nb.ListenRange)
			if nb.Limit < 1 || nb.Limit > 65535 {
				v.errf(p+".limit", "%d; want 1..65535 sessions", nb.Limit)
			}
		} else if nb.Limit != 0 {
			v.errf(p+".limit", "only applies to a listen-range neighbor; remove it")
		}
		if set != 1 {
			v.errf(p, "give exactly one of address, interface, listen-range (got %d)", set)
		}
		if j, dup := seen[key]; dup && key != "" {
			v.errf(p, "%s is already neighbors[%d]; list each peer once", key, j)
		}
		seen[key] = i
		switch nb.RemoteAS.Kind {
		case ASNone:
			v.errf(p+".remote-as", "missing; %s", remoteASWant)
		case ASNumbers:
			if _, single := nb.RemoteAS.Single(); !single && !nb.ListenRange.IsValid() {
				v.errf(p+".remote-as", "a list or range only applies to a listen-range neighbor; want one ASN, external or internal")
			}
		}
		if nb.Password != "" && len(nb.Password) > 80 {
			v.errf(p+".password", "%d characters; want at most 80 (TCP MD5 key)", len(nb.Password))
		}
		if nb.TTLSecurity && nb.Multihop != 0 {
			v.errf(p+".multihop", "cannot combine with ttl-security (GTSM requires directly connected peers); remove one")
		}
		if nb.Multihop < 0 || nb.Multihop > 255 {
			v.errf(p+".multihop", "%d; want a TTL 1..255", nb.Multihop)
		}
		if nb.Multihop != 0 && nb.Interface != "" {
			v.errf(p+".multihop", "an interface (unnumbered) neighbor is directly connected; remove multihop")
		}
		seenFam := map[string]bool{}
		for j, f := range nb.Families {
			fp := fmt.Sprintf("%s.families[%d]", p, j)
			if !oneOf(f, []string{IPv4Unicast, IPv6Unicast}) {
				v.errf(fp, "%q; valid: %s, %s", f, IPv4Unicast, IPv6Unicast)
			} else if seenFam[f] {
				v.errf(fp, "%q listed twice", f)
			}
			seenFam[f] = true
		}
		if nb.BFD.Enabled {
			v.bfd(p+".bfd", nb.BFD.Interval, nb.BFD.Multiplier)
		}
		if nb.AllowASIn < 0 || nb.AllowASIn > 10 {
			v.errf(p+".allowas-in", "%d; want 0..10 occurrences of our own ASN", nb.AllowASIn)
		}
		if nb.RemovePrivateAS != "" && !oneOf(nb.RemovePrivateAS, removePrivateModes) {
			v.errf(p+".remove-private-as", "%q; valid: %s", nb.RemovePrivateAS, strings.Join(removePrivateModes, ", "))
		}
		if nb.Prepend < 0 || nb.Prepend > 16 {
			v.errf(p+".prepend", "%d; want 0..16 extra copies of our ASN", nb.Prepend)
		}
		if nb.MaxPrefix < 0 {
			v.errf(p+".max-prefix", "%d; want 0 (no limit) or a positive count", nb.MaxPrefix)
		}
		if nb.RouteMap.In != "" && !names.routeMaps[nb.RouteMap.In] {
			v.errf(p+".route-map.in", "%q is not defined; defined route-maps: %s", nb.RouteMap.In, list(names.routeMaps))
		}
		if nb.RouteMap.Out != "" && !names.routeMaps[nb.RouteMap.Out] {
			v.errf(p+".route-map.out", "%q is not defined; defined route-maps: %s", nb.RouteMap.Out, list(names.routeMaps))
		}
		if nb.ShutdownMessage != "" && !nb.Shutdown {
			v.errf(p+".shutdown-message", "only applies with shutdown: true")
		}
		if len(nb.ShutdownMessage) > 255 {
			v.errf(p+".shutdown-message", "%d bytes; want at most 255 (RFC 9003)", len(nb.ShutdownMessage))
		}
		if nb.Timers != nil {
			v.timers(p+".timers", *nb.Timers)
		}
	}
}
