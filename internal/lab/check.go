package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// ECMP probe sizes: a link carrying one flow moves ecmpPackets of ours,
// far more than the BFD and BGP packets it sends meanwhile, so a link no
// flow hashed onto stays below that.
const (
	ecmpFlows   = 32
	ecmpPackets = 40
)

// CheckResult says what check found; Missing is empty when all holds.
type CheckResult struct {
	Pairs    int               `json:"pairs"`
	Reached  int               `json:"reached"`
	Missing  []string          `json:"missing"`
	ECMPFrom string            `json:"ecmp-from,omitempty"`
	ECMPTo   string            `json:"ecmp-to,omitempty"`
	PerLink  map[string]uint64 `json:"per-link-packets,omitempty"`
	Excluded []string          `json:"excluded,omitempty"`
}

// OK tells whether every check held.
func (r *CheckResult) OK() bool { return len(r.Missing) == 0 }

// Check pings every server from every other server and sends UDP flows
// between servers on different leaves, checking that every uplink of the
// source leaf not failed by fail carries some of them.
func Check(ctx context.Context, s *State, f *plan.Fabric, out io.Writer) (*CheckResult, error) {
	r := &CheckResult{PerLink: map[string]uint64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, a := range f.Servers {
		for _, b := range f.Servers {
			if a.Name == b.Name || len(b.Interfaces) == 0 || len(b.Interfaces[0].Addresses) == 0 {
				continue
			}
			r.Pairs++
			dst := b.Interfaces[0].Addresses[0].Addr().String()
			wg.Add(1)
			go func(from, to, dst string) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				_, err := nsRun(ctx, Netns(s.Prefix, from), "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", dst)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					r.Missing = append(r.Missing, fmt.Sprintf("%s cannot reach %s (%s)", from, to, dst))
				} else {
					r.Reached++
				}
			}(a.Name, b.Name, dst)
		}
	}
	wg.Wait()
	fmt.Fprintf(out, "reachability: %d/%d server pairs\n", r.Reached, r.Pairs)
	src, dst := ecmpPair(f)
	if src == nil {
		fmt.Fprintln(out, "ecmp: no two servers on different leaves; nothing to check")
		return r, nil
	}
	r.ECMPFrom, r.ECMPTo = src.Name, dst.Name
	leaf := fabricNode(f, src.Leaf)
	failed := map[string]bool{}
	for _, x := range s.Failures {
		failed[x.Target] = true
	}
	var uplinks []string
	for _, ifc := range leaf.Interfaces {
		if ifc.Kind != plan.KindFabric {
			continue
		}
		if why := pathFailed(f, failed, leaf.Name+":"+ifc.Name, ifc.Peer, dst.Leaf); why != "" {
			r.Excluded = append(r.Excluded, leaf.Name+":"+ifc.Name+" ("+why+")")
			continue
		}
		uplinks = append(uplinks, ifc.Name)
	}
	ns := Netns(s.Prefix, leaf.Name)
	before, err := txPackets(ctx, ns)
	if err != nil {
		return nil, err
	}
	if err := sendFlows(s, src, dst); err != nil {
		r.Missing = append(r.Missing, fmt.Sprintf("ecmp: sending flows from %s: %v", src.Name, err))
		return r, nil
	}
	after, err := txPackets(ctx, ns)
	if err != nil {
		return nil, err
	}
	var unused []string
	for _, u := range uplinks {
		d := after[u] - before[u]
		r.PerLink[leaf.Name+":"+u] = d
		if d < ecmpPackets {
			unused = append(unused, fmt.Sprintf("%s:%s (%d packets)", leaf.Name, u, d))
		}
	}
	if len(unused) > 0 {
		r.Missing = append(r.Missing, fmt.Sprintf("ecmp: %d flows from %s to %s never used %s",
			ecmpFlows, src.Name, dst.Name, strings.Join(unused, ", ")))
	}
	fmt.Fprintf(out, "ecmp: %d flows %s -> %s over %s:", ecmpFlows, src.Name, dst.Name, leaf.Name)
	for _, u := range uplinks {
		fmt.Fprintf(out, " %s=%d", u, r.PerLink[leaf.Name+":"+u])
	}
	fmt.Fprintln(out, " packets")
	for _, x := range r.Excluded {
		fmt.Fprintf(out, "ecmp: excluded %s\n", x)
	}
	return r, nil
}

// ecmpPair picks the first server and the last server on another leaf.
func ecmpPair(f *plan.Fabric) (*plan.FabricHost, *plan.FabricHost) {
	if len(f.Servers) < 2 {
		return nil, nil
	}
	a := &f.Servers[0]
	for i := len(f.Servers) - 1; i > 0; i-- {
		if b := &f.Servers[i]; b.Leaf != a.Leaf && len(b.Interfaces) > 0 && len(b.Interfaces[0].Addresses) > 0 {
			return a, b
		}
	}
	return nil, nil
}

func txPackets(ctx context.Context, ns string) (map[string]uint64, error) {
	out, err := run(ctx, "ip", "-n", ns, "-s", "-j", "link", "show")
	if err != nil {
		return nil, err
	}
	var ls []struct {
		Name  string `json:"ifname"`
		Stats struct {
			TX struct {
				Packets uint64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		return nil, fmt.Errorf("ip -n %s -s -j link: %v", ns, err)
	}
	m := map[string]uint64{}
	for _, l := range ls {
		m[l.Name] = l.Stats.TX.Packets
	}
	return m, nil
}

// sendFlows sends ecmpFlows UDP flows, each from its own source port, from
// src's namespace to dst; the destination port is the discard port, so
// nothing answers but ICMP, which the kernel rate-limits.
func sendFlows(s *State, src, dst *plan.FabricHost) error {
	to := &net.UDPAddr{IP: dst.Interfaces[0].Addresses[0].Addr().AsSlice(), Port: 9}
	payload := make([]byte, 64)
	for i := 0; i < ecmpFlows; i++ {
		c, err := listenUDP(Netns(s.Prefix, src.Name))
		if err != nil {
			return err
		}
		for p := 0; p < ecmpPackets; p++ {
			if _, err := c.WriteToUDP(payload, to); err != nil {
				c.Close()
				return err
			}
		}
		c.Close()
		time.Sleep(2 * time.Millisecond) // stay clear of the veth queue limits
	}
	return nil
}

// pathFailed tells why an uplink can carry no traffic to dstLeaf because of
// failures applied by fail: the uplink itself, the switch above, or every
// link from that switch down to dstLeaf. Links are keyed by their A end.
func pathFailed(f *plan.Fabric, failed map[string]bool, end, peer, dstLeaf string) string {
	linkFailed := func(e string) bool {
		for _, l := range f.Links {
			if endName(l.A) == e || endName(l.B) == e {
				return failed[endName(l.A)]
			}
		}
		return false
	}
	up := strings.SplitN(peer, ":", 2)[0]
	switch {
	case linkFailed(end):
		return "link failed by clos lab fail"
	case failed[up]:
		return up + " failed by clos lab fail"
	}
	n := fabricNode(f, up)
	if n == nil {
		return ""
	}
	down := 0
	for _, ifc := range n.Interfaces {
		if strings.SplitN(ifc.Peer, ":", 2)[0] != dstLeaf {
			continue
		}
		if !linkFailed(up + ":" + ifc.Name) {
			return ""
		}
		down++
	}
	if down > 0 {
		return up + " has no working link to " + dstLeaf
	}
	return ""
}
