package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/closnet/clos/internal/plan"
)

func init() {
	register("plan", command{summary: "plan an RFC 7938 fabric: ASNs, addresses, cabling, closd/FRR/containerlab configs", run: runPlan})
}

const planUsage = `usage: clos plan [--preset NAME] [--intent FILE] [flags] -o DIR

Plans an RFC 7938 BGP fabric and writes into DIR: fabric.yaml (the plan, input
of clos lab up), closd/NODE.yaml, frr/NODE/frr.conf, fabric.clab.yml,
fabric.dot, fabric.mmd, and cabling/ip-plan/asn-plan tables (.md and .csv).

Sizes come from a preset, then an intent file (YAML, schema in docs/plan.md),
then flags; later ones win. Bad input exits 2 with one line per problem.

Examples:
  clos plan --preset seed-003 -o lab
  clos plan --preset rfc7938-3stage --leaves-per-pod 16 --servers-per-leaf 8 -o dc1
  clos plan --stages 5 --pods 4 --planes 4 --super-spines-per-plane 8 --leaves-per-pod 16 \
      --asn-scheme private-4 --links 10.64.0.0/14 -o dc2
  clos plan --intent fabric-intent.yaml --link-addressing unnumbered -o dc3
  clos plan --preset seed-003 --hosts bgp --anycast dns=10.255.0.53/32:server1,server3 -o lab

Flags:
`

type planFlags struct {
	fs                                                      *flag.FlagSet
	preset, intent, out, name                               string
	stages, planes, spinesPerPlane, pods, leavesPerPod      int
	superSpines, borderLeaves, serversPerLeaf               int
	leafUplinks, spineUplinks                               int
	linkAddressing, hosts, asnScheme                        string
	reuseLeafASNs, bfd, dualHomed                           bool
	sites, bfdInterval, bfdMultiplier                       int
	bfdTimers                                               string
	loopbacks, loopbacks6, links, links6, servers, servers6 string
	subnet4, subnet6                                        int
	oversub, serverSpeed, fabricSpeed                       float64
	anycast                                                 []string
}

