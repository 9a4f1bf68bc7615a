package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/lab"
	"github.com/closnet/clos/internal/plan"
	"github.com/closnet/clos/internal/testenv"
)

// TestShowAgreesWithFRRInLab brings up the seed-003 fabric as a clos lab
// with FRR everywhere except leaf1, which runs closd, and checks that
// `clos show --node leaf1 bgp summary` (text and --json) agrees with what
// the FRR spines say of the same sessions: established, and the prefix
// counts each way.
func TestShowAgreesWithFRRInLab(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"ip", "nft", "ping", "sysctl", "vtysh", lab.FRRDir + "/zebra", lab.FRRDir + "/bgpd", lab.FRRDir + "/bfdd"} {
		testenv.RequireTool(t, tool)
	}
	goTool := testenv.RequireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "closd")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/closnet/clos/cmd/closd").CombinedOutput(); err != nil {
		t.Fatalf("building closd: %v\n%s", err, out)
	}
	in, err := plan.Preset("seed-003")
	if err != nil {
		t.Fatal(err)
	}
	in.BFD.Interval, in.BFD.Multiplier = 300, 5
	in.Defaults()
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Path)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	name, base := "s"+hex.EncodeToString(rnd[:]), t.TempDir()
	t.Setenv("CLOS_LAB_DIR", base)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), base, name); err != nil {
			t.Errorf("lab down: %v", err)
		}
		if left := lab.Leftovers(context.Background(), base, name); len(left) > 0 {
			t.Errorf("lab %s left %v", name, left)
		}
	})
	var progress strings.Builder
	s, err := lab.Up(ctx, filepath.Join(dir, "fabric.yaml"), lab.Options{
		Name: name, Base: base, Kind: lab.KindFRR, NodeKinds: map[string]string{"leaf1": lab.KindClosd},
		Closd: bin, Wait: 60 * time.Second, Out: &progress,
	})
	if err != nil {
		t.Fatalf("lab up: %v\n%s", err, progress.String())
	}

	// closd's side, through the CLI.
	code, out, errs := opsVerb("show", "--node", "leaf1", "bgp", "summary", "--json")
	if code != 0 {
		t.Fatalf("clos show --node leaf1 bgp summary --json: %d %s", code, errs)
	}
	var sum api.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	code, text, errs := opsVerb("show", "--node", "leaf1", "bgp", "summary")
	if code != 0 {
		t.Fatalf("clos show --node leaf1 bgp summary: %d %s", code, errs)
	}
	code, out, errs = opsVerb("show", "--node", "leaf1", "bgp", "neighbor", "--json")
	if code != 0 {
		t.Fatalf("clos show --node leaf1 bgp neighbor --json: %d %s", code, errs)
	}
	var ns api.Neighbors
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatal(err)
	}
	// leaf1's address on each session, to find it in the spines' views.
	local := map[netip.Addr]netip.Addr{}
	for _, n := range ns.Neighbors {
		if ap, err := netip.ParseAddrPort(n.Local); err == nil {
			local[n.Address] = ap.Addr().Unmap()
		}
	}

	// FRR's side: every spine's summary, keyed by peer address.
	type frrPeer struct {
		State  string `json:"state"`
		PfxRcd int    `json:"pfxRcd"`
		PfxSnt int    `json:"pfxSnt"`
	}
	frr := map[netip.Addr]frrPeer{}
	for _, n := range s.Nodes {
		if n.Kind != lab.KindFRR || !strings.HasPrefix(n.Name, "spine") {
			continue
		}
		raw, err := exec.CommandContext(ctx, "ip", "netns", "exec", n.Netns, "vtysh", "-N", n.Netns, "-c", "show bgp summary json").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: vtysh: %v\n%s", n.Name, err, raw)
		}
		var fams map[string]struct {
			Peers map[string]frrPeer `json:"peers"`
		}
		if i := strings.Index(string(raw), "{"); i < 0 || json.Unmarshal(raw[i:], &fams) != nil {
			t.Fatalf("%s: unreadable summary %s", n.Name, raw)
		}
		for _, f := range fams {
			for a, p := range f.Peers {
				if addr, err := netip.ParseAddr(a); err == nil {
					frr[addr] = p
				}
			}
		}
	}

	if len(sum.Neighbors) == 0 {
		t.Fatalf("leaf1 has no neighbors: %s", text)
	}
	up := 0
	for _, n := range sum.Neighbors {
		me, ok := local[n.Address]
		p, seen := frr[me]
		if !ok || !seen {
			t.Errorf("neighbor %s: no FRR spine knows leaf1 at %v", n.Address, me)
			continue
		}
		// FRR sends our own prefixes back (no sender-side loop check):
		// closd counts them received, FRR counts them sent.
		if n.State != "Established" || p.State != "Established" || n.PrefixesReceived != p.PfxSnt || n.PrefixesAdvertised != p.PfxRcd || n.PrefixesAccepted <= 0 {
			t.Errorf("neighbor %s: closd %+v, FRR (of leaf1 at %s) %+v", n.Address, n, me, p)
		}
		if !strings.Contains(text, fmt.Sprintf("%s ", n.Address)) {
			t.Errorf("text summary lacks %s:\n%s", n.Address, text)
		}
		up++
	}
	if want := fmt.Sprintf("Neighbors: %d configured, %d established", len(sum.Neighbors), up); !strings.Contains(text, want) {
		t.Errorf("text summary lacks %q:\n%s", want, text)
	}
	t.Logf("leaf1:\n%s", text)
}
