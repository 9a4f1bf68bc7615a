package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// UpdateToFIBBuckets are the upper bounds, in seconds, of the histogram of
// time from an UPDATE's arrival to the FIB hand-off of what it changed:
// 100 µs doubling up to about 6.5 s.
var UpdateToFIBBuckets = func() []float64 {
	b := make([]float64, 17)
	for i := range b {
		b[i] = 0.0001 * float64(uint(1)<<i)
	}
	return b
}()

// loopStats are counters the loop keeps as it works; read through
// MetricsSnapshot.
type loopStats struct {
	bestChanges uint64
	fibErrors   uint64
	// updateAt is when the oldest UPDATE not yet followed by a FIB
	// hand-off arrived; zero when none waits.
	updateAt time.Time
	hist     histogram
}

// histogram counts observations into UpdateToFIBBuckets (not cumulative).
type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

func (h *histogram) observe(sec float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(UpdateToFIBBuckets)+1)
	}
	i := sort.SearchFloat64s(UpdateToFIBBuckets, sec)
	h.counts[i]++
	h.sum += sec
	h.n++
}

// updateIn notes an UPDATE's arrival for the latency histogram.
func (d *Daemon) updateIn(now time.Time) {
	if d.stats.updateAt.IsZero() {
		d.stats.updateAt = now
	}
}

// fibHandoff closes the window opened by updateIn once the FIB has been
// given the changes (fib.FIB writes them on its own loop right after).
func (d *Daemon) fibHandoff() {
	if at := d.stats.updateAt; !at.IsZero() {
		d.stats.hist.observe(d.now().Sub(at).Seconds())
		d.stats.updateAt = time.Time{}
	}
}

// NeighborMetrics are one neighbor's counters.
type NeighborMetrics struct {
	Address     netip.Addr
	State       fsm.State
	Flaps       uint64
	UpdatesIn   uint64
	UpdatesOut  uint64
	MessagesIn  uint64
	MessagesOut uint64
	// Prefixes by family: received (before policy), accepted (in the
	// RIB), advertised.
	Received, Accepted, Advertised map[string]int
}

// MetricsSnapshot is a point-in-time copy of the daemon's counters.
type MetricsSnapshot struct {
	Neighbors []NeighborMetrics
	// RIBPrefixes counts Loc-RIB prefixes by family; RIBBytes estimates
	// the memory of the daemon's route mirror and the RIB's paths.
	RIBPrefixes map[string]int
	RIBPaths    int
	RIBBytes    int
	BestChanges uint64
	// FIB counters: writes sent to the kernel, batches, writes failing
	// now, and changes the FIB refused or failed to take.
	FIBWrites, FIBBatches uint64
	FIBFailing            int
	FIBErrors             uint64
	FIBRoutes             int
	// UpdateToFIB is the latency histogram: Counts per bucket of
	// UpdateToFIBBuckets plus +Inf, not cumulative.
	UpdateToFIB struct {
		Counts []uint64
		Sum    float64
		Count  uint64
	}
}

// routeBytes estimates one Loc-RIB path: the rib's 12-byte path, its share
// of attributes and the daemon's mirror entry.
const routeBytes = 12 + 64 + 96

