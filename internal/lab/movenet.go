package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/closnet/clos/internal/plan"
)

// checkHostKinds refuses FRR leaves in a neighbor-mode fabric: FRR cannot
// learn hosts from ARP/ND and originate them with a mobility sequence, and
// the planner writes no frr.conf for such leaves.
func checkHostKinds(f *plan.Fabric, kinds map[string]string) error {
	if f.Hosts != plan.HostsNeighbor {
		return nil
	}
	var frr []string
	for _, n := range f.Nodes {
		// The plan writes no frr.conf where FRR cannot do the job: leaves,
		// and the border leaves joining the sites of a DCI.
		if (n.Role == plan.RoleLeaf || n.FRR == "") && kinds[n.Name] != KindClosd {
			frr = append(frr, n.Name)
		}
		if n.Name == hypervisor {
			return inputf("fabric %s has a switch named %q, the name of the lab's hypervisor namespace in hosts: neighbor; rename it (names.* in the intent)", f.Name, hypervisor)
		}
	}
	if len(frr) == 0 {
		return nil
	}
	sort.Strings(frr)
	return inputf("fabric %s has hosts: neighbor, which needs closd on every leaf (FRR cannot learn host routes from ARP/ND) and on the border leaves of a DCI, but %s would run FRR; use --kind closd, or --node-kind %s=closd",
		f.Name, strings.Join(frr, ", "), frr[0])
}

// In neighbor mode a server is a VM behind a hypervisor, so that it can
// move: each server link is cabled through a bridge of its own in one
// hypervisor namespace (the leaf's port and the server's port are veths
// into that bridge). Moving a VM re-enslaves its port's hypervisor end to
// another leaf port's bridge: the server's interface, MAC, addresses and
// ARP cache stay, and the old leaf's port stays up, so the old leaf learns
// of the move only from the network, as in a real migration.
const hypervisor = "hypervisor"

// usesHypervisor reports whether server links go through the hypervisor.
func usesHypervisor(f *plan.Fabric) bool { return f.Hosts == plan.HostsNeighbor }

// hvBridge and hvPort name the bridge of server link i and the
// hypervisor-side ends of its veths: l for the leaf's, s for the server's.
func hvBridge(i int) string         { return fmt.Sprintf("br%d", i) }
func hvPort(i int, end byte) string { return fmt.Sprintf("%c%d", end, i) }

// makeHypervisor creates the hypervisor namespace: a bridge, not a router.
func makeHypervisor(ctx context.Context, s *State) error {
	ns := Netns(s.Prefix, hypervisor)
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", ns, "link", "set", "lo", "up", "alias", marker(s.dir)); err != nil {
		return err
	}
	_, err := nsRun(ctx, ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return err
}

// cableServerLink cables server link i through its hypervisor bridge and
// sets both ends up with their planned names, addresses and MAC.
func cableServerLink(ctx context.Context, s *State, f *plan.Fabric, i int, l plan.FabricLink) error {
	hv := Netns(s.Prefix, hypervisor)
	br := hvBridge(i)
	steps := [][]string{
		{"ip", "-n", hv, "link", "add", br, "type", "bridge", "mcast_snooping", "0"},
		{"ip", "-n", hv, "link", "set", br, "up"},
	}
	for _, e := range []struct {
		end  plan.FabricEnd
		tmp  byte // the node's end while in the root namespace
		peer byte // the hypervisor's end
	}{{l.A, 'a', 's'}, {l.B, 'b', 'l'}} {
		ns := Netns(s.Prefix, e.end.Node)
		tmp, tmpPeer := vethName(s.Prefix, i, e.tmp), vethName(s.Prefix, i, e.peer)
		port := hvPort(i, e.peer)
		steps = append(steps,
			[]string{"ip", "link", "add", tmp, "type", "veth", "peer", "name", tmpPeer},
			[]string{"ip", "link", "set", tmp, "alias", marker(s.dir)},
			[]string{"ip", "link", "set", tmpPeer, "alias", marker(s.dir)},
			[]string{"ip", "link", "set", tmpPeer, "netns", hv},
			[]string{"ip", "-n", hv, "link", "set", tmpPeer, "name", port},
			[]string{"ip", "-n", hv, "link", "set", port, "master", br},
			[]string{"ip", "-n", hv, "link", "set", port, "up"},
			[]string{"ip", "link", "set", tmp, "netns", ns},
			[]string{"ip", "-n", ns, "link", "set", tmp, "name", e.end.Interface},
		)
		if mac := interfaceMAC(f, e.end); mac != "" {
			steps = append(steps, []string{"ip", "-n", ns, "link", "set", e.end.Interface, "address", mac})
		}
		steps = append(steps, []string{"ip", "-n", ns, "link", "set", e.end.Interface, "up"})
		for _, a := range e.end.Addresses {
			steps = append(steps, []string{"ip", "-n", ns, "addr", "add", a.String(), "dev", e.end.Interface})
		}
	}
	for _, st := range steps {
		if _, err := run(ctx, st...); err != nil {
			return fmt.Errorf("link %s: %w", l.Name, err)
		}
	}
	// closd sets the port's sysctls (arp_accept, so a gratuitous ARP
	// creates an entry; proxy ARP) from its hosts: section. Not ICMP
	// redirects, though: several VMs share a leaf port behind a
	// hypervisor, and a leaf forwarding between two of them out the port
	// they came in on would redirect one straight to the other; the
	// redirect outlives a move (Linux keeps it as a route exception for
	// minutes) and blackholes the flow once they sit behind different
	// leaves. IPv4 sends redirects if "all" or the port says so.
	_, err := nsRun(ctx, Netns(s.Prefix, l.B.Node), "sysctl", "-q", "-w",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf."+l.B.Interface+".send_redirects=0")
	return err
}

// interfaceMAC is the MAC the plan fixes for a link end (the anycast
// gateway's), or "".
func interfaceMAC(f *plan.Fabric, e plan.FabricEnd) string {
	if n := fabricNode(f, e.Node); n != nil {
		for _, ifc := range n.Interfaces {
			if ifc.Name == e.Interface {
				return ifc.MAC
			}
		}
	}
	return ""
}

// installServerRoutes installs a server's routes: routes with the same prefix
// become one multipath route (a dual-homed server's default over both
// leaves), onlink where the plan says the gateway is not in a subnet of
// the port.
func installServerRoutes(ctx context.Context, ns string, h plan.FabricHost) error {
	var order []string
	byPrefix := map[string][]plan.FabricRoute{}
	for _, r := range h.Routes {
		k := r.Prefix.String()
		if _, ok := byPrefix[k]; !ok {
			order = append(order, k)
		}
		byPrefix[k] = append(byPrefix[k], r)
	}
	for _, k := range order {
		rs := byPrefix[k]
		args := []string{"ip", "-n", ns, "route", "replace", k}
		hop := func(r plan.FabricRoute) []string {
			a := []string{"via", r.Via.String()}
			if r.Dev != "" {
				a = append(a, "dev", r.Dev)
			}
			if r.Onlink {
				a = append(a, "onlink")
			}
			return a
		}
		if len(rs) == 1 {
			args = append(args, hop(rs[0])...)
		} else {
			for _, r := range rs {
				args = append(append(args, "nexthop"), hop(r)...)
			}
		}
		if _, err := run(ctx, args...); err != nil {
			return fmt.Errorf("server %s: %w", h.Name, err)
		}
	}
	return nil
}
