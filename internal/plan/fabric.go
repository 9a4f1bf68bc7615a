package plan

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"

	"go.yaml.in/yaml/v3"
)

// FabricVersion is the version of the fabric.yaml schema written here.
const FabricVersion = 1

// Fabric is fabric.yaml: the whole plan as data, the input of clos lab up.
// docs/plan.md documents every field.
type Fabric struct {
	Version        int           `yaml:"version"`
	Name           string        `yaml:"name"`
	Stages         int           `yaml:"stages"`
	LinkAddressing string        `yaml:"link-addressing"`
	Hosts          string        `yaml:"hosts"`
	ASNScheme      string        `yaml:"asn-scheme"`
	BFD            FabricBFD     `yaml:"bfd"`
	Summary        FabricSummary `yaml:"summary"`
	Nodes          []FabricNode  `yaml:"nodes"`
	Servers        []FabricHost  `yaml:"servers"`
	Links          []FabricLink  `yaml:"links"`
}

// FabricBFD is the BFD setting every session of the fabric uses.
type FabricBFD struct {
	Enabled    bool `yaml:"enabled"`
	Interval   int  `yaml:"interval"`
	Multiplier int  `yaml:"multiplier"`
}

// FabricSummary counts what the plan holds.
type FabricSummary struct {
	Switches         int                    `yaml:"switches"`
	Servers          int                    `yaml:"servers"`
	FabricLinks      int                    `yaml:"fabric-links"`
	ServerLinks      int                    `yaml:"server-links"`
	BGPSessions      int                    `yaml:"bgp-sessions"`
	Oversubscription []FabricOversubscribed `yaml:"oversubscription"`
	Warnings         []string               `yaml:"warnings,omitempty"`
}

// FabricOversubscribed is one tier's ratio of down to up bandwidth.
type FabricOversubscribed struct {
	Tier     string  `yaml:"tier"`
	DownGbps float64 `yaml:"down-gbps"`
	UpGbps   float64 `yaml:"up-gbps"`
	Ratio    float64 `yaml:"ratio"`
}

// FabricNode is a switch.
type FabricNode struct {
	Name          string            `yaml:"name"`
	Role          string            `yaml:"role"`
	Tier          int               `yaml:"tier"`
	Pod           int               `yaml:"pod,omitempty"`
	Plane         int               `yaml:"plane,omitempty"`
	ID            int               `yaml:"id"`
	ASN           uint32            `yaml:"asn"`
	RouterID      netip.Addr        `yaml:"router-id"`
	Loopbacks     []netip.Prefix    `yaml:"loopbacks"`
	ServerSubnets []netip.Prefix    `yaml:"server-subnets,omitempty"`
	AllowASIn     int               `yaml:"allowas-in,omitempty"`
	Interfaces    []FabricInterface `yaml:"interfaces"`
	Closd         string            `yaml:"closd"`
	FRR           string            `yaml:"frr"` // empty where the plan writes no frr.conf
}

// FabricInterface is a port, or a leaf's server bridge.
type FabricInterface struct {
	Name      string         `yaml:"name"`
	Kind      string         `yaml:"kind"`
	Addresses []netip.Prefix `yaml:"addresses,omitempty"`
	Peer      string         `yaml:"peer,omitempty"`
	Bridge    string         `yaml:"bridge,omitempty"`
	Members   []string       `yaml:"members,omitempty"`
	MAC       string         `yaml:"mac,omitempty"`
}

// FabricHost is a server: static addresses and default routes, no daemon;
// with hosts: bgp, closd (role host) with its ASN, loopbacks and services
// instead of routes.
type FabricHost struct {
	Name       string            `yaml:"name"`
	ID         int               `yaml:"id"`
	Leaf       string            `yaml:"leaf"`
	Pod        int               `yaml:"pod,omitempty"`
	ASN        uint32            `yaml:"asn,omitempty"`
	Loopbacks  []netip.Prefix    `yaml:"loopbacks,omitempty"`
	Interfaces []FabricInterface `yaml:"interfaces"`
	Gateways   []netip.Addr      `yaml:"gateways"`
	Routes     []FabricRoute     `yaml:"routes"`
	Services   []FabricService   `yaml:"services,omitempty"`
	Closd      string            `yaml:"closd,omitempty"`
	FRR        string            `yaml:"frr,omitempty"`
}

// FabricService is an anycast service placed on a server (hosts: bgp).
type FabricService struct {
	Name      string         `yaml:"name"`
	Addresses []netip.Prefix `yaml:"addresses"`
	Check     HostCheck      `yaml:"check"`
}

// FabricRoute is a static route of a server.
type FabricRoute struct {
	Prefix netip.Prefix `yaml:"prefix"`
	Via    netip.Addr   `yaml:"via"`
	Dev    string       `yaml:"dev"`
	Onlink bool         `yaml:"onlink,omitempty"`
}

// FabricLink is a cable, named by its two ends.
type FabricLink struct {
	Name    string         `yaml:"name"`
	Kind    string         `yaml:"kind"`
	A       FabricEnd      `yaml:"a"`
	B       FabricEnd      `yaml:"b"`
	Subnets []netip.Prefix `yaml:"subnets,omitempty"`
}

