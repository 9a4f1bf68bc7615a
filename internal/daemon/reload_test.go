package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

const reloadPolicy = `
policy:
  prefix-lists:
    - name: not-1-1
      entries: [{seq: 10, action: deny, prefix: 10.1.1.0/24}, {seq: 20, action: permit, prefix: 0.0.0.0/0, le: 32}]
    - name: not-2-0
      entries: [{seq: 10, action: deny, prefix: 10.2.0.0/24}, {seq: 20, action: permit, prefix: 0.0.0.0/0, le: 32}]
  route-maps:
    - name: out
      entries: [{seq: 10, action: permit, match: {prefix-list: not-1-1}}]
    - name: in
      entries: [{seq: 10, action: permit, match: {prefix-list: not-2-0}}]
`

// TestReloadKeepsSessions moves a running daemon through configs: policy
// changes apply by soft refresh without a reset, a network is added, a
// neighbor is added and another removed with Cease/Peer De-configured, and
// bad configs are refused with the old one left running.
func TestReloadKeepsSessions(t *testing.T) {
	ca, cb := pairConfigs(t)
	pc := freePort(t, "127.0.0.3")
	cc := parse(t, "c.yaml", fmt.Sprintf(`
router-id: 10.0.0.3
asn: 65003
listen: {address: 127.0.0.3, port: %d}
bgp: {timers: {keepalive: 1, hold: 9}}
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d
`, pc, ca.Listen.Port))
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	c := start(t, "c", cc, Options{ConnectRetry: time.Second})
	ctx := context.Background()
	waitFor(t, "a-b Established with routes", func() (bool, string) {
		nb := neighbor(t, b.d, "127.0.0.1")
		return nb.State == "Established" && nb.PrefixesAccepted == 2, fmt.Sprintf("%s %d", nb.State, nb.PrefixesAccepted)
	})
	// Collisions while the pair comes up may reset a session once; what
	// counts is that no reload below adds a reset.
	na, nb := waitSettled(t, a, b, "127.0.0.2", "127.0.0.1")
	resetsA, resetsB := na.Resets, nb.Resets
	yamlOf := func(c *config.Config) *config.Config {
		t.Helper()
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return parse(t, "a2.yaml", string(out))
	}

	// 1. Export and import route-maps on b, and a new network.
	c1 := parse(t, "a1.yaml", strings.Replace(mustMarshal(t, ca), "neighbors:", strings.TrimPrefix(reloadPolicy, "\n")+"neighbors:", 1))
	c1.Neighbors[0].RouteMap.Out, c1.Neighbors[0].RouteMap.In = "out", "in"
	c1.Networks = append(c1.Networks, netip.MustParsePrefix("10.1.2.0/24"))
	rep, err := a.d.ApplyConfig(ctx, yamlOf(c1))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Refreshed, []string{"127.0.0.2"}) || len(rep.Reset)+len(rep.Removed)+len(rep.Added) != 0 ||
		!slices.Equal(rep.NetworksAdded, []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}) {
		t.Errorf("report %+v", rep)
	}
	waitFor(t, "b to lose 10.1.1.0/24 and learn 10.1.2.0/24; a to drop 10.2.0.0/24", func() (bool, string) {
		rb, ra := routes(t, b.d), routes(t, a.d)
		_, has11 := rb["10.1.1.0/24"]
		_, has12 := rb["10.1.2.0/24"]
		_, has10 := rb["10.1.0.0/24"]
		_, has20 := ra["10.2.0.0/24"]
		return !has11 && has12 && has10 && !has20, fmt.Sprintf("b %v a %v", rb, ra)
	})
	if na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1"); na.Resets != resetsA || nb.Resets != resetsB || na.State != "Established" {
		t.Errorf("the policy reload reset the session: resets %d/%d, were %d/%d", na.Resets, nb.Resets, resetsA, resetsB)
	}

	// 2. Refused: another ASN, a route-map that does not exist, a
	// duplicate neighbor. Nothing changes.
	bad := yamlOf(c1)
	bad.ASN = 65009
	if _, err := a.d.ApplyConfig(ctx, bad); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "asn changed from 65001 to 65009") {
		t.Errorf("asn change: %v", err)
	}
	bad = yamlOf(c1)
	bad.Neighbors[0].RouteMap.In = "nosuch"
	if _, err := a.d.ApplyConfig(ctx, bad); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown route-map: %v", err)
	}
	bad = yamlOf(c1)
	bad.Neighbors = append(bad.Neighbors, bad.Neighbors[0])
	if _, err := a.d.ApplyConfig(ctx, bad); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "configured twice") {
		t.Errorf("duplicate neighbor: %v", err)
	}
	if _, ok := routes(t, b.d)["10.1.2.0/24"]; !ok || neighbor(t, a.d, "127.0.0.2").Resets != resetsA {
		t.Errorf("a refused config changed something")
	}

	// 3. From the file: a broken file is refused with its line, then a
	// file that swaps neighbor b for c.
	dir := t.TempDir()
	path := filepath.Join(dir, "closd.yaml")
	a.d.o.ConfigPath = path // only read by Reload, on the caller's goroutine
	os.WriteFile(path, []byte("router-id: 10.0.0.1\nasn: [\n"), 0o644)
	if _, err := a.d.Reload(ctx); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), path) {
		t.Errorf("broken file: %v", err)
	}
	c2 := yamlOf(c1)
	c2.Neighbors = []config.Neighbor{{Address: netip.MustParseAddr("127.0.0.3"), RemoteAS: config.ASN(65003), Port: pc}}
	os.WriteFile(path, []byte(mustMarshal(t, c2)), 0o644)
	rep, err = a.d.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Added, []string{"127.0.0.3"}) || !slices.Equal(rep.Removed, []string{"127.0.0.2"}) {
		t.Errorf("report %+v", rep)
	}
	waitFor(t, "b to receive Cease/Peer De-configured and c to come up", func() (bool, string) {
		lr := neighbor(t, b.d, "127.0.0.1").Session.LastReceived
		nc := neighbor(t, c.d, "127.0.0.1")
		return lr != nil && lr.Code == wire.CodeCease && lr.Subcode == wire.SubPeerDeconfigured && nc.State == "Established",
			fmt.Sprintf("%+v %s", lr, nc.State)
	})
	if ns, _ := a.d.Neighbors(ctx); len(ns) != 1 || ns[0].Address != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("a's neighbors after the swap: %+v", ns)
	}

	// 4. A changed hold time needs a new session: reset with Cease/Other
	// Configuration Change.
	_, nc := waitSettled(t, a, c, "127.0.0.3", "127.0.0.1")
	c3 := yamlOf(c2)
	c3.Neighbors[0].Timers = &config.Timers{Keepalive: 2, Hold: 6}
	rep, err = a.d.ApplyConfig(ctx, c3)
	if err != nil || !slices.Equal(rep.Reset, []string{"127.0.0.3"}) {
		t.Fatalf("timers change: %+v %v", rep, err)
	}
	before := nc.Session.Established
	waitFor(t, "c to be reset and back", func() (bool, string) {
		nc := neighbor(t, c.d, "127.0.0.1")
		lr := nc.Session.LastReceived
		return lr != nil && lr.Subcode == wire.SubOtherConfigChange && nc.State == "Established" && nc.Session.Established > before,
			fmt.Sprintf("%+v %s %d (was %d)", lr, nc.State, nc.Session.Established, before)
	})
	a.stop(t)
	b.stop(t)
	c.stop(t)
}

func mustMarshal(t *testing.T, c *config.Config) string {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
