package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/neigh"
)

// Hosts turns on host routes learned from ARP/ND on server-facing ports
// (docs/host-routes.md): every host seen on a port, inside the port's
// allowed prefixes, is advertised as a /32 or /128 carrying a mobility
// sequence number. Zero durations and counts take internal/neigh's
// defaults.
type Hosts struct {
	Interfaces    []HostInterface `yaml:"interfaces"`
	AgingTime     Duration        `yaml:"aging-time,omitempty"`
	ProbeInterval Duration        `yaml:"probe-interval,omitempty"`
	ProbeRetries  int             `yaml:"probe-retries,omitempty"`
	MoveLimit     int             `yaml:"move-limit,omitempty"`
	MoveWindow    Duration        `yaml:"move-window,omitempty"`
	FreezeHold    Duration        `yaml:"freeze-hold,omitempty"`
	Multihomed    bool            `yaml:"multihomed,omitempty"`
	// Community is a standard community "ASN:VALUE" put on every host route.
	Community string      `yaml:"community,omitempty"`
	Gateway   HostGateway `yaml:"gateway,omitempty"`
	// Aggregate also advertises every port's allowed prefixes (the shared
	// subnet), so traffic reaches the fabric before a host route exists.
	Aggregate bool `yaml:"aggregate,omitempty"`
}

// HostInterface is one server-facing port.
type HostInterface struct {
	Name     string         `yaml:"name"`
	Allowed  []netip.Prefix `yaml:"allowed"`
	MaxHosts int            `yaml:"max-hosts,omitempty"`
	Static   []HostStatic   `yaml:"static,omitempty"`
}

// HostStatic is one allowed IP+MAC pair; with any on a port, only those
// are learned there.
type HostStatic struct {
	IP  netip.Addr `yaml:"ip"`
	MAC string     `yaml:"mac"`
}

// HostGateway is the anycast gateway every server port of every leaf
// presents: addresses with their prefix length (10.1.0.1/24) and a
// virtual MAC.
type HostGateway struct {
	IPv4 netip.Prefix `yaml:"ipv4,omitempty"`
	IPv6 netip.Prefix `yaml:"ipv6,omitempty"`
	MAC  string       `yaml:"mac,omitempty"`
}

// IsZero lets omitempty drop an unset gateway.
func (g HostGateway) IsZero() bool { return g == HostGateway{} }

// Limits the validator enforces; wider values are almost certainly typos
// (a unit missing) and would make the engine useless or a flood.
const (
	hostsMinAging = time.Second
	hostsMaxAging = 24 * time.Hour
	hostsMinProbe = 10 * time.Millisecond
	hostsMaxProbe = time.Minute
	hostsMaxHold  = 7 * 24 * time.Hour
)

// ParseCommunity reads a standard community "ASN:VALUE" (both 0..65535).
func ParseCommunity(s string) (uint32, error) {
	a, b, ok := strings.Cut(s, ":")
	x, e1 := strconv.ParseUint(a, 10, 16)
	y, e2 := strconv.ParseUint(b, 10, 16)
	if !ok || e1 != nil || e2 != nil {
		return 0, fmt.Errorf("community %q: want ASN:VALUE with both 0..65535, like 65000:100", s)
	}
	return uint32(x)<<16 | uint32(y), nil
}

// NeighConfig maps the section to the engine's configuration. It is only
// called on a validated config, so its errors are for programming slips.
func (h *Hosts) NeighConfig() (neigh.Config, error) {
	c := neigh.Config{
		AgingTime:     h.AgingTime.D(),
		ProbeInterval: h.ProbeInterval.D(),
		ProbeRetries:  h.ProbeRetries,
		MoveLimit:     h.MoveLimit,
		MoveWindow:    h.MoveWindow.D(),
		FreezeHold:    h.FreezeHold.D(),
		Multihomed:    h.Multihomed,
		Gateway:       neigh.AnycastGateway{IPv4: h.Gateway.IPv4, IPv6: h.Gateway.IPv6},
	}
	if h.Community != "" {
		x, err := ParseCommunity(h.Community)
		if err != nil {
			return neigh.Config{}, err
		}
		c.Community = x
	}
	if h.Gateway.MAC != "" {
		m, err := neigh.ParseMAC(h.Gateway.MAC)
		if err != nil {
			return neigh.Config{}, err
		}
		c.Gateway.MAC = m
	}
	for _, hi := range h.Interfaces {
		ic := neigh.InterfaceConfig{Name: hi.Name, Allowed: append([]netip.Prefix(nil), hi.Allowed...), MaxHosts: hi.MaxHosts}
		for _, s := range hi.Static {
			m, err := neigh.ParseMAC(s.MAC)
			if err != nil {
				return neigh.Config{}, err
			}
			ic.Static = append(ic.Static, neigh.StaticBinding{IP: s.IP, MAC: m})
		}
		c.Interfaces = append(c.Interfaces, ic)
	}
	return c, c.Validate()
}

