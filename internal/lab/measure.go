package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// MeasureOptions bound a measurement.
type MeasureOptions struct {
	// Flows is the number of UDP flows, each from its own source port,
	// spread round-robin over the action's flow ends. 0: two per pair of
	// ends, at least 8 and at most 256.
	Flows int
	// Rate is packets per second per flow. 0: 200, or less so that all
	// flows together send at most 8000 packets per second.
	Rate int
	// Duration is how long the change is held before Undo, and how long
	// probing goes on after it. 0: 3 s.
	Duration time.Duration
}

// Limits of a measurement, so a typo cannot flood the box.
const (
	maxFlows    = 256
	maxRate     = 1000
	maxPPS      = 20000 // flows x rate
	defaultPPS  = 8000
	maxDuration = 60 * time.Second
	warmup      = time.Second
	// convergeBound is how long measure waits for sessions cut by an
	// earlier change: closd backs its idle hold off up to 120 s when a
	// session flaps again within a minute (RFC 4271 8.1.1,
	// DampPeerOscillations), FRR retries within seconds.
	convergeBound = 150 * time.Second
)

// Measurement is what measure reports. Gaps are the longest stretch, per
// flow, between two packets that arrived, in send time: a flow that lost
// nothing has a gap of 0.
type Measurement struct {
	Verb    string `json:"verb"`
	Target  string `json:"target"`
	Mode    string `json:"mode"`
	Pairs   int    `json:"pairs"` // distinct flow ends probed
	Flows   int    `json:"flows"`
	RatePPS int    `json:"rate_pps"`
	Sent    int    `json:"sent"`
	// Lost, the gaps, FlowsHit and ReconvergedS are about the phase from
	// Apply to Undo (or to the end when the action has no Undo).
	Lost     int     `json:"lost"`
	MaxGapMS float64 `json:"max_gap_ms"`
	P50GapMS float64 `json:"p50_gap_ms"`
	// P50HitGapMS is the median gap of the flows that had one: most flows
	// of a fabric never cross a given link, which puts p50_gap_ms at 0.
	P50HitGapMS  float64 `json:"p50_hit_gap_ms"`
	FlowsHit     int     `json:"flows_hit"`
	ReconvergedS float64 `json:"reconverged_s"`
	// Restore* are about the phase after Undo.
	RestoreGapMS float64 `json:"restore_max_gap_ms"`
	RestoreLost  int     `json:"restore_lost"`
	// Unrecovered counts flows still losing packets when the phase ended.
	Unrecovered int `json:"unrecovered_flows"`
	// SenderStallMS is the sender's longest pause beyond one interval: on a
	// busy box the gaps are only this exact.
	SenderStallMS float64 `json:"sender_stall_ms"`
	// RoutesChanged counts, over every switch (and server running a
	// routing daemon), the destinations whose kernel next-hop set differed
	// from before the change at any FIB poll until the undo;
	// RoutesChangedByNode is the same per node.
	RoutesChanged       int            `json:"routes_changed"`
	RoutesChangedByNode map[string]int `json:"routes_changed_by_node"`
	// ECMPRestoredS is from the undo to the first FIB poll that found
	// every node's routes and ECMP next hops as before the change: null
	// for a verb without undo, or when they were not back within the
	// bounded wait (then FIBNotRestored counts those still different).
	ECMPRestoredS  *float64 `json:"ecmp_restored_s"`
	FIBNotRestored int      `json:"fib_not_restored"`
	// FIBError says why the FIBs could not be read at some poll.
	FIBError string `json:"fib_error,omitempty"`
	// Extra is what the action reported (Action.Report).
	Extra map[string]any `json:"extra,omitempty"`

	// noUndo: the action had nothing to undo (restore, restart), so
	// Print leaves out the undo lines.
	noUndo bool
}

// Validate checks the options given; zero values are filled by Measure.
func (o *MeasureOptions) Validate() error {
	switch {
	case o.Flows < 0 || o.Flows > maxFlows:
		return inputf("--flows %d: want 1 to %d", o.Flows, maxFlows)
	case o.Rate < 0 || o.Rate > maxRate:
		return inputf("--rate %d: want 1 to %d packets per second per flow", o.Rate, maxRate)
	case o.Flows > 0 && o.Rate > 0 && o.Flows*o.Rate > maxPPS:
		return inputf("--flows %d x --rate %d: want at most %d packets per second in all", o.Flows, o.Rate, maxPPS)
	case o.Duration != 0 && (o.Duration < 500*time.Millisecond || o.Duration > maxDuration):
		return inputf("--duration %s: want 500ms to %s", o.Duration, maxDuration)
	}
	return nil
}

