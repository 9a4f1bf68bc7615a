// Package config is the schema of closd's configuration file: the types, the
// YAML parser with errors that name file, line, field and what would be
// valid, the defaults, the validation, and a canonical writer that clos plan
// uses to produce one file per node.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by Parse to fields the file leaves out.
const (
	DefaultPort           = 179
	DefaultAPISocket      = "/run/closd/closd.sock"
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	DefaultKeepalive      = 3
	DefaultHold           = 9
	DefaultMaxPaths       = 64
	DefaultBFDInterval    = 300
	DefaultBFDMultiplier  = 3
	DefaultListenRangeMax = 100
)

// Config is one closd's configuration.
type Config struct {
	RouterID     netip.Addr     `yaml:"router-id"`
	ASN          uint32         `yaml:"asn"`
	Role         string         `yaml:"role"`
	Listen       Listen         `yaml:"listen"`
	API          API            `yaml:"api"`
	Log          Log            `yaml:"log"`
	Metrics      Metrics        `yaml:"metrics,omitempty"`
	BGP          BGP            `yaml:"bgp"`
	Neighbors    []Neighbor     `yaml:"neighbors,omitempty"`
	BFD          BFDSection     `yaml:"bfd,omitempty"`
	Networks     []netip.Prefix `yaml:"networks,omitempty"`
	Redistribute Redistribute   `yaml:"redistribute,omitempty"`
	Aggregates   []Aggregate    `yaml:"aggregates,omitempty"`
	Policy       Policy         `yaml:"policy,omitempty"`
	Interfaces   []Interface    `yaml:"interfaces,omitempty"`
	Services     []Service      `yaml:"services,omitempty"`
	Drain        *Drain         `yaml:"drain,omitempty"`
	Hosts        *Hosts         `yaml:"hosts,omitempty"`
	// GracefulRestart is RFC 4724, both sides (grace.go).
	GracefulRestart *GracefulRestart `yaml:"graceful-restart,omitempty"`
}

// Listen is where the BGP listener binds; an invalid (zero) address means
// every address.
type Listen struct {
	Address netip.Addr `yaml:"address,omitempty"`
	Port    uint16     `yaml:"port"`
}

// API is the control socket that clos show talks to.
type API struct {
	Socket string `yaml:"socket"`
}

// Log selects verbosity (debug, info, warn, error) and format (text, json).
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Metrics is the Prometheus listener, host:port; empty keeps it off.
type Metrics struct {
	Address string `yaml:"address,omitempty"`
}

// BGP holds the defaults every neighbor inherits.
type BGP struct {
	Timers         Timers `yaml:"timers"`
	MaxPaths       int    `yaml:"max-paths"`
	MultipathRelax bool   `yaml:"multipath-relax,omitempty"`
	BFD            BFD    `yaml:"bfd"`
}

// Timers are in seconds. Hold 0 turns keepalives off (RFC 4271 4.2).
type Timers struct {
	Keepalive int `yaml:"keepalive"`
	Hold      int `yaml:"hold"`
}

// BFD timers: interval in milliseconds (both transmit and receive) and the
// detection multiplier.
type BFD struct {
	Interval   int `yaml:"interval"`
	Multiplier int `yaml:"multiplier"`
}

