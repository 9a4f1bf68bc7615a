package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/plan"
)

// Open loads a running lab and its fabric.
func Open(base, name string) (*State, *plan.Fabric, error) {
	s, err := Load(base, name)
	if err != nil {
		return nil, nil, err
	}
	f, err := plan.ReadFabric(s.Fabric)
	if err != nil {
		return nil, nil, err
	}
	return s, f, nil
}

// Status is what status reports.
type Status struct {
	Name     string       `json:"name"`
	Prefix   string       `json:"prefix"`
	Ready    bool         `json:"ready"`
	Nodes    []NodeStatus `json:"nodes"`
	Links    []LinkStatus `json:"links"`
	Sessions []Session    `json:"sessions"`
	Routes   []Route      `json:"routes"`
	Failures []Failure    `json:"failures"`
}

// NodeStatus is one node and whether its daemon runs.
type NodeStatus struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Kind    string `json:"kind,omitempty"`
	Netns   string `json:"netns"`
	Pids    []int  `json:"pids,omitempty"`
	Running bool   `json:"running"`
	// Prefixes is the number of prefixes in the daemon's BGP table, as
	// the daemon reports it (closd over its API socket, FRR through
	// vtysh); -1 when it did not answer.
	Prefixes int `json:"bgp-prefixes"`
	// Paths counts the paths to those prefixes (closd only).
	Paths int    `json:"bgp-paths,omitempty"`
	Error string `json:"error,omitempty"`
}

// LinkStatus is one cable and the operational state of its ends.
type LinkStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	AState string `json:"a-state"`
	BState string `json:"b-state"`
}

// Route is one kernel route of a switch.
type Route struct {
	Node     string   `json:"node"`
	Prefix   string   `json:"prefix"`
	Protocol string   `json:"protocol"`
	Nexthops []string `json:"nexthops"`
}

// GetStatus collects the lab's state from the kernel and the daemons.
func GetStatus(ctx context.Context, s *State, f *plan.Fabric) (*Status, error) {
	st := &Status{Name: s.Name, Prefix: s.Prefix, Ready: s.Ready, Failures: s.Failures}
	for _, n := range s.Nodes {
		ns := NodeStatus{Name: n.Name, Role: n.Role, Kind: n.Kind, Netns: n.Netns, Pids: n.Pids, Running: len(n.Pids) > 0}
		for _, p := range n.Pids {
			ns.Running = ns.Running && alive(p)
		}
		if n.Role != plan.RoleServer {
			ns.Prefixes, ns.Paths, ns.Error = bgpTable(ctx, n)
		}
		st.Nodes = append(st.Nodes, ns)
	}
	for _, l := range f.Links {
		st.Links = append(st.Links, LinkStatus{Name: l.Name, Kind: l.Kind,
			AState: operState(ctx, Netns(s.Prefix, l.A.Node), l.A.Interface),
			BState: operState(ctx, Netns(s.Prefix, l.B.Node), l.B.Interface)})
	}
	var err error
	if st.Sessions, err = Sessions(ctx, s, f); err != nil {
		return nil, err
	}
	for _, n := range s.Nodes {
		if n.Role == plan.RoleServer {
			continue
		}
		rs, err := kernelRoutes(ctx, n.Netns)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			r.Node = n.Name
			st.Routes = append(st.Routes, r)
		}
	}
	return st, nil
}

func operState(ctx context.Context, ns, ifc string) string {
	out, err := run(ctx, "ip", "-n", ns, "-j", "link", "show", "dev", ifc)
	if err != nil {
		return "missing"
	}
	var ls []struct {
		Oper string `json:"operstate"`
	}
	if json.Unmarshal([]byte(out), &ls) != nil || len(ls) == 0 {
		return "unknown"
	}
	return strings.ToLower(ls[0].Oper)
}

func kernelRoutes(ctx context.Context, ns string) ([]Route, error) {
	out, err := run(ctx, "ip", "-n", ns, "-j", "route", "show")
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		Dev      string `json:"dev"`
		Protocol string `json:"protocol"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
			Dev     string `json:"dev"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("ip -n %s -j route show: %v", ns, err)
	}
	var rs []Route
	for _, r := range raw {
		x := Route{Prefix: r.Dst, Protocol: r.Protocol}
		hop := func(gw, dev string) string {
			if gw == "" {
				return "dev " + dev
			}
			return gw + " dev " + dev
		}
		if len(r.Nexthops) == 0 {
			x.Nexthops = []string{hop(r.Gateway, r.Dev)}
		}
		for _, h := range r.Nexthops {
			x.Nexthops = append(x.Nexthops, hop(h.Gateway, h.Dev))
		}
		rs = append(rs, x)
	}
	return rs, nil
}

// Print writes the status as aligned tables.
func (st *Status) Print(w io.Writer) {
	fmt.Fprintf(w, "lab %s (prefix %s)", st.Name, st.Prefix)
	if !st.Ready {
		fmt.Fprint(w, " [never converged]")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNODE\tROLE\tDAEMON\tNETNS\tPIDS\tRUNNING\tBGP-PREFIXES")
	for _, n := range st.Nodes {
		kind, run, pfx := n.Kind, fmt.Sprint(n.Running), fmt.Sprint(n.Prefixes)
		if kind == "" {
			kind, run, pfx = "-", "-", "-"
		} else if n.Prefixes < 0 {
			pfx = "? (" + n.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, kind, n.Netns, strings.Trim(fmt.Sprint(n.Pids), "[]"), run, pfx)
	}
	fmt.Fprintln(tw, "\nLINK\tKIND\tA\tB")
	for _, l := range st.Links {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.Kind, l.AState, l.BState)
	}
	fmt.Fprintln(tw, "\nNODE\tINTERFACE\tPEER\tNEIGHBOR\tSTATE\tUPTIME\tPFX-RCVD")
	for _, x := range st.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", x.Node, x.Interface, x.Peer, x.Neighbor, x.State, x.Uptime, x.Prefixes)
	}
	fmt.Fprintln(tw, "\nNODE\tPREFIX\tPROTO\tNEXT HOPS")
	for _, r := range st.Routes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, r.Prefix, r.Protocol, strings.Join(r.Nexthops, ", "))
	}
	tw.Flush()
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, "\nfailures applied:")
		for _, x := range st.Failures {
			fmt.Fprintf(w, "  %s (%s)\n", x.Target, x.Mode)
		}
	}
}

// bgpTable asks a switch's daemon how many prefixes (and, closd, paths) its
// BGP table holds.
func bgpTable(ctx context.Context, n Node) (int, int, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n.Kind == KindClosd {
		if n.Socket == "" {
			return -1, 0, "no API socket recorded"
		}
		rs, err := api.NewClient(n.Socket).Routes(ctx, "")
		if err != nil {
			return -1, 0, err.Error()
		}
		pfx := map[netip.Prefix]bool{}
		for _, r := range rs.Routes {
			pfx[r.Prefix] = true
		}
		return len(pfx), len(rs.Routes), ""
	}
	raw, err := nsRun(ctx, n.Netns, "vtysh", "-N", n.Netns, "-c", "show bgp summary json")
	if err != nil {
		return -1, 0, "vtysh: " + strings.TrimSpace(raw)
	}
	var fams map[string]struct {
		RIBCount int `json:"ribCount"`
	}
	if i := strings.Index(raw, "{"); i < 0 || json.Unmarshal([]byte(raw[i:]), &fams) != nil {
		return -1, 0, "vtysh: unreadable show bgp summary json"
	}
	total := 0
	for _, f := range fams {
		total += f.RIBCount
	}
	return total, 0, ""
}