// fill sets the defaults for pairs flow ends.
func (o *MeasureOptions) fill(pairs int) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Flows == 0 {
		o.Flows = min(max(2*pairs, 8), maxFlows)
	}
	if o.Rate == 0 {
		o.Rate = max(min(200, defaultPPS/o.Flows), 1)
	}
	if o.Duration == 0 {
		o.Duration = 3 * time.Second
	}
	if o.Flows*o.Rate > maxPPS {
		return inputf("--flows %d x --rate %d: want at most %d packets per second in all", o.Flows, o.Rate, maxPPS)
	}
	return nil
}

type probe struct {
	sent time.Time
	got  bool
}

// Measure probes flows while it applies a, waits Duration, undoes it and
// waits Duration again, and reports the data-plane gaps and losses of each
// phase.
func Measure(ctx context.Context, s *State, f *plan.Fabric, a *Action, o MeasureOptions, out io.Writer) (*Measurement, error) {
	if a == nil || a.Apply == nil {
		return nil, fmt.Errorf("measure: no action to apply")
	}
	ends := AllPairs(f)
	if a.Flows != nil {
		var err error
		if ends, err = a.Flows(); err != nil {
			return nil, err
		}
	}
	if len(ends) == 0 {
		return nil, fmt.Errorf("measure needs at least two servers with addresses to probe between")
	}
	if err := o.fill(len(ends)); err != nil {
		return nil, err
	}
	// A lab still converging from an earlier failure would make the
	// numbers about that one: start from every session established.
	if err := waitConverged(ctx, s, f, convergeBound, out); err != nil {
		return nil, err
	}
	base, err := snapshotFIBs(ctx, s)
	if err != nil {
		return nil, err
	}
	fw := newFIBWatch(base)
	rxs, port, err := listenAll(s, ends)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range rxs {
			c.Close()
		}
	}()
	type flow struct {
		c  *net.UDPConn
		to *net.UDPAddr
	}
	var flows []flow
	defer func() {
		for _, fl := range flows {
			fl.c.Close()
		}
	}()
	for i := 0; i < o.Flows; i++ {
		e := ends[i%len(ends)]
		c, err := listenUDP(Netns(s.Prefix, e.From))
		if err != nil {
			return nil, fmt.Errorf("probe flow from %s: %w", e.From, err)
		}
		flows = append(flows, flow{c, &net.UDPAddr{IP: e.To.AsSlice(), Port: port}})
	}
	var mu sync.Mutex
	probes := make([][]probe, o.Flows)
	for _, rx := range rxs {
		go func(rx *net.UDPConn) {
			buf := make([]byte, 64)
			for {
				n, _, err := rx.ReadFromUDP(buf)
				if err != nil {
					return
				}
				if n < 8 {
					continue
				}
				fl, seq := int(binary.BigEndian.Uint32(buf)), int(binary.BigEndian.Uint32(buf[4:]))
				mu.Lock()
				if fl < len(probes) && seq < len(probes[fl]) {
					probes[fl][seq].got = true
				}
				mu.Unlock()
			}
		}(rx)
	}
	interval := time.Second / time.Duration(o.Rate)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		buf := make([]byte, 64)
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			now := time.Now()
			for i, fl := range flows {
				binary.BigEndian.PutUint32(buf, uint32(i))
				binary.BigEndian.PutUint32(buf[4:], uint32(seq))
				mu.Lock()
				probes[i] = append(probes[i], probe{sent: now})
				mu.Unlock()
				_, _ = fl.c.WriteToUDP(buf, fl.to) // a send error during a failure is loss too
			}
		}
	}()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	m := &Measurement{Verb: a.Verb, Target: a.Target, Mode: a.Mode, Pairs: min(len(ends), o.Flows), Flows: o.Flows, RatePPS: o.Rate, noUndo: a.Undo == nil}
	fmt.Fprintf(out, "measure: %d flows over %d server pairs at %d pps each\n", o.Flows, m.Pairs, o.Rate)
	var applyAt, undoAt time.Time
	fwStop, fwDone := make(chan struct{}), make(chan struct{})
	err = sleep(warmup)
	if err == nil {
		go func() {
			defer close(fwDone)
			fw.watch(ctx, s, fwStop)
		}()
		applyAt = time.Now()
		err = a.Apply(ctx)
		if err == nil {
			fmt.Fprintf(out, "measure: %s; waiting %s\n", a.Verb, o.Duration)
			err = sleep(o.Duration)
			undoAt = time.Now()
			if a.Undo != nil {
				if uerr := a.Undo(ctx); uerr != nil && err == nil {
					err = uerr
				}
				fw.setUndone()
				if err == nil {
					fmt.Fprintf(out, "measure: undone; waiting %s\n", o.Duration)
				}
			}
			if err == nil {
				err = sleep(o.Duration)
			}
			if a.Undo == nil {
				undoAt = time.Now()
			}
		}
	}
	close(stop)
	<-done
	if !applyAt.IsZero() {
		close(fwStop)
		<-fwDone
	}
	_ = sleep(300 * time.Millisecond) // packets in flight
	if err != nil {
		return nil, err
	}
	if a.Undo != nil {
		// Time to full ECMP again may be longer than the probing: poll on
		// (bounded) until every FIB is as before.
		if !fw.restored() {
			fmt.Fprintf(out, "measure: waiting (at most %s) for every FIB to be as before\n", ecmpBound)
		}
		for end := time.Now().Add(ecmpBound); !fw.restored() && time.Now().Before(end); {
			if fw.poll(ctx, s) || sleep(fibPoll) != nil {
				break
			}
		}
		fw.report(m, undoAt)
	} else {
		fw.report(m, time.Time{})
	}
	mu.Lock()
	defer mu.Unlock()
	var maxGaps []float64
	for _, ps := range probes {
		g, lost, lastGapEnd := gaps(ps, applyAt, undoAt, interval)
		m.Sent += len(ps)
		m.Lost += lost
		maxGaps = append(maxGaps, g)
		if g > 0 {
			m.FlowsHit++
		}
		m.SenderStallMS = max(m.SenderStallMS, senderStall(ps, interval))
		if lastGapEnd.Equal(undoAt) {
			m.Unrecovered++
		} else if !lastGapEnd.IsZero() {
			m.ReconvergedS = max(m.ReconvergedS, lastGapEnd.Sub(applyAt).Seconds())
		}
		if a.Undo != nil {
			rg, rlost, _ := gaps(ps, undoAt, time.Now().Add(time.Hour), interval)
			m.RestoreGapMS = max(m.RestoreGapMS, rg)
			m.RestoreLost += rlost
		}
	}
	slices.Sort(maxGaps)
	m.MaxGapMS = maxGaps[len(maxGaps)-1]
	m.P50GapMS = maxGaps[len(maxGaps)/2]
	if hit := maxGaps[len(maxGaps)-m.FlowsHit:]; len(hit) > 0 {
		m.P50HitGapMS = hit[len(hit)/2]
	}
	if a.Report != nil {
		m.Extra = a.Report()
	}
	return m, nil
}

