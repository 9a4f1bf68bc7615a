package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/closnet/clos/internal/plan"
)

// target is what fail and restore act on: a link (by either end) or a switch.
type target struct {
	link *plan.FabricLink
	node *Node
}

func resolveTarget(s *State, f *plan.Fabric, t string) (target, error) {
	if strings.Contains(t, ":") {
		for i := range f.Links {
			l := &f.Links[i]
			if endName(l.A) == t || endName(l.B) == t || l.Name == t {
				return target{link: l}, nil
			}
		}
		return target{}, inputf("%q: no link has that end; links are named NODE:IFACE by either end (see clos lab status)", t)
	}
	n, ok := s.Node(t)
	if !ok {
		return target{}, inputf("%q: no such node; give a switch name or a link end NODE:IFACE", t)
	}
	if n.Role == plan.RoleServer {
		return target{}, inputf("%q is a server and runs no routing daemon; fail one of its links instead (e.g. %s:%s)", t, t, "eth1")
	}
	return target{node: n}, nil
}

func (t target) name() string {
	if t.link != nil {
		return endName(t.link.A)
	}
	return t.node.Name
}

// Fail applies a failure: a link loses carrier (both ends down), or with
// silent stays up while nft drops everything arriving on either end; a node's
// routing daemon is killed as in a crash.
func Fail(ctx context.Context, s *State, f *plan.Fabric, what string, silent bool) error {
	t, err := resolveTarget(s, f, what)
	if err != nil {
		return err
	}
	for _, x := range s.Failures {
		if x.Target == t.name() {
			return inputf("%s is already failed (%s); restore it first", what, x.Mode)
		}
	}
	mode := "link"
	switch {
	case t.node != nil:
		if silent {
			return inputf("--silent applies to links, not nodes")
		}
		mode = "node"
		for _, p := range t.node.Pids {
			kill(p)
		}
	case silent:
		mode = "silent"
		for _, e := range []plan.FabricEnd{t.link.A, t.link.B} {
			ns := Netns(s.Prefix, e.Node)
			tbl := nftTable(s.Prefix, e.Interface)
			rules := fmt.Sprintf("table netdev %s {\n chain in {\n  type filter hook ingress device %q priority -500; policy drop;\n }\n}\n", tbl, e.Interface)
			if err := nftApply(ctx, ns, rules); err != nil {
				return fmt.Errorf("silent fail of %s: %w", endName(e), err)
			}
		}
	default:
		for _, e := range []plan.FabricEnd{t.link.A, t.link.B} {
			if _, err := run(ctx, "ip", "-n", Netns(s.Prefix, e.Node), "link", "set", e.Interface, "down"); err != nil {
				return err
			}
		}
	}
	s.Failures = append(s.Failures, Failure{Target: t.name(), Mode: mode})
	return s.Save()
}

func nftApply(ctx context.Context, ns, rules string) error {
	tmp, err := os.CreateTemp("", "clos-lab-nft-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(rules); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	_, err = nsRun(ctx, ns, "nft", "-f", tmp.Name())
	return err
}

// Restore undoes a failure applied by Fail: links come back up (and nft
// tables go), a node's daemon restarts with its config.
func Restore(ctx context.Context, s *State, f *plan.Fabric, what string) error {
	t, err := resolveTarget(s, f, what)
	if err != nil {
		return err
	}
	idx := -1
	for i, x := range s.Failures {
		if x.Target == t.name() {
			idx = i
		}
	}
	if idx < 0 {
		return inputf("%s is not failed (failed: %s)", what, failedList(s))
	}
	switch s.Failures[idx].Mode {
	case "node":
		closd := ""
		if t.node.Kind == KindClosd {
			if closd, err = findClosd(""); err != nil {
				return err
			}
		}
		if t.node.RunDir != "" {
			ms, _ := filepath.Glob(filepath.Join(t.node.RunDir, "*"))
			for _, m := range ms {
				_ = os.Remove(m) // stale pid files and sockets of the killed daemons
			}
		}
		if err := startDaemon(ctx, t.node, closd); err != nil {
			return err
		}
	case "silent":
		for _, e := range []plan.FabricEnd{t.link.A, t.link.B} {
			if _, err := nsRun(ctx, Netns(s.Prefix, e.Node), "nft", "delete", "table", "netdev", nftTable(s.Prefix, e.Interface)); err != nil {
				return err
			}
		}
	default:
		for _, e := range []plan.FabricEnd{t.link.A, t.link.B} {
			if _, err := run(ctx, "ip", "-n", Netns(s.Prefix, e.Node), "link", "set", e.Interface, "up"); err != nil {
				return err
			}
		}
	}
	s.Failures = append(s.Failures[:idx], s.Failures[idx+1:]...)
	return s.Save()
}

func failedList(s *State) string {
	if len(s.Failures) == 0 {
		return "none"
	}
	var ns []string
	for _, x := range s.Failures {
		ns = append(ns, x.Target)
	}
	return strings.Join(ns, ", ")
}

func endName(e plan.FabricEnd) string { return e.Node + ":" + e.Interface }