func newPlanFlags(stderr io.Writer) *planFlags {
	f := &planFlags{fs: flag.NewFlagSet("clos plan", flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(stderr)
	fs.StringVar(&f.preset, "preset", "", "start from a preset: "+strings.Join(plan.Presets, ", ")+" (e.g. --preset seed-003)")
	fs.StringVar(&f.intent, "intent", "", "YAML intent file with any field of docs/plan.md (e.g. --intent dc1.yaml)")
	fs.StringVar(&f.out, "o", "", "output directory, created if missing (e.g. -o lab)")
	fs.StringVar(&f.name, "name", "", "fabric name, used in containerlab and diagrams (e.g. --name dc1)")
	fs.IntVar(&f.stages, "stages", 0, "3 (leaf-spine) or 5 (leaf-spine-super-spine), default 3 (e.g. --stages 5)")
	fs.IntVar(&f.planes, "planes", 0, "spine planes; 5-stage: spine k of every pod joins plane k's super-spines, default 1 (e.g. --planes 4)")
	fs.IntVar(&f.spinesPerPlane, "spines-per-plane", 0, "spines per plane (per pod in 5-stage), default 2 (e.g. --spines-per-plane 4)")
	fs.IntVar(&f.pods, "pods", 0, "pods (5-stage only), default 1 (e.g. --pods 8)")
	fs.IntVar(&f.leavesPerPod, "leaves-per-pod", 0, "leaves (ToRs) per pod; in 3-stage the number of leaves, default 4 (e.g. --leaves-per-pod 16)")
	fs.IntVar(&f.superSpines, "super-spines-per-plane", 0, "super-spines per plane (5-stage), default 2 (e.g. --super-spines-per-plane 8)")
	fs.IntVar(&f.borderLeaves, "border-leaves", 0, "border leaves, wired to every tier-1 switch (e.g. --border-leaves 2)")
	fs.IntVar(&f.serversPerLeaf, "servers-per-leaf", 0, "servers per leaf (e.g. --servers-per-leaf 8)")
	fs.IntVar(&f.leafUplinks, "leaf-uplinks", 0, "uplinks per leaf, a multiple of the spines per pod; default one per spine (e.g. --leaf-uplinks 8)")
	fs.IntVar(&f.spineUplinks, "spine-uplinks", 0, "uplinks per spine (5-stage), a multiple of super-spines per plane (e.g. --spine-uplinks 8)")
	fs.StringVar(&f.linkAddressing, "link-addressing", "", "ipv4 (/31), ipv6 (/127), dual, or unnumbered; default ipv4 (e.g. --link-addressing unnumbered)")
	fs.StringVar(&f.hosts, "hosts", "", "how servers attach: subnet (a subnet per leaf, default), neighbor (one shared subnet, anycast gateway, host routes from ARP/ND; leaves run closd) or bgp (closd on each server, BGP to its leaf) (e.g. --hosts bgp)")
	fs.BoolVar(&f.dualHomed, "dual-homed", false, "with --hosts neighbor: every server has a link to each leaf of a pair, the same /32 on both (e.g. --dual-homed)")
	fs.IntVar(&f.sites, "sites", 0, "2: two sites sharing the server subnet, joined between border leaves (DCI; --hosts neighbor, default 1) (e.g. --sites 2)")
	fs.Func("anycast", "with --hosts bgp: place a service NAME=PREFIX[,PREFIX...]:SERVER[,SERVER...], repeatable (e.g. --anycast dns=10.255.0.53/32:server1,server3)", func(v string) error {
		f.anycast = append(f.anycast, v)
		return nil
	})
	fs.StringVar(&f.asnScheme, "asn-scheme", "", "private-2 (64512-65534, default) or private-4 (4200000000-4294967294) (e.g. --asn-scheme private-4)")
	fs.BoolVar(&f.reuseLeafASNs, "reuse-leaf-asns", false, "reuse leaf ASNs in every pod with allowas-in (RFC 7938 7.2.2) (e.g. --reuse-leaf-asns)")
	fs.BoolVar(&f.bfd, "bfd", true, "BFD on every session (e.g. --bfd=false)")
	fs.IntVar(&f.bfdInterval, "bfd-interval", 0, "BFD interval in ms, default 100 (e.g. --bfd-interval 300)")
	fs.IntVar(&f.bfdMultiplier, "bfd-multiplier", 0, "BFD detect multiplier, default 3 (e.g. --bfd-multiplier 5)")
	fs.StringVar(&f.bfdTimers, "bfd-timers", "", "BFD interval (ms) and multiplier in one, for closd and FRR alike (e.g. --bfd-timers 50x3)")
	fs.StringVar(&f.loopbacks, "loopbacks", "", "IPv4 loopback pool, default 10.0.0.0/16 (e.g. --loopbacks 10.0.0.0/20)")
	fs.StringVar(&f.loopbacks6, "loopbacks6", "", "IPv6 loopback pool, optional (e.g. --loopbacks6 fd00::/64)")
	fs.StringVar(&f.links, "links", "", "IPv4 link pool for /31s, default 10.1.0.0/16 (e.g. --links 10.64.0.0/14)")
	fs.StringVar(&f.links6, "links6", "", "IPv6 link pool for /127s, default fd00:1::/64 with ipv6 or dual links (e.g. --links6 fd00:1::/64)")
	fs.StringVar(&f.servers, "servers", "", "IPv4 server pool, default 10.128.0.0/9 (e.g. --servers 10.128.0.0/12)")
	fs.StringVar(&f.servers6, "servers6", "", "IPv6 server pool, optional (e.g. --servers6 fd00:2::/48)")
	fs.IntVar(&f.subnet4, "server-subnet-length", 0, "IPv4 server subnet length per leaf, default 26 (e.g. --server-subnet-length 24)")
	fs.IntVar(&f.subnet6, "server-subnet-length6", 0, "IPv6 server subnet length per leaf, default 64 (e.g. --server-subnet-length6 64)")
	fs.Float64Var(&f.oversub, "oversubscription-warn", 0, "warn when a tier's down:up bandwidth exceeds this, default 3 (e.g. --oversubscription-warn 4)")
	fs.Float64Var(&f.serverSpeed, "server-speed", 0, "server port speed in Gbit/s, default 25 (e.g. --server-speed 100)")
	fs.Float64Var(&f.fabricSpeed, "fabric-speed", 0, "fabric port speed in Gbit/s, default 100 (e.g. --fabric-speed 400)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), planUsage)
		fs.PrintDefaults()
	}
	return f
}

// apply copies the flags the user gave onto the intent.
func (f *planFlags) apply(in *plan.Intent) []string {
	var errs []string
	prefix := func(flagName, v string, dst *netip.Prefix) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s: %q is not a prefix; want one like 10.0.0.0/16 or fd00::/64", flagName, v))
			return
		}
		*dst = p
	}
	positive := func(flagName string, v int, dst *int) {
		if v < 1 {
			errs = append(errs, fmt.Sprintf("--%s: %d; want 1 or more", flagName, v))
			return
		}
		*dst = v
	}
	positiveFloat := func(flagName string, v float64, dst *float64, want string) {
		if v <= 0 {
			errs = append(errs, fmt.Sprintf("--%s: %g; want %s", flagName, v, want))
			return
		}
		*dst = v
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "name":
			in.Name = f.name
		case "stages":
			in.Stages = f.stages
			if f.stages != 3 && f.stages != 5 {
				errs = append(errs, fmt.Sprintf("--stages: %d; valid: 3 or 5", f.stages))
			}
		case "planes":
			positive(fl.Name, f.planes, &in.Planes)
		case "spines-per-plane":
			positive(fl.Name, f.spinesPerPlane, &in.SpinesPerPlane)
		case "pods":
			positive(fl.Name, f.pods, &in.Pods)
		case "leaves-per-pod":
			positive(fl.Name, f.leavesPerPod, &in.LeavesPerPod)
		case "super-spines-per-plane":
			positive(fl.Name, f.superSpines, &in.SuperSpinesPerPlane)
		case "border-leaves":
			in.BorderLeaves = f.borderLeaves
		case "servers-per-leaf":
			in.ServersPerLeaf = f.serversPerLeaf
		case "leaf-uplinks":
			positive(fl.Name, f.leafUplinks, &in.LeafUplinks)
		case "spine-uplinks":
			positive(fl.Name, f.spineUplinks, &in.SpineUplinks)
		case "link-addressing":
			in.LinkAddressing = f.linkAddressing
			// A preset's or intent's link pools go with its own
			// addressing: those the new mode does not use are dropped
			// (--links and --links6 come after this and still set them).
			switch f.linkAddressing {
			case plan.LinksIPv4:
				in.Pools.Links6 = netip.Prefix{}
			case plan.LinksIPv6:
				in.Pools.Links4 = netip.Prefix{}
			case plan.LinksUnnumbered:
				in.Pools.Links4, in.Pools.Links6 = netip.Prefix{}, netip.Prefix{}
			}
		case "hosts":
			in.Hosts = f.hosts
		case "dual-homed":
			in.DualHomed = f.dualHomed
		case "sites":
			positive(fl.Name, f.sites, &in.Sites)
		case "anycast":
			in.Anycast = nil // the flags replace the intent file's services
			for _, v := range f.anycast {
				a, err := plan.ParseAnycast(v)
				if err != nil {
					errs = append(errs, "--anycast: "+err.Error())
					continue
				}
				in.Anycast = append(in.Anycast, a)
			}
		case "asn-scheme":
			in.ASN.Scheme = f.asnScheme
		case "reuse-leaf-asns":
			in.ASN.ReuseLeafASNs = f.reuseLeafASNs
		case "bfd":
			on := f.bfd
			in.BFD.Enabled = &on
		case "bfd-interval":
			positive(fl.Name, f.bfdInterval, &in.BFD.Interval)
		case "bfd-multiplier":
			positive(fl.Name, f.bfdMultiplier, &in.BFD.Multiplier)
		case "bfd-timers":
			iv, m, err := plan.ParseBFDTimers(f.bfdTimers)
			if err != nil {
				errs = append(errs, "--bfd-timers: "+err.Error())
				break
			}
			in.BFD.Interval, in.BFD.Multiplier = iv, m
		case "loopbacks":
			prefix(fl.Name, f.loopbacks, &in.Pools.Loopbacks4)
		case "loopbacks6":
			prefix(fl.Name, f.loopbacks6, &in.Pools.Loopbacks6)
		case "links":
			prefix(fl.Name, f.links, &in.Pools.Links4)
		case "links6":
			prefix(fl.Name, f.links6, &in.Pools.Links6)
		case "servers":
			prefix(fl.Name, f.servers, &in.Pools.Servers4)
		case "servers6":
			prefix(fl.Name, f.servers6, &in.Pools.Servers6)
		case "server-subnet-length":
			positive(fl.Name, f.subnet4, &in.ServerSubnet.IPv4)
		case "server-subnet-length6":
			positive(fl.Name, f.subnet6, &in.ServerSubnet.IPv6)
		case "oversubscription-warn":
			positiveFloat(fl.Name, f.oversub, &in.Oversubscription.WarnAbove, "a positive ratio such as 3")
		case "server-speed":
			positiveFloat(fl.Name, f.serverSpeed, &in.Speeds.Server, "a positive speed in Gbit/s")
		case "fabric-speed":
			positiveFloat(fl.Name, f.fabricSpeed, &in.Speeds.Fabric, "a positive speed in Gbit/s")
		}
	})
	return errs
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	f := newPlanFlags(io.Discard)
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.fs.SetOutput(stdout)
			f.fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "clos plan: %v (see clos plan --help)\n", err)
		return 2
	}
	bad := func(lines ...string) int {
		for _, l := range lines {
			fmt.Fprintf(stderr, "clos plan: %s\n", l)
		}
		return 2
	}
	if f.fs.NArg() > 0 {
		return bad(fmt.Sprintf("unexpected argument %q; all input is given by flags (see clos plan --help)", f.fs.Arg(0)))
	}
	if f.out == "" {
		return bad("missing -o DIR: the directory to write the plan into (e.g. -o lab)")
	}
	var in plan.Intent
	if f.preset != "" {
		p, err := plan.Preset(f.preset)
		if err != nil {
			return bad("--" + err.Error())
		}
		in = p
	}
	if f.intent != "" {
		data, err := os.ReadFile(f.intent)
		if err != nil {
			return bad(fmt.Sprintf("--intent: %v", err))
		}
		in, err = plan.ParseIntent(f.intent, data, in)
		if err != nil {
			return bad(strings.Split(err.Error(), "\n")...)
		}
	}
	if errs := f.apply(&in); len(errs) > 0 {
		return bad(errs...)
	}
	p, err := plan.Build(in)
	if err != nil {
		return bad(strings.Split(err.Error(), "\n")...)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(stderr, "clos plan: warning: %s\n", w)
	}
	files, err := p.Files()
	if err != nil {
		fmt.Fprintf(stderr, "clos plan: rendering the plan: %v\n", err)
		return 1
	}
	for _, file := range files {
		path := filepath.Join(f.out, filepath.FromSlash(file.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintf(stderr, "clos plan: %v\n", err)
			return 1
		}
		if err := os.WriteFile(path, file.Data, 0o644); err != nil {
			fmt.Fprintf(stderr, "clos plan: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "clos plan: wrote %d files to %s: %d switches, %d servers, %d links, %d BGP sessions\n",
		len(files), f.out, len(p.Switches), len(p.Servers), len(p.Links), p.Sessions)
	if note := p.HostsNote(); note != "" {
		fmt.Fprintf(stdout, "clos plan: %s\n", note)
	}
	for _, o := range p.Oversubscription {
		fmt.Fprintf(stdout, "clos plan: oversubscription %s %.2f:1 (%g Gbit/s down, %g up)\n", o.Tier, o.Ratio, o.DownGbps, o.UpGbps)
	}
	return 0
}
