package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/closnet/clos/internal/lab"
	"github.com/closnet/clos/internal/plan"
)

// Lab verbs of routing on the host (hosts: bgp, issue 12).
func init() {
	labVerbs["fail service"] = labVerb{run: labServiceVerb("fail service"), action: serviceAction, usage: `  fail service [--name NAME] SERVER:SERVICE
        a bgp host's service dies: the lab stops what its check probes and
        drops traffic to its addresses on that server; closd withdraws it
        after fall x interval
        e.g. clos lab fail service server1:dns; clos lab measure --json -- fail service server1:dns`}
	labVerbs["restore service"] = labVerb{run: labServiceVerb("restore service"), usage: `  restore service [--name NAME] SERVER:SERVICE
        bring a failed service back; closd announces it after rise passes
        e.g. clos lab restore service server1:dns`}
	labVerbs["drain"] = labVerb{run: labServiceVerb("drain"), action: drainAction, usage: `  drain [--name NAME] SERVER[:SERVICE]
        ask the server's closd to drain (clos drain --node SERVER): the
        service is announced with GRACEFUL_SHUTDOWN, then withdrawn
        e.g. clos lab measure --duration 7s -- drain server1:dns`}
	labVerbs["undrain"] = labVerb{run: labServiceVerb("undrain"), usage: `  undrain [--name NAME] SERVER[:SERVICE]
        reverse drain`}
	labVerbs["serve-target"] = labVerb{run: labServeTarget, usage: `  serve-target tcp|http ADDR
        (run by the lab inside a server's namespace) what a service's
        check probes: a TCP listener, or an HTTP server answering 200`}
}

func labServiceVerb(verb string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, name := labFlags(verb, stderr)
		s, f, pos, err := openLab(fs, name, args, false)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &lab.InputError{Msg: fmt.Sprintf("want one SERVER:SERVICE, e.g. clos lab %s server1:dns", verb)}
		}
		what := pos[0]
		switch verb {
		case "fail service":
			err = lab.FailService(ctx, s, f, what)
		case "restore service":
			err = lab.RestoreService(ctx, s, f, what)
		case "drain", "undrain":
			server, service, _ := strings.Cut(what, ":")
			err = lab.Drain(ctx, s, server, service, verb == "drain")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab %s: %s %s\n", s.Name, verb, what)
		return nil
	}
}

func serviceAction(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error) {
	what, err := oneArg("fail service", "SERVER:SERVICE", args, stderr)
	if err != nil {
		return nil, err
	}
	return lab.ServiceAction(s, f, what)
}

func drainAction(s *lab.State, f *plan.Fabric, args []string, stderr io.Writer) (*lab.Action, error) {
	what, err := oneArg("drain", "SERVER[:SERVICE]", args, stderr)
	if err != nil {
		return nil, err
	}
	return lab.DrainAction(s, f, what)
}

func oneArg(verb, want string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet("clos lab measure -- "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", &lab.InputError{Msg: fmt.Sprintf("want one %s, e.g. clos lab measure -- %s server1:dns", want, verb)}
	}
	return pos[0], nil
}

func labServeTarget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		return &lab.InputError{Msg: "want KIND ADDR, e.g. serve-target tcp 127.0.0.1:53"}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return lab.ServeTarget(ctx, args[0], args[1])
}
