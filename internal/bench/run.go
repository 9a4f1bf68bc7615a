package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// errNoRoot is returned when the benchmark cannot create namespaces.
var errNoRoot = errors.New("clos bench needs root: it runs every daemon in network namespaces of its own")

// Run benchmarks every daemon of o, in turn, Runs times (interleaved: run
// 1 of every daemon, then run 2...), and returns the report. A daemon
// that is not installed is skipped, one that fails a run is reported
// failed with the reason, and the others still run. Run tears down every
// namespace and process it made, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, &InputError{err.Error()}
	}
	if os.Geteuid() != 0 {
		return nil, errNoRoot
	}
	if err := checkPlatform(); err != nil {
		return nil, err
	}
	r := newReport(&o)
	needClosd := false
	for _, d := range o.Daemons {
		needClosd = needClosd || d == Closd
	}
	var closdErr error
	if needClosd {
		o.Closd, closdErr = FindClosd(o.Closd)
	}
	for i := range r.Daemons {
		d := &r.Daemons[i]
		if d.Daemon == Closd && closdErr != nil {
			d.Status, d.Reason = StatusSkipped, fmt.Sprintf("%v; %s", closdErr, daemons[Closd].pkg)
			continue
		}
		if b := missingBinary(d.Daemon, &o); b != "" {
			d.Status, d.Reason = StatusSkipped, fmt.Sprintf("%s is not installed; %s", b, daemons[d.Daemon].pkg)
			continue
		}
		d.Version = version(ctx, d.Daemon, &o)
		d.FIB = o.FIB && daemons[d.Daemon].canFIB
	}
	for run := 1; run <= o.Runs; run++ {
		for i := range r.Daemons {
			d := &r.Daemons[i]
			if d.Status != StatusOK {
				continue
			}
			if err := ctx.Err(); err != nil {
				return r, interrupted(err)
			}
			fmt.Fprintf(o.Out, "bench: %s run %d/%d: %d prefixes\n", d.Daemon, run, o.Runs, o.Prefixes)
			m, fib, err := runOne(ctx, d.Daemon, &o)
			if err != nil {
				if ctx.Err() != nil {
					return r, interrupted(ctx.Err())
				}
				d.Status, d.Reason = StatusFailed, fmt.Sprintf("run %d: %v", run, err)
				fmt.Fprintf(o.Out, "bench: %s failed: %v\n", d.Daemon, err)
				continue
			}
			d.FIB = fib
			d.Runs = append(d.Runs, m)
			fmt.Fprintf(o.Out, "bench: %s: load %.2f s (%.0f prefixes/s), withdraw %.2f s, PSS %.1f MiB, CPU %.2f s\n",
				d.Daemon, m.LoadS, m.PrefixesPerS, m.WithdrawS, m.PssMiB, m.CPUS)
		}
	}
	r.Finish()
	return r, nil
}

func interrupted(err error) error {
	return fmt.Errorf("interrupted (%w); the run's daemons, namespaces and files are removed", err)
}

// InputError is a bad option: the CLI exits 2 for it.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }
