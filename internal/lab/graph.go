package lab

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/closnet/clos/internal/plan"
)

// Graph draws the fabric by tier, top tier first, then every link with the
// state of its ends; links a fail applied to are marked.
func Graph(w io.Writer, st *Status, f *plan.Fabric) {
	tiers := map[int][]string{}
	for _, n := range f.Nodes {
		tiers[n.Tier] = append(tiers[n.Tier], n.Name)
	}
	var ts []int
	for t := range tiers {
		ts = append(ts, t)
	}
	sort.Ints(ts)
	fmt.Fprintf(w, "lab %s (%s)\n\n", st.Name, f.Name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range ts {
		fmt.Fprintf(tw, "tier %d\t%s\n", t, strings.Join(tiers[t], "  "))
	}
	var hosts []string
	for _, h := range f.Servers {
		hosts = append(hosts, h.Name+"@"+h.Leaf)
	}
	if len(hosts) > 0 {
		fmt.Fprintf(tw, "servers\t%s\n", strings.Join(hosts, "  "))
	}
	tw.Flush()
	fmt.Fprintln(w)
	failed := failedLinks(st, f)
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, l := range st.Links {
		wire := "-----"
		if l.AState != "up" || l.BState != "up" || failed[l.Name] != "" {
			wire = "--x--"
		}
		a, b, _ := strings.Cut(l.Name, "--")
		note := ""
		if m := failed[l.Name]; m != "" {
			note = "failed (" + m + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\n", a, wire, b, l.AState, l.BState, note)
	}
	tw.Flush()
}

// Dot writes the fabric as a Graphviz graph: failed or down links dashed red.
func Dot(w io.Writer, st *Status, f *plan.Fabric) {
	failed := failedLinks(st, f)
	fmt.Fprintf(w, "graph %q {\n  rankdir=BT;\n  node [shape=box];\n", st.Name)
	for _, n := range f.Nodes {
		fmt.Fprintf(w, "  %q [label=\"%s\\nAS%d\"];\n", n.Name, n.Name, n.ASN)
	}
	for _, h := range f.Servers {
		fmt.Fprintf(w, "  %q [shape=ellipse];\n", h.Name)
	}
	ends := map[string]plan.FabricLink{}
	for _, l := range f.Links {
		ends[l.Name] = l
	}
	for _, l := range st.Links {
		fl := ends[l.Name]
		style := ""
		if l.AState != "up" || l.BState != "up" || failed[l.Name] != "" {
			style = ", style=dashed, color=red"
		}
		fmt.Fprintf(w, "  %q -- %q [taillabel=%q, headlabel=%q%s];\n", fl.A.Node, fl.B.Node, fl.A.Interface, fl.B.Interface, style)
	}
	fmt.Fprintln(w, "}")
}

func failedLinks(st *Status, f *plan.Fabric) map[string]string {
	m := map[string]string{}
	for _, x := range st.Failures {
		for _, l := range f.Links {
			if endName(l.A) == x.Target || endName(l.B) == x.Target || l.Name == x.Target {
				m[l.Name] = x.Mode
			}
		}
	}
	return m
}
