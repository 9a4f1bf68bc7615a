package neigh

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the engine's configuration. The zero value of a timer or
// limit field means "use the default" (see Defaults).
type Config struct {
	// Interfaces are the server-facing ports. Neighbors on any other
	// interface are ignored.
	Interfaces []InterfaceConfig

	// AgingTime: a host not confirmed (kernel REACHABLE) for this long is
	// probed; one that answers is kept even if it never speaks on its own.
	AgingTime time.Duration
	// ProbeInterval is the time between probes and the time to wait for an
	// answer after the last one.
	ProbeInterval time.Duration
	// ProbeRetries is how many probes are sent before giving up.
	ProbeRetries int

	// MoveLimit moves of one address within MoveWindow freeze it
	// (EVPN duplicate detection: 5 in 180 s). A move is every time this
	// leaf takes the address over or bumps its sequence number.
	MoveLimit  int
	MoveWindow time.Duration
	// FreezeHold is how long a frozen address stays frozen unless released
	// by AdminRelease.
	FreezeHold time.Duration

	// Multihomed says servers attach to more than one leaf with the same
	// address (routing to dual-attached hosts). A held host that still
	// answers while another leaf advertises it with a higher sequence is
	// then shared: re-originated with the remote's sequence (equal, so the
	// fabric load-balances) and not counted as a move. Off, it is a
	// duplicate or a move back: re-originated with a higher sequence, and
	// repeated fights freeze it.
	Multihomed bool

	// Community, when non-zero, is a standard community (RFC 1997, ASN<<16
	// | value) added to every originated host route.
	Community uint32

	// Gateway is the anycast gateway every server-facing port presents. The
	// engine only uses it to refuse a server claiming the gateway address;
	// the daemon applies it to the interfaces in a later step.
	Gateway AnycastGateway
}

// InterfaceConfig is one server-facing port.
type InterfaceConfig struct {
	Name string
	// Allowed holds the prefixes hosts on this port may use. An address
	// outside all of them is never learned.
	Allowed []netip.Prefix
	// MaxHosts caps the hosts held on this port (0: DefaultMaxHosts).
	MaxHosts int
	// Static, when non-empty, is an allowlist: only these IP+MAC pairs are
	// learned on this port.
	Static []StaticBinding
}

// StaticBinding is one allowed IP+MAC pair on a port.
type StaticBinding struct {
	IP  netip.Addr
	MAC MAC
}

// AnycastGateway is the first-hop address and virtual MAC that every leaf
// presents on its server ports, so a VM keeps its default gateway after a
// move. Applying it (addresses on the ports, the MAC, proxy ARP/ND) is the
// daemon's job; these are the fields it reads.
type AnycastGateway struct {
	IPv4 netip.Prefix // e.g. 10.1.0.1/24; invalid: none
	IPv6 netip.Prefix // e.g. 2001:db8:1::1/64; invalid: none
	MAC  MAC          // virtual MAC; zero: the port's own MAC
}

// Defaults.
const (
	DefaultAgingTime     = 300 * time.Second
	DefaultProbeInterval = 1 * time.Second
	DefaultProbeRetries  = 3
	DefaultMoveLimit     = 5
	DefaultMoveWindow    = 180 * time.Second
	DefaultFreezeHold    = 600 * time.Second
	DefaultMaxHosts      = 256
	maxProbeRetries      = 100
)

func (c Config) withDefaults() Config {
	if c.AgingTime == 0 {
		c.AgingTime = DefaultAgingTime
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeRetries == 0 {
		c.ProbeRetries = DefaultProbeRetries
	}
	if c.MoveLimit == 0 {
		c.MoveLimit = DefaultMoveLimit
	}
	if c.MoveWindow == 0 {
		c.MoveWindow = DefaultMoveWindow
	}
	if c.FreezeHold == 0 {
		c.FreezeHold = DefaultFreezeHold
	}
	ifs := make([]InterfaceConfig, len(c.Interfaces))
	for i, ic := range c.Interfaces {
		if ic.MaxHosts == 0 {
			ic.MaxHosts = DefaultMaxHosts
		}
		ic.Allowed = append([]netip.Prefix(nil), ic.Allowed...)
		ic.Static = append([]StaticBinding(nil), ic.Static...)
		ifs[i] = ic
	}
	c.Interfaces = ifs
	return c
}

// Validate checks c and names the offending field.
func (c Config) Validate() error {
	if c.AgingTime < 0 {
		return fmt.Errorf("neigh: aging-time %v: must be positive", c.AgingTime)
	}
	if c.ProbeInterval < 0 {
		return fmt.Errorf("neigh: probe-interval %v: must be positive", c.ProbeInterval)
	}
	if c.ProbeRetries < 0 || c.ProbeRetries > maxProbeRetries {
		return fmt.Errorf("neigh: probe-retries %d: must be 1..%d", c.ProbeRetries, maxProbeRetries)
	}
	if c.MoveLimit < 0 || c.MoveWindow < 0 || c.FreezeHold < 0 {
		return fmt.Errorf("neigh: move-limit, move-window and freeze-hold must not be negative")
	}
	if c.Gateway.IPv4.IsValid() && !c.Gateway.IPv4.Addr().Is4() {
		return fmt.Errorf("neigh: gateway ipv4 %v: not an IPv4 prefix", c.Gateway.IPv4)
	}
	if c.Gateway.IPv6.IsValid() && !c.Gateway.IPv6.Addr().Is6() {
		return fmt.Errorf("neigh: gateway ipv6 %v: not an IPv6 prefix", c.Gateway.IPv6)
	}
	seen := map[string]bool{}
	for i, ic := range c.Interfaces {
		if ic.Name == "" {
			return fmt.Errorf("neigh: interfaces[%d].name: empty", i)
		}
		if seen[ic.Name] {
			return fmt.Errorf("neigh: interfaces[%d].name %q: listed twice", i, ic.Name)
		}
		seen[ic.Name] = true
		if ic.MaxHosts < 0 {
			return fmt.Errorf("neigh: interface %s max-hosts %d: must be positive", ic.Name, ic.MaxHosts)
		}
		if len(ic.Allowed) == 0 {
			return fmt.Errorf("neigh: interface %s allowed: at least one prefix is required", ic.Name)
		}
		for _, p := range ic.Allowed {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				return fmt.Errorf("neigh: interface %s allowed prefix %v: want a masked IPv4 or IPv6 prefix like 10.0.1.0/24", ic.Name, p)
			}
		}
		for _, s := range ic.Static {
			if !inAny(ic.Allowed, s.IP) {
				return fmt.Errorf("neigh: interface %s static %v: outside the allowed prefixes", ic.Name, s.IP)
			}
		}
	}
	return nil
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
