package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Intent is what the operator asks for; Build turns it into a Plan. Zero
// fields take the defaults documented in docs/plan.md (see Defaults).
type Intent struct {
	Name                string        `yaml:"name"`
	Stages              int           `yaml:"stages"`
	Planes              int           `yaml:"planes"`
	SpinesPerPlane      int           `yaml:"spines-per-plane"`
	Pods                int           `yaml:"pods"`
	LeavesPerPod        int           `yaml:"leaves-per-pod"`
	SuperSpinesPerPlane int           `yaml:"super-spines-per-plane"`
	BorderLeaves        int           `yaml:"border-leaves"`
	ServersPerLeaf      int           `yaml:"servers-per-leaf"`
	LeafUplinks         int           `yaml:"leaf-uplinks"`
	SpineUplinks        int           `yaml:"spine-uplinks"`
	LinkAddressing      string        `yaml:"link-addressing"`
	Hosts               string        `yaml:"hosts"`
	DualHomed           bool          `yaml:"dual-homed"`
	Sites               int           `yaml:"sites"`
	Pools               Pools         `yaml:"pools"`
	ServerSubnet        SubnetLengths `yaml:"server-subnet-length"`
	ASN                 ASNIntent     `yaml:"asn"`
	BFD                 BFDIntent     `yaml:"bfd"`
	Speeds              Speeds        `yaml:"speeds"`
	Oversubscription    Oversub       `yaml:"oversubscription"`
	Capacity            Capacity      `yaml:"capacity"`
	Names               Names         `yaml:"names"`
	Numbering           Numbering     `yaml:"numbering"`
	Images              Images        `yaml:"images"`
	// Anycast places services on servers (hosts: bgp only); HostChecks
	// times their health checks. See hostbgp.go.
	Anycast    []AnycastIntent `yaml:"anycast"`
	HostChecks HostChecks      `yaml:"host-checks"`
	// HostRoutes is what a server in hosts: bgp learns from its leaf:
	// "default" (the default route only) or "all". See hostbgp.go.
	HostRoutes string `yaml:"host-routes"`
}

// Pools are the address blocks the plan carves. IPv4 loopbacks are
// required (they are the router ids); the IPv6 ones are optional.
type Pools struct {
	Loopbacks4 netip.Prefix `yaml:"loopbacks-ipv4"`
	Loopbacks6 netip.Prefix `yaml:"loopbacks-ipv6"`
	Links4     netip.Prefix `yaml:"links-ipv4"`
	Links6     netip.Prefix `yaml:"links-ipv6"`
	Servers4   netip.Prefix `yaml:"servers-ipv4"`
	Servers6   netip.Prefix `yaml:"servers-ipv6"`
	// Server loopbacks, hosts: bgp only.
	HostLoopbacks4 netip.Prefix `yaml:"host-loopbacks-ipv4"`
	HostLoopbacks6 netip.Prefix `yaml:"host-loopbacks-ipv6"`
}

// SubnetLengths is the size of each leaf's server subnet.
type SubnetLengths struct {
	IPv4 int `yaml:"ipv4"`
	IPv6 int `yaml:"ipv6"`
}

// ASNIntent picks the RFC 7938 7.2.1 layout's number space.
type ASNIntent struct {
	// Scheme is private-2 (64512-65534) or private-4 (4200000000-4294967294).
	Scheme string `yaml:"scheme"`
	// ReuseLeafASNs reuses leaf ASNs in every pod (RFC 7938 7.2.2), which
	// needs allowas-in on the leaves' uplinks.
	ReuseLeafASNs bool `yaml:"reuse-leaf-asns"`
}

// BFDIntent: on by default at 100 ms x 3.
type BFDIntent struct {
	Enabled    *bool `yaml:"enabled"`
	Interval   int   `yaml:"interval"`
	Multiplier int   `yaml:"multiplier"`
}

// Speeds of ports in Gbit/s, for the oversubscription report.
type Speeds struct {
	Server float64 `yaml:"server"`
	Fabric float64 `yaml:"fabric"`
}