// listenAll opens a UDP socket on one port in every receiver's namespace.
func listenAll(s *State, ends []FlowEnds) ([]*net.UDPConn, int, error) {
	var nodes []string
	seen := map[string]bool{}
	for _, e := range ends {
		for _, r := range e.Receivers {
			if !seen[r] {
				seen[r] = true
				nodes = append(nodes, r)
			}
		}
	}
	var lastErr error
	// The port is picked in the first namespace; another may have it in
	// use (rarely), then all start over.
	for try := 0; try < 5; try++ {
		var cs []*net.UDPConn
		port := 0
		var err error
		for _, n := range nodes {
			var c *net.UDPConn
			c, err = listenUDPPort(Netns(s.Prefix, n), port)
			if err != nil {
				err = fmt.Errorf("probe receiver in %s: %w", n, err)
				break
			}
			cs = append(cs, c)
			port = c.LocalAddr().(*net.UDPAddr).Port
		}
		if err == nil {
			return cs, port, nil
		}
		for _, c := range cs {
			c.Close()
		}
		lastErr = err
	}
	return nil, 0, lastErr
}

// gaps looks at the probes sent in [from, to): the longest data-plane gap
// in ms, the packets lost, and the end of the last gap. A gap is a run of
// lost probes, measured from the last probe that arrived before it to the
// first that arrived after (in send time). A pause of the sender itself (a
// busy box) loses nothing and is no gap.
func gaps(ps []probe, from, to time.Time, interval time.Duration) (float64, int, time.Time) {
	var prev, lastEnd time.Time
	lost, run := 0, 0
	var maxGap time.Duration
	for _, p := range ps {
		if p.sent.Before(from) {
			if p.got {
				prev, run = p.sent, 0
			} else {
				run++
			}
			continue
		}
		if !p.sent.Before(to) {
			break
		}
		if !p.got {
			lost++
			run++
			continue
		}
		if run > 0 && !prev.IsZero() {
			if g := p.sent.Sub(prev); g > maxGap {
				maxGap = g
			}
			lastEnd = p.sent
		}
		prev, run = p.sent, 0
	}
	// Probes lost up to the end of the phase: the gap lasts at least until
	// the next probe would have been sent, and the flow never came back.
	if run > 0 && lost > 0 && !prev.IsZero() {
		var last time.Time
		for _, p := range ps {
			if p.sent.Before(to) {
				last = p.sent
			}
		}
		if g := last.Sub(prev) + interval; g > maxGap {
			maxGap = g
		}
		lastEnd = to
	}
	return float64(maxGap.Microseconds()) / 1000, lost, lastEnd
}

