package bench

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/closnet/clos/internal/lab"
)

// Options of Run.
type Options struct {
	// Daemons to benchmark, in order; default DefaultDaemons.
	Daemons []string
	// Prefixes the feeder announces; default 100,000.
	Prefixes int
	// Runs of each daemon; the report gives the median and the spread.
	Runs int
	// ECMP adds a second feeder announcing the same prefixes, so the DUT
	// holds two equal paths for each.
	ECMP bool
	// FIB lets the daemons that can program the kernel do so.
	FIB bool
	// PerUpdate caps the prefixes per UPDATE; 0 packs as many as fit.
	PerUpdate int
	// Closd is the closd binary; default the one next to this executable,
	// then PATH.
	Closd string
	// Timeout bounds each phase (sessions up, load, withdraw) of each
	// run; default 60 s plus 1 s per 2,000 prefixes.
	Timeout time.Duration
	// Out receives progress lines; nil discards them.
	Out io.Writer
}

// DefaultPrefixes is the table size of a run without --prefixes.
const DefaultPrefixes = 100_000

// Check validates o as Run would, filling in the defaults.
func (o *Options) Check() error { return o.defaults() }

func (o *Options) defaults() error {
	if len(o.Daemons) == 0 {
		o.Daemons = DefaultDaemons
	}
	for _, d := range o.Daemons {
		if _, ok := daemons[d]; !ok {
			return fmt.Errorf("unknown daemon %q; valid: %s", d, strings.Join(DefaultDaemons, ", "))
		}
	}
	if o.Prefixes == 0 {
		o.Prefixes = DefaultPrefixes
	}
	if _, err := NewPrefixes(o.Prefixes); err != nil {
		return fmt.Errorf("--prefixes: %v", err)
	}
	if o.Runs == 0 {
		o.Runs = 1
	}
	if o.Runs < 1 || o.Runs > 100 {
		return fmt.Errorf("--runs %d: want 1..100", o.Runs)
	}
	if o.PerUpdate < 0 {
		return fmt.Errorf("--per-update %d: want 0 (as many as fit) or more", o.PerUpdate)
	}
	if o.Timeout == 0 {
		o.Timeout = 60*time.Second + time.Duration(o.Prefixes/2000)*time.Second
	}
	if o.Timeout < 0 {
		return fmt.Errorf("--timeout %v: want a positive duration", o.Timeout)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return nil
}

// FindClosd is the closd binary clos bench runs (lab.FindClosd), the
// flag named when the given one is missing.
func FindClosd(given string) (string, error) {
	p, err := lab.FindClosd(given)
	if err != nil && given != "" {
		return "", fmt.Errorf("--closd %s: %w", given, err)
	}
	return p, err
}

// missingBinary names the first binary of d that is not installed.
func missingBinary(d string, o *Options) string {
	for _, b := range daemons[d].binaries(o) {
		if b == "" {
			return d
		}
		if _, err := exec.LookPath(b); err != nil {
			return b
		}
	}
	return ""
}

// version asks daemon d its version.
func version(ctx context.Context, d string, o *Options) string {
	bin := daemons[d].binaries(o)[0]
	if d == Closd {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return "unknown"
		}
		v := strings.Trim(bi.Main.Version, "()")
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "-" + s.Value[:12]
			}
		}
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	return parseVersion(string(out))
}

// parseVersion finds the word after "version" in a daemon's --version
// output ("bgpd version 8.4.4", "BIRD version 2.0.12").
func parseVersion(out string) string {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if strings.EqualFold(f[i], "version") {
			return f[i+1]
		}
	}
	return "unknown"
}

// newReport is the report of o before any run.
func newReport(o *Options) *Report {
	r := &Report{Prefixes: o.Prefixes, Runs: o.Runs, ECMP: o.ECMP, FIB: o.FIB, Baseline: Closd, CPUs: runtime.NumCPU()}
	for _, d := range o.Daemons {
		r.Daemons = append(r.Daemons, DaemonResult{Daemon: d, Status: StatusOK})
	}
	return r
}
