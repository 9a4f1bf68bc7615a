package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/closnet/clos/internal/lab"
	"github.com/closnet/clos/internal/plan"
)

func init() {
	register("lab", command{summary: "run a planned fabric in network namespaces: up, status, check, fail, restore, exec, down", run: runLab})
}

const labUsage = `usage: clos lab VERB [FLAGS] [ARGS]

Runs a fabric planned by clos plan on this box: a network namespace per
switch and server, a veth per cable, FRR or closd on every switch. Needs root,
iproute2, and FRR (zebra, bgpd, bfdd, vtysh) for --kind frr. Lab state lives
in /run/clos/labs/NAME ($CLOS_LAB_DIR overrides). --name may be left out when
exactly one lab is up.

verbs:
  up FABRIC.yaml [--name NAME] [--kind frr|closd] [--node-kind NODE=KIND ...] [--wait 60s]
        build the lab and wait until every BGP session is established
        e.g. clos plan --preset seed-003 -o lab && clos lab up lab/fabric.yaml
  down [--name NAME] | --all
        kill the daemons, delete namespaces, veths, nft tables and state;
        works on half-made labs and labs whose processes died; --all finds
        this lab dir's labs by their state and, without it, by the marker
        on their namespaces and veths
        e.g. clos lab down --name seed-003
  status [--name NAME] [--json]
        nodes, links, BGP sessions per neighbor, kernel routes per switch
        e.g. clos lab status --json
  exec [--name NAME] NODE -- CMD [ARGS...]
        run a command in a node's namespace
        e.g. clos lab exec server1 -- ping -c 1 10.2.1.2
  check [--name NAME] [--json]
        every server pings every other; UDP flows between two servers on
        different leaves must use every uplink of the source leaf that is
        not failed; exit 0 only if all holds
        e.g. clos lab check
  fail [--name NAME] [--silent] [--isolate] LINK|NODE
        LINK is NODE:IFACE by either end: both ends go down (carrier loss);
        --silent keeps the link up and drops everything arriving on both
        ends with nft. NODE: kill the switch's routing daemon (crash);
        --isolate NODE: every link of the node goes down, its daemon runs
        on (--isolate --silent: every link drops silently)
        e.g. clos lab fail leaf1:swp1; clos lab fail --silent spine3:swp2; clos lab fail spine4
  restore [--name NAME] LINK|NODE
        undo a fail: link up / nft table removed / daemon restarted
        e.g. clos lab restore leaf1:swp1

  measure [--name NAME] [--flows N] [--rate PPS] [--duration 3s] [--json] -- VERB ARGS
        UDP probe flows (by default between every ordered pair of servers,
        two per pair); after 1 s the verb is applied, held for --duration,
        undone, and probed for --duration more. Reports the longest and
        median per-flow data-plane gap (ms), lost packets, flows hit, and
        the time from the change until the last flow recovered
        (reconverged_s). Measurable verbs: fail, restore (and those other
        features add; the verb may pick its own flows)
        e.g. clos lab measure -- fail leaf1:swp1; clos lab measure --json -- fail --silent spine3:swp1

  graph [--name NAME] [--dot]
        the fabric by tier and every link with its state; --dot for Graphviz
        e.g. clos lab graph --dot | dot -Tsvg > lab.svg

Exit status: 0 success, 1 the operation failed, 2 bad input.
`

func runLab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, labUsage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, labUsage)
		for _, n := range labVerbNames() {
			if u := labVerbs[n].usage; u != "" {
				fmt.Fprintf(stdout, "\n%s\n", strings.TrimRight(u, "\n"))
			}
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	name, v, rest, ok := findLabVerb(args)
	if !ok {
		fmt.Fprintf(stderr, "clos lab: unknown verb %q; valid verbs: %s (clos lab --help)\n", args[0], strings.Join(labVerbNames(), ", "))
		return 2
	}
	return labExit(name, v.run(ctx, rest, stdout, stderr), stderr)
}

// labVerb is one clos lab verb. A feature adding a verb registers it from an
// init func in its own file (labVerbs["move"] = labVerb{...}); a two-word
// verb such as "fail service" is keyed with its space and wins over "fail".
type labVerb struct {
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// action builds the verb, from the arguments after it, as an action
	// clos lab measure can time (see lab.Action); nil if it cannot be.
	action func(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error)
	// usage is shown by clos lab --help for verbs not in labUsage.
	usage string
}

var labVerbs = map[string]labVerb{
	"up":      {run: labUp},
	"down":    {run: labDown},
	"status":  {run: labStatus},
	"exec":    {run: labExecVerb},
	"check":   {run: labCheck},
	"fail":    {run: labFailVerb, action: failAction},
	"restore": {run: labRestoreVerb, action: restoreAction},
	"graph":   {run: labGraph},
}

// measure looks verbs up in labVerbs, so it joins the table at init.
func init() { labVerbs["measure"] = labVerb{run: labMeasure} }

// findLabVerb picks the verb args start with, two-word verbs first.
func findLabVerb(args []string) (string, labVerb, []string, bool) {
	if len(args) > 1 {
		if v, ok := labVerbs[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1], v, args[2:], true
		}
	}
	v, ok := labVerbs[args[0]]
	return args[0], v, args[1:], ok
}

