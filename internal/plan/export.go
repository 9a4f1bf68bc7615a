package plan

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// File is one output of clos plan, relative to the output directory.
type File struct {
	Path string
	Data []byte
}

// Files renders every output in a fixed order; the same plan always gives
// byte-identical files.
func (p *Plan) Files() ([]File, error) {
	var out []File
	fy, err := p.Fabric().Marshal()
	if err != nil {
		return nil, err
	}
	out = append(out, File{"fabric.yaml", fy})
	for _, n := range p.Switches {
		c, err := p.Closd(n).Marshal()
		if err != nil {
			return nil, fmt.Errorf("closd config of %s: %w", n.Name, err)
		}
		out = append(out, File{"closd/" + n.Name + ".yaml", c})
	}
	for _, n := range p.Switches {
		if p.writesFRR(n) {
			out = append(out, File{"frr/" + n.Name + "/frr.conf", []byte(p.FRR(n))})
		}
	}
	hf, err := p.hostFiles()
	if err != nil {
		return nil, err
	}
	out = append(out, hf...)
	out = append(out, File{"frr/daemons", []byte(frrDaemons)})
	// containerlab's switches are FRR containers, which cannot be leaves
	// in neighbor mode.
	if p.Intent.Hosts != HostsNeighbor {
		clab, err := p.Containerlab()
		if err != nil {
			return nil, err
		}
		out = append(out, File{"fabric.clab.yml", clab})
	}
	out = append(out, File{"fabric.dot", []byte(p.Dot())})
	out = append(out, File{"fabric.mmd", []byte(p.Mermaid())})
	for _, t := range p.Tables() {
		out = append(out, File{t.Name + ".md", t.Markdown()}, File{t.Name + ".csv", t.CSV()})
	}
	return out, nil
}

// frrDaemons turns on the daemons the generated frr.conf needs.
const frrDaemons = `# FRR daemons for a clos plan node: BGP and BFD
zebra=yes
bgpd=yes
bfdd=yes
ospfd=no
ospf6d=no
ripd=no
ripngd=no
isisd=no
pimd=no
ldpd=no
nhrpd=no
eigrpd=no
babeld=no
sharpd=no
pbrd=no
fabricd=no
vrrpd=no
pathd=no
vtysh_enable=yes
zebra_options="  -A 127.0.0.1 -s 90000000"
bgpd_options="   -A 127.0.0.1"
bfdd_options="   -A 127.0.0.1"
`

type clabNode struct {
	Kind  string   `yaml:"kind"`
	Image string   `yaml:"image"`
	Binds []string `yaml:"binds,omitempty"`
	Exec  []string `yaml:"exec,omitempty"`
	Group string   `yaml:"group,omitempty"`
}

// Containerlab renders fabric.clab.yml: FRR containers for switches with
// their frr.conf bound in, Linux containers for servers with static
// addresses and default routes, written by the small emitter of emit.go.
func (p *Plan) Containerlab() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# containerlab topology written by clos plan; deploy with: containerlab deploy -t fabric.clab.yml\n")
	head, err := encodeYAML(map[string]string{"name": p.Intent.Name})
	if err != nil {
		return nil, err
	}
	buf.Write(head)
	buf.WriteString("topology:\n  nodes:\n")
	e := emitter{&buf}
	addNode := func(name string, n clabNode) error {
		e.clabNode(name, n)
		return nil
	}
	for _, n := range p.Switches {
		cn := clabNode{Kind: "linux", Image: p.Intent.Images.Switch, Group: n.Role,
			Binds: []string{"frr/" + n.Name + "/frr.conf:/etc/frr/frr.conf", "frr/daemons:/etc/frr/daemons"}}
		for _, ifc := range n.Interfaces {
			if ifc.Kind != KindBridge {
				continue
			}
			cn.Exec = append(cn.Exec, "ip link add "+ifc.Name+" type bridge")
			for _, m := range ifc.Members {
				cn.Exec = append(cn.Exec, "ip link set "+m+" master "+ifc.Name)
			}
			cn.Exec = append(cn.Exec, "ip link set "+ifc.Name+" up")
		}
		if err := addNode(n.Name, cn); err != nil {
			return nil, err
		}
	}
	for _, s := range p.Servers {
		cn := clabNode{Kind: "linux", Image: p.Intent.Images.Server, Group: RoleServer}
		ifc := s.Interfaces[0]
		for _, a := range ifc.Addresses {
			cn.Exec = append(cn.Exec, fmt.Sprintf("ip %saddr add %s dev %s", famFlag(a.Addr()), a, ifc.Name))
		}
		for _, lo := range s.Loopbacks { // hosts: bgp
			cn.Exec = append(cn.Exec, fmt.Sprintf("ip %saddr add %s dev lo", famFlag(lo.Addr()), lo))
		}
		for _, gw := range s.Gateways {
			cn.Exec = append(cn.Exec, fmt.Sprintf("ip %sroute replace default via %s dev %s", famFlag(gw), gw, ifc.Name))
		}
		if err := addNode(s.Name, cn); err != nil {
			return nil, err
		}
	}
	buf.WriteString("  links:\n")
	for _, l := range p.Links {
		fmt.Fprintf(&buf, "    - endpoints: [%q, %q]\n", l.A.String(), l.B.String())
	}
	return buf.Bytes(), nil
}

