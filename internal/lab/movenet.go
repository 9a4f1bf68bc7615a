package lab

import (
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
		if n.Role == plan.RoleLeaf && kinds[n.Name] != KindClosd {
			frr = append(frr, n.Name)
		}
	}
	if len(frr) == 0 {
		return nil
	}
	sort.Strings(frr)
	return inputf("fabric %s has hosts: neighbor, which needs closd on every leaf (FRR cannot learn host routes from ARP/ND), but %s would run FRR; use --kind closd, or --node-kind %s=closd",
		f.Name, strings.Join(frr, ", "), frr[0])
}
