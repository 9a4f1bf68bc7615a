package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// The routes measure counts are read from each node's kernel FIB, not from
// its daemon: closd and FRR nodes are then counted the same way, and what
// is counted is what forwards packets.

// fib is one node's main routing table: each destination and the set of
// next hops the kernel forwards it over, as one comparable string.
type fib map[string]string

// fibs is a snapshot of the FIB of every node measured, by node name.
type fibs map[string]fib

// ipRoute is the part of `ip -j route show` a FIB comparison needs. The
// nexthop object id (nhid) is left out on purpose: a daemon may replace a
// group by an equal one under a new id, which forwards the same.
type ipRoute struct {
	Dst      string    `json:"dst"`
	Type     string    `json:"type"`
	Metric   int       `json:"metric"`
	Gateway  string    `json:"gateway"`
	Via      *ipVia    `json:"via"`
	Dev      string    `json:"dev"`
	Flags    []string  `json:"flags"`
	Nexthops []ipRoute `json:"nexthops"`
	Weight   int       `json:"weight"`
}

type ipVia struct {
	Host string `json:"host"`
}

// hop is one next hop as a string: gateway, device, weight when ECMP, and
// the flags that make the kernel skip it (a link down).
func (r ipRoute) hop() string {
	var b strings.Builder
	switch {
	case r.Gateway != "":
		b.WriteString(r.Gateway)
	case r.Via != nil:
		b.WriteString(r.Via.Host)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.Weight > 1 {
		fmt.Fprintf(&b, " weight %d", r.Weight)
	}
	for _, f := range r.Flags {
		if f == "linkdown" || f == "dead" {
			b.WriteString(" " + f)
		}
	}
	return strings.TrimSpace(b.String())
}

// parseFIB adds the routes of one `ip -j route show` output to t.
// Link-local and multicast IPv6 destinations are left out: there is one
// per interface and they say nothing about routing.
func parseFIB(out []byte, t fib) error {
	var rs []ipRoute
	if err := json.Unmarshal(out, &rs); err != nil {
		return err
	}
	hops := map[string][]string{}
	for _, r := range rs {
		if strings.HasPrefix(r.Dst, "fe80:") || strings.HasPrefix(r.Dst, "ff") {
			continue
		}
		tag := fmt.Sprintf("metric %d ", r.Metric)
		if r.Type != "" && r.Type != "unicast" {
			tag += r.Type + " "
		}
		if len(r.Nexthops) == 0 {
			hops[r.Dst] = append(hops[r.Dst], strings.TrimSpace(tag+r.hop()))
		}
		for _, h := range r.Nexthops {
			hops[r.Dst] = append(hops[r.Dst], tag+h.hop())
		}
	}
	for dst, hs := range hops {
		slices.Sort(hs)
		t[dst] = strings.Join(slices.Compact(hs), ", ")
	}
	return nil
}

// diffFIB is the destinations whose next-hop set differs between a and b,
// added and removed ones included, sorted.
func diffFIB(a, b fib) []string {
	var out []string
	for dst, h := range a {
		if bh, ok := b[dst]; !ok || bh != h {
			out = append(out, dst)
		}
	}
	for dst := range b {
		if _, ok := a[dst]; !ok {
			out = append(out, dst)
		}
	}
	slices.Sort(out)
	return out
}

// diffFIBs is diffFIB for every node in both snapshots, nodes without a
// difference left out.
func diffFIBs(a, b fibs) map[string][]string {
	out := map[string][]string{}
	for n, t := range a {
		if u, ok := b[n]; ok {
			if d := diffFIB(t, u); len(d) > 0 {
				out[n] = d
			}
		}
	}
	return out
}

// fibNodes is the nodes whose FIB measure watches: the switches, and
// servers that run a routing daemon.
func fibNodes(s *State) []Node {
	var out []Node
	for _, n := range s.Nodes {
		if n.Role != plan.RoleServer || n.Kind != "" {
			out = append(out, n)
		}
	}
	return out
}

// snapshotFIBs reads the IPv4 and IPv6 main table of every node, the nodes
// in parallel so the snapshot is close to one instant.
func snapshotFIBs(ctx context.Context, s *State) (fibs, error) {
	nodes := fibNodes(s)
	out := make(fibs, len(nodes))
	errs := make([]error, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := fib{}
			for _, fam := range []string{"-4", "-6"} {
				raw, err := run(ctx, "ip", "-n", n.Netns, "-j", fam, "route", "show", "table", "main")
				if err == nil {
					if err = parseFIB([]byte(raw), t); err != nil {
						err = fmt.Errorf("ip -n %s -j %s route show: %v", n.Netns, fam, err)
					}
				}
				if err != nil {
					errs[i] = fmt.Errorf("%s: reading the FIB: %w", n.Name, err)
					return
				}
			}
			mu.Lock()
			out[n.Name] = t
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fibPoll is how often measure reads the FIBs while it runs: the
// resolution of ecmp_restored_s, and few enough runs of ip not to disturb
// the probes on a busy box.
const fibPoll = 200 * time.Millisecond

// ecmpBound is how long measure goes on polling after the last phase for
// the FIBs to be as before: a closd session cut twice within a minute
// may wait out a longer idle hold before it comes back.
const ecmpBound = 30 * time.Second

// fibWatch compares the FIBs, polled while an action runs, with a
// snapshot taken before it: which destinations changed until the undo,
// and when after the undo every node had its routes and ECMP next hops
// back as before.
type fibWatch struct {
	mu         sync.Mutex
	base       fibs
	changed    map[string]map[string]bool
	undone     bool
	restoredAt time.Time
	last       map[string][]string // difference at the last poll after the undo
	err        error
}

func newFIBWatch(base fibs) *fibWatch {
	w := &fibWatch{base: base, changed: map[string]map[string]bool{}}
	for n := range base {
		w.changed[n] = map[string]bool{}
	}
	return w
}

// setUndone marks the undo done: polls started from now on look for the
// FIBs to be back.
func (w *fibWatch) setUndone() {
	w.mu.Lock()
	w.undone = true
	w.mu.Unlock()
}

// observe takes one snapshot (read by snap, at time now) into account
// and tells whether the FIBs are back as before after the undo.
func (w *fibWatch) observe(undone bool, snap fibs, now time.Time) bool {
	d := diffFIBs(w.base, snap)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !undone {
		for n, dsts := range d {
			if w.changed[n] == nil {
				w.changed[n] = map[string]bool{}
			}
			for _, dst := range dsts {
				w.changed[n][dst] = true
			}
		}
		return false
	}
	w.last = d
	if len(d) == 0 && w.restoredAt.IsZero() {
		w.restoredAt = now
	}
	return len(d) == 0
}

// poll reads the FIBs once; see observe.
func (w *fibWatch) poll(ctx context.Context, s *State) bool {
	w.mu.Lock()
	undone := w.undone
	w.mu.Unlock()
	snap, err := snapshotFIBs(ctx, s)
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
		return false
	}
	return w.observe(undone, snap, time.Now())
}

// watch polls every fibPoll until stop is closed.
func (w *fibWatch) watch(ctx context.Context, s *State, stop <-chan struct{}) {
	t := time.NewTicker(fibPoll)
	defer t.Stop()
	for {
		w.poll(ctx, s)
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report fills the measurement's route fields; undoAt is when the undo
// started (zero: the action has none).
func (w *fibWatch) report(m *Measurement, undoAt time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		m.FIBError = w.err.Error()
	}
	m.RoutesChangedByNode = map[string]int{}
	for n, dsts := range w.changed {
		m.RoutesChangedByNode[n] = len(dsts)
		m.RoutesChanged += len(dsts)
	}
	if undoAt.IsZero() {
		return
	}
	if !w.restoredAt.IsZero() {
		s := w.restoredAt.Sub(undoAt).Seconds()
		m.ECMPRestoredS = &s
		return
	}
	for _, dsts := range w.last {
		m.FIBNotRestored += len(dsts)
	}
}

// restored tells whether a poll after the undo found the FIBs as before.
func (w *fibWatch) restored() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.restoredAt.IsZero()
}
