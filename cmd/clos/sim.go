package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/closnet/clos/internal/plan"
	"github.com/closnet/clos/internal/sim"
)

func init() {
	register("sim", command{summary: "simulate a planned fabric at hyperscale: convergence, failures, ECMP, on a virtual clock", run: runSim})
}

const simUsage = `usage: clos sim [--preset NAME | --intent FILE | FABRIC.yaml] [size flags] [scenario] [--json]

Runs every switch of a fabric planned by clos plan with closd's own BGP
engines (sessions, RIB, policy) over in-memory links on a virtual clock, and
reports convergence after power-on and after each failure: virtual time,
UPDATEs, path hunting, blackholes and ECMP width against the plan.

The fabric is a preset, an intent file (both take the size flags of clos plan
on top), or a fabric.yaml written by clos plan -o DIR.

The scenario is played in the order given, each step once the last settled:
  --fail TARGET         a switch powered off, or a link cut (both ends lose carrier)
  --fail-silent TARGET  a switch hung, or a link dropping everything with carrier up:
                        only BFD (interval x multiplier of the plan) or the hold timer notice
  --restore[=TARGET]    bring one failed TARGET back, or (bare) every failure so far
TARGET is a switch (spine1), a link end NODE:IFACE (leaf3:swp1) or a link name;
several, separated by commas, fail or come back at the same instant
(--fail superspine1,superspine2).

Examples:
  clos sim --preset seed-003 --fail spine3 --restore
  clos sim --preset rfc7938-5stage --pods 16 --leaves-per-pod 40 --planes 4 \
      --super-spines-per-plane 8 --links 10.64.0.0/14 --fail superspine1 --fail-silent leaf1:swp1 --restore --json
  clos plan --preset rfc7938-3stage -o dc1 && clos sim dc1/fabric.yaml --fail leaf3:swp1
  clos sim --preset seed-003 --hosts bgp --anycast dns=10.255.0.53/32:server1,server3 \
      --host-speakers --fail server1 --restore

Exit status: 0 when every event settled with every route as the plan implies,
1 when not, 2 for bad input. See docs/sim.md for what each column means.

Flags:
`

// simPlanFlags are the clos plan flags that shape a fabric; sim offers
// them with the same names and meanings.
var simPlanFlags = []string{"name", "stages", "planes", "spines-per-plane", "pods", "leaves-per-pod", "super-spines-per-plane",
	"border-leaves", "servers-per-leaf", "leaf-uplinks", "spine-uplinks", "link-addressing", "hosts", "asn-scheme", "reuse-leaf-asns",
	"bfd", "bfd-interval", "bfd-multiplier", "bfd-timers", "loopbacks", "loopbacks6", "links", "links6", "servers", "servers6",
	"server-subnet-length", "server-subnet-length6", "anycast"}