// senderStall is the longest pause of the sender beyond one interval: the
// resolution the gaps have on this box.
func senderStall(ps []probe, interval time.Duration) float64 {
	var worst time.Duration
	for i := 1; i < len(ps); i++ {
		if d := ps[i].sent.Sub(ps[i-1].sent) - interval; d > worst {
			worst = d
		}
	}
	return float64(worst.Microseconds()) / 1000
}

func waitConverged(ctx context.Context, s *State, f *plan.Fabric, bound time.Duration, out io.Writer) error {
	deadline := time.Now().Add(bound)
	said := false
	for {
		sess, err := Sessions(ctx, s, f)
		if err != nil {
			return err
		}
		var down []string
		for _, x := range sess {
			if x.State != "Established" && !failedSession(s, f, x) {
				down = append(down, x.String())
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab not converged after %s, not measuring: %v", bound, down)
		}
		if !said {
			fmt.Fprintf(out, "measure: waiting for %d session ends to come up first\n", len(down))
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// failedSession tells whether a session is down because of a failure that
// is still applied: its link, or a node at either end.
func failedSession(s *State, f *plan.Fabric, x Session) bool {
	peer := strings.SplitN(x.Peer, ":", 2)[0]
	if failureOf(s, x.Node) >= 0 || failureOf(s, peer) >= 0 {
		return true
	}
	for _, l := range f.Links {
		if endName(l.A) == x.Node+":"+x.Interface || endName(l.B) == x.Node+":"+x.Interface {
			return failureOf(s, endName(l.A)) >= 0
		}
	}
	return false
}

// Print writes the measurement as text.
func (m *Measurement) Print(w io.Writer) {
	fmt.Fprintf(w, "%s (%s): %d of %d flows over %d pairs hit, max gap %.1f ms, p50 gap %.1f ms (%.1f ms over the flows hit), %d of %d packets lost, reconverged after %.3f s",
		m.Verb, m.Mode, m.FlowsHit, m.Flows, m.Pairs, m.MaxGapMS, m.P50GapMS, m.P50HitGapMS, m.Lost, m.Sent, m.ReconvergedS)
	if m.Unrecovered > 0 {
		fmt.Fprintf(w, " (%d flows never recovered)", m.Unrecovered)
	}
	fmt.Fprintln(w)
	if m.Mode != "restore" && !m.noUndo {
		fmt.Fprintf(w, "undo: max gap %.1f ms, %d packets lost\n", m.RestoreGapMS, m.RestoreLost)
	}
	fmt.Fprintf(w, "routes changed: %d", m.RoutesChanged)
	if m.RoutesChanged > 0 {
		var per []string
		for _, n := range sortedKeys(m.RoutesChangedByNode) {
			if c := m.RoutesChangedByNode[n]; c > 0 {
				per = append(per, fmt.Sprintf("%s %d", n, c))
			}
		}
		fmt.Fprintf(w, " (%s)", strings.Join(per, ", "))
	}
	fmt.Fprintln(w)
	switch {
	case m.ECMPRestoredS != nil:
		fmt.Fprintf(w, "full ECMP again: every FIB as before %.3f s after the undo (polled every %s)\n", *m.ECMPRestoredS, fibPoll)
	case m.Mode != "restore" && !m.noUndo:
		fmt.Fprintf(w, "full ECMP again: not within %s after the probing; %d destinations still differ from before\n", ecmpBound, m.FIBNotRestored)
	}
	if m.FIBError != "" {
		fmt.Fprintf(w, "FIB polling: %s\n", m.FIBError)
	}
	fmt.Fprintf(w, "resolution: the sender paused up to %.1f ms beyond its interval on this box\n", m.SenderStallMS)
	if len(m.Extra) > 0 {
		fmt.Fprintf(w, "%s:", m.Mode)
		for _, k := range sortedKeys(m.Extra) {
			fmt.Fprintf(w, " %s=%v", k, m.Extra[k])
		}
		fmt.Fprintln(w)
	}
}