// AllowedPrefixes lists every port's allowed prefixes once, in order: the
// shared subnets that aggregate: true advertises.
func (h *Hosts) AllowedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for _, hi := range h.Interfaces {
		for _, p := range hi.Allowed {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// unicastMAC reports a problem with s as a host or gateway MAC, or "".
func unicastMAC(s string) string {
	m, err := neigh.ParseMAC(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%q; want six hex octets like 02:00:00:00:01:01", s)
	case m.IsZero():
		return fmt.Sprintf("%q is all zeros; want a unicast MAC like 02:00:00:00:01:01", s)
	case m[0]&1 != 0:
		return fmt.Sprintf("%q is a multicast MAC (low bit of the first octet set); want a unicast MAC like 02:00:00:00:01:01", s)
	}
	return ""
}

func (v *validator) duration(path string, d Duration, lo, hi time.Duration) {
	if d != 0 && (d.D() < lo || d.D() > hi) {
		v.errf(path, "%v; want %v..%v, or leave out for the default", d.D(), lo, hi)
	}
}

func (v *validator) hosts() {
	h := v.c.Hosts
	if h == nil {
		return
	}
	if len(h.Interfaces) == 0 {
		v.errf("hosts.interfaces", "missing; want at least one server-facing port like {name: swp3, allowed: [10.1.0.0/24]}")
	}
	seen := map[string]bool{}
	for i, hi := range h.Interfaces {
		p := fmt.Sprintf("hosts.interfaces[%d]", i)
		if !ifaceNameRe.MatchString(hi.Name) {
			v.errf(p+".name", "%q; want a Linux interface name (1-15 letters, digits, . _ - :)", hi.Name)
		} else if seen[hi.Name] {
			v.errf(p+".name", "%q listed twice; list each interface once", hi.Name)
		}
		seen[hi.Name] = true
		if len(hi.Allowed) == 0 {
			v.errf(p+".allowed", "missing; want the prefixes hosts on this port may use, like [10.1.0.0/24, \"2001:db8:1::/64\"]")
		}
		for j, pf := range hi.Allowed {
			pp := fmt.Sprintf("%s.allowed[%d]", p, j)
			v.prefix(pp, pf)
			if pf.IsValid() && pf.Addr().Is4In6() {
				v.errf(pp, "%s is IPv4-mapped IPv6; write the IPv4 prefix", pf)
			}
		}
		if hi.MaxHosts < 0 || hi.MaxHosts > 65535 {
			v.errf(p+".max-hosts", "%d; want 1..65535, or leave out for %d", hi.MaxHosts, neigh.DefaultMaxHosts)
		}
		ips := map[netip.Addr]bool{}
		for j, s := range hi.Static {
			sp := fmt.Sprintf("%s.static[%d]", p, j)
			switch {
			case !s.IP.IsValid():
				v.errf(sp+".ip", "missing; want the host's address like 10.1.0.10")
			case !inAnyPrefix(hi.Allowed, s.IP):
				v.errf(sp+".ip", "%s is outside this port's allowed prefixes; add its subnet to allowed or fix the address", s.IP)
			case ips[s.IP]:
				v.errf(sp+".ip", "%s listed twice on this port", s.IP)
			}
			ips[s.IP] = true
			if msg := unicastMAC(s.MAC); msg != "" {
				v.errf(sp+".mac", "%s", msg)
			}
		}
	}
	v.duration("hosts.aging-time", h.AgingTime, hostsMinAging, hostsMaxAging)
	v.duration("hosts.probe-interval", h.ProbeInterval, hostsMinProbe, hostsMaxProbe)
	if h.ProbeRetries < 0 || h.ProbeRetries > 100 {
		v.errf("hosts.probe-retries", "%d; want 1..100, or leave out for %d", h.ProbeRetries, neigh.DefaultProbeRetries)
	}
	if h.MoveLimit < 0 || h.MoveLimit > 1000 {
		v.errf("hosts.move-limit", "%d; want 1..1000, or leave out for %d", h.MoveLimit, neigh.DefaultMoveLimit)
	}
	v.duration("hosts.move-window", h.MoveWindow, time.Second, hostsMaxAging)
	v.duration("hosts.freeze-hold", h.FreezeHold, time.Second, hostsMaxHold)
	if h.Community != "" {
		if _, err := ParseCommunity(h.Community); err != nil {
			v.errf("hosts.community", "%q; want ASN:VALUE with both 0..65535, like 65000:100", h.Community)
		}
	}
	g := h.Gateway
	if g.IPv4.IsValid() && (!g.IPv4.Addr().Is4() || g.IPv4.Bits() == 0 || g.IPv4.Addr() == g.IPv4.Masked().Addr()) {
		v.errf("hosts.gateway.ipv4", "%s; want the gateway address with its subnet length, like 10.1.0.1/24", g.IPv4)
	}
	if g.IPv6.IsValid() && (!g.IPv6.Addr().Is6() || g.IPv6.Addr().Is4In6() || g.IPv6.Bits() == 0 || g.IPv6.Addr().IsLinkLocalUnicast() || g.IPv6.Addr() == g.IPv6.Masked().Addr()) {
		v.errf("hosts.gateway.ipv6", "%s; want a global IPv6 gateway address with its subnet length, like 2001:db8:1::1/64", g.IPv6)
	}
	if g.MAC != "" {
		if msg := unicastMAC(g.MAC); msg != "" {
			v.errf("hosts.gateway.mac", "%s", msg)
		}
	}
}

func inAnyPrefix(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