func labVerbNames() []string {
	ns := make([]string, 0, len(labVerbs))
	for n := range labVerbs {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// exitCode is an exit status a verb already explained (exec passes on its
// command's).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// errUsage marks a flag error the flag package already printed.
var errUsage = errors.New("usage")

func labExit(verb string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "clos lab %s: %v\n", verb, err)
	var ie *lab.InputError
	if errors.As(err, &ie) {
		return 2
	}
	return 1
}

type kindFlags map[string]string

func (k kindFlags) String() string { return "" }
func (k kindFlags) Set(v string) error {
	n, kind, ok := strings.Cut(v, "=")
	if !ok || n == "" {
		return fmt.Errorf("want NODE=KIND, e.g. leaf1=closd")
	}
	k[n] = kind
	return nil
}

func labFlags(verb string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("clos lab "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "lab name (default: the only lab up; for up, the fabric's name)")
	return fs, name
}

// parse accepts flags before and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
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

func labUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("up", stderr)
	kind := fs.String("kind", "frr", "routing daemon on every switch: frr or closd")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for every BGP session")
	nk := kindFlags{}
	fs.Var(nk, "node-kind", "NODE=KIND overrides --kind for one switch (repeatable), e.g. --node-kind leaf1=closd")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &lab.InputError{Msg: fmt.Sprintf("want one FABRIC.yaml argument (written by clos plan -o DIR), got %d: e.g. clos lab up lab/fabric.yaml", len(pos))}
	}
	if *wait <= 0 || *wait > 10*time.Minute {
		return &lab.InputError{Msg: fmt.Sprintf("--wait %s: want a duration between 1s and 10m", *wait)}
	}
	s, err := lab.Up(ctx, pos[0], lab.Options{Name: *name, Kind: *kind, NodeKinds: nk, Base: lab.BaseDir(), Wait: *wait, Out: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s is up; try: clos lab status --name %s; clos lab check --name %s\n", s.Name, s.Name, s.Name)
	return nil
}

func labDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("down", stderr)
	all := fs.Bool("all", false, "take down every lab of this lab dir: those with state, and those whose namespaces or veths name it")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &lab.InputError{Msg: fmt.Sprintf("unexpected argument %q; use --name NAME or --all", pos[0])}
	}
	base := lab.BaseDir()
	var names []string
	switch {
	case *all && *name != "":
		return &lab.InputError{Msg: "give --name or --all, not both"}
	case *all:
		if names, err = lab.Found(ctx, base); err != nil {
			return err
		}
	default:
		// down needs no state: a name alone finds leftovers by its prefix.
		n, err := lab.Resolve(base, *name)
		if err != nil {
			return err
		}
		names = []string{n}
	}
	var errs []error
	for _, n := range names {
		if err := lab.Down(ctx, base, n); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "lab %s is down (prefix %s)\n", n, lab.Prefix(n))
	}
	if *all && len(names) == 0 {
		fmt.Fprintf(stdout, "no lab is up under %s\n", base)
	}
	return errors.Join(errs...)
}

// openLab parses the verb's flags and loads the running lab with its fabric.
// Verbs that take no positional arguments pass noArgs, so a stray one is
// refused before anything is read.
func openLab(fs *flag.FlagSet, name *string, args []string, noArgs bool) (*lab.State, *plan.Fabric, []string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if noArgs && len(pos) > 0 {
		return nil, nil, nil, &lab.InputError{Msg: fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	n, err := lab.Resolve(lab.BaseDir(), *name)
	if err != nil {
		return nil, nil, nil, err
	}
	s, f, err := lab.Open(lab.BaseDir(), n)
	return s, f, pos, err
}

func labStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("status", stderr)
	js := fs.Bool("json", false, "print JSON")
	s, f, _, err := openLab(fs, name, args, true)
	if err != nil {
		return err
	}
	st, err := lab.GetStatus(ctx, s, f)
	if err != nil {
		return err
	}
	if *js {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(st)
	}
	st.Print(stdout)
	return nil
}

func labExecVerb(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if c := labExec(args, stdout, stderr); c != 0 {
		return exitCode(c)
	}
	return nil
}

func labExec(args []string, stdout, stderr io.Writer) int {
	fs, name := labFlags("exec", stderr)
	// Flags end at NODE: everything after belongs to the command.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	pos := fs.Args()
	if len(pos) > 1 && pos[1] == "--" {
		pos = append(pos[:1:1], pos[2:]...)
	}
	n0, err := lab.Resolve(lab.BaseDir(), *name)
	if err != nil {
		return labExit("exec", err, stderr)
	}
	s, err := lab.Load(lab.BaseDir(), n0)
	if err != nil {
		return labExit("exec", err, stderr)
	}
	if len(pos) < 2 {
		return labExit("exec", &lab.InputError{Msg: "want NODE -- CMD [ARGS...], e.g. clos lab exec server1 -- ip addr"}, stderr)
	}
	n, ok := s.Node(pos[0])
	if !ok {
		return labExit("exec", &lab.InputError{Msg: fmt.Sprintf("no node %q in lab %s", pos[0], s.Name)}, stderr)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Netns}, pos[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		return labExit("exec", err, stderr)
	}
	return 0
}

func labCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("check", stderr)
	js := fs.Bool("json", false, "print the result as JSON")
	s, f, _, err := openLab(fs, name, args, true)
	if err != nil {
		return err
	}
	out := stdout
	if *js {
		out = io.Discard
	}
	r, err := lab.Check(ctx, s, f, out)
	if err != nil {
		return err
	}
	if *js {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		if err := e.Encode(r); err != nil {
			return err
		}
	}
	if !r.OK() {
		return fmt.Errorf("%d problem(s):\n  %s", len(r.Missing), strings.Join(r.Missing, "\n  "))
	}
	if !*js {
		fmt.Fprintln(stdout, "check: ok")
	}
	return nil
}