// Oversub sets the ratio above which a tier's oversubscription is warned.
type Oversub struct {
	WarnAbove float64 `yaml:"warn-above"`
}

// Capacity reserves room for growth: ids, and so addresses, are derived
// from these maxima, not from today's counts, so adding leaves or pods
// keeps every existing address and ASN.
type Capacity struct {
	LeavesPerPod        int `yaml:"leaves-per-pod"`
	SpinesPerPod        int `yaml:"spines-per-pod"`
	SuperSpinesPerPlane int `yaml:"super-spines-per-plane"`
	BorderLeaves        int `yaml:"border-leaves"`
	UplinksPerLeaf      int `yaml:"uplinks-per-leaf"`
	UplinksPerSpine     int `yaml:"uplinks-per-spine"`
	UplinksPerBorder    int `yaml:"uplinks-per-border"`
	ServersPerLeaf      int `yaml:"servers-per-leaf"`
}

// Names are the prefixes of node names; a node is PREFIX+NUMBER.
type Names struct {
	Leaf       string `yaml:"leaf"`
	Spine      string `yaml:"spine"`
	SuperSpine string `yaml:"super-spine"`
	BorderLeaf string `yaml:"border-leaf"`
	Server     string `yaml:"server"`
}

// Numbering offsets the number in names (seed 003's lab calls its spines
// spine3 and spine4): the first node of a role is called PREFIX+first.
type Numbering struct {
	LeafFirst       int `yaml:"leaf-first"`
	SpineFirst      int `yaml:"spine-first"`
	SuperSpineFirst int `yaml:"super-spine-first"`
	BorderLeafFirst int `yaml:"border-leaf-first"`
	ServerFirst     int `yaml:"server-first"`
}

// Images for the containerlab topology.
type Images struct {
	Switch string `yaml:"switch"`
	Server string `yaml:"server"`
}

// Link addressing modes.
const (
	LinksIPv4       = "ipv4"       // /31 per link
	LinksIPv6       = "ipv6"       // /127 per link, IPv4 over RFC 8950 next hops
	LinksDual       = "dual"       // /31 and /127, one session per family
	LinksUnnumbered = "unnumbered" // BGP on the interface, IPv6 link-local
)

// ASN schemes.
const (
	ASNPrivate2 = "private-2"
	ASNPrivate4 = "private-4"
)

// Defaults fills zero fields; it is idempotent.
func (in *Intent) Defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defs := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	defs(&in.Name, "fabric")
	def(&in.Stages, 3)
	def(&in.Planes, 1)
	def(&in.SpinesPerPlane, 2)
	def(&in.Pods, 1)
	def(&in.LeavesPerPod, 4)
	if in.Stages == 5 {
		def(&in.SuperSpinesPerPlane, 2)
	}
	defs(&in.LinkAddressing, LinksIPv4)
	defs(&in.Hosts, "subnet")
	def(&in.Sites, 1)
	if !in.Pools.Loopbacks4.IsValid() {
		in.Pools.Loopbacks4 = netip.MustParsePrefix("10.0.0.0/16")
	}
	if !in.Pools.Links4.IsValid() && (in.LinkAddressing == LinksIPv4 || in.LinkAddressing == LinksDual) {
		in.Pools.Links4 = netip.MustParsePrefix("10.1.0.0/16")
	}
	if !in.Pools.Links6.IsValid() && (in.LinkAddressing == LinksIPv6 || in.LinkAddressing == LinksDual) {
		in.Pools.Links6 = netip.MustParsePrefix("fd00:1::/64")
	}
	if !in.Pools.Servers4.IsValid() {
		in.Pools.Servers4 = netip.MustParsePrefix("10.128.0.0/9")
	}
	def(&in.ServerSubnet.IPv4, 26)
	def(&in.ServerSubnet.IPv6, 64)
	defs(&in.ASN.Scheme, ASNPrivate2)
	if in.BFD.Enabled == nil {
		on := true
		in.BFD.Enabled = &on
	}
	def(&in.BFD.Interval, 100)
	def(&in.BFD.Multiplier, 3)
	if in.Speeds.Server == 0 {
		in.Speeds.Server = 25
	}
	if in.Speeds.Fabric == 0 {
		in.Speeds.Fabric = 100
	}
	if in.Oversubscription.WarnAbove == 0 {
		in.Oversubscription.WarnAbove = 3
	}
	def(&in.Capacity.LeavesPerPod, 64)
	def(&in.Capacity.SpinesPerPod, 16)
	def(&in.Capacity.SuperSpinesPerPlane, 64)
	def(&in.Capacity.BorderLeaves, 16)
	def(&in.Capacity.UplinksPerLeaf, 16)
	def(&in.Capacity.UplinksPerSpine, 64)
	def(&in.Capacity.UplinksPerBorder, 64)
	def(&in.Capacity.ServersPerLeaf, in.ServersPerLeaf)
	defs(&in.Names.Leaf, "leaf")
	defs(&in.Names.Spine, "spine")
	defs(&in.Names.SuperSpine, "superspine")
	defs(&in.Names.BorderLeaf, "border")
	defs(&in.Names.Server, "server")
	def(&in.Numbering.LeafFirst, 1)
	def(&in.Numbering.SpineFirst, 1)
	def(&in.Numbering.SuperSpineFirst, 1)
	def(&in.Numbering.BorderLeafFirst, 1)
	def(&in.Numbering.ServerFirst, 1)
	defs(&in.Images.Switch, "frrouting/frr:v8.4.1")
	defs(&in.Images.Server, "alpine:3.20")
	in.hostDefaults()
}

