package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/plan"
)

// RestartOptions bound a restart.
type RestartOptions struct {
	// Stop is how long the daemon has to exit after its stop signal
	// (SIGTERM; SIGINT for bgpd) before it is killed with SIGKILL
	// (reported as Killed). 0: 10 s.
	Stop time.Duration
	// Wait bounds waiting, after the start, for every session of the node
	// to be established again. 0: 60 s; negative: do not wait.
	Wait time.Duration
}

// Default bounds of a restart.
const (
	DefaultRestartStop = 10 * time.Second
	DefaultRestartWait = 60 * time.Second
	// killWait is how long a SIGKILLed daemon may take to vanish.
	killWait = 3 * time.Second
	// startWait bounds waiting for a started daemon to answer (closd's
	// API, FRR's vty), so a config it refuses is reported, not waited on.
	startWait = 15 * time.Second
)

// Validate checks the bounds given; zero values take the defaults.
func (o RestartOptions) Validate() error {
	if o.Stop < 0 || o.Stop > 5*time.Minute {
		return inputf("--timeout %s: want a duration between 1s and 5m (how long the daemon has to exit after SIGTERM)", o.Stop)
	}
	if o.Wait > 10*time.Minute {
		return inputf("--wait %s: want at most 10m (0 waits 60s)", o.Wait)
	}
	return nil
}

func (o RestartOptions) filled() RestartOptions {
	if o.Stop == 0 {
		o.Stop = DefaultRestartStop
	}
	if o.Wait == 0 {
		o.Wait = DefaultRestartWait
	}
	return o
}

// RestartResult is what a restart did and how long each step took.
type RestartResult struct {
	Node   string `json:"node"`
	Kind   string `json:"kind"`   // closd, frr
	Daemon string `json:"daemon"` // the daemon restarted: closd, bgpd
	OldPid int    `json:"old_pid"`
	NewPid int    `json:"new_pid"`
	// Signal is what stopped it: SIGTERM for closd, as systemd sends;
	// SIGINT for bgpd, as FRR's frrinit.sh does (bgpd treats both alike).
	Signal string `json:"signal"`
	// Killed is set when the daemon was still running Stop after Signal
	// and was killed with SIGKILL: then it did not stop gracefully.
	Killed bool `json:"killed"`
	// StoppedMS is from Signal to the daemon's exit.
	StoppedMS float64 `json:"stopped_ms"`
	// StartedMS is from the exit until the new daemon answered: closd's
	// API, or for bgpd its config applied over vtysh.
	StartedMS float64 `json:"started_ms"`
	// Sessions counts the node's BGP session ends; EstablishedS is from
	// Signal until all were established again (null when not waited for).
	Sessions     int      `json:"sessions"`
	EstablishedS *float64 `json:"established_s"`
}

func (r *RestartResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "restarted %s's %s (pid %d -> %d): ", r.Node, r.Daemon, r.OldPid, r.NewPid)
	if r.Killed {
		fmt.Fprintf(&b, "still running %.0f ms after %s, killed with SIGKILL; ", r.StoppedMS, r.Signal)
	} else {
		fmt.Fprintf(&b, "exited %.0f ms after %s; ", r.StoppedMS, r.Signal)
	}
	fmt.Fprintf(&b, "answering %.0f ms after that", r.StartedMS)
	if r.EstablishedS != nil {
		plural := "s"
		if r.Sessions == 1 {
			plural = ""
		}
		fmt.Fprintf(&b, "; %d session%s established %.3f s after the %s", r.Sessions, plural, *r.EstablishedS, r.Signal)
	}
	return b.String()
}

// restartTarget checks that node runs a daemon restart can restart, and
// says which of its pids that is.
func restartTarget(s *State, node string) (*Node, int, error) {
	n, ok := s.Node(node)
	if !ok {
		return nil, 0, inputf("%q: no such node; nodes with a routing daemon: %s", node, strings.Join(daemonNodes(s), ", "))
	}
	if n.Kind == "" {
		return nil, 0, inputf("%q is a server and runs no routing daemon; nodes with one: %s", node, strings.Join(daemonNodes(s), ", "))
	}
	if i := failureOf(s, n.Name); i >= 0 && s.Failures[i].Mode == ModeNode {
		return nil, 0, inputf("%s is failed (its daemon was killed by fail %s): start it with clos lab restore %s", node, node, node)
	}
	switch n.Kind {
	case KindClosd:
		return n, 0, nil
	case KindFRR:
		// Only bgpd: it is what a routing restart is about (zebra and the
		// kernel routes it holds would go with it otherwise).
		for i, d := range frrDaemons {
			if d == "bgpd" {
				return n, i, nil
			}
		}
	}
	return nil, 0, inputf("%s runs %q: restart supports closd, and FRR's bgpd", node, n.Kind)
}

