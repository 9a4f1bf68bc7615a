package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/closnet/clos/internal/lab"
	"github.com/closnet/clos/internal/plan"
)

const labRestartUsage = `  restart [--name NAME] [--timeout 10s] [--wait 60s] [--json] NODE
        restart a node's routing daemon as systemctl restart does: SIGTERM,
        SIGKILL if it has not exited within --timeout (reported), then the
        same command line, environment, namespace and log file; an FRR node
        restarts bgpd as FRR's frrinit.sh does (SIGINT, then its frr.conf
        applied with vtysh -d bgpd). Waits
        up to --wait for the node's sessions (0s: do not wait). Measurable:
        flows crossing the node, nothing to undo
        e.g. clos lab restart leaf1; clos lab measure --json -- restart leaf1`

func init() {
	labVerbs["restart"] = labVerb{run: labRestart, action: restartAction, usage: labRestartUsage}
}

// restartFlags are restart's bounds; a --wait of 0 means do not wait.
func restartFlags(fs *flag.FlagSet) func() (lab.RestartOptions, error) {
	stop := fs.Duration("timeout", lab.DefaultRestartStop, "how long the daemon has to exit after SIGTERM (bgpd: SIGINT) before SIGKILL")
	wait := fs.Duration("wait", lab.DefaultRestartWait, "how long to wait for the node's sessions to be established again (0s: do not wait)")
	return func() (lab.RestartOptions, error) {
		if *stop < time.Second {
			return lab.RestartOptions{}, &lab.InputError{Msg: fmt.Sprintf("--timeout %s: want a duration between 1s and 5m", *stop)}
		}
		if *wait < 0 {
			return lab.RestartOptions{}, &lab.InputError{Msg: fmt.Sprintf("--wait %s: want 0s (do not wait) to 10m", *wait)}
		}
		o := lab.RestartOptions{Stop: *stop, Wait: *wait}
		if *wait == 0 {
			o.Wait = -1
		}
		return o, o.Validate()
	}
}

func oneNode(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", &lab.InputError{Msg: fmt.Sprintf("want one NODE, got %d arguments, e.g. clos lab restart leaf1", len(pos))}
	}
	return pos[0], nil
}

func labRestart(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, name := labFlags("restart", stderr)
	opts := restartFlags(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	node, err := oneNode(pos)
	if err != nil {
		return err
	}
	o, err := opts()
	if err != nil {
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
	r, err := lab.Restart(ctx, s, f, node, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "lab %s: %s\n", s.Name, r)
	return nil
}

func restartAction(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error) {
	fs := flag.NewFlagSet("clos lab measure -- restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := restartFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	node, err := oneNode(pos)
	if err != nil {
		return nil, err
	}
	o, err := opts()
	if err != nil {
		return nil, err
	}
	return lab.RestartAction(s, f, node, o)
}