// Presets by name.
var Presets = []string{"seed-003", "rfc7938-3stage", "rfc7938-5stage", "dci"}

// Preset returns the intent of a named preset; sizes left zero are filled
// by Defaults, so flags may override them before.
func Preset(name string) (Intent, error) {
	switch name {
	case "seed-003":
		// The four-switch lab of seed 003: leaf1 and leaf2 each wired to
		// spine3 (swp1) and spine4 (swp2), plus two servers per leaf.
		return Intent{
			Name: "seed-003", Stages: 3, Planes: 1, SpinesPerPlane: 2, Pods: 1, LeavesPerPod: 2,
			ServersPerLeaf: 2,
			Pools: Pools{
				Loopbacks4: netip.MustParsePrefix("10.0.0.0/24"),
				Links4:     netip.MustParsePrefix("10.1.0.0/24"),
				Servers4:   netip.MustParsePrefix("10.2.0.0/16"),
			},
			ServerSubnet: SubnetLengths{IPv4: 24},
			Capacity:     Capacity{ServersPerLeaf: 2, UplinksPerLeaf: 4},
			Numbering:    Numbering{SpineFirst: 3},
			// A lab: anycast checks fast enough to measure (200 ms x 3).
			HostChecks: HostChecks{Interval: "200ms", Timeout: "150ms", Rise: 2, Fall: 3},
		}, nil
	case "dci":
		// Two seed-003-sized sites, each with a border leaf, joined by an
		// L3 interconnect and sharing the server subnet (docs/plan.md, DCI).
		return Intent{
			Name: "dci", Stages: 3, Planes: 1, SpinesPerPlane: 2, Pods: 1, LeavesPerPod: 2,
			ServersPerLeaf: 2, BorderLeaves: 1, Hosts: HostsNeighbor, Sites: 2,
			Pools: Pools{
				Loopbacks4: netip.MustParsePrefix("10.0.0.0/24"),
				Links4:     netip.MustParsePrefix("10.1.0.0/24"),
				Servers4:   netip.MustParsePrefix("10.2.0.0/16"),
			},
			Capacity: Capacity{ServersPerLeaf: 2, UplinksPerLeaf: 4, BorderLeaves: 2, UplinksPerBorder: 4},
		}, nil
	case "rfc7938-3stage":
		return Intent{Name: "rfc7938-3stage", Stages: 3, Planes: 1, SpinesPerPlane: 4, LeavesPerPod: 8, ServersPerLeaf: 4}, nil
	case "rfc7938-5stage":
		return Intent{
			Name: "rfc7938-5stage", Stages: 5, Planes: 2, SpinesPerPlane: 1, Pods: 2, LeavesPerPod: 2,
			SuperSpinesPerPlane: 2, ServersPerLeaf: 2,
			ASN: ASNIntent{ReuseLeafASNs: true},
		}, nil
	}
	return Intent{}, fmt.Errorf("preset %q: unknown; valid: %s", name, strings.Join(Presets, ", "))
}