func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clos sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pf := newPlanFlags(io.Discard)
	for _, name := range simPlanFlags {
		fl := pf.fs.Lookup(name)
		fs.Var(fl.Value, fl.Name, fl.Usage)
	}
	preset := fs.String("preset", "", "start from a preset: "+strings.Join(plan.Presets, ", ")+" (e.g. --preset seed-003)")
	intent := fs.String("intent", "", "YAML intent file with any field of docs/plan.md (e.g. --intent dc1.yaml)")
	var steps []sim.Step
	fs.Func("fail", "power a switch off or cut a link, both ends losing carrier; repeatable (e.g. --fail spine1, --fail leaf3:swp1)", func(v string) error {
		steps = append(steps, sim.Step{Kind: sim.Fail, Target: v})
		return nil
	})
	fs.Func("fail-silent", "hang a switch or make a link drop everything with carrier up; detected by BFD or the hold timer (e.g. --fail-silent leaf1:swp2)", func(v string) error {
		steps = append(steps, sim.Step{Kind: sim.FailSilent, Target: v})
		return nil
	})
	fs.BoolFunc("restore", "restore every failure so far, or --restore=TARGET one of them (e.g. --restore, --restore=spine1)", func(v string) error {
		if v == "true" {
			v = ""
		}
		steps = append(steps, sim.Step{Kind: sim.Restore, Target: v})
		return nil
	})
	seed := fs.Uint64("seed", 1, "random seed: the same seed, fabric and flags give the same report (e.g. --seed 7)")
	delay := fs.Duration("link-delay", 10*time.Microsecond, "one-way delay of a message on a link (e.g. --link-delay 50us)")
	msgCost := fs.Duration("msg-cost", 20*time.Microsecond, "a switch's processing time per received message (e.g. --msg-cost 100us)")
	pfxCost := fs.Duration("prefix-cost", 2*time.Microsecond, "extra processing time per prefix in an UPDATE (e.g. --prefix-cost 5us)")
	mrai := fs.Duration("mrai", 0, "MinRouteAdvertisementInterval towards every peer, 0 (closd's default) sends at once (e.g. --mrai 1s)")
	spread := fs.Duration("start-spread", 100*time.Millisecond, "switches power on at random times within this window (e.g. --start-spread 1s)")
	maxHeap := fs.String("max-heap", "16GiB", "refuse a fabric whose run would need more Go heap than this (about 2.3 KB per speaker x prefix), and keep the collector under it (e.g. --max-heap 4GiB)")
	servers := fs.Bool("host-speakers", false, "with a hosts: bgp plan, run the servers as BGP speakers too: their loopbacks and anycast services, checks taken as passing (e.g. --host-speakers)")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), simUsage)
		fs.PrintDefaults()
	}
	pos, err := simParse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "clos sim: %v (see clos sim --help)\n", err)
		return 2
	}
	bad := func(lines ...string) int {
		for _, l := range lines {
			fmt.Fprintf(stderr, "clos sim: %s\n", l)
		}
		return 2
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"link-delay", *delay}, {"msg-cost", *msgCost}, {"prefix-cost", *pfxCost}, {"start-spread", *spread}, {"mrai", *mrai}} {
		if d.v < 0 {
			return bad(fmt.Sprintf("--%s: %v; want a duration of 0 or more, like 20us", d.name, d.v))
		}
	}
	if *seed == 0 {
		return bad("--seed: 0; want 1 or more")
	}
	heapLimit, err := sim.ParseBytes(*maxHeap)
	if err != nil {
		return bad("--max-heap: " + err.Error())
	}
	var topo *sim.Topology
	switch {
	case len(pos) > 1:
		return bad(fmt.Sprintf("want at most one FABRIC.yaml argument, got %d: %s", len(pos), strings.Join(pos, " ")))
	case len(pos) == 1:
		if _, err := os.Stat(pos[0]); errors.Is(err, iofs.ErrNotExist) && !strings.HasSuffix(pos[0], ".yaml") && !strings.HasSuffix(pos[0], ".yml") {
			return bad(fmt.Sprintf("%q: no such FABRIC.yaml; to restore one target write --restore=%s (the bare --restore restores everything)", pos[0], pos[0]))
		}
		var planFlags []string
		fs.Visit(func(fl *flag.Flag) {
			if fl.Name == "preset" || fl.Name == "intent" || pf.fs.Lookup(fl.Name) != nil {
				planFlags = append(planFlags, "--"+fl.Name)
			}
		})
		if len(planFlags) > 0 {
			return bad(fmt.Sprintf("%s: a fabric.yaml is a finished plan; %s apply to a preset or intent only (re-run clos plan to change it)",
				pos[0], strings.Join(planFlags, ", ")))
		}
		t, err := sim.FromFabric(pos[0], *servers)
		if err != nil {
			return bad(strings.Split(err.Error(), "\n")...)
		}
		topo = t
	default:
		var in plan.Intent
		if *preset != "" {
			p, err := plan.Preset(*preset)
			if err != nil {
				return bad("--" + err.Error())
			}
			in = p
		}
		if *intent != "" {
			data, err := os.ReadFile(*intent)
			if err != nil {
				return bad(fmt.Sprintf("--intent: %v", err))
			}
			in, err = plan.ParseIntent(*intent, data, in)
			if err != nil {
				return bad(strings.Split(err.Error(), "\n")...)
			}
		}
		// The shared flags were parsed into pf's values; mark them set
		// there so its apply sees them.
		anycast := false
		fs.Visit(func(fl *flag.Flag) {
			switch {
			case fl.Name == "anycast":
				// A repeatable flag: its values are in pf already.
				anycast = true
			case pf.fs.Lookup(fl.Name) != nil:
				_ = pf.fs.Set(fl.Name, fl.Value.String())
			}
		})
		errs := pf.apply(&in)
		if anycast {
			in.Anycast = nil
			for _, v := range pf.anycast {
				a, err := plan.ParseAnycast(v)
				if err != nil {
					errs = append(errs, "--anycast: "+err.Error())
					continue
				}
				in.Anycast = append(in.Anycast, a)
			}
		}
		if len(errs) > 0 {
			return bad(errs...)
		}
		p, err := plan.Build(in)
		if err != nil {
			return bad(strings.Split(err.Error(), "\n")...)
		}
		for _, w := range p.Warnings {
			fmt.Fprintf(stderr, "clos sim: plan warning: %s\n", w)
		}
		t, err := sim.FromPlan(p, *servers)
		if err != nil {
			return bad(err.Error())
		}
		topo = t
	}
	s, err := sim.New(topo, sim.Options{Seed: *seed, LinkDelay: *delay, MsgCost: *msgCost, PrefixCost: *pfxCost, StartSpread: *spread, MRAI: *mrai})
	if err != nil {
		fmt.Fprintf(stderr, "clos sim: %v\n", err)
		return 1
	}
	if err := s.Check(steps); err != nil {
		return bad(err.Error())
	}
	if est := s.EstimateHeap(); est > heapLimit {
		speakers, prefixes := s.Size()
		return bad(fmt.Sprintf("--max-heap: %d speakers x %d prefixes would need about %s of Go heap (%d bytes per route), more than %s; simulate a smaller fabric or raise --max-heap if the machine has the memory",
			speakers, prefixes, sim.BytesString(est), sim.HeapPerRoute, sim.BytesString(heapLimit)))
	}
	// The collector works harder near the limit instead of letting the
	// heap double past it.
	debug.SetMemoryLimit(int64(min(heapLimit, 1<<62)))
	rep, err := s.Run(steps)
	if err != nil {
		fmt.Fprintf(stderr, "clos sim: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "clos sim: %v\n", err)
			return 1
		}
	} else if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "clos sim: %v\n", err)
		return 1
	}
	for _, e := range rep.Events {
		if !e.Settled || e.BlackholesAfter > 0 || e.ECMPViolationsAfter > 0 {
			return 1
		}
	}
	return 0
}

// simParse accepts flags before and after the FABRIC.yaml argument.
func simParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
