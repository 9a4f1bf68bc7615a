package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// BFD authentication types (RFC 5880 4.2-4.4), as written in the config.
const (
	BFDAuthSimple              = "simple"
	BFDAuthKeyedMD5            = "keyed-md5"
	BFDAuthMeticulousKeyedMD5  = "meticulous-keyed-md5"
	BFDAuthKeyedSHA1           = "keyed-sha1"
	BFDAuthMeticulousKeyedSHA1 = "meticulous-keyed-sha1"
)

var bfdAuthTypes = []string{BFDAuthSimple, BFDAuthKeyedMD5, BFDAuthMeticulousKeyedMD5, BFDAuthKeyedSHA1, BFDAuthMeticulousKeyedSHA1}

// BFDAuth authenticates a BFD session (RFC 5880 6.7): both ends need the
// same type, key ID and key. Key is the secret as text: 1-16 bytes for
// simple and MD5, 1-20 for SHA1.
type BFDAuth struct {
	Type  string `yaml:"type"`
	KeyID int    `yaml:"key-id"`
	Key   string `yaml:"key"`
}

// BFDSection is the top-level bfd: key: named profiles that neighbors and
// peers refer to, and standalone peers that no BGP neighbor owns.
type BFDSection struct {
	Profiles []BFDProfile `yaml:"profiles,omitempty"`
	Peers    []BFDPeer    `yaml:"peers,omitempty"`
}

// BFDProfile is a named set of timers and authentication. Zero fields fall
// back to bgp.bfd.
type BFDProfile struct {
	Name       string   `yaml:"name"`
	Interval   int      `yaml:"interval,omitempty"`
	Multiplier int      `yaml:"multiplier,omitempty"`
	Auth       *BFDAuth `yaml:"auth,omitempty"`
}

// BFDPeer is a standalone BFD session: closd runs it and shows it, but no
// BGP session depends on it (e.g. to watch a static next hop, or a peer
// whose BGP runs elsewhere).
type BFDPeer struct {
	Address     netip.Addr `yaml:"address"`
	Description string     `yaml:"description,omitempty"`
	// Interface binds a single-hop session to a link; required for an
	// IPv6 link-local peer.
	Interface string `yaml:"interface,omitempty"`
	// Local is the source address; required for multihop.
	Local    netip.Addr `yaml:"local,omitempty"`
	Multihop bool       `yaml:"multihop,omitempty"`
	// MinTTL is the lowest TTL a multihop session accepts (default 254).
	MinTTL     int      `yaml:"min-ttl,omitempty"`
	Profile    string   `yaml:"profile,omitempty"`
	Interval   int      `yaml:"interval,omitempty"`
	Multiplier int      `yaml:"multiplier,omitempty"`
	Auth       *BFDAuth `yaml:"auth,omitempty"`
	Shutdown   bool     `yaml:"shutdown,omitempty"`
}

// IsZero lets omitempty drop an empty bfd section.
func (s BFDSection) IsZero() bool { return len(s.Profiles) == 0 && len(s.Peers) == 0 }

// BFDSettings is what one session runs with once its own values, its
// profile's and bgp.bfd's are merged.
type BFDSettings struct {
	Interval   int // ms
	Multiplier int
	Auth       *BFDAuth
}

// ResolveBFD merges a session's own settings over its profile's over
// bgp.bfd's (and the built-in defaults). An unknown profile is a
// validation error, so here it only means no profile.
func (c *Config) ResolveBFD(profile string, interval, mult int, auth *BFDAuth) BFDSettings {
	s := BFDSettings{Interval: interval, Multiplier: mult, Auth: auth}
	if profile != "" {
		for _, p := range c.BFD.Profiles {
			if p.Name != profile {
				continue
			}
			if s.Interval == 0 {
				s.Interval = p.Interval
			}
			if s.Multiplier == 0 {
				s.Multiplier = p.Multiplier
			}
			if s.Auth == nil {
				s.Auth = p.Auth
			}
		}
	}
	if s.Interval == 0 {
		s.Interval = c.BGP.BFD.Interval
	}
	if s.Multiplier == 0 {
		s.Multiplier = c.BGP.BFD.Multiplier
	}
	if s.Interval == 0 {
		s.Interval = DefaultBFDInterval
	}
	if s.Multiplier == 0 {
		s.Multiplier = DefaultBFDMultiplier
	}
	return s
}