// failFlags parses fail's arguments: [--silent] [--isolate] LINK|NODE.
func failFlags(verb string, fs *flag.FlagSet) *lab.FailOptions {
	var o lab.FailOptions
	if verb == "fail" {
		fs.BoolVar(&o.Silent, "silent", false, "keep the link up and drop its traffic both ways with nft")
		fs.BoolVar(&o.Isolate, "isolate", false, "NODE: cut every link of the node (with --silent: drop on every link) instead of killing its daemon")
	}
	return &o
}

func oneTarget(verb string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", &lab.InputError{Msg: fmt.Sprintf("want one LINK (NODE:IFACE) or NODE, e.g. clos lab %s leaf1:swp1", verb)}
	}
	return pos[0], nil
}

func labFailVerb(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return labFail(ctx, "fail", args, stdout, stderr)
}

func labRestoreVerb(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return labFail(ctx, "restore", args, stdout, stderr)
}

func labFail(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags(verb, stderr)
	o := failFlags(verb, fs)
	s, f, pos, err := openLab(fs, name, args, false)
	if err != nil {
		return err
	}
	what, err := oneTarget(verb, pos)
	if err != nil {
		return err
	}
	if verb == "fail" {
		err = lab.FailWith(ctx, s, f, what, *o)
	} else {
		err = lab.Restore(ctx, s, f, what)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s: %s %s\n", s.Name, map[string]string{"fail": "failed", "restore": "restored"}[verb], what)
	return nil
}

func failAction(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error) {
	fs := flag.NewFlagSet("clos lab measure -- fail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := failFlags("fail", fs)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	what, err := oneTarget("fail", pos)
	if err != nil {
		return nil, err
	}
	return lab.FailAction(s, f, what, *o)
}

func restoreAction(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error) {
	fs := flag.NewFlagSet("clos lab measure -- restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	what, err := oneTarget("restore", pos)
	if err != nil {
		return nil, err
	}
	return lab.RestoreAction(s, f, what)
}

func labMeasure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("measure", stderr)
	var o lab.MeasureOptions
	fs.IntVar(&o.Flows, "flows", 0, "UDP flows, each from its own source port, spread over the server pairs (default two per pair, 8-256)")
	fs.IntVar(&o.Rate, "rate", 0, "packets per second per flow (1-1000; default 200, less when many flows); the gap resolution is 1/rate")
	fs.DurationVar(&o.Duration, "duration", 3*time.Second, "how long the change is held, and how long probing goes on after it is undone (500ms-60s)")
	js := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	var measurable []string
	for _, n := range labVerbNames() {
		if labVerbs[n].action != nil {
			measurable = append(measurable, n)
		}
	}
	if len(rest) == 0 {
		return &lab.InputError{Msg: fmt.Sprintf("want -- VERB ARGS after the flags (one of: %s), e.g. clos lab measure -- fail leaf1:swp1", strings.Join(measurable, ", "))}
	}
	vname, v, vargs, ok := findLabVerb(rest)
	if !ok || v.action == nil {
		return &lab.InputError{Msg: fmt.Sprintf("%q cannot be measured; measurable verbs: %s", rest[0], strings.Join(measurable, ", "))}
	}
	if err := o.Validate(); err != nil {
		return err
	}
	n, err := lab.Resolve(lab.BaseDir(), *name)
	if err != nil {
		return err
	}
	s, f, err := lab.Open(lab.BaseDir(), n)
	if err != nil {
		return err
	}
	a, err := v.action(s, f, vargs, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", vname, err)
	}
	out := stdout
	if *js {
		out = io.Discard
	}
	m, err := lab.Measure(ctx, s, f, a, o, out)
	if err != nil {
		return err
	}
	if *js {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(m)
	}
	m.Print(stdout)
	return nil
}

func labGraph(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("graph", stderr)
	dot := fs.Bool("dot", false, "print a Graphviz graph")
	s, f, _, err := openLab(fs, name, args, true)
	if err != nil {
		return err
	}
	st, err := lab.GetStatus(ctx, s, f)
	if err != nil {
		return err
	}
	if *dot {
		lab.Dot(stdout, st, f)
	} else {
		lab.Graph(stdout, st, f)
	}
	return nil
}
