package plan

import (
	"bytes"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// A small block-style YAML writer for the lists that grow with the server
// count (servers, links, containerlab nodes). yaml.v3's encoder allocates
// heavily per document and per event; at 100,000 servers it dominated
// clos plan's run time. The output has the same shape yaml.v3 writes, and
// fabric.yaml still reads back through yaml.v3 (tested).

var plainRe = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./:@+ =-]*$`)

// scalar renders s as a plain scalar when YAML reads that back as the same
// string, otherwise double-quoted.
func scalar(s string) string {
	if s == "" || !plainRe.MatchString(s) || strings.Contains(s, ": ") || strings.HasSuffix(s, ":") || strings.HasSuffix(s, " ") {
		return strconv.Quote(s)
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~":
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	return s
}

type emitter struct {
	buf *bytes.Buffer
}

// kv writes "key: value" at indent; first marks the first key of a list
// item, which carries the "- ".
func (e emitter) kv(indent int, first bool, key, value string) {
	e.pad(indent, first)
	e.buf.WriteString(key)
	e.buf.WriteString(": ")
	e.buf.WriteString(value)
	e.buf.WriteByte('\n')
}

func (e emitter) key(indent int, first bool, key string) {
	e.pad(indent, first)
	e.buf.WriteString(key)
	e.buf.WriteString(":\n")
}

func (e emitter) pad(indent int, first bool) {
	if first {
		e.buf.WriteString(strings.Repeat(" ", indent-2))
		e.buf.WriteString("- ")
		return
	}
	e.buf.WriteString(strings.Repeat(" ", indent))
}

func (e emitter) list(indent int, key string, items []string) {
	e.key(indent, false, key)
	for _, it := range items {
		e.buf.WriteString(strings.Repeat(" ", indent+2))
		e.buf.WriteString("- ")
		e.buf.WriteString(scalar(it))
		e.buf.WriteByte('\n')
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// iface writes one interface as an item of a list at indent.
func (e emitter) iface(indent int, i FabricInterface) {
	e.kv(indent, true, "name", scalar(i.Name))
	e.kv(indent, false, "kind", scalar(i.Kind))
	if len(i.Addresses) > 0 {
		e.list(indent, "addresses", prefixStrings(i.Addresses))
	}
	if i.Peer != "" {
		e.kv(indent, false, "peer", scalar(i.Peer))
	}
	if i.Bridge != "" {
		e.kv(indent, false, "bridge", scalar(i.Bridge))
	}
	if len(i.Members) > 0 {
		e.list(indent, "members", i.Members)
	}
	if i.MAC != "" {
		e.kv(indent, false, "mac", scalar(i.MAC))
	}
}

func (e emitter) server(h FabricHost) {
	e.kv(4, true, "name", scalar(h.Name))
	e.kv(4, false, "id", strconv.Itoa(h.ID))
	e.kv(4, false, "leaf", scalar(h.Leaf))
	if h.Pod != 0 {
		e.kv(4, false, "pod", strconv.Itoa(h.Pod))
	}
	if h.ASN != 0 {
		e.kv(4, false, "asn", strconv.FormatUint(uint64(h.ASN), 10))
	}
	if len(h.Loopbacks) > 0 {
		e.list(4, "loopbacks", prefixStrings(h.Loopbacks))
	}
	e.key(4, false, "interfaces")
	for _, i := range h.Interfaces {
		e.iface(8, i)
	}
	gws := make([]string, len(h.Gateways))
	for i, g := range h.Gateways {
		gws[i] = g.String()
	}
	e.list(4, "gateways", gws)
	if len(h.Routes) == 0 {
		e.kv(4, false, "routes", "[]")
		e.hostBGP(h)
		return
	}
	e.key(4, false, "routes")
	for _, r := range h.Routes {
		e.kv(8, true, "prefix", scalar(r.Prefix.String()))
		e.kv(8, false, "via", scalar(r.Via.String()))
		e.kv(8, false, "dev", scalar(r.Dev))
		if r.Onlink {
			e.kv(8, false, "onlink", "true")
		}
	}
}

func (e emitter) end(indent int, key string, end FabricEnd) {
	e.key(indent, false, key)
	e.kv(indent+2, false, "node", scalar(end.Node))
	e.kv(indent+2, false, "interface", scalar(end.Interface))
	if len(end.Addresses) > 0 {
		e.list(indent+2, "addresses", prefixStrings(end.Addresses))
	}
}

func (e emitter) link(l FabricLink) {
	e.kv(4, true, "name", scalar(l.Name))
	e.kv(4, false, "kind", scalar(l.Kind))
	e.end(4, "a", l.A)
	e.end(4, "b", l.B)
	if len(l.Subnets) > 0 {
		e.list(4, "subnets", prefixStrings(l.Subnets))
	}
}

// clabNode writes one containerlab node under topology.nodes.
func (e emitter) clabNode(name string, n clabNode) {
	e.key(4, false, scalar(name))
	e.kv(6, false, "kind", scalar(n.Kind))
	e.kv(6, false, "image", scalar(n.Image))
	if len(n.Binds) > 0 {
		e.list(6, "binds", n.Binds)
	}
	if len(n.Exec) > 0 {
		e.list(6, "exec", n.Exec)
	}
	if n.Group != "" {
		e.kv(6, false, "group", scalar(n.Group))
	}
}

func (e emitter) node(n FabricNode) {
	e.kv(4, true, "name", scalar(n.Name))
	e.kv(4, false, "role", scalar(n.Role))
	e.kv(4, false, "tier", strconv.Itoa(n.Tier))
	if n.Pod != 0 {
		e.kv(4, false, "pod", strconv.Itoa(n.Pod))
	}
	if n.Plane != 0 {
		e.kv(4, false, "plane", strconv.Itoa(n.Plane))
	}
	e.kv(4, false, "id", strconv.Itoa(n.ID))
	e.kv(4, false, "asn", strconv.FormatUint(uint64(n.ASN), 10))
	e.kv(4, false, "router-id", scalar(n.RouterID.String()))
	if len(n.Loopbacks) == 0 {
		e.kv(4, false, "loopbacks", "[]")
	} else {
		e.list(4, "loopbacks", prefixStrings(n.Loopbacks))
	}
	if len(n.ServerSubnets) > 0 {
		e.list(4, "server-subnets", prefixStrings(n.ServerSubnets))
	}
	if n.AllowASIn != 0 {
		e.kv(4, false, "allowas-in", strconv.Itoa(n.AllowASIn))
	}
	if len(n.Interfaces) == 0 {
		e.kv(4, false, "interfaces", "[]")
	} else {
		e.key(4, false, "interfaces")
		for _, i := range n.Interfaces {
			e.iface(8, i)
		}
	}
	e.kv(4, false, "closd", scalar(n.Closd))
	if n.FRR != "" {
		e.kv(4, false, "frr", scalar(n.FRR))
	}
}