// MetricsSnapshot copies the counters on the loop.
func (d *Daemon) MetricsSnapshot(ctx context.Context) (MetricsSnapshot, error) {
	var m MetricsSnapshot
	err := d.query(ctx, func() {
		m.RIBPrefixes = map[string]int{}
		for f, rs := range d.best {
			m.RIBPrefixes[f.String()] = len(rs)
		}
		for _, p := range d.peers {
			st := p.main.fsm.Status()
			nm := NeighborMetrics{
				Address: p.remote.Addr(), State: p.main.fsm.State(), Flaps: p.resets,
				UpdatesIn: p.updatesIn, UpdatesOut: p.updatesOut,
				MessagesIn: st.MessagesIn.Total(), MessagesOut: st.MessagesOut.Total(),
				Received: map[string]int{}, Accepted: map[string]int{}, Advertised: map[string]int{},
			}
			for k := range p.received {
				nm.Received[k.f.String()]++
			}
			if s := p.main; s.inRIB {
				for _, f := range s.neg.Families {
					fs := f.String()
					nm.Accepted[fs], nm.Advertised[fs] = 0, 0
					d.rib.LocRIB(f, s.ribID, func(rib.Route) bool { nm.Accepted[fs]++; return true })
					d.rib.AdjRIBOut(s.ribID, f, func(rib.Route) bool { nm.Advertised[fs]++; return true })
					m.RIBPaths += nm.Accepted[fs]
				}
			}
			m.Neighbors = append(m.Neighbors, nm)
		}
		for _, n := range m.RIBPrefixes {
			m.RIBPaths += 0
			m.RIBBytes += n * routeBytes
		}
		m.RIBBytes += m.RIBPaths * 12
		m.BestChanges, m.FIBErrors = d.stats.bestChanges, d.stats.fibErrors
		h := d.stats.hist
		m.UpdateToFIB.Counts = append([]uint64(nil), h.counts...)
		if m.UpdateToFIB.Counts == nil {
			m.UpdateToFIB.Counts = make([]uint64, len(UpdateToFIBBuckets)+1)
		}
		m.UpdateToFIB.Sum, m.UpdateToFIB.Count = h.sum, h.n
		if d.fib != nil {
			s := d.fib.Stats()
			m.FIBWrites, m.FIBBatches, m.FIBFailing, m.FIBRoutes = uint64(s.Ops), uint64(s.Batches), s.Failures, s.Desired
		}
	})
	return m, err
}

// A MetricSource adds one feature's metrics to every scrape, from a
// snapshot it takes through d (its status method, as BFD, hosts or
// services have). Register it from an init function in the feature's own
// file; a source that fails is reported as a scrape error and the others
// still count.
type MetricSource func(ctx context.Context, d *Daemon, ch chan<- prometheus.Metric) error

var (
	sourcesMu sync.Mutex
	sources   = map[string]MetricSource{}
)

// RegisterMetricSource adds s under a unique name.
func RegisterMetricSource(name string, s MetricSource) {
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	if _, dup := sources[name]; dup {
		panic("daemon: metric source registered twice: " + name)
	}
	sources[name] = s
}

// Collector is the Prometheus collector of a daemon: each scrape takes
// one MetricsSnapshot and runs the registered MetricSources. It describes
// nothing up front (an unchecked collector): the neighbors change.
type Collector struct {
	d       *Daemon
	timeout time.Duration
}

// NewCollector collects d's metrics.
func NewCollector(d *Daemon) *Collector { return &Collector{d: d, timeout: 5 * time.Second} }

// Describe is empty: see Collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

var (
	descUp          = prometheus.NewDesc("closd_up", "1 while the daemon's loop answers.", nil, nil)
	descState       = prometheus.NewDesc("closd_bgp_session_state", "BGP FSM state of the neighbor's session: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.", []string{"neighbor"}, nil)
	descEstablished = prometheus.NewDesc("closd_bgp_session_established", "1 if the neighbor's session is Established.", []string{"neighbor"}, nil)
	descFlaps       = prometheus.NewDesc("closd_bgp_session_flaps_total", "Times an established session with the neighbor went down.", []string{"neighbor"}, nil)
	descUpdIn       = prometheus.NewDesc("closd_bgp_updates_received_total", "UPDATE messages received from the neighbor, over all sessions.", []string{"neighbor"}, nil)
	descUpdOut      = prometheus.NewDesc("closd_bgp_updates_sent_total", "UPDATE messages sent to the neighbor, over all sessions (End-of-RIB included).", []string{"neighbor"}, nil)
	descMsgIn       = prometheus.NewDesc("closd_bgp_messages_received_total", "BGP messages received from the neighbor (current session).", []string{"neighbor"}, nil)
	descMsgOut      = prometheus.NewDesc("closd_bgp_messages_sent_total", "BGP messages sent to the neighbor (current session).", []string{"neighbor"}, nil)
	descPrefixes    = prometheus.NewDesc("closd_bgp_prefixes", "Prefixes per neighbor and family: received (before import policy), accepted (in the RIB), advertised.", []string{"neighbor", "family", "kind"}, nil)
	descRIB         = prometheus.NewDesc("closd_rib_prefixes", "Prefixes in the Loc-RIB by family.", []string{"family"}, nil)
	descRIBPaths    = prometheus.NewDesc("closd_rib_paths", "Paths received from neighbors and accepted into the RIB.", nil, nil)
	descRIBBytes    = prometheus.NewDesc("closd_rib_bytes", "Estimated memory of the RIB's paths and the daemon's route mirror.", nil, nil)
	descBest        = prometheus.NewDesc("closd_rib_best_path_changes_total", "Best-path changes (new, changed or withdrawn best paths).", nil, nil)
	descFIBWrites   = prometheus.NewDesc("closd_fib_writes_total", "Route and nexthop writes sent to the kernel.", nil, nil)
	descFIBBatches  = prometheus.NewDesc("closd_fib_batches_total", "Batches of kernel writes.", nil, nil)
	descFIBFailing  = prometheus.NewDesc("closd_fib_failing_writes", "Kernel writes failing now and being retried.", nil, nil)
	descFIBErrors   = prometheus.NewDesc("closd_fib_errors_total", "Routes the FIB refused (no usable next hop, not installable) or updates it failed.", nil, nil)
	descFIBRoutes   = prometheus.NewDesc("closd_fib_routes", "Routes closd wants in the kernel.", nil, nil)
	descLatency     = prometheus.NewDesc("closd_update_to_fib_seconds", "Time from an UPDATE's arrival to the FIB hand-off of the changes it caused.", nil, nil)
	descScrapeErr   = prometheus.NewDesc("closd_metrics_source_errors", "1 for a metric source that failed in this scrape.", []string{"source"}, nil)
)