// FabricEnd is one end of a link.
type FabricEnd struct {
	Node      string         `yaml:"node"`
	Interface string         `yaml:"interface"`
	Addresses []netip.Prefix `yaml:"addresses,omitempty"`
}

func ifaces(in []Interface) []FabricInterface {
	out := make([]FabricInterface, 0, len(in))
	for _, i := range in {
		out = append(out, FabricInterface{Name: i.Name, Kind: i.Kind, Addresses: i.Addresses, Peer: i.Peer, Bridge: i.Bridge, Members: i.Members, MAC: i.MAC})
	}
	return out
}

// Fabric converts the plan to its fabric.yaml form.
func (p *Plan) Fabric() *Fabric {
	in := p.Intent
	f := &Fabric{
		Version: FabricVersion, Name: in.Name, Stages: in.Stages, LinkAddressing: in.LinkAddressing,
		Hosts: in.Hosts, ASNScheme: in.ASN.Scheme,
		BFD: FabricBFD{Enabled: *in.BFD.Enabled, Interval: in.BFD.Interval, Multiplier: in.BFD.Multiplier},
	}
	f.Summary = FabricSummary{Switches: len(p.Switches), Servers: len(p.Servers), BGPSessions: p.Sessions, Warnings: p.Warnings,
		Oversubscription: []FabricOversubscribed{}}
	for _, o := range p.Oversubscription {
		f.Summary.Oversubscription = append(f.Summary.Oversubscription, FabricOversubscribed{o.Tier, o.DownGbps, o.UpGbps, o.Ratio})
	}
	for _, n := range p.Switches {
		f.Nodes = append(f.Nodes, FabricNode{
			Name: n.Name, Role: n.Role, Tier: n.Tier, Pod: n.Pod, Plane: n.Plane, ID: n.ID, ASN: n.ASN,
			RouterID: n.RouterID, Loopbacks: n.Loopbacks, ServerSubnets: n.ServerSubnets, AllowASIn: n.AllowASIn,
			Interfaces: ifaces(n.Interfaces),
			Closd:      "closd/" + n.Name + ".yaml", FRR: "frr/" + n.Name + "/frr.conf",
		})
		if !p.writesFRR(n) {
			f.Nodes[len(f.Nodes)-1].FRR = ""
		}
	}
	f.Servers = []FabricHost{}
	for _, s := range p.Servers {
		h := FabricHost{Name: s.Name, ID: s.ID, Leaf: s.Leaf, Pod: s.Pod, Interfaces: ifaces(s.Interfaces), Gateways: s.Gateways, Routes: p.serverRoutes(s)}
		if in.Hosts == HostsBGP {
			h.Routes = []FabricRoute{}
			p.fabricHost(s, &h)
		}
		f.Servers = append(f.Servers, h)
	}
	for _, l := range p.Links {
		if l.Kind == KindFabric {
			f.Summary.FabricLinks++
		} else {
			f.Summary.ServerLinks++
		}
		f.Links = append(f.Links, FabricLink{Name: l.Name(), Kind: l.Kind,
			A: FabricEnd{l.A.Node, l.A.Interface, l.A.Addresses}, B: FabricEnd{l.B.Node, l.B.Interface, l.B.Addresses}, Subnets: l.Subnets})
	}
	return f
}

// Marshal writes fabric.yaml: the header with yaml.v3, the long lists
// (nodes, servers, links) with the small writer of emit.go, because yaml.v3
// slows down sharply on one huge document and a 100,000 server fabric must
// still plan in seconds.
func (f *Fabric) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# fabric.yaml written by clos plan; schema: docs/plan.md\n")
	head := *f
	head.Nodes, head.Servers, head.Links = nil, nil, nil
	hb, err := encodeYAML(head)
	if err != nil {
		return nil, err
	}
	// Drop the empty lists the header encodes; they follow in full.
	for _, line := range bytes.SplitAfter(hb, []byte("\n")) {
		switch string(line) {
		case "nodes: []\n", "servers: []\n", "links: []\n":
			continue
		}
		buf.Write(line)
	}
	e := emitter{&buf}
	topList(e, "nodes", f.Nodes, e.node)
	topList(e, "servers", f.Servers, e.server)
	topList(e, "links", f.Links, e.link)
	return buf.Bytes(), nil
}

// topList writes the top-level list key with each item written by item,
// or "key: []" when it is empty, as yaml.v3 would.
func topList[T any](e emitter, key string, items []T, item func(T)) {
	if len(items) == 0 {
		e.buf.WriteString(key + ": []\n")
		return
	}
	e.buf.WriteString(key + ":\n")
	for _, x := range items {
		item(x)
	}
}

func encodeYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadFabric loads a fabric.yaml (for clos lab and tests). Unknown fields
// and a version other than FabricVersion are errors.
func ReadFabric(path string) (*Fabric, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFabric(path, data)
}

// ParseFabric parses the bytes of a fabric.yaml; name is used in errors.
func ParseFabric(name string, data []byte) (*Fabric, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f Fabric
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if f.Version != FabricVersion {
		return nil, fmt.Errorf("%s: version: %d; this clos reads version %d (re-run clos plan)", name, f.Version, FabricVersion)
	}
	return &f, nil
}