// neighborBFDMap is the map form of a neighbor's bfd:.
type neighborBFDMap struct {
	Profile    string   `yaml:"profile,omitempty"`
	Interval   int      `yaml:"interval,omitempty"`
	Multiplier int      `yaml:"multiplier,omitempty"`
	Auth       *BFDAuth `yaml:"auth,omitempty"`
	Strict     bool     `yaml:"strict,omitempty"`
}

// decodeNode reads true, false, or a map decoded field by field, so that a
// mistake inside auth: points at its own line.
func (b *NeighborBFD) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "true":
			*b = NeighborBFD{Enabled: true}
			return
		case "false":
			*b = NeighborBFD{}
			return
		}
	case yaml.MappingNode:
		var m neighborBFDMap
		d.decodeStruct(n, reflect.ValueOf(&m).Elem(), path)
		*b = NeighborBFD{Enabled: true, Profile: m.Profile, Interval: m.Interval, Multiplier: m.Multiplier, Auth: m.Auth, Strict: m.Strict}
		return
	}
	d.errorf(n.Line, path, "got %s; want true, false, or a map {profile: NAME, interval: MS, multiplier: N, auth: {type: T, key-id: N, key: SECRET}, strict: BOOL}", kindName(n))
}

// MarshalYAML writes a bool unless the neighbor has its own settings.
func (b NeighborBFD) MarshalYAML() (any, error) {
	if !b.Enabled || (b.Interval == 0 && b.Multiplier == 0 && b.Profile == "" && b.Auth == nil && !b.Strict) {
		return b.Enabled, nil
	}
	return neighborBFDMap{Profile: b.Profile, Interval: b.Interval, Multiplier: b.Multiplier, Auth: b.Auth, Strict: b.Strict}, nil
}

func (v *validator) bfdAuth(path string, a *BFDAuth) {
	if a == nil {
		return
	}
	maxLen := 16
	switch a.Type {
	case BFDAuthSimple, BFDAuthKeyedMD5, BFDAuthMeticulousKeyedMD5:
	case BFDAuthKeyedSHA1, BFDAuthMeticulousKeyedSHA1:
		maxLen = 20
	default:
		v.errf(path+".type", "%q; valid: %s", a.Type, strings.Join(bfdAuthTypes, ", "))
		return
	}
	if a.KeyID < 0 || a.KeyID > 255 {
		v.errf(path+".key-id", "%d; want 0..255", a.KeyID)
	}
	if len(a.Key) < 1 || len(a.Key) > maxLen {
		v.errf(path+".key", "%d bytes; want 1..%d for %s", len(a.Key), maxLen, a.Type)
	}
}

func (v *validator) bfdProfileRef(path, name string, profiles map[string]bool) {
	if name != "" && !profiles[name] {
		v.errf(path, "%q is not defined; defined bfd profiles: %s", name, list(profiles))
	}
}

