package sim

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/plan"
)

// Topology is what a simulation runs: the switches with the closd config
// the plan gives each, and the cables between them.
type Topology struct {
	Name   string
	Stages int
	Nodes  []NodeSpec
	Links  []LinkSpec
}

// NodeSpec is one BGP speaker.
type NodeSpec struct {
	Name, Role string
	// Tier is RFC 7938's: 1 is the middle stage, leaves have the highest.
	Tier       int
	Config     *config.Config
	Interfaces []IfaceSpec
}

// IfaceSpec is a fabric port: its addresses and the NODE:IFACE across the
// cable.
type IfaceSpec struct {
	Name      string
	Addresses []netip.Prefix
	Peer      string
}

// LinkSpec is a cable between two speakers, named as the plan names it
// ("leaf1:swp1--spine3:swp1").
type LinkSpec struct {
	Name string
	A, B plan.End
}

// checkHosts refuses host modes whose routes come from what the simulator
// does not model.
func checkHosts(mode string) error {
	switch mode {
	case "", plan.HostsSubnet, plan.HostsBGP:
		// With hosts: bgp the servers are speakers only when asked
		// for (FromPlan's servers); otherwise the leaves' dynamic
		// neighbors are left out.
	case plan.HostsNeighbor:
		return fmt.Errorf("hosts: %q: servers' host routes are learned from ARP/ND, which clos sim does not model; simulate the fabric with hosts: subnet (the default) or bgp", mode)
	default:
		return fmt.Errorf("hosts: %q: valid: %s, %s, %s", mode, plan.HostsSubnet, plan.HostsNeighbor, plan.HostsBGP)
	}
	return nil
}

// FromPlan takes the switches of p with the closd configs clos plan
// writes for them; with servers, and a hosts: bgp plan, the servers too,
// each with its own closd config (role host).
func FromPlan(p *plan.Plan, servers bool) (*Topology, error) {
	in := p.Intent
	if err := checkHosts(in.Hosts); err != nil {
		return nil, err
	}
	if err := checkServers(in.Hosts, servers); err != nil {
		return nil, err
	}
	t := &Topology{Name: in.Name, Stages: in.Stages}
	speakers := map[string]bool{}
	add := func(n *plan.Node, role string, tier int, c *config.Config) {
		ns := NodeSpec{Name: n.Name, Role: role, Tier: tier, Config: c}
		for _, ifc := range n.Interfaces {
			ns.Interfaces = append(ns.Interfaces, IfaceSpec{Name: ifc.Name, Addresses: ifc.Addresses, Peer: ifc.Peer})
		}
		t.Nodes = append(t.Nodes, ns)
		speakers[n.Name] = true
	}
	leafTier := 0
	for _, n := range p.Switches {
		add(n, n.Role, n.Tier, p.Closd(n))
		leafTier = max(leafTier, n.Tier)
	}
	if servers {
		for _, n := range p.Servers {
			add(n, plan.RoleServer, leafTier+1, p.HostConfig(n))
		}
	}
	for _, l := range p.Links {
		if speakers[l.A.Node] && speakers[l.B.Node] {
			t.Links = append(t.Links, LinkSpec{Name: l.Name(), A: l.A, B: l.B})
		}
	}
	return t, nil
}

// FromFabric reads a fabric.yaml written by clos plan and the closd
// configs it names (paths relative to the file); servers as FromPlan.
func FromFabric(path string, servers bool) (*Topology, error) {
	f, err := plan.ReadFabric(path)
	if err != nil {
		return nil, err
	}
	if err := checkHosts(f.Hosts); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkServers(f.Hosts, servers); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	t := &Topology{Name: f.Name, Stages: f.Stages}
	speakers := map[string]bool{}
	load := func(name, rel string) (*config.Config, error) {
		if rel == "" {
			return nil, fmt.Errorf("%s: node %s: no closd config in the plan", path, name)
		}
		return config.Load(filepath.Join(dir, filepath.FromSlash(rel)))
	}
	ifaces := func(in []plan.FabricInterface) []IfaceSpec {
		var out []IfaceSpec
		for _, i := range in {
			out = append(out, IfaceSpec{Name: i.Name, Addresses: i.Addresses, Peer: i.Peer})
		}
		return out
	}
	leafTier := 0
	for _, n := range f.Nodes {
		c, err := load(n.Name, n.Closd)
		if err != nil {
			return nil, err
		}
		t.Nodes = append(t.Nodes, NodeSpec{Name: n.Name, Role: n.Role, Tier: n.Tier, Config: c, Interfaces: ifaces(n.Interfaces)})
		speakers[n.Name] = true
		leafTier = max(leafTier, n.Tier)
	}
	if servers {
		for _, h := range f.Servers {
			c, err := load(h.Name, h.Closd)
			if err != nil {
				return nil, err
			}
			t.Nodes = append(t.Nodes, NodeSpec{Name: h.Name, Role: plan.RoleServer, Tier: leafTier + 1, Config: c, Interfaces: ifaces(h.Interfaces)})
			speakers[h.Name] = true
		}
	}
	for _, l := range f.Links {
		if speakers[l.A.Node] && speakers[l.B.Node] {
			t.Links = append(t.Links, LinkSpec{Name: l.Name,
				A: plan.End{Node: l.A.Node, Interface: l.A.Interface, Addresses: l.A.Addresses},
				B: plan.End{Node: l.B.Node, Interface: l.B.Interface, Addresses: l.B.Addresses}})
		}
	}
	return t, nil
}

// checkServers: servers are speakers only where they run closd.
func checkServers(mode string, servers bool) error {
	if servers && mode != plan.HostsBGP {
		return fmt.Errorf("servers: only a hosts: bgp plan runs BGP on its servers; this one has hosts: %s", cmpOr(mode, plan.HostsSubnet))
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// names lists up to max names from the list, for error messages.
func someNames(all []string, max int) string {
	if len(all) <= max {
		return strings.Join(all, ", ")
	}
	return fmt.Sprintf("%s, ... (%d in all)", strings.Join(all[:max], ", "), len(all))
}
