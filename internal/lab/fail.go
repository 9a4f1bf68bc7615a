package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/closnet/clos/internal/plan"
)

// target is what fail and restore act on: a link (by either end) or a node.
type target struct {
	link *plan.FabricLink
	node *Node
}

// resolveTarget finds a link end NODE:IFACE (or a link's name) or a node.
// Servers are accepted only when servers is set: they run no daemon to
// crash, but can be isolated.
func resolveTarget(s *State, f *plan.Fabric, t string, servers bool) (target, error) {
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
	if n.Role == plan.RoleServer && n.Kind == "" && !servers { // a bgp host's daemon can crash
		return target{}, inputf("%q is a server and runs no routing daemon; isolate it (fail --isolate %s) or fail one of its links", t, t)
	}
	return target{node: n}, nil
}

func (t target) name() string {
	if t.link != nil {
		return endName(t.link.A)
	}
	return t.node.Name
}

// nodeLinks are the links with an end on node.
func nodeLinks(f *plan.Fabric, node string) []*plan.FabricLink {
	var ls []*plan.FabricLink
	for i := range f.Links {
		if f.Links[i].A.Node == node || f.Links[i].B.Node == node {
			ls = append(ls, &f.Links[i])
		}
	}
	return ls
}

func failureOf(s *State, name string) int {
	for i, x := range s.Failures {
		if x.Target == name {
			return i
		}
	}
	return -1
}

// Failure modes, as recorded in the state and reported by measure.
const (
	ModeLink          = "link"           // carrier loss on both ends
	ModeSilent        = "silent"         // nft drops both ways, link up
	ModeNode          = "node"           // the routing daemon is killed
	ModeIsolate       = "isolate"        // every link of the node loses carrier
	ModeIsolateSilent = "isolate-silent" // every link of the node drops silently
)

// failMode checks that what can fail the way o asks and says how.
func failMode(s *State, f *plan.Fabric, what string, o FailOptions) (string, target, error) {
	t, err := resolveTarget(s, f, what, o.Isolate)
	if err != nil {
		return "", t, err
	}
	if i := failureOf(s, t.name()); i >= 0 {
		return "", t, inputf("%s is already failed (%s); restore it first", what, s.Failures[i].Mode)
	}
	switch {
	case t.node != nil && o.Isolate:
		for _, l := range nodeLinks(f, t.node.Name) {
			if i := failureOf(s, endName(l.A)); i >= 0 {
				return "", t, inputf("%s's link %s is failed (%s); restore it before isolating %s", what, l.Name, s.Failures[i].Mode, what)
			}
		}
		if o.Silent {
			return ModeIsolateSilent, t, nil
		}
		return ModeIsolate, t, nil
	case t.node != nil:
		if o.Silent {
			return "", t, inputf("--silent applies to links, or to nodes with --isolate; a node without --isolate crashes")
		}
		return ModeNode, t, nil
	case o.Isolate:
		return "", t, inputf("--isolate applies to nodes, not links: e.g. fail --isolate %s", t.link.A.Node)
	}
	for _, n := range []string{t.link.A.Node, t.link.B.Node} {
		if i := failureOf(s, n); i >= 0 && strings.HasPrefix(s.Failures[i].Mode, ModeIsolate) {
			return "", t, inputf("%s is isolated, its links with it; restore %s first", n, n)
		}
	}
	if o.Silent {
		return ModeSilent, t, nil
	}
	return ModeLink, t, nil
}

// Fail applies a failure: a link loses carrier (both ends down), or with
// silent stays up while nft drops everything arriving on either end; a node's
// routing daemon is killed as in a crash.
func Fail(ctx context.Context, s *State, f *plan.Fabric, what string, silent bool) error {
	return FailWith(ctx, s, f, what, FailOptions{Silent: silent})
}