func famFlag(a netip.Addr) string {
	if a.Is6() {
		return "-6 "
	}
	return ""
}

func label(n *Node) string {
	if n.Role == RoleServer {
		return n.Name
	}
	return fmt.Sprintf("%s\\nAS%d\\n%s", n.Name, n.ASN, n.RouterID)
}

// Dot renders the fabric for Graphviz, one rank per tier.
func (p *Plan) Dot() string {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s written by clos plan; render with: dot -Tsvg fabric.dot -o fabric.svg\n", p.Intent.Name)
	fmt.Fprintf(&b, "graph %q {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n", p.Intent.Name)
	ranks := map[int][]string{}
	maxTier := 0
	for _, n := range p.Switches {
		fmt.Fprintf(&b, "  %q [label=\"%s\"];\n", n.Name, label(n))
		ranks[n.Tier] = append(ranks[n.Tier], n.Name)
		maxTier = max(maxTier, n.Tier)
	}
	for _, s := range p.Servers {
		fmt.Fprintf(&b, "  %q [shape=ellipse];\n", s.Name)
		ranks[maxTier+1] = append(ranks[maxTier+1], s.Name)
	}
	for t := 1; t <= maxTier+1; t++ {
		if len(ranks[t]) == 0 {
			continue
		}
		b.WriteString("  { rank=same;")
		for _, n := range ranks[t] {
			fmt.Fprintf(&b, " %q;", n)
		}
		b.WriteString(" }\n")
	}
	for _, l := range p.Links {
		fmt.Fprintf(&b, "  %q -- %q [taillabel=%q, headlabel=%q];\n", l.A.Node, l.B.Node, l.A.Interface, l.B.Interface)
	}
	b.WriteString("}\n")
	return b.String()
}

func mermaidID(s string) string { return strings.ReplaceAll(s, "-", "_") }

// Mermaid renders the fabric as a Mermaid flowchart.
func (p *Plan) Mermaid() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%%%% %s written by clos plan\nflowchart BT\n", p.Intent.Name)
	for _, n := range p.Switches {
		fmt.Fprintf(&b, "  %s[\"%s<br/>AS%d<br/>%s\"]\n", mermaidID(n.Name), n.Name, n.ASN, n.RouterID)
	}
	for _, s := range p.Servers {
		fmt.Fprintf(&b, "  %s([\"%s\"])\n", mermaidID(s.Name), s.Name)
	}
	for _, l := range p.Links {
		fmt.Fprintf(&b, "  %s ---|\"%s - %s\"| %s\n", mermaidID(l.A.Node), l.A.Interface, l.B.Interface, mermaidID(l.B.Node))
	}
	return b.String()
}

// Table is a plan table, written as Markdown and CSV.
type Table struct {
	Name, Title string
	Header      []string
	Rows        [][]string
}

// Markdown renders the table with a title.
func (t Table) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", t.Title)
	b.WriteString("| " + strings.Join(t.Header, " | ") + " |\n|")
	for range t.Header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.Bytes()
}

// CSV renders the table with a header row.
func (t Table) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(t.Header)
	_ = w.WriteAll(t.Rows) // writes to memory cannot fail
	return b.Bytes()
}

func prefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

func itoa(i int) string {
	if i == 0 {
		return ""
	}
	return strconv.Itoa(i)
}

// Tables returns the cabling, IP and ASN plans.
func (p *Plan) Tables() []Table {
	cab := Table{Name: "cabling", Title: p.Intent.Name + ": cabling plan", Header: []string{"link", "kind", "a-node", "a-interface", "b-node", "b-interface", "subnets"}}
	for _, l := range p.Links {
		cab.Rows = append(cab.Rows, []string{l.Name(), l.Kind, l.A.Node, l.A.Interface, l.B.Node, l.B.Interface, prefixes(l.Subnets)})
	}
	ip := Table{Name: "ip-plan", Title: p.Intent.Name + ": IP plan", Header: []string{"node", "role", "interface", "addresses", "peer"}}
	for _, n := range append(append([]*Node{}, p.Switches...), p.Servers...) {
		if len(n.Loopbacks) > 0 {
			ip.Rows = append(ip.Rows, []string{n.Name, n.Role, "lo", prefixes(n.Loopbacks), ""})
		}
		for _, i := range n.Interfaces {
			if len(i.Addresses) == 0 {
				continue
			}
			ip.Rows = append(ip.Rows, []string{n.Name, n.Role, i.Name, prefixes(i.Addresses), i.Peer})
		}
	}
	asn := Table{Name: "asn-plan", Title: p.Intent.Name + ": ASN plan (RFC 7938 7.2)", Header: []string{"node", "role", "tier", "pod", "plane", "asn", "router-id", "allowas-in"}}
	for _, n := range p.Switches {
		asn.Rows = append(asn.Rows, []string{n.Name, n.Role, strconv.Itoa(n.Tier), itoa(n.Pod), itoa(n.Plane), strconv.FormatUint(uint64(n.ASN), 10), n.RouterID.String(), itoa(n.AllowASIn)})
	}
	for _, s := range p.Servers {
		if s.ASN != 0 { // hosts: bgp
			asn.Rows = append(asn.Rows, []string{s.Name, s.Role, "", itoa(s.Pod), "", strconv.FormatUint(uint64(s.ASN), 10), s.RouterID.String(), ""})
		}
	}
	return []Table{cab, ip, asn}
}