func daemonNodes(s *State) []string {
	var ns []string
	for _, n := range s.Nodes {
		if n.Kind != "" {
			ns = append(ns, n.Name)
		}
	}
	return ns
}

// Restart stops a node's routing daemon the way a service manager does
// (SIGTERM, or SIGINT for bgpd as FRR's tooling does; SIGKILL after
// o.Stop) and starts it again with the command
// line, environment and working directory it ran with, in its namespace,
// logging where it logged. closd restarts whole; an FRR node restarts
// bgpd, and its part of the node's frr.conf is applied to it again, as
// FRR's frrinit.sh does (vtysh -b -d bgpd). Then it waits (bounded by
// o.Wait) for the node's sessions to be established again.
func Restart(ctx context.Context, s *State, f *plan.Fabric, node string, o RestartOptions) (*RestartResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.filled()
	n, idx, err := restartTarget(s, node)
	if err != nil {
		return nil, err
	}
	if idx >= len(n.Pids) {
		return nil, fmt.Errorf("%s: the lab recorded no pid for its %s (pids %v); restart the lab", node, daemonName(n), n.Pids)
	}
	pid := n.Pids[idx]
	r := &RestartResult{Node: n.Name, Kind: n.Kind, Daemon: daemonName(n), OldPid: pid, Signal: "SIGTERM"}
	if n.Kind == KindFRR {
		r.Signal = "SIGINT" // frrcommon.sh's daemon_stop: kill -2
	}
	pc, err := readProc(pid)
	if err == nil {
		err = checkProc(n, pid, pc)
	}
	if err != nil {
		msg := fmt.Sprintf("%s's %s (pid %d) is not running: %v", n.Name, r.Daemon, pid, err)
		if n.Log != "" {
			msg += "; its log ends: " + tail(n.Log, 5)
		}
		return nil, errors.New(msg)
	}
	termAt := time.Now()
	killed, err := stopProc(pid, r.Signal, o.Stop)
	if err != nil {
		return nil, fmt.Errorf("stopping %s's %s: %w", n.Name, r.Daemon, err)
	}
	stopped := time.Now()
	r.Killed, r.StoppedMS = killed, ms(stopped.Sub(termAt))
	if n.Kind == KindClosd {
		r.NewPid, err = restartClosd(ctx, n, pc)
	} else {
		r.NewPid, err = restartBGPD(ctx, n, pc)
	}
	if r.NewPid > 0 {
		n.Pids[idx] = r.NewPid
		if serr := s.Save(); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil {
		return r, fmt.Errorf("restarting %s's %s: %w", n.Name, r.Daemon, err)
	}
	r.StartedMS = ms(time.Since(stopped))
	if o.Wait < 0 {
		return r, nil
	}
	r.Sessions, err = waitNodeSessions(ctx, s, f, n, o.Wait)
	if err != nil {
		return r, err
	}
	est := time.Since(termAt).Seconds()
	r.EstablishedS = &est
	return r, nil
}

func daemonName(n *Node) string {
	if n.Kind == KindFRR {
		return "bgpd"
	}
	return n.Kind
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procCmd is how a process was started, read from /proc before it stops.
type procCmd struct {
	Args []string
	Env  []string
	Dir  string
}

// checkProc makes sure pid is the node's daemon (not a reused pid) before
// it gets a signal.
func checkProc(n *Node, pid int, pc procCmd) error {
	if len(pc.Args) == 0 {
		return fmt.Errorf("pid %d has no command line (a zombie?)", pid)
	}
	if !inLab(pid, []string{n.Netns}) {
		return fmt.Errorf("pid %d (%s) is not in namespace %s", pid, pc.Args[0], n.Netns)
	}
	want := daemonName(n)
	if filepath.Base(pc.Args[0]) != want && !(n.Kind == KindClosd && contains(pc.Args, n.Config)) {
		return fmt.Errorf("pid %d runs %q, not %s", pid, strings.Join(pc.Args, " "), want)
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// restartClosd starts closd as it ran, then waits for its API socket.
func restartClosd(ctx context.Context, n *Node, pc procCmd) (int, error) {
	pid, exited, err := startProc(n, pc)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(startWait)
	c := api.NewClient(n.Socket)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, aerr := c.Summary(actx)
		cancel()
		if aerr == nil {
			return pid, nil
		}
		select {
		case werr := <-exited:
			return 0, fmt.Errorf("closd exited at start (%v): %s", werr, tail(n.Log, 5))
		case <-ctx.Done():
			return pid, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return pid, fmt.Errorf("closd (pid %d) runs but its API %s did not answer within %s: %v", pid, n.Socket, startWait, aerr)
		}
	}
}

// restartBGPD starts bgpd as it ran (it daemonizes and writes its pid
// file) and applies the node's frr.conf to it alone.
func restartBGPD(ctx context.Context, n *Node, pc procCmd) (int, error) {
	pidf := filepath.Join(n.RunDir, "bgpd.pid")
	_ = os.Remove(pidf)
	// bgpd -d forks and returns once daemonized: the process started here
	// is not the daemon.
	if _, err := nsRunEnv(ctx, n.Netns, pc, pc.Args...); err != nil {
		return 0, err
	}
	pid, err := readPid(pidf)
	if err != nil {
		return 0, fmt.Errorf("bgpd started but wrote no pid file %s: %v", pidf, err)
	}
	deadline := time.Now().Add(startWait)
	for {
		// -d bgpd: zebra and bfdd keep their config; only bgpd starts empty.
		_, err = nsRun(ctx, n.Netns, "vtysh", "-N", n.Netns, "-d", "bgpd", "-f", n.Config)
		if err == nil {
			return pid, nil
		}
		if !alive(pid) {
			return 0, fmt.Errorf("bgpd (pid %d) exited at start: %v", pid, err)
		}
		if time.Now().After(deadline) {
			return pid, fmt.Errorf("applying %s to bgpd: %w", n.Config, err)
		}
		select {
		case <-ctx.Done():
			return pid, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitNodeSessions waits until every session end of node n is
// established, and returns how many there are.
func waitNodeSessions(ctx context.Context, s *State, f *plan.Fabric, n *Node, bound time.Duration) (int, error) {
	deadline := time.Now().Add(bound)
	for {
		sess, err := Sessions(ctx, s, f)
		if err != nil {
			return 0, err
		}
		var mine int
		var down []string
		for _, x := range sess {
			if x.Node != n.Name || failedSession(s, f, x) {
				continue
			}
			mine++
			if x.State != "Established" {
				down = append(down, x.String())
			}
		}
		if len(down) == 0 {
			return mine, nil
		}
		if time.Now().After(deadline) {
			return mine, fmt.Errorf("%s restarted, but sessions not established within %s: %s", n.Name, bound, strings.Join(down, "; "))
		}
		select {
		case <-ctx.Done():
			return mine, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RestartAction is restart as a measured action: nothing to undo. Its
// flows are those the node forwards: for a leaf, between its servers and
// the servers of other leaves; for a bgp server, to and from it; for any
// other switch, every pair.
func RestartAction(s *State, f *plan.Fabric, node string, o RestartOptions) (*Action, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if _, _, err := restartTarget(s, node); err != nil {
		return nil, err
	}
	var res *RestartResult
	return &Action{
		Verb: "restart " + node, Target: node, Mode: "restart",
		Apply: func(ctx context.Context) error {
			r, err := Restart(ctx, s, f, node, o)
			res = r
			return err
		},
		Flows: func() ([]FlowEnds, error) { return restartFlows(f, node) },
		Report: func() map[string]any {
			if res == nil {
				return nil
			}
			m := map[string]any{"daemon": res.Daemon, "signal": res.Signal, "old_pid": res.OldPid, "new_pid": res.NewPid,
				"killed": res.Killed, "stopped_ms": res.StoppedMS, "started_ms": res.StartedMS}
			if res.EstablishedS != nil {
				m["established_s"] = *res.EstablishedS
			}
			return m
		},
	}, nil
}

// restartFlows picks the flows that cross node: for a server, its own;
// otherwise those between servers on different leaves, and for a leaf
// only those with an end on it.
func restartFlows(f *plan.Fabric, node string) ([]FlowEnds, error) {
	if serverByName(f, node) != nil {
		return PairsWith(f, node)
	}
	leafOf := map[string]string{}
	for _, h := range f.Servers {
		leafOf[h.Name] = h.Leaf
	}
	var across, here []FlowEnds
	for _, e := range AllPairs(f) {
		from, to := leafOf[e.From], leafOf[e.Receivers[0]]
		if from == to {
			continue
		}
		across = append(across, e)
		if from == node || to == node {
			here = append(here, e)
		}
	}
	switch {
	case len(here) > 0:
		return here, nil
	case len(across) > 0:
		return across, nil
	}
	return AllPairs(f), nil
}