// FailWith is Fail with every option, node isolation included.
func FailWith(ctx context.Context, s *State, f *plan.Fabric, what string, o FailOptions) error {
	mode, t, err := failMode(s, f, what, o)
	if err != nil {
		return err
	}
	switch mode {
	case ModeNode:
		for _, p := range t.node.Pids {
			kill(p)
		}
	case ModeSilent:
		err = linksSilent(ctx, s, []*plan.FabricLink{t.link}, true)
	case ModeLink:
		err = linksUp(ctx, s, f, []*plan.FabricLink{t.link}, false)
	case ModeIsolate:
		err = linksUp(ctx, s, f, nodeLinks(f, t.node.Name), false)
	case ModeIsolateSilent:
		err = linksSilent(ctx, s, nodeLinks(f, t.node.Name), true)
	}
	if err != nil {
		return fmt.Errorf("fail %s: %w", what, err)
	}
	s.Failures = append(s.Failures, Failure{Target: t.name(), Mode: mode})
	return s.Save()
}

// linksUp sets both ends of every link up or down. Servers at a link
// coming up get their routes back: the kernel dropped them with the link.
func linksUp(ctx context.Context, s *State, f *plan.Fabric, ls []*plan.FabricLink, up bool) error {
	state := map[bool]string{true: "up", false: "down"}[up]
	for _, l := range ls {
		for _, e := range []plan.FabricEnd{l.A, l.B} {
			if _, err := run(ctx, "ip", "-n", Netns(s.Prefix, e.Node), "link", "set", e.Interface, state); err != nil {
				return err
			}
		}
	}
	if !up {
		return nil
	}
	for _, l := range ls {
		for _, e := range []plan.FabricEnd{l.A, l.B} {
			if h := serverByName(f, e.Node); h != nil {
				if err := serverRoutes(ctx, s, h); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// linksSilent adds (or deletes) an nft table per link end that drops
// everything arriving on it, before any other hook sees it.
func linksSilent(ctx context.Context, s *State, ls []*plan.FabricLink, drop bool) error {
	for _, l := range ls {
		for _, e := range []plan.FabricEnd{l.A, l.B} {
			ns := Netns(s.Prefix, e.Node)
			tbl := nftTable(s.Prefix, e.Interface)
			if !drop {
				if _, err := nsRun(ctx, ns, "nft", "delete", "table", "netdev", tbl); err != nil {
					return err
				}
				continue
			}
			rules := fmt.Sprintf("table netdev %s {\n chain in {\n  type filter hook ingress device %q priority -500; policy drop;\n }\n}\n", tbl, e.Interface)
			if err := nftApply(ctx, ns, rules); err != nil {
				return fmt.Errorf("silent fail of %s: %w", endName(e), err)
			}
		}
	}
	return nil
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
	t, err := resolveTarget(s, f, what, true)
	if err != nil {
		return err
	}
	idx := failureOf(s, t.name())
	if idx < 0 {
		return inputf("%s is not failed (failed: %s)", what, failedList(s))
	}
	switch s.Failures[idx].Mode {
	case ModeNode:
		closd := ""
		if t.node.Kind == KindClosd {
			if closd, err = FindClosd(s.Closd); err != nil {
				return fmt.Errorf("restarting %s's closd: %w", t.node.Name, err)
			}
		}
		if t.node.RunDir != "" {
			ms, _ := filepath.Glob(filepath.Join(t.node.RunDir, "*"))
			for _, m := range ms {
				_ = os.Remove(m) // stale pid files and sockets of the killed daemons
			}
		}
		err = startDaemon(ctx, t.node, closd)
	case ModeSilent:
		err = linksSilent(ctx, s, []*plan.FabricLink{t.link}, false)
	case ModeIsolate:
		err = linksUp(ctx, s, f, nodeLinks(f, t.node.Name), true)
	case ModeIsolateSilent:
		err = linksSilent(ctx, s, nodeLinks(f, t.node.Name), false)
	default:
		err = linksUp(ctx, s, f, []*plan.FabricLink{t.link}, true)
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", what, err)
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
