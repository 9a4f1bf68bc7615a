package sim

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is the outcome of a run. Everything but Runtime is a function of
// the topology, the options and the seed.
type Report struct {
	Fabric  FabricInfo `json:"fabric"`
	Model   ModelInfo  `json:"model"`
	Events  []Event    `json:"events"`
	Runtime Runtime    `json:"runtime"`
}

// FabricInfo sizes what was simulated.
type FabricInfo struct {
	Name     string `json:"name"`
	Stages   int    `json:"stages"`
	Speakers int    `json:"speakers"`
	Links    int    `json:"links"`
	Sessions int    `json:"sessions"`
	Prefixes int    `json:"prefixes"`
	// Routes is speakers x prefixes that should be reachable at the start.
	Routes int `json:"routes"`
	// EventsSimulated counts the scheduler's events (messages, timers...).
	EventsSimulated uint64 `json:"events_simulated"`
}

// ModelInfo is the cost model the run used.
type ModelInfo struct {
	Seed         uint64  `json:"seed"`
	LinkDelayUS  float64 `json:"link_delay_us"`
	MsgCostUS    float64 `json:"msg_cost_us"`
	PrefixCostUS float64 `json:"prefix_cost_us"`
	MRAIMS       float64 `json:"mrai_ms"`
	// Detection of a silent failure: "bfd 300ms" or "hold timer 9s".
	SilentDetection string `json:"silent_detection"`
}

// Event is one step's measurements, RFC 7938 section 7's numbers.
type Event struct {
	Name string  `json:"event"`
	AtMS float64 `json:"at_ms"`
	// ConvergenceMS is the virtual time from the event to the last RIB or
	// FIB change anywhere.
	ConvergenceMS float64 `json:"convergence_ms"`
	// Settled is false when MaxStep passed with sessions still not in the
	// state the topology implies or messages still flowing.
	Settled bool `json:"settled"`
	// Updates and Prefixes count UPDATE messages sent and the prefixes
	// (announced or withdrawn) in them.
	Updates  uint64 `json:"updates"`
	Prefixes uint64 `json:"prefixes"`
	// NodesChanged counts speakers whose routing changed.
	NodesChanged int `json:"nodes_changed"`
	// BestChanges counts best-path changes; PathHuntingMax is the most one
	// prefix's best path changed on one speaker, PathHuntingMean the mean
	// over the (speaker, prefix) pairs that changed.
	BestChanges     uint64  `json:"best_changes"`
	PathHuntingMax  int     `json:"path_hunting_max"`
	PathHuntingMean float64 `json:"path_hunting_mean"`
	// BlackholesPeak is the most (speaker, prefix) pairs without a route
	// at once, among those the topology after the event can reach;
	// NarrowPeak the most with fewer ECMP next hops than it allows.
	BlackholesPeak int `json:"blackholes_peak"`
	NarrowPeak     int `json:"ecmp_narrow_peak"`
	// DeadNextHopPeak is the most routes at once with an ECMP member over
	// a link that carries nothing any more (cut, silent, or its far end
	// down): the flows hashed to it are lost until the RIB drops it.
	// DeadNextHopRouteMS sums their time: routes x milliseconds.
	DeadNextHopPeak    int     `json:"dead_nexthop_peak"`
	DeadNextHopRouteMS float64 `json:"dead_nexthop_route_ms"`
	// ForwardToBlackholePeak is the most routes at once with an ECMP
	// member leading to a running neighbor that has no route for the
	// prefix: traffic hashed there is dropped by the neighbor while a
	// withdrawal travels. Counted in the failure and restore steps only.
	ForwardToBlackholePeak    int     `json:"forward_to_blackhole_peak"`
	ForwardToBlackholeRouteMS float64 `json:"forward_to_blackhole_route_ms"`
	// After the step: pairs still without a route, and pairs whose route
	// differs from the expected one otherwise (wrong ECMP width, or a
	// route where the topology allows none).
	BlackholesAfter     int `json:"blackholes_after"`
	ECMPViolationsAfter int `json:"ecmp_violations_after"`
	// Sessions the topology after the step can carry (both speakers
	// running, link usable), and sessions Established at both ends.
	Sessions   int `json:"sessions"`
	SessionsUp int `json:"sessions_up"`
}

// Runtime is what the simulation itself cost on this machine.
// HeapBytes is the largest Go heap seen (sampled every 65536 events and
// at the end of each step), garbage included; LiveHeapBytes the largest
// after a collection at the end of a step: what the simulated fabric
// itself holds once converged.
type Runtime struct {
	WallMS        float64 `json:"wall_ms"`
	HeapBytes     uint64  `json:"heap_bytes"`
	LiveHeapBytes uint64  `json:"live_heap_bytes"`
}