// Collect takes one snapshot and emits it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	m, err := c.d.MetricsSnapshot(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, n := range m.Neighbors {
		a := n.Address.String()
		gauge(descState, float64(stateNumber(n.State)), a)
		est := 0.0
		if n.State == fsm.StateEstablished {
			est = 1
		}
		gauge(descEstablished, est, a)
		counter(descFlaps, float64(n.Flaps), a)
		counter(descUpdIn, float64(n.UpdatesIn), a)
		counter(descUpdOut, float64(n.UpdatesOut), a)
		counter(descMsgIn, float64(n.MessagesIn), a)
		counter(descMsgOut, float64(n.MessagesOut), a)
		for _, k := range []struct {
			kind string
			m    map[string]int
		}{{"received", n.Received}, {"accepted", n.Accepted}, {"advertised", n.Advertised}} {
			for f, v := range k.m {
				gauge(descPrefixes, float64(v), a, f, k.kind)
			}
		}
	}
	for _, f := range []wire.Family{wire.IPv4Unicast, wire.IPv6Unicast} {
		gauge(descRIB, float64(m.RIBPrefixes[f.String()]), f.String())
	}
	gauge(descRIBPaths, float64(m.RIBPaths))
	gauge(descRIBBytes, float64(m.RIBBytes))
	counter(descBest, float64(m.BestChanges))
	counter(descFIBWrites, float64(m.FIBWrites))
	counter(descFIBBatches, float64(m.FIBBatches))
	gauge(descFIBFailing, float64(m.FIBFailing))
	counter(descFIBErrors, float64(m.FIBErrors))
	gauge(descFIBRoutes, float64(m.FIBRoutes))
	buckets := map[float64]uint64{}
	var cum uint64
	for i, ub := range UpdateToFIBBuckets {
		cum += m.UpdateToFIB.Counts[i]
		buckets[ub] = cum
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, m.UpdateToFIB.Count, m.UpdateToFIB.Sum, buckets)

	sourcesMu.Lock()
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sourcesMu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		sourcesMu.Lock()
		s := sources[n]
		sourcesMu.Unlock()
		v := 0.0
		if err := s(ctx, c.d, ch); err != nil {
			c.d.log.Warn("metrics source failed", "source", n, "err", err)
			v = 1
		}
		gauge(descScrapeErr, v, n)
	}
}

func stateNumber(s fsm.State) int {
	switch s {
	case fsm.StateIdle:
		return 1
	case fsm.StateConnect:
		return 2
	case fsm.StateActive:
		return 3
	case fsm.StateOpenSent:
		return 4
	case fsm.StateOpenConfirm:
		return 5
	case fsm.StateEstablished:
		return 6
	}
	return 0
}

// MetricsServer serves /metrics over TCP.
type MetricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// ListenMetrics serves d's metrics on addr (host:port) at /metrics, with
// Go runtime and process metrics beside them.
func ListenMetrics(addr string, d *Daemon) (*MetricsServer, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(d)); err != nil {
		return nil, err
	}
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "closd serves only GET /metrics here", http.StatusNotFound)
	})
	s := &MetricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is where it listens.
func (s *MetricsServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server within ctx.
func (s *MetricsServer) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