// ParseIntent reads an intent file on top of base (a preset, or the zero
// Intent): fields the file gives replace base's. Unknown keys are errors
// with the valid ones listed; all problems are returned, one per line.
func ParseIntent(name string, data []byte, base Intent) (Intent, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Intent{}, fmt.Errorf("%s: not valid YAML: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return base, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Intent{}, fmt.Errorf("%s:%d: the intent must be a map of fields like stages, leaves-per-pod, pools", name, root.Line)
	}
	var errs []string
	checkKeys(name, root, reflect.TypeFor[Intent](), "", &errs)
	if len(errs) > 0 {
		return Intent{}, errors.New(strings.Join(errs, "\n"))
	}
	in := base
	if err := root.Decode(&in); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				errs = append(errs, fmt.Sprintf("%s: %s", name, e))
			}
			return Intent{}, errors.New(strings.Join(errs, "\n"))
		}
		return Intent{}, fmt.Errorf("%s: %v", name, err)
	}
	return in, nil
}

func checkKeys(file string, n *yaml.Node, t reflect.Type, path string, errs *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if msg := checkScalar(n, t); msg != "" {
		*errs = append(*errs, fmt.Sprintf("%s:%d: %s: %s", file, n.Line, path, msg))
		return
	}
	if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		for i, item := range n.Content {
			checkKeys(file, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
		return
	}
	if t.Kind() != reflect.Struct || t.String() == "netip.Prefix" {
		return
	}
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, fmt.Sprintf("%s:%d: %s: got %s; want a map", file, n.Line, path, n.Tag))
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = t.Field(i).Type
		names = append(names, tag)
	}
	sort.Strings(names)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		ft, ok := fields[k.Value]
		if !ok {
			hint := ""
			if alt := strings.ReplaceAll(k.Value, "_", "-"); fields[alt] != nil {
				hint = " did you mean " + alt + "?"
			}
			*errs = append(*errs, fmt.Sprintf("%s:%d: %s: unknown field;%s valid: %s", file, k.Line, p, hint, strings.Join(names, ", ")))
			continue
		}
		checkKeys(file, n.Content[i+1], ft, p, errs)
	}
}

// checkScalar checks a value against its field's type before decoding,
// so the message can name the field and say what is valid.
func checkScalar(n *yaml.Node, t reflect.Type) string {
	isScalar := n.Kind == yaml.ScalarNode
	switch {
	case t.String() == "netip.Prefix":
		if !isScalar {
			return "want a prefix like 10.0.0.0/16 or fd00::/64"
		}
		if _, err := netip.ParsePrefix(n.Value); err != nil {
			return fmt.Sprintf("%q is not a prefix; want one like 10.0.0.0/16 or fd00::/64", n.Value)
		}
	case t.Kind() == reflect.Int:
		if _, err := strconv.Atoi(n.Value); !isScalar || err != nil {
			return fmt.Sprintf("%q; want a whole number", n.Value)
		}
	case t.Kind() == reflect.Float64:
		if _, err := strconv.ParseFloat(n.Value, 64); !isScalar || err != nil {
			return fmt.Sprintf("%q; want a number", n.Value)
		}
	case t.Kind() == reflect.Bool:
		if !isScalar || (n.Value != "true" && n.Value != "false") {
			return fmt.Sprintf("%q; want true or false", n.Value)
		}
	case t.Kind() == reflect.String:
		if !isScalar {
			return "want a string"
		}
	}
	return ""
}