// bfdSection checks bfd.profiles and bfd.peers, and the profile and auth of
// every neighbor's bfd. It returns nothing: the neighbors' timers are
// checked in neighbors().
func (v *validator) bfdSection() {
	s := v.c.BFD
	profiles := map[string]bool{}
	for i, p := range s.Profiles {
		path := fmt.Sprintf("bfd.profiles[%d]", i)
		v.name(path+".name", "bfd profile", p.Name, profiles)
		v.bfd(path, p.Interval, p.Multiplier)
		v.bfdAuth(path+".auth", p.Auth)
	}
	type sessKey struct {
		addr     netip.Addr
		iface    string
		local    netip.Addr
		multihop bool
	}
	seen := map[sessKey]string{}
	byNeighbor := map[netip.Addr]string{}
	// An unnumbered neighbor's session goes to whatever link-local address
	// the peer on its interface has: a standalone link-local peer there
	// would be the same session.
	byLink := map[string]string{}
	for i, nb := range v.c.Neighbors {
		if !nb.BFD.Enabled {
			continue
		}
		p := fmt.Sprintf("neighbors[%d].bfd", i)
		v.bfdProfileRef(p+".profile", nb.BFD.Profile, profiles)
		v.bfdAuth(p+".auth", nb.BFD.Auth)
		if nb.Address.IsValid() {
			byNeighbor[nb.Address] = fmt.Sprintf("neighbors[%d]", i)
		}
		if nb.Interface != "" {
			byLink[nb.Interface] = fmt.Sprintf("neighbors[%d]", i)
		}
	}
	for i, pr := range s.Peers {
		path := fmt.Sprintf("bfd.peers[%d]", i)
		a := pr.Address
		switch {
		case !a.IsValid():
			v.errf(path+".address", "missing; want the peer's IP address like 10.0.0.1 or fe80::1")
		case a.IsUnspecified() || a.IsMulticast():
			v.errf(path+".address", "%s; want a unicast peer address", a)
		case a.Zone() != "":
			v.errf(path+".address", "zones are not allowed here; put the link in interface:")
		case a.Is6() && a.IsLinkLocalUnicast() && pr.Interface == "":
			v.errf(path+".interface", "missing; a link-local peer (%s) needs the interface it is on", a)
		}
		if pr.Interface != "" && !ifaceNameRe.MatchString(pr.Interface) {
			v.errf(path+".interface", "%q; want a Linux interface name (1-15 letters, digits, . _ - :)", pr.Interface)
		}
		if pr.Local.IsValid() && a.IsValid() && pr.Local.Is4() != a.Is4() {
			v.errf(path+".local", "%s and the peer %s are different address families; want a local address of the peer's family", pr.Local, a)
		}
		if pr.Multihop {
			if !pr.Local.IsValid() {
				v.errf(path+".local", "missing; a multihop session needs the source address (RFC 5883)")
			}
			if pr.Interface != "" {
				v.errf(path+".interface", "a multihop session is not tied to a link; remove interface or multihop")
			}
			if a.IsValid() && a.IsLinkLocalUnicast() {
				v.errf(path+".multihop", "a link-local peer is directly connected; remove multihop")
			}
		}
		if pr.MinTTL != 0 && (!pr.Multihop || pr.MinTTL < 1 || pr.MinTTL > 255) {
			v.errf(path+".min-ttl", "%d; want 1..255, and only with multihop: true (single hop always requires 255)", pr.MinTTL)
		}
		v.bfdProfileRef(path+".profile", pr.Profile, profiles)
		v.bfd(path, pr.Interval, pr.Multiplier)
		v.bfdAuth(path+".auth", pr.Auth)
		k := sessKey{addr: a, multihop: pr.Multihop}
		if pr.Multihop {
			k.local = pr.Local
		} else {
			k.iface = pr.Interface
		}
		if prev, dup := seen[k]; dup && a.IsValid() {
			v.errf(path, "a BFD session to %s is already %s; list each session once", a, prev)
		} else if nb, ok := byNeighbor[a]; ok {
			v.errf(path, "%s already runs BFD to %s (bfd: on the neighbor); drop this peer or the neighbor's bfd", nb, a)
		} else if nb, ok := byLink[pr.Interface]; ok && !pr.Multihop && a.Is6() && a.IsLinkLocalUnicast() {
			v.errf(path, "%s (interface %s) already runs BFD to the peer on %s (bfd: on the neighbor); drop this peer or the neighbor's bfd", nb, pr.Interface, pr.Interface)
		}
		seen[k] = path
	}
}
