package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// MeasureOptions bound a measurement.
type MeasureOptions struct {
	Flows    int           // UDP flows, each from its own source port
	Rate     int           // packets per second per flow
	Duration time.Duration // how long the failure stays, and how long after restore probing goes on
	Target   string        // LINK or NODE, as for Fail
	Silent   bool
}

// Limits of a measurement, so a typo cannot flood the box.
const (
	maxFlows    = 64
	maxRate     = 1000
	maxDuration = 60 * time.Second
	warmup      = time.Second
)

// Measurement is what measure reports. Gaps are the longest stretch, per
// flow, between two packets that arrived, in send time: a flow that lost
// nothing has a gap of one interval.
type Measurement struct {
	Target       string  `json:"target"`
	Mode         string  `json:"mode"`
	From         string  `json:"from"`
	To           string  `json:"to"`
	Flows        int     `json:"flows"`
	RatePPS      int     `json:"rate_pps"`
	Sent         int     `json:"sent"`
	Lost         int     `json:"lost"`
	MaxGapMS     float64 `json:"max_gap_ms"`
	P50GapMS     float64 `json:"p50_gap_ms"`
	FlowsHit     int     `json:"flows_hit"`
	ReconvergedS float64 `json:"reconverged_s"`
	RestoreGapMS float64 `json:"restore_max_gap_ms"`
	RestoreLost  int     `json:"restore_lost"`
	// Unrecovered counts flows still losing packets when restore began.
	Unrecovered int `json:"unrecovered_flows"`
	// SenderStallMS is the sender's longest pause beyond one interval: on a
	// busy box the gaps are only this exact.
	SenderStallMS float64 `json:"sender_stall_ms"`
}

// Validate checks the options and fills defaults.
func (o *MeasureOptions) Validate() error {
	if o.Flows == 0 {
		o.Flows = 8
	}
	if o.Rate == 0 {
		o.Rate = 200
	}
	if o.Duration == 0 {
		o.Duration = 3 * time.Second
	}
	switch {
	case o.Flows < 1 || o.Flows > maxFlows:
		return inputf("--flows %d: want 1 to %d", o.Flows, maxFlows)
	case o.Rate < 1 || o.Rate > maxRate:
		return inputf("--rate %d: want 1 to %d packets per second per flow", o.Rate, maxRate)
	case o.Duration < 500*time.Millisecond || o.Duration > maxDuration:
		return inputf("--duration %s: want 500ms to %s", o.Duration, maxDuration)
	}
	return nil
}

type probe struct {
	sent time.Time
	got  bool
}

// Measure probes flows between two servers on different leaves, applies the
// failure, waits Duration, restores it, waits Duration, and reports the
// data-plane gaps and losses of each phase.
func Measure(ctx context.Context, s *State, f *plan.Fabric, o MeasureOptions, out io.Writer) (*Measurement, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if _, err := resolveTarget(s, f, o.Target); err != nil {
		return nil, err
	}
	src, dst := ecmpPair(f)
	if src == nil {
		return nil, fmt.Errorf("measure needs two servers on different leaves")
	}
	// A lab still converging from an earlier failure would make the
	// numbers about that one: start from every session established.
	if err := waitConverged(ctx, s, f, 30*time.Second, out); err != nil {
		return nil, err
	}
	rx, err := listenUDP(Netns(s.Prefix, dst.Name))
	if err != nil {
		return nil, err
	}
	defer rx.Close()
	to := &net.UDPAddr{IP: dst.Interfaces[0].Addresses[0].Addr().AsSlice(), Port: rx.LocalAddr().(*net.UDPAddr).Port}
	var txs []*net.UDPConn
	defer func() {
		for _, c := range txs {
			c.Close()
		}
	}()
	for i := 0; i < o.Flows; i++ {
		c, err := listenUDP(Netns(s.Prefix, src.Name))
		if err != nil {
			return nil, err
		}
		txs = append(txs, c)
	}
	var mu sync.Mutex
	probes := make([][]probe, o.Flows)
	go func() {
		buf := make([]byte, 64)
		for {
			n, _, err := rx.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			flow, seq := int(binary.BigEndian.Uint32(buf)), int(binary.BigEndian.Uint32(buf[4:]))
			mu.Lock()
			if flow < len(probes) && seq < len(probes[flow]) {
				probes[flow][seq].got = true
			}
			mu.Unlock()
		}
	}()
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
			for i, c := range txs {
				binary.BigEndian.PutUint32(buf, uint32(i))
				binary.BigEndian.PutUint32(buf[4:], uint32(seq))
				mu.Lock()
				probes[i] = append(probes[i], probe{sent: now})
				mu.Unlock()
				_, _ = c.WriteToUDP(buf, to) // a send error during a failure is loss too
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
	m := &Measurement{Target: o.Target, Mode: "link", From: src.Name, To: dst.Name, Flows: o.Flows, RatePPS: o.Rate}
	if o.Silent {
		m.Mode = "silent"
	}
	fmt.Fprintf(out, "measure: %d flows %s -> %s at %d pps each\n", o.Flows, src.Name, dst.Name, o.Rate)
	var failAt, restoreAt time.Time
	err = sleep(warmup)
	if err == nil {
		failAt = time.Now()
		err = Fail(ctx, s, f, o.Target, o.Silent)
		if err == nil {
			fmt.Fprintf(out, "measure: failed %s; waiting %s\n", o.Target, o.Duration)
			if t, _ := resolveTarget(s, f, o.Target); t.node != nil {
				m.Mode = "node"
			}
			err = sleep(o.Duration)
			restoreAt = time.Now()
			if rerr := Restore(ctx, s, f, o.Target); rerr != nil && err == nil {
				err = rerr
			}
			if err == nil {
				fmt.Fprintf(out, "measure: restored %s; waiting %s\n", o.Target, o.Duration)
				err = sleep(o.Duration)
			}
		}
	}
	close(stop)
	<-done
	_ = sleep(300 * time.Millisecond) // packets in flight
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	var maxGaps []float64
	for _, ps := range probes {
		g, lost, lastGapEnd := gaps(ps, failAt, restoreAt, interval)
		m.Sent += len(ps)
		m.Lost += lost
		maxGaps = append(maxGaps, g)
		if g > 0 {
			m.FlowsHit++
		}
		m.SenderStallMS = max(m.SenderStallMS, senderStall(ps, interval))
		if lastGapEnd.Equal(restoreAt) {
			m.Unrecovered++
		} else if !lastGapEnd.IsZero() {
			m.ReconvergedS = max(m.ReconvergedS, lastGapEnd.Sub(failAt).Seconds())
		}
		rg, rlost, _ := gaps(ps, restoreAt, time.Now().Add(time.Hour), interval)
		m.RestoreGapMS = max(m.RestoreGapMS, rg)
		m.RestoreLost += rlost
	}
	slices.Sort(maxGaps)
	m.MaxGapMS = maxGaps[len(maxGaps)-1]
	m.P50GapMS = maxGaps[len(maxGaps)/2]
	return m, nil
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
			if x.State != "Established" {
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
