package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/closnet/clos/internal/bench"
)

func init() {
	register("bench", command{summary: "benchmark closd against FRR, BIRD and GoBGP on this machine", run: runBench})
}

const benchUsage = `usage: clos bench [--daemons closd,frr,bird,gobgp] [--prefixes N] [--runs K] [--ecmp] [--fib]
                  [--per-update N] [--closd PATH] [--timeout D] [--json]

Runs each daemon in turn in network namespaces of its own, with a feeder
and a sink (BGP speakers inside clos bench) peering over eBGP: the feeder
announces N IPv4 prefixes, then withdraws them. Measures the time until the
sink has every prefix (and prefixes/s), the time until it has none, the
daemon's memory (PSS, table loaded) and CPU time, and prints each against
closd's from the same run. The sink checks every route's AS path and next
hop. Daemons not installed are skipped, with the package to install.
Needs root and iproute2; see docs/bench.md.

Exit status: 0 every daemon ran, 1 a daemon failed or the run could not
start, 2 bad flags.

flags:
`

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clos bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	daemons := fs.String("daemons", "closd,frr,bird,gobgp", "daemons to benchmark, comma-separated: closd, frr, bird, gobgp")
	prefixes := fs.Int("prefixes", bench.DefaultPrefixes, fmt.Sprintf("IPv4 prefixes the feeder announces (1..%d)", bench.MaxPrefixes))
	runs := fs.Int("runs", 1, "runs of each daemon (1..100); the table shows the median and the spread")
	ecmp := fs.Bool("ecmp", false, "a second feeder announces the same prefixes: the daemon holds 2 equal paths per prefix")
	fib := fs.Bool("fib", false, "let closd, FRR (zebra) and BIRD (kernel protocol) install the routes in the kernel")
	perUpdate := fs.Int("per-update", 0, "at most this many prefixes per UPDATE (0: as many as fit in 4096 octets)")
	closd := fs.String("closd", "", "the closd binary (default: next to clos, then PATH)")
	timeout := fs.Duration("timeout", 0, "bound on each phase of a run (default 60s plus 1s per 2,000 prefixes)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout) // asked for: not an error
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "clos bench: unexpected argument %q (clos bench --help)\n", fs.Arg(0))
		return 2
	}
	// The options treat 0 as "the default"; on the command line it is a mistake.
	if *prefixes < 1 {
		fmt.Fprintf(stderr, "clos bench: --prefixes %d: want 1..%d\n", *prefixes, bench.MaxPrefixes)
		return 2
	}
	if *runs < 1 {
		fmt.Fprintf(stderr, "clos bench: --runs %d: want 1..100\n", *runs)
		return 2
	}
	if *closd != "" {
		if _, err := bench.FindClosd(*closd); err != nil {
			fmt.Fprintf(stderr, "clos bench: %v\n", err)
			return 2
		}
	}
	ds, err := bench.ParseDaemons(*daemons)
	if err != nil {
		fmt.Fprintf(stderr, "clos bench: %v\n", err)
		return 2
	}
	o := bench.Options{
		Daemons: ds, Prefixes: *prefixes, Runs: *runs, ECMP: *ecmp, FIB: *fib,
		PerUpdate: *perUpdate, Closd: *closd, Timeout: *timeout, Out: stderr,
	}
	if err := o.Check(); err != nil {
		fmt.Fprintf(stderr, "clos bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	r, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "clos bench: %v\n", err)
		var ie *bench.InputError
		if errors.As(err, &ie) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stderr, "bench: done in %.0f s\n", time.Since(start).Seconds())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "clos bench: %v\n", err)
			return 1
		}
	} else if err := r.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "clos bench: %v\n", err)
		return 1
	}
	for _, d := range r.Daemons {
		if d.Status == bench.StatusFailed {
			return 1
		}
	}
	return 0
}
