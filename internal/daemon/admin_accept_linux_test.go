package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/daemon"
)

// frrPeer is one neighbor of FRR's `show bgp summary json`.
type frrPeer struct {
	state          string
	rcvd, snt      int
	established    int
	dropped        int
	remoteAS       int
	uptimeEstEpoch float64
}

func frrSummary(lab *daemon.FRRLab) (map[string]frrPeer, string) {
	m, out := lab.FRR("show bgp summary json")
	peers := map[string]frrPeer{}
	for _, af := range []string{"ipv4Unicast", "ipv6Unicast"} {
		a, _ := m[af].(map[string]any)
		ps, _ := a["peers"].(map[string]any)
		for addr, v := range ps {
			p, _ := v.(map[string]any)
			num := func(k string) int { f, _ := p[k].(float64); return int(f) }
			st, _ := p["state"].(string)
			peers[addr] = frrPeer{state: st, rcvd: num("pfxRcd"), snt: num("pfxSnt"), remoteAS: num("remoteAs")}
		}
	}
	for addr, p := range peers {
		nm, _ := lab.FRR("show bgp neighbors " + addr + " json")
		n, _ := nm[addr].(map[string]any)
		est, _ := n["connectionsEstablished"].(float64)
		drop, _ := n["connectionsDropped"].(float64)
		p.established, p.dropped = int(est), int(drop)
		peers[addr] = p
	}
	return peers, out
}

// TestAcceptanceSummaryAgreesWithFRR runs closd against FRR and checks that
// closd's summary (through the API client, as `clos show bgp summary
// --json` prints it) and FRR's agree on the sessions and the prefixes each
// way; then that reloads (SIGHUP and API) keep the sessions, apply a new
// export policy with a soft refresh, refuse a broken file, and close a
// removed neighbor with Cease/Peer De-configured.
func TestAcceptanceSummaryAgreesWithFRR(t *testing.T) {
	lab := daemon.StartFRRLab(t, "")
	c := api.NewClient(lab.Socket)
	ctx := context.Background()
	var s api.Summary
	daemon.Poll(t, "closd and FRR to agree on two established sessions and their prefixes", func() (bool, string) {
		var err error
		s, err = c.Summary(ctx)
		if err != nil {
			return false, err.Error()
		}
		fp, out := frrSummary(lab)
		if len(s.Neighbors) != 2 || len(fp) != 2 {
			return false, fmt.Sprintf("closd %+v\nFRR %s", s, out)
		}
		for _, n := range s.Neighbors {
			// FRR's view of us is keyed by our address on the link.
			ours := lab.UsV4
			if n.Address.Is6() {
				ours = lab.UsV6
			}
			p, ok := fp[ours]
			if !ok || n.State != "Established" || p.state != "Established" ||
				// FRR sends our own prefix back (no sender-side loop
				// check): closd counts it received, then drops it.
				n.PrefixesAccepted != 1 || n.PrefixesReceived != p.snt ||
				n.PrefixesAdvertised != p.rcvd || n.RemoteAS != 65002 || uint32(p.remoteAS) != s.LocalAS {
				return false, fmt.Sprintf("closd %+v\nFRR %+v", n, p)
			}
		}
		return true, ""
	})
	var text strings.Builder
	if err := api.RenderSummary(&text, s); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{lab.PeerV4, lab.PeerV6} {
		if !strings.Contains(text.String(), a) {
			t.Errorf("text summary lacks %s:\n%s", a, text.String())
		}
	}
	before, _ := frrSummary(lab)

	// 1. SIGHUP with a new network and an export route-map on the IPv4
	// neighbor that stops 10.1.0.0/24.
	cfg := strings.Replace(lab.BaseConfig(), "networks: [10.1.0.0/24, \"fd00:1::/64\"]", "networks: [10.1.0.0/24, 10.1.1.0/24, \"fd00:1::/64\"]", 1)
	cfg = strings.Replace(cfg, "  - address: "+lab.PeerV4+"\n    remote-as: 65002\n", "  - address: "+lab.PeerV4+"\n    remote-as: 65002\n    route-map: {out: no-10-1-0}\n", 1)
	cfg += `policy:
  prefix-lists:
    - name: p10-1-0
      entries: [{seq: 10, action: permit, prefix: 10.1.0.0/24}]
  route-maps:
    - name: no-10-1-0
      entries: [{seq: 10, action: deny, match: {prefix-list: p10-1-0}}, {seq: 20, action: permit}]
`
	lab.WriteConfig(t, cfg)
	if err := lab.Closd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	hasRoute := func(fam, p string) bool {
		m, _ := lab.FRR("show bgp " + fam + " json")
		rs, _ := m["routes"].(map[string]any)
		_, ok := rs[p]
		return ok
	}
	daemon.Poll(t, "FRR to get 10.1.1.0/24 and lose 10.1.0.0/24 after SIGHUP", func() (bool, string) {
		return hasRoute("ipv4", "10.1.1.0/24") && !hasRoute("ipv4", "10.1.0.0/24") && hasRoute("ipv6", "fd00:1::/64"), ""
	})
	after, out := frrSummary(lab)
	for addr, b := range before {
		a := after[addr]
		if a.state != "Established" || a.established != b.established || a.dropped != b.dropped {
			t.Errorf("FRR's session with %s after the reload: %+v, before %+v\n%s", addr, a, b, out)
		}
	}

	// 2. A broken file is refused through the API with its line; the
	// sessions stay.
	lab.WriteConfig(t, cfg+"bogus-key: 1\n")
	b, err := c.Post(ctx, "/v1/config/reload", nil)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != 422 || !strings.Contains(se.Message, "bogus-key") || !strings.Contains(se.Message, lab.ConfigPath) {
		t.Errorf("broken reload: %s %v", b, err)
	}

	// 3. Through the API: the IPv6 neighbor is removed and gets a Cease/
	// Peer De-configured; the IPv4 one stays up.
	cfg = strings.Replace(cfg, "  - address: \""+lab.PeerV6+"\"\n    remote-as: 65002\n", "", 1)
	lab.WriteConfig(t, cfg)
	if _, err := c.Post(ctx, "/v1/config/reload", nil); err != nil {
		t.Fatalf("reload: %v\n%s", err, cfg)
	}
	daemon.Poll(t, "FRR to hear Peer De-configured from closd's IPv6 session", func() (bool, string) {
		_, out := lab.FRR("show bgp neighbors " + lab.UsV6 + " json")
		l := strings.ToLower(out)
		return !strings.Contains(out, `"bgpState":"Established"`) && (strings.Contains(l, "de-configured") || strings.Contains(l, "unconfigured")), out
	})
	final, out := frrSummary(lab)
	if p := final[lab.UsV4]; p.state != "Established" || p.dropped != before[lab.UsV4].dropped {
		t.Errorf("IPv4 session after removing the IPv6 neighbor: %+v\n%s", p, out)
	}
	ns, err := c.Neighbors(ctx)
	if err != nil || len(ns.Neighbors) != 1 || ns.Neighbors[0].Address != netip.MustParseAddr(lab.PeerV4) {
		t.Errorf("closd's neighbors: %+v %v", ns, err)
	}
	_ = time.Second
}
