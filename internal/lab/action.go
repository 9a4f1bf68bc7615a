package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/closnet/clos/internal/plan"
)

// Action is one lab verb as measure times it: Apply makes the change (a
// failure, a restore, a server move, a service going down), Undo puts it
// back. Measure probes Flows while it runs Apply, waits, runs Undo and
// waits again. Every verb that can be measured builds one; see
// docs/lab.md, "Adding a measured verb".
type Action struct {
	// Verb is the command line the action came from, for reports, e.g.
	// "fail --silent spine3:swp1".
	Verb string
	// Target names what the action works on (a link end, a node, a
	// server, SERVER:SERVICE); Mode says how (link, silent, node,
	// isolate, restore, move, service...).
	Target, Mode string
	// Apply makes the change. It saves whatever the lab must remember
	// (s.Failures, a server's new leaf) itself.
	Apply func(ctx context.Context) error
	// Undo reverts Apply. Nil when the action has nothing to revert (a
	// restore): measure then just probes on for a second --duration.
	Undo func(ctx context.Context) error
	// Flows picks the probe flows' endpoints. Nil: every ordered pair of
	// servers (AllPairs).
	Flows func() ([]FlowEnds, error)
	// Report, if set, adds what the verb itself observed (e.g. a move:
	// packets still reaching the old leaf) to the measurement's Extra.
	Report func() map[string]any
}

// FlowEnds is where one probe flow runs: UDP from server From to address
// To, counted as arrived when any node in Receivers gets it (one server for
// unicast; every server announcing an anycast address).
type FlowEnds struct {
	From      string     `json:"from"`
	To        netip.Addr `json:"to"`
	Receivers []string   `json:"receivers"`
}

func (e FlowEnds) String() string {
	return fmt.Sprintf("%s->%s@%s", e.From, e.To, strings.Join(e.Receivers, "|"))
}

// ServerAddr is the address probes to server h go to: its first address.
func ServerAddr(h *plan.FabricHost) (netip.Addr, bool) {
	for _, ifc := range h.Interfaces {
		for _, a := range ifc.Addresses {
			if a.Addr().Is4() {
				return a.Addr(), true
			}
		}
	}
	for _, ifc := range h.Interfaces {
		if len(ifc.Addresses) > 0 {
			return ifc.Addresses[0].Addr(), true
		}
	}
	return netip.Addr{}, false
}

// AllPairs is every ordered pair of servers that have an address: the
// default probe flows.
func AllPairs(f *plan.Fabric) []FlowEnds {
	var out []FlowEnds
	for i := range f.Servers {
		for j := range f.Servers {
			if i == j {
				continue
			}
			if a, ok := ServerAddr(&f.Servers[j]); ok {
				out = append(out, FlowEnds{From: f.Servers[i].Name, To: a, Receivers: []string{f.Servers[j].Name}})
			}
		}
	}
	return out
}

// PairsWith is every flow to and from server name (for a verb about one
// server, like a move).
func PairsWith(f *plan.Fabric, name string) ([]FlowEnds, error) {
	if serverByName(f, name) == nil {
		return nil, inputf("%q: no such server", name)
	}
	var out []FlowEnds
	for _, e := range AllPairs(f) {
		if e.From == name || e.Receivers[0] == name {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no other server to probe %s from", name)
	}
	return out, nil
}

// ToAddress is a flow to addr from every server not in receivers (for an
// anycast address served by receivers).
func ToAddress(f *plan.Fabric, addr netip.Addr, receivers []string) ([]FlowEnds, error) {
	if len(receivers) == 0 {
		return nil, fmt.Errorf("%s: no server receives it", addr)
	}
	rx := map[string]bool{}
	for _, r := range receivers {
		if serverByName(f, r) == nil {
			return nil, inputf("%q: no such server", r)
		}
		rx[r] = true
	}
	var out []FlowEnds
	for _, h := range f.Servers {
		if !rx[h.Name] {
			out = append(out, FlowEnds{From: h.Name, To: addr, Receivers: append([]string(nil), receivers...)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: every server receives it; none is left to probe from", addr)
	}
	return out, nil
}

func serverByName(f *plan.Fabric, name string) *plan.FabricHost {
	for i := range f.Servers {
		if f.Servers[i].Name == name {
			return &f.Servers[i]
		}
	}
	return nil
}

// FailOptions say how fail breaks its target.
type FailOptions struct {
	// Silent keeps links up and drops everything arriving on them with
	// nft, so only BFD or the hold timer can notice.
	Silent bool
	// Isolate cuts every link of a node (carrier loss, or with Silent nft
	// drops) while its daemon keeps running, instead of killing it.
	Isolate bool
}

// FailAction is fail as a measured action: Undo restores.
func FailAction(s *State, f *plan.Fabric, what string, o FailOptions) (*Action, error) {
	mode, t, err := failMode(s, f, what, o)
	if err != nil {
		return nil, err
	}
	verb := "fail "
	if o.Isolate {
		verb += "--isolate "
	}
	if o.Silent {
		verb += "--silent "
	}
	return &Action{
		Verb: verb + what, Target: t.name(), Mode: mode,
		Apply: func(ctx context.Context) error { return FailWith(ctx, s, f, what, o) },
		Undo:  func(ctx context.Context) error { return Restore(ctx, s, f, what) },
	}, nil
}

// RestoreAction is restore as a measured action: the target must be failed
// already, and nothing is undone.
func RestoreAction(s *State, f *plan.Fabric, what string) (*Action, error) {
	t, err := resolveTarget(s, f, what, true)
	if err != nil {
		return nil, err
	}
	if failureOf(s, t.name()) < 0 {
		return nil, inputf("%s is not failed (failed: %s); fail it first", what, failedList(s))
	}
	return &Action{
		Verb: "restore " + what, Target: t.name(), Mode: "restore",
		Apply: func(ctx context.Context) error { return Restore(ctx, s, f, what) },
	}, nil
}
