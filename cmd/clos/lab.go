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
        works on half-made labs and labs whose processes died
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
  fail [--name NAME] [--silent] LINK|NODE
        LINK is NODE:IFACE by either end: both ends go down (carrier loss);
        --silent keeps the link up and drops everything arriving on both
        ends with nft. NODE: kill the switch's routing daemon (crash)
        e.g. clos lab fail leaf1:swp1; clos lab fail --silent spine3:swp2; clos lab fail spine4
  restore [--name NAME] LINK|NODE
        undo a fail: link up / nft table removed / daemon restarted
        e.g. clos lab restore leaf1:swp1

  measure [--name NAME] [--flows 8] [--rate 200] [--duration 3s] [--json] -- fail [--silent] LINK|NODE
        UDP probe flows between two servers on different leaves; after 1 s
        the failure is applied, held for --duration, restored, and probed
        for --duration more. Reports the longest and median per-flow
        data-plane gap (ms), lost packets, flows hit, and the time from the
        failure until the last flow recovered (reconverged_s)
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
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	verb, rest := args[0], args[1:]
	var err error
	switch verb {
	case "up":
		err = labUp(ctx, rest, stdout, stderr)
	case "down":
		err = labDown(ctx, rest, stdout, stderr)
	case "status":
		err = labStatus(ctx, rest, stdout, stderr)
	case "exec":
		return labExec(rest, stdout, stderr)
	case "check":
		err = labCheck(ctx, rest, stdout, stderr)
	case "fail", "restore":
		err = labFail(ctx, verb, rest, stdout, stderr)
	case "measure":
		err = labMeasure(ctx, rest, stdout, stderr)
	case "graph":
		err = labGraph(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "clos lab: unknown verb %q; valid verbs: up, down, status, exec, check, fail, restore, measure, graph (clos lab --help)\n", verb)
		return 2
	}
	return labExit(verb, err, stderr)
}

// errUsage marks a flag error the flag package already printed.
var errUsage = errors.New("usage")

func labExit(verb string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
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
	all := fs.Bool("all", false, "take down every lab with state under the lab dir")
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
		if names, err = lab.List(base); err != nil {
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

func labFail(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags(verb, stderr)
	var silent *bool
	if verb == "fail" {
		silent = fs.Bool("silent", false, "keep the link up and drop its traffic both ways with nft")
	}
	s, f, pos, err := openLab(fs, name, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &lab.InputError{Msg: fmt.Sprintf("want one LINK (NODE:IFACE) or NODE, e.g. clos lab %s leaf1:swp1", verb)}
	}
	if verb == "fail" {
		err = lab.Fail(ctx, s, f, pos[0], *silent)
	} else {
		err = lab.Restore(ctx, s, f, pos[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s: %s %s\n", s.Name, map[string]string{"fail": "failed", "restore": "restored"}[verb], pos[0])
	return nil
}

func labMeasure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("measure", stderr)
	var o lab.MeasureOptions
	fs.IntVar(&o.Flows, "flows", 8, "UDP flows, each from its own source port (1-64)")
	fs.IntVar(&o.Rate, "rate", 200, "packets per second per flow (1-1000); the gap resolution is 1/rate")
	fs.DurationVar(&o.Duration, "duration", 3*time.Second, "how long the failure is held, and how long probing goes on after restore (500ms-60s)")
	js := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	verb := fs.Args()
	if len(verb) > 0 && verb[0] == "--" {
		verb = verb[1:]
	}
	if len(verb) == 0 || verb[0] != "fail" {
		return &lab.InputError{Msg: "want -- fail [--silent] LINK|NODE after the flags, e.g. clos lab measure -- fail leaf1:swp1"}
	}
	ffs := flag.NewFlagSet("clos lab measure -- fail", flag.ContinueOnError)
	ffs.SetOutput(stderr)
	silent := ffs.Bool("silent", false, "keep the link up and drop its traffic both ways with nft")
	pos, err := parse(ffs, verb[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &lab.InputError{Msg: "want one LINK (NODE:IFACE) or NODE to fail, e.g. clos lab measure -- fail leaf1:swp1"}
	}
	o.Target, o.Silent = pos[0], *silent
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
	out := stdout
	if *js {
		out = io.Discard
	}
	m, err := lab.Measure(ctx, s, f, o, out)
	if err != nil {
		return err
	}
	if *js {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(m)
	}
	fmt.Fprintf(stdout, "failure %s (%s): %d of %d flows hit, max gap %.1f ms, p50 gap %.1f ms, %d of %d packets lost, reconverged after %.3f s",
		m.Target, m.Mode, m.FlowsHit, m.Flows, m.MaxGapMS, m.P50GapMS, m.Lost, m.Sent, m.ReconvergedS)
	if m.Unrecovered > 0 {
		fmt.Fprintf(stdout, " (%d flows never recovered before restore)", m.Unrecovered)
	}
	fmt.Fprintf(stdout, "\nrestore: max gap %.1f ms, %d packets lost\n", m.RestoreGapMS, m.RestoreLost)
	fmt.Fprintf(stdout, "resolution: the sender paused up to %.1f ms beyond its interval on this box\n", m.SenderStallMS)
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
