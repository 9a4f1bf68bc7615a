package plan

import (
	"bytes"
	"flag"
	"github.com/closnet/clos/internal/testenv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/config"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func TestGoldenPresets(t *testing.T) {
	for _, name := range Presets {
		t.Run(name, func(t *testing.T) {
			files, err := mustBuild(t, preset(t, name)).Files()
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden", name), files)
		})
	}
}

// compareGolden checks files against the golden directory dir, both ways:
// a file that differs or is missing, and a golden file no longer written.
// With -update it rewrites dir first.
func compareGolden(t *testing.T, dir string, files []File) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			path := filepath.Join(dir, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[filepath.FromSlash(f.Path)] = true
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%v (run go test ./internal/plan -run Golden -update)", err)
			continue
		}
		if !bytes.Equal(want, f.Data) {
			t.Errorf("%s differs from its golden file (run with -update if the change is intended):\n%s", f.Path, firstDiff(string(want), string(f.Data)))
		}
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			if !seen[rel] {
				t.Errorf("golden file %s is no longer written", rel)
			}
		}
		return nil
	})
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n  want " + x + "\n  got  " + y
		}
	}
	return ""
}

// variants covers every link addressing mode, dual stack, border leaves
// and BFD off, on fabrics small enough to check file by file.
func variants() map[string]Intent {
	v6 := Pools{Loopbacks6: netip.MustParsePrefix("fd00::/64"), Servers6: netip.MustParsePrefix("fd00:2::/48")}
	off := false
	return map[string]Intent{
		"unnumbered-dual": {SpinesPerPlane: 2, LeavesPerPod: 2, ServersPerLeaf: 1, BorderLeaves: 1, LinkAddressing: LinksUnnumbered, Pools: v6},
		"ipv6-links":      {SpinesPerPlane: 2, LeavesPerPod: 2, ServersPerLeaf: 1, LinkAddressing: LinksIPv6, Pools: v6},
		"dual-5stage":     {Stages: 5, Pods: 2, Planes: 2, SpinesPerPlane: 1, SuperSpinesPerPlane: 2, LeavesPerPod: 2, ServersPerLeaf: 1, BorderLeaves: 1, LinkAddressing: LinksDual, Pools: v6, ASN: ASNIntent{ReuseLeafASNs: true}},
		"no-bfd":          {SpinesPerPlane: 2, LeavesPerPod: 2, BFD: BFDIntent{Enabled: &off}},
	}
}

func allIntents(t *testing.T) map[string]Intent {
	m := variants()
	for _, name := range Presets {
		m[name] = preset(t, name)
	}
	return m
}

func TestDeterministicOutput(t *testing.T) {
	for name, in := range allIntents(t) {
		a, err := mustBuild(t, in).Files()
		if err != nil {
			t.Fatal(err)
		}
		b, err := mustBuild(t, in).Files()
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("%s: %d files then %d", name, len(a), len(b))
		}
		for i := range a {
			if a[i].Path != b[i].Path || !bytes.Equal(a[i].Data, b[i].Data) {
				t.Errorf("%s: %s differs between two runs", name, a[i].Path)
			}
		}
	}
}