func (s *Sim) fabricInfo() FabricInfo {
	f := FabricInfo{Name: s.topo.Name, Stages: s.topo.Stages, Speakers: len(s.nodes), Links: len(s.links), Prefixes: len(s.prefixes)}
	for _, ss := range s.sessions {
		if ss.peer > ss.idx {
			f.Sessions++
		}
	}
	for _, e := range s.expect {
		for _, w := range e {
			if w != routeNone {
				f.Routes++
			}
		}
	}
	return f
}

func (s *Sim) modelInfo() ModelInfo {
	m := ModelInfo{Seed: s.opt.Seed, LinkDelayUS: us(s.opt.LinkDelay.Microseconds()), MsgCostUS: us(s.opt.MsgCost.Microseconds()),
		PrefixCostUS: us(s.opt.PrefixCost.Microseconds()), MRAIMS: ms(s.opt.MRAI), SilentDetection: "hold timer"}
	for _, ss := range s.sessions {
		if ss.bfd {
			m.SilentDetection = fmt.Sprintf("bfd %v", s.nodes[ss.node].bfdDetect)
			return m
		}
	}
	if len(s.sessions) > 0 {
		m.SilentDetection = fmt.Sprintf("hold timer %v", s.sessions[0].fcfg.HoldTime)
	}
	return m
}

func us(v int64) float64 { return float64(v) }

// WriteText writes the report as people read it: the fabric, the model,
// then one row per event.
func (r *Report) WriteText(w io.Writer) error {
	f := r.Fabric
	fmt.Fprintf(w, "fabric %s: %d-stage, %d speakers, %d links, %d sessions, %d prefixes (%d routes)\n",
		f.Name, f.Stages, f.Speakers, f.Links, f.Sessions, f.Prefixes, f.Routes)
	m := r.Model
	fmt.Fprintf(w, "model: seed %d, link delay %gus, %gus per message + %gus per prefix, MRAI %gms, silent failures seen by %s\n\n",
		m.Seed, m.LinkDelayUS, m.MsgCostUS, m.PrefixCostUS, m.MRAIMS, m.SilentDetection)
	fmt.Fprintln(w, "control plane:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "event\tconverged ms\tupdates\tprefixes\tnodes changed\tbest changes\thunt max\tsessions up\t")
	for _, e := range r.Events {
		conv := fmt.Sprintf("%.3f", e.ConvergenceMS)
		if !e.Settled {
			conv += " (not settled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d/%d\t\n", e.Name, conv, e.Updates, e.Prefixes, e.NodesChanged,
			e.BestChanges, e.PathHuntingMax, e.SessionsUp, e.Sessions)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nforwarding (routes = speaker x prefix):")
	fmt.Fprintln(tw, "event\tdead-hop peak\troute-ms\tinto-hole peak\troute-ms\tno-route peak\tnarrow peak\tno-route after\tecmp wrong after\t")
	for _, e := range r.Events {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%.2f\t%d\t%d\t%d\t%d\t\n", e.Name, e.DeadNextHopPeak, e.DeadNextHopRouteMS,
			e.ForwardToBlackholePeak, e.ForwardToBlackholeRouteMS, e.BlackholesPeak, e.NarrowPeak, e.BlackholesAfter, e.ECMPViolationsAfter)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rt := r.Runtime
	_, err := fmt.Fprintf(w, "\nsimulated %d events in %.0f ms wall clock, Go heap %s (%s live)\n", f.EventsSimulated, rt.WallMS, bytesString(rt.HeapBytes), bytesString(rt.LiveHeapBytes))
	return err
}

func bytesString(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", b>>10)
}

// HeapPerRoute is the Go heap a simulation takes per route (speaker x
// prefix) at its peak, measured on 5-stage fabrics with 4 to 8-way ECMP
// (docs/sim.md): the RIBs' paths and interned attributes are most of it.
const HeapPerRoute = 2300

// EstimateHeap is a rough upper bound of the Go heap a run of s will
// need at its peak, from every speaker holding every prefix.
func (s *Sim) EstimateHeap() uint64 {
	return uint64(len(s.nodes)) * uint64(len(s.prefixes)) * HeapPerRoute
}

// Size is the simulated fabric's speakers and prefixes.
func (s *Sim) Size() (speakers, prefixes int) { return len(s.nodes), len(s.prefixes) }

// ParseBytes reads a size like 16GiB, 512MiB, 2G or 1000000.
func ParseBytes(v string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseUint(num, 10, 64)
			if err != nil || n == 0 {
				break
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("%q; want a size like 16GiB, 512MiB or 2G", v)
}

// BytesString writes a size as people read it.
func BytesString(b uint64) string { return bytesString(b) }