// Neighbor is one BGP peer, or with ListenRange a set of dynamic peers.
// Exactly one of Address, Interface (unnumbered, IPv6 link-local) and
// ListenRange is set.
type Neighbor struct {
	Address          netip.Addr   `yaml:"address,omitempty"`
	Interface        string       `yaml:"interface,omitempty"`
	ListenRange      netip.Prefix `yaml:"listen-range,omitempty"`
	Limit            int          `yaml:"limit,omitempty"`
	RemoteAS         RemoteAS     `yaml:"remote-as"`
	Description      string       `yaml:"description,omitempty"`
	Password         string       `yaml:"password,omitempty"`
	TTLSecurity      bool         `yaml:"ttl-security,omitempty"`
	Multihop         int          `yaml:"multihop,omitempty"`
	Port             uint16       `yaml:"port,omitempty"`
	Families         []string     `yaml:"families,omitempty"`
	BFD              NeighborBFD  `yaml:"bfd,omitempty"`
	AllowASIn        int          `yaml:"allowas-in,omitempty"`
	RemovePrivateAS  string       `yaml:"remove-private-as,omitempty"`
	DefaultOriginate bool         `yaml:"default-originate,omitempty"`
	NextHopSelf      bool         `yaml:"next-hop-self,omitempty"`
	Prepend          int          `yaml:"prepend,omitempty"`
	MaxPrefix        int          `yaml:"max-prefix,omitempty"`
	RouteMap         RouteMapRefs `yaml:"route-map,omitempty"`
	Shutdown         bool         `yaml:"shutdown,omitempty"`
	ShutdownMessage  string       `yaml:"shutdown-message,omitempty"`
	Timers           *Timers      `yaml:"timers,omitempty"`
	// SoftReconfigInbound keeps the routes the peer sends before the
	// import policy, so a policy change re-runs over them without a
	// ROUTE-REFRESH, and `clos show bgp neighbor X received-routes` works.
	SoftReconfigInbound bool `yaml:"soft-reconfiguration-inbound,omitempty"`
}

// RouteMapRefs names the route-maps applied to a neighbor's routes.
type RouteMapRefs struct {
	In  string `yaml:"in,omitempty"`
	Out string `yaml:"out,omitempty"`
}

// Families closd knows.
const (
	IPv4Unicast = "ipv4-unicast"
	IPv6Unicast = "ipv6-unicast"
)

// Remove-private-as modes.
var removePrivateModes = []string{"none", "all", "replace"}

// Redistribute selects routes originated from other sources.
type Redistribute struct {
	Connected *RedistributeConnected `yaml:"connected,omitempty"`
}

// RedistributeConnected originates the connected prefixes that the named
// prefix-list permits (all of them when PrefixList is empty).
type RedistributeConnected struct {
	PrefixList string `yaml:"prefix-list,omitempty"`
}

// Aggregate originates Prefix when a more specific is present.
type Aggregate struct {
	Prefix      netip.Prefix `yaml:"prefix"`
	SummaryOnly bool         `yaml:"summary-only,omitempty"`
	Discard     bool         `yaml:"discard,omitempty"`
}

// Policy holds the named filters that neighbors and redistribution refer to.
type Policy struct {
	PrefixLists    []PrefixList    `yaml:"prefix-lists,omitempty"`
	ASPathLists    []ASPathList    `yaml:"as-path-lists,omitempty"`
	CommunityLists []CommunityList `yaml:"community-lists,omitempty"`
	RouteMaps      []RouteMap      `yaml:"route-maps,omitempty"`
}

// PrefixList matches prefixes; entries are tried in seq order.
type PrefixList struct {
	Name    string            `yaml:"name"`
	Entries []PrefixListEntry `yaml:"entries"`
}

// PrefixListEntry matches Prefix exactly, or with GE/LE any more specific
// whose length is in [GE, LE].
type PrefixListEntry struct {
	Seq    int          `yaml:"seq"`
	Action string       `yaml:"action"`
	Prefix netip.Prefix `yaml:"prefix"`
	GE     int          `yaml:"ge,omitempty"`
	LE     int          `yaml:"le,omitempty"`
}

// ASPathList matches the AS_PATH, as a string of ASNs separated by spaces,
// against Go regular expressions.
type ASPathList struct {
	Name    string        `yaml:"name"`
	Entries []RegexpEntry `yaml:"entries"`
}

// RegexpEntry is one permit/deny line of an AS-path list.
type RegexpEntry struct {
	Action string `yaml:"action"`
	Regex  string `yaml:"regex"`
}

// CommunityList matches routes carrying any of its communities.
type CommunityList struct {
	Name    string           `yaml:"name"`
	Entries []CommunityEntry `yaml:"entries"`
}

// CommunityEntry is one permit/deny line: "ASN:VALUE" or a well-known name.
type CommunityEntry struct {
	Action    string `yaml:"action"`
	Community string `yaml:"community"`
}