func TestClosdConfigsLoad(t *testing.T) {
	for name, in := range allIntents(t) {
		p := mustBuild(t, in)
		for _, n := range p.Switches {
			c := p.Closd(n)
			data, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := config.Parse(name+"/"+n.Name+".yaml", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if back.ASN != n.ASN || back.RouterID != n.RouterID || len(back.Neighbors) != len(p.peerings(n)) {
				t.Errorf("%s/%s: config does not match the plan", name, n.Name)
			}
			for _, nb := range back.Neighbors {
				if nb.BFD.Enabled != *p.Intent.BFD.Enabled {
					t.Errorf("%s/%s: neighbor bfd = %v", name, n.Name, nb.BFD.Enabled)
				}
				if n.AllowASIn > 0 && nb.AllowASIn != n.AllowASIn {
					t.Errorf("%s/%s: allowas-in missing on %v", name, n.Name, nb.Description)
				}
			}
		}
	}
}

func TestFabricYAMLRoundTrip(t *testing.T) {
	for name, in := range allIntents(t) {
		p := mustBuild(t, in)
		f := p.Fabric()
		data, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseFabric(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := back.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Errorf("%s: fabric.yaml does not round-trip:\n%s", name, firstDiff(string(data), string(again)))
		}
		if len(back.Nodes) != len(p.Switches) || len(back.Servers) != len(p.Servers) || len(back.Links) != len(p.Links) {
			t.Errorf("%s: counts differ after reading fabric.yaml", name)
		}
	}
	if _, err := ParseFabric("x", []byte("version: 1\nbogus: 2\n")); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := ParseFabric("x", []byte("version: 7\n")); err == nil || !strings.Contains(err.Error(), "version: 7") {
		t.Errorf("wrong version: %v", err)
	}
}

func TestFRRConfigsPassVtyshDryrun(t *testing.T) {
	vtysh := testenv.RequireTool(t, "vtysh")
	dir := t.TempDir()
	for name, in := range allIntents(t) {
		p := mustBuild(t, in)
		for _, n := range p.Switches {
			conf := p.FRR(n)
			path := filepath.Join(dir, name+"-"+n.Name+".conf")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(vtysh, "--dryrun", "-f", path).CombinedOutput()
			if err != nil {
				t.Errorf("%s/%s: vtysh --dryrun: %v\n%s\n%s", name, n.Name, err, out, conf)
			}
			for _, must := range []string{"no bgp ebgp-requires-policy", "bgp bestpath as-path multipath-relax", "maximum-paths 64"} {
				if !strings.Contains(conf, must) {
					t.Errorf("%s/%s: frr.conf lacks %q", name, n.Name, must)
				}
			}
			if *p.Intent.BFD.Enabled && !strings.Contains(conf, "  receive-interval 100\n  transmit-interval 100") {
				t.Errorf("%s/%s: frr.conf lacks the 100 ms BFD profile", name, n.Name)
			}
		}
	}
	// The check itself must be able to fail.
	bad := filepath.Join(dir, "bad.conf")
	_ = os.WriteFile(bad, []byte("router bgp 1\n neighbor bogus thing\n"), 0o644)
	if err := exec.Command(vtysh, "--dryrun", "-f", bad).Run(); err == nil {
		t.Error("vtysh --dryrun accepted a broken config")
	}
}

func TestIntentFile(t *testing.T) {
	base := preset(t, "seed-003")
	in, err := ParseIntent("i.yaml", []byte("servers-per-leaf: 1\npools:\n  loopbacks-ipv4: 10.9.0.0/24\nasn: {scheme: private-4}\n"), base)
	if err != nil {
		t.Fatal(err)
	}
	if in.ServersPerLeaf != 1 || in.Pools.Loopbacks4.String() != "10.9.0.0/24" || in.ASN.Scheme != ASNPrivate4 || in.LeavesPerPod != 2 || in.Numbering.SpineFirst != 3 {
		t.Errorf("intent = %+v", in)
	}
	for _, tc := range []struct{ in, want string }{
		{"leaves_per_pod: 3\n", "i.yaml:1: leaves_per_pod: unknown field; did you mean leaves-per-pod? valid: anycast, asn,"},
		{"pools:\n  loopback: 10.0.0.0/8\n", "i.yaml:2: pools.loopback: unknown field; valid: host-loopbacks-ipv4,"},
		{"pools:\n  links-ipv4: 10.0.0\n", `i.yaml:2: pools.links-ipv4: "10.0.0" is not a prefix`},
		{"stages: three\n", `i.yaml:1: stages: "three"; want a whole number`},
		{"bfd: {enabled: maybe}\n", `i.yaml:1: bfd.enabled: "maybe"; want true or false`},
		{"a: [\n", "i.yaml: not valid YAML"},
		{"- 1\n", "i.yaml:1: the intent must be a map"},
	} {
		_, err := ParseIntent("i.yaml", []byte(tc.in), Intent{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseIntent(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseIntent(f *testing.F) {
	f.Add([]byte("stages: 5\npods: 2\nleaves-per-pod: 3\nsuper-spines-per-plane: 2\n"))
	f.Add([]byte("pools: {loopbacks-ipv4: 10.0.0.0/24, servers-ipv6: 'fd00::/48'}\nlink-addressing: dual\n"))
	f.Add([]byte("bfd: {enabled: false}\ncapacity: {servers-per-leaf: 4}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseIntent("fuzz.yaml", data, Intent{})
		if err != nil {
			return
		}
		// Keep the fabric small so the fuzzer spends its time on parsing.
		if in.Pods > 4 || in.LeavesPerPod > 8 || in.Planes > 4 || in.SpinesPerPlane > 4 || in.SuperSpinesPerPlane > 4 ||
			in.ServersPerLeaf > 8 || in.BorderLeaves > 4 || in.LeafUplinks > 32 || in.SpineUplinks > 32 ||
			in.Capacity.LeavesPerPod > 64 || in.Capacity.ServersPerLeaf > 64 || in.Capacity.SpinesPerPod > 64 ||
			in.Capacity.SuperSpinesPerPlane > 64 || in.Capacity.UplinksPerLeaf > 64 || in.Capacity.UplinksPerSpine > 64 ||
			in.Capacity.UplinksPerBorder > 64 || in.Capacity.BorderLeaves > 64 {
			return
		}
		p, err := Build(in)
		if err != nil {
			return
		}
		if _, err := p.Files(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestModestFiveStageValidates(t *testing.T) {
	in := hyperscale()
	in.Pods, in.LeavesPerPod, in.ServersPerLeaf = 4, 8, 8
	p := mustBuild(t, in)
	checkPlan(t, p)
	if len(p.Servers) != 4*8*8 {
		t.Errorf("servers = %d", len(p.Servers))
	}
}

func TestDocsIntentExampleParses(t *testing.T) {
	data, err := os.ReadFile("../../docs/plan.md")
	if err != nil {
		t.Skip("docs/plan.md not present")
	}
	s := string(data)
	i := strings.Index(s, "## Intent file")
	j := strings.Index(s[i:], "```yaml\n")
	s = s[i+j+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	in, err := ParseIntent("docs/plan.md", []byte(s), Intent{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(in)
	if err != nil {
		t.Fatalf("the documented intent does not build: %v", err)
	}
	checkPlan(t, p)
}

func TestScalarReadsBack(t *testing.T) {
	for _, s := range []string{"leaf1", "::/0", "fd00::1/128", "10.0.0.0/8", "alpine:3.20", "a: b", "true", "No", "1e5", "12",
		"-x", "#c", "x #y", "ip route replace default via 10.0.0.1 dev eth1", "", " lead", "trail:", "\"q\"", "tab\there", "ünï"} {
		var got string
		if err := yaml.Unmarshal([]byte("v: "+scalar(s)+"\n"), &struct {
			V *string `yaml:"v"`
		}{&got}); err != nil || got != s {
			t.Errorf("scalar(%q) = %s reads back as %q (%v)", s, scalar(s), got, err)
		}
	}
}
