package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RemoteASKind says how a neighbor's AS is given.
type RemoteASKind uint8

const (
	// ASNone: remote-as was not given (an error for every neighbor).
	ASNone RemoteASKind = iota
	// ASNumbers: one ASN, or for a listen-range a list of ASNs and ranges.
	ASNumbers
	// ASExternal: any AS other than ours (eBGP), learned from the OPEN.
	ASExternal
	// ASInternal: our own AS (iBGP).
	ASInternal
)

// ASRange is an inclusive range of ASNs; a single ASN has Min == Max.
type ASRange struct {
	Min, Max uint32
}

// RemoteAS is what a neighbor's OPEN must carry: a number (65001), a
// keyword (external, internal), or for dynamic neighbors a range
// ("65100-65199") or a list of numbers and ranges.
type RemoteAS struct {
	Kind   RemoteASKind
	Ranges []ASRange
}

// Single reports the one ASN of a plain numbered remote-as.
func (r RemoteAS) Single() (uint32, bool) {
	if r.Kind == ASNumbers && len(r.Ranges) == 1 && r.Ranges[0].Min == r.Ranges[0].Max {
		return r.Ranges[0].Min, true
	}
	return 0, false
}

// Contains reports whether asn is acceptable for a numbered remote-as.
func (r RemoteAS) Contains(asn uint32) bool {
	for _, g := range r.Ranges {
		if asn >= g.Min && asn <= g.Max {
			return true
		}
	}
	return false
}

// ASN returns a remote-as of exactly one number.
func ASN(n uint32) RemoteAS { return RemoteAS{Kind: ASNumbers, Ranges: []ASRange{{n, n}}} }

const remoteASWant = `want an ASN 1..4294967295, "external", "internal", a range like "65100-65199", or for a listen-range a list of those`

func parseASRange(s string) (ASRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
	if err != nil || a == 0 {
		return ASRange{}, fmt.Errorf("bad ASN %q", s)
	}
	if !isRange {
		return ASRange{uint32(a), uint32(a)}, nil
	}
	b, err := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
	if err != nil || b < a {
		return ASRange{}, fmt.Errorf("bad ASN range %q; the second number must be >= the first", s)
	}
	return ASRange{uint32(a), uint32(b)}, nil
}

func (r *RemoteAS) unmarshalNode(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "external":
			*r = RemoteAS{Kind: ASExternal}
			return nil
		case "internal":
			*r = RemoteAS{Kind: ASInternal}
			return nil
		}
		g, err := parseASRange(n.Value)
		if err != nil {
			return fmt.Errorf("%v; %s", err, remoteASWant)
		}
		*r = RemoteAS{Kind: ASNumbers, Ranges: []ASRange{g}}
		return nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return fmt.Errorf("empty list; %s", remoteASWant)
		}
		out := RemoteAS{Kind: ASNumbers}
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("list item %s; %s", kindName(c), remoteASWant)
			}
			g, err := parseASRange(c.Value)
			if err != nil {
				return fmt.Errorf("%v; %s", err, remoteASWant)
			}
			out.Ranges = append(out.Ranges, g)
		}
		*r = out
		return nil
	}
	return fmt.Errorf("got %s; %s", kindName(n), remoteASWant)
}

// MarshalYAML writes the shortest form that parses back to r.
func (r RemoteAS) MarshalYAML() (any, error) {
	switch r.Kind {
	case ASExternal:
		return "external", nil
	case ASInternal:
		return "internal", nil
	case ASNone:
		return nil, nil
	}
	item := func(g ASRange) *yaml.Node {
		if g.Min == g.Max {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(uint64(g.Min), 10)}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("%d-%d", g.Min, g.Max)}
	}
	if len(r.Ranges) == 1 {
		return item(r.Ranges[0]), nil
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, g := range r.Ranges {
		seq.Content = append(seq.Content, item(g))
	}
	return seq, nil
}

// NeighborBFD turns BFD on for a neighbor, optionally with its own timers,
// profile and authentication (zero means the profile's, then the bgp.bfd
// default). YAML: true, false, or {profile: NAME, interval: 100,
// multiplier: 3, auth: {...}, strict: true} which also turns it on (see
// bfd.go).
type NeighborBFD struct {
	Enabled    bool
	Profile    string
	Interval   int
	Multiplier int
	Auth       *BFDAuth
	// Strict: BGP connects only while BFD is Up, the first time too (FRR's
	// `neighbor X bfd strict`). Without it BGP waits for BFD only after
	// BFD went Down from Up.
	Strict bool
}

// IsZero lets omitempty drop a neighbor's bfd when it is off.
func (b NeighborBFD) IsZero() bool { return !b.Enabled }