// RouteMap is an ordered list of entries; the first whose matches all hold
// decides, and a route no entry matches is denied.
type RouteMap struct {
	Name    string          `yaml:"name"`
	Entries []RouteMapEntry `yaml:"entries"`
}

// RouteMapEntry matches and, when it permits, sets attributes.
type RouteMapEntry struct {
	Seq    int           `yaml:"seq"`
	Action string        `yaml:"action"`
	Match  RouteMapMatch `yaml:"match,omitempty"`
	Set    RouteMapSet   `yaml:"set,omitempty"`
}

// RouteMapMatch conditions; empty fields match everything.
type RouteMapMatch struct {
	PrefixList    string     `yaml:"prefix-list,omitempty"`
	ASPathList    string     `yaml:"as-path-list,omitempty"`
	CommunityList string     `yaml:"community-list,omitempty"`
	NextHop       netip.Addr `yaml:"next-hop,omitempty"`
}

// RouteMapSet actions; nil pointers leave the attribute alone.
type RouteMapSet struct {
	LocalPref       *uint32    `yaml:"local-pref,omitempty"`
	MED             *uint32    `yaml:"med,omitempty"`
	CommunityAdd    []string   `yaml:"community-add,omitempty"`
	CommunityRemove []string   `yaml:"community-remove,omitempty"`
	Prepend         []uint32   `yaml:"prepend,omitempty"`
	NextHop         netip.Addr `yaml:"next-hop,omitempty"`
	Weight          *uint32    `yaml:"weight,omitempty"`
}

// Interface describes a server-facing port. It is a hook for learning host
// routes from ARP/ND (internal/neigh): today closd validates it and records
// it, and the planner fills it in; the learning itself belongs to that
// package.
type Interface struct {
	Name     string         `yaml:"name"`
	Prefixes []netip.Prefix `yaml:"prefixes,omitempty"`
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses a config; name is used in error messages. The error, when
// not nil, lists every problem found, one per line.
func Parse(name string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s:1: empty file; want a map with at least router-id and asn", name)
	}
	root := doc.Content[0]
	d := &decoder{file: name, lines: map[string]int{}}
	c := &Config{}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: got %s at the top; want a map with router-id, asn, neighbors, ...", name, root.Line, kindName(root))
	}
	d.decode(root, reflect.ValueOf(c).Elem(), "")
	if len(d.errs) > 0 {
		return nil, errors.New(strings.Join(d.errs, "\n"))
	}
	c.applyDefaults()
	v := &validator{d: d, c: c}
	v.validate()
	if len(d.errs) > 0 {
		return nil, errors.New(strings.Join(d.errs, "\n"))
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	if c.Role == "" {
		c.Role = "switch"
	}
	if c.Listen.Port == 0 {
		c.Listen.Port = DefaultPort
	}
	if c.API.Socket == "" {
		c.API.Socket = DefaultAPISocket
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.BGP.Timers == (Timers{}) {
		c.BGP.Timers = Timers{Keepalive: DefaultKeepalive, Hold: DefaultHold}
	}
	if c.BGP.MaxPaths == 0 {
		c.BGP.MaxPaths = DefaultMaxPaths
	}
	if c.BGP.BFD.Interval == 0 {
		c.BGP.BFD.Interval = DefaultBFDInterval
	}
	if c.BGP.BFD.Multiplier == 0 {
		c.BGP.BFD.Multiplier = DefaultBFDMultiplier
	}
	c.applyServiceDefaults()
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		if n.ListenRange.IsValid() && n.Limit == 0 {
			n.Limit = DefaultListenRangeMax
		}
		if len(n.Families) == 0 {
			switch {
			case n.Address.Is6() || n.ListenRange.Addr().Is6():
				n.Families = []string{IPv6Unicast}
			case n.Interface != "":
				n.Families = []string{IPv4Unicast, IPv6Unicast}
			default:
				n.Families = []string{IPv4Unicast}
			}
		}
	}
}

// Marshal writes c as canonical YAML: fields in schema order, defaults
// written out, so Parse(Marshal(c)) gives c back.
func (c *Config) Marshal() ([]byte, error) {
	n, err := encodeNode(reflect.ValueOf(c).Elem())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
